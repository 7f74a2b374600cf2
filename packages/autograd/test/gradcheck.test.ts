import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as nd from '@normlab/tensor';
import { Tensor, gradcheck, gradgradcheck, record } from '../src/index.js';
import { GRADGRAD_TOL, GRAD_TOL, RUNS, checkGrad, checkGradGrad, randT, seedArb, shapeArb } from './helpers.js';

// The faulty ops below have a correct forward-mode rule (except badForward), so that the helpers' forward-mode
// check passes on them and the backward's fault is what is caught.

/** x^2 with a backward that is off by a factor 2 (4x instead of 2x). */
const badSquare = (x: Tensor): Tensor => record('badSquare', nd.square(x.data), [x], (g) => [g.mul(x).mul(4)], ([t]) => (t as Tensor).mul(x).mul(2));

/** x^2 with a right backward and a forward-mode rule off by a factor 2. */
const badForward = (x: Tensor): Tensor => record('badForward', nd.square(x.data), [x], (g) => [g.mul(x).mul(2)], ([t]) => (t as Tensor).mul(x).mul(4));

/** x^2 with a right backward and no forward-mode rule. */
const noForward = (x: Tensor): Tensor => record('noForward', nd.square(x.data), [x], (g) => [g.mul(x).mul(2)]);

/** x exp(x) whose backward forgets the product rule's x exp(x) term. */
const missingTerm = (x: Tensor): Tensor => record('missingTerm', nd.mul(x.data, nd.exp(x.data)), [x], (g) => [g.mul(x.exp())]);

/** a * b whose gradient for b is right but for a is b^2 (wrong only w.r.t. the first input). */
const badMul = (a: Tensor, b: Tensor): Tensor => record('badMul', nd.mul(a.data, b.data), [a, b], (g) => [g.mul(b.square()), g.mul(a)]);

/** sin(x) whose gradient is off by 0.1 %. */
const slightlyOff = (x: Tensor): Tensor => record('slightlyOff', nd.sin(x.data), [x], (g) => [g.mul(x.cos()).mul(1.001)], ([t]) => (t as Tensor).mul(x.cos()));

/**
 * x^3 whose backward has the right value, 3 x^2 g, but computes 3 x^2 from
 * the raw data: a constant for the graph, so its own derivative in x is lost.
 */
const detachedCube = (x: Tensor): Tensor =>
  record('detachedCube', nd.pow(x.data, 3), [x], (g) => [g.mul(new Tensor(nd.mul(nd.square(x.data), 3)))], ([t]) => (t as Tensor).mul(x.square().mul(3)));

/** x^3 done right: the backward is written with Tensor ops. */
const goodCube = (x: Tensor): Tensor => record('goodCube', nd.pow(x.data, 3), [x], (g) => [g.mul(x.square().mul(3))]);

