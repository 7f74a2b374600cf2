// The device benchmarks of `pnpm bench --device gpu`: the same code timed on
// one device, 'cpu' (the CPU backend, NORMLAB_THREADS threads) or 'gpu'
// (@normlab/gpu, mode from --gpu-mode). Prints one JSON object on stdout.
//
//   node run-device.mjs --device gpu [--gpu-mode webgpu|webasm|cpu] [--sizes 256,512] [--budget-s 20] [--only matmul,bn2d,norms,mlp]
//
// Honest device timing: every timed run ends with a synchronization (a read
// with loss.item(), or gpu.synchronize(), which waits for the queue to drain
// and, on webgpu, for the submitted GPU work), so the clock never stops on
// work that is only queued.
import * as nl from '@normlab/tensor';
import { Tensor } from '@normlab/autograd';
import { BatchNorm1d, BatchNorm2d, GroupNorm, LayerNorm, Linear, Sequential, Sigmoid, crossEntropy, optim } from '@normlab/nn';
import { BN2D, GROUP_NORM, LAYER_NORM, MNIST_BN, randomFloats, randomLabels } from './timing.mjs';

const argv = process.argv.slice(2);
function opt(name, dflt) {
  const i = argv.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (i < 0) return dflt;
  return argv[i].includes('=') ? argv[i].slice(argv[i].indexOf('=') + 1) : argv[i + 1];
}

const device = opt('device', 'cpu');
const sizes = String(opt('sizes', '256,512,1024,2048,4096')).split(',').map(Number).filter((n) => n > 0);
const budgetMs = Number(opt('budget-s', '20')) * 1000;
const only = new Set(String(opt('only', 'matmul,bn2d,norms,mlp')).split(','));

const results = { device, info: null, threads: process.env.NORMLAB_THREADS ?? null, matmul: {}, skipped: {}, bn2d: null, layerNorm: null, groupNorm: null, mlp: null, fallbacks: null };

let sync = () => {};
let gpuApi = null;
if (device === 'gpu') {
  const { registerGpuBackend, gpu } = await import('@normlab/gpu');
  const mode = opt('gpu-mode', process.env.NORMLAB_GPU_MODE || 'webgpu');
  const info = registerGpuBackend({ mode });
  results.info = { mode: info.mode, adapter: info.adapter, adapterDescription: info.adapterDescription, name: info.name };
  gpuApi = gpu;
  sync = () => gpu.synchronize();
}

/**
 * Median of timed runs of fn (each synchronized): one warm-up run (which
 * also compiles the device kernels), then runs until `minRuns` and `minMs`,
 * within `budgetMs` in all. Returns { ms, runs, firstMs }.
 */
function time(fn, { minRuns = 5, minMs = 300, maxRuns = 100, warmup = 1 } = {}) {
  const t0 = performance.now();
  for (let i = 0; i < warmup; i++) {
    fn();
    sync();
  }
  const firstMs = performance.now() - t0;
  const times = [];
  const start = performance.now();
  while (times.length < maxRuns && (times.length < minRuns || performance.now() - start < minMs)) {
    const t = performance.now();
    fn();
    sync();
    times.push(performance.now() - t);
    if (performance.now() - t0 > budgetMs && times.length >= 1) break;
  }
  times.sort((a, b) => a - b);
  return { ms: times[times.length >> 1], runs: times.length, firstMs };
}

if (only.has('matmul')) {
  let lastMs = 0;
  let lastN = 0;
  for (const n of sizes) {
    // Skip a size whose predicted first run (n^3 scaling from the last size) exceeds the budget.
    const predicted = lastMs ? lastMs * (n / lastN) ** 3 : 0;
    if (predicted > budgetMs) {
      results.skipped[n] = `predicted ${(predicted / 1000).toFixed(0)} s per product > budget ${budgetMs / 1000} s`;
      continue;
    }
    const a = nl.fromTyped(randomFloats(n * n, 1), [n, n]).to(device);
    const b = nl.fromTyped(randomFloats(n * n, 2), [n, n]).to(device);
    const r = time(() => nl.matmul(a, b).dispose(), { minRuns: n >= 2048 ? 2 : 5, minMs: n >= 2048 ? 0 : 300 });
    results.matmul[n] = r;
    lastMs = r.ms;
    lastN = n;
    a.dispose();
    b.dispose();
    if (r.firstMs > budgetMs) {
      for (const m of sizes.filter((m) => m > n)) results.skipped[m] = `the ${n} product's first run took ${(r.firstMs / 1000).toFixed(0)} s > budget ${budgetMs / 1000} s`;
      break;
    }
  }
}

