// `pnpm bench:profile [mlp|bn-mlp|convnet|vgg|layernorm|groupnorm]`: the profiler's
// per-op table of one training step (or layer forward + backward) of the bench's
// workloads, after a warm-up, on NORMLAB_THREADS threads.
import { spawnSync } from 'node:child_process';
import * as nl from '@normlab/tensor';
import { RELAXED_SIMD_FLAGS } from './node-flags.mjs';

// The kernels the bench times: on Node 20, rerun under the relaxed-SIMD flag.
if (RELAXED_SIMD_FLAGS.some((f) => !process.execArgv.includes(f))) {
  const r = spawnSync(process.execPath, [...process.execArgv, ...RELAXED_SIMD_FLAGS, ...process.argv.slice(1)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
import { convNetStep, groupNormStep, layerNormStep, mlpStep, vggStep } from './workloads.mjs';

const WORKLOADS = ['bn-mlp', 'mlp', 'convnet', 'vgg', 'layernorm', 'groupnorm'];
const which = process.argv[2] ?? 'bn-mlp';
if (which === '--help' || !WORKLOADS.includes(which)) {
  const out = which === '--help' ? process.stdout : process.stderr;
  out.write(`usage: pnpm bench:profile [${WORKLOADS.join('|')}] [rows]: the per-op profile of one step\n`);
  process.exit(which === '--help' ? 0 : 1);
}
const limit = Number(process.argv[3] ?? 25);

const step = {
  'bn-mlp': () => mlpStep(true),
  mlp: () => mlpStep(false),
  convnet: convNetStep,
  vgg: vggStep,
  layernorm: layerNormStep,
  groupnorm: groupNormStep,
}[which]();
// As the bench's timings: V8 settles after ~1000 MLP steps and ~100 conv steps.
const warmup = which.endsWith('mlp') ? 1000 : which === 'convnet' ? 100 : 10;
for (let i = 0; i < warmup; i++) nl.tidy(step);
// The median of several profiled steps would blur the table; the step after the warm-up is typical.
const p = nl.profile(() => nl.tidy(step));
console.log(`${which}: one step, ${nl.getNumThreads()} thread(s), Node ${process.versions.node}\n`);
console.log(p.table(limit));
