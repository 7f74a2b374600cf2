// WebAssembly text of the CPU kernels (float32 GEMM and elementwise helpers).
// `scripts/build-wasm.mjs` assembles it with wabt into
// `kernels-wasm.generated.ts`. The text is generated so that the register-blocked
// micro-kernel can be fully unrolled for a given MR x NR tile.
//
// GEMM layout follows GotoBLAS/BLIS: for each NC-wide column block and KC-deep
// slice, B is packed into NR-wide panels (k-major), then for each MC-tall row
// block A is packed into MR-tall panels, and the MR x NR micro-kernel walks a
// pair of panels keeping the whole C tile in SIMD registers.

/** Tile and block sizes, shared with the TypeScript side through the generated file. */
export const GEMM_PARAMS = { mr: 4, nr: 8, kc: 256, mc: 128, nc: 2048 };
/**
 * Products with at most this many rows read a row-major B in place instead of
 * packing it: packing costs about as much as the arithmetic when few row
 * panels of A reuse each packed panel (convolutions' 16 or 32 filters).
 */
const DIRECT_B_MAX_M = 64;

/** Bytes of packing scratch each thread needs (packed A block, packed B block, edge tile). */
export function scratchBytes({ mr, nr, kc, mc, nc }) {
  return (mc * kc + kc * nc + mr * nr) * 4;
}

/**
 * WAT text of the module. With `fma`, the GEMM micro-kernel accumulates with
 * relaxed SIMD's `f32x4.relaxed_madd` (one fused multiply-add where the CPU
 * has FMA, else a multiply and an add: within float32 rounding of the plain
 * kernel either way); every other kernel is the same in both modules, so their
 * results stay bit-identical to the JS loops.
 */
export function kernelsWat(p = GEMM_PARAMS, { fma = false } = {}) {
  const { mr, nr, kc, mc, nc } = p;
  if (nr % 4 !== 0) throw new Error('nr must be a multiple of 4');
  const nv = nr / 4;
  const acc = [];
  for (let r = 0; r < mr; r++) for (let v = 0; v < nv; v++) acc.push(`$c${r}_${v}`);

  // One k step of the micro-kernel: nv loads of B, mr broadcasts of A, mr*nv mul+add (or fused multiply-adds).
  const step = (ko) => {
    const lines = [];
    for (let v = 0; v < nv; v++) lines.push(`(local.set $b${v} (v128.load offset=${(ko * nr + v * 4) * 4} (local.get $pb)))`);
    for (let r = 0; r < mr; r++) {
      lines.push(`(local.set $a (v128.load32_splat offset=${(ko * mr + r) * 4} (local.get $pa)))`);
      for (let v = 0; v < nv; v++) {
        const c = `$c${r}_${v}`;
        lines.push(fma
          ? `(local.set ${c} (f32x4.relaxed_madd (local.get $a) (local.get $b${v}) (local.get ${c})))`
          : `(local.set ${c} (f32x4.add (local.get ${c}) (f32x4.mul (local.get $a) (local.get $b${v}))))`);
      }
    }
    return lines.join('\n      ');
  };

  const storeTile = [];
  for (let r = 0; r < mr; r++) {
    const row = r === 0 ? '(local.get $c)' : `(i32.add (local.get $c) (i32.mul (local.get $ldcb) (i32.const ${r})))`;
    storeTile.push(`(local.set $p ${row})`);
    for (let v = 0; v < nv; v++) {
      storeTile.push(`(if (local.get $mode)
        (then (v128.store offset=${v * 16} (local.get $p) (f32x4.add (v128.load offset=${v * 16} (local.get $p)) (local.get $c${r}_${v}))))
        (else (v128.store offset=${v * 16} (local.get $p) (local.get $c${r}_${v}))))`);
    }
  }

  const microKernel = (name, extraParam, bStep) => `(func ${name} (param $kc i32) (param $pa i32) (param $pb i32) ${extraParam} (param $c i32) (param $ldc i32) (param $mode i32)
    (local $a v128) ${Array.from({ length: nv }, (_, v) => `(local $b${v} v128)`).join(' ')}
    ${acc.map((c) => `(local ${c} v128)`).join(' ')}
    (local $k i32) (local $p i32) (local $ldcb i32)
    (local.set $k (local.get $kc))
    ;; one k step per iteration: unrolling lets V8 hoist loads past the 16 xmm registers and spill
    (loop $steps
      ${step(0)}
      (local.set $pa (i32.add (local.get $pa) (i32.const ${mr * 4})))
      (local.set $pb (i32.add (local.get $pb) ${bStep}))
      (br_if $steps (local.tee $k (i32.sub (local.get $k) (i32.const 1)))))
    (local.set $ldcb (i32.shl (local.get $ldc) (i32.const 2)))
    ${storeTile.join('\n    ')})`;

  return `(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; C[mr x nr tile at $c, row stride $ldc floats] (=|+=) packed A panel @ packed B panel.
  ;; $mode 0 stores, 1 accumulates. $kc >= 1.
  ${microKernel('$kernel', '', `(i32.const ${nr * 4})`)}

  ;; The same with B read where it lies: nr floats of each k row, rows $ldbb bytes apart
  ;; (a row-major B needs no packing when few row panels of A reuse it).
  ${microKernel('$kernel_b', '(param $ldbb i32)', '(local.get $ldbb)')}

  ;; Packs $count rows of a strided matrix into panels $w wide, each $kc deep:
  ;; dst[panel][k][i] = src[(panel*$w + i) * $sw + k * $sk], zero beyond $count.
  (func $pack (param $dst i32) (param $src i32) (param $count i32) (param $kc i32) (param $sw i32) (param $sk i32) (param $w i32)
    (local $p0 i32) (local $n i32) (local $i i32) (local $k i32) (local $s i32) (local $d i32) (local $swb i32) (local $skb i32) (local $wb i32)
    (local $v0 v128) (local $v1 v128) (local $v2 v128) (local $v3 v128) (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local.set $swb (i32.shl (local.get $sw) (i32.const 2)))
    (local.set $skb (i32.shl (local.get $sk) (i32.const 2)))
    (local.set $wb (i32.shl (local.get $w) (i32.const 2)))
    (local.set $p0 (i32.const 0))
    (block $done (loop $panels
      (br_if $done (i32.ge_u (local.get $p0) (local.get $count)))
      (local.set $n (i32.sub (local.get $count) (local.get $p0)))
      (if (i32.gt_u (local.get $n) (local.get $w)) (then (local.set $n (local.get $w))))
      (if (i32.and (i32.eq (local.get $sw) (i32.const 1)) (i32.and (i32.eq (local.get $n) (local.get $w)) (i32.eqz (i32.and (local.get $w) (i32.const 3)))))
        (then
          ;; a full panel whose rows are adjacent: copy $w floats per k with v128
          (local.set $k (i32.const 0))
          (local.set $s (local.get $src))
          (local.set $d (local.get $dst))
          (block $kd (loop $kl
            (br_if $kd (i32.ge_u (local.get $k) (local.get $kc)))
            (local.set $i (i32.const 0))
            (loop $il
              (v128.store (i32.add (local.get $d) (local.get $i)) (v128.load (i32.add (local.get $s) (local.get $i))))
              (br_if $il (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 16))) (local.get $wb))))
            (local.set $s (i32.add (local.get $s) (local.get $skb)))
            (local.set $d (i32.add (local.get $d) (local.get $wb)))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $kl))))
        (else
          (if (i32.and (i32.eq (local.get $sk) (i32.const 1)) (i32.and (i32.eq (local.get $n) (local.get $w)) (i32.eqz (i32.and (local.get $w) (i32.const 3)))))
            (then
              ;; a full panel of rows contiguous along k (a transposed operand): 4 x 4 blocks
              ;; loaded as 4 row vectors and stored as 4 column vectors (the same values, moved)
              (local.set $i (i32.const 0))
              (loop $ig
                (local.set $s (i32.add (local.get $src) (i32.mul (local.get $i) (local.get $swb))))
                (local.set $d (i32.add (local.get $dst) (i32.shl (local.get $i) (i32.const 2))))
                (local.set $k (i32.const 0))
                (block $k4d (loop $k4
                  (br_if $k4d (i32.gt_u (i32.add (local.get $k) (i32.const 4)) (local.get $kc)))
                  (local.set $v0 (v128.load (local.get $s)))
                  (local.set $v1 (v128.load (i32.add (local.get $s) (local.get $swb))))
                  (local.set $v2 (v128.load (i32.add (local.get $s) (i32.shl (local.get $swb) (i32.const 1)))))
                  (local.set $v3 (v128.load (i32.add (local.get $s) (i32.mul (local.get $swb) (i32.const 3)))))
                  ;; t0 = (v0[0], v1[0], v0[1], v1[1]), t1 = (v2[0], v3[0], v2[1], v3[1]), t2, t3 the same of lanes 2 and 3
                  (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $v0) (local.get $v1)))
                  (local.set $t1 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $v2) (local.get $v3)))
                  (local.set $t2 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $v0) (local.get $v1)))
                  (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $v2) (local.get $v3)))
                  (v128.store (local.get $d) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t1)))
                  (v128.store (i32.add (local.get $d) (local.get $wb)) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t1)))
                  (v128.store (i32.add (local.get $d) (i32.shl (local.get $wb) (i32.const 1))) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t2) (local.get $t3)))
                  (v128.store (i32.add (local.get $d) (i32.mul (local.get $wb) (i32.const 3))) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t2) (local.get $t3)))
                  (local.set $s (i32.add (local.get $s) (i32.const 16)))
                  (local.set $d (i32.add (local.get $d) (i32.shl (local.get $wb) (i32.const 2))))
                  (local.set $k (i32.add (local.get $k) (i32.const 4)))
                  (br $k4)))
                ;; the last kc % 4 steps one by one
                (block $ktd (loop $kt
                  (br_if $ktd (i32.ge_u (local.get $k) (local.get $kc)))
                  (f32.store (local.get $d) (f32.load (local.get $s)))
                  (f32.store offset=4 (local.get $d) (f32.load (i32.add (local.get $s) (local.get $swb))))
                  (f32.store offset=8 (local.get $d) (f32.load (i32.add (local.get $s) (i32.shl (local.get $swb) (i32.const 1)))))
                  (f32.store offset=12 (local.get $d) (f32.load (i32.add (local.get $s) (i32.mul (local.get $swb) (i32.const 3)))))
                  (local.set $s (i32.add (local.get $s) (i32.const 4)))
                  (local.set $d (i32.add (local.get $d) (local.get $wb)))
                  (local.set $k (i32.add (local.get $k) (i32.const 1)))
                  (br $kt)))
                (br_if $ig (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 4))) (local.get $w)))))
            (else (if (i32.eq (local.get $sk) (i32.const 1))
            (then
              ;; each row is contiguous along k: read rows, scatter into the panel
              (local.set $i (i32.const 0))
              (block $id (loop $il
                (br_if $id (i32.ge_u (local.get $i) (local.get $w)))
                (local.set $d (i32.add (local.get $dst) (i32.shl (local.get $i) (i32.const 2))))
                (local.set $k (i32.const 0))
                (if (i32.lt_u (local.get $i) (local.get $n))
                  (then
                    (local.set $s (i32.add (local.get $src) (i32.mul (local.get $i) (local.get $swb))))
                    (block $kd (loop $kl
                      (br_if $kd (i32.ge_u (local.get $k) (local.get $kc)))
                      (f32.store (local.get $d) (f32.load (local.get $s)))
                      (local.set $s (i32.add (local.get $s) (i32.const 4)))
                      (local.set $d (i32.add (local.get $d) (local.get $wb)))
                      (local.set $k (i32.add (local.get $k) (i32.const 1)))
                      (br $kl))))
                  (else
                    (block $kd (loop $kl
                      (br_if $kd (i32.ge_u (local.get $k) (local.get $kc)))
                      (f32.store (local.get $d) (f32.const 0))
                      (local.set $d (i32.add (local.get $d) (local.get $wb)))
                      (local.set $k (i32.add (local.get $k) (i32.const 1)))
                      (br $kl)))))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br $il))))
            (else
              ;; general strides: k outer, panel row inner
              (local.set $k (i32.const 0))
              (local.set $d (local.get $dst))
              (block $kd (loop $kl
                (br_if $kd (i32.ge_u (local.get $k) (local.get $kc)))
                (local.set $s (i32.add (local.get $src) (i32.mul (local.get $k) (local.get $skb))))
                (local.set $i (i32.const 0))
                (block $id (loop $il
                  (br_if $id (i32.ge_u (local.get $i) (local.get $w)))
                  (if (i32.lt_u (local.get $i) (local.get $n))
                    (then
                      (f32.store (local.get $d) (f32.load (local.get $s)))
                      (local.set $s (i32.add (local.get $s) (local.get $swb))))
                    (else (f32.store (local.get $d) (f32.const 0))))
                  (local.set $d (i32.add (local.get $d) (i32.const 4)))
                  (local.set $i (i32.add (local.get $i) (i32.const 1)))
                  (br $il)))
                (local.set $k (i32.add (local.get $k) (i32.const 1)))
                (br $kl)))))))))
      (local.set $src (i32.add (local.get $src) (i32.mul (local.get $w) (local.get $swb))))
      (local.set $dst (i32.add (local.get $dst) (i32.mul (local.get $wb) (local.get $kc))))
      (local.set $p0 (i32.add (local.get $p0) (local.get $w)))
      (br $panels))))

  ;; C[M,N] (row stride $ldc) (=|+=) A[M,K] @ B[K,N]; A and B strided (strides in
  ;; floats, pointers in bytes). $acc 1 adds to C. $scratch: this thread's packing space.
  (func $gemm (export "gemm") (param $M i32) (param $N i32) (param $K i32)
      (param $a i32) (param $rsa i32) (param $csa i32)
      (param $b i32) (param $rsb i32) (param $csb i32)
      (param $c i32) (param $ldc i32) (param $acc i32) (param $scratch i32)
    (local $pA i32) (local $pB i32) (local $tile i32)
    (local $jc i32) (local $nc i32) (local $pc i32) (local $kc i32) (local $ic i32) (local $mc i32)
    (local $jr i32) (local $nr i32) (local $ir i32) (local $mr i32) (local $mode i32) (local $cp i32)
    (local $i i32) (local $j i32) (local $src i32) (local $dst i32)
    (local $direct i32) (local $bptr i32) (local $useB i32) (local $ldbb i32)
    ;; A row-major B and few rows of A: full B panels are read where they lie (no packing).
    (local.set $direct (i32.and (i32.eq (local.get $csb) (i32.const 1)) (i32.le_u (local.get $M) (i32.const ${DIRECT_B_MAX_M}))))
    (local.set $ldbb (i32.shl (local.get $rsb) (i32.const 2)))
    (local.set $pA (local.get $scratch))
    (local.set $pB (i32.add (local.get $scratch) (i32.const ${mc * kc * 4})))
    (local.set $tile (i32.add (local.get $pB) (i32.const ${kc * nc * 4})))
    (local.set $jc (i32.const 0))
    (block $jcd (loop $jcl
      (br_if $jcd (i32.ge_u (local.get $jc) (local.get $N)))
      (local.set $nc (i32.sub (local.get $N) (local.get $jc)))
      (if (i32.gt_u (local.get $nc) (i32.const ${nc})) (then (local.set $nc (i32.const ${nc}))))
      (local.set $pc (i32.const 0))
      (block $pcd (loop $pcl
        (br_if $pcd (i32.ge_u (local.get $pc) (local.get $K)))
        (local.set $kc (i32.sub (local.get $K) (local.get $pc)))
        (if (i32.gt_u (local.get $kc) (i32.const ${kc})) (then (local.set $kc (i32.const ${kc}))))
        (if (i32.eqz (local.get $direct)) (then
          (call $pack (local.get $pB)
            (i32.add (local.get $b) (i32.shl (i32.add (i32.mul (local.get $pc) (local.get $rsb)) (i32.mul (local.get $jc) (local.get $csb))) (i32.const 2)))
            (local.get $nc) (local.get $kc) (local.get $csb) (local.get $rsb) (i32.const ${nr}))))
        (local.set $mode (i32.or (local.get $acc) (i32.ne (local.get $pc) (i32.const 0))))
        (local.set $ic (i32.const 0))
        (block $icd (loop $icl
          (br_if $icd (i32.ge_u (local.get $ic) (local.get $M)))
          (local.set $mc (i32.sub (local.get $M) (local.get $ic)))
          (if (i32.gt_u (local.get $mc) (i32.const ${mc})) (then (local.set $mc (i32.const ${mc}))))
          (call $pack (local.get $pA)
            (i32.add (local.get $a) (i32.shl (i32.add (i32.mul (local.get $ic) (local.get $rsa)) (i32.mul (local.get $pc) (local.get $csa))) (i32.const 2)))
            (local.get $mc) (local.get $kc) (local.get $rsa) (local.get $csa) (i32.const ${mr}))
          (local.set $jr (i32.const 0))
          (block $jrd (loop $jrl
            (br_if $jrd (i32.ge_u (local.get $jr) (local.get $nc)))
            (local.set $nr (i32.sub (local.get $nc) (local.get $jr)))
            (if (i32.gt_u (local.get $nr) (i32.const ${nr})) (then (local.set $nr (i32.const ${nr}))))
            ;; this panel of B: in place (direct, full), packed alone (direct, edge), or from the packed block
            (local.set $useB (i32.and (local.get $direct) (i32.eq (local.get $nr) (i32.const ${nr}))))
            (local.set $bptr (i32.add (local.get $pB) (i32.shl (i32.mul (local.get $jr) (local.get $kc)) (i32.const 2))))
            (if (local.get $useB)
              (then (local.set $bptr (i32.add (local.get $b) (i32.shl
                (i32.add (i32.mul (local.get $pc) (local.get $rsb)) (i32.add (local.get $jc) (local.get $jr))) (i32.const 2)))))
              (else (if (local.get $direct) (then
                (local.set $bptr (local.get $pB))
                (call $pack (local.get $pB)
                  (i32.add (local.get $b) (i32.shl (i32.add (i32.mul (local.get $pc) (local.get $rsb)) (i32.add (local.get $jc) (local.get $jr))) (i32.const 2)))
                  (local.get $nr) (local.get $kc) (local.get $csb) (local.get $rsb) (i32.const ${nr}))))))
            (local.set $ir (i32.const 0))
            (block $ird (loop $irl
              (br_if $ird (i32.ge_u (local.get $ir) (local.get $mc)))
              (local.set $mr (i32.sub (local.get $mc) (local.get $ir)))
              (if (i32.gt_u (local.get $mr) (i32.const ${mr})) (then (local.set $mr (i32.const ${mr}))))
              (local.set $cp (i32.add (local.get $c) (i32.shl
                (i32.add (i32.mul (i32.add (local.get $ic) (local.get $ir)) (local.get $ldc)) (i32.add (local.get $jc) (local.get $jr)))
                (i32.const 2))))
              (if (i32.and (i32.eq (local.get $mr) (i32.const ${mr})) (i32.eq (local.get $nr) (i32.const ${nr})))
                (then
                  (if (local.get $useB)
                    (then (call $kernel_b (local.get $kc)
                      (i32.add (local.get $pA) (i32.shl (i32.mul (local.get $ir) (local.get $kc)) (i32.const 2)))
                      (local.get $bptr) (local.get $ldbb) (local.get $cp) (local.get $ldc) (local.get $mode)))
                    (else (call $kernel (local.get $kc)
                      (i32.add (local.get $pA) (i32.shl (i32.mul (local.get $ir) (local.get $kc)) (i32.const 2)))
                      (local.get $bptr) (local.get $cp) (local.get $ldc) (local.get $mode)))))
                (else
                  ;; edge tile: compute a full tile into scratch, then copy the valid part
                  (if (local.get $useB)
                    (then (call $kernel_b (local.get $kc)
                      (i32.add (local.get $pA) (i32.shl (i32.mul (local.get $ir) (local.get $kc)) (i32.const 2)))
                      (local.get $bptr) (local.get $ldbb) (local.get $tile) (i32.const ${nr}) (i32.const 0)))
                    (else (call $kernel (local.get $kc)
                      (i32.add (local.get $pA) (i32.shl (i32.mul (local.get $ir) (local.get $kc)) (i32.const 2)))
                      (local.get $bptr) (local.get $tile) (i32.const ${nr}) (i32.const 0))))
                  (local.set $i (i32.const 0))
                  (loop $ei
                    (local.set $src (i32.add (local.get $tile) (i32.mul (local.get $i) (i32.const ${nr * 4}))))
                    (local.set $dst (i32.add (local.get $cp) (i32.shl (i32.mul (local.get $i) (local.get $ldc)) (i32.const 2))))
                    (local.set $j (i32.const 0))
                    (loop $ej
                      (f32.store (local.get $dst)
                        (select
                          (f32.add (f32.load (local.get $dst)) (f32.load (local.get $src)))
                          (f32.load (local.get $src))
                          (local.get $mode)))
                      (local.set $src (i32.add (local.get $src) (i32.const 4)))
                      (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
                      (br_if $ej (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 1))) (local.get $nr))))
                    (br_if $ei (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $mr))))))
              (local.set $ir (i32.add (local.get $ir) (i32.const ${mr})))
              (br $irl)))
            (local.set $jr (i32.add (local.get $jr) (i32.const ${nr})))
            (br $jrl)))
          (local.set $ic (i32.add (local.get $ic) (i32.const ${mc})))
          (br $icl)))
        (local.set $pc (i32.add (local.get $pc) (i32.const ${kc})))
        (br $pcl)))
      (local.set $jc (i32.add (local.get $jc) (i32.const ${nc})))
      (br $jcl))))
${elementwiseWat()}
${batchNormWat()}
${poolWat()}
${im2colWat()}
${convImagesWat()}
)
`;
}

