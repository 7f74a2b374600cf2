import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deserialize } from '@normlab/nn';
import { svgSize } from '@normlab/plot';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULTS, USAGE, UsageError, parseArgs } from '../src/args.js';
import { gpuModeAvailable } from '@normlab/example-kit';
import { run } from '../src/cli.js';
import { CSV_COLUMNS } from '../src/train.js';

/** Collects what the CLI writes. */
function capture(): { io: Parameters<typeof run>[1] & object; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    io: { stdout: { write: (s: string) => void (out += s), isTTY: false }, stderr: { write: (s: string) => void (err += s) } },
    out: () => out,
    err: () => err,
  };
}

const tmp = mkdtempSync(join(tmpdir(), 'mnist-bn-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const TINY = ['--eval-every', '10', '--train-limit', '600', '--test-limit', '200', '--percentile-images', '100', '--progress', 'none'];

describe('parseArgs', () => {
  it('gives the defaults and parses both --flag value and --flag=value', () => {
    expect(parseArgs([]).options).toEqual(DEFAULTS);
    const { options, given } = parseArgs(['--steps', '30', '--lr=0.1', '--variants', 'baseline,noisy-bn', '--device', 'cpu', '--out', '/x']);
    expect(options.steps).toBe(30);
    expect(options.lr).toBe(0.1);
    expect(options.variants).toEqual(['baseline', 'noisy-bn']);
    expect(options.out).toBe('/x');
    expect(options.batchSize).toBe(60);
    expect([...given].sort()).toEqual(['device', 'lr', 'out', 'steps', 'variants']);
    expect(parseArgs(['--help']).options.help).toBe(true);
  });

  it.each([
    [['--bogus'], /unknown flag '--bogus'/],
    [['stray'], /unexpected argument/],
    [['--steps'], /needs a value/],
    [['--steps', 'abc'], /expects a number/],
    [['--steps', '0'], /positive integer/],
    [['--steps', '1.5'], /positive integer/],
    [['--batch-size', '-3'], /positive integer/],
    [['--lr', '0'], /--lr must be positive/],
    [['--variants', 'baseline,foo'], /unknown variant 'foo'/],
    [['--variants', 'bn,bn'], /twice/],
    [['--device', 'tpu'], /cpu or gpu/],
    [['--unit', '100'], /0\.\.99/],
    [['--progress', 'fancy'], /auto, bar, plain or none/],
  ])('rejects %j', (argv, message) => {
    expect(() => parseArgs(argv)).toThrow(UsageError);
    expect(() => parseArgs(argv)).toThrow(message);
  });
});

describe('the CLI', () => {
  it('--help prints the usage and exits 0', async () => {
    const c = capture();
    expect(await run(['--help'], c.io)).toBe(0);
    expect(c.out()).toBe(USAGE);
    expect(USAGE).toMatch(/--lr X.*default 0\.25/s);
  });

  it('a bad flag prints the error and the usage and exits 2', async () => {
    for (const argv of [['--nope'], ['--steps', 'many'], ['--variants', 'bn,resnet']]) {
      const c = capture();
      expect(await run(argv, c.io)).toBe(2);
      expect(c.err()).toMatch(/^mnist-bn: /);
      expect(c.err()).toContain('usage: pnpm example mnist-bn');
    }
  });

  it('runs a tiny configuration end to end', async () => {
    const dir = join(tmp, 'run');
    const c = capture();
    const code = await run(['--steps', '30', '--checkpoint-every', '15', '--variants', 'baseline,bn,noisy-bn', '--out', dir, ...TINY], c.io);
    expect(c.err()).toBe('');
    expect(code).toBe(0);
    for (const f of ['config.json', 'metrics.csv', 'metrics.json', 'figure1a.svg', 'figure1bc.svg', 'figure1a.png', 'figure1bc.png']) {
      expect(existsSync(join(dir, f)), f).toBe(true);
    }
    for (const v of ['baseline', 'bn', 'noisy-bn']) {
      for (const s of ['000015', '000030']) expect(existsSync(join(dir, 'checkpoints', `${v}-step${s}.safetensors`))).toBe(true);
    }
    const [header, ...lines] = readFileSync(join(dir, 'metrics.csv'), 'utf8').trim().split('\n');
    expect(header.split(',')).toEqual([...CSV_COLUMNS]);
    // Steps 0, 10, 20, 30 for each of the three variants.
    expect(lines).toHaveLength(12);
    for (const line of lines) expect(line.split(',')).toHaveLength(CSV_COLUMNS.length);
    const json = JSON.parse(readFileSync(join(dir, 'metrics.json'), 'utf8'));
    expect(json.summary.map((s: { variant: string }) => s.variant)).toEqual(['baseline', 'bn', 'noisy-bn']);
    for (const f of ['figure1a.svg', 'figure1bc.svg']) {
      const svg = readFileSync(join(dir, f), 'utf8');
      expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
      expect(svgSize(svg).width).toBeGreaterThan(0);
    }
    expect([...readFileSync(join(dir, 'figure1a.png')).subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  });

  it('--resume continues exactly: 20 steps then 10 more equal 30 straight', async () => {
    const straight = join(tmp, 'run'); // from the test above
    const split = join(tmp, 'split');
    expect(await run(['--steps', '20', '--variants', 'baseline,bn,noisy-bn', '--out', split, ...TINY], capture().io)).toBe(0);
    const c = capture();
    expect(await run(['--resume', split, '--steps', '30'], c.io)).toBe(0);
    for (const v of ['baseline', 'bn', 'noisy-bn']) {
      const a = deserialize(readFileSync(join(straight, 'checkpoints', `${v}-step000030.safetensors`))).tensors;
      const b = deserialize(readFileSync(join(split, 'checkpoints', `${v}-step000030.safetensors`))).tensors;
      expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
      for (const [k, t] of a) expect(Array.from(b.get(k)!.toTypedArray()), `${v} ${k}`).toEqual(Array.from(t.toTypedArray()));
    }
    // Settings of the run cannot change on resume.
    const bad = capture();
    expect(await run(['--resume', split, '--lr', '0.1'], bad.io)).toBe(2);
    expect(bad.err()).toContain('--lr');
  });
});

/** Runs `fn` with NORMLAB_GPU_MODE set to `mode`, restoring the variable afterwards. */
async function withGpuMode<T>(mode: string, fn: () => Promise<T>): Promise<T> {
  const before = process.env.NORMLAB_GPU_MODE;
  process.env.NORMLAB_GPU_MODE = mode;
  try {
    return await fn();
  } finally {
    if (before === undefined) delete process.env.NORMLAB_GPU_MODE;
    else process.env.NORMLAB_GPU_MODE = before;
  }
}

/** The gpu.js mode the --device gpu tests use: NORMLAB_GPU_MODE when set, else webasm (fastest without a GPU), else webgpu. */
function pickGpuMode(): { mode: string | null; reason: string } {
  const asked = process.env.NORMLAB_GPU_MODE;
  const candidates = asked ? [asked] : ['webasm', 'webgpu'];
  const reasons: string[] = [];
  for (const m of candidates) {
    const a = gpuModeAvailable(m as Parameters<typeof gpuModeAvailable>[0]);
    if (a.ok) return { mode: m, reason: '' };
    reasons.push(`${m}: ${a.reason}`);
  }
  const reason = reasons.join('; ');
  console.warn(`[mnist-bn] skipping the --device gpu runs: ${reason}`);
  return { mode: null, reason };
}

type Row = Record<(typeof CSV_COLUMNS)[number], string>;
const readRows = (dir: string): Row[] => {
  const [header, ...lines] = readFileSync(join(dir, 'metrics.csv'), 'utf8').trim().split('\n');
  const cols = header.split(',');
  return lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [cols[i], v])) as Row);
};
/** The largest |a - b| over the elements of two tensors of the same shape. */
const maxAbsDiff = (a: { toTypedArray(): ArrayLike<number> }, b: { toTypedArray(): ArrayLike<number> }): number => {
  const x = a.toTypedArray();
  const y = b.toTypedArray();
  expect(y.length).toBe(x.length);
  let worst = 0;
  for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(y[i] - x[i]));
  return worst;
};
const readCheckpoint = (dir: string, variant: string, step: number) => (
  deserialize(readFileSync(join(dir, 'checkpoints', `${variant}-step${String(step).padStart(6, '0')}.safetensors`))).tensors
);

