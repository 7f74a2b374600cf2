#!/usr/bin/env node
// `pnpm release:pack [--out DIR]`: builds the workspace and packs every public
// @normlab package into one folder as the tarballs npm installs (`pnpm pack`
// rewrites the workspace:* dependencies to versions, so the tarballs install
// together with plain npm, outside this repository). See
// docs/own-project.md.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
/** The repository's root. */
export const ROOT = resolve(here, '../../..');

/** The public packages (not private) under packages/, in dependency order, as { name, version, dir }. */
export function publicPackages() {
  const dir = join(ROOT, 'packages');
  const pkgs = readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => ({ dir: join(dir, d.name), json: JSON.parse(readFileSync(join(dir, d.name, 'package.json'), 'utf8')) }))
    .filter((p) => !p.json.private);
  const byName = new Map(pkgs.map((p) => [p.json.name, p]));
  const order = [];
  const visit = (p) => {
    if (order.includes(p)) return;
    for (const dep of Object.keys(p.json.dependencies ?? {})) if (byName.has(dep)) visit(byName.get(dep));
    order.push(p);
  };
  for (const p of pkgs) visit(p);
  return order.map((p) => ({ name: p.json.name, version: p.json.version, dir: p.dir }));
}

/** The tarball name `pnpm pack` gives a package: @scope/name@1.0.0 -> scope-name-1.0.0.tgz. */
export function tarballName(name, version) {
  return `${name.replace(/^@/, '').replace('/', '-')}-${version}.tgz`;
}

/** Runs a command quietly and returns its stdout; on failure throws with all it printed. */
export function runQuiet(cmd, args, cwd) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`'${cmd} ${args.join(' ')}' failed in ${cwd}:\n${r.stdout ?? ''}${r.stderr ?? r.error?.message ?? ''}`);
  return r.stdout;
}

/** Builds every package (incremental: nothing is rebuilt when nothing changed). */
export function buildPackages() {
  runQuiet('pnpm', ['--reporter', 'silent', 'run', 'build'], ROOT);
}

/**
 * Packs each public package (or those named in `only`) into `outDir`,
 * replacing older tarballs of the same packages; builds them first unless
 * `build` is false (the tests build once, before any test runs). Returns the
 * tarballs as { name, version, file }.
 */
export function packPackages(outDir, { build = true, only = null } = {}) {
  outDir = resolve(outDir);
  mkdirSync(outDir, { recursive: true });
  if (build) buildPackages();
  return publicPackages().filter((p) => !only || only.includes(p.name)).map(({ name, version, dir }) => {
    const file = join(outDir, tarballName(name, version));
    rmSync(file, { force: true });
    runQuiet('pnpm', ['pack', '--pack-destination', outDir], dir);
    readFileSync(file); // throws (naming the file) if pnpm named it otherwise
    return { name, version, file };
  });
}

const USAGE = 'usage: pnpm release:pack [--out DIR]   (default DIR: release/ at the repository root)';

function main(argv) {
  let out = join(ROOT, 'release');
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--help' || argv[i] === '-h') {
      console.log(USAGE);
      return 0;
    }
    if (argv[i] === '--out' && argv[i + 1] !== undefined) out = resolve(argv[++i]);
    else {
      console.error(`release:pack: unexpected argument '${argv[i]}'${argv[i] === '--out' ? ' (--out needs a folder)' : ''}\n${USAGE}`);
      return 2;
    }
  }
  try {
    for (const t of packPackages(out)) console.log(t.file);
  } catch (e) {
    console.error(`release:pack: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
  console.log(`\ninstall them into a project with: npm install ${join(out, '*.tgz')}`);
  return 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) process.exit(main(process.argv.slice(2)));
