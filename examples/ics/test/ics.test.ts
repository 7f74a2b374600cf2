import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { captureIo, usageBehaviour } from '@normlab/example-kit';
import { svgSize } from '@normlab/plot';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULTS, USAGE, UsageError, parseArgs } from '../src/args.js';
import { CSV_COLUMNS, FILES, LOSS_COLUMNS, run } from '../src/cli.js';

const capture = captureIo;

const tmp = mkdtempSync(join(tmpdir(), 'ics-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('parseArgs', () => {
  it('gives the defaults and parses lists', () => {
    expect(parseArgs([]).options).toEqual(DEFAULTS);
    const { options } = parseArgs(['--lrs', '0.1,0.2', '--variants=bn', '--depth', '5', '--layer', '3']);
    expect(options.lrs).toEqual([0.1, 0.2]);
    expect(options.variants).toEqual(['bn']);
    expect([options.depth, options.layer]).toEqual([5, 3]);
  });

  it.each([
    [['--bogus'], /unknown flag '--bogus'/],
    [['--steps', '0'], /positive integer/],
    [['--lrs', '0.1,x'], /expects a number/],
    [['--lrs', '0.1,-1'], /must be positive/],
    [['--lrs', '0.1,0.1'], /twice/],
    [['--lrs', ''], /comma-separated list of numbers/],
    [['--depth', '1'], /at least 2/],
    [['--layer', '30'], /1\.\.25/],
    [['--variants', 'bn,noisy'], /unknown variant 'noisy'/],
    [['--samples', '1'], /at least 2/],
    [['--progress', 'loud'], /auto, bar, plain or none/],
  ])('rejects %j', (argv, message) => {
    expect(() => parseArgs(argv)).toThrow(UsageError);
    expect(() => parseArgs(argv)).toThrow(message);
  });
});

describe('the CLI', () => {
  it('--help prints the usage and exits 0; a bad flag exits 2 with the error and the usage', async () => {
    const u = await usageBehaviour(run, ['--steps', 'many']);
    expect([u.helpCode, u.helpOut, u.badCode]).toEqual([0, USAGE, 2]);
    expect(u.badErr).toMatch(/^ics: --steps expects a number/);
    expect(u.badErr.endsWith(USAGE)).toBe(true);
  });

  it('runs a tiny configuration end to end: every file exists and parses', async () => {
    const dir = join(tmp, 'run');
    const c = capture();
    const code = await run(['--steps', '6', '--ics-every', '3', '--depth', '4', '--width', '3', '--samples', '16', '--layer', '2', '--lrs', '0.01,0.1', '--out', dir, '--progress', 'plain'], c.io);
    expect(c.err()).toBe('');
    expect(code).toBe(0);
    for (const f of FILES) expect(existsSync(join(dir, f)), f).toBe(true);
    const [header, ...lines] = readFileSync(join(dir, 'metrics.csv'), 'utf8').trim().split('\n');
    expect(header.split(',')).toEqual([...CSV_COLUMNS]);
    // 2 lrs x 2 variants x 3 measurements (steps 0, 3, 6) x 4 layers.
    expect(lines).toHaveLength(48);
    for (const line of lines) expect(line.split(',')).toHaveLength(CSV_COLUMNS.length);
    const loss = readFileSync(join(dir, 'loss.csv'), 'utf8').trim().split('\n');
    expect(loss[0].split(',')).toEqual([...LOSS_COLUMNS]);
    expect(loss).toHaveLength(1 + 2 * 2 * 7);
    const json = JSON.parse(readFileSync(join(dir, 'metrics.json'), 'utf8'));
    expect(json.summary).toHaveLength(4);
    // Layer 1 has no layer before it: no shift.
    for (const r of json.rows.filter((x: { layer: number }) => x.layer === 1)) {
      expect(r.l2).toBe(0);
      expect(r.cosine).toBeCloseTo(1, 12);
    }
    expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).options.depth).toBe(4);
    for (const f of FILES.filter((x) => x.endsWith('.svg'))) expect(svgSize(readFileSync(join(dir, f), 'utf8')).width, f).toBeGreaterThan(0);
    for (const f of FILES.filter((x) => x.endsWith('.png'))) {
      expect([...readFileSync(join(dir, f)).subarray(0, 4)], f).toEqual([0x89, 0x50, 0x4e, 0x47]);
    }
    expect(c.out()).toMatch(/Paper \(Santurkar et al\. 2018/);
    expect(c.out()).toMatch(/lr 0\.1: median cos\(G,G'\) over layers 2-4 and training: standard [-\d.e]+, BN [-\d.e]+/);
  });
});
