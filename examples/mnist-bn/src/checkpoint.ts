/**
 * Checkpoints of one variant's training as safetensors files (via `save` of
 * @normlab/nn): the model's state dict under `model.*` (the BN running
 * statistics and num_batches_tracked included), the optimizer's tensor state
 * under `optim.<param index>.<key>`, and in `__metadata__` everything else
 * needed to continue exactly: the step, the position in the epoch, the
 * states of the random generators, the optimizer's groups, the loss sums of
 * the current evaluation window and the time spent so far.
 */
import { readFileSync } from 'node:fs';
import { Tensor } from '@normlab/autograd';
import type { GeneratorState } from '@normlab/tensor';
import { type Module, deserialize, optim, save } from '@normlab/nn';

export const CHECKPOINT_FORMAT = 'normlab-mnist-bn/1';

/** The full state of a Generator (xoshiro128** words and the spare normal), from `Generator.getState()`. */
export type RngState = GeneratorState;

/** What is kept besides the tensors. */
export interface TrainingState {
  variant: string;
  step: number;
  epoch: number;
  /** Batches of the current epoch already consumed. */
  batchInEpoch: number;
  /** The data generator's state before the current epoch's permutation was drawn. */
  epochStartRng: RngState;
  /** The noisy-BN noise generator's state (null for the other variants). */
  noiseRng: RngState | null;
  /** The training losses since the last evaluation. */
  lossSum: number;
  lossCount: number;
  /** Seconds spent in training steps and in total, so far. */
  trainSeconds: number;
  wallSeconds: number;
}

export const checkpointName = (variant: string, step: number): string => `${variant}-step${String(step).padStart(6, '0')}.safetensors`;

/** Writes model, optimizer and training state to `path` (atomically, as `save` does). */
export async function saveCheckpoint(path: string, model: Module, optimizer: optim.SGD, state: TrainingState): Promise<void> {
  const tensors = new Map<string, Tensor>();
  for (const [k, v] of model.stateDict()) tensors.set(`model.${k}`, v);
  const sd = optimizer.stateDict();
  const numbers: Record<string, Record<string, number>> = {};
  for (const [i, s] of sd.state) {
    for (const [k, v] of Object.entries(s)) {
      if (v instanceof Tensor) tensors.set(`optim.${i}.${k}`, v);
      else (numbers[i] ??= {})[k] = v;
    }
  }
  await save(path, tensors, {
    metadata: {
      format: CHECKPOINT_FORMAT,
      training: JSON.stringify(state),
      optimizer: JSON.stringify({ paramGroups: sd.paramGroups, numbers }),
    },
  });
}

/**
 * Reads a checkpoint into `model` and `optimizer`; returns the training state.
 * Everything is read and checked before anything is applied, so a damaged
 * file throws (naming itself) with the model and optimizer untouched.
 */
export function loadCheckpoint(path: string, model: Module, optimizer: optim.SGD): TrainingState {
  let parsed: { tensors: Map<string, Tensor>; metadata: Record<string, string> };
  try {
    parsed = deserialize(readFileSync(path));
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  }
  const { tensors, metadata } = parsed;
  if (metadata.format !== CHECKPOINT_FORMAT) throw new Error(`${path}: not a mnist-bn checkpoint (format '${metadata.format ?? 'none'}')`);
  let saved: { paramGroups: optim.OptimizerStateDict<Required<optim.SGDOptions>>['paramGroups']; numbers: Record<string, Record<string, number>> };
  let training: TrainingState;
  try {
    saved = JSON.parse(metadata.optimizer);
    training = JSON.parse(metadata.training) as TrainingState;
  } catch (e) {
    throw new Error(`${path}: damaged metadata (${(e as Error).message})`);
  }
  const modelState = new Map<string, Tensor>();
  const optimTensors = new Map<number, Record<string, Tensor | number>>();
  const slot = (i: number): Record<string, Tensor | number> => optimTensors.get(i) ?? optimTensors.set(i, {}).get(i)!;
  for (const [k, v] of tensors) {
    if (k.startsWith('model.')) modelState.set(k.slice('model.'.length), v);
    else if (k.startsWith('optim.')) {
      const [, i, key] = k.split('.');
      slot(Number(i))[key] = v;
    }
  }
  for (const [i, nums] of Object.entries(saved.numbers)) Object.assign(slot(Number(i)), nums);
  // loadStateDict checks every key, shape and dtype before copying anything.
  model.loadStateDict(modelState);
  optimizer.loadStateDict({ state: optimTensors, paramGroups: saved.paramGroups });
  return training;
}

/** The checkpoints of `variant`: `<variant>-step<N>.safetensors`, N the step. */
export function checkpointPattern(variant: string): RegExp {
  return new RegExp(`^${variant.replace(/[-]/g, '\\-')}-step(\\d+)\\.safetensors$`);
}
