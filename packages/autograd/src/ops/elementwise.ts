import * as nd from '@normlab/tensor';
import { type TensorLike, constantOf, record, saveForBackward, sumTangents } from '../function.js';
import { isForwardADActive } from '../forward-ad.js';
import { isGradEnabled } from '../grad-mode.js';
import { Tensor } from '../tensor.js';

// Gradient rules of the elementwise ops, written with Tensor ops so that they
// are differentiable again. Broadcasting is undone by the engine. A unary
// op's Jacobian is diagonal, so its backward rule applied to a tangent is its
// forward-mode rule too; the binary ops state theirs (ta, tb: the operands'
// tangents, null where an operand has none).

const arr = (v: TensorLike): nd.NDArray | number => (v instanceof Tensor ? v.data : v);

function checkOperand(op: string, v: TensorLike): void {
  if (!(v instanceof Tensor) && typeof v !== 'number') throw new TypeError(`${op}: expected a Tensor or a number, got ${typeof v}`);
}

type Tangent = Tensor | null;

/** A binary op; `saves` says which values its rule reads (none for add and sub; pow its output too), as `unary`'s. */
function binary(op: string, a: TensorLike, b: TensorLike, forward: (x: nd.NDArray | number, y: nd.NDArray | number) => nd.NDArray,
  rule: (g: Tensor, out: Tensor) => [Tensor | null, Tensor | null], jvpRule: (ta: Tangent, tb: Tangent, out: Tensor) => Tensor,
  saves: 'operands' | 'operands and output' | 'none' = 'operands'): Tensor {
  checkOperand(op, a);
  checkOperand(op, b);
  if (!(a instanceof Tensor) && !(b instanceof Tensor)) throw new TypeError(`${op}: at least one operand must be a Tensor`);
  const out: Tensor = record(op, forward(arr(a), arr(b)), [constantOf(a), constantOf(b)], (g) => rule(g, out), ([ta, tb], o) => jvpRule(ta, tb, o));
  if (saves !== 'none') saveForBackward(out, { 'input 0': a, 'input 1': b, ...(saves === 'operands and output' ? { output: out } : {}) });
  return out;
}

/**
 * A unary op; `saves` says which value its rule reads (its saved tensor: a
 * write in place to it before the backward is an error), as PyTorch's.
 */
function unary(op: string, x: Tensor, forward: (x: nd.NDArray) => nd.NDArray, rule: (g: Tensor, out: Tensor) => Tensor,
  saves: 'input' | 'output' | 'none' = 'input'): Tensor {
  if (!(x instanceof Tensor)) throw new TypeError(`${op}: expected a Tensor, got ${typeof x}`);
  const out: Tensor = record(op, forward(x.data), [x], (g) => [rule(g, out)], ([tx], o) => rule(tx as Tensor, o));
  if (saves !== 'none') saveForBackward(out, saves === 'input' ? { 'input 0': x } : { output: out });
  return out;
}

/** A constant (no-grad) tensor from an NDArray. */
const c = (a: nd.NDArray): Tensor => new Tensor(a);
/** An operand as a tensor: a number becomes a 0-D constant on the other operand's device. */
const t = (v: TensorLike, other: TensorLike): Tensor =>
  (v instanceof Tensor ? v : new Tensor(nd.scalar(v, { device: other instanceof Tensor ? other.device : 'cpu' })));

/** Whether an operand needs a gradient (rules skip the work otherwise). */
const needs = (v: TensorLike): boolean => v instanceof Tensor && v.requiresGrad;

/** a + b (broadcast); plain numbers are constants. */
export const add = (a: TensorLike, b: TensorLike): Tensor => binary('add', a, b, nd.add, (g) => [g, g], (ta, tb) => sumTangents(ta, tb), 'none');
/** a - b (broadcast); plain numbers are constants. */
export const sub = (a: TensorLike, b: TensorLike): Tensor =>
  binary('sub', a, b, nd.sub, (g) => [g, needs(b) ? g.neg() : null], (ta, tb) => (ta && tb ? ta.sub(tb) : ta ?? (tb as Tensor).neg()), 'none');
