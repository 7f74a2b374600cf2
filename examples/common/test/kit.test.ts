import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Tensor } from '@normlab/autograd';
import { zeros } from '@normlab/tensor';
import {
  DeviceUnavailableError, MemoryTrace, deviceMemory, describeDevice, formatMemory, maxRowsPerArray, toDeviceChunks, useDevice,
  type Flags, UsageError, captureIo, flagName, formatDuration, formatTable, log10Format, logDomain, median, orList, parseFlags, percentileShift, quantile, runCli, toCsv,
  logResult, restoreResult, resumeOptions, runConfig, withRun,
} from '../src/index.js';
import { RunDir } from '@normlab/lab';

interface O {
  n: number;
  x: number;
  names: string[];
  mode: string;
  xs: number[];
  help: boolean;
}
const DEFAULTS: O = { n: 1, x: 0.5, names: ['a'], mode: 'p', xs: [1], help: false };
const FLAGS: Flags<O> = {
  '--n': { key: 'n', kind: 'posint' },
  '--x': { key: 'x', kind: 'posnumber' },
  '--names': { key: 'names', kind: { listOf: ['a', 'b', 'c'], item: 'name' } },
  '--mode': { key: 'mode', kind: { oneOf: ['p', 'q'] } },
  '--xs': { key: 'xs', kind: 'numbers' },
};

describe('parseFlags', () => {
  it('parses both forms, copies the defaults, reports what was given', () => {
    const { options, given } = parseFlags(['--n', '3', '--names=b,c', '--xs', '0.1, 2', '-h'], FLAGS, DEFAULTS);
    expect(options).toEqual({ n: 3, x: 0.5, names: ['b', 'c'], mode: 'p', xs: [0.1, 2], help: true });
    expect([...given].sort()).toEqual(['n', 'names', 'xs']);
    const again = parseFlags([], FLAGS, DEFAULTS).options;
    again.names.push('z');
    expect(DEFAULTS.names).toEqual(['a']);
  });

  it.each([
    [['--nope'], /unknown flag '--nope'/],
    [['stray'], /unexpected argument 'stray'/],
    [['--n'], /needs a value/],
    [['--n', '0'], /positive integer/],
    [['--x', '-1'], /must be positive/],
    [['--names', 'a,d'], /unknown name 'd'/],
    [['--names', 'a,a'], /lists a name twice/],
    [['--mode', 'r'], /--mode expects p or q, got 'r'/],
    [['--xs', '1,,2'], /comma-separated list of numbers/],
    [['--toString', '1'], /unknown flag/],
  ])('rejects %j', (argv, message) => {
    expect(() => parseFlags(argv, FLAGS, DEFAULTS)).toThrow(UsageError);
    expect(() => parseFlags(argv, FLAGS, DEFAULTS)).toThrow(message);
  });

  it('names and lists', () => {
    expect(flagName('batchSize')).toBe('--batch-size');
    expect([orList(['a']), orList(['a', 'b']), orList(['a', 'b', 'c'])]).toEqual(['a', 'a or b', 'a, b or c']);
  });
});

describe('runCli', () => {
  const spec = { name: 'demo', usage: 'usage: demo\n', parse: (argv: readonly string[]) => parseFlags(argv, FLAGS, DEFAULTS) };
  it('exit codes: 0 with the usage for --help, 2 for usage errors (at parse or in the body), 1 with the stack for other errors', async () => {
    let c = captureIo();
    expect(await runCli(spec, ['--help'], c.io, () => 5)).toBe(0);
    expect(c.out()).toBe('usage: demo\n');
    c = captureIo();
    expect(await runCli(spec, ['--n', 'x'], c.io, () => 5)).toBe(2);
    expect(c.err()).toBe("demo: --n expects a number, got 'x'\n\nusage: demo\n");
    c = captureIo();
    expect(await runCli(spec, [], c.io, () => { throw new UsageError('bad combination'); })).toBe(2);
    expect(c.err()).toMatch(/^demo: bad combination/);
    c = captureIo();
    expect(await runCli(spec, [], c.io, () => { throw new Error('boom'); })).toBe(1);
    expect(c.err()).toMatch(/^demo: Error: boom/);
    expect(await runCli(spec, ['--n', '2'], captureIo().io, (o) => o.n)).toBe(2);
  });
});

