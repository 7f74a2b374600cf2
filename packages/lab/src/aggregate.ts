/**
 * Aggregation of a sweep: the runs of one config (all its seeds) give, per
 * series (config x the record fields in `metrics.series`) and per x value,
 * the mean and 95% t-interval of each metric over the seeds that have a
 * finite value there.
 */
import { meanCi } from './confidence.js';
import type { MetricsRecord } from './metrics-log.js';
import type { FlagValue, SweepRun, SweepSpec } from './sweep-spec.js';

/** One metric of a series along x: per x value, the mean, the interval and the number of seeds. */
export interface MetricAggregate {
  mean: number[];
  lo: number[];
  hi: number[];
  n: number[];
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
}

/** What `aggregateSweep` returns and aggregate.json holds. */
export interface SweepAggregate {
  name: string;
  example: string;
  x: string;
  y: string[];
  seeds: number[];
  series: SeriesAggregate[];
}

const show = (v: FlagValue | string | number | boolean): string => (Array.isArray(v) ? v.join(',') : String(v));

/** Aggregates the records of each run (in the order of `runs`, which fixes the order of the series). */
export function aggregateSweep(spec: SweepSpec, runs: readonly { run: SweepRun; records: readonly MetricsRecord[] }[]): SweepAggregate {
  const { x, y, series: seriesFields, where } = spec.metrics;
  interface Acc { config: Record<string, FlagValue>; series: Record<string, string | number | boolean>; seeds: Set<number>; byX: Map<number, Map<string, number[]>> }
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
        let list = at.get(m);
        if (!list) at.set(m, (list = []));
        list.push(v);
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
        const values = acc.byX.get(xv)!.get(m) ?? [];
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
    const label = [...Object.entries(acc.config), ...Object.entries(acc.series)].map(([k, v]) => `${k} ${show(v)}`).join(', ') || spec.name;
    series.push({ config: acc.config, series: acc.series, label, seeds: [...acc.seeds].sort((a, b) => a - b), x: xs, metrics });
  }
  return { name: spec.name, example: spec.example, x, y: [...y], seeds: [...spec.seeds], series };
}
