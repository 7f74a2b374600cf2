/**
 * The experiment: for each learning rate and variant, SGD on MNIST with the
 * landscape along the gradient probed every few steps on the current batch
 * (before the step is taken), then the test accuracy.
 */
import type { Tensor } from '@normlab/autograd';
import { type MnistTensors, buildMnistNet, evaluate, trainSgd } from '@normlab/example-kit';
import { lossLandscape } from '@normlab/landscape';
import { type Module, crossEntropy } from '@normlab/nn';
import type { Options, Variant } from './args.js';

export interface ProbeRow {
  lr: number;
  variant: Variant;
  step: number;
  /** L(w) and ||g|| on the probed batch. */
  loss: number;
  gradNorm: number;
  stepSizes: number[];
  /** L(w - eta g), ||g - g(w - eta g)|| and that over ||eta g||, per step size. */
  losses: number[];
  gradDiffs: number[];
  betas: number[];
  lossMin: number;
  lossMax: number;
  lossRange: number;
  gradDiffMin: number;
  gradDiffMax: number;
  betaSmoothness: number;
}

export interface RunResult {
  lr: number;
  variant: Variant;
  /** The training loss of every step taken. */
  losses: number[];
  probes: ProbeRow[];
  divergedAt: number | null;
  testLoss: number;
  testAccuracy: number;
  seconds: number;
  describe: string;
}

const lossOf = (m: Module, b: { x: Tensor; y: Tensor }): Tensor => crossEntropy((m.forward as (t: Tensor) => Tensor)(b.x), b.y);

/** One run; `between` is awaited after every step (the CLI's turn of the event loop, where Ctrl-C stops the run). */
export async function trainRun(
  variant: Variant, lr: number, o: Options, data: MnistTensors, onStep?: (step: number, loss: number, probe: ProbeRow | null) => void,
  between?: (step: number) => Promise<void>,
): Promise<RunResult> {
  const started = performance.now();
  const net = buildMnistNet(o.model, variant, { seed: o.seed, width: o.width });
  const stepSizes = o.stepMultipliers.map((m) => m * lr);
  const losses: number[] = [];
  const probes: ProbeRow[] = [];
  let probe: ProbeRow | null = null;
  const { divergedAt } = await trainSgd(net.model, data.trainX, data.trainY, { steps: o.steps, batchSize: o.batchSize, lr, seed: o.seed + 7 }, {
    between,
    before(step, x, y) {
      probe = null;
      if (step % o.probeEvery !== 0 && step !== o.steps - 1) return;
      const l = lossLandscape(net.model, lossOf, { x, y }, { stepSizes });
      probe = {
        lr, variant, step, loss: l.loss, gradNorm: l.gradNorm, stepSizes, losses: l.losses, gradDiffs: l.gradDiffs, betas: l.betas,
        lossMin: l.min, lossMax: l.max, lossRange: l.range, gradDiffMin: Math.min(...l.gradDiffs), gradDiffMax: l.maxGradDiff, betaSmoothness: l.betaSmoothness,
      };
      probes.push(probe);
    },
    after(step, loss) {
      losses.push(loss);
      onStep?.(step + 1, loss, probe);
    },
  });
  const test = divergedAt === null ? evaluate(net.model, data.testX, data.testY) : { loss: NaN, accuracy: NaN };
  return {
    lr, variant, losses, probes, divergedAt, testLoss: test.loss, testAccuracy: test.accuracy,
    seconds: (performance.now() - started) / 1000, describe: net.describe,
  };
}
