/** dispose(), tidy scopes, keep(), the async reads, and the 'sim' device's strictness. */
import { describe, expect, it } from 'vitest';
import {
  CpuStorage, NDArray, add, arange, cpuBackend, dispose, exp, fromArray, isDisposed, keep, matmul, mul, ones, sum, tidy, zeros,
} from '../src/index.js';
import { SIM, SimStorage, sim } from './sim-backend.js';

describe('dispose', () => {
  it('frees the storage: the array and every view of it become unusable, with an error naming the op', () => {
    const x = arange(6).reshape([2, 3]);
    const v = x.transpose(0, 1);
    expect(x.isDisposed).toBe(false);
    x.dispose();
    expect(x.isDisposed).toBe(true);
    expect(v.isDisposed).toBe(true);
    expect(() => add(v, 1)).toThrow(/^add: the array was disposed/);
    expect(() => exp(x)).toThrow(/^exp: the array was disposed/);
    expect(() => sum(x)).toThrow(/^sum: the array was disposed/);
    expect(() => matmul(x, v)).toThrow(/^matmul: the array was disposed/);
    expect(() => x.toArray()).toThrow(/^toArray: the array was disposed/);
    expect(() => v.item()).toThrow(/item/);
    expect(() => v.contiguous()).toThrow(/^contiguous: the array was disposed/);
    expect(String(x)).toContain('<disposed>');
    x.dispose(); // twice is harmless
  });

  it("the CPU storage itself throws '... was disposed' on access", () => {
    const x = fromArray([1, 2, 3]);
    const s = x.storage as CpuStorage;
    x.dispose();
    expect(() => s.data).toThrow(/cpu backend: the storage was disposed/);
    // A kernel that skipped the op-level check still fails loudly, never with stale data.
    expect(() => cpuBackend.copy(x, 'float32')).toThrow(/was disposed/);
    expect(x.dtype).toBe('float32'); // metadata stays readable
  });

  it('the backend dispose runs once', () => {
    const x = fromArray([1, 2]).to(SIM);
    const live = sim.live;
    x.dispose();
    x.dispose();
    expect(sim.live).toBe(live - 1);
    expect(isDisposed(x.storage)).toBe(true);
  });

  it('dispose(value) frees every array of a structure', () => {
    const a = ones([2]);
    const b = zeros([2]);
    dispose({ a, list: [b] });
    expect(a.isDisposed && b.isDisposed).toBe(true);
  });
});

describe('tidy', () => {
  it('disposes what fn created and did not return', () => {
    const outside = fromArray([1, 2, 3]);
    let inner: NDArray | null = null;
    const out = tidy(() => {
      inner = mul(outside, 2);
      return add(inner, 1);
    });
    expect(inner!.isDisposed).toBe(true);
    expect(out.isDisposed).toBe(false);
    expect(out.toArray()).toEqual([3, 5, 7]);
    expect(outside.isDisposed).toBe(false); // created before the scope
  });

  it('keeps arrays returned in arrays, objects, Maps and as views', () => {
    const tmp: NDArray[] = [];
    const r = tidy(() => {
      const a = arange(4);
      const b = mul(a, 2);
      const c = add(b, 1);
      const d = exp(c);
      tmp.push(a, d);
      return { list: [b.reshape([2, 2])], map: new Map([['c', c]]) };
    });
    expect(r.list[0].toArray()).toEqual([[0, 2], [4, 6]]);
    expect(r.map.get('c')!.toArray()).toEqual([1, 3, 5, 7]);
    expect(tmp.every((t) => t.isDisposed)).toBe(true);
  });

  it('nests: what an inner scope returns belongs to the outer one', () => {
    let fromInner: NDArray | null = null;
    let innerTmp: NDArray | null = null;
    const out = tidy(() => {
      fromInner = tidy(() => {
        innerTmp = ones([3]);
        return add(innerTmp, 1);
      });
      expect(innerTmp!.isDisposed).toBe(true);
      expect(fromInner.isDisposed).toBe(false);
      return sum(fromInner);
    });
    expect(fromInner!.isDisposed).toBe(true); // the outer scope did not return it
    expect(out.item()).toBe(6);
  });

  it('keep() exempts an array from every scope', () => {
    let kept: NDArray | null = null;
    tidy(() => {
      tidy(() => {
        kept = keep(ones([2]));
      });
    });
    expect(kept!.isDisposed).toBe(false);
  });

  it('frees the temporaries when fn throws, and rethrows', () => {
    let tmp: NDArray | null = null;
    expect(() => tidy(() => {
      tmp = ones([2]);
      throw new Error('boom');
    })).toThrow('boom');
    expect(tmp!.isDisposed).toBe(true);
  });

  it('rejects async functions', () => {
    expect(() => tidy((async () => 1) as unknown as () => number)).toThrow(/synchronous/);
  });

  it('frees device storages: the live count returns to its level', () => {
    const x = fromArray([1, 2, 3]).to(SIM);
    const live = sim.live;
    const y = tidy(() => {
      let t = x;
      for (let i = 0; i < 10; i++) t = exp(mul(t, 0.5));
      return t;
    });
    expect(sim.live).toBe(live + 1);
    expect(y.device).toBe(SIM);
  });
});

describe('devices', () => {
  it('mixing devices in a binary op is a clear error', () => {
    const a = fromArray([1, 2]);
    const b = fromArray([1, 2]).to(SIM);
    expect(() => add(a, b)).toThrow('add: tensors are on different devices: cpu and sim');
    expect(() => mul(b, a)).toThrow('mul: tensors are on different devices: sim and cpu');
    expect(() => matmul(a.reshape([1, 2]), b.reshape([2, 1]))).toThrow('matmul: tensors are on different devices: cpu and sim');
  });

  it('a number operand is created on the other operand\'s device, and nothing is read back', () => {
    const x = fromArray([1, 2]).to(SIM);
    sim.reset();
    const y = add(mul(x, 3), 1);
    expect(y.device).toBe(SIM);
    expect(sim.reads).toBe(0);
    expect(y.toArray()).toEqual([4, 7]);
    expect(sim.reads).toBe(1);
  });

  it('sim storage is opaque: its data is not reachable as a CPU array', () => {
    const x = fromArray([1, 2]).to(SIM);
    expect(x.storage).toBeInstanceOf(SimStorage);
    expect((x.storage as unknown as { data?: unknown }).data).toBeUndefined();
  });
});

describe('async reads', () => {
  it('toArrayAsync / itemAsync / toTypedArrayAsync use the backend readAsync when present', async () => {
    const x = fromArray([[1, 2], [3, 4]]).to(SIM);
    sim.reset();
    expect(await x.toArrayAsync()).toEqual([[1, 2], [3, 4]]);
    expect(await sum(x).itemAsync()).toBe(10);
    expect(Array.from(await x.toTypedArrayAsync())).toEqual([1, 2, 3, 4]);
    expect(sim.asyncReads).toBe(3);
    expect(sim.reads).toBe(0);
  });

  it('fall back to the synchronous read (cpu), and reject on errors', async () => {
    expect(await fromArray([1, 2]).toArrayAsync()).toEqual([1, 2]);
    expect(await fromArray([5]).itemAsync()).toBe(5);
    await expect(fromArray([1, 2]).itemAsync()).rejects.toThrow(/one element/);
    const d = fromArray([1]);
    d.dispose();
    await expect(d.toArrayAsync()).rejects.toThrow(/toArrayAsync: the array was disposed/);
  });
});
