/**
 * The first-fit arena of the wasm kernels' memory (src/cpu/wasm/arena.ts):
 * unit tests of its edges, and random alloc/release sequences checked after
 * every step against a model of its documented behaviour: 64-byte aligned,
 * non-overlapping blocks inside [base, limit), the lowest free gap that fits
 * (else the top), free neighbours merged, a free block at the top lowering
 * the top, and the memory grown to cover the top.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Arena, type GrowableMemory } from '../src/cpu/wasm/arena.js';

const PAGE = 65536;
const ALIGN = 64;
/** The block size the arena hands out for a request of `bytes`. */
const blockFor = (bytes: number): number => Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);

/** What the Arena touches of a memory: `buffer.byteLength` and `grow(pages)` (which records its calls). */
class FakeMemory {
  byteLength: number;
  readonly grows: number[] = [];
  constructor(pages: number, private readonly maxPages = Infinity) {
    this.byteLength = pages * PAGE;
  }

  get buffer(): SharedArrayBuffer {
    return { byteLength: this.byteLength } as SharedArrayBuffer;
  }

  grow(pages: number): number {
    if (!Number.isInteger(pages) || pages < 0) throw new RangeError(`grow(${pages})`);
    const old = this.byteLength / PAGE;
    if (old + pages > this.maxPages) throw new RangeError('WebAssembly.Memory.grow(): Maximum memory size exceeded');
    this.grows.push(pages);
    this.byteLength += pages * PAGE;
    return old;
  }
}

const asMemory = (m: FakeMemory): GrowableMemory => m;

/** Live blocks as [addr, size] sorted by address. */
function layout(arena: Arena, live: Iterable<number>): [number, number][] {
  return [...live].map((a) => [a, arena.blockSize(a)!] as [number, number]).sort((x, y) => x[0] - y[0]);
}

/** The free gaps below the top: [start, size] in address order. */
function gaps(base: number, blocks: [number, number][]): [number, number][] {
  const out: [number, number][] = [];
  let at = base;
  for (const [a, s] of blocks) {
    if (a > at) out.push([at, a - at]);
    at = a + s;
  }
  return out;
}

/**
 * Checks every invariant of `arena` against the live blocks and what was
 * requested for each; returns the gaps (the model's free list).
 */
function checkInvariants(arena: Arena, mem: FakeMemory, base: number, limit: number, requested: Map<number, number>): [number, number][] {
  const blocks = layout(arena, requested.keys());
  let total = 0;
  let prevEnd = base;
  for (const [a, s] of blocks) {
    expect(s).toBeDefined();
    expect(a % ALIGN).toBe(0);
    expect(s % ALIGN).toBe(0);
    expect(a).toBeGreaterThanOrEqual(prevEnd); // no overlap, and at or above base
    expect(a + s).toBeLessThanOrEqual(limit);
    expect(s).toBeGreaterThanOrEqual(requested.get(a)!);
    expect(s).toBe(blockFor(requested.get(a)!));
    total += s;
    prevEnd = a + s;
  }
  expect(arena.usedBytes).toBe(total);
  // The top is the end of the highest live block: a free block at the top would have lowered it.
  expect(arena.topAddress).toBe(blocks.length ? prevEnd : base);
  // Free blocks are exactly the maximal gaps between live blocks (merged with their neighbours).
  const g = gaps(base, blocks);
  expect(arena.freeBlockCount).toBe(g.length);
  expect(mem.byteLength).toBeGreaterThanOrEqual(arena.topAddress);
  return g;
}

