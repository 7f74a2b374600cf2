/**
 * Memory management: `dispose()` and `tidy(fn)` scopes (as tfjs), so that
 * device memory is freed without waiting for the garbage collector.
 *
 * Every storage carries a mark, set the first time an NDArray wraps it: the
 * scope that created it, or one of the states below. A scope ends by
 * disposing the storages it created that are reachable neither from its
 * return value nor from a "holder" (a parameter, gradient, buffer or
 * optimizer state written during the scope). See docs/tensors.md.
 */
import type { Storage } from './backend.js';

/** The mark of a storage: its creating scope, or one of the sentinels. */
type Mark = Scope | typeof UNSCOPED | typeof HELD | typeof DISPOSED;

/** @internal The property of a storage holding its mark (absent until an NDArray wraps it). */
export const MARK: unique symbol = Symbol('normlab.storageMark');

/** Created outside any scope, returned from the outermost one, or exempted by `keep`: never disposed automatically. */
const UNSCOPED = { name: 'unscoped' } as const;
/** Kept by a scope only because a holder referred to it: disposed by a later scope once released. */
const HELD = { name: 'held' } as const;
const DISPOSED = { name: 'disposed' } as const;

/**
 * Objects that hold arrays implement this to tell `tidy` what they reach
 * (a Tensor its data and grad, an optimizer its state, a module its
 * parameters and buffers): a method returning the values to visit.
 */
export const TIDY_CHILDREN: unique symbol = Symbol.for('normlab.tidyChildren');

/** A long-lived object (a module, an optimizer) whose `[TIDY_CHILDREN]()` lists the values a `tidy` scope must keep when the object is returned from it or written to during it. */
export interface TidyHolder {
  [TIDY_CHILDREN](): Iterable<unknown>;
}

type Marked = Storage & { [MARK]?: Mark };

interface Scope {
  readonly parent: Scope | null;
  /** Storages created in the scope (or handed to it by an inner scope). */
  readonly created: Marked[];
  /** Held storages whose holder slot was overwritten in the scope. */
  readonly released: Set<Marked>;
  /**
   * Holders written in the scope, with the scope that created the holder's
   * data (a holder created in a scope is a temporary of that scope, not a root).
   */
  readonly holders: Map<object, unknown>;
}

let current: Scope | null = null;
/** Held storages released while no scope was active; the next scope end decides on them. */
const pendingReleased = new Set<Marked>();

/** @internal Called by the NDArray constructor for a storage it sees for the first time. */
export function markNewStorage(s: Storage): void {
  const m = s as Marked;
  if (current === null) {
    m[MARK] = UNSCOPED;
    return;
  }
  m[MARK] = current;
  current.created.push(m);
}

/** Whether `s` was disposed (by `NDArray.dispose`, `Tensor.dispose` or a tidy scope). */
export function isDisposed(s: Storage): boolean {
  return (s as Marked)[MARK] === DISPOSED;
}

/** Throws `op: ... was disposed` when `s` was disposed. */
export function checkNotDisposed(op: string, s: Storage): void {
  if ((s as Marked)[MARK] === DISPOSED) {
    throw new Error(`${op}: the array was disposed (its ${s.device} storage was freed by dispose() or tidy()) and cannot be used`);
  }
}

/** Frees `s` now (idempotent): the backend's `dispose` runs once, and every array on `s` becomes unusable. */
export function disposeStorage(s: Storage): void {
  const m = s as Marked;
  if (m[MARK] === DISPOSED) return;
  m[MARK] = DISPOSED;
  s.dispose?.();
}

/** True while a `tidy` scope runs. */
export function isTidyActive(): boolean {
  return current !== null;
}

/**
 * @internal A holder slot (a Tensor's data or grad, a module buffer, an
 * optimizer state) is overwritten: `holder` becomes a root of the active
 * scope (when it is older than the scope), and `old`, when a scope kept it
 * only for a holder, may be disposed at the scope's end. `holderBirth` is
 * the storage whose creation dates the holder (null for long-lived holders
 * such as modules and optimizers).
 */
export function noteHolderWrite(holder: object, holderBirth: Storage | null, old: Storage | null | undefined): void {
  if (old && (old as Marked)[MARK] === HELD) (current ? current.released : pendingReleased).add(old as Marked);
  if (current === null || current.holders.has(holder)) return;
  current.holders.set(holder, holderBirth ? (holderBirth as Marked)[MARK] : null);
}

/** @internal Registers `holder` as a root of the active scope without a release. */
export function noteHolder(holder: object): void {
  if (current !== null && !current.holders.has(holder)) current.holders.set(holder, null);
}

