/**
 * 2-D pooling kernels for the CPU backend, following PyTorch's CPU kernels:
 * window (oh, ow) starts at (oh*sh - ph, ow*sw - pw); max pooling skips
 * positions outside the input (implicit -inf padding) and lets NaN win;
 * average pooling divides by the window clipped to the padded input
 * (countIncludePad) or to the input itself.
 */
import type { Pool2dGeometry } from '../backend.js';
import type { NDArray } from '../ndarray.js';
import { type Shape, sizeOf } from '../shape.js';
import { allocUninit } from './alloc.js';
import { cpuData, wrap } from './cpu-backend.js';
import { wasmMaxPool2x2, wasmMaxPool2x2Backward } from './wasm/pool.js';

/** Max pooling of x [N,C,H,W]: values and the flat index h*W+w of each max within its plane (int32). */
export function maxPool2d(x: NDArray, g: Pool2dGeometry): [NDArray, NDArray] {
  const xc = x.contiguous();
  const [N, C, H, W] = xc.shape;
  const [oh, ow] = g.outSize;
  const xd = cpuData(xc);
  const values = allocUninit(xc.dtype, N * C * oh * ow); // every element written below
  const indices = new Int32Array(N * C * oh * ow);
  // 2x2 windows with stride 2 on float32, every window inside the input (ceil mode may add a
  // clipped last one): four outputs per vector, the same values and indices.
  const onKernel = values instanceof Float32Array && xd instanceof Float32Array && isPlain2x2(g) && 2 * oh <= H && 2 * ow <= W
    && wasmMaxPool2x2(xd, xc.offset, N * C, H, W, oh, ow, values, indices);
  if (!onKernel) for (let p = 0; p < N * C; p++) maxWindows(xd, xc.offset + p * H * W, H, W, g, values, indices, p * oh * ow);
  const shape = [N, C, oh, ow];
  return [wrap(values, shape), wrap(indices, shape)];
}

function isPlain2x2(g: Pool2dGeometry): boolean {
  const is = (pair: readonly number[], v: number): boolean => pair[0] === v && pair[1] === v;
  return is(g.kernel, 2) && is(g.stride, 2) && is(g.padding, 0) && is(g.dilation, 1);
}

/** One plane's windows, output (r, c) at `out + r * ow + c`. */
function maxWindows(
  xd: ArrayLike<number>, plane: number, H: number, W: number, g: Pool2dGeometry,
  values: { [i: number]: number }, indices: Int32Array, out: number,
): void {
  const [kh, kw] = g.kernel;
  const [sh, sw] = g.stride;
  const [ph, pw] = g.padding;
  const [dh, dw] = g.dilation;
  const [oh, ow] = g.outSize;
  for (let r = 0; r < oh; r++) {
    // First in-bounds row of the window, and one past its last.
    let h0 = r * sh - ph;
    while (h0 < 0) h0 += dh;
    const h1 = Math.min(r * sh - ph + (kh - 1) * dh + 1, H);
    for (let c = 0; c < ow; c++) {
      let w0 = c * sw - pw;
      while (w0 < 0) w0 += dw;
      const w1 = Math.min(c * sw - pw + (kw - 1) * dw + 1, W);
      // As in PyTorch, an all -inf window reports its first in-bounds position.
      let best = h0 < H && w0 < W ? h0 * W + w0 : -1;
      let bv = -Infinity;
      for (let ih = h0; ih < h1; ih += dh) {
        const rowOff = ih * W;
        for (let iw = w0; iw < w1; iw += dw) {
          const v = xd[plane + rowOff + iw];
          // As in PyTorch, NaN wins (the last NaN, as it keeps replacing).
          if (v > bv || v !== v) {
            bv = v;
            best = rowOff + iw;
          }
        }
      }
      values[out + r * ow + c] = bv;
      indices[out + r * ow + c] = best;
    }
  }
}

