import { Tensor } from '@normlab/autograd';
import { Module } from '@normlab/nn';
import type * as nd from '@normlab/tensor';

/** Which layers to watch: modules of the model, their dotted names, or a map from labels of your choice to modules. */
export type LayerSelection = Module | readonly Module[] | readonly string[] | Readonly<Record<string, Module>>;

/** Options of `activationStats`: which percentiles, and whether to watch layer outputs or inputs. */
export interface ActivationStatsOptions {
  /** Percentiles to report, in [0, 100]; [15, 50, 85] by default (the BN paper's figure 1). */
  percentiles?: readonly number[];
  /** Watch each layer's output (default) or its first input (e.g. the input of a Sigmoid module). */
  on?: 'output' | 'input';
  /** Only this index along dim 1 (one unit of [N, C], one channel of [N, C, H, W]); all values by default. */
  channel?: number;
}

/** The statistics of one layer's activations at one `record()`. */
export interface ActivationRow {
  /** The step given to `record(step)`, or the number of earlier `record()` calls. */
  step: number;
  /** The layer's label (its dotted name, or the key given in a map). */
  layer: string;
  /** Number of values summarized. */
  count: number;
  mean: number;
  /** Population variance (1/n sum (x - mean)^2, numpy's default ddof = 0). */
  variance: number;
  /** One value per requested percentile, in the order of `recorder.percentiles`. */
  percentiles: number[];
}

/** What `activationStats` returns: `record(step)` after a forward pass, `rows()` for the table, `remove()` to detach the hooks. */
export interface ActivationRecorder {
  readonly percentiles: readonly number[];
  /** The labels of the watched layers, in order. */
  readonly layers: readonly string[];
  /**
   * Summarizes the latest activation of every watched layer that ran since
   * the previous `record()` (a layer that did not is skipped), appends the
   * rows and returns them. Call it after a forward, e.g. every k steps; the
   * hooks themselves only keep a reference to the latest activation.
   */
  record(step?: number): ActivationRow[];
  /** Every row recorded so far. */
  rows(): ActivationRow[];
  /** Unregisters the hooks (the rows stay). */
  remove(): void;
}

/**
 * Forward-hook recorders of the distribution of some layers' activations
 * over training, as figure 1 of the BN paper (Ioffe & Szegedy 2015) plots
 * them: percentiles (15, 50, 85 by default, linear interpolation between
 * order statistics as numpy.percentile's default), mean and variance of all
 * the values of a layer's output (or input) in a forward, or of one unit.
 * The hooks never change the output nor any state of the model.
 *
 * @example
 * const rec = activationStats(model, { sigmoid1: model.act1 }, { on: 'input' });
 * for (const [step, batch] of batches.entries()) { trainStep(batch); if (step % 50 === 0) rec.record(step); }
 * rec.rows(); // [{ step, layer: 'sigmoid1', count, mean, variance, percentiles: [p15, p50, p85] }, ...]
 */
export function activationStats(model: Module, layers: LayerSelection, options: ActivationStatsOptions = {}): ActivationRecorder {
  const percentiles = Object.freeze([...(options.percentiles ?? [15, 50, 85])]);
  for (const p of percentiles) if (!(p >= 0 && p <= 100)) throw new RangeError(`activationStats: percentiles must be in [0, 100], got ${p}`);
  const on = options.on ?? 'output';
  if (on !== 'output' && on !== 'input') throw new RangeError(`activationStats: 'on' must be 'output' or 'input', got '${String(on)}'`);
  const channel = options.channel;
  if (channel !== undefined && !(Number.isInteger(channel) && channel >= 0)) throw new RangeError(`activationStats: channel must be a non-negative integer, got ${channel}`);
  const watched = resolveLayers(model, layers);
  const latest = new Map<string, nd.NDArray>();
  const handles = watched.map(([label, module]) => module.registerForwardHook((_m, inputs, output) => {
    const v = on === 'output' ? output : inputs[0];
    if (v instanceof Tensor) latest.set(label, v.data);
    return undefined;
  }));
  const all: ActivationRow[] = [];
  let calls = 0;
  return {
    percentiles,
    layers: watched.map(([label]) => label),
    record(step?: number): ActivationRow[] {
      const s = step ?? calls;
      calls++;
      const rows: ActivationRow[] = [];
      for (const [label] of watched) {
        const a = latest.get(label);
        if (!a) continue;
        latest.delete(label);
        if ((a as { isDisposed?: boolean }).isDisposed === true) throw new Error(`activationStats: the activation of '${label}' was disposed (by tidy) before record(); call record() inside the scope that ran the forward`);
        const values = valuesOf(a, channel, label);
        rows.push({ step: s, layer: label, ...summarize(values, percentiles) });
      }
      all.push(...rows);
      return rows;
    },
    rows: () => [...all],
    remove(): void {
      for (const h of handles) h.remove();
      latest.clear();
    },
  };
}