/**
 * Constants of the float32 exp kernel, stored by the loader as f32 at
 * EXP_CONSTS_ADDRESS and splat-loaded (one instruction; a v128.const costs several).
 * exp(x) = 2^k * e^r with k = round(x / ln 2), r = x - k ln 2 in two parts
 * (Cody-Waite, as Cephes expf), e^r = 1 + r + r^2 Q(r) with a degree-4 Q evaluated
 * by Estrin's scheme (a shorter dependency chain than Horner's: the loop is
 * latency-bound, not throughput-bound).
 */
export const EXP_CONSTS = [
  -110, 90, // clamp: e^-110 rounds to 0 and e^90 to Infinity in float32
  1.44269504088896341, 12582912, // log2(e); 1.5 * 2^23 rounds to an integer
  0.693359375, -2.12194440e-4, // ln 2 = C1 + C2, C1 exact in few bits
  // e^r = 1 + r + r^2 (q0 + q1 r + q2 r^2 + q3 r^3 + q4 r^4) on |r| <= ln(2)/2: minimax
  // for relative error (fitted by linear programming, rounded to float32), 0.17 ulp
  0.5, 0.16666559875011444, 0.04166865721344948, 0.008364541456103325, 0.0013718337286263704,
  1,
];

/**
 * Elementwise float32 kernels over contiguous buffers: \`$n\` elements rounded up
 * to whole vectors of 4 (callers pad their buffers to a multiple of 16 bytes).
 * Binary: add, sub, mul, div — IEEE single ops, so bit-identical to
 * Math.fround of the double result. exp: within 1 ulp of fround(Math.exp(x)).
 * relu and step (x > 0 ? 1 : 0): exact. Unary kernels take an unused 4th
 * argument (exp's constants), so that every unary job has one shape.
 */
