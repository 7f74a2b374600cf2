/**
 * Small helpers for summaries and figures: quantiles of a list of numbers
 * and a log10 axis (@normlab/plot draws linear axes only, so log-scale
 * panels plot log10 of the values with these tick labels).
 */

/** The q-quantile (q in [0, 1]) with linear interpolation (numpy's default); NaN values are skipped; NaN for an empty list. */
export function quantile(values: readonly number[], q: number): number {
  const v = values.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const pos = (v.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, v.length - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - lo);
}

export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

/** A tick label for an axis that shows log10(y): 10^v written as a plain number (0.01, 0.3, 20, 1e+5). */
export function log10Format(v: number): string {
  const x = 10 ** v;
  if (x >= 1e5 || x < 1e-4) return x.toExponential(0);
  return String(Number(x.toPrecision(2)));
}

/** [lo, hi] of log10 over the positive finite values (with a margin), for an axis that shows log10(y). */
export function logDomain(values: readonly number[]): [number, number] {
  const logs = values.filter((x) => x > 0 && Number.isFinite(x)).map(Math.log10);
  if (logs.length === 0) return [-1, 1];
  const lo = Math.floor(Math.min(...logs) * 2) / 2;
  const hi = Math.ceil(Math.max(...logs) * 2) / 2;
  return hi > lo ? [lo, hi] : [lo - 0.5, hi + 0.5];
}

/** A number for a summary line: 3 significant digits, exponent form outside [1e-3, 1e4), '-' when not finite. */
export function fmtNumber(v: number, digits = 3): string {
  if (!Number.isFinite(v)) return '-';
  return v === 0 || (Math.abs(v) >= 1e-3 && Math.abs(v) < 1e4) ? v.toPrecision(digits) : v.toExponential(digits - 1);
}

/** A fraction as a percentage with 2 decimals ('-' when not finite). */
export function fmtPercent(v: number): string {
  return Number.isFinite(v) ? `${(v * 100).toFixed(2)}%` : '-';
}

/** For each learning rate, the summaries of the 'standard' and 'bn' runs (rates where either is missing are left out). */
export function standardVsBn<S extends { lr: number; variant: string }>(summaries: readonly S[], lrs: readonly number[]): { lr: number; std: S; bn: S }[] {
  return lrs.flatMap((lr) => {
    const std = summaries.find((x) => x.lr === lr && x.variant === 'standard');
    const bn = summaries.find((x) => x.lr === lr && x.variant === 'bn');
    return std && bn ? [{ lr, std, bn }] : [];
  });
}

/**
 * How much a distribution moves between consecutive records: the mean over
 * record pairs of the mean |change| of its 15th, 50th and 85th percentiles
 * (NaN with fewer than two records). `rows` holds each record's percentiles
 * in the order of `percentiles`, which must include 15, 50 and 85.
 */
export function percentileShift(rows: readonly (readonly number[])[], percentiles: readonly number[]): number {
  const [i15, i50, i85] = [15, 50, 85].map((p) => percentiles.indexOf(p));
  if (i15 < 0 || i50 < 0 || i85 < 0) throw new RangeError(`percentileShift: the percentiles must include 15, 50 and 85, got ${percentiles.join(', ')}`);
  if (rows.length < 2) return NaN;
  let shift = 0;
  for (let k = 1; k < rows.length; k++) {
    const [a, b] = [rows[k - 1], rows[k]];
    shift += (Math.abs(b[i15] - a[i15]) + Math.abs(b[i50] - a[i50]) + Math.abs(b[i85] - a[i85])) / 3;
  }
  return shift / (rows.length - 1);
}
