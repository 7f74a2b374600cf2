import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test, vi } from 'vitest';

// The README's usage sample runs here, so it cannot rot: each console.log in
// it carries the expected output in its trailing comment.
const here = dirname(fileURLToPath(import.meta.url));
const readme = readFileSync(join(here, '../../../README.md'), 'utf8');

test('the README usage sample runs and prints what its comments say', async () => {
  const marker = readme.indexOf('<!-- usage-sample');
  expect(marker).toBeGreaterThan(-1);
  const block = /```ts\n([\s\S]*?)```/.exec(readme.slice(marker));
  expect(block).not.toBeNull();
  const code = block![1];
  const expected = [...code.matchAll(/console\.log\(.*\); \/\/ (.*)$/gm)].map((m) => m[1]);
  expect(expected.length).toBeGreaterThan(0);

  const file = join(here, '.readme-sample.generated.ts');
  writeFileSync(file, code);
  const printed: string[] = [];
  const spy = vi.spyOn(console, 'log').mockImplementation((v: unknown) => {
    printed.push(typeof v === 'string' ? v : JSON.stringify(v));
  });
  try {
    await import(/* @vite-ignore */ file);
  } finally {
    spy.mockRestore();
    rmSync(file, { force: true });
  }
  expect(printed).toEqual(expected);
});
