/**
 * Internal covariate shift in a 25-layer deep linear network (Santurkar et
 * al. 2018, section 2.2):
 *
 *   pnpm example ics [--steps N] [--lrs 0.001,0.01] ... (--help)
 */
import { main } from '@normlab/example-kit';
import { run } from './cli.js';

await main((argv) => run(argv));