describe('formatting and statistics', () => {
  it('toCsv, formatTable, formatDuration', () => {
    expect(toCsv(['a', 'b', 'c'], [[1, null, 'x,y'], [NaN, 'q"r', true]])).toBe('a,b,c\n1,,"x,y"\n,"q""r",true\n');
    expect(formatTable(['name', 'v'], [['ab', '1'], ['c', '10']])).toBe('name   v\n----  --\nab     1\nc     10');
    expect([formatDuration(65), formatDuration(3725), formatDuration(NaN)]).toEqual(['01:05', '1:02:05', '--:--']);
  });

  it('quantile interpolates linearly (numpy), skipping NaN', () => {
    expect(quantile([4, 1, 3, 2], 0.5)).toBe(2.5);
    expect(quantile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.15)).toBeCloseTo(2.35, 12);
    expect(median([NaN, 3, 1])).toBe(2);
    expect(median([])).toBeNaN();
  });

  it('percentileShift: the mean |change| of p15, p50 and p85 between consecutive records', () => {
    const ps = [5, 15, 50, 85, 95];
    // Records 1 -> 2: p15, p50, p85 change by 1, 2, 3 (mean 2); 2 -> 3: by 0, 0, 6 (mean 2); p5 and p95 are ignored.
    expect(percentileShift([[0, 1, 2, 3, 9], [7, 2, 4, 6, -9], [0, 2, 4, 0, 1]], ps)).toBe(2);
    expect(percentileShift([[0, 1, 2, 3, 4]], ps)).toBeNaN();
    expect(() => percentileShift([], [5, 50, 95])).toThrow(/must include 15, 50 and 85/);
  });

  it('log axes', () => {
    expect(logDomain([0.012, 5, 0, -1, NaN])).toEqual([-2, 1]);
    expect(logDomain([])).toEqual([-1, 1]);
    expect([log10Format(-2), log10Format(0.5), log10Format(6)]).toEqual(['0.01', '3.2', '1e+6']);
  });
});

describe('device', () => {
  it("'cpu' needs no backend; chunks are views within 2^24 elements; memory summaries", () => {
    const info = useDevice('cpu');
    expect(info).toMatchObject({ device: 'cpu', mode: null, name: 'cpu' });
    expect(describeDevice(info)).toBe('device: cpu (the CPU backend)');
    expect(deviceMemory('cpu')).toBeNull();
    expect(maxRowsPerArray(784)).toBe(Math.floor(2 ** 24 / 784));
    const x = new Tensor(zeros([5, 3]));
    const y = new Tensor(zeros([5], { dtype: 'int32' }));
    const chunks = toDeviceChunks(x, y, 'cpu', 2);
    expect(chunks.map((c) => [c.start, c.x.shape[0], c.y.shape[0]])).toEqual([[0, 2, 2], [2, 2, 2], [4, 1, 1]]);
    const trace = new MemoryTrace('cpu');
    trace.sample();
    expect(trace.summary()).toBeNull();
    expect(formatMemory(null)).toBe('-');
    expect(formatMemory({ samples: 3, buffersAfterFirstStep: 18, buffersAfterLastStep: 18, buffersMin: 18, buffersMax: 18, bytesAfterFirstStep: 0, bytesAfterLastStep: 2 ** 20, bytesMax: 2 ** 20, grew: 0 }))
      .toBe('18 -> 18, 1.0 MiB');
  });

  it("'gpu' with a NORMLAB_GPU_MODE that does not exist throws DeviceUnavailableError, saying why", () => {
    const before = process.env.NORMLAB_GPU_MODE;
    process.env.NORMLAB_GPU_MODE = 'no-such-mode';
    try {
      expect(() => useDevice('gpu')).toThrow(DeviceUnavailableError);
      expect(() => useDevice('gpu')).toThrow(/device 'gpu' is not available: unknown mode 'no-such-mode'.*NORMLAB_GPU_MODE=no-such-mode asks for that mode only/);
    } finally {
      if (before === undefined) delete process.env.NORMLAB_GPU_MODE;
      else process.env.NORMLAB_GPU_MODE = before;
    }
  });
});

