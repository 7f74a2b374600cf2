/**
 * The q-th percentile of `values` (q in [0, 100]) with linear interpolation
 * between the closest ranks, as numpy.percentile's default ('linear'):
 * position (n - 1) * q / 100 in the sorted values.
 */
export function percentile(values: ArrayLike<number>, q: number): number {
  return percentiles(values, [q])[0];
}

/** Several percentiles of `values`, sorting once. NaN values are rejected. */
export function percentiles(values: ArrayLike<number>, qs: readonly number[]): number[] {
  const n = values.length;
  if (n === 0) throw new RangeError('percentile: no values');
  for (const q of qs) if (!(q >= 0 && q <= 100)) throw new RangeError(`percentile: q must be in [0, 100], got ${q}`);
  const sorted = Float64Array.from(values as ArrayLike<number>);
  if (sorted.some(Number.isNaN)) throw new RangeError('percentile: values contain NaN');
  sorted.sort();
  return qs.map((q) => {
    const pos = ((n - 1) * q) / 100;
    const lo = Math.floor(pos);
    const hi = Math.min(lo + 1, n - 1);
    const frac = pos - lo;
    return frac === 0 ? sorted[lo] : sorted[lo] + (sorted[hi] - sorted[lo]) * frac;
  });
}
