// Reads vitest's JSON reports and prints the plain closing line CI readers
// recognize: `N passed, M failed` (`, K skipped` when some were skipped),
// summed over the reports (one per Node version), after a line per report.
// Exits 1 when a test failed, a test file failed to load, or a report ran no test.
// Usage: node .ci/test-summary.mjs [label=]report.json ...
import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
if (args.length === 0) {
  console.error('test-summary: usage: node .ci/test-summary.mjs [label=]<vitest-report.json> ...');
  process.exit(2);
}

/** Counts of one report; a missing or unreadable report counts as one failure. */
function counts(file) {
  let report;
  try {
    report = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    console.error(`test-summary: cannot read vitest's JSON report ${file}: ${e.message}`);
    return { passed: 0, failed: 1, skipped: 0, ok: false };
  }
  const passed = report.numPassedTests ?? 0;
  // A file that fails to import counts no test but fails the suite.
  const brokenFiles = (report.testResults ?? []).filter((f) => f.status === 'failed' && (f.assertionResults ?? []).length === 0).length;
  if (brokenFiles > 0) console.error(`test-summary: ${file}: ${brokenFiles} test file(s) failed before running a test`);
  const failed = (report.numFailedTests ?? 0) + brokenFiles;
  const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  if (passed + failed === 0) console.error(`test-summary: ${file}: vitest ran no test`);
  return { passed, failed, skipped, ok: failed === 0 && passed > 0 };
}

const line = ({ passed, failed, skipped }) => `${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`;
const total = { passed: 0, failed: 0, skipped: 0, ok: true };
for (const arg of args) {
  const eq = arg.indexOf('=');
  const [label, file] = eq > 0 ? [arg.slice(0, eq), arg.slice(eq + 1)] : [null, arg];
  const c = counts(file);
  if (args.length > 1) console.log(`${label ?? file}: ${line(c)}`);
  total.passed += c.passed;
  total.failed += c.failed;
  total.skipped += c.skipped;
  total.ok &&= c.ok;
}
console.log(line(total));
process.exit(total.ok ? 0 : 1);
