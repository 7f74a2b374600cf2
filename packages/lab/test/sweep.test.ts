import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  RunError, aggregateSweep, describeProgress, loadSweepFile, reduceRun, expandSweep, flagArgs, meanCi, metricFigures, parseSweep, reportHtml, shellQuote, slurmScript, summaryMarkdown,
  tQuantile975,
} from '../src/index.js';

const BASE = { example: 'mnist-bn', metrics: { y: ['testAccuracy'] } };

describe('sweep files', () => {
  it('fills the defaults and expands configs (list x grid) x seeds, seeds innermost, each with its flags', () => {
    const spec = parseSweep({ ...BASE, args: { steps: 60, trainLimit: 600, debug: true }, grid: { lr: [0.1, 1], variants: [['baseline', 'bn'], 'bn'] }, seeds: [3, 4] }, 'sweeps/a.json');
    expect(spec).toMatchObject({ name: 'a', list: [{}], metrics: { x: 'step', y: ['testAccuracy'], series: [], where: {} }, slurm: {} });
    const runs = expandSweep(spec);
    expect(runs.map((r) => r.id)).toEqual([
      'lr-0.1_variants-baseline+bn_seed-3', 'lr-0.1_variants-baseline+bn_seed-4', 'lr-0.1_variants-bn_seed-3', 'lr-0.1_variants-bn_seed-4',
      'lr-1_variants-baseline+bn_seed-3', 'lr-1_variants-baseline+bn_seed-4', 'lr-1_variants-bn_seed-3', 'lr-1_variants-bn_seed-4',
    ]);
    expect(runs[0].args).toEqual(['--steps', '60', '--train-limit', '600', '--debug', '--lr', '0.1', '--variants', 'baseline,bn', '--seed', '3']);
    expect(runs[0].configKey).toBe(runs[1].configKey);
    expect(flagArgs('evalEvery', 5)).toEqual(['--eval-every', '5']);
    const listed = expandSweep(parseSweep({ ...BASE, list: [{ lr: 0.1 }, { lr: 0.5, steps: 10 }], grid: { variants: ['bn'] } }, 'b.json'));
    expect(listed.map((r) => r.id)).toEqual(['lr-0.1_variants-bn_seed-0', 'lr-0.5_steps-10_variants-bn_seed-0']);
  });

  it.each([
    [[], "a sweep file holds one object, got a list"],
    [{ ...BASE, bogus: 1 }, "unknown field 'bogus'"],
    [{ ...BASE, example: '../x' }, "'example' must name an example folder"],
    [{ ...BASE, args: { seed: 1 } }, "'args.seed': the sweep sets --seed itself (list the seeds in 'seeds')"],
    [{ ...BASE, args: { out: 'x' } }, "'args.out': the sweep sets --out itself"],
    [{ ...BASE, args: { 'train-limit': 5 } }, "'args.train-limit': flag names are camelCase option names"],
    [{ ...BASE, args: { lr: null } }, "'args.lr': expected a number, a non-empty string, true"],
    [{ ...BASE, grid: { lr: [] } }, "'grid.lr' must be a non-empty list of values"],
    [{ ...BASE, grid: { lr: [0.1, 0.1] } }, "'grid.lr' lists 0.1 twice"],
    [{ ...BASE, args: { lr: 1 }, grid: { lr: [0.1] } }, "'lr' is both in 'args' and in 'grid'"],
    [{ ...BASE, list: [{ lr: 1 }], grid: { lr: [0.1] } }, "'list[0].lr' is also in 'grid'"],
    [{ ...BASE, seeds: [0, 0] }, "'seeds' lists a seed twice"],
    [{ ...BASE, seeds: [-1] }, "'seeds' must be a non-empty list of non-negative integers"],
    [{ example: 'mnist-bn' }, "'metrics' must say what to aggregate"],
    [{ ...BASE, metrics: { y: [] } }, "'metrics.y' must name at least one field"],
    [{ ...BASE, slurm: { gpus: 1 } }, "unknown field 'slurm.gpus'"],
    [{ ...BASE, slurm: { cpusPerTask: 0 } }, "'slurm.cpusPerTask' must be a positive integer"],
  ])('rejects %j naming the file and the field', (value, message) => {
    expect(() => parseSweep(value, 'sweeps/x.json')).toThrow(RunError);
    expect(() => parseSweep(value, 'sweeps/x.json')).toThrow(`sweeps/x.json: ${message}`);
  });
});

