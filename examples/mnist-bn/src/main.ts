/**
 * Figure 1 of Ioffe & Szegedy (2015), "Batch Normalization", on MNIST:
 *
 *   pnpm example mnist-bn [--steps N] [--lr X] [--variants baseline,bn,noisy-bn] ... (--help)
 */
import { main } from '@normlab/example-kit';
import { run } from './cli.js';

await main((argv) => run(argv));
