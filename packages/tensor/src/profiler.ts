/**
 * A profiler in the spirit of torch.profiler's key averages: `profile(fn)`
 * runs `fn` once and returns, per name, the calls, the total and the self
 * time (total minus the time of the scopes nested in it) and the bytes of
 * the arrays the kernels returned.
 *
 * Scopes come from three places: every call of a device backend's kernels
 * (`binary:mul`, `matmul`, `normalizeForward`, ...; timed through
 * `backendFor` while a profile runs), the backward of every autograd node
 * (`backward:matmul`, ...; from @normlab/autograd), and `recordFunction(name,
 * fn)` for a user's own regions (optimizers record `optimizer.step`). The
 * self time of a backward scope is the JavaScript around its kernels.
 *
 * On a device with an asynchronous queue (the gpu backend) a kernel's time is
 * what the host spends issuing it; reads wait for the queue, so the time of
 * queued work shows in the scope that reads.
 */
import type { Backend } from './backend.js';
import { DTYPE_BYTES } from './dtype.js';
import { NDArray } from './ndarray.js';

/** One row of a profile: the totals of every scope of one name. */
export interface ProfileRow {
  name: string;
  calls: number;
  /** Wall time inside the scopes, nested scopes included, in ms. */
  totalMs: number;
  /** totalMs minus the time of the scopes directly nested in them, in ms. */
  selfMs: number;
  /** Bytes of the arrays returned by the kernels of these scopes (0 for scopes that are not kernels). */
  bytes: number;
}

/** What `profile` returns. */
export interface Profile<T> {
  /** What `fn` returned. */
  result: T;
  /** Wall time of the whole call, in ms. */
  wallMs: number;
  /** One row per scope name, by self time, largest first. */
  rows: ProfileRow[];
  /** The rows as a text table (the `limit` largest by self time; all by default). */
  table(limit?: number): string;
}

interface Frame {
  name: string;
  start: number;
  child: number;
}

interface Session {
  stats: Map<string, ProfileRow>;
  stack: Frame[];
}

let session: Session | null = null;

/** Whether a profile is being recorded (backends and the autograd engine check it before timing anything). */
export function isProfiling(): boolean {
  return session !== null;
}

function enter(name: string): Frame | null {
  if (!session) return null;
  const f = { name, start: performance.now(), child: 0 };
  session.stack.push(f);
  return f;
}

function exit(f: Frame | null, bytes: number): void {
  if (!f || !session) return;
  const dur = performance.now() - f.start;
  session.stack.pop();
  const parent = session.stack.at(-1);
  if (parent) parent.child += dur;
  let row = session.stats.get(f.name);
  if (!row) {
    row = { name: f.name, calls: 0, totalMs: 0, selfMs: 0, bytes: 0 };
    session.stats.set(f.name, row);
  }
  row.calls++;
  row.totalMs += dur;
  row.selfMs += dur - f.child;
  row.bytes += bytes;
}

/** Runs `fn` as a scope named `name` of the current profile (just `fn()` when none is recording). */
export function recordFunction<T>(name: string, fn: () => T): T {
  if (!session) return fn();
  const f = enter(name);
  try {
    return fn();
  } finally {
    exit(f, 0);
  }
}

function bytesOf(out: unknown): number {
  if (out instanceof NDArray) return out.size * DTYPE_BYTES[out.dtype];
  if (Array.isArray(out)) {
    // Kernels that return [y, xhat] may return the same array twice.
    const seen = new Set<unknown>();
    let b = 0;
    for (const o of out) if (o instanceof NDArray && !seen.has(o.storage)) {
      seen.add(o.storage);
      b += bytesOf(o);
    }
    return b;
  }
  return 0;
}

/** Kernels named by their op as well: `binary:mul`, `unary:exp`, `reduce:sum`. */
const BY_OP = new Set(['unary', 'binary', 'reduce', 'argReduce']);

const wrapped = new WeakMap<Backend, Backend>();

/** @internal `backend` with every kernel call recorded as a scope (used by `backendFor` while profiling). */
export function profiledBackend(backend: Backend): Backend {
  let p = wrapped.get(backend);
  if (!p) {
    p = new Proxy(backend, {
      get(target, key, receiver) {
        const v = Reflect.get(target, key, receiver);
        if (typeof v !== 'function' || typeof key !== 'string' || key === 'upload' || key === 'constructor') return v;
        return (...args: unknown[]) => {
          if (!session) return v.apply(target, args);
          const f = enter(BY_OP.has(key) ? `${key}:${String(args[0])}` : key);
          let out: unknown;
          try {
            out = v.apply(target, args);
            return out;
          } finally {
            exit(f, bytesOf(out));
          }
        };
      },
    });
    wrapped.set(backend, p);
  }
  return p;
}

function formatTable(rows: readonly ProfileRow[], wallMs: number, limit: number): string {
  const shown = rows.slice(0, limit);
  const selfSum = rows.reduce((s, r) => s + r.selfMs, 0);
  const fmtBytes = (b: number): string => (b === 0 ? '' : b >= 2 ** 20 ? `${(b / 2 ** 20).toFixed(1)} MiB` : `${(b / 1024).toFixed(1)} KiB`);
  const head = ['name', 'calls', 'total ms', 'self ms', 'self %', 'allocated'];
  const body = shown.map((r) => [r.name, String(r.calls), r.totalMs.toFixed(3), r.selfMs.toFixed(3), ((100 * r.selfMs) / wallMs).toFixed(1), fmtBytes(r.bytes)]);
  body.push(['(outside every scope)', '', '', (wallMs - selfSum).toFixed(3), ((100 * (wallMs - selfSum)) / wallMs).toFixed(1), '']);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (r: string[]): string => r.map((v, i) => (i === 0 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line), `wall time ${wallMs.toFixed(3)} ms`].join('\n');
}

/**
 * Runs `fn` once while recording every kernel, autograd backward and
 * `recordFunction` scope, and returns the per-name totals. Profiles do not
 * nest: calling `profile` inside `fn` is an error.
 *
 * @example
 * const p = profile(() => tidy(() => { opt.zeroGrad(); loss(model(x), y).backward(); opt.step(); }));
 * console.log(p.table(15));
 */
export function profile<T>(fn: () => T): Profile<T> {
  if (session) throw new Error('profile: a profile is already being recorded (profiles do not nest)');
  const s: Session = { stats: new Map(), stack: [] };
  session = s;
  const start = performance.now();
  let result: T;
  try {
    result = fn();
  } finally {
    session = null;
  }
  const wallMs = performance.now() - start;
  const rows = [...s.stats.values()].sort((a, b) => b.selfMs - a.selfMs);
  return { result, wallMs, rows, table: (limit = rows.length) => formatTable(rows, wallMs, limit) };
}
