/**
 * State-dict keys as PyTorch names them. normlab's fields are camelCase
 * (`runningMean`, `numBatchesTracked`, weight norm's `weightG`), PyTorch's
 * snake_case (`running_mean`, `num_batches_tracked`, `weight_g`); the dotted
 * paths and list indices are the same, so the names map segment by segment.
 */

/**
 * PyTorch's name for a normlab state-dict key: in every dotted segment, each
 * lower-case letter or digit followed by a capital becomes that letter, an
 * underscore and the capital in lower case (`1.runningVar` ->
 * `1.running_var`). Other segments (`weight`, `0`, `fc1`) stay as they are.
 */
export function pytorchKey(key: string): string {
  return key.split('.').map((segment) => segment.replace(/([a-z0-9])([A-Z])/g, (_, a: string, b: string) => `${a}_${b.toLowerCase()}`)).join('.');
}

/** @internal camelCase of one snake_case name (`exp_avg_sq` -> `expAvgSq`): pytorchKey's inverse on a segment. */
export function camelName(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}
