/**
 * The optimization landscape with and without BatchNorm (Santurkar et
 * al. 2018, section 3.1, Figure 4) on MNIST:
 *
 *   pnpm example landscape [--steps N] [--lrs 0.05,0.2] ... (--help)
 */
import { main } from '@normlab/example-kit';
import { run } from './cli.js';

await main((argv) => run(argv));
