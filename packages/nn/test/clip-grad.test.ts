/** clipGradNorm / clipGradValue against torch.nn.utils' definitions. */
import { describe, expect, it } from 'vitest';
import { Tensor, tensor } from '@normlab/autograd';
import { Parameter, optim } from '../src/index.js';

const vals = (t: Tensor): number[] => Array.from(t.toTypedArray(), Number);
const f64 = (xs: number[]): Tensor => tensor(xs, { dtype: 'float64' });
function withGrad(g: number[]): Parameter {
  const p = new Parameter(f64(g.map(() => 0)));
  p.grad = f64(g);
  return p;
}

function expectClose(a: readonly number[], b: readonly number[], tol = 1e-12): void {
  expect(a.length).toBe(b.length);
  a.forEach((v, i) => {
    if (!(Math.abs(v - b[i]) <= tol * (1 + Math.abs(b[i])))) throw new Error(`entry ${i}: got ${v}, expected ${b[i]}`);
  });
}

describe('clipGradNorm', () => {
  it('2-norm over all gradients together; scales in place by maxNorm / (total + 1e-6)', () => {
    const a = withGrad([3, 0]);
    const b = withGrad([0, 4, 0]);
    const c = new Parameter(f64([1])); // no grad: ignored
    const gradA = a.grad!;
    const total = optim.clipGradNorm([a, b, c], 1);
    expect(total.item()).toBe(5);
    expect(total.dtype).toBe('float64'); // a 0-D tensor on the gradients' device, as torch
    const coef = 1 / (5 + 1e-6);
    expectClose(vals(a.grad!), [3 * coef, 0]);
    expectClose(vals(b.grad!), [0, 4 * coef, 0]);
    expect(a.grad).toBe(gradA); // the same tensor, its data replaced
    expect(c.grad).toBeNull();
  });

  it('leaves gradients alone when the norm is below maxNorm', () => {
    const a = withGrad([0.3, -0.4]);
    expect(optim.clipGradNorm(a, 1).item()).toBeCloseTo(0.5, 15);
    expect(vals(a.grad!)).toEqual([0.3, -0.4]);
  });

  it('as torch, a norm just under maxNorm (within 1e-6) is still scaled slightly', () => {
    const a = withGrad([1]);
    optim.clipGradNorm(a, 1);
    expectClose(vals(a.grad!), [1 / (1 + 1e-6)]);
  });

  it('inf-norm and p-norms', () => {
    const mk = (): Parameter[] => [withGrad([1, -5]), withGrad([2, 3])];
    const ps = mk();
    expect(optim.clipGradNorm(ps, 2, { normType: Infinity }).item()).toBe(5);
    expectClose(vals(ps[0].grad!), [1, -5].map((x) => (x * 2) / (5 + 1e-6)));
    expect(optim.clipGradNorm(mk(), 100, { normType: 1 }).item()).toBe(11);
    expectClose([optim.clipGradNorm(mk(), 100, { normType: 3 }).item()], [(1 + 125 + 8 + 27) ** (1 / 3)]);
    expectClose([optim.clipGradNorm(mk(), 100).item()], [Math.sqrt(1 + 25 + 4 + 9)]);
    expect(() => optim.clipGradNorm(mk(), 1, { normType: 0 })).toThrow(/normType/);
  });

  it('no gradients: 0; non-finite norms: NaN scaling, or an error with errorIfNonfinite', () => {
    expect(optim.clipGradNorm([new Parameter(f64([1]))], 1).item()).toBe(0);
    const a = withGrad([Number.NaN, 1]);
    expect(optim.clipGradNorm(a, 1).item()).toBeNaN();
    expect(vals(a.grad!).every(Number.isNaN)).toBe(true);
    const b = withGrad([Infinity, 1]);
    expect(() => optim.clipGradNorm(b, 1, { errorIfNonfinite: true })).toThrow(/non-finite/);
    expect(vals(b.grad!)).toEqual([Infinity, 1]);
  });

  it('float32 gradients stay float32', () => {
    const p = new Parameter(tensor([0, 0]));
    p.grad = tensor([30, 40]);
    expect(optim.clipGradNorm([p], 5).item()).toBe(50);
    expect(p.grad.dtype).toBe('float32');
    expectClose(vals(p.grad), [3, 4], 1e-6);
  });
});

