// Builds the packages once before any test file runs: the tests that pack or
// run the compiled packages (dist/) then see the current sources, and no two
// test files build at the same time.
// @ts-expect-error plain ESM script without type declarations
import { buildPackages } from '../src/pack.mjs';

export default function setup(): void {
  buildPackages();
}
