/**
 * detectAnomaly (torch.autograd.detect_anomaly): the first gradient with a
 * NaN or an infinite value stops the backward, naming the op and where its
 * forward was called; nothing changes outside it; scopes nest and end.
 */
import { describe, expect, it } from 'vitest';
import { detectAnomaly, isAnomalyEnabled, tensor } from '../src/index.js';

describe('detectAnomaly', () => {
  it('stops the backward at the op whose gradient turns infinite, naming it and its forward\'s place', () => {
    const x = tensor([0, 4], { requiresGrad: true, dtype: 'float64' });
    let err: Error | null = null;
    detectAnomaly(() => {
      const y = x.sqrt().mul(3).sum(); // d sqrt(x) / dx = 1 / (2 sqrt(x)): infinite at 0
      try {
        y.backward();
      } catch (e) {
        err = e as Error;
      }
    });
    expect(err).not.toBeNull();
    expect(err!.message).toMatch(/^backward: detectAnomaly: the gradient 'sqrt' returned for its input 0 \(shape \[2\]\) has NaN or infinite values; its forward was called at:/);
    expect(err!.message).toMatch(/anomaly\.test\.ts/);
    expect(x.grad).toBeNull(); // nothing accumulated
    // Outside the scope the same backward runs through and gives inf, as PyTorch's does.
    const z = tensor([0, 4], { requiresGrad: true, dtype: 'float64' });
    z.sqrt().sum().backward();
    expect(z.grad!.toArray()).toEqual([Infinity, 0.25]);
  });

  it('lets finite backward passes through unchanged, and nests', () => {
    const x = tensor([1, 4], { requiresGrad: true, dtype: 'float64' });
    detectAnomaly(() => detectAnomaly(() => x.sqrt().sum().backward()));
    expect(x.grad!.toArray()).toEqual([0.5, 0.25]);
    expect(isAnomalyEnabled()).toBe(false);
    expect(() => detectAnomaly(() => {
      throw new Error('inside');
    })).toThrow('inside');
    expect(isAnomalyEnabled()).toBe(false);
  });

  it('says when the forward ran outside the scope', () => {
    const x = tensor([-1], { requiresGrad: true, dtype: 'float64' });
    const y = x.log().sum();
    const w = y.mul(tensor([Number.NaN], { dtype: 'float64' })).sum(); // mul by NaN: a NaN gradient for y
    expect(() => detectAnomaly(() => w.backward())).toThrow(/has NaN or infinite values \(its forward ran outside detectAnomaly, so its place is unknown\)/);
  });
});