describe('clipGradValue', () => {
  it('clamps every gradient to [-clipValue, clipValue] in place', () => {
    const a = withGrad([-3, 0.5, 2]);
    const b = withGrad([1.5]);
    const grad = a.grad!;
    optim.clipGradValue([a, b, new Parameter(f64([1]))], 1);
    expect(vals(a.grad!)).toEqual([-1, 0.5, 1]);
    expect(vals(b.grad!)).toEqual([1]);
    expect(a.grad).toBe(grad);
  });
});

describe('clipGradAdaptive', () => {
  /** timm's adaptive_clip_grad, by a loop: unit norms per row (dims 1..) or over a vector. */
  function reference(w: number[], g: number[], rows: number, clip: number, eps: number): number[] {
    const n = w.length / rows;
    const out: number[] = [];
    for (let r = 0; r < rows; r++) {
      const wr = w.slice(r * n, (r + 1) * n);
      const gr = g.slice(r * n, (r + 1) * n);
      const maxNorm = Math.max(Math.hypot(...wr), eps) * clip;
      const gNorm = Math.hypot(...gr);
      for (const v of gr) out.push(gNorm < maxNorm ? v : v * (maxNorm / Math.max(gNorm, 1e-6)));
    }
    return out;
  }

  it('clips each unit\'s gradient to clipFactor times its weight norm (rows of a matrix, output channels of a kernel, a whole bias)', () => {
    const w = new Parameter(tensor([[3, 4], [0.001, 0], [1, 0]], { dtype: 'float64' }));
    w.grad = tensor([[0.01, 0], [1, 1], [0.001, 0.001]], { dtype: 'float64' });
    const k = new Parameter(tensor([[[[1, 2]], [[2, 1]]], [[[0, 0]], [[0, 0]]]], { dtype: 'float64' })); // [2, 2, 1, 2]
    k.grad = tensor([[[[1, 1]], [[1, 1]]], [[[1, 0]], [[0, 0]]]], { dtype: 'float64' });
    const b = new Parameter(f64([0, 0, 0]));
    b.grad = f64([3, 4, 0]);
    const [wv, wg, kv, kg, bg] = [vals(w), vals(w.grad), vals(k), vals(k.grad), vals(b.grad)];
    optim.clipGradAdaptive([w, k, b], { clipFactor: 0.1, eps: 1e-3 });
    expectClose(vals(w.grad), reference(wv, wg, 3, 0.1, 1e-3));
    expectClose(vals(k.grad), reference(kv, kg, 2, 0.1, 1e-3));
    expectClose(vals(b.grad), reference([0, 0, 0], bg, 1, 0.1, 1e-3));
    // Row 0 (gradient norm 0.01 < 0.1 * 5) is unchanged; the bias at 0 is clipped to norm eps * clipFactor.
    expect(vals(w.grad).slice(0, 2)).toEqual([0.01, 0]);
    expect(Math.hypot(...vals(b.grad))).toBeCloseTo(1e-4, 15);
  });

  it('never raises a gradient norm, skips parameters without a gradient, and checks its options', () => {
    const p = new Parameter(f64([1, -2, 2]));
    p.grad = f64([10, 0, 0]);
    optim.clipGradAdaptive(p); // 0.01 * 3
    expectClose(vals(p.grad), [0.03, 0, 0]);
    const q = new Parameter(f64([1]));
    optim.clipGradAdaptive([q]);
    expect(q.grad).toBeNull();
    expect(() => optim.clipGradAdaptive([p], { clipFactor: 0 })).toThrow(/clipGradAdaptive: clipFactor must be a positive number, got 0/);
    expect(() => optim.clipGradAdaptive([p], { eps: -1 })).toThrow(/clipGradAdaptive: eps must be a non-negative number, got -1/);
  });
});