/** a * b (broadcast); plain numbers are constants. */
export const mul = (a: TensorLike, b: TensorLike): Tensor =>
  binary('mul', a, b, nd.mul, (g) => [needs(a) ? g.mul(b) : null, needs(b) ? g.mul(a) : null], (ta, tb) => sumTangents(ta?.mul(b) ?? null, tb?.mul(a) ?? null));
/** a / b (broadcast); plain numbers are constants. */
export const div = (a: TensorLike, b: TensorLike): Tensor =>
  binary('div', a, b, nd.div, (g) => [needs(a) ? g.div(b) : null, needs(b) ? g.mul(a).div(t(b, a).square()).neg() : null],
    (ta, tb) => sumTangents(ta?.div(b) ?? null, tb ? tb.mul(a).div(t(b, a).square()).neg() : null));

/** a ** b; d/da = b a^(b-1), d/db = a^b log(a). */
export function pow(a: TensorLike, b: TensorLike): Tensor {
  if (a instanceof Tensor && typeof b === 'number') {
    return unary('pow', a, (x) => nd.pow(x, b), (g) => (b === 0 ? g.mul(0) : g.mul(a.pow(b - 1)).mul(b)));
  }
  // As PyTorch: at b = 0 the gradient for a is 0 (not 0 * inf), and at a = 0
  // with b >= 0 the gradient for b is 0 (not 0 * log 0).
  const da = (g: Tensor): Tensor => where(t(b, a).eq(0), 0, g.mul(t(b, a)).mul(t(a, b).pow(t(b, a).sub(1))));
  const db = (g: Tensor, out: Tensor): Tensor => where(c(nd.logicalAnd(nd.eq(t(a, b).data, 0), nd.ge(t(b, a).data, 0))), 0, g.mul(out).mul(t(a, b).log()));
  return binary('pow', a, b, (x, y) => nd.pow(x, y), (g, out) => [needs(a) ? da(g) : null, needs(b) ? db(g, out) : null],
    (ta, tb, out) => sumTangents(ta ? da(ta) : null, tb ? db(tb, out) : null), 'operands and output');
}

/** Ties split the gradient evenly, as in PyTorch. */
function tieSplit(a: TensorLike, b: TensorLike, pick: 'gt' | 'lt'): [Tensor, Tensor] {
  const ad = t(a, b).data;
  const bd = t(b, a).data;
  const win = nd.add(nd.binaryOp(pick, ad, bd), nd.mul(nd.eq(ad, bd), 0.5));
  const lose = nd.add(nd.binaryOp(pick, bd, ad), nd.mul(nd.eq(ad, bd), 0.5));
  return [c(win), c(lose)];
}

/** The larger of a and b, elementwise; on ties the gradient is split equally, as PyTorch. */
export const maximum = (a: TensorLike, b: TensorLike): Tensor => binary('maximum', a, b, nd.maximum, (g) => {
  const [wa, wb] = tieSplit(a, b, 'gt');
  return [g.mul(wa), g.mul(wb)];
}, (ta, tb) => {
  const [wa, wb] = tieSplit(a, b, 'gt');
  return sumTangents(ta?.mul(wa) ?? null, tb?.mul(wb) ?? null);
});
/** The smaller of a and b, elementwise; on ties the gradient is split equally, as PyTorch. */
export const minimum = (a: TensorLike, b: TensorLike): Tensor => binary('minimum', a, b, nd.minimum, (g) => {
  const [wa, wb] = tieSplit(a, b, 'lt');
  return [g.mul(wa), g.mul(wb)];
}, (ta, tb) => {
  const [wa, wb] = tieSplit(a, b, 'lt');
  return sumTangents(ta?.mul(wa) ?? null, tb?.mul(wb) ?? null);
});

