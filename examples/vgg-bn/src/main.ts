/**
 * Standard vs BatchNorm vs "noisy" BatchNorm on a VGG at two learning rates
 * (Santurkar et al. 2018, Figures 1 and 2), on Fashion-MNIST or CIFAR-10:
 *
 *   pnpm example vgg-bn [--dataset fashion-mnist|cifar10] [--steps N] [--lrs 0.1,0.5] ... (--help)
 */
import { main } from '@normlab/example-kit';
import { run } from './cli.js';

await main((argv) => run(argv));
