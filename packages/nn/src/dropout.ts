import { Tensor, rand } from '@normlab/autograd';
import { type Generator, div, lt } from '@normlab/tensor';
import { Module } from './module.js';

/** Options of `Dropout` and `dropout`. */
export interface DropoutOptions {
  /** Source of the masks; the default generator (seeded by `manualSeed`) when absent. */
  generator?: Generator;
}

function checkP(op: string, p: number): void {
  if (typeof p !== 'number' || !(p >= 0 && p <= 1)) throw new RangeError(`${op}: dropout probability has to be between 0 and 1, but got ${p}`);
}

/**
 * Inverted dropout (torch.nn.functional.dropout): in training, zeroes each
 * element with probability `p` and scales the kept ones by 1 / (1 - p), so the
 * expected value is unchanged; returns `x` itself when not training or p = 0.
 * p = 1 gives x * 0 (zeros, NaN where x is not finite, as PyTorch).
 *
 * @param x any shape; the output has the same.
 * @example dropout(x, 0.1, { training: model.training, generator: new Generator(0) })
 */
export function dropout(x: Tensor, p = 0.5, options: DropoutOptions & { training?: boolean } = {}): Tensor {
  checkP('dropout', p);
  if (p === 0 || !(options.training ?? true) || x.size === 0) return x;
  if (p === 1) return x.mul(0);
  // Drawn in float64 so that the keep test u < 1 - p is exact for any p; one uniform per element, as bernoulli_.
  const u = rand(x.shape, { dtype: 'float64', generator: options.generator, device: x.device });
  const noise = div(lt(u.data, 1 - p).astype(x.dtype), 1 - p);
  return x.mul(new Tensor(noise));
}

/**
 * Dropout layer (torch.nn.Dropout): `dropout(x, p)` in training mode, the
 * identity after `eval()`. Input and output of any shape.
 *
 * @param p probability of zeroing an element, in [0, 1]; 0.5 by default.
 * @example
 * const drop = new Dropout(0.2, { generator: new Generator(42) });
 * drop.forward(x);        // training: ~20% zeros, the rest x / 0.8
 * drop.eval().forward(x); // x
 */
export class Dropout extends Module {
  readonly generator: Generator | undefined;

  constructor(readonly p = 0.5, options: DropoutOptions = {}) {
    super();
    checkP('Dropout', p);
    this.generator = options.generator;
  }

  forward(x: Tensor): Tensor {
    return dropout(x, this.p, { training: this.training, generator: this.generator });
  }

  override extraRepr(): string {
    return `p=${this.p}`;
  }
}
