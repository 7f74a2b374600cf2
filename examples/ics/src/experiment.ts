/**
 * The experiment: a deep linear network trained with full-batch gradient
 * descent on synthetic regression data, with and without BatchNorm, and
 * its internal covariate shift measured through gradients every few steps.
 */
import { Generator, Tensor } from '@normlab/autograd';
import { internalCovariateShift } from '@normlab/landscape';
import { BatchNorm1d, Linear, type Module, Sequential, init, mseLoss, optim } from '@normlab/nn';
import { randn } from '@normlab/tensor';
import type { Options, Variant } from './args.js';

export interface Data {
  x: Tensor;
  y: Tensor;
}

/**
 * n samples x ~ N(0, I_d) and targets y = x A + 0.1 e, A with N(0, 1/d)
 * entries and e ~ N(0, I_d): a linear regression problem the network can fit
 * down to the noise.
 */
export function makeData(o: Pick<Options, 'samples' | 'width' | 'seed'>): Data {
  const g = new Generator(o.seed);
  const opts = { dtype: 'float64' as const, generator: g };
  const x = new Tensor(randn([o.samples, o.width], opts));
  const a = new Tensor(randn([o.width, o.width], opts)).mul(1 / Math.sqrt(o.width));
  const e = new Tensor(randn([o.samples, o.width], opts));
  return { x, y: x.matmul(a).add(e.mul(0.1)) };
}

export interface Net {
  model: Sequential;
  /** The Linear layers in forward order (layer 1 .. depth). */
  linears: Linear[];
}

/**
 * `depth` Linear(width, width) layers without bias, weights ~ N(0, 1/width)
 * (variance-preserving for a linear network) from one generator, so both
 * variants start from the same matrices; 'bn' puts a BatchNorm1d after every
 * Linear but the last.
 */
export function buildNet(variant: Variant, o: Pick<Options, 'depth' | 'width' | 'seed'>): Net {
  const g = new Generator(o.seed + 1);
  const layers: Module[] = [];
  const linears: Linear[] = [];
  for (let i = 0; i < o.depth; i++) {
    const lin = new Linear(o.width, o.width, { bias: false, dtype: 'float64' });
    init.normal(lin.weight, 0, 1 / Math.sqrt(o.width), g);
    layers.push(lin);
    linears.push(lin);
    if (variant === 'bn' && i < o.depth - 1) layers.push(new BatchNorm1d(o.width, { dtype: 'float64' }));
  }
  return { model: new Sequential(...layers), linears };
}

export const lossOf = (m: Module, d: Data): Tensor => mseLoss((m.forward as (x: Tensor) => Tensor)(d.x), d.y);

export interface IcsRow {
  lr: number;
  variant: Variant;
  step: number;
  /** The loss at this step, before it. */
  loss: number;
  /** 1-based index of the Linear layer. */
  layer: number;
  l2: number;
  /** ||G - G'|| / ||G||. */
  relativeL2: number;
  cosine: number;
  gradNorm: number;
  gradNormAfter: number;
}

export interface RunResult {
  lr: number;
  variant: Variant;
  /** The loss before every step, and after the last (steps + 1 values, fewer when it diverged). */
  losses: number[];
  rows: IcsRow[];
  /** The step at which the loss stopped being finite (null: it never did). */
  divergedAt: number | null;
  seconds: number;
}

/**
 * One run: `steps` full-batch GD steps with learning rate `lr`, ICS every
 * `icsEvery` steps (and at the last); `between` is awaited after every step
 * (the CLI's turn of the event loop, where Ctrl-C stops the run).
 */
export async function trainRun(
  variant: Variant, lr: number, o: Options, data: Data, onStep?: (step: number, loss: number, ics: IcsRow[] | null) => void,
  between?: (step: number) => Promise<void>,
): Promise<RunResult> {
  const started = performance.now();
  const { model, linears } = buildNet(variant, o);
  const names = new Map<Module, string>([...model.namedModules()].map(([n, m]) => [m, n]));
  const layerOf = new Map(linears.map((l, i) => [names.get(l)!, i + 1]));
  const opt = new optim.SGD(model.parameters(), { lr });
  model.train();
  const losses: number[] = [];
  const rows: IcsRow[] = [];
  let divergedAt: number | null = null;
  for (let step = 0; step <= o.steps; step++) {
    const loss = lossOf(model, data);
    const value = loss.item();
    losses.push(value);
    if (!Number.isFinite(value)) {
      divergedAt = step;
      onStep?.(step, value, null);
      break;
    }
    let measured: IcsRow[] | null = null;
    if (step % o.icsEvery === 0 || step === o.steps) {
      // Every layer with parameters (BN's gamma and beta too) steps from W^t to W^(t+1); the Linear layers are reported.
      const shifts = internalCovariateShift(model, lossOf, data, lr);
      measured = shifts.filter((s) => layerOf.has(s.name)).map((s) => ({
        lr, variant, step, loss: value, layer: layerOf.get(s.name)!, l2: s.l2,
        relativeL2: s.gradNorm > 0 ? s.l2 / s.gradNorm : NaN, cosine: s.cosine, gradNorm: s.gradNorm, gradNormAfter: s.gradNormAfter,
      }));
      rows.push(...measured);
    }
    if (step < o.steps) {
      opt.zeroGrad();
      loss.backward();
      opt.step();
    }
    onStep?.(step, value, measured);
    await between?.(step);
  }
  return { lr, variant, losses, rows, divergedAt, seconds: (performance.now() - started) / 1000 };
}
