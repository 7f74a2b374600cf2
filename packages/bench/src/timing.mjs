/**
 * Times `fn` after warming it up: runs it until `minRuns` runs and `minMs`
 * milliseconds have passed, and returns the median run time in ms.
 */
export function medianMs(fn, { warmup = 3, minRuns = 7, minMs = 300, maxRuns = 200 } = {}) {
  for (let i = 0; i < warmup; i++) fn();
  const times = [];
  const start = performance.now();
  while (times.length < maxRuns && (times.length < minRuns || performance.now() - start < minMs)) {
    const t = performance.now();
    fn();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1];
}

/** Sizes and shapes shared by every runner. */
export const MATMUL_SIZES = [128, 256, 512, 1024];
export const CONV = { n: 64, c: 16, h: 28, w: 28, cout: 32, k: 3, pad: 1 };
export const ELEMENTWISE_SIZE = 4 * 1024 * 1024;
/** BatchNorm2d forward + backward in training mode (NCHW for normlab, NHWC for tfjs). */
export const BN2D = { n: 64, c: 64, h: 32, w: 32, eps: 1e-5 };
/** Ioffe & Szegedy's MNIST MLP: 3 hidden sigmoid layers with BN before each sigmoid, SGD. */
export const BN_MLP = { sizes: [784, 100, 100, 100, 10], batch: 60, lr: 0.1 };
/**
 * Timing of one MLP step: small kernels and many ops, so V8 keeps optimizing
 * for about a thousand steps (measured: a BN step's median 1.76 ms after 100
 * steps, 1.38 after 300, 1.29 after 1000, 1.28 after 3000); a training run
 * takes thousands. Every library gets the same.
 */
export const BN_MLP_TIMING = { warmup: 1000, minRuns: 100 };

/** The same MLP without BatchNorm: Linear -> Sigmoid in each hidden layer. */
export const MLP = BN_MLP;
/**
 * A small VGG block on MNIST-sized input, one SGD step: Conv2d(1, 16, 3, p1) ->
 * BatchNorm2d -> ReLU -> MaxPool2d(2) -> Conv2d(16, 32, 3, p1) -> BatchNorm2d ->
 * ReLU -> MaxPool2d(2) -> Flatten -> Linear(1568, 10), crossEntropy.
 */
export const CONV_NET = { batch: 64, channels: [1, 16, 32], size: 28, classes: 10, lr: 0.05 };
/** The conv net step settles after about a hundred steps (26.0 ms median after 10, 23.1 after 260). */
export const CONV_NET_TIMING = { warmup: 100, minRuns: 20, minMs: 1000 };
/**
 * VGG-11 for CIFAR at a quarter of the width (@normlab/models' vgg(11,
 * { width: 0.25 }): 3x3 convs of 16, 32, 64, 64, 128 x 4 channels, each with
 * BatchNorm2d and ReLU, five 2x2 max poolings, global average pooling,
 * Linear(128, 10)), one SGD step on a batch of 128 images 3 x 32 x 32.
 */
export const VGG = { config: [16, 'M', 32, 'M', 64, 64, 'M', 128, 128, 'M', 128, 128, 'M'], width: 0.25, batch: 128, size: 32, classes: 10, lr: 0.05 };
export const VGG_TIMING = { warmup: 3, minRuns: 10, minMs: 2000 };
/** LayerNorm over the last dim, forward + backward. */
export const LAYER_NORM = { rows: 4096, features: 1024, eps: 1e-5 };
/** GroupNorm with 32 groups, forward + backward. */
export const GROUP_NORM = { n: 32, c: 256, h: 16, w: 16, groups: 32, eps: 1e-5 };

/** The benchmark groups, each a set of rows (`--only` picks some). */
export const GROUPS = {
  matmul: 'matmul f32 at n = 128 ... 1024',
  conv: 'conv2d forward + both backward products',
  elementwise: 'add and exp over 4M floats',
  bn: 'BatchNorm2d forward + backward',
  mlp: 'the BN-paper MLP step, with and without BN',
  convnet: 'the conv net step',
  vgg: 'the VGG-11 (width 1/4) step on CIFAR-size images',
  norms: 'LayerNorm and GroupNorm forward + backward',
};

/**
 * Which benchmark groups to run: BENCH_ONLY=bn,mlp (a comma list of GROUPS'
 * names; 'core' stands for matmul, conv and elementwise); all when unset.
 */
export function benchGroups() {
  const only = (process.env.BENCH_ONLY ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const names = only.flatMap((g) => (g === 'core' ? ['matmul', 'conv', 'elementwise'] : [g]));
  for (const g of names) {
    if (!(g in GROUPS)) throw new Error(`bench: unknown group '${g}' (expected ${[...Object.keys(GROUPS), 'core'].join(', ')})`);
  }
  return new Set(names.length ? names : Object.keys(GROUPS));
}

/** Seeded class labels in [0, classes). */
export function randomLabels(n, classes, seed = 1) {
  const out = new Int32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s % classes;
  }
  return out;
}

/** Flops of one conv2d forward pass (multiply-adds counted as 2); backward is twice that. */
export function convFlops({ n, c, h, w, cout, k }) {
  return 2 * n * cout * h * w * c * k * k;
}

/** Seeded uniform(-1, 1) floats, so every library multiplies the same numbers. */
export function randomFloats(n, seed = 1) {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}
/** The mnist-bn example's MLP (`pnpm example mnist-bn`): Linear without bias, BN before each sigmoid, SGD lr 0.25. */
export const MNIST_BN = { sizes: [784, 100, 100, 100, 10], batch: 60, lr: 0.25 };
