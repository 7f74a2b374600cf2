/** Tensor.dispose, tidy with gradients (what survives a scope), and autograd on the strict 'sim' device. */
import { describe, expect, it } from 'vitest';
import { Tensor, grad, keep, maxPool2d, randn, tensor, tidy } from '../src/index.js';
import { SIM, sim } from '../../tensor/test/sim-backend.js';

describe('Tensor.dispose', () => {
  it('frees the values and the gradient; views and detached tensors become unusable', () => {
    const w = tensor([1, 2, 3], { requiresGrad: true });
    w.mul(2).sum().backward();
    const g = w.grad!;
    const d = w.detach();
    w.dispose();
    expect(w.isDisposed && g.isDisposed && d.isDisposed).toBe(true);
    expect(w.grad).toBeNull();
    expect(() => d.add(1)).toThrow(/^add: the array was disposed/);
    expect(() => d.toArray()).toThrow(/^toArray: the array was disposed/);
    expect(String(d)).toContain('<disposed>');
  });
});

describe('tidy with autograd', () => {
  it('keeps the returned tensors and the grads of leaves created outside; frees the graph', () => {
    const w = tensor([[1, 2], [3, 4]], { requiresGrad: true });
    let hidden: Tensor | null = null;
    const loss = tidy(() => {
      hidden = w.matmul(w).sigmoid();
      const l = hidden.sum();
      l.backward();
      return l;
    });
    expect(hidden!.isDisposed).toBe(true);
    expect(loss.isDisposed).toBe(false);
    expect(w.grad!.isDisposed).toBe(false);
    expect(w.grad!.shape).toEqual([2, 2]);
    expect(w.isDisposed).toBe(false);
  });

  it('grads of leaves created inside the scope go with them unless returned', () => {
    let inner: Tensor | null = null;
    const g = tidy(() => {
      inner = tensor([1, 2], { requiresGrad: true });
      inner.square().sum().backward();
      const x = tensor([3], { requiresGrad: true });
      x.square().sum().backward();
      return x.grad!;
    });
    expect(inner!.isDisposed).toBe(true);
    expect(inner!.grad!.isDisposed).toBe(true);
    expect(g.item()).toBe(6);
  });

  it('accumulating grads across scopes frees the replaced gradient; keep() holds one', () => {
    const w = tensor([1, 2, 3], { requiresGrad: true, device: SIM });
    tidy(() => w.mul(2).sum().backward());
    const first = w.grad!;
    const live = sim.live;
    tidy(() => w.mul(3).sum().backward()); // accumulates: w.grad = first + new
    expect(first.isDisposed).toBe(true); // only a scope kept it, for w
    expect(w.grad!.toArray()).toEqual([5, 5, 5]);
    expect(sim.live).toBe(live);
    const held = keep(w.grad!);
    tidy(() => w.mul(1).sum().backward());
    expect(held.isDisposed).toBe(false);
    expect(w.grad!.toArray()).toEqual([6, 6, 6]);
  });

  it('a tensor written inside the scope keeps its new values (optimizer-style updates)', () => {
    const p = tensor([1, 2], { requiresGrad: true, device: SIM });
    for (let i = 0; i < 3; i++) {
      tidy(() => {
        p.grad = null;
        p.square().sum().backward();
        p.data = p.sub(p.grad!.mul(0.25)).data;
      });
    }
    expect(p.toArray()).toEqual([0.125, 0.25]);
  });
});

describe('nested scopes with holders', () => {
  it('an update in an inner scope survives both scopes; temporaries of both are freed', () => {
    const p = tensor([4, 8], { requiresGrad: true, device: SIM });
    const live = sim.live;
    let outerTmp: Tensor | null = null;
    tidy(() => {
      outerTmp = p.mul(1);
      for (let i = 0; i < 2; i++) {
        tidy(() => {
          p.grad = null;
          p.sum().backward();
          p.data = p.sub(p.grad!).data;
        });
      }
      expect(p.toArray()).toEqual([2, 6]);
    });
    expect(outerTmp!.isDisposed).toBe(true);
    expect(p.toArray()).toEqual([2, 6]);
    expect(p.grad!.toArray()).toEqual([1, 1]);
    // The new values and the grad; the intermediate values of the first inner step were freed, and the
    // original values stay (created outside any scope: never freed automatically).
    expect(sim.live).toBe(live + 2);
  });
});

describe("autograd on the 'sim' device", () => {
  it('forward, backward and double backward read nothing back', () => {
    const x = randn([2, 3, 6, 6], { device: SIM, requiresGrad: true, dtype: 'float64' });
    const w = randn([3, 1], { device: SIM, requiresGrad: true, dtype: 'float64' });
    sim.reset();
    const y = maxPool2d(x, 2).permute(0, 2, 3, 1).matmul(w).pow(2).div(3).sum();
    const [gx] = grad(y, x, { createGraph: true });
    const [ggw] = grad(gx!.square().sum(), w);
    const sliced = x.slice(3, 1, 5).narrow(2, 0, 2).sum();
    sliced.backward();
    const z = tensor(2, { device: SIM, requiresGrad: true });
    const p = tensor(3, { device: SIM, requiresGrad: true });
    grad([p.pow(z).add(z.maximum(1)).sum()], [z, p]);
    expect(sim.reads).toBe(0);
    expect(ggw!.device).toBe(SIM);
    expect(x.grad!.device).toBe(SIM);
  });

  it('mixing devices is a clear error', () => {
    const a = tensor([1, 2]);
    const b = tensor([1, 2], { device: SIM });
    expect(() => a.add(b)).toThrow('add: tensors are on different devices: cpu and sim');
  });

  it('itemAsync / toArrayAsync use the backend readAsync', async () => {
    const t = tensor([[1, 2]], { device: SIM });
    sim.reset();
    expect(await t.toArrayAsync()).toEqual([[1, 2]]);
    expect(await t.sum().itemAsync()).toBe(3);
    expect(sim.asyncReads).toBe(2);
    expect(sim.reads).toBe(0);
  });
});