describe('sweep files as modules', () => {
  it('a .mjs default export is read; a .ts one where Node strips types, else one line saying which Node it needs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sweep-mod-'));
    const sweep = { example: 'mnist-bn', grid: { lr: [0.1, 0.2] }, metrics: { y: ['testAccuracy'] } };
    writeFileSync(join(dir, 'a.mjs'), `export default ${JSON.stringify(sweep)};`);
    expect((await loadSweepFile(join(dir, 'a.mjs'))).grid).toEqual({ lr: [0.1, 0.2] });
    writeFileSync(join(dir, 'b.ts'), `const lrs: number[] = [0.1, 0.2];\nexport default { ...${JSON.stringify(sweep)}, grid: { lr: lrs } };`);
    if ((process.features as { typescript?: string }).typescript) expect((await loadSweepFile(join(dir, 'b.ts'))).grid).toEqual({ lr: [0.1, 0.2] });
    else await expect(loadSweepFile(join(dir, 'b.ts'))).rejects.toThrow(`${join(dir, 'b.ts')}: a TypeScript sweep file needs Node 23.6 or later`);
    await expect(loadSweepFile(join(dir, 'none.json'))).rejects.toThrow('no such sweep file');
    rmSync(dir, { recursive: true });
  });
});

describe('confidence intervals', () => {
  it("t(0.975, df) is the table's up to 30 and within 0.001 of the exact quantile beyond", () => {
    expect([1, 2, 4, 10, 30].map(tQuantile975)).toEqual([12.706, 4.303, 2.776, 2.228, 2.042]);
    // Exact values (R's qt(0.975, df)).
    for (const [df, t] of [[31, 2.039513], [40, 2.021075], [60, 2.000298], [120, 1.979930], [1000, 1.962339]]) expect(Math.abs(tQuantile975(df) - t)).toBeLessThan(1e-3);
    expect(() => tQuantile975(0)).toThrow('positive integer');
  });

  it('meanCi: the mean, the sample sd, mean -+ t s / sqrt(n); one value has no width; symmetric and shift-equivariant', () => {
    const c = meanCi([1, 2, 3, 4]);
    expect(c.mean).toBe(2.5);
    expect(c.sd).toBeCloseTo(Math.sqrt(5 / 3), 12);
    expect(c.hi - c.mean).toBeCloseTo((3.182 * Math.sqrt(5 / 3)) / 2, 12);
    expect(meanCi([7])).toEqual({ n: 1, mean: 7, sd: 0, lo: 7, hi: 7 });
    expect(() => meanCi([])).toThrow('no values');
    expect(() => meanCi([1, Number.NaN])).toThrow('not finite');
    fc.assert(fc.property(fc.array(fc.double({ min: -1e3, max: 1e3, noNaN: true }), { minLength: 2, maxLength: 12 }), fc.double({ min: -1e3, max: 1e3, noNaN: true }), (xs, shift) => {
      const a = meanCi(xs);
      const b = meanCi(xs.map((x) => x + shift));
      expect(a.lo).toBeLessThanOrEqual(a.mean);
      expect(a.mean - a.lo).toBeCloseTo(a.hi - a.mean, 6);
      expect(b.mean - a.mean).toBeCloseTo(shift, 6);
      expect(b.hi - b.lo).toBeCloseTo(a.hi - a.lo, 6);
    }));
  });
});

