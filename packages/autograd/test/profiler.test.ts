/**
 * The profiler (@normlab/tensor's profile / recordFunction) seen through a
 * small autograd computation: every kernel and every backward is a scope,
 * self times add up to the wall time, nested scopes are charged to their
 * parent's total and not to its self time, and recording stops with the call.
 */
import { describe, expect, it } from 'vitest';
import { isProfiling, profile, randn, recordFunction, tidy } from '@normlab/tensor';
import { Tensor } from '../src/index.js';

describe('profile', () => {
  it('records kernels, backward nodes and user scopes, with self <= total and the bytes of kernel outputs', () => {
    const x = new Tensor(randn([64, 32]), { requiresGrad: true });
    const w = new Tensor(randn([32, 16]), { requiresGrad: true });
    const p = profile(() => tidy(() => {
      recordFunction('forward', () => x.matmul(w).sigmoid().sum()).backward();
    }));
    const row = (name: string) => p.rows.find((r) => r.name === name);
    for (const name of ['forward', 'matmul', 'unary:sigmoid', 'reduce:sum', 'backward:matmul', 'backward:sigmoid', 'backward:sum']) {
      expect(row(name), name).toBeDefined();
    }
    expect(row('forward')!.calls).toBe(1);
    // forward, its matmul [64,16] and backward's two products [64,32] and [32,16]
    expect(row('matmul')!.calls).toBe(3);
    expect(row('matmul')!.bytes).toBe((64 * 16 + 64 * 32 + 32 * 16) * 4);
    expect(row('forward')!.bytes).toBe(0);
    for (const r of p.rows) {
      expect(r.selfMs).toBeGreaterThanOrEqual(-1e-9);
      expect(r.selfMs).toBeLessThanOrEqual(r.totalMs + 1e-9);
    }
    // the forward scope's kernels are nested in it: its total covers them, its self does not
    const fwd = row('forward')!;
    expect(fwd.totalMs).toBeGreaterThanOrEqual(fwd.selfMs);
    const selfSum = p.rows.reduce((s, r) => s + r.selfMs, 0);
    expect(selfSum).toBeLessThanOrEqual(p.wallMs + 1e-6);
    expect(p.rows.map((r) => r.selfMs)).toEqual([...p.rows.map((r) => r.selfMs)].sort((a, b) => b - a));
    const table = p.table(3);
    expect(table.split('\n')[0]).toMatch(/^name\s+calls\s+total ms\s+self ms\s+self %\s+allocated$/);
    expect(table).toContain('(outside every scope)');
    expect(table).toMatch(/wall time [\d.]+ ms$/);
    expect(table.split('\n')).toHaveLength(2 + 3 + 2);
  });

  it('returns fn\'s result, stops recording after (also when fn throws), and refuses to nest', () => {
    expect(isProfiling()).toBe(false);
    expect(profile(() => 42).result).toBe(42);
    expect(isProfiling()).toBe(false);
    expect(() => profile(() => {
      throw new Error('boom');
    })).toThrow('boom');
    expect(isProfiling()).toBe(false);
    expect(() => profile(() => profile(() => 1))).toThrow(/profiles do not nest/);
    expect(isProfiling()).toBe(false);
    // outside a profile, recordFunction is just the call
    expect(recordFunction('x', () => 'y')).toBe('y');
  });

  it('charges a nested scope to its parent\'s total, not its self time', () => {
    const busy = (ms: number): void => {
      const end = performance.now() + ms;
      while (performance.now() < end);
    };
    const p = profile(() => recordFunction('outer', () => {
      busy(2);
      recordFunction('inner', () => busy(6));
    }));
    const outer = p.rows.find((r) => r.name === 'outer')!;
    const inner = p.rows.find((r) => r.name === 'inner')!;
    expect(inner.totalMs).toBeGreaterThanOrEqual(6);
    expect(outer.totalMs).toBeGreaterThanOrEqual(outer.selfMs + inner.totalMs - 1e-6);
    expect(outer.selfMs).toBeLessThan(inner.totalMs);
    expect(p.rows[0].name).toBe('inner');
  });
});