function elementwiseWat() {
  // relu's gradient from its output y (torch's threshold_backward at 0): g where y <= 0 is false (NaN included), else +0.
  const reluBackward = `
  (func (export "relu_bwd_f32") (param $o i32) (param $a i32) (param $b i32) (param $n i32) (local $e i32)
    (if (i32.le_s (local.get $n) (i32.const 0)) (then (return)))
    (local.set $e (i32.add (local.get $o) (i32.shl (local.get $n) (i32.const 2))))
    (loop $l
      (v128.store (local.get $o) (v128.andnot (v128.load (local.get $a)) (f32x4.le (v128.load (local.get $b)) (v128.const f32x4 0 0 0 0))))
      (local.set $o (i32.add (local.get $o) (i32.const 16)))
      (local.set $a (i32.add (local.get $a) (i32.const 16)))
      (local.set $b (i32.add (local.get $b) (i32.const 16)))
      (br_if $l (i32.lt_u (local.get $o) (local.get $e)))))`;
  // sigmoid's gradient from its output y: (g * y) * (1 - y), each step a float32 op.
  const sigmoidBackward = `
  (func (export "sigmoid_bwd_f32") (param $o i32) (param $a i32) (param $b i32) (param $n i32) (local $e i32) (local $y v128)
    (if (i32.le_s (local.get $n) (i32.const 0)) (then (return)))
    (local.set $e (i32.add (local.get $o) (i32.shl (local.get $n) (i32.const 2))))
    (loop $l
      (local.set $y (v128.load (local.get $b)))
      (v128.store (local.get $o) (f32x4.mul (f32x4.mul (v128.load (local.get $a)) (local.get $y)) (f32x4.sub (v128.const f32x4 1 1 1 1) (local.get $y))))
      (local.set $o (i32.add (local.get $o) (i32.const 16)))
      (local.set $a (i32.add (local.get $a) (i32.const 16)))
      (local.set $b (i32.add (local.get $b) (i32.const 16)))
      (br_if $l (i32.lt_u (local.get $o) (local.get $e)))))`;
  // o = a * alpha + b * beta, the two float32 constants at $c (each product rounded, then the sum).
  const axpby = `
  (func (export "axpby_f32") (param $o i32) (param $a i32) (param $b i32) (param $n i32) (param $c i32) (local $e i32) (local $al v128) (local $be v128)
    (if (i32.le_s (local.get $n) (i32.const 0)) (then (return)))
    (local.set $al (v128.load32_splat (local.get $c)))
    (local.set $be (v128.load32_splat offset=4 (local.get $c)))
    (local.set $e (i32.add (local.get $o) (i32.shl (local.get $n) (i32.const 2))))
    (loop $l
      (v128.store (local.get $o) (f32x4.add (f32x4.mul (v128.load (local.get $a)) (local.get $al)) (f32x4.mul (v128.load (local.get $b)) (local.get $be))))
      (local.set $o (i32.add (local.get $o) (i32.const 16)))
      (local.set $a (i32.add (local.get $a) (i32.const 16)))
      (local.set $b (i32.add (local.get $b) (i32.const 16)))
      (br_if $l (i32.lt_u (local.get $o) (local.get $e)))))`;
  const binary = ['add', 'sub', 'mul', 'div'].map((op) => `
  (func (export "${op}_f32") (param $o i32) (param $a i32) (param $b i32) (param $n i32) (local $e i32)
    (if (i32.le_s (local.get $n) (i32.const 0)) (then (return)))
    (local.set $e (i32.add (local.get $o) (i32.shl (local.get $n) (i32.const 2))))
    (loop $l
      (v128.store (local.get $o) (f32x4.${op} (v128.load (local.get $a)) (v128.load (local.get $b))))
      (local.set $o (i32.add (local.get $o) (i32.const 16)))
      (local.set $a (i32.add (local.get $a) (i32.const 16)))
      (local.set $b (i32.add (local.get $b) (i32.const 16)))
      (br_if $l (i32.lt_u (local.get $o) (local.get $e)))))`).join('\n');
  const K = (v) => {
    const i = EXP_CONSTS.indexOf(v);
    if (i < 0) throw new Error(`exp constant ${v} missing`);
    return `(v128.load32_splat offset=${i * 4} (local.get $c))`;
  };
  // The constants live in v128 locals set once before the loop: V8 keeps most of
  // them in xmm registers (or spills them to the stack, read as memory operands),
  // instead of a broadcast load, with its address arithmetic, per use and vector.
  const names = ['lo', 'hi', 'log2e', 'magic', 'c1', 'c2', 'q0', 'q1', 'q2', 'q3', 'q4', 'one'];
  if (names.length !== EXP_CONSTS.length) throw new Error('exp constants and names disagree');
  const L = (name) => `(local.get $k_${name})`;
  const setConsts = names.map((n, i) => `(local.set $k_${n} ${K(EXP_CONSTS[i])})`).join('\n    ');
  // One vector: x at $a, result to $o (pmin/pmax are single instructions, min/max
  // NaN-exact sequences; they pass NaN x through). 2^k is applied as
  // 2^(k>>1) * 2^(k-(k>>1)), both normal for k in [-159, 130], so subnormal results
  // are rounded once and large ones overflow to Infinity.
  // exp of the vector 'input' (lines), the result handed to 'store' as an expression.
  const one = (off, input = `(v128.load offset=${off} (local.get $a))`, store = (v) => `(v128.store offset=${off} (local.get $o) ${v})`) => `
      (local.set $x (f32x4.pmin (f32x4.pmax ${input} ${L('lo')}) ${L('hi')}))
      (local.set $t (f32x4.add (f32x4.mul (local.get $x) ${L('log2e')}) ${L('magic')}))
      (local.set $k (i32x4.sub (local.get $t) ${L('magic')}))
      (local.set $t (f32x4.sub (local.get $t) ${L('magic')}))
      (local.set $r (f32x4.sub (f32x4.sub (local.get $x) (f32x4.mul (local.get $t) ${L('c1')})) (f32x4.mul (local.get $t) ${L('c2')})))
      (local.set $r2 (f32x4.mul (local.get $r) (local.get $r)))
      (local.set $p (f32x4.add
        (f32x4.add (f32x4.add (f32x4.mul ${L('q1')} (local.get $r)) ${L('q0')})
          (f32x4.mul (local.get $r2) (f32x4.add (f32x4.mul ${L('q3')} (local.get $r)) ${L('q2')})))
        (f32x4.mul (f32x4.mul (local.get $r2) (local.get $r2)) ${L('q4')})))
      (local.set $p (f32x4.add (f32x4.add (f32x4.mul (local.get $p) (local.get $r2)) (local.get $r)) ${L('one')}))
      (local.set $k1 (i32x4.shr_s (local.get $k) (i32.const 1)))
      (local.set $k (i32x4.sub (local.get $k) (local.get $k1)))
      ${store(`(f32x4.mul
        (f32x4.mul (local.get $p) (i32x4.shl (i32x4.add (local.get $k1) (local.get $bias)) (i32.const 23)))
        (i32x4.shl (i32x4.add (local.get $k) (local.get $bias)) (i32.const 23)))`)}`;
  // An exp-based kernel: the constants in v128 locals, then 'body' once per vector of 4.
  const expKernel = (name, extraLocals, body) => `
  (func (export "${name}") (param $o i32) (param $a i32) (param $n i32) (param $c i32)
    (local $e i32) (local $x v128) (local $t v128) (local $r v128) (local $r2 v128) (local $p v128) (local $k v128) (local $k1 v128) (local $bias v128)
    ${extraLocals}
    ${names.map((n) => `(local $k_${n} v128)`).join(' ')}
    (if (i32.le_s (local.get $n) (i32.const 0)) (then (return)))
    ${setConsts}
    (local.set $bias (v128.const i32x4 127 127 127 127))
    (local.set $e (i32.add (local.get $o) (i32.shl (local.get $n) (i32.const 2))))
    (loop $l
      ${body}
      (local.set $o (i32.add (local.get $o) (i32.const 16)))
      (local.set $a (i32.add (local.get $a) (i32.const 16)))
      (br_if $l (i32.lt_u (local.get $o) (local.get $e)))))`;
  const exp = expKernel('exp_f32', '', one(0));
  // sigmoid(x) = 1 / (1 + e) for x >= 0 and e / (1 + e) for x < 0, with e = exp(-|x|)
  // as above (within 1 ulp; e <= 1, so it never overflows, and is subnormal where the
  // result is), then the division in float64, rounded once. NaN passes through e.
  const lo64 = (v) => `(f64x2.promote_low_f32x4 ${v})`;
  const hi64 = (v) => `(f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 ${v} ${v}))`;
  // numerator: 1 where x >= 0 (or NaN), e where x < 0
  const frac = (e, neg) => `(f64x2.div (v128.bitselect ${e} (v128.const f64x2 1 1) ${neg}) (f64x2.add (v128.const f64x2 1 1) ${e}))`;
  const sigmoid = expKernel('sigmoid_f32', '(local $in v128) (local $ev v128) (local $neg v128)', `
      (local.set $in (v128.load (local.get $a)))
      ${one(0, '(f32x4.neg (f32x4.abs (local.get $in)))', (v) => `(local.set $ev ${v})`)}
      ;; x < 0 per lane, widened to the two f64 halves
      (local.set $neg (f32x4.lt (local.get $in) (v128.const f32x4 0 0 0 0)))
      (v128.store (local.get $o) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
        (f32x4.demote_f64x2_zero ${frac(lo64('(local.get $ev)'), '(i64x2.extend_low_i32x4_s (local.get $neg))')})
        (f32x4.demote_f64x2_zero ${frac(hi64('(local.get $ev)'), '(i64x2.extend_high_i32x4_s (local.get $neg))')})))`);
  // relu and the step of its gradient, branch-free (a JS loop mispredicts on every
  // other sign): f32x4.max passes NaN through and gives +0 for -0, as Math.max(x, 0);
  // the step masks 1.0 by x > 0 (0 for NaN), as (x > 0 ? 1 : 0).
  const unary = [
    ['relu', '(f32x4.max (v128.load (local.get $a)) (v128.const f32x4 0 0 0 0))'],
    ['step', '(v128.and (f32x4.gt (v128.load (local.get $a)) (v128.const f32x4 0 0 0 0)) (v128.const f32x4 1 1 1 1))'],
  ].map(([op, body]) => `
  (func (export "${op}_f32") (param $o i32) (param $a i32) (param $n i32) (param $c i32) (local $e i32)
    (if (i32.le_s (local.get $n) (i32.const 0)) (then (return)))
    (local.set $e (i32.add (local.get $o) (i32.shl (local.get $n) (i32.const 2))))
    (loop $l
      (v128.store (local.get $o) ${body})
      (local.set $o (i32.add (local.get $o) (i32.const 16)))
      (local.set $a (i32.add (local.get $a) (i32.const 16)))
      (br_if $l (i32.lt_u (local.get $o) (local.get $e)))))`).join('\n');
  // Broadcasts: vs splats the float32 at $b over the vector $a, sv the one at $a over $b
  // (same IEEE ops as above, so bit-identical to the JS expression).
  const scalar = ['add', 'sub', 'mul', 'div'].flatMap((op) => [['vs', '(v128.load (local.get $a))', '(local.get $s)', '$a', '$b'], ['sv', '(local.get $s)', '(v128.load (local.get $b))', '$b', '$a']]
    .map(([kind, x, y, moving, fixed]) => `
  (func (export "${op}_f32_${kind}") (param $o i32) (param $a i32) (param $b i32) (param $n i32) (local $e i32) (local $s v128)
    (if (i32.le_s (local.get $n) (i32.const 0)) (then (return)))
    (local.set $s (v128.load32_splat (local.get ${fixed})))
    (local.set $e (i32.add (local.get $o) (i32.shl (local.get $n) (i32.const 2))))
    (loop $l
      (v128.store (local.get $o) (f32x4.${op} ${x} ${y}))
      (local.set $o (i32.add (local.get $o) (i32.const 16)))
      (local.set ${moving} (i32.add (local.get ${moving}) (i32.const 16)))
      (br_if $l (i32.lt_u (local.get $o) (local.get $e)))))`)).join('\n');
  // Column sums: acc[j] += x[r * $stride + j] (f64 accumulators at $acc) for r < $rows,
  // j < $n4 (a multiple of 4), rows in order, as the JS loop adds them.
  const colsum = `
  (func (export "colsum_f32") (param $acc i32) (param $x i32) (param $rows i32) (param $n4 i32) (param $stride i32)
    (local $r i32) (local $p i32) (local $q i32) (local $e i32) (local $v v128)
    (if (i32.le_s (local.get $n4) (i32.const 0)) (then (return)))
    (local.set $e (i32.add (local.get $acc) (i32.shl (local.get $n4) (i32.const 3))))
    (block $done (loop $rowsLoop
      (br_if $done (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $p (i32.add (local.get $x) (i32.mul (local.get $r) (local.get $stride))))
      (local.set $q (local.get $acc))
      (loop $l
        (local.set $v (v128.load (local.get $p)))
        (v128.store (local.get $q) (f64x2.add (v128.load (local.get $q)) (f64x2.promote_low_f32x4 (local.get $v))))
        (v128.store offset=16 (local.get $q) (f64x2.add (v128.load offset=16 (local.get $q))
          (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v)))))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (local.set $q (i32.add (local.get $q) (i32.const 32)))
        (br_if $l (i32.lt_u (local.get $q) (local.get $e))))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rowsLoop))))`;
  // Row sums: f64 at $out = the sum of the $n floats at $x ($n a multiple of 8), in
  // float64 with four f64x2 accumulators (paired, then summed) for bandwidth.
  const rowsum = `
  (func (export "rowsum_f32") (param $x i32) (param $n i32) (result f64)
    (local $e i32) (local $v v128) (local $w v128) (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (if (i32.le_s (local.get $n) (i32.const 0)) (then (return (f64.const 0))))
    (local.set $e (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
    (loop $l
      (local.set $v (v128.load (local.get $x)))
      (local.set $w (v128.load offset=16 (local.get $x)))
      (local.set $a0 (f64x2.add (local.get $a0) (f64x2.promote_low_f32x4 (local.get $v))))
      (local.set $a1 (f64x2.add (local.get $a1) (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v)))))
      (local.set $a2 (f64x2.add (local.get $a2) (f64x2.promote_low_f32x4 (local.get $w))))
      (local.set $a3 (f64x2.add (local.get $a3) (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $w) (local.get $w)))))
      (local.set $x (i32.add (local.get $x) (i32.const 32)))
      (br_if $l (i32.lt_u (local.get $x) (local.get $e))))
    (local.set $a0 (f64x2.add (f64x2.add (local.get $a0) (local.get $a1)) (f64x2.add (local.get $a2) (local.get $a3))))
    (f64.add (f64x2.extract_lane 0 (local.get $a0)) (f64x2.extract_lane 1 (local.get $a0))))`;
  return binary + reluBackward + sigmoidBackward + axpby + exp + sigmoid + unary + scalar + colsum + rowsum + columnsWat();
}

