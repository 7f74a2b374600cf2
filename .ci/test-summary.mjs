// Reads vitest's JSON report and prints the plain closing line CI readers
// recognize: `N passed, M failed` (`, K skipped` when some were skipped).
// Exits 1 when a test failed, a test file failed to load, or no test ran.
// Usage: node .ci/test-summary.mjs <report.json>
import { readFileSync } from 'node:fs';

const file = process.argv[2];
if (!file) {
  console.error('test-summary: usage: node .ci/test-summary.mjs <vitest-report.json>');
  process.exit(2);
}
let report;
try {
  report = JSON.parse(readFileSync(file, 'utf8'));
} catch (e) {
  console.error(`test-summary: cannot read vitest's JSON report ${file}: ${e.message}`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}
const passed = report.numPassedTests ?? 0;
const failed = report.numFailedTests ?? 0;
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
// A file that fails to import counts no test but fails the suite.
const brokenFiles = (report.testResults ?? []).filter((f) => f.status === 'failed' && (f.assertionResults ?? []).length === 0).length;
if (brokenFiles > 0) console.error(`test-summary: ${brokenFiles} test file(s) failed before running a test`);
if (passed + failed === 0) console.error('test-summary: vitest ran no test');
console.log(`${passed} passed, ${failed + brokenFiles} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed + brokenFiles > 0 || passed === 0 ? 1 : 0);
