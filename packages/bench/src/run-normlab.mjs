// Times @normlab/tensor (and, for the BatchNorm rows, @normlab/autograd and
// @normlab/nn; their dist builds); NORMLAB_THREADS sets its thread count,
// BENCH_ONLY the groups (see timing.mjs). Prints one JSON object of results on stdout.
//
// Each timed call runs in nl.tidy, as the tfjs runner's do in tf.tidy: its
// outputs are freed when it returns, so their memory is reused, and inputs
// are outputs of an op (resident in the kernels' wasm memory, as a network's
// activations are, and as tfjs-wasm's tensors live in its wasm heap). The
// `*Gc` results time the same calls without tidy, on host arrays, outputs
// left to the garbage collector.
import * as nl from '@normlab/tensor';
import { BN2D, BN_MLP, BN_MLP_TIMING, CONV, ELEMENTWISE_SIZE, MATMUL_SIZES, benchGroups, medianMs, randomFloats, randomLabels } from './timing.mjs';

const results = { matmul: {}, conv: null, convNote: null, add: null, exp: null, addGc: null, expGc: null, bn2d: null, bn2dGc: null, bnMlp: null };
/** medianMs of `fn` inside a tidy scope (its outputs freed at once). */
const tidied = (fn, opts) => medianMs(() => nl.tidy(() => {
  fn();
}), opts);
const groups = benchGroups();
if (groups.has('core')) core();
if (groups.has('bn')) await batchNorm();
process.stdout.write(JSON.stringify(results));

function core() {
  for (const n of MATMUL_SIZES) {
    const a = nl.fromTyped(randomFloats(n * n, 1), [n, n]);
    const b = nl.fromTyped(randomFloats(n * n, 2), [n, n]);
    results.matmul[n] = tidied(() => nl.matmul(a, b), { warmup: n >= 512 ? 5 : 20 });
  }

  const { n, c, h, w, cout, k, pad } = CONV;
  if (typeof nl.conv2d === 'function' && typeof nl.conv2dBackwardInput === 'function' && typeof nl.conv2dBackwardWeight === 'function') {
    const x = nl.fromTyped(randomFloats(n * c * h * w, 3), [n, c, h, w]);
    const wt = nl.fromTyped(randomFloats(cout * c * k * k, 4), [cout, c, k, k]);
    const gy = nl.fromTyped(randomFloats(n * cout * h * w, 5), [n, cout, h, w]);
    const opts = { padding: pad };
    results.conv = tidied(() => {
      nl.conv2d(x, wt, null, opts);
      nl.conv2dBackwardInput(gy, wt, x.shape, opts);
      nl.conv2dBackwardWeight(gy, x, wt.shape, opts);
    }, { warmup: 3, minRuns: 5 });
  } else {
    results.convNote = 'conv2d / conv2dBackwardInput / conv2dBackwardWeight not exported by @normlab/tensor';
  }

  const ha = nl.fromTyped(randomFloats(ELEMENTWISE_SIZE, 6), [ELEMENTWISE_SIZE]);
  const hb = nl.fromTyped(randomFloats(ELEMENTWISE_SIZE, 7), [ELEMENTWISE_SIZE]);
  const [ea, eb] = [ha.clone(), hb.clone()];
  results.add = tidied(() => nl.add(ea, eb), { warmup: 5, minRuns: 15 });
  results.exp = tidied(() => nl.exp(ea), { warmup: 5, minRuns: 15 });
  // Host inputs, outputs left to the GC: the staged path once the resident cap is full.
  results.addGc = medianMs(() => nl.add(ha, hb), { warmup: 5, minRuns: 15 });
  results.expGc = medianMs(() => nl.exp(ha), { warmup: 5, minRuns: 15 });
}

async function batchNorm() {
  const { Tensor } = await import('@normlab/autograd');
  const { BatchNorm1d, BatchNorm2d, Linear, Sequential, Sigmoid, crossEntropy, optim } = await import('@normlab/nn');

  // BatchNorm2d forward + backward through the module (training mode: batch statistics, running-stat update).
  {
    const { n, c, h, w, eps } = BN2D;
    const bn = new BatchNorm2d(c, { eps });
    const hx = nl.fromTyped(randomFloats(n * c * h * w, 21), [n, c, h, w]);
    const hgy = nl.fromTyped(randomFloats(n * c * h * w, 22), [n, c, h, w]);
    const step = (x, gy) => () => {
      x.grad = null;
      bn.zeroGrad();
      bn.forward(x).backward(gy);
    };
    results.bn2d = tidied(step(new Tensor(hx.clone(), { requiresGrad: true }), new Tensor(hgy.clone())), { warmup: 3, minRuns: 10 });
    results.bn2dGc = medianMs(step(new Tensor(hx, { requiresGrad: true }), new Tensor(hgy)), { warmup: 3, minRuns: 10 });
  }

  // The BN paper's MNIST MLP: one SGD step (forward, loss, backward, update) on a batch of 60.
  {
    const { sizes, batch, lr } = BN_MLP;
    const layers = [];
    for (let i = 0; i + 1 < sizes.length; i++) {
      layers.push(new Linear(sizes[i], sizes[i + 1]));
      if (i + 2 < sizes.length) layers.push(new BatchNorm1d(sizes[i + 1]), new Sigmoid());
    }
    const model = new Sequential(...layers);
    const opt = new optim.SGD(model.parameters(), { lr });
    const X = new Tensor(nl.fromTyped(randomFloats(batch * sizes[0], 23), [batch, sizes[0]]));
    const y = new Tensor(nl.fromTyped(randomLabels(batch, sizes.at(-1), 24), [batch]));
    const ms = tidied(() => {
      opt.zeroGrad();
      crossEntropy(model.forward(X), y).backward();
      opt.step();
    }, BN_MLP_TIMING);
    results.bnMlp = 1000 / ms;
  }
}
