// `pnpm bench:profile [mlp|bn-mlp|convnet|vgg|layernorm|groupnorm]`: the profiler's
// per-op table of one training step (or layer forward + backward) of the bench's
// workloads, after a warm-up, on NORMLAB_THREADS threads.
import * as nl from '@normlab/tensor';
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
const warmup = which.endsWith('mlp') ? 200 : 10;
for (let i = 0; i < warmup; i++) nl.tidy(step);
// The median of several profiled steps would blur the table; the step after the warm-up is typical.
const p = nl.profile(() => nl.tidy(step));
console.log(`${which}: one step, ${nl.getNumThreads()} thread(s), Node ${process.versions.node}\n`);
console.log(p.table(limit));
