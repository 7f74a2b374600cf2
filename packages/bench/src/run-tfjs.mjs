// Times TensorFlow.js on the backend named by argv[2] ('cpu' or 'wasm').
// Prints one JSON object of results on stdout.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfwasm from '@tensorflow/tfjs-backend-wasm';
import { BN2D, BN_MLP, BN_MLP_TIMING, CONV, ELEMENTWISE_SIZE, MATMUL_SIZES, benchGroups, medianMs, randomFloats, randomLabels } from './timing.mjs';

const backend = process.argv[2];
if (backend === 'wasm') tfwasm.setThreadsCount(1);
await tf.setBackend(backend);
await tf.ready();
const results = { matmul: {}, conv: null, add: null, exp: null, bn2d: null, bnMlp: null, threads: backend === 'wasm' ? tfwasm.getThreadsCount() : 1 };

/** Runs `f`, reads one value of its result (forcing the computation) and frees the tensors. */
const timed = (f, opts) => medianMs(() => {
  tf.tidy(() => {
    const out = f();
    for (const t of Array.isArray(out) ? out : [out]) t.dataSync();
  });
}, opts);

const groups = benchGroups();
if (groups.has('matmul')) matmul();
if (groups.has('conv')) conv();
if (groups.has('elementwise')) elementwise();
if (groups.has('bn') || groups.has('mlp')) {
  // tf.grads / minimize need tfjs's gradient functions, which tfjs-core's Node bundle leaves out.
  await import('./tfjs-gradients.mjs');
}
if (groups.has('bn')) batchNorm2d();
if (groups.has('mlp')) {
  results.bnMlp = mlpStepsPerSecond(true);
  results.mlp = mlpStepsPerSecond(false);
}
process.stdout.write(JSON.stringify(results));

function matmul() {
  for (const n of MATMUL_SIZES) {
    // tfjs-cpu at 1024 takes seconds per run: fewer runs there.
    const slow = backend === 'cpu' && n >= 512;
    process.stderr.write(`  tfjs-${backend} matmul ${n}\n`);
    const a = tf.tensor2d(randomFloats(n * n, 1), [n, n]);
    const b = tf.tensor2d(randomFloats(n * n, 2), [n, n]);
    results.matmul[n] = timed(() => tf.matMul(a, b), slow ? { warmup: 1, minRuns: 3, minMs: 0 } : { warmup: 10 });
  }
}

function conv() {
  const { n, c, h, w, cout, k } = CONV;
  const x = tf.tensor4d(randomFloats(n * c * h * w, 3), [n, h, w, c]); // tfjs is NHWC
  const wt = tf.tensor4d(randomFloats(cout * c * k * k, 4), [k, k, c, cout]);
  const gy = tf.tensor4d(randomFloats(n * cout * h * w, 5), [n, h, w, cout]);
  // One forward pass and the input and filter gradients for the output gradient gy, with the
  // kernels tfjs's own Conv2D gradient runs (its gradient registry is not in tfjs-core's main entry).
  const convStep = () => [
    tf.conv2d(x, wt, 1, 'same'),
    tf.conv2dTranspose(gy, wt, x.shape, 1, 'same'),
    tf.engine().runKernel('Conv2DBackpropFilter', { x, dy: gy }, { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', filterShape: wt.shape }),
  ];
  process.stderr.write(`  tfjs-${backend} conv2d forward+backward\n`);
  try {
    // tfjs-cpu's Conv2DBackpropFilter is a naive loop (~100 s here): one untimed-warm-up-free run suffices.
    results.conv = timed(convStep, backend === 'cpu' ? { warmup: 0, minRuns: 1, minMs: 0 } : { warmup: 1, minRuns: 3, minMs: 0 });
  } catch (e) {
    results.convNote = `tfjs-${backend}: ${e.message}`;
  }
}

function elementwise() {
  const ea = tf.tensor1d(randomFloats(ELEMENTWISE_SIZE, 6));
  const eb = tf.tensor1d(randomFloats(ELEMENTWISE_SIZE, 7));
  results.add = timed(() => tf.add(ea, eb), { warmup: 5, minRuns: 15 });
  results.exp = timed(() => tf.exp(ea), { warmup: 5, minRuns: 15 });
}

function batchNorm2d() {
  // BatchNorm2d forward + backward (NHWC): tf.moments for the batch statistics, tf.batchNorm,
  // and the gradients for x, scale and offset with tf.grads.
  {
    const { n, c, h, w, eps } = BN2D;
    process.stderr.write(`  tfjs-${backend} batchNorm2d forward+backward\n`);
    const x = tf.tensor4d(randomFloats(n * c * h * w, 21), [n, h, w, c]);
    const gy = tf.tensor4d(randomFloats(n * c * h * w, 22), [n, h, w, c]);
    const scale = tf.ones([c]);
    const offset = tf.zeros([c]);
    const bnGrads = tf.grads((xx, s, o) => {
      const { mean, variance } = tf.moments(xx, [0, 1, 2]);
      return tf.batchNorm(xx, mean, variance, o, s, eps);
    });
    // tfjs-cpu takes about 9 s per step here: one run.
    results.bn2d = timed(() => bnGrads([x, scale, offset], gy), backend === 'cpu' ? { warmup: 0, minRuns: 1, minMs: 0 } : { warmup: 3, minRuns: 10 });
  }
}

/**
 * The BN paper's MNIST MLP with plain tf ops: x W + b, [BN (tf.moments + tf.batchNorm)] before
 * each sigmoid, softmax cross-entropy, one tf.train.sgd step per batch of 60.
 */
function mlpStepsPerSecond(withBn) {
  const { sizes, batch, lr } = BN_MLP;
  process.stderr.write(`  tfjs-${backend} ${withBn ? 'BN ' : ''}MLP step\n`);
  const layers = [];
  for (let i = 0; i + 1 < sizes.length; i++) {
    const bound = 1 / Math.sqrt(sizes[i]);
    const l = {
      w: tf.variable(tf.mul(tf.tensor2d(randomFloats(sizes[i] * sizes[i + 1], 30 + i), [sizes[i], sizes[i + 1]]), bound)),
      b: tf.variable(tf.zeros([sizes[i + 1]])),
    };
    if (i + 2 < sizes.length) l.hidden = true;
    if (i + 2 < sizes.length && withBn) {
      l.gamma = tf.variable(tf.ones([sizes[i + 1]]));
      l.beta = tf.variable(tf.zeros([sizes[i + 1]]));
    }
    layers.push(l);
  }
  const X = tf.tensor2d(randomFloats(batch * sizes[0], 23), [batch, sizes[0]]);
  const Y = tf.oneHot(tf.tensor1d(randomLabels(batch, sizes.at(-1), 24), 'int32'), sizes.at(-1));
  const opt = tf.train.sgd(lr);
  const loss = () => {
    let hh = X;
    for (const l of layers) {
      hh = tf.add(tf.matMul(hh, l.w), l.b);
      if (l.gamma) {
        const { mean, variance } = tf.moments(hh, [0]);
        hh = tf.batchNorm(hh, mean, variance, l.beta, l.gamma, 1e-5);
      }
      if (l.hidden) hh = tf.sigmoid(hh);
    }
    return tf.losses.softmaxCrossEntropy(Y, hh);
  };
  const ms = medianMs(() => {
    tf.tidy(() => opt.minimize(loss));
    layers.at(-1).b.dataSync();
  }, BN_MLP_TIMING);
  return 1000 / ms;
}
