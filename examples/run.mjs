#!/usr/bin/env node
// `pnpm example <name> [args]`: builds the packages and examples/<name>, then runs it.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const [name, ...args] = process.argv.slice(2);
const available = readdirSync(here, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(here, d.name, 'package.json')) && existsSync(join(here, d.name, 'src', 'main.ts')))
  .map((d) => d.name);
if (!name || !available.includes(name)) {
  console.error(`usage: pnpm example <name> [args]\navailable examples: ${available.join(', ')}`);
  process.exit(name ? 1 : 2);
}
const run = (cmd, cmdArgs, cwd) => {
  const r = spawnSync(cmd, cmdArgs, { cwd, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
};
const root = join(here, '..');
run('pnpm', ['--reporter', 'silent', 'run', 'build'], root);
run('pnpm', ['--reporter', 'silent', 'run', 'build'], join(here, name));
run(process.execPath, [join(here, name, 'dist', 'main.js'), ...args], join(here, name));
