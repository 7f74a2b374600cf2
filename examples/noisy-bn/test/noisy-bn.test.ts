import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { captureIo, usageBehaviour } from '@normlab/example-kit';
import { svgSize } from '@normlab/plot';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULTS, USAGE, UsageError, parseArgs } from '../src/args.js';
import { ACTIVATION_COLUMNS, CSV_COLUMNS, FILES, run } from '../src/cli.js';

const tmp = mkdtempSync(join(tmpdir(), 'noisy-bn-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const TINY = ['--train-limit', '256', '--test-limit', '64', '--batch-size', '16', '--progress', 'plain'];

describe('parseArgs', () => {
  it('gives the defaults; vgg tests on 2000 images unless told', () => {
    expect(parseArgs([]).options).toEqual(DEFAULTS);
    expect(parseArgs(['--model', 'vgg']).options.testLimit).toBe(2000);
    expect(parseArgs(['--model', 'vgg', '--test-limit', '0']).options.testLimit).toBe(0);
    expect(parseArgs(['--variants', 'noisy-bn,bn']).options.variants).toEqual(['noisy-bn', 'bn']);
  });

  it.each([
    [['--bogus'], /unknown flag '--bogus'/],
    [['--lr', '0'], /--lr must be positive/],
    [['--lr', 'x'], /expects a number/],
    [['--model', 'cnn'], /mlp or vgg/],
    [['--layer', '4'], /1\.\.3 for --model mlp/],
    [['--model', 'vgg', '--layer', '5'], /1\.\.4 for --model vgg/],
    [['--unit', '100'], /0\.\.99/],
    [['--model', 'vgg', '--layer', '3', '--unit', '16'], /0\.\.15/],
    [['--variants', 'bn,bn'], /twice/],
    [['--train-limit', '10'], /smaller than one batch/],
    [['--noise-std', '0.5'], /--noise-std expects N >= 1 or LO,HI/],
    [['--noise-std', '0.5,0.2'], /--noise-std expects/],
    [['--noise-mean', '-1'], /--noise-mean must be non-negative/],
    [['--shift-std', '-0.1'], /--shift-std must be non-negative/],
  ])('rejects %j', (argv, message) => {
    expect(() => parseArgs(argv)).toThrow(UsageError);
    expect(() => parseArgs(argv)).toThrow(message);
  });
});

describe('the CLI', () => {
  it('--help prints the usage and exits 0; a bad flag exits 2 with the error and the usage', async () => {
    const u = await usageBehaviour(run, ['--variants', 'bn,resnet']);
    expect([u.helpCode, u.helpOut, u.badCode]).toEqual([0, USAGE, 2]);
    expect(u.badErr).toMatch(/^noisy-bn: --variants: unknown variant 'resnet'/);
    expect(u.badErr.endsWith(USAGE)).toBe(true);
  });

  for (const model of ['mlp', 'vgg'] as const) {
    it(`runs a tiny configuration end to end (${model}): every file exists and parses`, async () => {
      const dir = join(tmp, model);
      const c = captureIo();
      const size = model === 'vgg' ? ['--width', '2'] : ['--width', '8'];
      const code = await run(['--model', model, '--steps', '6', '--eval-every', '3', '--stats-every', '2', ...size, '--out', dir, ...TINY], c.io);
      expect(c.err()).toBe('');
      expect(code).toBe(0);
      for (const f of FILES) expect(existsSync(join(dir, f)), f).toBe(true);
      const [header, ...lines] = readFileSync(join(dir, 'metrics.csv'), 'utf8').trim().split('\n');
      expect(header.split(',')).toEqual([...CSV_COLUMNS]);
      expect(lines).toHaveLength(3 * 3); // steps 0, 3, 6 for each variant
      const acts = readFileSync(join(dir, 'activations.csv'), 'utf8').trim().split('\n');
      expect(acts[0].split(',')).toEqual([...ACTIVATION_COLUMNS]);
      expect(acts).toHaveLength(1 + 3 * 4); // steps 0, 2, 4, 5
      const json = JSON.parse(readFileSync(join(dir, 'metrics.json'), 'utf8'));
      expect(json.summary.map((s: { variant: string }) => s.variant)).toEqual(['standard', 'bn', 'noisy-bn']);
      for (const f of FILES.filter((x) => x.endsWith('.svg'))) expect(svgSize(readFileSync(join(dir, f), 'utf8')).width, f).toBeGreaterThan(0);
      for (const f of FILES.filter((x) => x.endsWith('.png'))) expect([...readFileSync(join(dir, f)).subarray(0, 4)], f).toEqual([0x89, 0x50, 0x4e, 0x47]);
      expect(c.out()).toMatch(/final test accuracy: standard [\d.]+%, BN [\d.]+%, noisy BN [\d.]+%/);
    });
  }
});

describe('Ctrl-C', () => {
  it('stops the variant under way after its step: status interrupted, exit 130, the variants finished before kept', async () => {
    const dir = join(tmp, 'interrupted');
    const c = captureIo();
    // Ctrl-C as the bn variant's first evaluation line is printed.
    const write = c.io.stdout.write;
    let sent = false;
    c.io.stdout.write = (s: string) => {
      write(s);
      if (!sent && s.startsWith('[bn] step 3/')) {
        sent = true;
        process.emit('SIGINT', 'SIGINT');
      }
    };
    const code = await run(['--steps', '6', '--eval-every', '3', '--stats-every', '2', '--width', '8', '--out', dir, ...TINY], c.io);
    expect(code).toBe(130);
    expect(c.err()).toBe(`noisy-bn: interrupted in bn, after step 3; the runs finished before are in ${join(dir, 'metrics.jsonl')}\ncontinue with: pnpm example noisy-bn --resume ${dir}\n`);
    expect(JSON.parse(readFileSync(join(dir, 'status.json'), 'utf8'))).toMatchObject({ state: 'interrupted', message: 'stopped in bn, after step 3' });
    const records = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { variant: string });
    expect(new Set(records.map((r) => r.variant))).toEqual(new Set(['standard']));
    expect(process.listenerCount('SIGINT')).toBe(0);

    // --resume keeps the finished variant and trains the others: the same files as a straight run.
    const r = captureIo();
    expect(await run(['--resume', dir, '--progress', 'plain'], r.io)).toBe(0);
    expect(r.out()).toContain(`standard: finished before (${join(dir, 'metrics.jsonl')}), kept`);
    const straight = join(tmp, 'straight');
    expect(await run(['--steps', '6', '--eval-every', '3', '--stats-every', '2', '--width', '8', '--out', straight, ...TINY], captureIo().io)).toBe(0);
    for (const f of ['metrics.csv', 'activations.csv']) expect(readFileSync(join(dir, f), 'utf8'), f).toBe(readFileSync(join(straight, f), 'utf8'));
    expect(JSON.parse(readFileSync(join(dir, 'status.json'), 'utf8')).state).toBe('done');
    const bad = captureIo();
    expect(await run(['--resume', dir, '--lr', '0.5'], bad.io)).toBe(2);
    expect(bad.err()).toContain("--resume keeps the run's settings; these flags cannot change: --lr");
  });
});
