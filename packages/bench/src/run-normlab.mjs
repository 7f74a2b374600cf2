// Times @normlab/tensor (its dist build); NORMLAB_THREADS sets its thread count.
// Prints one JSON object of results on stdout.
import * as nl from '@normlab/tensor';
import { CONV, ELEMENTWISE_SIZE, MATMUL_SIZES, medianMs, randomFloats } from './timing.mjs';

const results = { matmul: {}, conv: null, convNote: null, add: null, exp: null };

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

process.stdout.write(JSON.stringify(results));