/** -x; gradient -g. */
export const neg = (x: Tensor): Tensor => unary('neg', x, nd.neg, (g) => g.neg(), 'none');
/** |x|; gradient g * sign(x) (0 at 0). */
export const abs = (x: Tensor): Tensor => unary('abs', x, nd.abs, (g) => g.mul(c(nd.sign(x.data))));
/** e^x; gradient g * e^x. */
export const exp = (x: Tensor): Tensor => unary('exp', x, nd.exp, (g, out) => g.mul(out), 'output');
/** The natural logarithm; gradient g / x. */
export const log = (x: Tensor): Tensor => unary('log', x, nd.log, (g) => g.div(x));
/** log(1 + x); gradient g / (1 + x). */
export const log1p = (x: Tensor): Tensor => unary('log1p', x, nd.log1p, (g) => g.div(x.add(1)));
/** The square root; gradient g / (2 sqrt(x)). */
export const sqrt = (x: Tensor): Tensor => unary('sqrt', x, nd.sqrt, (g, out) => g.div(out.mul(2)), 'output');
/** 1 / sqrt(x); gradient -g / (2 x^(3/2)). */
export const rsqrt = (x: Tensor): Tensor => unary('rsqrt', x, nd.rsqrt, (g, out) => g.mul(out.pow(3)).mul(-0.5), 'output');
/** x^2; gradient 2 x g. */
export const square = (x: Tensor): Tensor => unary('square', x, nd.square, (g) => g.mul(x).mul(2));
/** 1 / x; gradient -g / x^2. */
export const reciprocal = (x: Tensor): Tensor => unary('reciprocal', x, nd.reciprocal, (g, out) => g.mul(out.square()).neg(), 'output');
/** The sine; gradient g cos(x). */
export const sin = (x: Tensor): Tensor => unary('sin', x, nd.sin, (g) => g.mul(x.cos()));
/** The cosine; gradient -g sin(x). */
export const cos = (x: Tensor): Tensor => unary('cos', x, nd.cos, (g) => g.mul(x.sin()).neg());
/** The hyperbolic tangent; gradient g (1 - tanh(x)^2). */
// 1 - y rather than (-y) + 1: the same value (negation is exact), one kernel instead of two.
export const tanh = (x: Tensor): Tensor => unary('tanh', x, nd.tanh, (g, out) => g.mul(sub(1, out.square())), 'output');
/** 1 / (1 + e^-x); gradient g s (1 - s). */
export const sigmoid = (x: Tensor): Tensor => unary('sigmoid', x, nd.sigmoid, (g, out) => sigmoidGrad(g, out), 'output');
/** g s (1 - s) from the output s: one kernel in a plain backward, the composed ops where their graph is recorded (createGraph, jvp). */
const sigmoidGrad = (g: Tensor, out: Tensor): Tensor =>
  (isGradEnabled() || isForwardADActive() ? g.mul(out).mul(sub(1, out)) : new Tensor(nd.sigmoidBackward(g.data, out.data)));
// The masks below are constants: their derivative is zero almost everywhere.
/** max(x, 0); gradient g where x > 0, else 0. */
// From the output, as PyTorch (relu(x) > 0 exactly where x > 0): x itself may be overwritten.
export const relu = (x: Tensor): Tensor => unary('relu', x, nd.relu, (g, out) => reluGrad(g, out), 'output');
/**
 * relu's gradient: g where relu's output is > 0, else 0 (torch's
 * threshold_backward; one kernel, where g * step(output) took two). Linear in
 * g with a constant mask, so its own gradient and tangent are the same map.
 */
function reluGrad(g: Tensor, out: Tensor): Tensor {
  const mask = out.data;
  const masked = (v: Tensor): Tensor => record('reluBackward', nd.reluBackward(v.data, mask), [v], (gg) => [masked(gg)], ([tv]) => masked(tv as Tensor));
  return masked(g);
}
/** -1, 0 or 1; its gradient is 0. */
export const sign = (x: Tensor): Tensor => unary('sign', x, nd.sign, (g) => g.mul(0), 'none');

