#!/usr/bin/env node
// `pnpm test [vitest args]`: vitest run, with Dawn's start-up warnings held
// back. Every start of the webgpu device on lavapipe makes Dawn print two
// lines to stderr ("Warning: maxDynamicUniformBuffersPerPipelineLayout
// artificially reduced ..."), from native code, where no JS can silence them.
// They are shown only when the run fails, after its own output.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';

const DAWN_WARNING = /^Warning: max\w+ artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.$/;

const vitest = join(dirname(createRequire(import.meta.url).resolve('vitest/package.json')), 'vitest.mjs');
const child = spawn(process.execPath, [vitest, 'run', ...process.argv.slice(2)], { stdio: ['inherit', 'inherit', 'pipe'] });
const held = [];
let partial = '';
child.stderr.setEncoding('utf8');
child.stderr.on('data', (chunk) => {
  const lines = (partial + chunk).split('\n');
  partial = lines.pop();
  const shown = lines.filter((line) => !(DAWN_WARNING.test(line) && held.push(line)));
  if (shown.length > 0) process.stderr.write(shown.map((l) => `${l}\n`).join(''));
});
// Ctrl-C reaches vitest through the terminal; the wrapper waits for its exit.
process.on('SIGINT', () => {});
child.on('close', (code, signal) => {
  if (partial) process.stderr.write(partial);
  if (code !== 0 && held.length > 0) process.stderr.write(`\n(Dawn printed ${held.length} warnings during the run, held back:)\n${held.join('\n')}\n`);
  process.exit(code ?? 128 + (constants.signals[signal] ?? 0));
});
