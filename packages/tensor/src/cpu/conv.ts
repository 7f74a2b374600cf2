/**
 * im2col / col2im for the CPU backend. Row `(c*kh + ki)*kw + kj` of the
 * columns holds, for every output position (oh, ow), the input element
 * x[c, oh*sh - ph + ki*dh, ow*sw - pw + kj*dw] (zero outside the input).
 * Both loops walk whole output rows: the valid `ow` range of each row is
 * computed once, so the inner loop has no bounds tests and, for stride 1,
 * reads the input contiguously.
 */
import type { Conv2dGeometry } from '../backend.js';
import type { NDArray } from '../ndarray.js';
import { type Shape } from '../shape.js';
import { allocUninit } from './alloc.js';
import { cpuData, wrap } from './cpu-backend.js';
import { getKernels } from './wasm/kernels.js';
import { withAddresses, withStaging } from './wasm/resident.js';

/** Rows at least this long are copied with TypedArray.set (its fixed cost beats a JS loop only on long rows). */
const SET_MIN = 64;

/** First and one-past-last `o` in [0, n) with 0 <= o*s + off < size. */
function validRange(off: number, s: number, size: number, n: number): [number, number] {
  const lo = Math.min(n, Math.max(0, Math.ceil(-off / s)));
  const hi = Math.min(n, Math.max(lo, Math.floor((size - 1 - off) / s) + 1));
  return [lo, hi];
}

/** x [N,C,H,W] -> columns [N, C*kh*kw, outH*outW] (zeros where the window covers padding). */
export function im2col(x: NDArray, g: Conv2dGeometry, outSize: [number, number]): NDArray {
  const xc = x.contiguous();
  const [N, C, H, W] = xc.shape;
  const [kh, kw] = g.kernel;
  const [sh, sw] = g.stride;
  const [ph, pw] = g.padding;
  const [dh, dw] = g.dilation;
  const [oh, ow] = outSize;
  const L = oh * ow;
  const xd = cpuData(xc);
  // Uninitialized (resident when large, so the GEMM reads it in place): every element is written
  // below, the copies or the zeros of the padding.
  const out = allocUninit(xc.dtype, N * C * kh * kw * L);
  // float32 on the wasm kernel: the same rows, by bulk copies and fills.
  if (out instanceof Float32Array && xd instanceof Float32Array && wasmIm2col(xd, xc.offset, N * C, H, W, g, outSize, out)) {
    return wrap(out, [N, C * kh * kw, L]);
  }
  // With stride 1 and outW == W (e.g. 'same' padding), the input and output
  // rows have one pitch, so each (plane, ki, kj) block is one shifted
  // contiguous copy: TypedArray.set runs at memcpy speed, far faster than a
  // JS loop. The elements that wrapped around from the neighbouring row are
  // zeroed afterwards.
  const blockCopy = sh === 1 && sw === 1 && ow === W;
  // Planes outermost: each input plane is read from cache for all its kh*kw rows.
  for (let p = 0; p < N * C; p++) {
    const plane = xc.offset + p * H * W;
    for (let ki = 0; ki < kh; ki++) {
      const hoff = ki * dh - ph;
      const [ohLo, ohHi] = validRange(hoff, sh, H, oh);
      for (let kj = 0; kj < kw; kj++) {
        const woff = kj * dw - pw;
        const [owLo, owHi] = validRange(woff, sw, W, ow);
        const rowBase = (p * kh * kw + ki * kw + kj) * L;
        if (owLo >= owHi || ohLo >= ohHi) {
          out.fill(0, rowBase, rowBase + L);
          continue;
        }
        // Output rows whose window lies wholly in the top or bottom padding.
        out.fill(0, rowBase, rowBase + ohLo * ow);
        out.fill(0, rowBase + ohHi * ow, rowBase + L);
        if (blockCopy) {
          const first = ohLo * ow + owLo;
          const last = (ohHi - 1) * ow + owHi;
          const src = plane + hoff * W + woff;
          out.set(xd.subarray(src + first, src + last), rowBase + first);
          for (let r = ohLo; r < ohHi; r++) {
            const row = rowBase + r * ow;
            for (let o = 0; o < owLo; o++) out[row + o] = 0;
            for (let o = owHi; o < ow; o++) out[row + o] = 0;
          }
          continue;
        }
        for (let r = ohLo; r < ohHi; r++) {
          const src = plane + (r * sh + hoff) * W + woff;
          const dst = rowBase + r * ow;
          for (let o = 0; o < owLo; o++) out[dst + o] = 0;
          for (let o = owHi; o < ow; o++) out[dst + o] = 0;
          if (sw === 1) {
            if (owHi - owLo >= SET_MIN) out.set(xd.subarray(src + owLo, src + owHi), dst + owLo);
            else for (let o = owLo; o < owHi; o++) out[dst + o] = xd[src + o];
          } else {
            for (let o = owLo, s = src + owLo * sw; o < owHi; o++, s += sw) out[dst + o] = xd[s];
          }
        }
      }
    }
  }
  return wrap(out, [N, C * kh * kw, L]);
}

