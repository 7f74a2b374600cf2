/**
 * Quickstart: fit a two-layer tanh network to y = sin(3x) with plain
 * gradient descent, using only @normlab/autograd. It prints the loss as it
 * falls and checks one gradient against finite differences.
 *
 *   pnpm example quickstart [--steps 500] [--lr 0.1] [--seed 0]
 */
import { type Tensor, gradcheck, linspace, manualSeed, noGrad, randn, zeros } from '@normlab/autograd';

const USAGE = 'usage: pnpm example quickstart [--steps N] [--lr X] [--seed N]   (defaults: 500, 0.1, 0)';

function parseArgs(argv: string[]): { steps: number; lr: number; seed: number } {
  const opts = { steps: 500, lr: 0.1, seed: 0 };
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(USAGE);
    process.exit(0);
  }
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '');
    const value = Number(argv[i + 1]);
    if (!argv[i].startsWith('--') || !(key in opts) || !Number.isFinite(value)) {
      console.error(`quickstart: bad argument '${argv[i]} ${argv[i + 1] ?? ''}'\n${USAGE}`);
      process.exit(2);
    }
    opts[key as keyof typeof opts] = value;
  }
  return opts;
}

const { steps, lr, seed } = parseArgs(process.argv.slice(2));
manualSeed(seed);

const hidden = 32;
const x = linspace(-1, 1, 128).reshape(-1, 1);
const y = x.mul(3).sin();
// Computed from tensors that do not require grad, randn(...).mul(s) is a leaf.
const params = {
  w1: randn([1, hidden], { requiresGrad: true }),
  b1: zeros([hidden], { requiresGrad: true }),
  w2: randn([hidden, 1]).mul(1 / Math.sqrt(hidden)).requiresGrad_(),
  b2: zeros([1], { requiresGrad: true }),
};

const model = (input: Tensor): Tensor => input.matmul(params.w1).add(params.b1).tanh().matmul(params.w2).add(params.b2);
const mse = (pred: Tensor, target: Tensor): Tensor => pred.sub(target).square().mean();

const start = performance.now();
for (let step = 0; step <= steps; step++) {
  const loss = mse(model(x), y);
  for (const p of Object.values(params)) p.grad = null;
  loss.backward();
  noGrad(() => {
    for (const p of Object.values(params)) p.data = p.sub(p.grad!.mul(lr)).data;
  });
  if (step % Math.max(1, Math.floor(steps / 10)) === 0) console.log(`step ${String(step).padStart(5)}  loss ${loss.item().toFixed(6)}`);
}
const seconds = (performance.now() - start) / 1000;
console.log(`${steps} steps in ${seconds.toFixed(2)} s (${(steps / seconds).toFixed(0)} steps/s)`);

// The same network in float64, its gradient checked against central differences.
const ok = gradcheck(
  (w1, w2) => x.double().matmul(w1).tanh().matmul(w2).sub(y.double()).square().mean(),
  [params.w1.detach().double().requiresGrad_(), params.w2.detach().double().requiresGrad_()],
);
console.log(`gradcheck of the network's loss: ${ok ? 'passed' : 'failed'}`);
