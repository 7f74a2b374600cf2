/**
 * The error function in float64. For |x| < 2 it sums the series
 * erf(x) = 2/sqrt(pi) * exp(-x^2) * sum_n 2^n x^(2n+1) / (1*3*...*(2n+1)),
 * whose terms are all positive (no cancellation); above, erfc(x) by its
 * continued fraction is below 4.7e-3, so 1 - erfc(x) is correctly rounded
 * (the series drifted up to 15 ulp in [2, 3) as its terms grow with x).
 * exp(-x^2) uses an exact split of x^2 so that its error stays near 1 ulp.
 */
export function erf(x: number): number {
  if (x !== x) return x;
  const ax = Math.abs(x);
  if (ax === 0) return x; // keeps the sign of -0
  if (ax >= 6) return x > 0 ? 1 : -1; // erfc(6) < 2.2e-17
  const r = ax < 2 ? erfSeries(ax) : 1 - erfcContinuedFraction(ax);
  return x < 0 ? -r : r;
}

/** exp(-x^2) with x^2 split into hi + lo exactly (Dekker), so the rounding of x^2 is not amplified. */
function expNegSquare(x: number): number {
  const split = 134217729 * x; // 2^27 + 1
  const xh = split - (split - x);
  const xl = x - xh;
  const hi = x * x;
  const lo = xh * xh - hi + 2 * xh * xl + xl * xl;
  return Math.exp(-hi) * (1 - lo);
}

function erfSeries(x: number): number {
  // x^2 = hi + lo exactly; the terms use 2*hi and the sum is corrected to first
  // order in lo/hi, so the rounding of x^2 (shared by every term) does not build up.
  const split = 134217729 * x; // 2^27 + 1
  const xh = split - (split - x);
  const xl = x - xh;
  const hi = x * x;
  const lo = xh * xh - hi + 2 * xh * xl + xl * xl;
  const x2 = 2 * hi;
  let term = x;
  let sum = x;
  let sumN = 0; // sum of n * term_n, the first-order sensitivity to x^2
  for (let n = 0; n < 200; n++) {
    term = (term * x2) / (2 * n + 3);
    sum += term;
    sumN += (n + 1) * term;
    if (term < sum * 1e-17) break;
  }
  const correction = hi === 0 ? 0 : (lo / hi) * sumN; // x^2 underflows for |x| < 1.5e-154
  return 1.1283791670955126 * expNegSquare(x) * (sum + correction);
}

/** erfc(x) for x >= 2 by the continued fraction of Laplace, evaluated with Lentz's method. */
function erfcContinuedFraction(x: number): number {
  // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...)))))
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let n = 1; n < 500; n++) {
    const an = n / 2;
    d = x + an * d;
    d = d === 0 ? tiny : d;
    c = x + an / c;
    c = c === 0 ? tiny : c;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return (0.5641895835477563 * expNegSquare(x)) / f;
}
