// `pnpm run docs` (plain `pnpm docs` is a pnpm built-in that opens a
// package's homepage): the API reference from the TSDoc comments of each
// package's src/index.ts, into docs/api/ (ignored by git).
// `pnpm docs:check` (`--check`): the same conversion without output, failing
// on any TypeDoc warning (a broken {@link}, a type used but not exported) and
// on an export without a TSDoc comment, except those listed in
// undocumented-allowlist.txt (and on a listed one that no longer needs it).
//
// Why TypeDoc is reached through @normlab/docs-tools: the workspace's
// `typescript` is 7.0, the Go-native compiler, which ships `tsc` but no
// JavaScript API, and TypeDoc (0.28.x, the latest) drives the compiler
// through that API (its peer range is typescript 5.0 to 6.0). A peer
// dependency resolves from the project that installs TypeDoc, so the root
// cannot give TypeDoc another TypeScript than its own (pnpm's `overrides` and
// `packageExtensions` do not change a peer that the root satisfies). So
// docs/tools/typedoc-env is a workspace package of its own, a devDependency
// of the root (`workspace:*`), whose dependencies are TypeDoc 0.28.20 and
// TypeScript 6.0.3: there TypeDoc's peer resolves to 6.0, and nothing else in
// the workspace sees that TypeScript. 6.0 reads the same tsconfig as 7.0
// (tsconfig.typedoc.json).
import { readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Application, LogLevel, ReflectionKind } from '@normlab/docs-tools';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '../..');
const check = process.argv.includes('--check');

/** The documented packages: their public surface is src/index.ts. */
export const PACKAGES = ['tensor', 'autograd', 'nn', 'data', 'landscape', 'plot', 'gpu', 'models', 'lab'];

/** undocumented-allowlist.txt without its comments and blank lines. */
function allowlist() {
  return readFileSync(join(here, 'undocumented-allowlist.txt'), 'utf8')
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter(Boolean);
}

const started = performance.now();
const app = await Application.bootstrapWithPlugins({
  name: 'normlab',
  entryPoints: PACKAGES.map((p) => join(root, 'packages', p, 'src/index.ts')),
  entryPointStrategy: 'resolve',
  tsconfig: join(here, 'tsconfig.typedoc.json'),
  out: join(root, 'docs/api'),
  readme: join(here, 'api-readme.md'),
  // No git remote to link to: source links are relative, to the files in this
  // checkout. Pages are docs/api/<kind>/<page>.html, and TypeDoc's {path} is
  // relative to the entry points' common folder, packages/.
  sourceLinkTemplate: '../../../packages/{path}#L{line}',
  disableGit: true,
  excludeInternal: true,
  excludePrivate: true,
  sort: ['kind', 'instance-first', 'source-order'],
  // TypeDoc's own notDocumented check also requires every method of every
  // class (its kinds cannot separate a function from a method), so the
  // exports are checked below instead.
  validation: { notExported: true, invalidLink: true, notDocumented: false },
  treatValidationWarningsAsErrors: check,
  treatWarningsAsErrors: check,
  logLevel: LogLevel.Info,
});

const project = await app.convert();
if (!project) {
  console.error('typedoc: conversion failed');
  process.exit(1);
}
// Name each entry point's module after its package ('@normlab/nn', not 'nn/src').
for (const m of project.children ?? []) {
  const pkg = PACKAGES.find((p) => m.name === `${p}/src` || m.name === p);
  if (pkg) m.name = `@normlab/${pkg}`;
}
app.validate(project);
if (!check) await app.generateOutputs(project);

/**
 * Every export of every package (and of its namespaces, `optim`, `init`)
 * without a TSDoc comment, as '@normlab/nn.Name (packages/nn/src/file.ts)'.
 * A function counts as documented when one of its signatures is; a
 * re-export of a symbol that another package documents is not listed again.
 */
function undocumentedExports() {
  const out = [];
  const visit = (parent, prefix) => {
    for (const ref of parent.children ?? []) {
      if (ref.kindOf(ReflectionKind.Reference)) continue;
      const name = `${prefix}.${ref.name}`;
      const documented = ref.hasComment() || (ref.signatures ?? []).some((s) => s.hasComment());
      if (!documented) {
        const file = ref.sources?.[0]?.fileName ?? ref.signatures?.[0]?.sources?.[0]?.fileName ?? '?';
        out.push({ name, where: file });
      }
      if (ref.kindOf(ReflectionKind.Namespace)) visit(ref, name);
    }
  };
  for (const m of project.children ?? []) visit(m, m.name);
  return out;
}

let failed = app.logger.hasErrors() || (check && app.logger.hasWarnings());
if (check) {
  const allowed = new Set(allowlist());
  const missing = undocumentedExports();
  const bad = missing.filter((u) => !allowed.has(u.name));
  const stale = [...allowed].filter((a) => !missing.some((u) => u.name === a));
  for (const u of bad) console.error(`undocumented export: ${u.name} (${u.where}): add a TSDoc comment`);
  for (const a of stale) console.error(`undocumented-allowlist.txt: ${a} is documented (or gone) now: remove it from the list`);
  if (bad.length || stale.length) failed = true;
  else console.log(`typedoc: every export is documented but the ${allowed.size} of undocumented-allowlist.txt`);
}
const seconds = ((performance.now() - started) / 1000).toFixed(1);
if (failed) {
  console.error(`typedoc: check failed (${app.logger.errorCount} errors, ${app.logger.warningCount} warnings from TypeDoc; ${seconds} s)`);
  process.exit(1);
}
console.log(check ? `typedoc: check passed (${seconds} s)` : `typedoc: ${relative(root, join(root, 'docs/api/index.html'))} (${seconds} s)`);