/**
 * BatchNorm kernels over float32 runs (contiguous values of one channel), all
 * arithmetic in float64 as the JS loops do, so that xhat, y and dx round to the
 * same float32 values and the statistics keep float64 accuracy. Runs need not
 * be 16-byte aligned or a multiple of 4 long (unaligned v128 loads, scalar tails).
 */
function batchNormWat() {
  // The four floats of $v as two f64x2 (low pair, high pair).
  const lo = (v) => `(f64x2.promote_low_f32x4 ${v})`;
  const hi = (v) => `(f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 ${v} ${v}))`;
  // Two f64x2 rounded to float32 and packed into one vector.
  const pack = (a, b) => `(i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (f32x4.demote_f64x2_zero ${a}) (f32x4.demote_f64x2_zero ${b}))`;
  const hsum = (v) => `(f64.add (f64x2.extract_lane 0 ${v}) (f64x2.extract_lane 1 ${v}))`;
  const zero = '(v128.const i64x2 0 0)';
  return `
  ;; Per run of $len floats ($count runs back to back from $x): the mean and the
  ;; centred sum of squares M2 by two passes over the run (in cache after the
  ;; first), as f64 pairs (mean, M2) at $out, 16 bytes per run.
  (func (export "bn_stats_f32") (param $x i32) (param $count i32) (param $len i32) (param $out i32)
    (local $p i32) (local $e i32) (local $v v128) (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $m v128) (local $d v128) (local $s f64) (local $t f64) (local $mean f64)
    (block $done (loop $runs
      (br_if $done (i32.le_s (local.get $count) (i32.const 0)))
      (local.set $e (i32.add (local.get $x) (i32.shl (local.get $len) (i32.const 2))))
      ;; pass 1: the sum
      (local.set $a0 ${zero}) (local.set $a1 ${zero}) (local.set $a2 ${zero}) (local.set $a3 ${zero})
      (local.set $s (f64.const 0))
      (local.set $p (local.get $x))
      (block $d1 (loop $l1
        (br_if $d1 (i32.gt_u (i32.add (local.get $p) (i32.const 32)) (local.get $e)))
        (local.set $v (v128.load (local.get $p)))
        (local.set $a0 (f64x2.add (local.get $a0) ${lo('(local.get $v)')}))
        (local.set $a1 (f64x2.add (local.get $a1) ${hi('(local.get $v)')}))
        (local.set $v (v128.load offset=16 (local.get $p)))
        (local.set $a2 (f64x2.add (local.get $a2) ${lo('(local.get $v)')}))
        (local.set $a3 (f64x2.add (local.get $a3) ${hi('(local.get $v)')}))
        (local.set $p (i32.add (local.get $p) (i32.const 32)))
        (br $l1)))
      (block $d2 (loop $l2
        (br_if $d2 (i32.ge_u (local.get $p) (local.get $e)))
        (local.set $s (f64.add (local.get $s) (f64.promote_f32 (f32.load (local.get $p)))))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br $l2)))
      (local.set $mean (f64.div
        (f64.add (f64.add ${hsum('(f64x2.add (local.get $a0) (local.get $a1))')} ${hsum('(f64x2.add (local.get $a2) (local.get $a3))')}) (local.get $s))
        (f64.convert_i32_u (local.get $len))))
      ;; pass 2: sum((x - mean)^2)
      (local.set $m (f64x2.splat (local.get $mean)))
      (local.set $a0 ${zero}) (local.set $a1 ${zero}) (local.set $a2 ${zero}) (local.set $a3 ${zero})
      (local.set $s (f64.const 0))
      (local.set $p (local.get $x))
      (block $d3 (loop $l3
        (br_if $d3 (i32.gt_u (i32.add (local.get $p) (i32.const 32)) (local.get $e)))
        (local.set $v (v128.load (local.get $p)))
        (local.set $d (f64x2.sub ${lo('(local.get $v)')} (local.get $m)))
        (local.set $a0 (f64x2.add (local.get $a0) (f64x2.mul (local.get $d) (local.get $d))))
        (local.set $d (f64x2.sub ${hi('(local.get $v)')} (local.get $m)))
        (local.set $a1 (f64x2.add (local.get $a1) (f64x2.mul (local.get $d) (local.get $d))))
        (local.set $v (v128.load offset=16 (local.get $p)))
        (local.set $d (f64x2.sub ${lo('(local.get $v)')} (local.get $m)))
        (local.set $a2 (f64x2.add (local.get $a2) (f64x2.mul (local.get $d) (local.get $d))))
        (local.set $d (f64x2.sub ${hi('(local.get $v)')} (local.get $m)))
        (local.set $a3 (f64x2.add (local.get $a3) (f64x2.mul (local.get $d) (local.get $d))))
        (local.set $p (i32.add (local.get $p) (i32.const 32)))
        (br $l3)))
      (block $d4 (loop $l4
        (br_if $d4 (i32.ge_u (local.get $p) (local.get $e)))
        (local.set $t (f64.sub (f64.promote_f32 (f32.load (local.get $p))) (local.get $mean)))
        (local.set $s (f64.add (local.get $s) (f64.mul (local.get $t) (local.get $t))))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br $l4)))
      (f64.store (local.get $out) (local.get $mean))
      (f64.store offset=8 (local.get $out)
        (f64.add (f64.add ${hsum('(f64x2.add (local.get $a0) (local.get $a1))')} ${hsum('(f64x2.add (local.get $a2) (local.get $a3))')}) (local.get $s)))
      (local.set $x (local.get $e))
      (local.set $out (i32.add (local.get $out) (i32.const 16)))
      (local.set $count (i32.sub (local.get $count) (i32.const 1)))
      (br $runs))))

  ;; xhat = (x - mean) * invstd per run and, when $affine, y = xhat * scale + shift
  ;; (from the unrounded xhat, as the JS loop). Run i of the $count runs of $len
  ;; floats belongs to channel ($c + i) mod $C, whose f64 constants
  ;; (mean, invstd, scale, shift) are at $params + 32 * channel.
  (func (export "bn_fwd_f32") (param $x i32) (param $y i32) (param $h i32) (param $count i32) (param $len i32)
      (param $params i32) (param $C i32) (param $c i32) (param $affine i32)
    (local $e i32) (local $pp i32) (local $v v128) (local $m v128) (local $k v128) (local $sc v128) (local $sh v128)
    (local $dl v128) (local $dh v128) (local $t f64)
    (block $done (loop $runs
      (br_if $done (i32.le_s (local.get $count) (i32.const 0)))
      (local.set $pp (i32.add (local.get $params) (i32.shl (local.get $c) (i32.const 5))))
      (local.set $m (v128.load64_splat (local.get $pp)))
      (local.set $k (v128.load64_splat offset=8 (local.get $pp)))
      (local.set $sc (v128.load64_splat offset=16 (local.get $pp)))
      (local.set $sh (v128.load64_splat offset=24 (local.get $pp)))
      (local.set $e (i32.add (local.get $x) (i32.shl (local.get $len) (i32.const 2))))
      (if (local.get $affine)
        (then
          (block $d1 (loop $l1
            (br_if $d1 (i32.gt_u (i32.add (local.get $x) (i32.const 16)) (local.get $e)))
            (local.set $v (v128.load (local.get $x)))
            (local.set $dl (f64x2.mul (f64x2.sub ${lo('(local.get $v)')} (local.get $m)) (local.get $k)))
            (local.set $dh (f64x2.mul (f64x2.sub ${hi('(local.get $v)')} (local.get $m)) (local.get $k)))
            (v128.store (local.get $h) ${pack('(local.get $dl)', '(local.get $dh)')})
            (v128.store (local.get $y) ${pack('(f64x2.add (f64x2.mul (local.get $dl) (local.get $sc)) (local.get $sh))', '(f64x2.add (f64x2.mul (local.get $dh) (local.get $sc)) (local.get $sh))')})
            (local.set $x (i32.add (local.get $x) (i32.const 16)))
            (local.set $y (i32.add (local.get $y) (i32.const 16)))
            (local.set $h (i32.add (local.get $h) (i32.const 16)))
            (br $l1))))
        (else
          (block $d2 (loop $l2
            (br_if $d2 (i32.gt_u (i32.add (local.get $x) (i32.const 16)) (local.get $e)))
            (local.set $v (v128.load (local.get $x)))
            (v128.store (local.get $h) ${pack('(f64x2.mul (f64x2.sub ' + lo('(local.get $v)') + ' (local.get $m)) (local.get $k))', '(f64x2.mul (f64x2.sub ' + hi('(local.get $v)') + ' (local.get $m)) (local.get $k))')})
            (local.set $x (i32.add (local.get $x) (i32.const 16)))
            (local.set $h (i32.add (local.get $h) (i32.const 16)))
            (br $l2)))))
      (block $d3 (loop $l3
        (br_if $d3 (i32.ge_u (local.get $x) (local.get $e)))
        (local.set $t (f64.mul (f64.sub (f64.promote_f32 (f32.load (local.get $x))) (f64x2.extract_lane 0 (local.get $m))) (f64x2.extract_lane 0 (local.get $k))))
        (f32.store (local.get $h) (f32.demote_f64 (local.get $t)))
        (if (local.get $affine) (then
          (f32.store (local.get $y) (f32.demote_f64 (f64.add (f64.mul (local.get $t) (f64x2.extract_lane 0 (local.get $sc))) (f64x2.extract_lane 0 (local.get $sh)))))
          (local.set $y (i32.add (local.get $y) (i32.const 4)))))
        (local.set $x (i32.add (local.get $x) (i32.const 4)))
        (local.set $h (i32.add (local.get $h) (i32.const 4)))
        (br $l3)))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (if (i32.eq (local.get $c) (local.get $C)) (then (local.set $c (i32.const 0))))
      (local.set $count (i32.sub (local.get $count) (i32.const 1)))
      (br $runs))))

  ;; One channel of the fused backward over its gathered values (g = dy and h =
  ;; xhat, $len floats each): sdy = sum(g) and sdx = sum(g * h) in f64, then
  ;; dx = A g + B h + D over g, with A = kc m, B = -kc sdx, D = -kc sdy from the
  ;; f64 (kc, m) at $p (kc = weight * invstd / m). Writes sdy and sdx at $p + 16.
  (func (export "bn_bwd_chan_f32") (param $g i32) (param $h i32) (param $len i32) (param $p i32)
    (local $kc f64) (local $sdy f64) (local $sdx f64)
    (call $bn_bwd_sums (local.get $g) (local.get $h) (local.get $len) (i32.add (local.get $p) (i32.const 16)))
    (local.set $kc (f64.load (local.get $p)))
    (local.set $sdy (f64.load offset=16 (local.get $p)))
    (local.set $sdx (f64.load offset=24 (local.get $p)))
    (call $bn_bwd_dx (local.get $g) (local.get $g) (local.get $h) (local.get $len)
      (f64.mul (local.get $kc) (f64.load offset=8 (local.get $p)))
      (f64.mul (f64.neg (local.get $kc)) (local.get $sdx))
      (f64.mul (f64.neg (local.get $kc)) (local.get $sdy))))

  ;; One channel of the fused backward read in place: $N runs of $len floats,
  ;; $stride bytes apart, of g = dy (from $g) and h = xhat (from $h); dx goes to
  ;; the same places under $dx. The channel's values are read twice, the second
  ;; time from cache. As bn_bwd_chan_f32 for the f64 words at $p (kc, m, then
  ;; sdy and sdx written); $p + 32 holds each run's partial sums.
  (func (export "bn_bwd_chan_strided_f32") (param $g i32) (param $h i32) (param $dx i32) (param $N i32) (param $len i32)
      (param $stride i32) (param $p i32)
    (local $i i32) (local $off i32) (local $kc f64) (local $sdy f64) (local $sdx f64)
    (block $d1 (loop $l1
      (br_if $d1 (i32.ge_u (local.get $i) (local.get $N)))
      (local.set $off (i32.mul (local.get $i) (local.get $stride)))
      (call $bn_bwd_sums (i32.add (local.get $g) (local.get $off)) (i32.add (local.get $h) (local.get $off)) (local.get $len)
        (i32.add (local.get $p) (i32.const 32)))
      (local.set $sdy (f64.add (local.get $sdy) (f64.load offset=32 (local.get $p))))
      (local.set $sdx (f64.add (local.get $sdx) (f64.load offset=40 (local.get $p))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l1)))
    (f64.store offset=16 (local.get $p) (local.get $sdy))
    (f64.store offset=24 (local.get $p) (local.get $sdx))
    (local.set $kc (f64.load (local.get $p)))
    (local.set $i (i32.const 0))
    (block $d2 (loop $l2
      (br_if $d2 (i32.ge_u (local.get $i) (local.get $N)))
      (local.set $off (i32.mul (local.get $i) (local.get $stride)))
      (call $bn_bwd_dx (i32.add (local.get $dx) (local.get $off)) (i32.add (local.get $g) (local.get $off)) (i32.add (local.get $h) (local.get $off))
        (local.get $len)
        (f64.mul (local.get $kc) (f64.load offset=8 (local.get $p)))
        (f64.mul (f64.neg (local.get $kc)) (local.get $sdx))
        (f64.mul (f64.neg (local.get $kc)) (local.get $sdy)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l2))))

  ;; sum(g) and sum(g * h) over $len floats, as two f64 at $out.
  (func $bn_bwd_sums (param $g i32) (param $h i32) (param $len i32) (param $out i32)
    (local $e i32) (local $v v128) (local $w v128) (local $a0 v128) (local $a1 v128) (local $b0 v128) (local $b1 v128)
    (local $sa f64) (local $sb f64) (local $t f64)
    (local.set $a0 ${zero}) (local.set $a1 ${zero}) (local.set $b0 ${zero}) (local.set $b1 ${zero})
    (local.set $e (i32.add (local.get $g) (i32.shl (local.get $len) (i32.const 2))))
    (block $d1 (loop $l1
      (br_if $d1 (i32.gt_u (i32.add (local.get $g) (i32.const 16)) (local.get $e)))
      (local.set $v (v128.load (local.get $g)))
      (local.set $w (v128.load (local.get $h)))
      (local.set $a0 (f64x2.add (local.get $a0) ${lo('(local.get $v)')}))
      (local.set $a1 (f64x2.add (local.get $a1) ${hi('(local.get $v)')}))
      (local.set $b0 (f64x2.add (local.get $b0) (f64x2.mul ${lo('(local.get $v)')} ${lo('(local.get $w)')})))
      (local.set $b1 (f64x2.add (local.get $b1) (f64x2.mul ${hi('(local.get $v)')} ${hi('(local.get $w)')})))
      (local.set $g (i32.add (local.get $g) (i32.const 16)))
      (local.set $h (i32.add (local.get $h) (i32.const 16)))
      (br $l1)))
    (block $d2 (loop $l2
      (br_if $d2 (i32.ge_u (local.get $g) (local.get $e)))
      (local.set $t (f64.promote_f32 (f32.load (local.get $g))))
      (local.set $sa (f64.add (local.get $sa) (local.get $t)))
      (local.set $sb (f64.add (local.get $sb) (f64.mul (local.get $t) (f64.promote_f32 (f32.load (local.get $h))))))
      (local.set $g (i32.add (local.get $g) (i32.const 4)))
      (local.set $h (i32.add (local.get $h) (i32.const 4)))
      (br $l2)))
    (f64.store (local.get $out) (f64.add ${hsum('(f64x2.add (local.get $a0) (local.get $a1))')} (local.get $sa)))
    (f64.store offset=8 (local.get $out) (f64.add ${hsum('(f64x2.add (local.get $b0) (local.get $b1))')} (local.get $sb))))

  ;; dx = (A * g + B * h) + D over $len floats, rounded to float32 (may write over g).
  (func $bn_bwd_dx (param $dx i32) (param $g i32) (param $h i32) (param $len i32) (param $A f64) (param $B f64) (param $D f64)
    (local $e i32) (local $v v128) (local $w v128) (local $a v128) (local $b v128) (local $d v128)
    (local.set $a (f64x2.splat (local.get $A)))
    (local.set $b (f64x2.splat (local.get $B)))
    (local.set $d (f64x2.splat (local.get $D)))
    (local.set $e (i32.add (local.get $g) (i32.shl (local.get $len) (i32.const 2))))
    (block $d1 (loop $l1
      (br_if $d1 (i32.gt_u (i32.add (local.get $g) (i32.const 16)) (local.get $e)))
      (local.set $v (v128.load (local.get $g)))
      (local.set $w (v128.load (local.get $h)))
      (v128.store (local.get $dx) ${pack(
        `(f64x2.add (f64x2.add (f64x2.mul (local.get $a) ${lo('(local.get $v)')}) (f64x2.mul (local.get $b) ${lo('(local.get $w)')})) (local.get $d))`,
        `(f64x2.add (f64x2.add (f64x2.mul (local.get $a) ${hi('(local.get $v)')}) (f64x2.mul (local.get $b) ${hi('(local.get $w)')})) (local.get $d))`)})
      (local.set $g (i32.add (local.get $g) (i32.const 16)))
      (local.set $h (i32.add (local.get $h) (i32.const 16)))
      (local.set $dx (i32.add (local.get $dx) (i32.const 16)))
      (br $l1)))
    (block $d2 (loop $l2
      (br_if $d2 (i32.ge_u (local.get $g) (local.get $e)))
      (f32.store (local.get $dx) (f32.demote_f64 (f64.add (f64.add
        (f64.mul (local.get $A) (f64.promote_f32 (f32.load (local.get $g))))
        (f64.mul (local.get $B) (f64.promote_f32 (f32.load (local.get $h))))) (local.get $D))))
      (local.set $g (i32.add (local.get $g) (i32.const 4)))
      (local.set $h (i32.add (local.get $h) (i32.const 4)))
      (local.set $dx (i32.add (local.get $dx) (i32.const 4)))
      (br $l2))))
  ${normalizeWat(lo, hi, pack, hsum, zero)}`;
}

