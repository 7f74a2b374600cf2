/**
 * The memory above the control block of the kernels' shared WebAssembly
 * memory, handed out in blocks: each thread's GEMM scratch (kept for good),
 * staging areas (freed when the call returns), and **resident** float32
 * arrays, large kernel outputs that live in wasm memory so that the next
 * kernel reads them in place instead of copying them in.
 *
 * A resident array is freed when its storage is disposed (`dispose()`,
 * `tidy`) or, failing that, when the garbage collector reclaims the typed
 * array (a FinalizationRegistry; its callbacks run between event-loop
 * turns, never inside a synchronous loop). Resident arrays may hold at most
 * `residentCapBytes()` at once, and wasm memory never shrinks, so past the
 * cap outputs are ordinary ArrayBuffers again and the kernels stage them.
 */
/** The parts of a shared `WebAssembly.Memory` the arena uses. */
export interface GrowableMemory {
  readonly buffer: SharedArrayBuffer;
  grow(pages: number): number;
}

const PAGE = 65536;
/** Block alignment: a cache line, so that no two blocks share one (and v128 loads stay aligned). */
const ALIGN = 64;

const align = (n: number): number => Math.ceil(n / ALIGN) * ALIGN;

/**
 * A first-fit allocator over [base, limit) of one memory,
 * growing the memory as its top rises. Free blocks are kept sorted by
 * address and merged with their neighbours, and a free block at the top
 * lowers the top, so that a pattern of equal-sized allocations reuses the
 * same addresses.
 */
export class Arena {
  /** Start addresses of the free blocks, ascending; `freeSizes[i]` is the size of block i. */
  private readonly freeStarts: number[] = [];
  private readonly freeSizes: number[] = [];
  /** Size of every block handed out, by address. */
  private readonly used = new Map<number, number>();
  private usedTotal = 0;
  private top: number;

  /** `base` and `limit` are byte addresses, multiples of 64. */
  constructor(private readonly memory: GrowableMemory, base: number, private readonly limit: number) {
    if (base % ALIGN !== 0 || limit % ALIGN !== 0 || base > limit) throw new RangeError(`Arena: bad bounds [${base}, ${limit})`);
    this.top = base;
  }

  /** Bytes handed out and not yet released. */
  get usedBytes(): number {
    return this.usedTotal;
  }

  /** The size of the live block at `addr` (undefined when there is none). */
  blockSize(addr: number): number | undefined {
    return this.used.get(addr);
  }

  /** The address above every live block (free blocks lie below it). */
  get topAddress(): number {
    return this.top;
  }

  /** Number of free blocks below the top (a fragmentation measure for tests). */
  get freeBlockCount(): number {
    return this.freeStarts.length;
  }

  /** A block of at least `bytes` bytes (64-byte aligned), or -1 when the memory cannot hold it. */
  alloc(bytes: number): number {
    if (!Number.isInteger(bytes) || bytes < 0) throw new RangeError(`arena.alloc: expected a non-negative integer size, got ${bytes}`);
    const size = Math.max(ALIGN, align(bytes));
    for (let i = 0; i < this.freeStarts.length; i++) {
      const have = this.freeSizes[i];
      if (have < size) continue;
      const addr = this.freeStarts[i];
      if (have === size) {
        this.freeStarts.splice(i, 1);
        this.freeSizes.splice(i, 1);
      } else {
        this.freeStarts[i] = addr + size;
        this.freeSizes[i] = have - size;
      }
      this.used.set(addr, size);
      this.usedTotal += size;
      return addr;
    }
    const addr = this.top;
    if (addr + size > this.limit) return -1;
    const have = this.memory.buffer.byteLength;
    if (addr + size > have) {
      // Grow with headroom so that a run of slightly larger requests does not grow every time.
      const want = Math.min(this.limit, Math.max(addr + size, Math.floor(have * 1.25)));
      try {
        this.memory.grow(Math.ceil((want - have) / PAGE));
      } catch {
        // The system refused the memory: as full.
        return -1;
      }
    }
    this.top = addr + size;
    this.used.set(addr, size);
    this.usedTotal += size;
    return addr;
  }

  /** Returns the block at `addr` (from `alloc`) to the free list. */
  release(addr: number): void {
    const size = this.used.get(addr);
    if (size === undefined) throw new Error(`arena.release: no live block at address ${addr}`);
    this.used.delete(addr);
    this.usedTotal -= size;
    let start = addr;
    let end = addr + size;
    // Index of the first free block above addr.
    let i = 0;
    let hi = this.freeStarts.length;
    while (i < hi) {
      const mid = (i + hi) >> 1;
      if (this.freeStarts[mid] < addr) i = mid + 1;
      else hi = mid;
    }
    if (i < this.freeStarts.length && this.freeStarts[i] === end) {
      end += this.freeSizes[i];
      this.freeStarts.splice(i, 1);
      this.freeSizes.splice(i, 1);
    }
    if (i > 0 && this.freeStarts[i - 1] + this.freeSizes[i - 1] === start) {
      i--;
      start = this.freeStarts[i];
      this.freeStarts.splice(i, 1);
      this.freeSizes.splice(i, 1);
    }
    if (end === this.top) {
      this.top = start;
      return;
    }
    this.freeStarts.splice(i, 0, start);
    this.freeSizes.splice(i, 0, end - start);
  }
}
