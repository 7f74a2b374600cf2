// The packed packages as a researcher gets them: packed by `pnpm release:pack`,
// installed with plain npm into a folder outside the repository (no workspace
// links, no build step), then a BN training script run there with Node and
// with Deno (the notebooks' kernel).
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain ESM scripts without type declarations
import { denoBinary } from '../../../examples/notebooks/setup.mjs';
// @ts-expect-error plain ESM script without type declarations
import { packPackages, publicPackages } from '../src/pack.mjs';

interface Tarball { name: string; version: string; file: string }
interface Result {
  steps: number; firstLoss: number; lastLoss: number; accuracy: number;
  gpuMode: string; gpuError: number; snapshotParams: number; snapshotBuffers: number; svgBytes: number;
}

const work = mkdtempSync(join(tmpdir(), 'normlab-install-'));
const project = join(work, 'project');
let tarballs: Tarball[] = [];

function run(cmd: string, args: string[], cwd: string): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`'${cmd} ${args.join(' ')}' failed (${r.status}):\n${r.stdout}${r.stderr ?? r.error}`);
  return r.stdout;
}

function parseResult(stdout: string): Result {
  const line = stdout.trim().split('\n').at(-1)!;
  return JSON.parse(line) as Result;
}

function expectTrained(r: Result): void {
  expect(r.steps).toBe(100); // 2 epochs of 3000 samples, batches of 60
  expect(r.firstLoss).toBeGreaterThan(2); // about ln 10 at the start
  expect(r.lastLoss).toBeLessThan(0.6);
  expect(r.accuracy).toBeGreaterThan(0.8);
  expect(r.gpuMode).toBe('webasm / WebAssembly SIMD');
  expect(r.gpuError).toBeLessThan(1e-5);
  expect([r.snapshotParams, r.snapshotBuffers]).toEqual([6, 3]); // 2 Linear + BN weight/bias; running mean/var/count
  expect(r.svgBytes).toBeGreaterThan(1000);
}

beforeAll(() => {
  tarballs = packPackages(join(work, 'packs'), { build: false });
  run('mkdir', ['-p', project], work);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'bn-study', private: true, type: 'module' }, null, 2));
  run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...tarballs.map((t) => t.file)], project);
  copyFileSync(join(import.meta.dirname, 'fixtures', 'train-bn-mlp.mjs'), join(project, 'train-bn-mlp.mjs'));
}, 600_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('packed packages installed with npm outside the repository', () => {
  it('packs every public package, with workspace:* dependencies rewritten to versions', () => {
    expect(tarballs.map((t) => t.name).sort()).toEqual(publicPackages().map((p: { name: string }) => p.name).sort());
    for (const t of tarballs) {
      const json = JSON.parse(readFileSync(join(project, 'node_modules', t.name, 'package.json'), 'utf8'));
      for (const spec of Object.values<string>(json.dependencies ?? {})) expect(spec).not.toMatch(/^workspace:/);
      // Compiled ESM with types: nothing to build on the user's side.
      expect(existsSync(join(project, 'node_modules', t.name, 'dist', 'index.js'))).toBe(true);
      expect(existsSync(join(project, 'node_modules', t.name, 'dist', 'index.d.ts'))).toBe(true);
    }
    // No links back into the repository: every package is a real folder.
    expect(run('find', ['node_modules/@normlab', '-maxdepth', '1', '-type', 'l'], project).trim()).toBe('');
  });

  it('trains a BatchNorm MLP on MNIST with Node', () => {
    expectTrained(parseResult(run(process.execPath, ['train-bn-mlp.mjs'], project)));
  }, 120_000);

  it('runs the same script with Deno, to the same numbers', () => {
    const deno = denoBinary() as string | null;
    expect(deno, 'Deno comes with pnpm install (examples/notebooks)').not.toBeNull();
    // Deno compiles relaxed SIMD, so Node runs the same build of the CPU kernels (with the flag this process has on Node 20).
    const relaxed = process.execArgv.filter((a) => a.startsWith('--experimental-wasm-relaxed-simd'));
    const node = parseResult(run(process.execPath, [...relaxed, 'train-bn-mlp.mjs'], project));
    const inDeno = parseResult(run(deno!, ['run', '-A', 'train-bn-mlp.mjs'], project));
    expectTrained(inDeno);
    expect(inDeno).toEqual(node);
  }, 120_000);
});