/** Adds the storages reachable from `value` to `out`. */
function collect(value: unknown, out: Set<Marked>, seen: Set<object>): void {
  if (value === null || typeof value !== 'object') return;
  if (seen.has(value)) return;
  seen.add(value);
  const v = value as { storage?: unknown; [TIDY_CHILDREN]?: () => Iterable<unknown> };
  if (typeof v[TIDY_CHILDREN] === 'function') {
    for (const c of v[TIDY_CHILDREN]()) collect(c, out, seen);
    return;
  }
  if (isArrayLike(value)) {
    out.add((value as { storage: Marked }).storage);
    return;
  }
  if (Array.isArray(value) || value instanceof Set) {
    for (const c of value) collect(c, out, seen);
    return;
  }
  if (value instanceof Map) {
    for (const [k, c] of value) {
      collect(k, out, seen);
      collect(c, out, seen);
    }
    return;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto === Object.prototype || proto === null) for (const c of Object.values(value)) collect(c, out, seen);
}

/** Set by ndarray.ts (which imports this module) to recognize NDArrays without an import cycle. */
let isArrayLike: (v: unknown) => boolean = () => false;

/** @internal */
export function setArrayPredicate(p: (v: unknown) => boolean): void {
  isArrayLike = p;
}

/** The storages reachable from `value`: NDArrays, arrays, Maps, Sets, plain objects and holders, recursively. */
export function reachableStorages(value: unknown): Set<Storage> {
  const out = new Set<Marked>();
  collect(value, out, new Set());
  return out;
}

/**
 * Runs `fn` in a scope and disposes every storage created during it that
 * is not reachable from its return value (NDArrays, Tensors, and arrays,
 * Maps, Sets and plain objects of them) nor from a parameter, gradient,
 * buffer or optimizer state written during it. Scopes nest: what a scope
 * returns belongs to the enclosing one. A Promise is not awaited: `fn` must
 * be synchronous.
 *
 * @example
 * const loss = tidy(() => {
 *   opt.zeroGrad();
 *   const l = crossEntropy(model.forward(x), y);
 *   l.backward();
 *   opt.step();
 *   return l.detach();
 * }); // the activations and intermediate gradients are freed here
 */
export function tidy<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw new TypeError('tidy: expected a function');
  const scope: Scope = { parent: current, created: [], released: new Set(), holders: new Map() };
  current = scope;
  let result: T;
  try {
    result = fn();
  } catch (e) {
    // Nothing is returned: free the scope's temporaries, keep what holders reach.
    current = scope.parent;
    endScope(scope, undefined);
    throw e;
  }
  current = scope.parent;
  if (result instanceof Promise) throw new TypeError('tidy: fn must be synchronous (it returned a Promise)');
  endScope(scope, result);
  return result;
}

function endScope(scope: Scope, result: unknown): void {
  const parent = scope.parent;
  const returned = new Set<Marked>();
  const seen = new Set<object>();
  collect(result, returned, seen);
  // Holders created in this scope are its temporaries: what they reach is not kept on their account.
  const held = new Set<Marked>();
  const seenHeld = new Set<object>();
  for (const [holder, birth] of scope.holders) if (birth !== scope) collect(holder, held, seenHeld);

  const decide = (s: Marked): void => {
    if (returned.has(s)) {
      if (parent) {
        s[MARK] = parent;
        parent.created.push(s);
      } else s[MARK] = UNSCOPED;
    } else if (held.has(s)) {
      if (parent) {
        s[MARK] = parent;
        parent.created.push(s);
      } else s[MARK] = HELD;
    } else disposeStorage(s);
  };
  for (const s of scope.created) if (s[MARK] === scope) decide(s);
  const released = [...scope.released];
  if (pendingReleased.size > 0) {
    released.push(...pendingReleased);
    pendingReleased.clear();
  }
  for (const s of released) {
    if (s[MARK] !== HELD) continue;
    if (returned.has(s)) s[MARK] = UNSCOPED;
    else if (!held.has(s)) {
      if (parent) parent.released.add(s); // an outer holder may still refer to it: the parent decides
      else disposeStorage(s);
    }
  }
  if (parent) {
    for (const [holder, birth] of scope.holders) {
      // A holder born in this scope that survived is now the parent's.
      const b = birth === scope ? parent : birth;
      if (!parent.holders.has(holder)) parent.holders.set(holder, b);
    }
  }
}

/**
 * Exempts the storages of `value` (an NDArray, a Tensor, or a structure of
 * them) from every scope: they are never disposed automatically (only by
 * an explicit `dispose()`). Returns `value`.
 */
export function keep<T>(value: T): T {
  for (const s of reachableStorages(value)) {
    const m = s as Marked;
    if (m[MARK] !== DISPOSED) m[MARK] = UNSCOPED;
  }
  return value;
}

/** Disposes every storage reachable from `value` (as `keep` finds them). */
export function dispose(value: unknown): void {
  for (const s of reachableStorages(value)) disposeStorage(s);
}