/** Adjoint of im2col: columns [N, C*kh*kw, outH*outW] back to [N,C,H,W], overlaps summed. */
export function col2im(cols: NDArray, g: Conv2dGeometry, inputShape: Shape, outSize: [number, number]): NDArray {
  const cc = cols.contiguous();
  const [N, C, H, W] = inputShape;
  const [kh, kw] = g.kernel;
  const [sh, sw] = g.stride;
  const [ph, pw] = g.padding;
  const [dh, dw] = g.dilation;
  const [oh, ow] = outSize;
  const L = oh * ow;
  const cd = cpuData(cc);
  const co = cc.offset;
  // Zeroed explicitly: a reused (resident) block costs no page faults, a fresh zeroed one does.
  const out = allocUninit(cc.dtype, N * C * H * W).fill(0);
  // Planes outermost so each output plane stays in cache while its kh*kw rows are added.
  for (let p = 0; p < N * C; p++) {
    const plane = p * H * W;
    for (let ki = 0; ki < kh; ki++) {
      const hoff = ki * dh - ph;
      const [ohLo, ohHi] = validRange(hoff, sh, H, oh);
      for (let kj = 0; kj < kw; kj++) {
        const woff = kj * dw - pw;
        const [owLo, owHi] = validRange(woff, sw, W, ow);
        if (owLo >= owHi) continue;
        const rowBase = co + (p * kh * kw + ki * kw + kj) * L;
        for (let r = ohLo; r < ohHi; r++) {
          const dst = plane + (r * sh + hoff) * W + woff;
          const src = rowBase + r * ow;
          if (sw === 1) {
            for (let o = owLo; o < owHi; o++) out[dst + o] += cd[src + o];
          } else {
            for (let o = owLo, d = dst + owLo * sw; o < owHi; o++, d += sw) out[d] += cd[src + o];
          }
        }
      }
    }
  }
  return wrap(out, [N, C, H, W]);
}

/**
 * The table the wasm im2col kernel reads: the valid output rows of each ki
 * and columns of each kj, as the JS loop computes them, as int32 triples
 * (lo, hi, offset): kh of them for the rows, then kw for the columns.
 */
export function im2colTable(g: Conv2dGeometry, H: number, W: number, outSize: [number, number]): Int32Array {
  const [kh, kw] = g.kernel;
  const table = new Int32Array(3 * (kh + kw));
  for (let ki = 0; ki < kh; ki++) {
    const hoff = ki * g.dilation[0] - g.padding[0];
    table.set([...validRange(hoff, g.stride[0], H, outSize[0]), hoff], 3 * ki);
  }
  for (let kj = 0; kj < kw; kj++) {
    const woff = kj * g.dilation[1] - g.padding[1];
    table.set([...validRange(woff, g.stride[1], W, outSize[1]), woff], 3 * (kh + kj));
  }
  return table;
}

/**
 * im2col of `planes` contiguous float32 planes [H, W] at `offset` on the wasm
 * kernel (bulk copies and fills); false (nothing written that the caller
 * keeps) where the kernels or the memory are unavailable.
 */
function wasmIm2col(
  x: Float32Array, offset: number, planes: number, H: number, W: number, g: Conv2dGeometry, outSize: [number, number], out: Float32Array,
): boolean {
  const k = getKernels();
  if (!k) return false;
  const [kh, kw] = g.kernel;
  const [sh, sw] = g.stride;
  const [oh, ow] = outSize;
  const table = im2colTable(g, H, W, outSize);
  return withAddresses(k, [{ data: x, offset, length: planes * H * W }], [out], ([xAt], [outAt]) =>
    withStaging(k, table.byteLength, (t) => {
      new Int32Array(k.memory.buffer, t, table.length).set(table);
      k.im2col_f32(xAt, planes, H * W, W, sh, sw, kh, kw, oh, ow, outAt, kh * kw * oh * ow, t);
      return true;
    })) ?? false;
}
