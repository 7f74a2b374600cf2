/**
 * Learning-rate schedulers: lr sequences against closed forms, PyTorch's
 * documented examples and its recursive formulas; state round trips.
 */
import { describe, expect, it } from 'vitest';
import { tensor } from '@normlab/autograd';
import { Parameter, optim } from '../src/index.js';

const param = (xs: number[]): Parameter => new Parameter(tensor(xs, { dtype: 'float64' }));
const sgd = (lr = 0.05, momentum = 0): optim.SGD => new optim.SGD([param([1])], { lr, momentum });
const lrOf = (o: optim.Optimizer<optim.LrOptions>): number => o.paramGroups[0].options.lr;

/** The lr at epochs 0..n-1: the constructor sets epoch 0, each step() the next. */
function sequence(opt: optim.Optimizer<optim.LrOptions>, sched: optim.LRScheduler, n: number): number[] {
  const out = [lrOf(opt)];
  for (let k = 1; k < n; k++) {
    sched.step();
    out.push(lrOf(opt));
    expect(sched.getLastLr()).toEqual([lrOf(opt)]);
  }
  return out;
}

function expectClose(a: readonly number[], b: readonly number[], tol = 1e-12): void {
  expect(a.length).toBe(b.length);
  a.forEach((v, i) => {
    if (!(Math.abs(v - b[i]) <= tol * (1 + Math.abs(b[i])))) throw new Error(`entry ${i}: got ${v}, expected ${b[i]}`);
  });
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

describe('LRScheduler base', () => {
  it('construction sets the lr of epoch 0 and records baseLrs, lastEpoch, getLastLr', () => {
    const opt = new optim.SGD([{ params: [param([1])] }, { params: [param([2])], lr: 0.2 }], { lr: 0.1 });
    const s = new optim.LinearLR(opt, { startFactor: 0.5, totalIters: 2 });
    expect(s.baseLrs).toEqual([0.1, 0.2]);
    expect(s.lastEpoch).toBe(0);
    expect(s.getLastLr()).toEqual([0.05, 0.1]);
    expect(opt.paramGroups.map((g) => g.options.lr)).toEqual([0.05, 0.1]);
    s.step();
    expect(s.lastEpoch).toBe(1);
    expectClose(s.getLastLr(), [0.075, 0.15]);
  });

  it('a second scheduler on the same optimizer starts from the initial lr (torch\'s initial_lr)', () => {
    const opt = sgd(1);
    new optim.ExponentialLR(opt, 0.5).step();
    expect(lrOf(opt)).toBe(0.5);
    const s2 = new optim.StepLR(opt, 10);
    expect(s2.baseLrs).toEqual([1]);
  });

  it('the optimizer uses the scheduled lr', () => {
    const p = param([1]);
    const opt = new optim.SGD([p], { lr: 1 });
    const s = new optim.ExponentialLR(opt, 0.5);
    s.step();
    p.grad = tensor([1], { dtype: 'float64' });
    opt.step();
    expect(p.toArray()).toEqual([0.5]);
  });
});

describe('StepLR / MultiStepLR / ExponentialLR / LinearLR', () => {
  it('StepLR: torch\'s example (stepSize 30, gamma 0.1 from 0.05)', () => {
    const opt = sgd(0.05);
    const lrs = sequence(opt, new optim.StepLR(opt, 30), 100);
    expectClose(lrs, range(100).map((e) => (e < 30 ? 0.05 : e < 60 ? 0.005 : e < 90 ? 0.0005 : 0.00005)));
  });

  it('StepLR: closed form with another gamma', () => {
    const opt = sgd(2);
    const lrs = sequence(opt, new optim.StepLR(opt, 3, 0.5), 12);
    expect(lrs).toEqual(range(12).map((e) => 2 * 0.5 ** Math.floor(e / 3)));
    expect(() => new optim.StepLR(sgd(), 0)).toThrow(/stepSize/);
  });

  it('MultiStepLR: torch\'s example (milestones 30, 80) and repeated, unsorted milestones', () => {
    const opt = sgd(0.05);
    const lrs = sequence(opt, new optim.MultiStepLR(opt, [30, 80], 0.1), 100);
    expectClose(lrs, range(100).map((e) => (e < 30 ? 0.05 : e < 80 ? 0.005 : 0.0005)));
    const opt2 = sgd(1);
    expect(sequence(opt2, new optim.MultiStepLR(opt2, [4, 2, 2], 0.5), 6)).toEqual([1, 1, 0.25, 0.25, 0.125, 0.125]);
  });

  it('ExponentialLR: baseLr * gamma^epoch', () => {
    const opt = sgd(0.3);
    expect(sequence(opt, new optim.ExponentialLR(opt, 0.9), 10)).toEqual(range(10).map((e) => 0.3 * 0.9 ** e));
  });

  it('LinearLR: torch\'s example (startFactor 0.5, totalIters 4 from 0.05) and defaults', () => {
    const opt = sgd(0.05);
    expectClose(sequence(opt, new optim.LinearLR(opt, { startFactor: 0.5, totalIters: 4 }), 7), [0.025, 0.03125, 0.0375, 0.04375, 0.05, 0.05, 0.05]);
    const opt2 = sgd(3);
    expectClose(sequence(opt2, new optim.LinearLR(opt2), 7), [1, 1 + 0.4, 1 + 0.8, 1 + 1.2, 1 + 1.6, 3, 3]);
    expect(() => new optim.LinearLR(sgd(), { startFactor: 0 })).toThrow(/startFactor/);
    expect(() => new optim.LinearLR(sgd(), { startFactor: 1.5 })).toThrow(/startFactor/);
    expect(() => new optim.LinearLR(sgd(), { endFactor: -0.1 })).toThrow(/endFactor/);
  });
});

describe('CosineAnnealingLR', () => {
  it('closed form, and agrees with torch\'s recursive formula over two periods', () => {
    const base = 0.1;
    const etaMin = 0.001;
    const tMax = 10;
    const opt = sgd(base);
    const lrs = sequence(opt, new optim.CosineAnnealingLR(opt, tMax, etaMin), 3 * tMax);
    expectClose(lrs, range(3 * tMax).map((t) => etaMin + ((base - etaMin) * (1 + Math.cos((Math.PI * t) / tMax))) / 2));
    expect(lrs[0]).toBe(base);
    expectClose([lrs[5], lrs[10], lrs[20]], [(base + etaMin) / 2, etaMin, base]);
    // torch's get_lr (chainable form) driven by step().
    const rec = [base];
    for (let t = 1; t < 3 * tMax; t++) {
      const prev = rec[t - 1];
      rec.push((t - 1 - tMax) % (2 * tMax) === 0
        ? prev + ((base - etaMin) * (1 - Math.cos(Math.PI / tMax))) / 2
        : ((1 + Math.cos((Math.PI * t) / tMax)) / (1 + Math.cos((Math.PI * (t - 1)) / tMax))) * (prev - etaMin) + etaMin);
    }
    expectClose(lrs, rec, 1e-10);
  });

  it('etaMin defaults to 0 and tMax must be positive', () => {
    const opt = sgd(1);
    const lrs = sequence(opt, new optim.CosineAnnealingLR(opt, 4), 5);
    expectClose(lrs, [1, (1 + Math.SQRT1_2) / 2, 0.5, (1 - Math.SQRT1_2) / 2, 0]);
    expect(() => new optim.CosineAnnealingLR(sgd(), 0)).toThrow(/tMax/);
  });
});

describe('OneCycleLR', () => {
  it('two phases, cos: torch\'s boundaries and values, momentum cycled the other way', () => {
    const opt = sgd(0.123, 0.9);
    const s = new optim.OneCycleLR(opt, { maxLr: 1, totalSteps: 10 });
    const mom = (): number => opt.paramGroups[0].options.momentum;
    const lrs = [lrOf(opt)];
    const moms = [mom()];
    for (let k = 1; k <= 10; k++) {
      s.step();
      lrs.push(lrOf(opt));
      moms.push(mom());
    }
    // Phase 1 ends at 0.3 * 10 - 1 = 2, phase 2 at 9; initial 1/25, final 1/25/1e4.
    const cosAnneal = (a: number, b: number, pct: number): number => b + ((a - b) / 2) * (1 + Math.cos(Math.PI * pct));
    const expected = range(11).map((t) => (t <= 2 ? cosAnneal(0.04, 1, t / 2) : cosAnneal(1, 4e-6, (t - 2) / 7)));
    expectClose(lrs, expected);
    expectClose([lrs[0], lrs[1], lrs[2], lrs[9]], [0.04, 0.52, 1, 4e-6]);
    expectClose(moms, range(11).map((t) => (t <= 2 ? cosAnneal(0.95, 0.85, t / 2) : cosAnneal(0.85, 0.95, (t - 2) / 7))));
    expect(() => s.step()).toThrow(/tried to step 11 times; the specified number of total steps is 10/);
  });

  it('three phases, linear, per-group maxLr, and beta1 cycled for Adam (beta2 kept)', () => {
    const opt = new optim.Adam([{ params: [param([1])] }, { params: [param([2])] }], { betas: [0.9, 0.99] });
    const s = new optim.OneCycleLR(opt, { maxLr: [1, 2], totalSteps: 10, threePhase: true, annealStrategy: 'linear', divFactor: 10, finalDivFactor: 100 });
    const lrs: number[][] = [s.getLastLr()];
    const b1: number[] = [opt.paramGroups[0].options.betas[0]];
    for (let k = 1; k < 10; k++) {
      s.step();
      lrs.push(s.getLastLr());
      b1.push(opt.paramGroups[0].options.betas[0]);
      expect(opt.paramGroups[1].options.betas[1]).toBe(0.99);
    }
    // Ends: 2, 0.6 * 10 - 2 = 4, 9. lr: 0.1 -> 1 -> 0.1 -> 0.001 (group 0).
    const lin = (a: number, b: number, pct: number): number => (b - a) * pct + a;
    const at = (m: number, t: number): number => (t <= 2 ? lin(0.1 * m, m, t / 2) : t <= 4 ? lin(m, 0.1 * m, (t - 2) / 2) : lin(0.1 * m, 0.001 * m, (t - 4) / 5));
    expectClose(lrs.map((l) => l[0]), range(10).map((t) => at(1, t)));
    expectClose(lrs.map((l) => l[1]), range(10).map((t) => at(2, t)));
    expectClose(b1, range(10).map((t) => (t <= 2 ? lin(0.95, 0.85, t / 2) : t <= 4 ? lin(0.85, 0.95, (t - 2) / 2) : 0.95)));
  });

  it('epochs * stepsPerEpoch, cycleMomentum false, and validation', () => {
    const opt = sgd(0.5, 0.9);
    const s = new optim.OneCycleLR(opt, { maxLr: 1, epochs: 2, stepsPerEpoch: 5, cycleMomentum: false });
    expect(s.totalSteps).toBe(10);
    expect(opt.paramGroups[0].options.momentum).toBe(0.9);
    const ada = new optim.Adagrad([param([1])]);
    expect(() => new optim.OneCycleLR(ada, { maxLr: 1, totalSteps: 5 })).toThrow(/momentum or betas/);
    expect(() => new optim.OneCycleLR(ada, { maxLr: 1, totalSteps: 5, cycleMomentum: false })).not.toThrow();
    expect(() => new optim.OneCycleLR(sgd(), { maxLr: 1 })).toThrow(/totalSteps or \(epochs and stepsPerEpoch\)/);
    expect(() => new optim.OneCycleLR(sgd(), { maxLr: 1, totalSteps: 0 })).toThrow(/totalSteps/);
    expect(() => new optim.OneCycleLR(sgd(), { maxLr: 1, totalSteps: 5, pctStart: 1.5 })).toThrow(/pctStart/);
    expect(() => new optim.OneCycleLR(sgd(), { maxLr: [1, 2], totalSteps: 5 })).toThrow(/expected 1 values for maxLr/);
  });
});

describe('ReduceLROnPlateau', () => {
  it('reduces after more than patience bad epochs (rel threshold), and not at construction', () => {
    const opt = sgd(1);
    const s = new optim.ReduceLROnPlateau(opt, { patience: 2, factor: 0.5 });
    expect(lrOf(opt)).toBe(1);
    const lrs = [10, 9, 9, 9, 9, 8.9999, 8.9, 8.9, 8.9, 8.9].map((m) => {
      s.step(m);
      return lrOf(opt);
    });
    // 8.9999 is not better than 9 by the relative threshold 1e-4 (9 * 0.9999 = 8.9991).
    expect(lrs).toEqual([1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.5, 0.25]);
    expect(s.getLastLr()).toEqual([0.25]);
    expect(s.lastEpoch).toBe(10);
  });

  it('cooldown, minLr and eps', () => {
    const opt = sgd(1);
    const s = new optim.ReduceLROnPlateau(opt, { patience: 0, cooldown: 2, factor: 0.1, minLr: 0.005 });
    const lrs = [1, 2, 2, 2, 2, 2, 2, 2].map((m) => {
      s.step(m);
      return lrOf(opt);
    });
    // Reductions at epochs 2, 5 (after 2 epochs of cooldown), 8 is floored at minLr.
    expectClose(lrs, [1, 0.1, 0.1, 0.1, 0.01, 0.01, 0.01, 0.005]);
    const opt2 = sgd(1e-8);
    const s2 = new optim.ReduceLROnPlateau(opt2, { patience: 0 });
    s2.step(1);
    s2.step(1);
    expect(lrOf(opt2)).toBe(1e-8); // the reduction 9e-9 is below eps
  });

  it('mode max with an abs threshold, per-group minLr', () => {
    const opt = new optim.SGD([{ params: [param([1])] }, { params: [param([1])], lr: 0.1 }], { lr: 1 });
    const s = new optim.ReduceLROnPlateau(opt, { mode: 'max', threshold: 0.5, thresholdMode: 'abs', patience: 1, minLr: [0, 0.05] });
    for (const m of [1, 1.4, 1.45]) s.step(m); // neither beats best + 0.5
    expectClose(s.getLastLr(), [0.1, 0.05]);
    s.step(2.1);
    expect(s.best).toBe(2.1);
    expect(() => new optim.ReduceLROnPlateau(opt, { factor: 1 })).toThrow(/factor/);
    expect(() => new optim.ReduceLROnPlateau(opt, { minLr: [1] })).toThrow(/expected 2 minLr/);
  });
});

describe('scheduler stateDict / loadStateDict', () => {
  const makers: [string, (o: optim.SGD) => optim.LRScheduler][] = [
    ['StepLR', (o) => new optim.StepLR(o, 3, 0.5)],
    ['MultiStepLR', (o) => new optim.MultiStepLR(o, [2, 5], 0.3)],
    ['CosineAnnealingLR', (o) => new optim.CosineAnnealingLR(o, 7, 0.01)],
    ['LinearLR', (o) => new optim.LinearLR(o, { startFactor: 0.2, totalIters: 6 })],
    ['OneCycleLR', (o) => new optim.OneCycleLR(o, { maxLr: 0.5, totalSteps: 12 })],
  ];
  for (const [name, make] of makers) {
    it(`${name}: resumes with the same lr sequence`, () => {
      const opt = sgd(0.1, 0.9);
      const s = make(opt);
      for (let k = 0; k < 4; k++) s.step();
      const sd = s.stateDict();
      const osd = opt.stateDict();
      expect(sd.optimizer).toBeUndefined();

      const opt2 = sgd(0.1, 0.9);
      const s2 = make(opt2);
      opt2.loadStateDict(osd);
      s2.loadStateDict(sd);
      expect(s2.lastEpoch).toBe(4);
      expect(s2.getLastLr()).toEqual(s.getLastLr());
      for (let k = 0; k < 6; k++) {
        s.step();
        s2.step();
        expect(opt2.paramGroups[0].options).toEqual(opt.paramGroups[0].options);
      }
    });
  }

  it('restores the hyper-parameters (as torch) and copies arrays', () => {
    const s = new optim.StepLR(sgd(1), 2, 0.5);
    const s2 = new optim.StepLR(sgd(1), 10, 0.9);
    const sd = s.stateDict();
    s2.loadStateDict(sd);
    expect(s2.stepSize).toBe(2);
    expect(s2.gamma).toBe(0.5);
    (sd.baseLrs as number[])[0] = 99;
    expect(s2.baseLrs).toEqual([1]);
  });

  it('ReduceLROnPlateau resumes its counters', () => {
    const opt = sgd(1);
    const s = new optim.ReduceLROnPlateau(opt, { patience: 1, cooldown: 1, factor: 0.5 });
    for (const m of [3, 2, 2]) s.step(m);
    const opt2 = sgd(1);
    const s2 = new optim.ReduceLROnPlateau(opt2);
    opt2.loadStateDict(opt.stateDict());
    s2.loadStateDict(s.stateDict());
    for (const m of [2, 2, 2, 1, 1, 1, 1]) {
      s.step(m);
      s2.step(m);
      expect(lrOf(opt2)).toBe(lrOf(opt));
    }
    expect(s2.numBadEpochs).toBe(s.numBadEpochs);
    expect(lrOf(opt)).toBeLessThan(1);
  });
});