describe('Arena', () => {
  it('rejects bounds that are not multiples of 64 or out of order', () => {
    const m = asMemory(new FakeMemory(1));
    expect(() => new Arena(m, 32, 1024)).toThrow(RangeError);
    expect(() => new Arena(m, 64, 1000)).toThrow(RangeError);
    expect(() => new Arena(m, 2048, 1024)).toThrow(RangeError);
    expect(new Arena(m, 1024, 1024).alloc(1)).toBe(-1); // empty range: nothing fits
  });

  it('hands out 64-byte aligned blocks of at least the requested size, from base upwards', () => {
    const arena = new Arena(asMemory(new FakeMemory(1)), 128, 1 << 20);
    expect(arena.topAddress).toBe(128);
    const a = arena.alloc(1);
    const b = arena.alloc(0);
    const c = arena.alloc(65);
    expect([a, b, c]).toEqual([128, 192, 256]);
    expect([arena.blockSize(a), arena.blockSize(b), arena.blockSize(c)]).toEqual([64, 64, 128]);
    expect(arena.usedBytes).toBe(256);
    expect(arena.topAddress).toBe(384);
    expect(arena.blockSize(c + 64)).toBeUndefined(); // inside c's block
  });

  it('rejects sizes that are not non-negative integers', () => {
    const arena = new Arena(asMemory(new FakeMemory(1)), 0, 1 << 20);
    for (const bad of [-1, 1.5, NaN, Infinity]) expect(() => arena.alloc(bad)).toThrow(RangeError);
    expect(arena.usedBytes).toBe(0);
    expect(arena.topAddress).toBe(0);
  });

  it('grows the memory (in whole pages, with headroom) only when the top passes its end', () => {
    const mem = new FakeMemory(1);
    const arena = new Arena(asMemory(mem), 1024, 64 * PAGE);
    arena.alloc(PAGE - 1024); // fills the first page exactly
    expect(mem.grows).toEqual([]);
    arena.alloc(64);
    expect(mem.grows.length).toBe(1);
    expect(mem.byteLength).toBeGreaterThanOrEqual(arena.topAddress);
    const big = arena.alloc(10 * PAGE);
    expect(mem.byteLength).toBeGreaterThanOrEqual(big + 10 * PAGE);
    expect(mem.byteLength % PAGE).toBe(0);
    // Space below the memory's end is reused without growing it.
    const grows = mem.grows.length;
    arena.release(big);
    arena.alloc(5 * PAGE);
    arena.alloc(5 * PAGE);
    expect(mem.grows.length).toBe(grows);
  });

  it('returns -1 past the limit without changing its state, and still serves what fits', () => {
    const mem = new FakeMemory(1);
    const arena = new Arena(asMemory(mem), 0, 4096);
    const a = arena.alloc(1000);
    const b = arena.alloc(1000);
    arena.release(a);
    const before = [arena.usedBytes, arena.topAddress, arena.freeBlockCount, mem.byteLength];
    expect(arena.alloc(4096)).toBe(-1);
    expect(arena.alloc(4096 - 2048 + 1)).toBe(-1); // fits neither the hole nor above the top
    expect([arena.usedBytes, arena.topAddress, arena.freeBlockCount, mem.byteLength]).toEqual(before);
    expect(arena.alloc(2048)).toBe(2048); // exactly up to the limit
    expect(arena.alloc(1)).toBe(0); // first fit: the hole at the bottom
    arena.release(b);
    expect(arena.blockSize(b)).toBeUndefined();
  });

  it('works over a real shared WebAssembly.Memory, up to its maximum', () => {
    // (the es2022 lib has no WebAssembly types)
    const wasm = (globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number; maximum: number; shared: boolean }) => GrowableMemory } }).WebAssembly;
    const mem = new wasm.Memory({ initial: 1, maximum: 4, shared: true });
    const arena = new Arena(mem, 64, 4 * PAGE);
    const a = arena.alloc(3 * PAGE);
    expect(a).toBe(64);
    expect(mem.buffer.byteLength).toBeGreaterThanOrEqual(a + 3 * PAGE);
    // The block is real memory: write and read it through a view.
    const view = new Float32Array(mem.buffer, a, (3 * PAGE) / 4);
    view.fill(1.5);
    expect(view[view.length - 1]).toBe(1.5);
    expect(arena.alloc(PAGE)).toBe(-1);
    expect(arena.usedBytes).toBe(3 * PAGE);
    arena.release(a);
    expect(arena.topAddress).toBe(64);
  });

  it('keeps its state when the memory refuses to grow', () => {
    const mem = new FakeMemory(1, 2);
    const arena = new Arena(asMemory(mem), 0, 8 * PAGE);
    const a = arena.alloc(PAGE);
    expect(arena.alloc(2 * PAGE)).toBe(-1); // as full, not an exception
    expect([arena.usedBytes, arena.topAddress, arena.freeBlockCount]).toEqual([PAGE, PAGE, 0]);
    expect(arena.alloc(PAGE)).toBe(PAGE); // what the memory can hold still fits
    arena.release(a);
    expect(arena.freeBlockCount).toBe(1);
  });

  it('throws on release of an address that holds no live block, without changing its state', () => {
    const arena = new Arena(asMemory(new FakeMemory(1)), 0, 1 << 20);
    const a = arena.alloc(100);
    const b = arena.alloc(100);
    const state = (): number[] => [arena.usedBytes, arena.topAddress, arena.freeBlockCount];
    const before = state();
    expect(() => arena.release(a + 64)).toThrow(/no live block/); // inside a block
    expect(() => arena.release(b + 128)).toThrow(/no live block/); // the top
    expect(() => arena.release(-64)).toThrow(/no live block/);
    expect(state()).toEqual(before);
    arena.release(a);
    expect(() => arena.release(a)).toThrow(/no live block/); // twice
    expect(arena.freeBlockCount).toBe(1);
  });

  it('merges a released block with free neighbours on both sides and lowers the top', () => {
    const arena = new Arena(asMemory(new FakeMemory(1)), 0, 1 << 20);
    const [a, b, c, d] = [arena.alloc(64), arena.alloc(128), arena.alloc(192), arena.alloc(64)];
    arena.release(a);
    arena.release(c);
    expect(arena.freeBlockCount).toBe(2);
    arena.release(b); // joins a below and c above
    expect(arena.freeBlockCount).toBe(1);
    expect(arena.alloc(384)).toBe(a); // the merged hole, exactly
    expect(arena.freeBlockCount).toBe(0);
    arena.release(d);
    expect(arena.topAddress).toBe(384);
    arena.release(a);
    expect([arena.topAddress, arena.freeBlockCount, arena.usedBytes]).toEqual([0, 0, 0]);
  });

  it('first fit splits a larger hole and keeps the rest free', () => {
    const arena = new Arena(asMemory(new FakeMemory(1)), 0, 1 << 20);
    const a = arena.alloc(1024);
    arena.alloc(64); // keeps the hole below the top
    arena.release(a);
    expect(arena.alloc(256)).toBe(0);
    expect(arena.freeBlockCount).toBe(1);
    expect(arena.alloc(512)).toBe(256);
    expect(arena.alloc(256)).toBe(768);
    expect(arena.freeBlockCount).toBe(0);
  });

  it('a repeated pattern of equal-sized allocations reuses the same addresses', () => {
    const mem = new FakeMemory(1);
    const arena = new Arena(asMemory(mem), 4096, 1 << 26);
    const kept = arena.alloc(100); // a long-lived block below, like the GEMM scratch
    let first: number[] | null = null;
    let grows = -1;
    for (let i = 0; i < 20; i++) {
      const x = arena.alloc(4_000_003);
      const y = arena.alloc(4_000_003);
      const s = arena.alloc(1000); // a staging block, released first
      arena.release(s);
      const z = arena.alloc(4_000_003);
      arena.release(x);
      arena.release(y);
      // y and x are free, z stays: the next pattern starts in x and y's place
      arena.release(z);
      if (first) expect([x, y, z]).toEqual(first);
      else first = [x, y, z];
      expect(arena.topAddress).toBe(kept + 128);
      expect(arena.freeBlockCount).toBe(0);
      if (i === 0) grows = mem.grows.length;
    }
    expect(mem.grows.length).toBe(grows); // grown in the first round only
    arena.release(kept);
    expect(arena.topAddress).toBe(4096);
  });

  it('random alloc/release sequences keep every invariant, and releasing everything empties it', () => {
    type Op = { kind: 'alloc'; bytes: number } | { kind: 'release'; pick: number } | { kind: 'bogus'; pick: number; delta: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      { weight: 5, arbitrary: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 100_000 }), fc.constantFrom(64, 128, 4096)).map((bytes) => ({ kind: 'alloc' as const, bytes })) },
      { weight: 4, arbitrary: fc.nat().map((pick) => ({ kind: 'release' as const, pick })) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('bogus' as const), pick: fc.nat(), delta: fc.constantFrom(-64, -1, 1, 32, 64) }) },
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 64 }).map((k) => k * ALIGN),
        fc.integer({ min: 64, max: 8192 }).map((k) => k * ALIGN),
        fc.array(op, { maxLength: 120 }),
        fc.nat(),
        (base, span, ops, releaseSeed) => {
          const limit = base + span;
          const mem = new FakeMemory(1);
          const arena = new Arena(asMemory(mem), base, limit);
          const requested = new Map<number, number>();
          let free = checkInvariants(arena, mem, base, limit, requested);
          for (const o of ops) {
            const live = [...requested.keys()];
            if (o.kind === 'alloc') {
              const size = blockFor(o.bytes);
              // The model: the lowest gap that fits, else the top when it stays under the limit, else -1.
              const hole = free.find(([, s]) => s >= size);
              const want = hole ? hole[0] : arena.topAddress + size <= limit ? arena.topAddress : -1;
              const grows = mem.grows.length;
              const oldLength = mem.byteLength;
              const addr = arena.alloc(o.bytes);
              expect(addr).toBe(want);
              if (addr >= 0) requested.set(addr, o.bytes);
              if (addr < 0 || addr + size <= oldLength) expect(mem.grows.length).toBe(grows);
            } else if (o.kind === 'release') {
              if (live.length === 0) continue;
              const addr = live[o.pick % live.length];
              arena.release(addr);
              requested.delete(addr);
              expect(arena.blockSize(addr)).toBeUndefined();
            } else {
              const addr = live.length ? live[o.pick % live.length] + o.delta : base + o.delta;
              if (requested.has(addr)) continue;
              const before = [arena.usedBytes, arena.topAddress, arena.freeBlockCount];
              expect(() => arena.release(addr)).toThrow(/no live block/);
              expect([arena.usedBytes, arena.topAddress, arena.freeBlockCount]).toEqual(before);
            }
            free = checkInvariants(arena, mem, base, limit, requested);
          }
          // An allocation past the limit fails and changes nothing.
          const before = [arena.usedBytes, arena.topAddress, arena.freeBlockCount, mem.byteLength];
          expect(arena.alloc(span + 1)).toBe(-1);
          expect([arena.usedBytes, arena.topAddress, arena.freeBlockCount, mem.byteLength]).toEqual(before);
          // Release what is left in a pseudo-random order: everything merges back.
          const rest = [...requested.keys()];
          let s = releaseSeed;
          while (rest.length) {
            s = (s * 1103515245 + 12345) >>> 0;
            const [addr] = rest.splice(s % rest.length, 1);
            arena.release(addr);
            requested.delete(addr);
            checkInvariants(arena, mem, base, limit, requested);
          }
          expect([arena.topAddress, arena.freeBlockCount, arena.usedBytes]).toEqual([base, 0, 0]);
          // And the whole range is one free stretch again.
          expect(arena.alloc(span)).toBe(base);
        },
      ),
      { numRuns: 300 },
    );
  });
});