/**
 * The kernels of the normalizations whose groups are whole runs (A = 1 in the
 * [A, G, B] view: LayerNorm, GroupNorm, InstanceNorm) with an affine map that
 * varies inside a group: per-run sums and per-run dx for the backward over
 * spans of equal affine parameters, and LayerNorm's forward and backward with
 * a weight and bias per element of the row. Arithmetic in f64 as above.
 */
function normalizeWat(lo, hi, pack, hsum, zero) {
  // f64x2 += at an address (the column sums of the LayerNorm backward).
  const addAt = (addr, v) => `(v128.store ${addr} (f64x2.add (v128.load ${addr}) ${v}))`;
  return `
  ;; (sum(g), sum(g * h)) of each of $count runs of $len floats back to back, as f64 pairs at $out.
  (func (export "norm_sums_f32") (param $g i32) (param $h i32) (param $count i32) (param $len i32) (param $out i32)
    (local $bytes i32)
    (local.set $bytes (i32.shl (local.get $len) (i32.const 2)))
    (block $done (loop $runs
      (br_if $done (i32.le_s (local.get $count) (i32.const 0)))
      (call $bn_bwd_sums (local.get $g) (local.get $h) (local.get $len) (local.get $out))
      (local.set $g (i32.add (local.get $g) (local.get $bytes)))
      (local.set $h (i32.add (local.get $h) (local.get $bytes)))
      (local.set $out (i32.add (local.get $out) (i32.const 16)))
      (local.set $count (i32.sub (local.get $count) (i32.const 1)))
      (br $runs))))

  ;; dx = A g + B h + D over $count runs of $len floats back to back, each run's f64 (A, B, D) at $coef, 24 bytes per run.
  (func (export "norm_dx_f32") (param $dx i32) (param $g i32) (param $h i32) (param $count i32) (param $len i32) (param $coef i32)
    (local $bytes i32)
    (local.set $bytes (i32.shl (local.get $len) (i32.const 2)))
    (block $done (loop $runs
      (br_if $done (i32.le_s (local.get $count) (i32.const 0)))
      (call $bn_bwd_dx (local.get $dx) (local.get $g) (local.get $h) (local.get $len)
        (f64.load (local.get $coef)) (f64.load offset=8 (local.get $coef)) (f64.load offset=16 (local.get $coef)))
      (local.set $dx (i32.add (local.get $dx) (local.get $bytes)))
      (local.set $g (i32.add (local.get $g) (local.get $bytes)))
      (local.set $h (i32.add (local.get $h) (local.get $bytes)))
      (local.set $coef (i32.add (local.get $coef) (i32.const 24)))
      (local.set $count (i32.sub (local.get $count) (i32.const 1)))
      (br $runs))))

  ;; LayerNorm's forward over $rows rows of $F floats: with row r's f64 (mean, invstd) at $stats + 16 r,
  ;; xhat = (x - mean) * invstd into $h and y = xhat * w + b into $y, w and b float32 [F].
  (func (export "ln_fwd_f32") (param $x i32) (param $y i32) (param $h i32) (param $rows i32) (param $F i32)
      (param $stats i32) (param $w i32) (param $b i32)
    (local $e i32) (local $pw i32) (local $pb i32) (local $v v128) (local $m v128) (local $k v128)
    (local $dl v128) (local $dh v128) (local $wv v128) (local $bv v128) (local $t f64)
    (block $done (loop $each
      (br_if $done (i32.le_s (local.get $rows) (i32.const 0)))
      (local.set $m (v128.load64_splat (local.get $stats)))
      (local.set $k (v128.load64_splat offset=8 (local.get $stats)))
      (local.set $e (i32.add (local.get $x) (i32.shl (local.get $F) (i32.const 2))))
      (local.set $pw (local.get $w))
      (local.set $pb (local.get $b))
      (block $d1 (loop $l1
        (br_if $d1 (i32.gt_u (i32.add (local.get $x) (i32.const 16)) (local.get $e)))
        (local.set $v (v128.load (local.get $x)))
        (local.set $wv (v128.load (local.get $pw)))
        (local.set $bv (v128.load (local.get $pb)))
        (local.set $dl (f64x2.mul (f64x2.sub ${lo('(local.get $v)')} (local.get $m)) (local.get $k)))
        (local.set $dh (f64x2.mul (f64x2.sub ${hi('(local.get $v)')} (local.get $m)) (local.get $k)))
        (v128.store (local.get $h) ${pack('(local.get $dl)', '(local.get $dh)')})
        (v128.store (local.get $y) ${pack(
          `(f64x2.add (f64x2.mul (local.get $dl) ${lo('(local.get $wv)')}) ${lo('(local.get $bv)')})`,
          `(f64x2.add (f64x2.mul (local.get $dh) ${hi('(local.get $wv)')}) ${hi('(local.get $bv)')})`)})
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $y (i32.add (local.get $y) (i32.const 16)))
        (local.set $h (i32.add (local.get $h) (i32.const 16)))
        (local.set $pw (i32.add (local.get $pw) (i32.const 16)))
        (local.set $pb (i32.add (local.get $pb) (i32.const 16)))
        (br $l1)))
      (block $d2 (loop $l2
        (br_if $d2 (i32.ge_u (local.get $x) (local.get $e)))
        (local.set $t (f64.mul (f64.sub (f64.promote_f32 (f32.load (local.get $x))) (f64x2.extract_lane 0 (local.get $m))) (f64x2.extract_lane 0 (local.get $k))))
        (f32.store (local.get $h) (f32.demote_f64 (local.get $t)))
        (f32.store (local.get $y) (f32.demote_f64 (f64.add (f64.mul (local.get $t) (f64.promote_f32 (f32.load (local.get $pw))))
          (f64.promote_f32 (f32.load (local.get $pb))))))
        (local.set $x (i32.add (local.get $x) (i32.const 4)))
        (local.set $y (i32.add (local.get $y) (i32.const 4)))
        (local.set $h (i32.add (local.get $h) (i32.const 4)))
        (local.set $pw (i32.add (local.get $pw) (i32.const 4)))
        (local.set $pb (i32.add (local.get $pb) (i32.const 4)))
        (br $l2)))
      (local.set $stats (i32.add (local.get $stats) (i32.const 16)))
      (local.set $rows (i32.sub (local.get $rows) (i32.const 1)))
      (br $each))))

  ;; LayerNorm's fused backward over $rows rows of $F floats (g = dy, h = xhat, weight w float32 [F]):
  ;; per row s1 = sum(g w) and s2 = sum(g w h) in f64, then dx = invstd g w - k s2 h - k s1 with
  ;; k = invstd / F (invstd the second f64 at $stats + 16 r); adds g h and g to the f64 column
  ;; sums at $acc (dweight [F], then dbias [F]). $centered 0 drops the -k s1 term (RMSNorm: no mean was subtracted).
  (func (export "ln_bwd_f32") (param $g i32) (param $h i32) (param $dx i32) (param $rows i32) (param $F i32)
      (param $stats i32) (param $w i32) (param $acc i32) (param $centered i32)
    (local $e i32) (local $pg i32) (local $ph i32) (local $pw i32) (local $pa i32) (local $fb i32)
    (local $v v128) (local $hv v128) (local $wv v128) (local $gl v128) (local $gh v128)
    (local $s1 v128) (local $s2 v128) (local $a v128) (local $bb v128) (local $d v128)
    (local $t1 f64) (local $t2 f64) (local $gw f64) (local $is f64) (local $kk f64) (local $hs f64)
    (local.set $fb (i32.shl (local.get $F) (i32.const 3)))
    (block $done (loop $each
      (br_if $done (i32.le_s (local.get $rows) (i32.const 0)))
      (local.set $e (i32.add (local.get $g) (i32.shl (local.get $F) (i32.const 2))))
      ;; pass 1: the row's sums, and the column sums
      (local.set $s1 ${zero}) (local.set $s2 ${zero}) (local.set $t1 (f64.const 0)) (local.set $t2 (f64.const 0))
      (local.set $pg (local.get $g)) (local.set $ph (local.get $h)) (local.set $pw (local.get $w)) (local.set $pa (local.get $acc))
      (block $d1 (loop $l1
        (br_if $d1 (i32.gt_u (i32.add (local.get $pg) (i32.const 16)) (local.get $e)))
        (local.set $v (v128.load (local.get $pg)))
        (local.set $hv (v128.load (local.get $ph)))
        (local.set $wv (v128.load (local.get $pw)))
        (local.set $gl (f64x2.mul ${lo('(local.get $v)')} ${lo('(local.get $wv)')}))
        (local.set $gh (f64x2.mul ${hi('(local.get $v)')} ${hi('(local.get $wv)')}))
        (local.set $s1 (f64x2.add (local.get $s1) (f64x2.add (local.get $gl) (local.get $gh))))
        (local.set $s2 (f64x2.add (local.get $s2) (f64x2.add
          (f64x2.mul (local.get $gl) ${lo('(local.get $hv)')}) (f64x2.mul (local.get $gh) ${hi('(local.get $hv)')}))))
        ${addAt('(local.get $pa)', `(f64x2.mul ${lo('(local.get $v)')} ${lo('(local.get $hv)')})`)}
        ${addAt('(i32.add (local.get $pa) (i32.const 16))', `(f64x2.mul ${hi('(local.get $v)')} ${hi('(local.get $hv)')})`)}
        ${addAt('(i32.add (local.get $pa) (local.get $fb))', lo('(local.get $v)'))}
        ${addAt('(i32.add (i32.add (local.get $pa) (local.get $fb)) (i32.const 16))', hi('(local.get $v)'))}
        (local.set $pg (i32.add (local.get $pg) (i32.const 16)))
        (local.set $ph (i32.add (local.get $ph) (i32.const 16)))
        (local.set $pw (i32.add (local.get $pw) (i32.const 16)))
        (local.set $pa (i32.add (local.get $pa) (i32.const 32)))
        (br $l1)))
      (block $d2 (loop $l2
        (br_if $d2 (i32.ge_u (local.get $pg) (local.get $e)))
        (local.set $gw (f64.promote_f32 (f32.load (local.get $pg))))
        (local.set $hs (f64.promote_f32 (f32.load (local.get $ph))))
        (f64.store (local.get $pa) (f64.add (f64.load (local.get $pa)) (f64.mul (local.get $gw) (local.get $hs))))
        (f64.store (i32.add (local.get $pa) (local.get $fb)) (f64.add (f64.load (i32.add (local.get $pa) (local.get $fb))) (local.get $gw)))
        (local.set $gw (f64.mul (local.get $gw) (f64.promote_f32 (f32.load (local.get $pw)))))
        (local.set $t1 (f64.add (local.get $t1) (local.get $gw)))
        (local.set $t2 (f64.add (local.get $t2) (f64.mul (local.get $gw) (local.get $hs))))
        (local.set $pg (i32.add (local.get $pg) (i32.const 4)))
        (local.set $ph (i32.add (local.get $ph) (i32.const 4)))
        (local.set $pw (i32.add (local.get $pw) (i32.const 4)))
        (local.set $pa (i32.add (local.get $pa) (i32.const 8)))
        (br $l2)))
      (local.set $t1 (f64.add (local.get $t1) ${hsum('(local.get $s1)')}))
      (local.set $t2 (f64.add (local.get $t2) ${hsum('(local.get $s2)')}))
      ;; pass 2: dx = is (g w) + B h + D, B = -k s2, D = -k s1
      (local.set $is (f64.load offset=8 (local.get $stats)))
      (local.set $kk (f64.div (local.get $is) (f64.convert_i32_u (local.get $F))))
      (local.set $a (f64x2.splat (local.get $is)))
      (local.set $bb (f64x2.splat (f64.mul (f64.neg (local.get $kk)) (local.get $t2))))
      (local.set $d (f64x2.splat (select (f64.mul (f64.neg (local.get $kk)) (local.get $t1)) (f64.const 0) (local.get $centered))))
      (local.set $pw (local.get $w))
      (block $d3 (loop $l3
        (br_if $d3 (i32.gt_u (i32.add (local.get $g) (i32.const 16)) (local.get $e)))
        (local.set $v (v128.load (local.get $g)))
        (local.set $hv (v128.load (local.get $h)))
        (local.set $wv (v128.load (local.get $pw)))
        (v128.store (local.get $dx) ${pack(
          `(f64x2.add (f64x2.add (f64x2.mul (local.get $a) (f64x2.mul ${lo('(local.get $v)')} ${lo('(local.get $wv)')})) (f64x2.mul (local.get $bb) ${lo('(local.get $hv)')})) (local.get $d))`,
          `(f64x2.add (f64x2.add (f64x2.mul (local.get $a) (f64x2.mul ${hi('(local.get $v)')} ${hi('(local.get $wv)')})) (f64x2.mul (local.get $bb) ${hi('(local.get $hv)')})) (local.get $d))`)})
        (local.set $g (i32.add (local.get $g) (i32.const 16)))
        (local.set $h (i32.add (local.get $h) (i32.const 16)))
        (local.set $pw (i32.add (local.get $pw) (i32.const 16)))
        (local.set $dx (i32.add (local.get $dx) (i32.const 16)))
        (br $l3)))
      (block $d4 (loop $l4
        (br_if $d4 (i32.ge_u (local.get $g) (local.get $e)))
        (f32.store (local.get $dx) (f32.demote_f64 (f64.add (f64.add
          (f64.mul (local.get $is) (f64.mul (f64.promote_f32 (f32.load (local.get $g))) (f64.promote_f32 (f32.load (local.get $pw)))))
          (f64.mul (f64x2.extract_lane 0 (local.get $bb)) (f64.promote_f32 (f32.load (local.get $h)))))
          (f64x2.extract_lane 0 (local.get $d)))))
        (local.set $g (i32.add (local.get $g) (i32.const 4)))
        (local.set $h (i32.add (local.get $h) (i32.const 4)))
        (local.set $pw (i32.add (local.get $pw) (i32.const 4)))
        (local.set $dx (i32.add (local.get $dx) (i32.const 4)))
        (br $l4)))
      (local.set $stats (i32.add (local.get $stats) (i32.const 16)))
      (local.set $rows (i32.sub (local.get $rows) (i32.const 1)))
      (br $each))))`;
}

