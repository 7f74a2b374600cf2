/**
 * Aggregation of a sweep: the runs of one config (all its seeds) give, per
 * series (config x the record fields in `metrics.series`) and per x value,
 * the mean and 95% t-interval of each metric over the seeds that have a
 * finite value there.
 */
import { type MeanCi, meanCi } from './confidence.js';
import type { MetricsRecord } from './metrics-log.js';
import type { FlagValue, RunSummary, SweepRun, SweepSpec } from './sweep-spec.js';

/** One metric of a series along x: per x value, the mean, the interval and the number of seeds. */
export interface MetricAggregate {
  mean: number[];
  lo: number[];
  hi: number[];
  n: number[];
}

/** A metric's one number per run (see `MetricsSpec.summary`) and their mean and 95% interval over the seeds. */
export interface RunSummaryAggregate extends MeanCi {
  /** Per seed (in `seeds` order), the run's number; null when it has no finite value. */
  perSeed: (number | null)[];
}

/** One series of a sweep: a config (without the seed) and the values of the series fields. */
export interface SeriesAggregate {
  config: Record<string, FlagValue>;
  /** The values of `metrics.series` fields that tell this series apart within a run. */
  series: Record<string, string | number | boolean>;
  /** "lr 0.1, variant bn": what a legend shows. */
  label: string;
  /** The seeds whose runs had records for this series. */
  seeds: number[];
  x: number[];
  metrics: Record<string, MetricAggregate>;
  /** Per metric, the runs' numbers (their last value, or the median... over x) aggregated over the seeds; null when no run has one. */
  summary: Record<string, RunSummaryAggregate | null>;
}

/** What `aggregateSweep` returns and aggregate.json holds. */
export interface SweepAggregate {
  name: string;
  example: string;
  x: string;
  y: string[];
  /** How each run's values became its number in `summary`. */
  summary: RunSummary;
  seeds: number[];
  series: SeriesAggregate[];
}

const show = (v: FlagValue | string | number | boolean): string => (Array.isArray(v) ? v.join(',') : String(v));

/** Aggregates the records of each run (in the order of `runs`, which fixes the order of the series). */
export function aggregateSweep(spec: SweepSpec, runs: readonly { run: SweepRun; records: readonly MetricsRecord[] }[]): SweepAggregate {
  const { x, y, series: seriesFields, where } = spec.metrics;
  interface Acc { config: Record<string, FlagValue>; series: Record<string, string | number | boolean>; seeds: Set<number>; byX: Map<number, Map<string, Map<number, number>>> }
  const groups = new Map<string, Acc>();
  for (const { run, records } of runs) {
    for (const r of records) {
      if (!Object.entries(where).every(([k, v]) => r[k] === v)) continue;
      const xv = r[x];
      if (typeof xv !== 'number' || !Number.isFinite(xv)) continue;
      const sv: Record<string, string | number | boolean> = {};
      for (const f of seriesFields) {
        const v = r[f];
        if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') sv[f] = v;
      }
      const key = `${run.configKey}\u0000${JSON.stringify(sv)}`;
      let acc = groups.get(key);
      if (!acc) groups.set(key, (acc = { config: run.config, series: sv, seeds: new Set(), byX: new Map() }));
      acc.seeds.add(run.seed);
      let at = acc.byX.get(xv);
      if (!at) acc.byX.set(xv, (at = new Map()));
      for (const m of y) {
        const v = r[m];
        if (typeof v !== 'number' || !Number.isFinite(v)) continue;
        let bySeed = at.get(m);
        if (!bySeed) at.set(m, (bySeed = new Map()));
        // A later record of the same run and x (a resumed run's recomputed evaluation) replaces the earlier.
        bySeed.set(run.seed, v);
      }
    }
  }
  const series: SeriesAggregate[] = [];
  for (const acc of groups.values()) {
    const xs = [...acc.byX.keys()].sort((a, b) => a - b);
    const metrics: Record<string, MetricAggregate> = {};
    for (const m of y) {
      const agg: MetricAggregate = { mean: [], lo: [], hi: [], n: [] };
      for (const xv of xs) {
        const values = [...(acc.byX.get(xv)!.get(m)?.values() ?? [])];
        if (values.length === 0) {
          agg.mean.push(Number.NaN);
          agg.lo.push(Number.NaN);
          agg.hi.push(Number.NaN);
          agg.n.push(0);
          continue;
        }
        const s = meanCi(values);
        agg.mean.push(s.mean);
        agg.lo.push(s.lo);
        agg.hi.push(s.hi);
        agg.n.push(s.n);
      }
      metrics[m] = agg;
    }
    const seeds = [...acc.seeds].sort((a, b) => a - b);
    const summary: Record<string, RunSummaryAggregate | null> = {};
    for (const m of y) {
      const perSeed = seeds.map((seed) => reduceRun(xs.flatMap((xv) => {
        const v = acc.byX.get(xv)!.get(m)?.get(seed);
        return v === undefined ? [] : [v];
      }), spec.metrics.summary));
      const finite = perSeed.filter((v): v is number => v !== null);
      summary[m] = finite.length === 0 ? null : { ...meanCi(finite), perSeed };
    }
    const label = [...Object.entries(acc.config), ...Object.entries(acc.series)].map(([k, v]) => `${k} ${show(v)}`).join(', ') || spec.name;
    series.push({ config: acc.config, series: acc.series, label, seeds, x: xs, metrics, summary });
  }
  return { name: spec.name, example: spec.example, x, y: [...y], summary: spec.metrics.summary, seeds: [...spec.seeds], series };
}

/** One run's values along x (in x order) as one number: the last, or their median, mean, min or max; null when there are none. */
export function reduceRun(values: readonly number[], how: RunSummary): number | null {
  if (values.length === 0) return null;
  switch (how) {
    case 'last': return values[values.length - 1];
    case 'mean': return values.reduce((a, b) => a + b, 0) / values.length;
    case 'min': return Math.min(...values);
    case 'max': return Math.max(...values);
    case 'median': {
      const sorted = [...values].sort((a, b) => a - b);
      const h = sorted.length >> 1;
      return sorted.length % 2 === 1 ? sorted[h] : (sorted[h - 1] + sorted[h]) / 2;
    }
  }
}
