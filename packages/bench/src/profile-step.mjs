// `pnpm bench:profile [mlp|bn-mlp|convnet|layernorm|groupnorm]`: the profiler's
// per-op table of one training step (or layer forward + backward) of the bench's
// workloads, after a warm-up, on NORMLAB_THREADS threads.
import * as nl from '@normlab/tensor';
import { Tensor } from '@normlab/autograd';
import * as nn from '@normlab/nn';
import { BN_MLP, CONV_NET, GROUP_NORM, LAYER_NORM, randomFloats, randomLabels } from './timing.mjs';

const WORKLOADS = ['bn-mlp', 'mlp', 'convnet', 'layernorm', 'groupnorm'];
const which = process.argv[2] ?? 'bn-mlp';
if (which === '--help' || !WORKLOADS.includes(which)) {
  const out = which === '--help' ? process.stdout : process.stderr;
  out.write(`usage: pnpm bench:profile [${WORKLOADS.join('|')}] [rows]: the per-op profile of one step\n`);
  process.exit(which === '--help' ? 0 : 1);
}
const limit = Number(process.argv[3] ?? 25);

function trainStep(model, X, y, lr) {
  const opt = new nn.optim.SGD(model.parameters(), { lr });
  return () => {
    opt.zeroGrad();
    nn.crossEntropy(model.forward(X), y).backward();
    opt.step();
  };
}

function layerStep(layer, shape) {
  const size = shape.reduce((a, b) => a * b, 1);
  const x = new Tensor(nl.fromTyped(randomFloats(size, 41), shape), { requiresGrad: true });
  const gy = new Tensor(nl.fromTyped(randomFloats(size, 42), shape));
  return () => {
    x.grad = null;
    layer.zeroGrad();
    layer.forward(x).backward(gy);
  };
}

function mlp(withBn) {
  const { sizes, batch, lr } = BN_MLP;
  const layers = [];
  for (let i = 0; i + 1 < sizes.length; i++) {
    layers.push(new nn.Linear(sizes[i], sizes[i + 1]));
    if (i + 2 < sizes.length) layers.push(...(withBn ? [new nn.BatchNorm1d(sizes[i + 1])] : []), new nn.Sigmoid());
  }
  const X = new Tensor(nl.fromTyped(randomFloats(batch * sizes[0], 23), [batch, sizes[0]]));
  const y = new Tensor(nl.fromTyped(randomLabels(batch, sizes.at(-1), 24), [batch]));
  return trainStep(new nn.Sequential(...layers), X, y, lr);
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
  return trainStep(model, X, y, lr);
}

const step = {
  'bn-mlp': () => mlp(true),
  mlp: () => mlp(false),
  convnet: convNet,
  layernorm: () => layerStep(new nn.LayerNorm(LAYER_NORM.features), [LAYER_NORM.rows, LAYER_NORM.features]),
  groupnorm: () => layerStep(new nn.GroupNorm(GROUP_NORM.groups, GROUP_NORM.c), [GROUP_NORM.n, GROUP_NORM.c, GROUP_NORM.h, GROUP_NORM.w]),
}[which]();
const warmup = which.endsWith('mlp') ? 200 : 10;
for (let i = 0; i < warmup; i++) nl.tidy(step);
// The median of several profiled steps would blur the table; the step after the warm-up is typical.
const p = nl.profile(() => nl.tidy(step));
console.log(`${which}: one step, ${nl.getNumThreads()} thread(s), Node ${process.versions.node}\n`);
console.log(p.table(limit));