describe('gradcheck', () => {
  it('passes a correct op and returns true', () => {
    fc.assert(fc.property(shapeArb(), seedArb, (shape, seed) => {
      expect(gradcheck(goodCube, [randT(shape, seed)], GRAD_TOL)).toBe(true);
    }), { numRuns: RUNS });
  });

  it('catches a backward that is off by a factor 2: throws with a report, or returns false', () => {
    fc.assert(fc.property(shapeArb(), seedArb, (shape, seed) => {
      const x = randT(shape, seed, { avoid: [0], margin: 0.1 });
      expect(() => gradcheck(badSquare, [x])).toThrow(/Jacobian mismatch for output 0 with respect to input 0/);
      expect(() => checkGrad(badSquare, [x])).toThrow(/analytic .* numeric/);
      expect(gradcheck(badSquare, [x], { raiseException: false })).toBe(false);
    }), { numRuns: RUNS });
  });

  it('catches a missing term and a wrong gradient for one input of two', () => {
    fc.assert(fc.property(shapeArb(), seedArb, (shape, seed) => {
      const x = randT(shape, seed, { lo: 0.5, hi: 2 });
      expect(gradcheck(missingTerm, [x], { ...GRAD_TOL, raiseException: false })).toBe(false);
      const b = randT(shape, seed + 1, { lo: 1.5, hi: 3 });
      expect(() => gradcheck(badMul, [x, b], GRAD_TOL)).toThrow(/with respect to input 0/);
      // Only b requiring grad: its gradient is right.
      const bConst = randT(shape, seed + 1, { lo: 1.5, hi: 3, requiresGrad: false });
      expect(gradcheck((a, c) => badMul(c, a), [randT(shape, seed + 2), bConst], GRAD_TOL)).toBe(true);
    }), { numRuns: RUNS });
  });

  it('the helpers\' tolerances catch a 0.1 % error', () => {
    fc.assert(fc.property(shapeArb({ minRank: 1 }), seedArb, (shape, seed) => {
      const x = randT(shape, seed, { lo: -1, hi: 1 });
      expect(() => checkGrad(slightlyOff, [x])).toThrow(/mismatch/);
    }), { numRuns: RUNS });
  });

  it('with checkForwardAD, compares the forward-mode Jacobian too: a wrong rule is named, a missing one is an error', () => {
    fc.assert(fc.property(shapeArb({ minRank: 1 }), seedArb, (shape, seed) => {
      const x = randT(shape, seed, { avoid: [0], margin: 0.1 });
      expect(gradcheck(badForward, [x], GRAD_TOL)).toBe(true);
      expect(() => gradcheck(badForward, [x], { ...GRAD_TOL, checkForwardAD: true })).toThrow(/forward-mode Jacobian mismatch for output 0 with respect to input 0 .*: forward-mode -?\d/);
      expect(gradcheck(badForward, [x], { ...GRAD_TOL, checkForwardAD: true, raiseException: false })).toBe(false);
      expect(gradcheck(noForward, [x], GRAD_TOL)).toBe(true);
      expect(() => checkGrad(noForward, [x])).toThrow(/jvp: 'noForward' has no forward-mode rule/);
    }), { numRuns: RUNS });
  });

  it('checks every output of a multi-output function and names it', () => {
    const x = randT([3], 1);
    expect(gradcheck((t) => [t.exp(), goodCube(t)], [x], GRAD_TOL)).toBe(true);
    expect(() => gradcheck((t) => [t.exp(), badSquare(t)], [randT([3], 2, { avoid: [0], margin: 0.1 })], GRAD_TOL)).toThrow(/output 1/);
  });

  it('rejects float32 inputs with a clear error, and calls without any differentiable input', () => {
    const x32 = randT([2], 1).detach().astype('float32').requiresGrad_();
    expect(() => gradcheck((t) => t.exp(), [x32])).toThrow(TypeError);
    expect(() => gradcheck((t) => t.exp(), [x32])).toThrow(/input 0 is float32; use float64/);
    const x64 = randT([2], 1);
    expect(() => gradcheck((a, b) => a.mul(b), [x64, x32])).toThrow(/input 1 is float32/);
    // A float32 input that does not require grad is allowed.
    expect(gradcheck((a, b) => a.mul(b.double()), [x64, x32.detach()], GRAD_TOL)).toBe(true);
    expect(() => gradcheck((t) => t.exp(), [randT([2], 1, { requiresGrad: false })])).toThrow(/no input requires grad/);
  });

  it('leaves the inputs unchanged', () => {
    const x = randT([2, 2], 5);
    const before = Array.from(x.toTypedArray());
    const data = x.data;
    gradcheck((t) => t.square(), [x], GRAD_TOL);
    expect(x.data).toBe(data);
    expect(Array.from(x.toTypedArray())).toEqual(before);
    expect(x.grad).toBeNull();
  });
});

describe('gradgradcheck', () => {
  it('passes an op whose backward is differentiable', () => {
    fc.assert(fc.property(shapeArb({ maxRank: 2 }), seedArb, (shape, seed) => {
      expect(gradgradcheck(goodCube, [randT(shape, seed)], { ...GRADGRAD_TOL, seed })).toBe(true);
    }), { numRuns: RUNS });
  });

  it('catches a backward that is right in value but uses a detached constant', () => {
    fc.assert(fc.property(shapeArb({ maxRank: 2 }), seedArb, (shape, seed) => {
      const x = randT(shape, seed, { avoid: [0], margin: 0.2 });
      // First derivatives are right...
      expect(gradcheck(detachedCube, [x], GRAD_TOL)).toBe(true);
      // ...second derivatives are not (analytic 0, numeric 6 x v).
      expect(() => checkGradGrad(detachedCube, [x], seed)).toThrow(/Jacobian mismatch/);
      expect(gradgradcheck(detachedCube, [x], { ...GRADGRAD_TOL, seed, raiseException: false })).toBe(false);
    }), { numRuns: RUNS });
  });

  it('catches a wrong second derivative in a two-input op', () => {
    // d(a*b)/da = b must be differentiable in b: here it is a detached copy of b.
    const detachedMul = (a: Tensor, b: Tensor): Tensor => record('detachedMul', nd.mul(a.data, b.data), [a, b], (g) => [g.mul(b.detach()), g.mul(a)]);
    const a = randT([3], 1);
    const b = randT([3], 2);
    expect(gradcheck(detachedMul, [a, b], GRAD_TOL)).toBe(true);
    expect(gradgradcheck(detachedMul, [a, b], { ...GRADGRAD_TOL, raiseException: false })).toBe(false);
  });
});