/** x for x > 0, negativeSlope * x otherwise (torch.nn.functional.leaky_relu). */
export function leakyRelu(x: Tensor, negativeSlope = 0.01): Tensor {
  // where(.., 1, slope) would be float32 and round the slope; scale g in its own dtype instead.
  return unary('leakyRelu', x, (d) => nd.leakyRelu(d, negativeSlope), (g) => where(c(nd.gt(x.data, 0)), g, g.mul(negativeSlope)));
}

/** d/dx erf(x) = 2/sqrt(pi) exp(-x^2). */
export const erf = (x: Tensor): Tensor => unary('erf', x, nd.erf, (g) => g.mul(x.square().neg().exp()).mul(1.1283791670955126));

/** Exact: Phi(x) + x phi(x). Tanh form: differentiated through its formula. */
export function gelu(x: Tensor, options: { approximate?: 'none' | 'tanh' } = {}): Tensor {
  const mode = options.approximate ?? 'none';
  if (mode === 'tanh') {
    return unary('gelu', x, (d) => nd.gelu(d, options), (g) => {
      const k = 0.7978845608028654;
      const inner = x.add(x.pow(3).mul(0.044715)).mul(k);
      const th = inner.tanh();
      const dInner = x.square().mul(3 * 0.044715).add(1).mul(k);
      return g.mul(th.add(1).mul(0.5).add(x.mul(0.5).mul(th.square().neg().add(1)).mul(dInner)));
    });
  }
  return unary('gelu', x, (d) => nd.gelu(d, options), (g) => {
    const cdf = x.mul(Math.SQRT1_2).erf().add(1).mul(0.5);
    const pdf = x.square().mul(-0.5).exp().mul(0.3989422804014327);
    return g.mul(cdf.add(x.mul(pdf)));
  });
}

/** d/dx softplus = sigmoid(beta x) below the threshold, 1 above (where the op is linear). */
export function softplus(x: Tensor, options: { beta?: number; threshold?: number } = {}): Tensor {
  const beta = options.beta ?? 1;
  const threshold = options.threshold ?? 20;
  return unary('softplus', x, (d) => nd.softplus(d, options), (g) => {
    const linear = c(nd.gt(nd.mul(x.data, beta), threshold));
    return g.mul(where(linear, 1, x.mul(beta).sigmoid()));
  });
}

/** The gradient passes where min <= x <= max, as in PyTorch. */
export function clamp(x: Tensor, min?: number, max?: number): Tensor {
  return unary('clamp', x, (d) => nd.clamp(d, min, max), (g) => {
    const inside = nd.logicalAnd(nd.ge(x.data, min ?? -Infinity), nd.le(x.data, max ?? Infinity));
    return g.mul(c(inside));
  });
}

/** `a` where `cond` else `b`; cond is a constant bool tensor. */
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  const cd = cond.data;
  const out = record('where', nd.where(cd, arr(a), arr(b)), [constantOf(a), constantOf(b)], (g) => [
    a instanceof Tensor ? where(cond, g, 0) : null,
    b instanceof Tensor ? where(cond, 0, g) : null,
  ], ([ta, tb]) => where(cond, ta ?? 0, tb ?? 0));
  return saveForBackward(out, { condition: cond });
}

// Comparisons are not differentiable: they return bool tensors without a graph.
const compare = (op: nd.BinaryOp) => (a: TensorLike, b: TensorLike): Tensor => new Tensor(nd.binaryOp(op, arr(a), arr(b)));
/** a == b, elementwise; a bool Tensor outside the graph. */
export const eq = compare('eq');
/** a != b, elementwise; a bool Tensor outside the graph. */
export const ne = compare('ne');
/** a < b, elementwise; a bool Tensor outside the graph. */
export const lt = compare('lt');
/** a <= b, elementwise; a bool Tensor outside the graph. */
export const le = compare('le');
/** a > b, elementwise; a bool Tensor outside the graph. */
export const gt = compare('gt');
/** a >= b, elementwise; a bool Tensor outside the graph. */
export const ge = compare('ge');
