/** activationStats: numpy's percentiles, mean and variance, recorded by forward hooks over training. */
import { describe, expect, it } from 'vitest';
import { Tensor } from '@normlab/autograd';
import { BatchNorm1d, Linear, Sequential, Sigmoid, mseLoss, optim } from '@normlab/nn';
import { fromTyped } from '@normlab/tensor';
import { activationStats, percentile, summarize } from '../src/index.js';
import { expectClose, expectSamePicture, initParams, picture, randn } from './helpers.js';

describe('percentile (numpy.percentile, linear)', () => {
  it('matches numpy on known values', () => {
    // np.percentile([1, 2, 3, 4], [15, 50, 85]) -> [1.45, 2.5, 3.55]
    const p = percentile([4, 1, 3, 2], [15, 50, 85]);
    expectClose(p[0], 1.45, 1e-15);
    expectClose(p[1], 2.5, 1e-15);
    expectClose(p[2], 3.55, 1e-15);
    // np.percentile([10, 7, 4, 3, 2, 1], [0, 25, 100, 33]) -> [1, 2.25, 10, 2.65]
    expect(percentile([10, 7, 4, 3, 2, 1], [0, 25, 100])).toEqual([1, 2.25, 10]);
    expectClose(percentile([10, 7, 4, 3, 2, 1], [33])[0], 2.65, 1e-14);
    expect(percentile([5], [15, 85])).toEqual([5, 5]);
    expect(percentile([1, NaN, 2], [50])[0]).toBeNaN();
    expect(percentile([], [50])[0]).toBeNaN();
    // a single Float32Array value, between two ranks
    expect(percentile(new Float32Array([0.5, 0.25]), [50])).toEqual([0.375]);
  });

  it('rejects q outside [0, 100] (and NaN q), naming it', () => {
    expect(() => percentile([1, 2], [101])).toThrow(/q must be in \[0, 100\], got 101/);
    expect(() => percentile([1, 2], [50, -1])).toThrow(/got -1/);
    expect(() => percentile([1, 2], [NaN])).toThrow(/got NaN/);
  });

  it('summarize gives numpy mean and population variance', () => {
    const s = summarize(Float64Array.from([1, 2, 3, 4]), [50]);
    expect(s).toEqual({ count: 4, mean: 2.5, variance: 1.25, percentiles: [2.5] });
  });
});

describe('activationStats', () => {
  const build = (): Sequential => {
    const model = new Sequential(new Linear(3, 5, { dtype: 'float64' }), new BatchNorm1d(5, { dtype: 'float64' }), new Sigmoid(), new Linear(5, 1, { dtype: 'float64' }));
    initParams(model, 1);
    return model;
  };

  it('records the latest forward of each layer at record(), by name, module or label', () => {
    const model = build();
    const rec = activationStats(model, ['0', '2'], { on: 'input' });
    expect(rec.layers).toEqual(['0', '2']);
    expect(rec.percentiles).toEqual([15, 50, 85]);
    const x = randn([6, 3], 2);
    let sigIn: Tensor | null = null;
    const h = model.at(2).registerForwardHook((_m, inputs) => void (sigIn = inputs[0] as Tensor));
    model.forward(x);
    h.remove();
    const rows = rec.record();
    expect(rows.map((r) => [r.step, r.layer, r.count])).toEqual([[0, '0', 18], [0, '2', 30]]);
    const v = Float64Array.from(sigIn!.toTypedArray());
    const expected = summarize(v, [15, 50, 85]);
    expect(rows[1].mean).toBe(expected.mean);
    expect(rows[1].variance).toBe(expected.variance);
    expect(rows[1].percentiles).toEqual(expected.percentiles);
    // The input of Linear 0 is x itself.
    expect(rows[0].percentiles).toEqual(percentile(x.toTypedArray(), [15, 50, 85]));
    // Nothing ran since: no rows.
    expect(rec.record()).toEqual([]);
    model.forward(x);
    expect(rec.record(100).map((r) => r.step)).toEqual([100, 100]);
    expect(rec.rows()).toHaveLength(4);
    rec.remove();
    model.forward(x);
    expect(rec.record()).toEqual([]);
    expect(rec.rows()).toHaveLength(4);
  });

  it('one unit (channel), custom percentiles and labels', () => {
    const model = build();
    const rec = activationStats(model, { bnOut: model.at(1) }, { channel: 2, percentiles: [0, 100] });
    const x = randn([7, 3], 3);
    const out = (model.at(1).forward as (t: Tensor) => Tensor)((model.at(0).forward as (t: Tensor) => Tensor)(x));
    const [row] = rec.record();
    const unit = Array.from(out.toTypedArray()).filter((_, k) => k % 5 === 2);
    expect(row.layer).toBe('bnOut');
    expect(row.count).toBe(7);
    expect(row.percentiles).toEqual([Math.min(...unit), Math.max(...unit)]);
    expectClose(row.mean, (model.at(1) as BatchNorm1d).bias!.toTypedArray()[2], 0, 1e-12); // a BN output channel has mean beta
    expect(() => activationStats(model, ['nope'])).toThrow(/no module named/);
    expect(() => activationStats(model, [new Linear(1, 1)])).toThrow(/not a module/);
    expect(() => activationStats(model, model.at(0), { percentiles: [101] })).toThrow(/\[0, 100\]/);
    const bad = activationStats(model, model.at(0), { channel: 9 });
    model.forward(x);
    expect(() => bad.record()).toThrow(/out of range/);
  });

  it('a training loop with the recorder matches one without it, bit for bit', () => {
    const run = (withRecorder: boolean): unknown => {
      const model = build();
      const opt = new optim.Adam(model.parameters(), { lr: 0.01 });
      const rec = withRecorder ? activationStats(model, [model.at(2)], { on: 'input' }) : null;
      const x = randn([8, 3], 4);
      const t = new Tensor(fromTyped(Float64Array.from({ length: 8 }, (_, i) => i % 2), [8, 1]));
      for (let step = 0; step < 3; step++) {
        opt.zeroGrad();
        mseLoss(model.forward(x) as Tensor, t).backward();
        opt.step();
        rec?.record(step);
      }
      if (rec) expect(rec.rows()).toHaveLength(3);
      return picture(model, [opt]);
    };
    const a = run(false) as { params: unknown[][] };
    const b = run(true) as { params: unknown[][] };
    // Different objects, same bits.
    const strip = (p: { params: unknown[][]; buffers?: unknown[][] }): unknown => ({ params: p.params.map((r) => [r[0], r[3], r[5]]) });
    expectSamePicture(strip(b), strip(a));
  });
});
