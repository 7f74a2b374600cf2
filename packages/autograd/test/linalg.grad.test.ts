import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromTyped, sizeOf } from '@normlab/tensor';
import { Tensor, grad, matmul } from '../src/index.js';
import {
  RUNS, RUNS_SLOW, broadcastPairArb, broadcastShape, checkGrad, checkGradGrad, expectClose, randT, seedArb, stridesOf, unravel,
  vals,
} from './helpers.js';

/** torch.matmul on plain float64 arrays: the reference for values and shapes. */
function naiveMatmul(a: number[], sa: number[], b: number[], sb: number[]): { values: number[]; shape: number[] } {
  const A = sa.length === 1 ? [1, sa[0]] : sa;
  const B = sb.length === 1 ? [sb[0], 1] : sb;
  const [m, k] = A.slice(-2);
  const [k2, n] = B.slice(-2);
  if (k !== k2) throw new Error('naiveMatmul: inner dims differ');
  const batchA = A.slice(0, -2);
  const batchB = B.slice(0, -2);
  const batch = broadcastShape(batchA, batchB);
  const flatIndex = (idx: number[], bshape: number[]): number => {
    // Index into a (possibly shorter, size-1) batch shape under broadcasting.
    const lead = idx.length - bshape.length;
    const st = stridesOf(bshape);
    return bshape.reduce((acc, s, i) => acc + (s === 1 ? 0 : idx[i + lead]) * st[i], 0);
  };
  const values: number[] = [];
  for (let q = 0; q < sizeOf(batch); q++) {
    const idx = unravel(q, batch);
    const oa = flatIndex(idx, batchA) * m * k;
    const ob = flatIndex(idx, batchB) * k * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let acc = 0;
        for (let p = 0; p < k; p++) acc += a[oa + i * k + p] * b[ob + p * n + j];
        values.push(acc);
      }
    }
  }
  let shape = [...batch, m, n];
  if (sa.length === 1) shape = [...batch, n];
  if (sb.length === 1) shape = sa.length === 1 ? [...batch] : [...batch, m];
  return { values, shape };
}

const dim = fc.integer({ min: 1, max: 4 });

/** Operand shapes for every case of torch.matmul (1-D, 2-D, batched with broadcasting). */
const matmulShapesArb: fc.Arbitrary<{ case: string; sa: number[]; sb: number[] }> = fc.record({
  m: dim, k: dim, n: dim, batches: broadcastPairArb({ maxRank: 2, maxDim: 3 }),
  kind: fc.constantFrom('1x1', '1x2', '2x1', '2x2', 'bxb', 'bx1', '1xb', 'bx2', '2xb'),
}).map(({ m, k, n, batches: [ba, bb], kind }) => {
  const shapes: Record<string, [number[], number[]]> = {
    '1x1': [[k], [k]],
    '1x2': [[k], [k, n]],
    '2x1': [[m, k], [k]],
    '2x2': [[m, k], [k, n]],
    bxb: [[...ba, m, k], [...bb, k, n]],
    bx1: [[...ba, m, k], [k]],
    '1xb': [[k], [...bb, k, n]],
    bx2: [[...ba, m, k], [k, n]],
    '2xb': [[m, k], [...bb, k, n]],
  };
  const [sa, sb] = shapes[kind];
  return { case: kind, sa, sb };
});

