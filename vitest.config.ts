import { defineConfig } from 'vitest/config';

// Tests run against the TypeScript sources (the 'source' export condition of
// each package), so they need no build step and never see a stale dist/.
const conditions = ['source'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: conditions } },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'examples/*/test/**/*.test.ts'],
    testTimeout: 60_000,
    globalSetup: ['packages/release/test/global-setup.ts'],
    server: { deps: { inline: [/@normlab\//] } },
  },
});