describe('withRun and logResult', () => {
  const base = mkdtempSync(join(tmpdir(), 'kit-run-'));
  afterAll(() => rmSync(base, { recursive: true, force: true }));
  const opts = (out: string, force = false) => ({ out, progress: 'none' as const, force });

  it('runs the body in a new folder with status running then done; refuses a folder that holds something unless --force', async () => {
    const dir = join(base, 'a');
    const code = await withRun('kit', opts(dir), captureIo().io, ({ run }) => {
      expect(run.status()?.state).toBe('running');
      run.writeConfig(runConfig({ lr: 0.1 }));
      logResult(run, { variant: 'bn', lr: 0.1, losses: [2, 1], evals: [{ step: 0, acc: 0.1 }, { step: 10, acc: 0.5 }] });
      return 0;
    });
    expect(code).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, 'status.json'), 'utf8')).state).toBe('done');
    expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'))).toMatchObject({ lr: 0.1, code: { node: process.versions.node } });
    expect(readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l))).toEqual([
      { kind: 'evals', variant: 'bn', lr: 0.1, step: 0, acc: 0.1 },
      { kind: 'evals', variant: 'bn', lr: 0.1, step: 10, acc: 0.5 },
      { kind: 'run', variant: 'bn', lr: 0.1, losses: [2, 1] },
    ]);
    await expect(withRun('kit', opts(dir), captureIo().io, () => 0)).rejects.toThrow(`${dir} holds a run; --resume ${dir} continues it, --force moves it aside`);
    const c = captureIo();
    expect(await withRun('kit', { ...opts(dir, true), progress: 'plain' }, c.io, () => 0)).toBe(0);
    expect(c.out()).toMatch(new RegExp(`^kit: the run that was in ${dir} is now in ${dir}\\.replaced-`));
  });

  it('Ctrl-C: between() stops the body after its step; status interrupted, exit 130, one line saying what was kept', async () => {
    const dir = join(base, 'ctrl-c');
    const c = captureIo();
    let steps = 0;
    const code = await withRun('kit', opts(dir), c.io, async ({ run, between }) => {
      run.metrics.append({ step: 0 });
      for (let step = 0; step < 100; step++) {
        steps++;
        if (step === 4) process.emit('SIGINT', 'SIGINT');
        await between('bn lr 0.1')(step);
      }
      return 0;
    });
    expect([code, steps]).toEqual([130, 5]);
    expect(c.err()).toBe(`kit: interrupted in bn lr 0.1, after step 5; the runs finished before are in ${join(dir, 'metrics.jsonl')}\ncontinue with: pnpm example kit --resume ${dir}\n`);
    expect(JSON.parse(readFileSync(join(dir, 'status.json'), 'utf8'))).toMatchObject({ state: 'interrupted' });
    expect(process.listenerCount('SIGINT')).toBe(0);
  });

  it('restoreResult gives back a finished run as logResult logged it, and null for one that did not finish', () => {
    const records: Record<string, unknown>[] = [];
    const run = { metrics: { append: (r: Record<string, unknown>) => void records.push(r) } } as unknown as Parameters<typeof logResult>[0];
    const result = { variant: 'bn', lr: 0.1, losses: [2, 1], evals: [{ variant: 'bn', lr: 0.1, step: 0 }, { variant: 'bn', lr: 0.1, step: 10 }], probes: [], divergedAt: null };
    logResult(run, result);
    logResult(run, { ...result, variant: 'standard', evals: [{ variant: 'standard', lr: 0.1, step: 0 }] });
    records.push({ kind: 'evals', variant: 'standard', lr: 0.5, step: 0 }); // a run that never finished
    expect(restoreResult(records, { variant: 'bn', lr: 0.1 })).toEqual(result);
    expect(restoreResult(records, { variant: 'standard', lr: 0.5 })).toBeNull();
  });

  it('resumeOptions: the saved options with --progress and --debug as given; any other flag is an error naming it', () => {
    const dir = join(base, 'resumed');
    const r = RunDir.create(dir);
    const saved = { steps: 7, out: dir, progress: 'plain', force: false, resume: null, debug: false };
    r.writeConfig({ options: saved });
    const cli = { steps: 100, out: null, progress: 'none' as const, force: false, resume: dir, debug: true, help: false };
    expect(resumeOptions(cli, new Set(['resume', 'progress', 'debug']))).toEqual({ ...saved, help: false, resume: dir, progress: 'none', debug: true });
    expect(() => resumeOptions(cli, new Set(['resume', 'steps']))).toThrow("--resume keeps the run's settings; these flags cannot change: --steps");
    expect(() => resumeOptions({ ...cli, resume: join(base, 'nothing') }, new Set(['resume']))).toThrow('no config.json there');
  });

  it('a body that throws before its first record leaves no folder; one that throws later leaves status failed with the error', async () => {
    const early = join(base, 'early');
    await expect(withRun('kit', opts(early), captureIo().io, () => {
      throw new Error('no data');
    })).rejects.toThrow('no data');
    expect(existsSync(early)).toBe(false);
    const late = join(base, 'late');
    await expect(withRun('kit', opts(late), captureIo().io, ({ run }) => {
      run.metrics.append({ step: 0 });
      throw new Error('diverged');
    })).rejects.toThrow('diverged');
    expect(JSON.parse(readFileSync(join(late, 'status.json'), 'utf8'))).toMatchObject({ state: 'failed', message: 'diverged' });
  });
});
