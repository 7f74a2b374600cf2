// Times @normlab/tensor, and for the layer and training-step rows
// @normlab/autograd and @normlab/nn (their dist builds); NORMLAB_THREADS sets
// its thread count, BENCH_ONLY the groups (see timing.mjs). Prints one JSON
// object of results on stdout.
//
// Each timed call runs in nl.tidy, as the tfjs runner's do in tf.tidy: its
// outputs are freed when it returns, so their memory is reused. Inputs come
// from fromTyped, as a user's data does, except for add and exp, which run on
// outputs of an op (resident in the kernels' wasm memory, as a network's
// activations are, and as tfjs-wasm's tensors live in its wasm heap). The
// `*Gc` results time the same calls without tidy, on host arrays, outputs
// left to the garbage collector; they run last, since such outputs fill the
// resident cap until the collector runs.
import * as nl from '@normlab/tensor';
import {
  BN2D, BN_MLP, BN_MLP_TIMING, CONV, CONV_NET, CONV_NET_TIMING, ELEMENTWISE_SIZE, GROUP_NORM, LAYER_NORM, MATMUL_SIZES, MLP,
  benchGroups, medianMs, randomFloats, randomLabels,
} from './timing.mjs';

const results = { matmul: {} };
/** medianMs of `fn` inside a tidy scope (its outputs freed at once). */
const tidied = (fn, opts) => medianMs(() => nl.tidy(() => {
  fn();
}), opts);
const groups = benchGroups();
const { Tensor } = await import('@normlab/autograd');
const nn = await import('@normlab/nn');
const rows = [
  ['matmul', matmul], ['conv', conv], ['elementwise', elementwise], ['bn', batchNorm2d], ['norms', norms],
  ['mlp', () => {
    results.bnMlp = mlpStepsPerSecond(BN_MLP, true);
    results.mlp = mlpStepsPerSecond(MLP, false);
  }],
  ['convnet', convNet],
  // Last: outputs left to the garbage collector fill the resident cap until it runs.
  ['elementwise', elementwiseNoTidy], ['bn', batchNorm2dNoTidy],
];
for (const [group, run] of rows) {
  if (!groups.has(group)) continue;
  run();
  await settle();
}
process.stdout.write(JSON.stringify(results));

