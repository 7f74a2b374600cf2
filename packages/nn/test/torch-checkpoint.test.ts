/**
 * Checkpoints against the real PyTorch (Debian's python3-torch, which CI
 * installs): a normlab model saved with PyTorch's names loads into its
 * PyTorch twin with load_state_dict(strict=True) and gives the same outputs
 * in eval and train mode, and a PyTorch-written state_dict loads into the
 * normlab model the other way round (test/torch/checkpoint_twin.py).
 * Without torch the tests skip, saying so; with NORMLAB_TORCH_REQUIRE=1 (CI)
 * they fail instead.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tensor, noGrad, randn } from '@normlab/autograd';
import { Generator } from '@normlab/tensor';
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import {
  AdaptiveAvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Flatten, GroupNorm, Linear, MaxPool2d, type Parameter, ReLU, Sequential, deserialize, init, loadSync, optim,
  pytorchOptimizerFromTensors, pytorchOptimizerTensors, saveSync,
} from '../src/index.js';

const PYTHON = '/usr/bin/python3'; // Debian's python3-torch lives in the system Python
const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'torch', 'checkpoint_twin.py');

function torchMissing(): string | null {
  const r = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
  if (r.error) return `${PYTHON} not found`;
  return r.status === 0 ? null : 'python3-torch is not installed (pnpm bench:install-torch installs it)';
}
const missing = torchMissing();
if (missing && process.env.NORMLAB_TORCH_REQUIRE) throw new Error(`torch checkpoint tests: PyTorch is required here (NORMLAB_TORCH_REQUIRE) but ${missing}`);

const tmp = mkdtempSync(join(tmpdir(), 'normlab-torch-checkpoint-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

type ModelName = 'mlp-bn' | 'conv-bn-gn';

/** The normlab side of checkpoint_twin.py's twins: the same layers in the same order. */
function build(name: ModelName): Sequential {
  return name === 'mlp-bn'
    ? new Sequential(new Linear(20, 32), new BatchNorm1d(32), new ReLU(), new Linear(32, 10))
    : new Sequential(
      new Conv2d(3, 8, 3, { padding: 1 }), new BatchNorm2d(8), new ReLU(), new MaxPool2d(2),
      new Conv2d(8, 16, 3, { padding: 1 }), new GroupNorm(4, 16), new ReLU(),
      new AdaptiveAvgPool2d(1), new Flatten(), new Linear(16, 10),
    );
}

const inputShape = (name: ModelName): number[] => (name === 'mlp-bn' ? [16, 20] : [8, 3, 12, 12]);

/** eval output, train output, and the state (PyTorch's names) after that train forward, as checkpoint_twin.py's `outputs`. */
function outputs(model: Sequential, x: Tensor): Record<string, Tensor> {
  return noGrad(() => {
    model.eval();
    const ev = model.forward(x);
    model.train();
    const tr = model.forward(x);
    const after = Object.fromEntries([...model.stateDict({ naming: 'pytorch' })].map(([k, v]) => [`after.${k}`, v.clone()]));
    return { eval: ev, train: tr, ...after };
  });
}

/** normlab's optimizers with the hyper-parameters of checkpoint_twin.py's OPTIMIZERS. */
const OPTIMIZERS = {
  sgd: (ps: Parameter[]) => new optim.SGD(ps, { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 1e-3 }),
  adam: (ps: Parameter[]) => new optim.Adam(ps, { lr: 1e-2, betas: [0.8, 0.95], weightDecay: 1e-3, amsgrad: true }),
  rmsprop: (ps: Parameter[]) => new optim.RMSprop(ps, { lr: 1e-2, momentum: 0.5, centered: true }),
  adagrad: (ps: Parameter[]) => new optim.Adagrad(ps, { lr: 0.1, lrDecay: 1e-3, initialAccumulatorValue: 0.1 }),
} as const;

