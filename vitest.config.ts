import { defineConfig } from 'vitest/config';
import { RELAXED_SIMD_FLAGS } from './packages/bench/src/node-flags.mjs';

// Tests run against the TypeScript sources (the 'source' export condition of
// each package), so they need no build step and never see a stale dist/.
const conditions = ['source'];
// Node 20 compiles relaxed SIMD (the GEMM's fused multiply-add) only under a
// flag (the bench's RELAXED_SIMD_FLAGS); with it both builds of the CPU kernels
// are tested on every Node (see packages/tensor/test/matmul.test.ts).
const execArgv = RELAXED_SIMD_FLAGS;

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: conditions } },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'examples/*/test/**/*.test.ts'],
    testTimeout: 60_000,
    execArgv,
    globalSetup: ['packages/release/test/global-setup.ts'],
    server: { deps: { inline: [/@normlab\//] } },
  },
});
