/**
 * The complete state of a `Generator`: the four xoshiro128** words (unsigned
 * 32-bit integers, not all zero) and the second Box-Muller normal kept for
 * the next `normal()` call (null when none is pending). A plain JSON-safe
 * object: `JSON.stringify` it into a checkpoint and `setState` it back.
 */
export interface GeneratorState {
  s0: number;
  s1: number;
  s2: number;
  s3: number;
  spare: number | null;
}

/** While set, called with the generator before every draw (see `watchDraws`). */
let drawWatcher: ((g: Generator) => void) | null = null;

/**
 * Runs `fn` with `watcher` called before every draw of any generator (with
 * that generator), ahead of a watcher already set, which still runs: how
 * vmap refuses random ops, or replays the same draws for every example.
 * Returns fn's result.
 */
export function watchDraws<T>(watcher: (g: Generator) => void, fn: () => T): T {
  const outer = drawWatcher;
  drawWatcher = outer ? (g) => {
    watcher(g);
    outer(g);
  } : watcher;
  try {
    return fn();
  } finally {
    drawWatcher = outer;
  }
}

/**
 * A seedable pseudo-random generator (xoshiro128**, seeded by splitmix32), so
 * every random tensor is reproducible: `manualSeed(0)` then `randn([2, 3])`
 * gives the same numbers on every machine and every run.
 */
export class Generator {
  /**
   * The four state words, as int32 bits: in a typed array rather than four
   * number fields, because V8 boxes an int32 beyond Smi range (31 bits)
   * stored into a field, an allocation per draw.
   */
  private readonly s = new Int32Array(4);
  private spare: number | null = null;

  constructor(seed = 0) {
    this.manualSeed(seed);
  }

  /** Resets the state from an integer seed (any safe integer). */
  manualSeed(seed: number): this {
    if (!Number.isSafeInteger(seed)) throw new RangeError(`manualSeed: seed must be a safe integer, got ${seed}`);
    // splitmix32 from the low 32 bits fills the four state words; the high
    // bits (the sign included) are mixed in by a second splitmix32 stream, so
    // that e.g. seeds 0 and -1, or 0 and 2^32 + 1, give different streams.
    // Seeds in 0..2^32-1 give the same streams as before.
    const splitmix = (start: number): (() => number) => {
      let x = start | 0;
      return (): number => {
        x = (x + 0x9e3779b9) | 0;
        let z = x;
        z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
        z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
        return (z ^ (z >>> 16)) >>> 0;
      };
    };
    const next = splitmix(seed >>> 0);
    const s = this.s;
    for (let i = 0; i < 4; i++) s[i] = next();
    const high = Math.floor(seed / 2 ** 32);
    if (high !== 0) {
      const mix = splitmix(high ^ 0x5bd1e995);
      for (let i = 0; i < 4; i++) s[i] ^= mix();
    }
    if ((s[0] | s[1] | s[2] | s[3]) === 0) s[0] = 1; // xoshiro's one forbidden state
    this.spare = null;
    return this;
  }

  /**
   * A copy of the generator's state (as `torch.Generator.get_state()`):
   * `setState` of it later makes the generator draw the same numbers again.
   */
  getState(): GeneratorState {
    const s = this.s;
    return { s0: s[0] >>> 0, s1: s[1] >>> 0, s2: s[2] >>> 0, s3: s[3] >>> 0, spare: this.spare };
  }

  /**
   * Restores a state from `getState()` (of this or any generator), checking
   * it: four unsigned 32-bit integer words, not all zero, and `spare` null or
   * a finite number. The state object is copied, not kept.
   */
  setState(state: GeneratorState): this {
    if (state === null || typeof state !== 'object') throw new TypeError(`setState: expected a generator state object, got ${String(state)}`);
    const words = [state.s0, state.s1, state.s2, state.s3];
    words.forEach((w, i) => {
      if (!Number.isInteger(w) || w < 0 || w > 0xffffffff) throw new RangeError(`setState: s${i} must be an unsigned 32-bit integer, got ${String(w)}`);
    });
    if ((words[0] | words[1] | words[2] | words[3]) === 0) throw new RangeError('setState: the four state words cannot all be zero (xoshiro128** would only draw zeros)');
    const spare = state.spare ?? null;
    if (spare !== null && !(typeof spare === 'number' && Number.isFinite(spare))) throw new RangeError(`setState: spare must be null or a finite number, got ${String(spare)}`);
    this.s.set(words.map((w) => w | 0));
    this.spare = spare;
    return this;
  }

  /** The next 32 random bits as an unsigned integer. */
  nextUint32(): number {
    if (drawWatcher !== null) drawWatcher(this);
    const s = this.s;
    const s0 = s[0];
    const s1 = s[1];
    const s2 = s[2] ^ s0;
    const s3 = s[3] ^ s1;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    s[0] = s0 ^ s3;
    s[1] = s1 ^ s2;
    s[2] = s2 ^ (s1 << 9);
    s[3] = rotl(s3, 11);
    return result;
  }

  /** A uniform double in [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** A standard normal sample (Box-Muller; the second value is kept for the next call). */
  normal(): number {
    if (drawWatcher !== null) drawWatcher(this);
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** A uniform integer in [low, high). */
  int(low: number, high: number): number {
    return low + Math.floor(this.uniform() * (high - low));
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** The generator that random ops use when none is passed. */
export const defaultGenerator = new Generator(0);

/** Seeds the default generator, like `torch.manual_seed`. */
export function manualSeed(seed: number): Generator {
  return defaultGenerator.manualSeed(seed);
}
