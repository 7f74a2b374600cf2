#!/usr/bin/env node
// `pnpm example <name> [args]`: builds the packages and examples/<name> (quietly: the
// build's output is shown only when it fails), then runs it.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const [name, ...args] = process.argv.slice(2);
const available = readdirSync(here, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(here, d.name, 'package.json')) && existsSync(join(here, d.name, 'src', 'main.ts')))
  .map((d) => d.name);
const usage = `usage: pnpm example <name> [args]   (pnpm example <name> --help: the example's own flags)\navailable examples: ${available.join(', ')}`;
if (name === '--help' || name === '-h') {
  console.log(usage);
  process.exit(0);
}
if (!name || !available.includes(name)) {
  console.error(name ? `example: no example '${name}'\n${usage}` : usage);
  process.exit(2);
}
/** Runs a build quietly: its output is shown only when it fails (then the exit code is passed on). */
const build = (cwd) => {
  const r = spawnSync('pnpm', ['--reporter', 'silent', 'run', 'build'], { cwd, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) {
    process.stdout.write(r.stdout ?? '');
    process.stderr.write(r.stderr ?? (r.error ? `${r.error.message}\n` : ''));
    process.exit(r.status ?? 1);
  }
};
const root = join(here, '..');
build(root);
build(join(here, name));
// Ctrl-C reaches the example too (one process group): this wrapper waits for it to save and exit, and passes its code on.
process.on('SIGINT', () => {});
const r = spawnSync(process.execPath, [join(here, name, 'dist', 'main.js'), ...args], { cwd: join(here, name), stdio: 'inherit' });
process.exit(r.status ?? (r.signal ? 128 + (os.constants.signals[r.signal] ?? 0) : 1));
