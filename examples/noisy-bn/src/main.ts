/**
 * Standard vs BatchNorm vs "noisy" BatchNorm (Santurkar et
 * al. 2018, section 2.1, Figure 2) on MNIST:
 *
 *   pnpm example noisy-bn [--model mlp|vgg] [--steps N] [--lr X] ... (--help)
 */
import { main } from '@normlab/example-kit';
import { run } from './cli.js';

await main((argv) => run(argv));
