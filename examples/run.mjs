#!/usr/bin/env node
// `pnpm example <name> [args]`: builds the packages and examples/<name> (quietly: the
// build's output is shown only when it fails), then runs it.
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { join } from 'node:path';
import { EXAMPLES_DIR as here, REPO_ROOT, availableExamples, buildQuietly } from './build.mjs';

const [name, ...args] = process.argv.slice(2);
const available = availableExamples();
const usage = `usage: pnpm example <name> [args]   (pnpm example <name> --help: the example's own flags)\navailable examples: ${available.join(', ')}`;
if (name === '--help' || name === '-h') {
  console.log(usage);
  process.exit(0);
}
if (!name || !available.includes(name)) {
  console.error(name ? `example: no example '${name}'\n${usage}` : usage);
  process.exit(2);
}
buildQuietly(REPO_ROOT);
buildQuietly(join(here, name));
// Ctrl-C reaches the example too (one process group): this wrapper waits for it to save and exit, and passes its code on.
process.on('SIGINT', () => {});
const r = spawnSync(process.execPath, [join(here, name, 'dist', 'main.js'), ...args], { cwd: join(here, name), stdio: 'inherit' });
process.exit(r.status ?? (r.signal ? 128 + (os.constants.signals[r.signal] ?? 0) : 1));
