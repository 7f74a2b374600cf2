import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { captureIo, usageBehaviour } from '@normlab/example-kit';
import { svgSize } from '@normlab/plot';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULTS, USAGE, UsageError, parseArgs } from '../src/args.js';
import { CSV_COLUMNS, FILES, LOSS_COLUMNS, run } from '../src/cli.js';

const tmp = mkdtempSync(join(tmpdir(), 'landscape-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('parseArgs', () => {
  it('gives the defaults and parses lists', () => {
    expect(parseArgs([]).options).toEqual(DEFAULTS);
    const { options } = parseArgs(['--lrs', '0.1,0.3', '--step-multipliers=1,2', '--model', 'mlp']);
    expect(options.lrs).toEqual([0.1, 0.3]);
    expect(options.stepMultipliers).toEqual([1, 2]);
    expect(options.model).toBe('mlp');
  });

  it.each([
    [['--bogus'], /unknown flag '--bogus'/],
    [['--steps', '-1'], /positive integer/],
    [['--lrs', '0'], /must be positive/],
    [['--step-multipliers', '1,-2'], /must be positive/],
    [['--model', 'resnet'], /mlp or vgg/],
    [['--variants', 'noisy-bn'], /unknown variant 'noisy-bn'/],
    [['--batch-size', '1'], /at least 2/],
    [['--train-limit', '10'], /smaller than one batch/],
    [['--probe-every'], /needs a value/],
  ])('rejects %j', (argv, message) => {
    expect(() => parseArgs(argv)).toThrow(UsageError);
    expect(() => parseArgs(argv)).toThrow(message);
  });
});

describe('the CLI', () => {
  it('--help prints the usage and exits 0; a bad flag exits 2 with the error and the usage', async () => {
    const u = await usageBehaviour(run, ['--lrs', 'fast']);
    expect([u.helpCode, u.helpOut, u.badCode]).toEqual([0, USAGE, 2]);
    expect(u.badErr).toMatch(/^landscape: --lrs expects a number/);
    expect(u.badErr.endsWith(USAGE)).toBe(true);
  });

  it('runs a tiny configuration end to end (VGG of width 2): every file exists and parses', async () => {
    const dir = join(tmp, 'run');
    const c = captureIo();
    const code = await run([
      '--steps', '4', '--probe-every', '2', '--width', '2', '--batch-size', '8', '--step-multipliers', '0.5,2', '--lrs', '0.05,0.1',
      '--train-limit', '64', '--test-limit', '32', '--out', dir, '--progress', 'plain',
    ], c.io);
    expect(c.err()).toBe('');
    expect(code).toBe(0);
    for (const f of FILES) expect(existsSync(join(dir, f)), f).toBe(true);
    const [header, ...lines] = readFileSync(join(dir, 'metrics.csv'), 'utf8').trim().split('\n');
    expect(header.split(',')).toEqual([...CSV_COLUMNS]);
    // 2 lrs x 2 variants x probes at steps 0, 2 and 3 (the last).
    expect(lines).toHaveLength(12);
    for (const line of lines) {
      const cells = line.split(',');
      expect(cells).toHaveLength(CSV_COLUMNS.length);
      expect(cells.slice(3).every((v) => Number.isFinite(Number(v)))).toBe(true);
    }
    const loss = readFileSync(join(dir, 'loss.csv'), 'utf8').trim().split('\n');
    expect(loss[0].split(',')).toEqual([...LOSS_COLUMNS]);
    expect(loss).toHaveLength(1 + 2 * 2 * 4);
    const json = JSON.parse(readFileSync(join(dir, 'metrics.json'), 'utf8'));
    expect(json.summary).toHaveLength(4);
    expect(json.probes[0].stepSizes).toEqual([0.025, 0.1]);
    for (const f of FILES.filter((x) => x.endsWith('.svg'))) expect(svgSize(readFileSync(join(dir, f), 'utf8')).width, f).toBeGreaterThan(0);
    for (const f of FILES.filter((x) => x.endsWith('.png'))) expect([...readFileSync(join(dir, f)).subarray(0, 4)], f).toEqual([0x89, 0x50, 0x4e, 0x47]);
    expect(c.out()).toMatch(/effective beta-smoothness, median over training: standard [\d.e+-]+, BN [\d.e+-]+/);
  });
});