/** Lets the garbage collector and the FinalizationRegistry free what a row dropped, so that every row starts alike. */
async function settle() {
  for (let i = 0; i < 2; i++) {
    globalThis.gc?.();
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
}

function matmul() {
  for (const n of MATMUL_SIZES) {
    const a = nl.fromTyped(randomFloats(n * n, 1), [n, n]);
    const b = nl.fromTyped(randomFloats(n * n, 2), [n, n]);
    results.matmul[n] = tidied(() => nl.matmul(a, b), { warmup: n >= 512 ? 5 : 20 });
  }
}

function conv() {
  const { n, c, h, w, cout, k, pad } = CONV;
  const x = nl.fromTyped(randomFloats(n * c * h * w, 3), [n, c, h, w]);
  const wt = nl.fromTyped(randomFloats(cout * c * k * k, 4), [cout, c, k, k]);
  const gy = nl.fromTyped(randomFloats(n * cout * h * w, 5), [n, cout, h, w]);
  const opts = { padding: pad };
  results.conv = tidied(() => {
    nl.conv2d(x, wt, null, opts);
    nl.conv2dBackwardInput(gy, wt, x.shape, opts);
    nl.conv2dBackwardWeight(gy, x, wt.shape, opts);
  }, { warmup: 3, minRuns: 5 });
}

function elementwiseInputs() {
  return [6, 7].map((seed) => nl.fromTyped(randomFloats(ELEMENTWISE_SIZE, seed), [ELEMENTWISE_SIZE]));
}

// On op-made (resident) inputs, as a network's activations are: a host array costs one more copy.
function elementwise() {
  const [ea, eb] = elementwiseInputs().map((a) => a.clone());
  results.add = tidied(() => nl.add(ea, eb), { warmup: 5, minRuns: 15 });
  results.exp = tidied(() => nl.exp(ea), { warmup: 5, minRuns: 15 });
}

// Host inputs, outputs left to the GC: the staged path once the resident cap is full.
function elementwiseNoTidy() {
  const [ha, hb] = elementwiseInputs();
  results.addGc = medianMs(() => nl.add(ha, hb), { warmup: 5, minRuns: 15 });
  results.expGc = medianMs(() => nl.exp(ha), { warmup: 5, minRuns: 15 });
}

/** Forward + backward of `layer` on x (requiring grad) with the output gradient gy, in tidy. */
function layerFwdBwd(layer, shape, seeds, opts) {
  const size = shape.reduce((p, d) => p * d, 1);
  const x = new Tensor(nl.fromTyped(randomFloats(size, seeds[0]), shape), { requiresGrad: true });
  const gy = new Tensor(nl.fromTyped(randomFloats(size, seeds[1]), shape));
  return tidied(() => {
    x.grad = null;
    layer.zeroGrad();
    layer.forward(x).backward(gy);
  }, opts);
}

// BatchNorm2d forward + backward through the module (training mode: batch statistics, running-stat update).
function batchNorm2d() {
  const { n, c, h, w, eps } = BN2D;
  results.bn2d = layerFwdBwd(new nn.BatchNorm2d(c, { eps }), [n, c, h, w], [21, 22], { warmup: 3, minRuns: 10 });
}

function batchNorm2dNoTidy() {
  const { n, c, h, w, eps } = BN2D;
  const bn = new nn.BatchNorm2d(c, { eps });
  const x = new Tensor(nl.fromTyped(randomFloats(n * c * h * w, 21), [n, c, h, w]), { requiresGrad: true });
  const gy = new Tensor(nl.fromTyped(randomFloats(n * c * h * w, 22), [n, c, h, w]));
  results.bn2dGc = medianMs(() => {
    x.grad = null;
    bn.zeroGrad();
    bn.forward(x).backward(gy);
  }, { warmup: 3, minRuns: 10 });
}

function norms() {
  const { rows, features, eps } = LAYER_NORM;
  results.layerNorm = layerFwdBwd(new nn.LayerNorm(features, { eps }), [rows, features], [41, 42], { warmup: 3, minRuns: 10 });
  const { n, c, h, w, groups: g } = GROUP_NORM;
  results.groupNorm = layerFwdBwd(new nn.GroupNorm(g, c, { eps: GROUP_NORM.eps }), [n, c, h, w], [43, 44], { warmup: 3, minRuns: 10 });
}

/** Steps per second of one SGD step (zeroGrad, forward, crossEntropy, backward, step) of `model` on (X, y). */
function stepsPerSecond(model, lr, X, y, timing) {
  const opt = new nn.optim.SGD(model.parameters(), { lr });
  const ms = tidied(() => {
    opt.zeroGrad();
    nn.crossEntropy(model.forward(X), y).backward();
    opt.step();
  }, timing);
  return 1000 / ms;
}

// The BN paper's MNIST MLP (Linear -> [BatchNorm1d] -> Sigmoid per hidden layer) on a batch of 60.
function mlpStepsPerSecond({ sizes, batch, lr }, withBn) {
  const layers = [];
  for (let i = 0; i + 1 < sizes.length; i++) {
    layers.push(new nn.Linear(sizes[i], sizes[i + 1]));
    if (i + 2 < sizes.length) layers.push(...(withBn ? [new nn.BatchNorm1d(sizes[i + 1])] : []), new nn.Sigmoid());
  }
  const X = new Tensor(nl.fromTyped(randomFloats(batch * sizes[0], 23), [batch, sizes[0]]));
  const y = new Tensor(nl.fromTyped(randomLabels(batch, sizes.at(-1), 24), [batch]));
  return stepsPerSecond(new nn.Sequential(...layers), lr, X, y, BN_MLP_TIMING);
}

function convNet() {
  const { batch, channels: [c0, c1, c2], size, classes, lr } = CONV_NET;
  const model = new nn.Sequential(
    new nn.Conv2d(c0, c1, 3, { padding: 1 }), new nn.BatchNorm2d(c1), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Conv2d(c1, c2, 3, { padding: 1 }), new nn.BatchNorm2d(c2), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Flatten(), new nn.Linear(c2 * (size / 4) ** 2, classes),
  );
  const X = new Tensor(nl.fromTyped(randomFloats(batch * c0 * size * size, 25), [batch, c0, size, size]));
  const y = new Tensor(nl.fromTyped(randomLabels(batch, classes, 26), [batch]));
  results.convNet = stepsPerSecond(model, lr, X, y, CONV_NET_TIMING);
}