describe('aggregation and the report', () => {
  const spec = parseSweep({ ...BASE, grid: { lr: [0.1] }, seeds: [0, 1, 2], metrics: { y: ['acc', 'loss'], series: ['variant'], where: { kind: 'evals' } } }, 'agg.json');
  const runs = expandSweep(spec);
  const recs = (seed: number) => [
    { kind: 'evals', variant: 'bn', step: 0, acc: 0.1 + seed, loss: 2 },
    { kind: 'evals', variant: 'bn', step: 10, acc: 0.5 + seed, loss: seed === 2 ? null : 1 },
    { kind: 'evals', variant: 'baseline', step: 0, acc: 0.1, loss: 2 },
    { kind: 'run', variant: 'bn', step: 10, acc: 99 },
  ];
  const agg = aggregateSweep(spec, runs.map((run) => ({ run, records: recs(run.seed) })));

  it('per series and x: mean and interval over the seeds with a finite value; records not matching where are left out', () => {
    expect(agg.series.map((s) => s.label)).toEqual(['lr 0.1, variant bn', 'lr 0.1, variant baseline']);
    const bn = agg.series[0];
    expect(bn.x).toEqual([0, 10]);
    expect(bn.seeds).toEqual([0, 1, 2]);
    expect(bn.metrics.acc.mean).toEqual([meanCi([0.1, 1.1, 2.1]).mean, meanCi([0.5, 1.5, 2.5]).mean]);
    expect(bn.metrics.loss.n).toEqual([3, 2]);
    expect(bn.metrics.loss.lo[1]).toBe(1);
    expect(agg.series[1].metrics.acc.hi[0]).toBeCloseTo(0.1, 15);
  });

  it('the Markdown table, the figures and a self-contained HTML page', () => {
    const md = summaryMarkdown(agg);
    expect(md).toContain("Each run's number is its value at its last step;");
    expect(md).toContain('| series | acc: mean [95% CI] | loss: mean [95% CI] | acc per seed | loss per seed |');
    // Seed 2 has no loss at step 10: its last value is step 0's.
    expect(md).toContain('| lr 0.1, variant bn | 1.5 [-0.9843, 3.984] (n 3) | 1.333 [-0.101, 2.768] (n 3) | 0: 0.5, 1: 1.5, 2: 2.5 | 0: 1, 1: 1, 2: 2 |');
    const figures = metricFigures(agg);
    expect(Object.keys(figures)).toEqual(['acc', 'loss']);
    expect(figures.acc).toMatch(/^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    const html = reportHtml(agg, figures, { command: 'pnpm sweep agg.json', executor: 'local', created: 'now', runs: [{ id: 'a<b', state: 'done', seconds: 1.25 }] });
    expect(html).toMatch(/^<!DOCTYPE html>/);
    expect(html).not.toMatch(/<script|<link|src="http|href="http/);
    expect(html.match(/<svg/g)).toHaveLength(2);
    expect(html).toContain('<td>a&lt;b</td><td>done</td><td class="num">1.3</td>');
  });
});

describe('run summaries', () => {
  it('reduceRun: the last value, or the median, mean, min or max over x; none: null', () => {
    expect(['last', 'median', 'mean', 'min', 'max'].map((h) => reduceRun([3, 1, 4, 1], h as 'last'))).toEqual([1, 2, 2.25, 1, 4]);
    expect(reduceRun([5, 1, 2], 'median')).toBe(2);
    expect(reduceRun([], 'mean')).toBeNull();
  });

  it("'summary: median' gives each run's median over x, then the mean and interval over seeds", () => {
    const spec = parseSweep({ ...BASE, seeds: [0, 1], metrics: { y: ['v'], summary: 'median' } }, 'm.json');
    const runs = expandSweep(spec);
    const agg = aggregateSweep(spec, runs.map((run) => ({ run, records: [1, 2, 30].map((v, step) => ({ step, v: v + run.seed })) })));
    expect(agg.series[0].summary.v).toMatchObject({ n: 2, mean: 2.5, perSeed: [2, 3] });
    expect(() => parseSweep({ ...BASE, metrics: { y: ['v'], summary: 'p90' } }, 'm.json')).toThrow("'metrics.summary' must be one of last, median, mean, min, max");
  });
});

describe('Slurm scripts and progress', () => {
  it('the job array script runs one run per task, every word quoted for the shell', () => {
    const spec = parseSweep({ ...BASE, grid: { variants: ['bn'] }, seeds: [0, 1] }, 's.json');
    const runs = expandSweep(spec);
    const layout = { dir: "/tmp/it's here", runs, command: { program: '/usr/bin/node', args: ['/x/main.js'] } };
    const script = slurmScript(layout, runs, { time: '00:05:00', cpusPerTask: 2, extra: ['--qos=short'] }, 's');
    expect(script).toContain('#SBATCH --cpus-per-task=2\n#SBATCH --time=00:05:00\n#SBATCH --qos=short\n');
    expect(script).toContain('export NORMLAB_THREADS=2');
    expect(script).toContain(`  1) exec /usr/bin/node /x/main.js --variants bn --seed 1 --out '/tmp/it'\\''s here/runs/variants-bn_seed-1' --progress none ;;`);
    expect(shellQuote('a b')).toBe("'a b'");
    expect(describeProgress({ total: 12, done: 5, running: 2, failed: 1, skipped: 3, elapsed: 42, eta: 70 })).toBe('5/12 done (3 skipped), 2 running, 1 failed, 00:42 elapsed, ETA 01:10');
  });
});
