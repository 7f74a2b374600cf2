/**
 * The main thread's side of the device worker (worker/device-worker.js):
 * buffer ids are allocated here, so ops are queued without round trips;
 * commands are batched per microtask and posted; only reads (and `sync`)
 * block, with Atomics.wait on a shared signal, taking the answer from a
 * MessagePort synchronously (receiveMessageOnPort).
 */
import { MessageChannel, type MessagePort, Worker, receiveMessageOnPort } from 'node:worker_threads';

/** A gpu.js mode: WebGPU (Dawn), WebAssembly, plain JavaScript, or WebGL through headless-gl. */
export type GpuMode = 'webgpu' | 'webasm' | 'cpu' | 'headlessgl';
export const GPU_MODES: readonly GpuMode[] = ['webgpu', 'webasm', 'cpu', 'headlessgl'];

/** A kernel as the worker compiles it: source with parameters a0, a1, ... and a 1-D output of n values. */
export interface KernelDef {
  src: string;
  /** The longest loop in the source (loopMaxIterations is set to at least this). */
  loopMax: number;
  /** 'Array' for a device buffer, 'Float' for a scalar, per parameter. */
  args: ('Array' | 'Float')[];
  n: number;
}

export type KernelArg = number | { b: number };

type Command =
  | { t: 'def'; key: string; src: string; loopMax: number; args: string[]; n: number }
  | { t: 'undef'; key: string }
  | { t: 'up'; id: number; data: Float32Array }
  | { t: 'run'; key: string; op: string; id: number; args: KernelArg[] }
  | { t: 'free'; id: number }
  | { t: 'read'; id: number; seq: number; sync: boolean }
  | { t: 'sync'; seq: number; sync: boolean }
  | { t: 'shutdown'; seq: number; sync: boolean };

interface Reply {
  seq: number;
  error: string | null;
  data?: Float32Array | null;
  ok?: boolean;
  mode?: GpuMode;
  adapter?: string;
  adapterDescription?: string;
  tried?: string[];
}

/** Counts of CPU fallbacks (a read of the inputs and an upload of the outputs) per op. */
export interface FallbackCount {
  calls: number;
  bytesRead: number;
  bytesUploaded: number;
}

const MAX_KERNELS = 512;
const INIT_TIMEOUT_MS = 120_000;
const FLUSH_AT = 512;

export class DeviceClient {
  readonly mode: GpuMode;
  readonly adapter: string;
  readonly adapterDescription: string;
  /** Why each mode tried before the one that ran did not work (with fallback). */
  readonly tried: readonly string[];
  private readonly worker: Worker;
  private readonly signal: Int32Array;
  private readonly replyPort: MessagePort;
  private nextId = 1;
  private nextSeq = 1;
  private pending: Command[] = [];
  private transfers: ArrayBuffer[] = [];
  private flushScheduled = false;
  private readonly live = new Map<number, number>();
  private liveBytes = 0;
  private readonly lru = new Map<string, KernelDef>();
  private readonly asyncWaiters = new Map<number, (r: Reply) => void>();
  readonly fallbacks = new Map<string, FallbackCount>();
  kernelsCompiled = 0;
  closed = false;
  private readonly onExit = (): void => {
    try {
      this.shutdown();
    } catch {
      // exiting anyway
    }
  };

  constructor(modes: readonly GpuMode[], fallback: boolean) {
    const sab = new SharedArrayBuffer(4);
    this.signal = new Int32Array(sab);
    const { port1, port2 } = new MessageChannel();
    this.replyPort = port1;
    this.worker = new Worker(new URL('../worker/device-worker.js', import.meta.url), {
      workerData: { signal: sab, replyPort: port2 },
      transferList: [port2],
      // `node --input-type=module -e ...` would otherwise pass its flag to the worker, which then fails to load;
      // per-process flags such as --expose-gc or V8's --experimental-wasm-* (which the worker shares anyway) make
      // the Worker constructor throw (ERR_WORKER_INVALID_EXEC_ARGV).
      execArgv: process.execArgv.filter((a) => !a.startsWith('--input-type') && a !== '-e' && a !== '--eval'
        && !/^--expose[-_]gc/.test(a) && !/^--experimental[-_]wasm[-_]/.test(a)),
    });
    this.worker.on('message', (r: Reply) => {
      const w = this.asyncWaiters.get(r.seq);
      if (w) {
        this.asyncWaiters.delete(r.seq);
        if (this.asyncWaiters.size === 0) this.worker.unref();
        w(r);
      }
    });
    this.worker.on('error', (e) => {
      this.closed = true;
      for (const w of this.asyncWaiters.values()) w({ seq: -1, error: `device worker crashed: ${e.message}` });
      this.asyncWaiters.clear();
    });
    // After the listeners: adding a 'message' listener refs the worker's port again.
    this.worker.unref();
    this.replyPort.unref();
    const seq = this.nextSeq++;
    this.worker.postMessage({ t: 'init', seq, modes, fallback });
    const r = this.waitReply(seq, INIT_TIMEOUT_MS);
    if (!r) {
      void this.worker.terminate();
      this.closed = true;
      throw new Error(`gpu: the device worker did not answer within ${INIT_TIMEOUT_MS / 1000} s (it failed to start, or the mode's initialization hangs)`);
    }
    if (!r.ok) {
      void this.worker.terminate();
      this.closed = true;
      const why = (r.tried ?? []).join('; ');
      const err = new Error(modes.length === 1
        ? `gpu: gpu.js mode '${modes[0]}' does not work here: ${why.replace(/^[a-z]+: /, '')}`
        : `gpu: no gpu.js mode works (${modes.join(' -> ')}): ${why}`);
      (err as Error & { tried?: string[] }).tried = r.tried ?? [];
      throw err;
    }
    // Terminating the worker inside a native Dawn call aborts the process:
    // at exit, let it finish its queue and free everything first.
    process.once('exit', this.onExit);
    this.mode = r.mode!;
    this.adapter = r.adapter!;
    this.adapterDescription = r.adapterDescription ?? r.adapter!;
    this.tried = r.tried ?? [];
  }

