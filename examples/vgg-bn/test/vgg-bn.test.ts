import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { captureIo, usageBehaviour } from '@normlab/example-kit';
import { svgSize } from '@normlab/plot';
import { BatchNorm2d, Conv2d, Identity, NoisyBatchNorm2d } from '@normlab/nn';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULTS, USAGE, UsageError, parseArgs } from '../src/args.js';
import { ACTIVATION_COLUMNS, CSV_COLUMNS, filesOf, run } from '../src/cli.js';
import { buildVgg } from '../src/experiment.js';

const tmp = mkdtempSync(join(tmpdir(), 'vgg-bn-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const TINY = ['--width', '0.0625', '--train-limit', '64', '--test-limit', '20', '--batch-size', '16', '--progress', 'plain', '--channel', '1'];

/**
 * CIFAR-10's binary layout: the loader checks every file's size (10,000
 * records of 3,073 bytes), so each file gets 100 patterned records and is
 * extended to its full size with zeros (sparse on disk: label 0, black).
 */
function fakeCifar(dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (const name of ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin', 'test_batch.bin']) {
    const bytes = new Uint8Array(100 * 3073);
    for (let r = 0; r < 100; r++) {
      bytes[r * 3073] = r % 10;
      for (let k = 1; k < 3073; k++) bytes[r * 3073 + k] = (r * 31 + k * 7) & 255;
    }
    writeFileSync(join(dir, name), bytes);
    truncateSync(join(dir, name), 10_000 * 3073);
  }
}

describe('parseArgs', () => {
  it('gives the defaults', () => {
    expect(parseArgs([]).options).toEqual(DEFAULTS);
    expect(parseArgs(['--lrs', '0.05', '--variants', 'bn,standard', '--depth', '16']).options).toMatchObject({ lrs: [0.05], variants: ['bn', 'standard'], depth: '16' });
  });

  it.each([
    [['--bogus'], /unknown flag '--bogus'/],
    [['--lrs', '0.1,0'], /every learning rate must be positive/],
    [['--lrs', '0.1,0.1'], /twice/],
    [['--dataset', 'mnist'], /fashion-mnist or cifar10/],
    [['--depth', '18'], /11, 13, 16 or 19/],
    [['--width', '0'], /--width must be positive/],
    [['--layers', '9'], /VGG-11 has convs 1\.\.8, got 9/],
    [['--layers', '2.5'], /got 2\.5/],
    [['--layers', '3,3'], /twice/],
    [['--channel', '32'], /--channel must be in 0\.\.31 \(the narrowest tracked conv has 32 channels at --width 0\.125\)/],
    [['--variants', 'bn,bn'], /twice/],
    [['--batch-size', '1'], /at least 2/],
    [['--train-limit', '60001'], /more than the 60000 training images of fashion-mnist/],
    [['--dataset', 'cifar10', '--train-limit', '50001'], /more than the 50000 training images of cifar10/],
    [['--data-dir', '/x'], /--data-dir is for --dataset cifar10/],
    [['--noise-std', '0.5'], /--noise-std expects N >= 1 or LO,HI/],
    [['--seeds', '1,1'], /--seeds lists a seed twice/],
    [['--track', 'both'], /--track expects output or input/],
    [['--seeds', '1,-2'], /--seeds: every seed must be a non-negative integer, got -2/],
    [['--seeds', '1,2', '--seed', '3'], /give --seed or --seeds, not both/],
    [['--shift-std', '-1'], /--shift-std must be non-negative/],
  ])('rejects %j', (argv, message) => {
    expect(() => parseArgs(argv)).toThrow(UsageError);
    expect(() => parseArgs(argv)).toThrow(message);
  });
});

describe('buildVgg', () => {
  it('starts every variant from the same conv and head weights; the norm slots hold the variant\'s layer', () => {
    const o = { ...DEFAULTS, seed: 3 };
    const nets = (['standard', 'bn', 'noisy-bn'] as const).map((v) => buildVgg(v, o, [1, 28, 28]));
    const weights = (i: number): number[][] => nets[i].model.modules().filter((m) => m instanceof Conv2d).map((m) => [...(m as Conv2d).weight.data.toTypedArray()]);
    expect(weights(1)).toEqual(weights(0));
    expect(weights(2)).toEqual(weights(0));
    expect([...nets[1].model.classifier.weight.data.toTypedArray()]).toEqual([...nets[0].model.classifier.weight.data.toTypedArray()]);
    expect(nets.map((n) => n.preActivations.length)).toEqual([8, 8, 8]);
    expect(nets[0].preActivations.every((m) => m instanceof Identity)).toBe(true);
    expect(nets[1].preActivations.every((m) => m instanceof BatchNorm2d && !(m instanceof NoisyBatchNorm2d))).toBe(true);
    expect(nets[2].preActivations.every((m) => m instanceof NoisyBatchNorm2d)).toBe(true);
    // He-normal over the fan-out: std sqrt(2 / (out * 9)) for the first conv (8 channels).
    const w = weights(0)[0];
    const std = Math.sqrt(w.reduce((a, b) => a + b * b, 0) / w.length);
    expect(std).toBeGreaterThan(0.7 * Math.sqrt(2 / 72));
    expect(std).toBeLessThan(1.3 * Math.sqrt(2 / 72));
    // A different seed draws different weights.
    expect(weights(0)).not.toEqual(buildVgg('standard', { ...o, seed: 4 }, [1, 28, 28]).model.modules().filter((m) => m instanceof Conv2d).map((m) => [...(m as Conv2d).weight.data.toTypedArray()]));
  });
});

describe('the CLI', () => {
  it('--help prints the usage and exits 0; a bad flag exits 2 with the error and the usage', async () => {
    const u = await usageBehaviour(run, ['--variants', 'bn,resnet']);
    expect([u.helpCode, u.helpOut, u.badCode]).toEqual([0, USAGE, 2]);
    expect(u.badErr).toMatch(/^vgg-bn: --variants: unknown variant 'resnet'/);
    expect(u.badErr.endsWith(USAGE)).toBe(true);
  });

  it('CIFAR-10 without a data folder: one line naming what to set, exit 1, no run directory', async () => {
    const out = join(tmp, 'no-cifar');
    const c = captureIo();
    const saved = process.env.NORMLAB_CIFAR10_DIR;
    delete process.env.NORMLAB_CIFAR10_DIR;
    try {
      expect(await run(['--dataset', 'cifar10', '--out', out], c.io)).toBe(1);
    } finally {
      if (saved !== undefined) process.env.NORMLAB_CIFAR10_DIR = saved;
    }
    expect(c.err()).toMatch(/^vgg-bn: loadCifar10: no data folder: pass \{ root \} or set NORMLAB_CIFAR10_DIR .*\n$/);
    expect(c.err().split('\n')).toHaveLength(2);
    expect(existsSync(out)).toBe(false);
  });

  it('a truncated CIFAR-10 file: one line naming the file and its size', async () => {
    const dir = join(tmp, 'cifar-short');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'data_batch_1.bin'), new Uint8Array(3073 * 10));
    const c = captureIo();
    expect(await run(['--dataset', 'cifar10', '--data-dir', dir, '--out', join(tmp, 'short-out')], c.io)).toBe(1);
    expect(c.err()).toMatch(/^vgg-bn: loadCifar10: .*data_batch_1\.bin: 30730 bytes, expected 30730000/);
  });

  it('runs a tiny configuration end to end on Fashion-MNIST: every file exists and parses', async () => {
    const dir = join(tmp, 'fashion');
    const c = captureIo();
    const code = await run(['--steps', '4', '--eval-every', '2', '--stats-every', '2', '--lrs', '0.1,0.05', '--out', dir, ...TINY], c.io);
    expect(c.err()).toBe('');
    expect(code).toBe(0);
    const files = filesOf([0.1, 0.05]);
    expect(readdirSync(dir).sort()).toEqual([...files].sort());
    const [header, ...lines] = readFileSync(join(dir, 'metrics.csv'), 'utf8').trim().split('\n');
    expect(header.split(',')).toEqual([...CSV_COLUMNS]);
    expect(lines).toHaveLength(6 * 3); // steps 0, 2, 4 for each of 3 variants x 2 rates
    const acts = readFileSync(join(dir, 'activations.csv'), 'utf8').trim().split('\n');
    expect(acts[0].split(',')).toEqual([...ACTIVATION_COLUMNS]);
    expect(acts).toHaveLength(1 + 6 * 2 * 3); // steps 0, 2, 3 for convs 3 and 7 of each run
    const json = JSON.parse(readFileSync(join(dir, 'metrics.json'), 'utf8'));
    expect(json.summary.map((s: { variant: string; lr: number }) => `${s.variant}@${s.lr}`)).toEqual(['standard@0.1', 'bn@0.1', 'noisy-bn@0.1', 'standard@0.05', 'bn@0.05', 'noisy-bn@0.05']);
    for (const s of json.summary) expect(s.finalTrainAccuracy).toBeGreaterThanOrEqual(0);
    for (const f of files.filter((x) => x.endsWith('.svg'))) expect(svgSize(readFileSync(join(dir, f), 'utf8')).width, f).toBeGreaterThan(0);
    for (const f of files.filter((x) => x.endsWith('.png'))) expect([...readFileSync(join(dir, f)).subarray(0, 4)], f).toEqual([0x89, 0x50, 0x4e, 0x47]);
    expect(c.out()).toMatch(/LR=0\.1: training accuracy at step ~2: standard [\d.]+%, BN [\d.]+%, noisy BN [\d.]+%/);
  });

  it('--seeds repeats every run per seed: each seed gives what --seed gives alone; the tables and claims show mean [min, max]', async () => {
    const both = join(tmp, 'seeds');
    const c = captureIo();
    const common = ['--steps', '2', '--eval-every', '2', '--variants', 'standard,bn', '--lrs', '0.1', ...TINY];
    expect(await run([...common, '--seeds', '3,4', '--out', both], c.io)).toBe(0);
    const alone = join(tmp, 'seed4');
    expect(await run([...common, '--seed', '4', '--out', alone], captureIo().io)).toBe(0);
    const rows = (dir: string, seed: string): string[] => readFileSync(join(dir, 'metrics.csv'), 'utf8').trim().split('\n').slice(1).filter((l) => l.split(',')[2] === seed);
    expect(rows(both, '4')).toHaveLength(4); // steps 0 and 2 of standard and bn
    expect(rows(both, '4')).toEqual(rows(alone, '4'));
    expect(rows(both, '3')).not.toEqual(rows(both, '4'));
    expect(c.out()).toMatch(/standard LR=0\.1 seed 3 /);
    expect(c.out()).toMatch(/run +seeds +train acc early +final train acc +final test acc +diverged/);
    expect(c.out()).toMatch(/Measured: mean \[min, max\] over 2 seeds\./);
    expect(c.out()).toMatch(/final training \/ test accuracy: standard [\d.]+% \[[\d.]+%, [\d.]+%\] \/ /);
    const json = JSON.parse(readFileSync(join(both, 'metrics.json'), 'utf8'));
    expect(json.seeds.map((g: { variant: string; seeds: number[] }) => [g.variant, g.seeds])).toEqual([['standard', [3, 4]], ['bn', [3, 4]]]);
  });

  it("--track input follows the norm layer's input (the conv's output): the first conv's is the same for every variant at step 0", async () => {
    const dir = join(tmp, 'track-input');
    expect(await run(['--steps', '1', '--eval-every', '1', '--stats-every', '1', '--lrs', '0.1', '--track', 'input', '--layers', '1,3', '--out', dir, ...TINY], captureIo().io)).toBe(0);
    const rows = readFileSync(join(dir, 'activations.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
    // Step 0: the same weights and batch, so the first conv's output agrees across the variants (the norms only act after it).
    const atStep0 = (variant: string, layer: string): string[] => rows.filter((r) => r[0] === variant && r[4] === '0' && r[3] === layer).map((r) => r.slice(5).join());
    expect(atStep0('bn', '1')).toHaveLength(1);
    expect(atStep0('bn', '1')).toEqual(atStep0('standard', '1'));
    expect(atStep0('noisy-bn', '1')).toEqual(atStep0('standard', '1'));
    expect(atStep0('bn', '3')).not.toEqual(atStep0('standard', '3'));
    expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).activations).toMatch(/outputs \(the norm layer's input, in every variant\)/);
  });

  it('trains on CIFAR-10 files in the official layout, with the augmentation', async () => {
    const data = join(tmp, 'cifar-10-batches-bin');
    fakeCifar(data);
    const dir = join(tmp, 'cifar');
    const c = captureIo();
    const code = await run(['--dataset', 'cifar10', '--data-dir', data, '--steps', '2', '--eval-every', '2', '--variants', 'bn', '--lrs', '0.1', '--out', dir, ...TINY], c.io);
    expect(c.err()).toBe('');
    expect(code).toBe(0);
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    expect(config.activations).toMatch(/pre-activations \(the norm layer's output/);
    expect(config.data).toMatch(/^CIFAR-10 .*random crop .*: 64 training images, 20 test images$/);
    expect(config.options.dataDir).toBe(data);
  });
});