function python(args: string[]): { ok: boolean; diffs?: Record<string, number>; keys?: string[] } {
  const r = spawnSync(PYTHON, [SCRIPT, ...args], { encoding: 'utf8' });
  if (r.status !== 0 && !r.stdout) throw new Error(`checkpoint_twin.py ${args[0]} failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!);
}

const maxDiff = (a: Tensor, b: Tensor): number => {
  expect(a.shape).toEqual(b.shape);
  const x = a.data.astype('float64').toTypedArray() as Float64Array;
  const y = b.data.astype('float64').toTypedArray() as Float64Array;
  return x.reduce((m, v, i) => Math.max(m, Math.abs(v - y[i])), 0);
};

describe.skipIf(missing !== null)(`checkpoints in PyTorch${missing ? ` (skipped: ${missing})` : ''}`, () => {
  for (const name of ['mlp-bn', 'conv-bn-gn'] as const) {
    it(`${name}: normlab's checkpoint loads into PyTorch's twin (strict) with the same eval and train outputs and state`, () => {
      const g = new Generator(11);
      const model = build(name);
      noGrad(() => {
        for (const m of model.modules()) {
          if (m instanceof BatchNorm1d || m instanceof BatchNorm2d || m instanceof GroupNorm) {
            init.uniform(m.weight!, 0.5, 1.5, g);
            init.uniform(m.bias!, -0.5, 0.5, g);
          }
        }
        model.train();
        for (let i = 0; i < 3; i++) model.forward(randn(inputShape(name), { generator: g }).mul(2).add(0.5));
      });
      const checkpoint = join(tmp, `${name}-normlab.safetensors`);
      const io = join(tmp, `${name}-normlab-io.safetensors`);
      saveSync(checkpoint, model.stateDict({ naming: 'pytorch' }), { metadata: { format: 'pt' }, int64: true });
      const x = randn(inputShape(name), { generator: g });
      saveSync(io, { x, ...outputs(model, x) });
      const r = python(['check', name, checkpoint, io]);
      expect(r.diffs!.eval).toBeLessThan(1e-5);
      expect(r.diffs!.train).toBeLessThan(1e-5);
      expect(r.ok, JSON.stringify(r.diffs)).toBe(true);
    });

    it(`${name}: PyTorch's state_dict loads into normlab's model (strict) with the same eval and train outputs and state`, () => {
      const checkpoint = join(tmp, `${name}-torch.safetensors`);
      const io = join(tmp, `${name}-torch-io.safetensors`);
      const r = python(['write', name, '5', checkpoint, io]);
      const model = build(name);
      const state = loadSync(checkpoint);
      expect([...state.keys()]).toEqual(r.keys);
      expect(model.loadStateDict(state)).toEqual({ missingKeys: [], unexpectedKeys: [] });
      const ref = loadSync(io);
      const got = outputs(model, ref.get('x')!);
      for (const [k, v] of Object.entries(got)) expect(maxDiff(v, ref.get(k)!), k).toBeLessThan(1e-4);
      expect(maxDiff(got.eval, ref.get('eval')!)).toBeLessThan(1e-5);
      expect([...got.train.shape]).toEqual([inputShape(name)[0], 10]);
    });
  }

  for (const opt of ['sgd', 'adam', 'rmsprop', 'adagrad'] as const) {
    it(`${opt}: normlab's optimizer state loads into PyTorch's, whose next step matches normlab's`, () => {
      const g = new Generator(21);
      const model = build('mlp-bn');
      const optimizer = OPTIMIZERS[opt](model.parameters());
      const randomGrads = (): void => {
        for (const p of model.parameters()) p.grad = randn(p.shape, { generator: g });
      };
      for (let i = 0; i < 3; i++) {
        randomGrads();
        optimizer.step();
      }
      const checkpoint = join(tmp, `${opt}-model.safetensors`);
      const state = join(tmp, `${opt}-state.safetensors`);
      const io = join(tmp, `${opt}-io.safetensors`);
      saveSync(checkpoint, model.stateDict({ naming: 'pytorch' }), { int64: true });
      const file = pytorchOptimizerTensors(optimizer.stateDict({ naming: 'pytorch' }));
      saveSync(state, file.tensors, { metadata: file.metadata });
      randomGrads();
      const grads = Object.fromEntries([...model.namedParameters()].map(([k, p]) => [`grad.${k}`, p.grad!.clone()]));
      optimizer.step();
      saveSync(io, { ...grads, ...Object.fromEntries([...model.namedParameters()].map(([k, p]) => [`after.${k}`, p.detach()])) });
      const r = python(['optim-check', 'mlp-bn', opt, checkpoint, state, io]);
      expect(r.ok, JSON.stringify(r.diffs)).toBe(true);
    });

    it(`${opt}: PyTorch's optimizer state loads into normlab's, whose next step matches PyTorch's`, () => {
      const checkpoint = join(tmp, `${opt}-torch-model.safetensors`);
      const state = join(tmp, `${opt}-torch-state.safetensors`);
      const io = join(tmp, `${opt}-torch-io.safetensors`);
      python(['optim-write', 'mlp-bn', opt, '7', checkpoint, state, io]);
      const model = build('mlp-bn');
      model.loadStateDict(loadSync(checkpoint));
      // Built with other options: loadStateDict must bring PyTorch's.
      const Kind = { sgd: optim.SGD, adam: optim.Adam, rmsprop: optim.RMSprop, adagrad: optim.Adagrad }[opt];
      const optimizer = new Kind(model.parameters(), { lr: 0.5 });
      optimizer.loadStateDict(pytorchOptimizerFromTensors(deserialize(readFileSync(state))));
      const ref = loadSync(io);
      for (const [k, p] of model.namedParameters()) p.grad = ref.get(`grad.${k}`)!;
      optimizer.step();
      for (const [k, p] of model.namedParameters()) expect(maxDiff(p.detach(), ref.get(`after.${k}`)!), k).toBeLessThan(1e-5);
    });
  }
});