/**
 * Max pooling with a 2x2 window and stride 2 (no padding, no dilation), four
 * outputs per vector, for one plane: rows 2r and 2r+1 of the input give the
 * window's four values (even and odd columns split by shuffles), scanned in
 * the JS loop's order, (0,0) (0,1) (1,0) (1,1), with its rule: a value
 * replaces the best when greater or NaN. So the first maximum wins ties and
 * the last NaN wins, values and indices alike.
 */
function poolWat() {
  const evens = '0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27';
  const odds = '4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31';
  const take = (v, idx) => `
        (local.set $upd (v128.or (f32x4.gt ${v} (local.get $bv)) (f32x4.ne ${v} ${v})))
        (local.set $bv (v128.bitselect ${v} (local.get $bv) (local.get $upd)))
        (local.set $bi (v128.bitselect ${idx} (local.get $bi) (local.get $upd)))`;
  // A kernel over planes $p0 <= p < $p1 (three address params first, then $p0, $p1, $H, $W, $ohow):
  // \`step(c0, groups)\` runs on one plane with $ip and $op its input and output plane's byte offsets,
  // once for the whole groups of 4 outputs, and once more for a group ending at the last column.
  const overPlanes = (name, addresses, extra, step) => `(func (export "${name}") ${addresses} (param $p0 i32) (param $p1 i32)
      (param $H i32) (param $W i32) (param $ohow i32) ${extra}
    (local $oh i32) (local $ow i32) (local $ip i32) (local $op i32)
    (local.set $oh (i32.shr_u (local.get $ohow) (i32.const 16)))
    (local.set $ow (i32.and (local.get $ohow) (i32.const 65535)))
    (block $done (loop $planes
      (br_if $done (i32.ge_u (local.get $p0) (local.get $p1)))
      (local.set $ip (i32.shl (i32.mul (local.get $p0) (i32.mul (local.get $H) (local.get $W))) (i32.const 2)))
      (local.set $op (i32.shl (i32.mul (local.get $p0) (i32.mul (local.get $oh) (local.get $ow))) (i32.const 2)))
      ${step('(i32.const 0)', '(i32.shr_u (local.get $ow) (i32.const 2))')}
      (if (i32.and (local.get $ow) (i32.const 3)) (then ${step('(i32.sub (local.get $ow) (i32.const 4))', '(i32.const 1)')}))
      (local.set $p0 (i32.add (local.get $p0) (i32.const 1)))
      (br $planes))))`;
  return `
  ;; Plane at $x ($W floats a row); $oh rows of $groups groups of 4 outputs each from output
  ;; column $c0, written to values at $v and int32 flat indices (h * W + w) at $i, output
  ;; rows $ow apart.
  (func $maxpool (export "maxpool2x2_f32") (param $x i32) (param $W i32) (param $oh i32) (param $c0 i32) (param $groups i32) (param $ow i32) (param $v i32) (param $i i32)
    (local $r i32) (local $g i32) (local $p0 i32) (local $p1 i32) (local $vo i32) (local $io i32)
    (local $l0 v128) (local $l1 v128) (local $a v128) (local $b v128) (local $c v128) (local $d v128)
    (local $bv v128) (local $bi v128) (local $upd v128) (local $idx v128) (local $wv v128)
    (if (i32.le_s (local.get $groups) (i32.const 0)) (then (return)))
    (local.set $wv (i32x4.splat (local.get $W)))
    (block $rowsDone (loop $rows
      (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $oh)))
      ;; rows 2r and 2r+1 of the plane
      (local.set $p0 (i32.add (local.get $x) (i32.shl (i32.add (i32.mul (i32.shl (local.get $r) (i32.const 1)) (local.get $W)) (i32.shl (local.get $c0) (i32.const 1))) (i32.const 2))))
      (local.set $p1 (i32.add (local.get $p0) (i32.shl (local.get $W) (i32.const 2))))
      (local.set $vo (i32.add (local.get $v) (i32.shl (i32.add (i32.mul (local.get $r) (local.get $ow)) (local.get $c0)) (i32.const 2))))
      (local.set $io (i32.add (local.get $i) (i32.shl (i32.add (i32.mul (local.get $r) (local.get $ow)) (local.get $c0)) (i32.const 2))))
      ;; flat index of (2r, 2c0), (2r, 2c0 + 2), (2r, 2c0 + 4), (2r, 2c0 + 6)
      (local.set $idx (i32x4.add (i32x4.splat (i32.add (i32.mul (i32.shl (local.get $r) (i32.const 1)) (local.get $W)) (i32.shl (local.get $c0) (i32.const 1))))
        (v128.const i32x4 0 2 4 6)))
      (local.set $g (i32.const 0))
      (loop $cols
        (local.set $l0 (v128.load (local.get $p0)))
        (local.set $l1 (v128.load offset=16 (local.get $p0)))
        (local.set $a (i8x16.shuffle ${evens} (local.get $l0) (local.get $l1)))
        (local.set $b (i8x16.shuffle ${odds} (local.get $l0) (local.get $l1)))
        (local.set $l0 (v128.load (local.get $p1)))
        (local.set $l1 (v128.load offset=16 (local.get $p1)))
        (local.set $c (i8x16.shuffle ${evens} (local.get $l0) (local.get $l1)))
        (local.set $d (i8x16.shuffle ${odds} (local.get $l0) (local.get $l1)))
        (local.set $bv (local.get $a))
        (local.set $bi (local.get $idx))${take('(local.get $b)', '(i32x4.add (local.get $idx) (v128.const i32x4 1 1 1 1))')}${take('(local.get $c)', '(i32x4.add (local.get $idx) (local.get $wv))')}${take('(local.get $d)', '(i32x4.add (i32x4.add (local.get $idx) (local.get $wv)) (v128.const i32x4 1 1 1 1))')}
        (v128.store (local.get $vo) (local.get $bv))
        (v128.store (local.get $io) (local.get $bi))
        (local.set $p0 (i32.add (local.get $p0) (i32.const 32)))
        (local.set $p1 (i32.add (local.get $p1) (i32.const 32)))
        (local.set $vo (i32.add (local.get $vo) (i32.const 16)))
        (local.set $io (i32.add (local.get $io) (i32.const 16)))
        (local.set $idx (i32x4.add (local.get $idx) (v128.const i32x4 8 8 8 8)))
        (br_if $cols (i32.lt_u (local.tee $g (i32.add (local.get $g) (i32.const 1))) (local.get $groups))))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rows))))

  ;; Planes $p0 <= p < $p1 of [H, W] at $x (outputs [oh, ow] per plane, $ohow = oh << 16 | ow, ow >= 4):
  ;; maxpool2x2_f32 over each plane's whole groups, then one group ending at the last column when
  ;; ow is not a multiple of 4 (recomputing a few outputs, the same values). A job of the thread pool.
  ${overPlanes('maxpool2x2_planes_f32', '(param $x i32) (param $v i32) (param $i i32)', '', (c0, groups) => `
      (call $maxpool (i32.add (local.get $x) (local.get $ip)) (local.get $W) (local.get $oh) ${c0} ${groups} (local.get $ow)
        (i32.add (local.get $v) (local.get $op)) (i32.add (local.get $i) (local.get $op)))`)}

  ;; The backward over planes $p0 <= p < $p1 in the same way (dx planes [H, W] at $dx); stores 0 at
  ;; $flag when some index lies outside its block (nothing otherwise).
  ${overPlanes('maxpool2x2_bwd_planes_f32', '(param $g i32) (param $i i32) (param $dx i32)', '(param $flag i32)', (c0, groups) => `
      (if (i32.eqz (call $maxpool_bwd (i32.add (local.get $g) (local.get $op)) (i32.add (local.get $i) (local.get $op)) (local.get $W) (local.get $oh)
          ${c0} ${groups} (local.get $ow) (i32.add (local.get $dx) (local.get $ip))))
        (then (i32.store (local.get $flag) (i32.const 0))))`)}

  ;; Its backward for one plane: the 2 x 2 block of input positions under each output
  ;; (rows 2r, 2r+1, columns 2c, 2c+1) gets the output's gradient (at $g) where the int32
  ;; index (at $i) points and +0 elsewhere (0 + g, as the JS loop's zeros += g), written to dx
  ;; at $dx, rows $W floats apart. Groups of 4 outputs as in the forward. Returns 0 when
  ;; some index lies outside its block (the caller then scatters in JS), else 1.
  (func $maxpool_bwd (export "maxpool2x2_bwd_f32") (param $g i32) (param $i i32) (param $W i32) (param $oh i32) (param $c0 i32) (param $groups i32) (param $ow i32) (param $dx i32) (result i32)
    (local $r i32) (local $q i32) (local $go i32) (local $io i32) (local $d0 i32) (local $d1 i32)
    (local $gv v128) (local $bi v128) (local $idx v128) (local $wv v128) (local $one v128) (local $zero v128)
    (local $m00 v128) (local $m01 v128) (local $m10 v128) (local $m11 v128) (local $ok v128)
    (local $v00 v128) (local $v01 v128) (local $v10 v128) (local $v11 v128)
    (if (i32.le_s (local.get $groups) (i32.const 0)) (then (return (i32.const 1))))
    (local.set $wv (i32x4.splat (local.get $W)))
    (local.set $one (v128.const i32x4 1 1 1 1))
    (local.set $ok (v128.const i32x4 -1 -1 -1 -1))
    (block $rowsDone (loop $rows
      (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $oh)))
      (local.set $go (i32.add (local.get $g) (i32.shl (i32.add (i32.mul (local.get $r) (local.get $ow)) (local.get $c0)) (i32.const 2))))
      (local.set $io (i32.add (local.get $i) (i32.shl (i32.add (i32.mul (local.get $r) (local.get $ow)) (local.get $c0)) (i32.const 2))))
      (local.set $d0 (i32.add (local.get $dx) (i32.shl (i32.add (i32.mul (i32.shl (local.get $r) (i32.const 1)) (local.get $W)) (i32.shl (local.get $c0) (i32.const 1))) (i32.const 2))))
      (local.set $d1 (i32.add (local.get $d0) (i32.shl (local.get $W) (i32.const 2))))
      (local.set $idx (i32x4.add (i32x4.splat (i32.add (i32.mul (i32.shl (local.get $r) (i32.const 1)) (local.get $W)) (i32.shl (local.get $c0) (i32.const 1))))
        (v128.const i32x4 0 2 4 6)))
      (local.set $q (i32.const 0))
      (loop $cols
        (local.set $gv (v128.load (local.get $go)))
        (local.set $bi (v128.load (local.get $io)))
        (local.set $m00 (i32x4.eq (local.get $bi) (local.get $idx)))
        (local.set $m01 (i32x4.eq (local.get $bi) (i32x4.add (local.get $idx) (local.get $one))))
        (local.set $m10 (i32x4.eq (local.get $bi) (i32x4.add (local.get $idx) (local.get $wv))))
        (local.set $m11 (i32x4.eq (local.get $bi) (i32x4.add (i32x4.add (local.get $idx) (local.get $wv)) (local.get $one))))
        (local.set $ok (v128.and (local.get $ok) (v128.or (v128.or (local.get $m00) (local.get $m01)) (v128.or (local.get $m10) (local.get $m11)))))
        (local.set $v00 (f32x4.add (local.get $zero) (v128.and (local.get $gv) (local.get $m00))))
        (local.set $v01 (f32x4.add (local.get $zero) (v128.and (local.get $gv) (local.get $m01))))
        (local.set $v10 (f32x4.add (local.get $zero) (v128.and (local.get $gv) (local.get $m10))))
        (local.set $v11 (f32x4.add (local.get $zero) (v128.and (local.get $gv) (local.get $m11))))
        ;; interleaved: row 2r is v00[0] v01[0] v00[1] v01[1] | v00[2] v01[2] v00[3] v01[3], row 2r+1 the same of v10, v11
        (v128.store (local.get $d0) (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $v00) (local.get $v01)))
        (v128.store offset=16 (local.get $d0) (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $v00) (local.get $v01)))
        (v128.store (local.get $d1) (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $v10) (local.get $v11)))
        (v128.store offset=16 (local.get $d1) (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $v10) (local.get $v11)))
        (local.set $go (i32.add (local.get $go) (i32.const 16)))
        (local.set $io (i32.add (local.get $io) (i32.const 16)))
        (local.set $d0 (i32.add (local.get $d0) (i32.const 32)))
        (local.set $d1 (i32.add (local.get $d1) (i32.const 32)))
        (local.set $idx (i32x4.add (local.get $idx) (v128.const i32x4 8 8 8 8)))
        (br_if $cols (i32.lt_u (local.tee $q (i32.add (local.get $q) (i32.const 1))) (local.get $groups))))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rows)))
    (i32x4.all_true (local.get $ok)))`;
}

