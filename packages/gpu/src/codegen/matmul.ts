/** Batched matrix products. */
import type { KernelDef } from '../device.js';
import { type View, divmodChain, fn, linear } from './common.js';

/** Unrolled this many times with independent accumulators (latency-bound otherwise). */
const MATMUL_UNROLL = 4;

/** c[b, m, n] = sum_k a[b, m, k] * b[b, k, n], a and b strided views (transposes and broadcast batches included). */
export function matmulKernel(B: number, M: number, K: number, N: number, a: View, b: View): KernelDef {
  const lines: string[] = ['const t = this.thread.x;'];
  const outShape = [B, M, N];
  const names = divmodChain(outShape, 't', 'i', lines);
  const [ib, im, in_] = names;
  lines.push(
    `const ba = ${linear(a.offset, [ib, im], [B === 1 ? 0 : a.strides[0], a.strides[1]])};`,
    `const bb = ${linear(b.offset, [ib, in_], [B === 1 ? 0 : b.strides[0], b.strides[2]])};`,
  );
  const sak = a.strides[2];
  const sbk = b.strides[1];
  const at = (k: string) => `a0[ba + ${k} * ${sak}] * a1[bb + ${k} * ${sbk}]`;
  const blocks = Math.floor(K / MATMUL_UNROLL);
  const rest = K - blocks * MATMUL_UNROLL;
  lines.push('let s0 = 0.0;', 'let s1 = 0.0;', 'let s2 = 0.0;', 'let s3 = 0.0;');
  if (blocks > 0) {
    lines.push(
      `for (let kb = 0; kb < ${blocks}; kb++) {`,
      `  const k = kb * ${MATMUL_UNROLL};`,
      `  s0 = s0 + ${at('k')};`,
      `  s1 = s1 + ${at('(k + 1)')};`,
      `  s2 = s2 + ${at('(k + 2)')};`,
      `  s3 = s3 + ${at('(k + 3)')};`,
      '}',
    );
  }
  for (let r = 0; r < rest; r++) lines.push(`s${r} = s${r} + ${at(String(blocks * MATMUL_UNROLL + r))};`);
  lines.push('return (s0 + s1) + (s2 + s3);');
  return { src: fn(2, lines), loopMax: blocks, args: ['Array', 'Array'], n: B * M * N };
}
