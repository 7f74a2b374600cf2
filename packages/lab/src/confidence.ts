/**
 * Mean and 95% confidence interval over seeds, with Student's t
 * distribution (n - 1 degrees of freedom): mean +- t(0.975, n-1) * s / sqrt(n),
 * s the sample standard deviation. One seed has no interval.
 */

/** t(0.975, df) for df = 1..30 (standard tables, 3 decimals). */
const T975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131,
  2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/**
 * The 97.5th percentile of Student's t with `df` degrees of freedom: the
 * table up to 30, then the Cornish-Fisher expansion around the normal
 * quantile (within 0.001 of the exact value from df 31 on).
 */
export function tQuantile975(df: number): number {
  if (!Number.isInteger(df) || df < 1) throw new RangeError(`tQuantile975: degrees of freedom must be a positive integer, got ${df}`);
  if (df <= T975.length) return T975[df - 1];
  const z = 1.959963984540054;
  const g1 = (z ** 3 + z) / 4;
  const g2 = (5 * z ** 5 + 16 * z ** 3 + 3 * z) / 96;
  const g3 = (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / 384;
  return z + g1 / df + g2 / df ** 2 + g3 / df ** 3;
}

/** The mean of `values` and its 95% confidence interval (lo = hi = mean for one value). */
export interface MeanCi {
  n: number;
  mean: number;
  /** Sample standard deviation (0 for one value). */
  sd: number;
  lo: number;
  hi: number;
}

/** Mean and 95% t-interval of finite values; throws on an empty list or a non-finite value. */
export function meanCi(values: readonly number[]): MeanCi {
  if (values.length === 0) throw new RangeError('meanCi: no values');
  for (const v of values) if (!Number.isFinite(v)) throw new RangeError(`meanCi: a value is not finite: ${v}`);
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n === 1) return { n, mean, sd: 0, lo: mean, hi: mean };
  const sd = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1));
  const half = tQuantile975(n - 1) * sd / Math.sqrt(n);
  return { n, mean, sd, lo: mean - half, hi: mean + half };
}