/**
 * im2col for float32 planes: for each of $planes planes of $W-wide rows at
 * $x ($planeIn floats apart), the $kh * $kw rows of $L = $oh * $ow columns
 * at $out ($planeOut floats apart). The valid ranges come from a table at
 * $t (i32): per ki (ohLo, ohHi, hoff), then per kj (owLo, owHi, woff), as
 * the JS loop computes them; rows outside are zeros (memory.fill), valid
 * segments of stride-1 rows one memory.copy, others element by element.
 */
function im2colWat() {
  const i = (name) => `(local.get $${name})`;
  const ld = (off) => `(i32.load offset=${off} (local.get $tk))`;
  return `
  (func $im2col (export "im2col_f32") (param $x i32) (param $planes i32) (param $planeIn i32) (param $W i32) (param $sh i32) (param $sw i32)
    (param $kh i32) (param $kw i32) (param $oh i32) (param $ow i32) (param $out i32) (param $planeOut i32) (param $t i32)
    (local $p i32) (local $ki i32) (local $kj i32) (local $r i32) (local $c i32) (local $tk i32) (local $tj i32)
    (local $ohLo i32) (local $ohHi i32) (local $hoff i32) (local $owLo i32) (local $owHi i32) (local $woff i32)
    (local $dst i32) (local $src i32) (local $rowBytes i32) (local $xp i32) (local $op i32)
    (local.set $rowBytes (i32.shl ${i('ow')} (i32.const 2)))
    (block $planesDone (loop $planesLoop
      (br_if $planesDone (i32.ge_u ${i('p')} ${i('planes')}))
      (local.set $xp (i32.add ${i('x')} (i32.shl (i32.mul ${i('p')} ${i('planeIn')}) (i32.const 2))))
      (local.set $op (i32.add ${i('out')} (i32.shl (i32.mul ${i('p')} ${i('planeOut')}) (i32.const 2))))
      (local.set $dst ${i('op')})
      (local.set $ki (i32.const 0))
      (block $kiDone (loop $kiLoop
        (br_if $kiDone (i32.ge_u ${i('ki')} ${i('kh')}))
        (local.set $tk (i32.add ${i('t')} (i32.mul ${i('ki')} (i32.const 12))))
        (local.set $ohLo ${ld(0)}) (local.set $ohHi ${ld(4)}) (local.set $hoff ${ld(8)})
        (local.set $kj (i32.const 0))
        (block $kjDone (loop $kjLoop
          (br_if $kjDone (i32.ge_u ${i('kj')} ${i('kw')}))
          (local.set $tj (i32.add (i32.add ${i('t')} (i32.mul ${i('kh')} (i32.const 12))) (i32.mul ${i('kj')} (i32.const 12))))
          (local.set $owLo (i32.load (local.get $tj))) (local.set $owHi (i32.load offset=4 (local.get $tj))) (local.set $woff (i32.load offset=8 (local.get $tj)))
          (local.set $r (i32.const 0))
          ;; Stride 1 with output rows as wide as the input's (e.g. 'same' padding): the valid
          ;; rows of this (ki, kj) are one shifted contiguous block, copied at once; then the
          ;; rows outside are zeroed, and the few wrapped-around edge elements of each row.
          (if (i32.and (i32.and (i32.eq ${i('sh')} (i32.const 1)) (i32.eq ${i('sw')} (i32.const 1)))
                (i32.and (i32.eq ${i('ow')} ${i('W')}) (i32.and (i32.lt_s ${i('owLo')} ${i('owHi')}) (i32.lt_s ${i('ohLo')} ${i('ohHi')}))))
            (then
              (memory.fill ${i('dst')} (i32.const 0) (i32.mul ${i('ohLo')} ${i('rowBytes')}))
              (memory.fill (i32.add ${i('dst')} (i32.mul ${i('ohHi')} ${i('rowBytes')})) (i32.const 0) (i32.mul (i32.sub ${i('oh')} ${i('ohHi')}) ${i('rowBytes')}))
              ;; elements ohLo*ow + owLo .. (ohHi-1)*ow + owHi of the block, from x[(r + hoff) * W + c + woff]
              (local.set $c (i32.add (i32.mul ${i('ohLo')} ${i('ow')}) ${i('owLo')}))
              (memory.copy (i32.add ${i('dst')} (i32.shl ${i('c')} (i32.const 2)))
                (i32.add ${i('xp')} (i32.shl (i32.add (i32.add ${i('c')} (i32.mul ${i('hoff')} ${i('W')})) ${i('woff')}) (i32.const 2)))
                (i32.shl (i32.sub (i32.add (i32.mul (i32.sub ${i('ohHi')} (i32.const 1)) ${i('ow')}) ${i('owHi')}) ${i('c')}) (i32.const 2)))
              (local.set $r ${i('ohLo')})
              (block $edgesDone (loop $edges
                (br_if $edgesDone (i32.ge_s ${i('r')} ${i('ohHi')}))
                (local.set $src (i32.add ${i('dst')} (i32.mul ${i('r')} ${i('rowBytes')})))
                (local.set $c (i32.const 0))
                (block $loDone (loop $lo
                  (br_if $loDone (i32.ge_s ${i('c')} ${i('owLo')}))
                  (f32.store (i32.add ${i('src')} (i32.shl ${i('c')} (i32.const 2))) (f32.const 0))
                  (local.set $c (i32.add ${i('c')} (i32.const 1)))
                  (br $lo)))
                (local.set $c ${i('owHi')})
                (block $hiDone (loop $hi
                  (br_if $hiDone (i32.ge_s ${i('c')} ${i('ow')}))
                  (f32.store (i32.add ${i('src')} (i32.shl ${i('c')} (i32.const 2))) (f32.const 0))
                  (local.set $c (i32.add ${i('c')} (i32.const 1)))
                  (br $hi)))
                (local.set $r (i32.add ${i('r')} (i32.const 1)))
                (br $edges)))
              (local.set $dst (i32.add ${i('dst')} (i32.mul ${i('oh')} ${i('rowBytes')})))
              (local.set $r ${i('oh')})))
          (block $rDone (loop $rLoop
            (br_if $rDone (i32.ge_u ${i('r')} ${i('oh')}))
            (if (i32.or (i32.or (i32.lt_s ${i('r')} ${i('ohLo')}) (i32.ge_s ${i('r')} ${i('ohHi')})) (i32.ge_s ${i('owLo')} ${i('owHi')}))
              (then (memory.fill ${i('dst')} (i32.const 0) ${i('rowBytes')}))
              (else
                (memory.fill ${i('dst')} (i32.const 0) (i32.shl ${i('owLo')} (i32.const 2)))
                (memory.fill (i32.add ${i('dst')} (i32.shl ${i('owHi')} (i32.const 2))) (i32.const 0) (i32.shl (i32.sub ${i('ow')} ${i('owHi')}) (i32.const 2)))
                ;; element (r, c) reads x[(r * sh + hoff) * W + c * sw + woff]
                (local.set $src (i32.add ${i('xp')} (i32.shl (i32.add (i32.mul (i32.add (i32.mul ${i('r')} ${i('sh')}) ${i('hoff')}) ${i('W')})
                  (i32.add (i32.mul ${i('owLo')} ${i('sw')}) ${i('woff')})) (i32.const 2))))
                (if (i32.eq ${i('sw')} (i32.const 1))
                  (then (memory.copy (i32.add ${i('dst')} (i32.shl ${i('owLo')} (i32.const 2))) ${i('src')} (i32.shl (i32.sub ${i('owHi')} ${i('owLo')}) (i32.const 2))))
                  (else
                    (local.set $c ${i('owLo')})
                    (block $cDone (loop $cLoop
                      (br_if $cDone (i32.ge_s ${i('c')} ${i('owHi')}))
                      (f32.store (i32.add ${i('dst')} (i32.shl ${i('c')} (i32.const 2))) (f32.load ${i('src')}))
                      (local.set $src (i32.add ${i('src')} (i32.shl ${i('sw')} (i32.const 2))))
                      (local.set $c (i32.add ${i('c')} (i32.const 1)))
                      (br $cLoop)))))))
            (local.set $dst (i32.add ${i('dst')} ${i('rowBytes')}))
            (local.set $r (i32.add ${i('r')} (i32.const 1)))
            (br $rLoop)))
          (local.set $kj (i32.add ${i('kj')} (i32.const 1)))
          (br $kjLoop)))
        (local.set $ki (i32.add ${i('ki')} (i32.const 1)))
        (br $kiLoop)))
      (local.set $p (i32.add ${i('p')} (i32.const 1)))
      (br $planesLoop))))`;
}

