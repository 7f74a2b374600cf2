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
