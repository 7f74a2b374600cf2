// Times TensorFlow.js on the backend named by argv[2] ('cpu' or 'wasm').
// Prints one JSON object of results on stdout.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfwasm from '@tensorflow/tfjs-backend-wasm';
import { CONV, ELEMENTWISE_SIZE, MATMUL_SIZES, medianMs, randomFloats } from './timing.mjs';

const backend = process.argv[2];
if (backend === 'wasm') tfwasm.setThreadsCount(1);
await tf.setBackend(backend);
await tf.ready();
const results = { matmul: {}, conv: null, add: null, exp: null, threads: backend === 'wasm' ? tfwasm.getThreadsCount() : 1 };

/** Runs `f`, reads one value of its result (forcing the computation) and frees the tensors. */
const timed = (f, opts) => medianMs(() => {
  tf.tidy(() => {
    const out = f();
    for (const t of Array.isArray(out) ? out : [out]) t.dataSync();
  });
}, opts);

for (const n of MATMUL_SIZES) {
  // tfjs-cpu at 1024 takes seconds per run: fewer runs there.
  const slow = backend === 'cpu' && n >= 512;
  process.stderr.write(`  tfjs-${backend} matmul ${n}\n`);
  const a = tf.tensor2d(randomFloats(n * n, 1), [n, n]);
  const b = tf.tensor2d(randomFloats(n * n, 2), [n, n]);
  results.matmul[n] = timed(() => tf.matMul(a, b), slow ? { warmup: 1, minRuns: 3, minMs: 0 } : { warmup: 10 });
}

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

const ea = tf.tensor1d(randomFloats(ELEMENTWISE_SIZE, 6));
const eb = tf.tensor1d(randomFloats(ELEMENTWISE_SIZE, 7));
results.add = timed(() => tf.add(ea, eb), { warmup: 5, minRuns: 15 });
results.exp = timed(() => tf.exp(ea), { warmup: 5, minRuns: 15 });

process.stdout.write(JSON.stringify(results));