/**
 * A convolution's GEMMs image by image: each image's columns are built by
 * im2col into a buffer that stays in cache (`$cols`, Kg x L floats) and
 * multiplied at once, instead of all images' columns first and the GEMMs
 * after (which read them back from memory). The geometry is a block of i32
 * words at `$p` (see CONV_IMAGE_WORDS in conv-gemm.ts); images $n0 <= n < $n1,
 * image n's product at $out + n * (word 18) bytes. Mode 0, forward:
 * out[n] [M, L] = w [M, Kg] @ cols, plus bias[m] on row m when word 19 (the
 * bias's address) is not 0: one float32 add per element while the rows are
 * in cache, the values of a separate add. Mode 1, weight gradient:
 * out[n] [M, Kg] = g[n] [M, L] @ cols^T; mode 2 the same transposed,
 * out[n] [Kg, M] = cols @ g[n]^T (the orientation with fewer edge tiles).
 * $scratch: this thread's GEMM scratch.
 */
function convImagesWat() {
  const w = (i) => `(i32.load offset=${i * 4} (local.get $p))`;
  return `
  (func (export "conv_images_f32") (param $p i32) (param $n0 i32) (param $n1 i32) (param $cols i32) (param $out i32)
    (param $u5 i32) (param $u6 i32) (param $u7 i32) (param $u8 i32) (param $scratch i32)
    (local $n i32) (local $L i32) (local $M i32) (local $Kg i32) (local $mode i32) (local $g i32) (local $o i32)
    (local $bias i32) (local $m i32) (local $r i32) (local $e i32) (local $bv v128)
    (local.set $L (i32.mul ${w(9)} ${w(10)}))
    (local.set $M ${w(13)})
    (local.set $Kg ${w(14)})
    (local.set $mode ${w(17)})
    (local.set $bias ${w(19)})
    (local.set $n (local.get $n0))
    (block $done (loop $images
      (br_if $done (i32.ge_u (local.get $n) (local.get $n1)))
      (call $im2col (i32.add ${w(0)} (i32.mul (local.get $n) ${w(1)})) ${w(2)} ${w(3)} ${w(4)} ${w(5)} ${w(6)} ${w(7)} ${w(8)} ${w(9)} ${w(10)}
        (local.get $cols) (i32.mul (i32.mul ${w(7)} ${w(8)}) (local.get $L)) ${w(11)})
      (local.set $g (i32.add ${w(15)} (i32.mul (local.get $n) ${w(16)})))
      (local.set $o (i32.add (local.get $out) (i32.mul (local.get $n) ${w(18)})))
      (if (i32.eqz (local.get $mode))
        (then (call $gemm (local.get $M) (local.get $L) (local.get $Kg) ${w(12)} (local.get $Kg) (i32.const 1)
          (local.get $cols) (local.get $L) (i32.const 1) (local.get $o) (local.get $L) (i32.const 0) (local.get $scratch))
          ;; the bias: row m of the image's output += bias[m]
          (if (local.get $bias) (then
            (local.set $m (i32.const 0))
            (local.set $r (local.get $o))
            (block $rowsDone (loop $rows
              (br_if $rowsDone (i32.ge_u (local.get $m) (local.get $M)))
              (local.set $bv (v128.load32_splat (i32.add (local.get $bias) (i32.shl (local.get $m) (i32.const 2)))))
              (local.set $e (i32.add (local.get $r) (i32.shl (i32.and (local.get $L) (i32.const -4)) (i32.const 2))))
              (block $vd (loop $v
                (br_if $vd (i32.ge_u (local.get $r) (local.get $e)))
                (v128.store (local.get $r) (f32x4.add (v128.load (local.get $r)) (local.get $bv)))
                (local.set $r (i32.add (local.get $r) (i32.const 16)))
                (br $v)))
              (local.set $e (i32.add (local.get $e) (i32.shl (i32.and (local.get $L) (i32.const 3)) (i32.const 2))))
              (block $sd (loop $s
                (br_if $sd (i32.ge_u (local.get $r) (local.get $e)))
                (f32.store (local.get $r) (f32.add (f32.load (local.get $r)) (f32x4.extract_lane 0 (local.get $bv))))
                (local.set $r (i32.add (local.get $r) (i32.const 4)))
                (br $s)))
              (local.set $m (i32.add (local.get $m) (i32.const 1)))
              (br $rows))))))
        (else (if (i32.eq (local.get $mode) (i32.const 1))
          (then (call $gemm (local.get $M) (local.get $Kg) (local.get $L) (local.get $g) (local.get $L) (i32.const 1)
            (local.get $cols) (i32.const 1) (local.get $L) (local.get $o) (local.get $Kg) (i32.const 0) (local.get $scratch)))
          (else (call $gemm (local.get $Kg) (local.get $M) (local.get $L) (local.get $cols) (local.get $L) (i32.const 1)
            (local.get $g) (i32.const 1) (local.get $L) (local.get $o) (local.get $M) (i32.const 0) (local.get $scratch))))))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $images))))`;
}

/**
 * BatchNorm on [N, C] (features in columns): per-column float64 passes over
 * the rows, four columns per step as two f64x2, each column's values added in
 * row order, so every sum and every element is what the JS loops compute.
 * Columns j < $n4 (a multiple of 4); rows $stride bytes apart; per-column f64
 * constants at $mu, $k (8 bytes per column).
 */
function columnsWat() {
  const lo = (v) => `(f64x2.promote_low_f32x4 ${v})`;
  const hi = (v) => `(f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 ${v} ${v}))`;
  const pack = (a, b) => `(i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (f32x4.demote_f64x2_zero ${a}) (f32x4.demote_f64x2_zero ${b}))`;
  // A loop over rows r < $rows and column groups of 4; `body(half, off)` for the f64 pair of columns
  // at byte offset `off` (0 or 16) of the group's f64 constants, `pre` once per group of 4 floats.
  const loops = (params, locals, pre, post) => `(param $rows i32) (param $n4 i32) (param $stride i32) ${params}
    (local $r i32) (local $j i32) (local $row i32) ${locals}
    (if (i32.le_s (local.get $n4) (i32.const 0)) (then (return)))
    (block $rowsDone (loop $rowsLoop
      (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $row (i32.mul (local.get $r) (local.get $stride)))
      (local.set $j (i32.const 0))
      (loop $cols
        ${pre}
        ${post}
        (br_if $cols (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 4))) (local.get $n4))))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rowsLoop)))`;
  // byte address of float j of a row at base, and of the f64 constant j at an array
  const f32At = (base) => `(i32.add (i32.add (local.get ${base}) (local.get $row)) (i32.shl (local.get $j) (i32.const 2)))`;
  const f64At = (base) => `(i32.add (local.get ${base}) (i32.shl (local.get $j) (i32.const 3)))`;
  return `
  ;; acc[j] += (x[r, j] - mu[j])^2 for every row r, in float64.
  (func (export "colsqdev_f32") (param $acc i32) (param $x i32) ${loops('(param $mu i32)', '(local $v v128) (local $q i32) (local $m i32) (local $t v128)',
    `(local.set $v (v128.load ${f32At('$x')}))
        (local.set $q ${f64At('$acc')})
        (local.set $m ${f64At('$mu')})`,
    `(local.set $t (f64x2.sub ${lo('(local.get $v)')} (v128.load (local.get $m))))
        (v128.store (local.get $q) (f64x2.add (v128.load (local.get $q)) (f64x2.mul (local.get $t) (local.get $t))))
        (local.set $t (f64x2.sub ${hi('(local.get $v)')} (v128.load offset=16 (local.get $m))))
        (v128.store offset=16 (local.get $q) (f64x2.add (v128.load offset=16 (local.get $q)) (f64x2.mul (local.get $t) (local.get $t))))`)})

  ;; sdy[j] += g[r, j] and sdx[j] += g[r, j] * h[r, j] for every row r, in float64.
  (func (export "colsumprod_f32") (param $sdy i32) (param $sdx i32) (param $g i32) (param $h i32) ${loops('', '(local $v v128) (local $w v128) (local $q i32) (local $p i32)',
    `(local.set $v (v128.load ${f32At('$g')}))
        (local.set $w (v128.load ${f32At('$h')}))
        (local.set $q ${f64At('$sdy')})
        (local.set $p ${f64At('$sdx')})`,
    `(v128.store (local.get $q) (f64x2.add (v128.load (local.get $q)) ${lo('(local.get $v)')}))
        (v128.store offset=16 (local.get $q) (f64x2.add (v128.load offset=16 (local.get $q)) ${hi('(local.get $v)')}))
        (v128.store (local.get $p) (f64x2.add (v128.load (local.get $p)) (f64x2.mul ${lo('(local.get $v)')} ${lo('(local.get $w)')})))
        (v128.store offset=16 (local.get $p) (f64x2.add (v128.load offset=16 (local.get $p)) (f64x2.mul ${hi('(local.get $v)')} ${hi('(local.get $w)')})))`)})

  ;; h = (x - mu[j]) * k[j] into xhat, and y = h * scale[j] + shift[j] when $affine (h in float64).
  (func (export "colnorm_f32") (param $y i32) (param $h i32) (param $x i32) (param $mu i32) (param $k i32) (param $scale i32) (param $shift i32) (param $affine i32) ${loops('', '(local $v v128) (local $a v128) (local $b v128)',
    `(local.set $v (v128.load ${f32At('$x')}))
        (local.set $a (f64x2.mul (f64x2.sub ${lo('(local.get $v)')} (v128.load ${f64At('$mu')})) (v128.load ${f64At('$k')})))
        (local.set $b (f64x2.mul (f64x2.sub ${hi('(local.get $v)')} (v128.load offset=16 ${f64At('$mu')})) (v128.load offset=16 ${f64At('$k')})))
        (v128.store ${f32At('$h')} ${pack('(local.get $a)', '(local.get $b)')})`,
    `(if (local.get $affine) (then
          (v128.store ${f32At('$y')} ${pack(`(f64x2.add (f64x2.mul (local.get $a) (v128.load ${f64At('$scale')})) (v128.load ${f64At('$shift')}))`,
            `(f64x2.add (f64x2.mul (local.get $b) (v128.load offset=16 ${f64At('$scale')})) (v128.load offset=16 ${f64At('$shift')}))`)})))`)})

  ;; dx = A[j] * g + B[j] * h + D[j] (float64, rounded once).
  (func (export "coldx_f32") (param $dx i32) (param $g i32) (param $h i32) (param $A i32) (param $B i32) (param $D i32) ${loops('', '(local $v v128) (local $w v128)',
    `(local.set $v (v128.load ${f32At('$g')}))
        (local.set $w (v128.load ${f32At('$h')}))`,
    `(v128.store ${f32At('$dx')} ${pack(
      `(f64x2.add (f64x2.add (f64x2.mul (v128.load ${f64At('$A')}) ${lo('(local.get $v)')}) (f64x2.mul (v128.load ${f64At('$B')}) ${lo('(local.get $w)')})) (v128.load ${f64At('$D')}))`,
      `(f64x2.add (f64x2.add (f64x2.mul (v128.load offset=16 ${f64At('$A')}) ${hi('(local.get $v)')}) (f64x2.mul (v128.load offset=16 ${f64At('$B')}) ${hi('(local.get $w)')})) (v128.load offset=16 ${f64At('$D')}))`)})`)})`;
}
