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
import { BN2D, BN_MLP_TIMING, CONV, CONV_NET_TIMING, ELEMENTWISE_SIZE, MATMUL_SIZES, VGG_TIMING, benchGroups, medianMs, randomFloats } from './timing.mjs';
import { convNetStep, groupNormStep, layerNormStep, layerStep, mlpStep, vggStep } from './workloads.mjs';

const results = { matmul: {}, kernels: nl.cpuKernelVariant() };
/** medianMs of `fn` inside a tidy scope (its outputs freed at once). */
const tidied = (fn, opts) => medianMs(() => nl.tidy(() => {
  fn();
}), opts);
const groups = benchGroups();
const nn = await import('@normlab/nn');
const rows = [
  ['matmul', matmul], ['conv', conv], ['elementwise', elementwise], ['bn', batchNorm2d], ['norms', norms],
  ['mlp', () => {
    results.bnMlp = 1000 / tidied(mlpStep(true), BN_MLP_TIMING);
    results.mlp = 1000 / tidied(mlpStep(false), BN_MLP_TIMING);
  }],
  ['convnet', () => {
    results.convNet = 1000 / tidied(convNetStep(), CONV_NET_TIMING);
  }],
  ['vgg', () => {
    results.vgg = 1000 / tidied(vggStep(), VGG_TIMING);
  }],
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

// BatchNorm2d forward + backward through the module (training mode: batch statistics, running-stat update).
function batchNorm2d() {
  const { n, c, h, w, eps } = BN2D;
  results.bn2d = tidied(layerStep(new nn.BatchNorm2d(c, { eps }), [n, c, h, w], [21, 22]), { warmup: 3, minRuns: 10 });
}

function batchNorm2dNoTidy() {
  const { n, c, h, w, eps } = BN2D;
  results.bn2dGc = medianMs(layerStep(new nn.BatchNorm2d(c, { eps }), [n, c, h, w], [21, 22]), { warmup: 3, minRuns: 10 });
}

function norms() {
  results.layerNorm = tidied(layerNormStep(), { warmup: 3, minRuns: 10 });
  results.groupNorm = tidied(groupNormStep(), { warmup: 3, minRuns: 10 });
}
