import * as nd from '@normlab/tensor';
import { record, tangentsOrZeros } from '../function.js';
import { Tensor } from '../tensor.js';

function checkList(op: string, xs: readonly Tensor[]): void {
  if (!Array.isArray(xs)) throw new TypeError(`${op}: expected an array of Tensors`);
  xs.forEach((x, i) => {
    if (!(x instanceof Tensor)) throw new TypeError(`${op}: item ${i} is not a Tensor`);
  });
}

/** Concatenates along `dim`; each input's gradient is its slab of the output's. */
export function cat(xs: readonly Tensor[], dim = 0): Tensor {
  checkList('cat', xs);
  const out = nd.cat(xs.map((x) => x.data), dim);
  const d = nd.normalizeDim('cat', dim, out.ndim);
  const starts: number[] = [];
  let s = 0;
  for (const x of xs) {
    starts.push(s);
    // PyTorch skips legacy 1-D empty tensors in cat; they get an empty gradient.
    s += x.ndim === out.ndim ? x.shape[d] : 0;
  }
  return record('cat', out, xs, (g) => xs.map((x, i) => (x.requiresGrad && x.ndim === out.ndim ? g.narrow(d, starts[i], x.shape[d]) : null)),
    (ts) => cat(tangentsOrZeros(ts, xs), dim));
}

/** Stacks equal-shaped tensors along a new dim `dim`. */
export function stack(xs: readonly Tensor[], dim = 0): Tensor {
  checkList('stack', xs);
  const out = nd.stack(xs.map((x) => x.data), dim);
  const d = nd.normalizeDim('stack', dim, out.ndim);
  return record('stack', out, xs, (g) => xs.map((x, i) => (x.requiresGrad ? g.select(d, i) : null)), (ts) => stack(tangentsOrZeros(ts, xs), dim));
}

/** Views of consecutive pieces along `dim`: equal pieces of `size` (the last may be smaller) or the listed sizes. */
export function split(x: Tensor, splitSizeOrSections: number | readonly number[], dim = 0): Tensor[] {
  return piecesOf(x, nd.split(x.data, splitSizeOrSections, dim), dim);
}

/** `chunks` views along `dim`, as torch.chunk (the last may be smaller; fewer if the dim is too short). */
export function chunk(x: Tensor, chunks: number, dim = 0): Tensor[] {
  return piecesOf(x, nd.chunk(x.data, chunks, dim), dim);
}

/** Re-creates validated pieces as differentiable narrows of x. */
function piecesOf(x: Tensor, pieces: readonly nd.NDArray[], dim: number): Tensor[] {
  const d = nd.normalizeDim('split', dim, x.ndim);
  let start = 0;
  return pieces.map((p) => {
    const t = x.narrow(d, start, p.shape[d]);
    start += p.shape[d];
    return t;
  });
}