function resolveLayers(model: Module, layers: LayerSelection): [string, Module][] {
  const named = [...model.namedModules()];
  const nameOf = new Map(named.map(([n, m]) => [m, n]));
  const byName = new Map(named);
  const label = (m: Module): string => {
    const n = nameOf.get(m);
    if (n === undefined) throw new Error(`activationStats: ${m.constructor.name} is not a module of the model`);
    return n === '' ? '(model)' : n;
  };
  if (layers instanceof Module) return [[label(layers), layers]];
  if (Array.isArray(layers)) {
    return (layers as readonly (Module | string)[]).map((l): [string, Module] => {
      if (l instanceof Module) return [label(l), l];
      const m = byName.get(l);
      if (!m) throw new Error(`activationStats: the model has no module named '${l}'`);
      return [l, m];
    });
  }
  return Object.entries(layers as Record<string, Module>).map(([k, m]): [string, Module] => {
    if (!(m instanceof Module)) throw new TypeError(`activationStats: '${k}' is not a Module`);
    label(m);
    return [k, m];
  });
}

function valuesOf(a: nd.NDArray, channel: number | undefined, label: string): Float64Array {
  const raw = a.toTypedArray() as ArrayLike<number>;
  if (channel === undefined) return Float64Array.from(raw);
  if (a.ndim < 2 || channel >= a.shape[1]) throw new RangeError(`activationStats: channel ${channel} is out of range for '${label}' of shape [${a.shape.join(', ')}]`);
  const C = a.shape[1];
  let inner = 1;
  for (let d = 2; d < a.ndim; d++) inner *= a.shape[d];
  const out = new Float64Array(a.size / C);
  let o = 0;
  for (let k = 0; k < raw.length; k++) if (Math.floor(k / inner) % C === channel) out[o++] = raw[k];
  return out;
}

/** Count, mean, population variance and percentiles (numpy's 'linear' method) of `values`. */
export function summarize(values: Float64Array, percentiles: readonly number[]): { count: number; mean: number; variance: number; percentiles: number[] } {
  const n = values.length;
  if (n === 0) return { count: 0, mean: NaN, variance: NaN, percentiles: percentiles.map(() => NaN) };
  let s = 0;
  for (let i = 0; i < n; i++) s += values[i];
  const mean = s / n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (values[i] - mean) ** 2;
  return { count: n, mean, variance: ss / n, percentiles: percentile(values, percentiles) };
}

/**
 * numpy.percentile(values, q) with the default 'linear' method: the value
 * at rank (n - 1) q / 100 of the sorted values, interpolated between the two
 * order statistics around it (as numpy's _lerp, exact at both ends). NaN
 * when any value is NaN, as numpy, and for no values; a q outside [0, 100]
 * throws.
 */
export function percentile(values: ArrayLike<number>, q: readonly number[]): number[] {
  for (const p of q) if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile: q must be in [0, 100], got ${p}`);
  const sorted = Float64Array.from(values).sort();
  const n = sorted.length;
  if (n === 0 || Number.isNaN(sorted[n - 1])) return q.map(() => NaN);
  return q.map((p) => {
    const rank = (p / 100) * (n - 1);
    const lo = Math.floor(rank);
    const hi = Math.min(lo + 1, n - 1);
    const t = rank - lo;
    const a = sorted[lo];
    const b = sorted[hi];
    const diff = b - a;
    return t >= 0.5 ? b - diff * (1 - t) : a + diff * t;
  });
}
