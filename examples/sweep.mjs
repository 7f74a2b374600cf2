#!/usr/bin/env node
// `pnpm sweep <file> [flags]`: runs an example over a grid and seeds, locally or
// on Slurm, and aggregates the runs (@normlab/lab's sweepCli; docs/runs.md).
// Builds the packages and the example first, quietly.
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { EXAMPLES_DIR, REPO_ROOT, availableExamples, buildQuietly } from './build.mjs';

const argv = process.argv.slice(2);
if (!argv.includes('--help') && !argv.includes('-h')) buildQuietly(REPO_ROOT);
const { RunError, sweepCli } = await import('@normlab/lab');
const built = new Set();
const code = await sweepCli(argv, { stdout: process.stdout, stderr: process.stderr }, {
  root: REPO_ROOT,
  cores: availableParallelism(),
  exampleCommand(example) {
    if (!availableExamples().includes(example)) {
      throw new RunError(`no example '${example}' (available: ${availableExamples().join(', ')})`);
    }
    if (!built.has(example)) buildQuietly(join(EXAMPLES_DIR, example));
    built.add(example);
    return { program: process.execPath, args: [join(EXAMPLES_DIR, example, 'dist', 'main.js')] };
  },
});
process.exit(code);
