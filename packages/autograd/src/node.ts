import type { Tensor } from './tensor.js';

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

  constructor(
    readonly name: string,
    readonly inputs: readonly (Tensor | null)[],
    rule: BackwardFn,
    /** Shape and dtype of the output, for checking gradients handed to it. */
    readonly outputShape: readonly number[],
  ) {
    this.rule = rule;
  }

  get released(): boolean {
    return this.rule === null;
  }

  apply(gradOutput: Tensor): readonly (Tensor | null)[] {
    if (!this.rule) {
      throw new Error(
        `backward: trying to backward through the graph a second time (the saved tensors of '${this.name}' were freed); pass { retainGraph: true } to the first backward() or grad() to keep them`,
      );
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