  // ---- commands -------------------------------------------------------------

  private push(cmd: Command): void {
    if (this.closed) throw new Error('gpu: the device has been shut down');
    this.pending.push(cmd);
    if (this.pending.length >= FLUSH_AT) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  flush(): void {
    this.flushScheduled = false;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    const transfers = this.transfers;
    this.pending = [];
    this.transfers = [];
    this.worker.postMessage(batch, transfers);
  }

  /** A new buffer id of n float32 values (the op that fills it comes next). */
  alloc(n: number): number {
    const id = this.nextId++;
    this.live.set(id, n * 4);
    this.liveBytes += n * 4;
    return id;
  }

  upload(data: Float32Array): number {
    const id = this.alloc(data.length);
    // Own copy, so the transfer detaches nothing the caller holds.
    const copy = new Float32Array(data);
    this.transfers.push(copy.buffer);
    this.push({ t: 'up', id, data: copy });
    return id;
  }

  /** Runs kernel `key` (defined by `def` on first use) into a new buffer; returns its id. */
  run(key: string, def: () => KernelDef, op: string, args: KernelArg[]): number {
    let d = this.lru.get(key);
    if (d) {
      this.lru.delete(key);
      this.lru.set(key, d);
    } else {
      d = def();
      if (d.n <= 0) throw new Error(`gpu: ${op}: a kernel needs at least one output value`);
      this.lru.set(key, d);
      this.kernelsCompiled++;
      this.push({ t: 'def', key, src: d.src, loopMax: d.loopMax, args: d.args, n: d.n });
      if (this.lru.size > MAX_KERNELS) {
        const oldest = this.lru.keys().next().value as string;
        this.lru.delete(oldest);
        this.push({ t: 'undef', key: oldest });
      }
    }
    const id = this.alloc(d.n);
    this.push({ t: 'run', key, op, id, args });
    return id;
  }

  free(id: number): void {
    const bytes = this.live.get(id);
    if (bytes === undefined) return;
    this.live.delete(id);
    this.liveBytes -= bytes;
    if (!this.closed) this.push({ t: 'free', id });
  }

  // ---- synchronization ------------------------------------------------------

  /** The reply to request `seq` (blocking), or null after `timeoutMs`. */
  private waitReply(seq: number, timeoutMs?: number): Reply;
  private waitReply(seq: number, timeoutMs: number): Reply | null;
  private waitReply(seq: number, timeoutMs = Infinity): Reply | null {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const c = Atomics.load(this.signal, 0);
      const m = receiveMessageOnPort(this.replyPort);
      if (m) {
        const r = m.message as Reply;
        if (r.seq === seq) return r;
        continue;
      }
      if (Date.now() > deadline) return null;
      Atomics.wait(this.signal, 0, c, 1000);
    }
  }

  private syncRequest(cmd: { t: 'read'; id: number } | { t: 'sync' } | { t: 'shutdown' }): Reply {
    const seq = this.nextSeq++;
    this.push({ ...cmd, seq, sync: true } as Command);
    this.flush();
    return this.waitReply(seq);
  }

  private asyncRequest(cmd: { t: 'read'; id: number } | { t: 'sync' }): Promise<Reply> {
    const seq = this.nextSeq++;
    const p = new Promise<Reply>((resolve) => this.asyncWaiters.set(seq, resolve));
    // Keep Node alive while a reply is owed to a pending promise.
    this.worker.ref();
    this.push({ ...cmd, seq, sync: false } as Command);
    this.flush();
    return p;
  }

  /** Blocks until buffer `id` is computed; its values, or the errors raised on the device since the last synchronization. */
  read(id: number, what: string): Float32Array {
    const r = this.syncRequest({ t: 'read', id });
    if (r.error) throw new Error(`gpu: error on the device (surfaced at ${what}): ${r.error}`);
    return r.data!;
  }

  async readAsync(id: number, what: string): Promise<Float32Array> {
    const r = await this.asyncRequest({ t: 'read', id });
    if (r.error) throw new Error(`gpu: error on the device (surfaced at ${what}): ${r.error}`);
    return r.data!;
  }

  /** Waits for every queued op; throws the device errors since the last synchronization. */
  synchronize(): void {
    const r = this.syncRequest({ t: 'sync' });
    if (r.error) throw new Error(`gpu: error on the device (surfaced at synchronize()): ${r.error}`);
  }

  async synchronizeAsync(): Promise<void> {
    const r = await this.asyncRequest({ t: 'sync' });
    if (r.error) throw new Error(`gpu: error on the device (surfaced at synchronize()): ${r.error}`);
  }

  memory(): { buffers: number; bytes: number } {
    return { buffers: this.live.size, bytes: this.liveBytes };
  }

  countFallback(op: string, bytesRead: number, bytesUploaded: number): void {
    const c = this.fallbacks.get(op) ?? { calls: 0, bytesRead: 0, bytesUploaded: 0 };
    c.calls++;
    c.bytesRead += bytesRead;
    c.bytesUploaded += bytesUploaded;
    this.fallbacks.set(op, c);
  }

  /** Frees everything on the device and ends the worker (drops the WebGPU navigator there). */
  shutdown(): void {
    if (this.closed) return;
    process.removeListener('exit', this.onExit);
    this.syncRequest({ t: 'shutdown' });
    this.closed = true;
    this.live.clear();
    this.liveBytes = 0;
    void this.worker.terminate();
    this.replyPort.close();
  }
}
