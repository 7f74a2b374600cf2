// Times @normlab/tensor (and, for the BatchNorm rows, @normlab/autograd and
// @normlab/nn; their dist builds); NORMLAB_THREADS sets its thread count,
// BENCH_ONLY the groups (see timing.mjs). Prints one JSON object of results on stdout.
import * as nl from '@normlab/tensor';
import { BN2D, BN_MLP, CONV, ELEMENTWISE_SIZE, MATMUL_SIZES, benchGroups, medianMs, randomFloats, randomLabels } from './timing.mjs';

const results = { matmul: {}, conv: null, convNote: null, add: null, exp: null, bn2d: null, bnMlp: null };
const groups = benchGroups();
if (groups.has('core')) core();
if (groups.has('bn')) await batchNorm();
process.stdout.write(JSON.stringify(results));

function core() {
  for (const n of MATMUL_SIZES) {
    const a = nl.fromTyped(randomFloats(n * n, 1), [n, n]);
    const b = nl.fromTyped(randomFloats(n * n, 2), [n, n]);
    results.matmul[n] = medianMs(() => nl.matmul(a, b), { warmup: n >= 512 ? 5 : 20 });
  }

  const { n, c, h, w, cout, k, pad } = CONV;
  if (typeof nl.conv2d === 'function' && typeof nl.conv2dBackwardInput === 'function' && typeof nl.conv2dBackwardWeight === 'function') {
    const x = nl.fromTyped(randomFloats(n * c * h * w, 3), [n, c, h, w]);
    const wt = nl.fromTyped(randomFloats(cout * c * k * k, 4), [cout, c, k, k]);
    const gy = nl.fromTyped(randomFloats(n * cout * h * w, 5), [n, cout, h, w]);
    const opts = { padding: pad };
    results.conv = medianMs(() => {
      nl.conv2d(x, wt, null, opts);
      nl.conv2dBackwardInput(gy, wt, x.shape, opts);
      nl.conv2dBackwardWeight(gy, x, wt.shape, opts);
    }, { warmup: 3, minRuns: 5 });
  } else {
    results.convNote = 'conv2d / conv2dBackwardInput / conv2dBackwardWeight not exported by @normlab/tensor';
  }

  const ea = nl.fromTyped(randomFloats(ELEMENTWISE_SIZE, 6), [ELEMENTWISE_SIZE]);
  const eb = nl.fromTyped(randomFloats(ELEMENTWISE_SIZE, 7), [ELEMENTWISE_SIZE]);
  results.add = medianMs(() => nl.add(ea, eb), { warmup: 5, minRuns: 15 });
  results.exp = medianMs(() => nl.exp(ea), { warmup: 5, minRuns: 15 });
}

async function batchNorm() {
  const { Tensor } = await import('@normlab/autograd');
  const { BatchNorm1d, BatchNorm2d, Linear, Sequential, Sigmoid, crossEntropy, optim } = await import('@normlab/nn');

  // BatchNorm2d forward + backward through the module (training mode: batch statistics, running-stat update).
  {
    const { n, c, h, w, eps } = BN2D;
    const bn = new BatchNorm2d(c, { eps });
    const x = new Tensor(nl.fromTyped(randomFloats(n * c * h * w, 21), [n, c, h, w]), { requiresGrad: true });
    const gy = new Tensor(nl.fromTyped(randomFloats(n * c * h * w, 22), [n, c, h, w]));
    results.bn2d = medianMs(() => {
      x.grad = null;
      bn.zeroGrad();
      bn.forward(x).backward(gy);
    }, { warmup: 3, minRuns: 10 });
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
    const ms = medianMs(() => {
      opt.zeroGrad();
      crossEntropy(model.forward(X), y).backward();
      opt.step();
    }, { warmup: 20, minRuns: 50 });
    results.bnMlp = 1000 / ms;
  }
}
