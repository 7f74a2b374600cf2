/**
 * Figure 1 of Ioffe & Szegedy (2015), "Batch Normalization", on MNIST:
 *
 *   pnpm example mnist-bn [--steps N] [--lr X] [--variants baseline,bn,noisy-bn] ... (--help)
 */
import { run } from './cli.js';

// `... --help | head` closes the pipe early: not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

process.exitCode = await run(process.argv.slice(2));