describe('matmul: every case of torch.matmul', () => {
  it('value and shape vs a naive float64 reference', () => {
    fc.assert(fc.property(matmulShapesArb, seedArb, ({ sa, sb }, seed) => {
      const a = randT(sa, seed);
      const b = randT(sb, seed + 1);
      const out = matmul(a, b);
      const ref = naiveMatmul(vals(a), sa, vals(b), sb);
      expect(out.shape).toEqual(ref.shape);
      expectClose(vals(out), ref.values, 1e-13, 1e-13);
      expect(vals(a.matmul(b))).toEqual(vals(out));
    }), { numRuns: RUNS * 2 });
  });

  it('gradients of both operands', () => {
    fc.assert(fc.property(matmulShapesArb, seedArb, ({ sa, sb }, seed) => {
      const a = randT(sa, seed);
      const b = randT(sb, seed + 1);
      checkGrad(matmul, [a, b]);
      const out = matmul(a, b);
      const [ga, gb] = grad([out], [a, b], { gradOutputs: [randT(out.shape, seed + 2, { requiresGrad: false })] });
      expect(ga!.shape).toEqual(sa);
      expect(gb!.shape).toEqual(sb);
    }), { numRuns: RUNS * 2 });
  });

  it('the explicit broadcast case [2,1,3,4] @ [5,4,2]', () => {
    const a = randT([2, 1, 3, 4], 1);
    const b = randT([5, 4, 2], 2);
    const out = matmul(a, b);
    expect(out.shape).toEqual([2, 5, 3, 2]);
    expectClose(vals(out), naiveMatmul(vals(a), [2, 1, 3, 4], vals(b), [5, 4, 2]).values, 1e-13, 1e-13);
    checkGrad(matmul, [a, b]);
    // Gradients against the closed forms, summed over the broadcast batch dims.
    const up = randT([2, 5, 3, 2], 3, { requiresGrad: false });
    const [ga, gb] = grad([out], [a, b], { gradOutputs: [up] });
    const expectA = up.matmul(b.detach().mT).sum(1, { keepdim: true });
    const expectB = a.detach().mT.matmul(up).sum(0);
    expectClose(vals(ga!), vals(expectA), 1e-13, 1e-13);
    expectClose(vals(gb!), vals(expectB), 1e-13, 1e-13);
  });

  it('only one operand requiring grad', () => {
    fc.assert(fc.property(matmulShapesArb, seedArb, ({ sa, sb }, seed) => {
      const aConst = randT(sa, seed, { requiresGrad: false });
      const bConst = randT(sb, seed + 1, { requiresGrad: false });
      checkGrad((t) => matmul(t, bConst), [randT(sa, seed + 2)]);
      checkGrad((t) => matmul(aConst, t), [randT(sb, seed + 3)]);
    }), { numRuns: RUNS_SLOW });
  });

  it('inputs that are transposed (non-contiguous) views', () => {
    fc.assert(fc.property(dim, dim, dim, fc.array(dim, { maxLength: 2 }), seedArb, (m, k, n, batch, seed) => {
      const at = randT([...batch, k, m], seed); // a = at.mT: [..., m, k]
      const bt = randT([n, k], seed + 1); // b = bt.mT: [k, n]
      checkGrad((x, y) => matmul(x.mT, y.mT), [at, bt]);
      const out = matmul(at.mT, bt.mT);
      const ref = naiveMatmul(vals(at.mT.contiguous()), [...batch, m, k], vals(bt.mT.contiguous()), [k, n]);
      expectClose(vals(out), ref.values, 1e-13, 1e-13);
      // A permuted 3-D view as the right operand.
      const c = randT([n, 1, k], seed + 2); // c.permute([1, 2, 0]): [1, k, n]
      checkGrad((x, y) => matmul(x.mT, y.permute([1, 2, 0])), [at, c]);
    }), { numRuns: RUNS });
  });

  it("a transposed operand (Linear's weight.mT) hands its leaf a contiguous gradient, bit-identical to the plain formula", () => {
    for (const dtype of ['float32', 'float64'] as const) {
      // K = 300 crosses the GEMM's depth blocks; 1 x n and m x 1 leave the plain formula's layout alone.
      for (const [m, k, n] of [[60, 300, 100], [7, 5, 3], [1, 4, 6], [5, 4, 1]]) {
        const x = new Tensor(randT([m, k], m + k, { requiresGrad: false }).data.astype(dtype), { requiresGrad: true });
        const w = new Tensor(randT([n, k], n, { requiresGrad: false }).data.astype(dtype), { requiresGrad: true });
        const g = randT([m, n], m * n, { requiresGrad: false }).data.astype(dtype);
        matmul(x, w.mT).backward(new Tensor(g));
        if (n > 1 && k > 1) expect(w.grad!.data.strides).toEqual([k, 1]);
        const plainW = matmul(x.mT.detach(), new Tensor(g)).mT.contiguous();
        expect(Array.from(w.grad!.data.toTypedArray())).toEqual(Array.from(plainW.data.toTypedArray()));
        // And the left operand given transposed: x = xt.mT.
        const xt = new Tensor(x.data.transpose(0, 1).contiguous(), { requiresGrad: true });
        matmul(xt.mT, w.detach().mT).backward(new Tensor(g));
        if (m > 1 && k > 1) expect(xt.grad!.data.strides).toEqual([m, 1]);
        const plainX = matmul(new Tensor(g), w.detach()).mT.contiguous();
        expect(Array.from(xt.grad!.data.toTypedArray())).toEqual(Array.from(plainX.data.toTypedArray()));
      }
    }
  });

  it('second derivatives (gradgradcheck)', () => {
    fc.assert(fc.property(matmulShapesArb, seedArb, ({ sa, sb }, seed) => {
      fc.pre(sizeOf(sa) * sizeOf(sb) <= 400);
      checkGradGrad(matmul, [randT(sa, seed), randT(sb, seed + 1)], seed);
      // Nonlinear in a: a @ (a^T-ish) products exercise the mixed terms.
      if (sa.length === 2) checkGradGrad((x) => matmul(x, x.mT), [randT(sa, seed + 2)], seed);
    }), { numRuns: RUNS_SLOW });
  });

  it('d/dx of x^T A x is (A + A^T) x, and its Hessian is A + A^T', () => {
    const A = randT([3, 3], 7, { requiresGrad: false });
    const x = randT([3], 8);
    const [g] = grad(matmul(x, matmul(A, x)), [x], { createGraph: true });
    const sym = A.add(A.mT);
    expectClose(vals(g!), vals(matmul(sym, x.detach())), 1e-14, 1e-13);
    const rows: number[] = [];
    for (let i = 0; i < 3; i++) {
      const e = new Tensor(fromTyped(Float64Array.from([0, 1, 2], (j) => (j === i ? 1 : 0)), [3]));
      const [h] = grad([g!], [x], { gradOutputs: [e], retainGraph: true });
      rows.push(...vals(h!));
    }
    expectClose(rows, vals(sym), 1e-14, 1e-13);
  });

  it('shape errors are reported', () => {
    expect(() => matmul(randT([2, 3], 1), randT([4, 2], 2))).toThrow();
    expect(() => matmul(randT([], 1), randT([2], 2))).toThrow();
  });
});
