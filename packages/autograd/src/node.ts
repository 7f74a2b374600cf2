import { type NDArray, fmtShape, storageVersion } from '@normlab/tensor';
import type { Tensor } from './tensor.js';

/** A value a rule reads at backward, with its storage's version when the op ran. */
interface SavedValue {
  readonly value: NDArray;
  readonly version: number;
  /** 'input 0', 'output', ...: which of the op's values it is. */
  readonly which: string;
}

/** Computes the gradients of an op's inputs from the gradient of its output. */
export type BackwardFn = (gradOutput: Tensor) => readonly (Tensor | null)[];

/** A hook on a tensor's gradient: returns a replacement, or nothing to keep it. */
export type GradHook = (grad: Tensor) => Tensor | void;

/**
 * One recorded op in the graph: the inputs it read and the rule that maps the
 * gradient of its output to theirs. The rule closes over the tensors it needs
 * (its saved tensors) and is dropped after backward unless the graph is
 * retained, which frees them.
 */
export class Node {
  /** Hooks registered on the op's output tensor (a non-leaf). */
  readonly hooks: GradHook[] = [];
  /** Set when the output tensor called `retainGrad()`. */
  retainedBy: Tensor | null = null;
  /** Where the forward was called, recorded inside `detectAnomaly` (null otherwise). */
  forwardStack: string | null = null;
  private rule: BackwardFn | null;
  private saved: SavedValue[] | null = null;
  /**
   * Where each input's gradient goes, fixed when the op ran: the op that
   * produced it, the leaf itself, or nowhere (null: it did not require
   * grad). An in-place op may later make the input tensor the output of
   * another op; this op's gradient still goes where it went then.
   */
  readonly edges: readonly (Node | Tensor | null)[];

  constructor(
    readonly name: string,
    readonly inputs: readonly (Tensor | null)[],
    rule: BackwardFn,
    /** Shape and dtype of the output, for checking gradients handed to it. */
    readonly outputShape: readonly number[],
  ) {
    this.rule = rule;
    this.edges = inputs.map((t) => (t === null || !t.requiresGrad ? null : t.gradFn ?? t));
  }

  get released(): boolean {
    return this.rule === null;
  }

  /**
   * Declares a value the rule reads (a saved tensor, in PyTorch's terms):
   * its storage's version now is remembered, and `apply` refuses to run
   * if the storage was written in place since.
   */
  save(which: string, value: NDArray): void {
    (this.saved ??= []).push({ value, version: storageVersion(value.storage), which });
  }

  apply(gradOutput: Tensor): readonly (Tensor | null)[] {
    if (!this.rule) {
      throw new Error(
        `backward: trying to backward through the graph a second time (the saved tensors of '${this.name}' were freed); pass { retainGraph: true } to the first backward() or grad() to keep them`,
      );
    }
    if (this.saved) {
      for (const s of this.saved) {
        const now = storageVersion(s.value.storage);
        if (now !== s.version) {
          throw new Error(`backward: one of the variables needed for gradient computation has been modified by an inplace operation: [${s.value.dtype} ${fmtShape(s.value.shape)}], `
            + `saved by '${this.name}' (its ${s.which}), is at version ${now}; expected version ${s.version} instead. `
            + 'Hint: the op that wrote it ran after this one; run it on a clone(), or inside detectAnomaly() to see where this op was called');
        }
      }
    }
    return this.rule(gradOutput);
  }

  release(): void {
    this.rule = null;
  }

  toString(): string {
    return `<${this.name}Backward>`;
  }
}
