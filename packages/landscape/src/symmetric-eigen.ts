/**
 * The eigen-decomposition of a small dense symmetric matrix by cyclic
 * Jacobi rotations (accurate to the last digits, O(n^3) per sweep): what
 * Lanczos needs for its tridiagonal matrix, and the tests for a dense
 * Hessian.
 */

/**
 * Eigenvalues and unit eigenvectors of the symmetric n x n matrix `a`
 * (row-major; only read), by decreasing magnitude; `vectors[i]` belongs to
 * `values[i]`.
 */
export function symmetricEigen(a: ArrayLike<number>, n: number): { values: number[]; vectors: Float64Array[] } {
  if (!(Number.isInteger(n) && n >= 0) || a.length !== n * n) throw new RangeError(`symmetricEigen: expected ${n} x ${n} = ${n * n} values, got ${a.length}`);
  const m = Float64Array.from(a);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  let scale = 0;
  for (let i = 0; i < n * n; i++) scale += m[i] * m[i];
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += m[p * n + q] ** 2;
    if (off <= 1e-30 * scale) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q];
        if (apq === 0) continue;
        const theta = (m[q * n + q] - m[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = m[k * n + p];
          const akq = m[k * n + q];
          m[k * n + p] = c * akp - s * akq;
          m[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = m[p * n + k];
          const aqk = m[q * n + k];
          m[p * n + k] = c * apk - s * aqk;
          m[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p];
          const vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => Math.abs(m[j * n + j]) - Math.abs(m[i * n + i]));
  return {
    values: order.map((i) => m[i * n + i]),
    vectors: order.map((i) => Float64Array.from({ length: n }, (_, k) => v[k * n + i])),
  };
}