if (only.has('bn2d')) {
  // BatchNorm2d forward + backward through the module, training mode.
  const { n, c, h, w, eps } = BN2D;
  const bn = new BatchNorm2d(c, { eps }).to(device);
  const x = new Tensor(nl.fromTyped(randomFloats(n * c * h * w, 21), [n, c, h, w]).to(device), { requiresGrad: true });
  const gy = new Tensor(nl.fromTyped(randomFloats(n * c * h * w, 22), [n, c, h, w]).to(device));
  results.bn2d = time(() => nl.tidy(() => {
    x.grad = null;
    bn.zeroGrad();
    bn.forward(x).backward(gy);
  }), { minRuns: 5, minMs: 300 });
}

/** Forward + backward of a layer (training mode) on the device, with a fixed output gradient. */
function layerFwdBwd(layer, shape, seeds) {
  const size = shape.reduce((p, d) => p * d, 1);
  const x = new Tensor(nl.fromTyped(randomFloats(size, seeds[0]), shape).to(device), { requiresGrad: true });
  const gy = new Tensor(nl.fromTyped(randomFloats(size, seeds[1]), shape).to(device));
  layer.to(device);
  return time(() => nl.tidy(() => {
    x.grad = null;
    layer.zeroGrad();
    layer.forward(x).backward(gy);
  }), { minRuns: 5, minMs: 300 });
}

if (only.has('norms')) {
  // The norms rows of pnpm bench: LayerNorm [4096, 1024] and GroupNorm(32) [32, 256, 16, 16].
  results.layerNorm = layerFwdBwd(new LayerNorm(LAYER_NORM.features, { eps: LAYER_NORM.eps }), [LAYER_NORM.rows, LAYER_NORM.features], [41, 42]);
  const { n, c, h, w, groups, eps } = GROUP_NORM;
  results.groupNorm = layerFwdBwd(new GroupNorm(groups, c, { eps }), [n, c, h, w], [43, 44]);
}

if (only.has('mlp')) {
  // The mnist-bn example's MLP: Linear (no bias) -> BatchNorm1d -> sigmoid, x3, then Linear; SGD on crossEntropy.
  const { sizes: dims, batch, lr } = MNIST_BN;
  const layers = [];
  for (let i = 0; i + 1 < dims.length; i++) {
    layers.push(new Linear(dims[i], dims[i + 1], { bias: false }));
    if (i + 2 < dims.length) layers.push(new BatchNorm1d(dims[i + 1]), new Sigmoid());
  }
  const model = new Sequential(...layers).to(device);
  const sgd = new optim.SGD(model.parameters(), { lr });
  const X = new Tensor(nl.fromTyped(randomFloats(batch * dims[0], 23), [batch, dims[0]]).to(device));
  const y = new Tensor(nl.fromTyped(randomLabels(batch, dims.at(-1), 24), [batch]).to(device));
  // loss.item() reads the loss back: the step is synchronized by its own read, as in a training loop.
  const r = time(() => nl.tidy(() => {
    sgd.zeroGrad();
    const loss = crossEntropy(model.forward(X), y);
    loss.backward();
    sgd.step();
    return loss.item();
  }), { warmup: 3, minRuns: 10, minMs: 1000 });
  results.mlp = { ...r, stepsPerS: 1000 / r.ms };
}

if (gpuApi) {
  results.fallbacks = gpuApi.profile().fallbacks;
  gpuApi.shutdown();
}
process.stdout.write(JSON.stringify(results));