describe('--device gpu', () => {
  it('fails clearly, with exit code 1, when the gpu mode asked for does not work', async () => {
    const dir = join(tmp, 'gpu-bad');
    const c = capture();
    expect(await withGpuMode('no-such-mode', () => run(['--device', 'gpu', '--steps', '10', '--out', dir, ...TINY], c.io))).toBe(1);
    expect(c.err()).toMatch(/^mnist-bn: device 'gpu' is not available: unknown mode 'no-such-mode'/);
    expect(c.err()).toContain('NORMLAB_GPU_MODE');
    expect(existsSync(dir)).toBe(false);
    // A real mode that does not work here: headless-gl (the optional 'gl' package, not installed by the workspace).
    if (!gpuModeAvailable('headlessgl').ok) {
      const h = capture();
      expect(await withGpuMode('headlessgl', () => run(['--device', 'gpu', '--steps', '10', '--out', dir, ...TINY], h.io))).toBe(1);
      expect(h.err()).toMatch(/^mnist-bn: device 'gpu' is not available: gpu\.js mode 'headlessgl' does not work here: \S/);
    }
  });

  const pick = pickGpuMode();
  const GPU_RUN = [...TINY, '--steps', '10', '--eval-every', '5', '--checkpoint-every', '5', '--variants', 'baseline,bn,noisy-bn'];
  const close = (a: number, b: number, tol: number): boolean => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));

  it.skipIf(!pick.mode)(`10 steps on 600 images agree with --device cpu at every evaluation, memory flat, checkpoints portable${pick.mode ? ` (${pick.mode})` : ` (skipped: ${pick.reason})`}`, async () => {
    const mode = pick.mode!;
    const cpuDir = join(tmp, 'cpu-ref');
    const gpuDir = join(tmp, 'gpu-run');
    expect(await run([...GPU_RUN, '--out', cpuDir], capture().io)).toBe(0);
    const c = capture();
    const code = await withGpuMode(mode, () => run([...GPU_RUN, '--device', 'gpu', '--out', gpuDir, '--progress', 'plain'], c.io));
    expect(c.err().replace(/^Warning: .*\n/gm, '')).toBe('');
    expect(code).toBe(0);
    expect(c.out()).toContain(`device: gpu (${mode} / `);
    expect(c.out()).toMatch(new RegExp(`steps/s \\(${mode} / `));
    for (const f of ['config.json', 'metrics.csv', 'metrics.json', 'figure1a.svg', 'figure1a.png', 'figure1bc.svg', 'figure1bc.png']) {
      expect(existsSync(join(gpuDir, f)), f).toBe(true);
    }
    const config = JSON.parse(readFileSync(join(gpuDir, 'config.json'), 'utf8'));
    expect(config.device.mode).toBe(mode);
    expect(config.device.name).toMatch(new RegExp(`^${mode} / `));
    expect(config.options.device).toBe('gpu');

    // The same rows, the losses and percentiles within float32 tolerance (the device computes in float32).
    const cpuRows = readRows(cpuDir);
    const gpuRows = readRows(gpuDir);
    expect(gpuRows.map((r) => `${r.variant}@${r.step}`)).toEqual(cpuRows.map((r) => `${r.variant}@${r.step}`));
    expect(gpuRows).toHaveLength(9);
    for (const [i, g] of gpuRows.entries()) {
      const r = cpuRows[i];
      const at = `${g.variant} step ${g.step}`;
      if (r.train_loss !== '') expect(close(Number(g.train_loss), Number(r.train_loss), 1e-4), `${at} train loss ${g.train_loss} vs ${r.train_loss}`).toBe(true);
      expect(close(Number(g.test_loss), Number(r.test_loss), 1e-4), `${at} test loss ${g.test_loss} vs ${r.test_loss}`).toBe(true);
      // At most one of the 200 test images may flip on a near tie of two logits.
      expect(Math.abs(Number(g.test_accuracy) - Number(r.test_accuracy)), `${at} accuracy`).toBeLessThanOrEqual(1 / 200 + 1e-9);
      for (const p of ['sigmoid_input_p15', 'sigmoid_input_p50', 'sigmoid_input_p85'] as const) {
        expect(close(Number(g[p]), Number(r[p]), 1e-4), `${at} ${p} ${g[p]} vs ${r[p]}`).toBe(true);
      }
    }

    // Device memory is flat: every step frees what it made (tidy).
    const summary = JSON.parse(readFileSync(join(gpuDir, 'metrics.json'), 'utf8')).summary as { variant: string; deviceMemory: { grew: number; buffersMin: number; buffersMax: number; samples: number } }[];
    for (const s of summary) {
      expect(s.deviceMemory.samples, s.variant).toBe(10);
      expect(s.deviceMemory.grew, s.variant).toBe(0);
      expect(s.deviceMemory.buffersMax, s.variant).toBe(s.deviceMemory.buffersMin);
    }

    // Checkpoints saved from the device hold host copies: they read anywhere and match the CPU run's.
    for (const v of ['baseline', 'bn', 'noisy-bn']) {
      const a = readCheckpoint(cpuDir, v, 10);
      const b = readCheckpoint(gpuDir, v, 10);
      expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
      for (const [k, t] of a) expect(maxAbsDiff(t, b.get(k)!), `${v} ${k}`).toBeLessThan(1e-5);
    }

    // A CPU run resumed onto the gpu (--device may change on resume) ends where the CPU run ends.
    const split = join(tmp, 'cpu-then-gpu');
    expect(await run([...GPU_RUN, '--steps', '5', '--out', split], capture().io)).toBe(0);
    const r = capture();
    expect(await withGpuMode(mode, () => run(['--resume', split, '--steps', '10', '--device', 'gpu'], r.io))).toBe(0);
    expect(JSON.parse(readFileSync(join(split, 'config.json'), 'utf8')).deviceHistory).toEqual(['cpu', config.device.name]);
    for (const v of ['baseline', 'bn', 'noisy-bn']) {
      const a = readCheckpoint(cpuDir, v, 10);
      const b = readCheckpoint(split, v, 10);
      for (const [k, t] of a) expect(maxAbsDiff(t, b.get(k)!), `${v} ${k}`).toBeLessThan(1e-5);
    }
  });
});