/** zeros(inputShape) with grad[n,c,i,j] added at the recorded flat index of plane (n,c). */
export function maxPool2dBackward(grad: NDArray, indices: NDArray, inputShape: Shape): NDArray {
  const gc = grad.contiguous();
  const ic = indices.contiguous();
  const gd = cpuData(gc);
  const id = cpuData(ic);
  const [N, C, H, W] = inputShape;
  const plane = H * W;
  const perPlane = gc.shape[2] * gc.shape[3];
  const out = allocUninit(gc.dtype, sizeOf(inputShape));
  // 2x2 windows with stride 2 (indices in their windows, checked by the kernel) on float32: no scatter.
  if (out instanceof Float32Array && gd instanceof Float32Array && id instanceof Int32Array
    && wasmMaxPool2x2Backward(gd, gc.offset, id, ic.offset, N * C, H, W, gc.shape[2], gc.shape[3], out)) {
    return wrap(out, [N, C, H, W]);
  }
  out.fill(0);
  for (let p = 0; p < N * C; p++) {
    const ob = p * plane;
    const gb = gc.offset + p * perPlane;
    const ib = ic.offset + p * perPlane;
    for (let k = 0; k < perPlane; k++) {
      const i = id[ib + k];
      if (i >= 0 && i < plane) out[ob + i] += gd[gb + k];
    }
  }
  return wrap(out, [N, C, H, W]);
}

/** The clipped window of output (r, c) along one axis and the padded extent used as divisor. */
interface Window {
  start: number;
  end: number;
  padded: number;
}

/** Per output index along one axis: its window in the input and its extent within the padded input. */
function windows(out: number, stride: number, pad: number, k: number, size: number): Window[] {
  const ws: Window[] = new Array(out);
  for (let i = 0; i < out; i++) {
    const s = i * stride - pad;
    const e = Math.min(s + k, size + pad);
    ws[i] = { start: Math.max(s, 0), end: Math.min(e, size), padded: e - s };
  }
  return ws;
}

function divisor(g: Pool2dGeometry, hw: Window, ww: Window): number {
  return g.countIncludePad ? hw.padded * ww.padded : (hw.end - hw.start) * (ww.end - ww.start);
}

/** Average pooling of x [N,C,H,W]; an empty window (possible in ceil mode) gives 0. */
export function avgPool2d(x: NDArray, g: Pool2dGeometry): NDArray {
  const xc = x.contiguous();
  const [N, C, H, W] = xc.shape;
  const [oh, ow] = g.outSize;
  const hws = windows(oh, g.stride[0], g.padding[0], g.kernel[0], H);
  const wws = windows(ow, g.stride[1], g.padding[1], g.kernel[1], W);
  const xd = cpuData(xc);
  const out = allocUninit(xc.dtype, N * C * oh * ow);
  let o = 0;
  for (let p = 0; p < N * C; p++) {
    const plane = xc.offset + p * H * W;
    for (let r = 0; r < oh; r++) {
      const hw = hws[r];
      for (let c = 0; c < ow; c++) {
        const ww = wws[c];
        if (hw.start >= hw.end || ww.start >= ww.end) {
          out[o++] = 0;
          continue;
        }
        let s = 0;
        for (let ih = hw.start; ih < hw.end; ih++) {
          const row = plane + ih * W;
          for (let iw = ww.start; iw < ww.end; iw++) s += xd[row + iw];
        }
        out[o++] = s / divisor(g, hw, ww);
      }
    }
  }
  return wrap(out, [N, C, oh, ow]);
}

/** Adjoint of avgPool2d: each output gradient, divided by its window's divisor, spread over the window. */
export function avgPool2dBackward(grad: NDArray, inputShape: Shape, g: Pool2dGeometry): NDArray {
  const gc = grad.contiguous();
  const [N, C, H, W] = inputShape;
  const [oh, ow] = g.outSize;
  const hws = windows(oh, g.stride[0], g.padding[0], g.kernel[0], H);
  const wws = windows(ow, g.stride[1], g.padding[1], g.kernel[1], W);
  const gd = cpuData(gc);
  const out = allocUninit(gc.dtype, N * C * H * W).fill(0);
  let o = gc.offset;
  for (let p = 0; p < N * C; p++) {
    const plane = p * H * W;
    for (let r = 0; r < oh; r++) {
      const hw = hws[r];
      for (let c = 0; c < ow; c++) {
        const ww = wws[c];
        const gv = gd[o++];
        if (hw.start >= hw.end || ww.start >= ww.end) continue;
        const v = gv / divisor(g, hw, ww);
        for (let ih = hw.start; ih < hw.end; ih++) {
          const row = plane + ih * W;
          for (let iw = ww.start; iw < ww.end; iw++) out[row + iw] += v;
        }
      }
    }
  }
  return wrap(out, [N, C, H, W]);
}
