// @ts-check
/**
 * The device worker of @normlab/gpu: owns the gpu.js instance, the compiled
 * kernels and every device buffer. The main thread (src/device.ts) posts
 * batches of commands and never waits, except on reads, which it blocks on
 * with Atomics.wait on `signal` and then takes synchronously from `replyPort`
 * (receiveMessageOnPort). Async reads answer on the worker's own port.
 *
 * Plain JavaScript on purpose: the tests run the TypeScript sources, and a
 * worker thread cannot load .ts on Node 20. Kernel sources are generated on
 * the main thread (src/codegen.ts) and arrive here as strings.
 *
 * Commands (all in order, one queue):
 *   { t: 'def', key, src, loopMax, args: ('Array'|'Float')[], n }   compile on first use
 *   { t: 'undef', key }                                             evict a kernel
 *   { t: 'up', id, data: Float32Array }                             a new buffer from host data
 *   { t: 'run', key, op, id, args: (number | { b: id })[] }         run a kernel into buffer id
 *   { t: 'free', id }
 *   { t: 'read', id, seq, sync }                                    answer with the buffer's values
 *   { t: 'sync', seq, sync }                                        answer once all before it ran
 */
import { parentPort, workerData } from 'node:worker_threads';
import gpujs from 'gpu.js';

const { GPU } = /** @type {any} */ (gpujs);
const port = /** @type {import('node:worker_threads').MessagePort} */ (parentPort);
const { signal: signalBuffer, replyPort } = workerData;
const signal = new Int32Array(signalBuffer);

/** Helpers every kernel may call (added with gpu.addFunction; same source on every backend). */
const HELPERS = [
  // log(1 + x) accurate for small x (WGSL's log1p is log(1.0 + x)): Kahan's trick.
  `function nl_log1p(x) {
    const u = 1.0 + x;
    if (u === 1.0) { return x; }
    if (u === Infinity) { return u; }
    return Math.log(u) * x / (u - 1.0);
  }`,
  // exp(x) - 1 accurate for small x.
  `function nl_expm1(x) {
    const u = Math.exp(x);
    if (u === 1.0) { return x; }
    const um = u - 1.0;
    if (um === -1.0) { return -1.0; }
    if (u === Infinity) { return u; }
    return um * x / Math.log(u);
  }`,
  `function nl_tanh(x) {
    if (x > 10.0) { return 1.0; }
    if (x < -10.0) { return -1.0; }
    const e = nl_expm1(2.0 * x);
    return e / (e + 2.0);
  }`,
  // erf: Taylor series near 0 (relative accuracy), Abramowitz & Stegun 7.1.26 beyond.
  `function nl_erf(x) {
    const ax = Math.abs(x);
    if (ax < 0.5) {
      const x2 = x * x;
      return 1.1283791670955126 * x * (1.0 - x2 * (0.3333333333333333 - x2 * (0.1 - x2 * (0.023809523809523808 - x2 * 0.004629629629629629))));
    }
    if (ax > 4.0) { return x > 0.0 ? 1.0 : -1.0; }
    const t = 1.0 / (1.0 + 0.3275911 * ax);
    const y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-ax * ax);
    return x > 0.0 ? y : -y;
  }`,
  // Math.pow with JavaScript's results for negative bases and integer exponents.
  `function nl_pow(a, b) {
    if (b === 0.0) { return 1.0; }
    if (a < 0.0) {
      if (Math.floor(b) === b) {
        const m = Math.pow(-a, b);
        if (Math.floor(b * 0.5) * 2.0 === b) { return m; }
        return -m;
      }
      return (a - a) / (a - a);
    }
    if (a === 0.0) {
      if (b > 0.0) { return 0.0; }
      return 1.0 / a;
    }
    return Math.pow(a, b);
  }`,
];

/** @type {any} */
let gpu = null;
let mode = '';
let adapterName = '';
let adapterDescription = '';
/** The WebGPU device (webgpu mode), to wait for submitted work in 'sync'. */
let device = null;
/** @type {Map<string, any>} */
const kernels = new Map();
/** @type {Map<string, { src: string, loopMax: number, args: string[], n: number }>} */
const defs = new Map();
/** @type {Map<number, any>} buffer id -> WebGPUBufferResult (webgpu) or Float32Array (webasm, cpu) */
const buffers = new Map();
/** @type {Map<number, string>} buffer id -> why it does not exist (the op that failed to produce it) */
const poisoned = new Map();
/** @type {string[]} errors not yet reported to the main thread */
let errors = [];
/** @type {any[]} */
const queue = [];
let draining = false;

function reply(msg, sync, transfer) {
  if (sync) {
    replyPort.postMessage(msg, transfer ?? []);
    Atomics.add(signal, 0, 1);
    Atomics.notify(signal, 0);
  } else {
    port.postMessage(msg, transfer ?? []);
  }
}

function setupNavigator(create) {
  // Defined, not assigned: Node 21+ has its own navigator, a getter without a setter
  // (configurable, so it can be replaced in this worker's global).
  Object.defineProperty(globalThis, 'navigator', { value: { gpu: create([]) }, configurable: true, enumerable: true, writable: true });
}

function dropNavigator() {
  const g = /** @type {any} */ (globalThis);
  if (g.navigator) delete g.navigator;
}

async function tryMode(m) {
  if (m === 'webgpu') {
    let webgpu;
    try {
      webgpu = await import('webgpu');
    } catch (e) {
      throw new Error(`the 'webgpu' package (Dawn) could not be loaded: ${errorText(e)}`);
    }
    Object.assign(globalThis, webgpu.globals);
    setupNavigator(webgpu.create);
    const nav = /** @type {any} */ (globalThis).navigator;
    const adapter = await nav.gpu.requestAdapter();
    if (!adapter) {
      dropNavigator();
      throw new Error('no WebGPU adapter found: Dawn found no Vulkan device. Without a GPU, install lavapipe '
        + '(Mesa >= 23; on Debian bookworm run packages/gpu/scripts/install-lavapipe.sh as root)');
    }
    const info = adapter.info ?? {};
    // e.g. description 'llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)' -> 'llvmpipe'; 'NVIDIA H100 80GB HBM3' as is.
    const description = String(info.description || '');
    adapterName = description.split(':')[0].trim() || String(info.device || info.vendor || 'unknown adapter');
    adapterDescription = [description, info.vendor, info.architecture, info.device].filter((s) => s).join(' / ');
  } else if (m === 'webasm') {
    if (!GPU.isWebAssemblySupported) throw new Error('WebAssembly (with SIMD) is not supported here');
    adapterName = 'WebAssembly SIMD';
  } else if (m === 'headlessgl') {
    if (!GPU.isHeadlessGLSupported) throw new Error("headless-gl (the optional 'gl' package) is not installed or has no GL context");
    adapterName = 'headless-gl';
  } else if (m === 'cpu') {
    adapterName = 'JavaScript';
  } else {
    throw new Error(`unknown mode '${m}'`);
  }
  gpu = new GPU({ mode: m });
  for (const h of HELPERS) gpu.addFunction(h);
  mode = m;
  // Smoke test: a kernel with a helper, a loop and a pipeline handle must give the right numbers.
  defs.set('__smoke', { src: 'function(a0) { let s = 0.0; for (let i = 0; i < 3; i++) { s = s + a0[i]; } return nl_pow(s, 2.0) + a0[this.thread.x]; }', loopMax: 3, args: ['Array'], n: 4 });
  buffers.set(-1, await toDevice(new Float32Array([1, 2, 3, 4])));
  await runKernel({ key: '__smoke', op: 'smoke test', id: -2, args: [{ b: -1 }] });
  const out = await readBuffer(-2);
  freeBuffer(-1);
  freeBuffer(-2);
  const k = kernels.get('__smoke');
  device = k?.kernel?._device ?? k?._device ?? null;
  kernels.delete('__smoke');
  defs.delete('__smoke');
  k?.destroy?.();
  const want = [37, 38, 39, 40];
  if (out.length !== 4 || want.some((v, i) => out[i] !== v)) {
    throw new Error(`smoke test kernel gave [${Array.from(out).join(', ')}], expected [${want.join(', ')}]`);
  }
  const actual = k?.kernel?.constructor?.mode ?? k?.constructor?.mode;
  if (actual && actual !== m && !(m === 'headlessgl' && actual === 'headlessgl')) {
    throw new Error(`gpu.js ran the smoke test on '${actual}' instead of '${m}'`);
  }
}

async function init(modes, fallback) {
  const tried = [];
  for (const m of modes) {
    try {
      await tryMode(m);
      return { ok: true, mode, adapter: adapterName, adapterDescription: adapterDescription || adapterName, tried };
    } catch (e) {
      tried.push(`${m}: ${errorText(e)}`);
      try { gpu?.destroy(); } catch { /* ignore */ }
      gpu = null;
      buffers.clear();
      kernels.clear();
      if (m === 'webgpu') dropNavigator();
      if (!fallback) break;
    }
  }
  return { ok: false, tried };
}

function errorText(e) {
  return e instanceof Error ? e.message : String(e);
}

/** A device buffer holding `data` (webgpu: an identity kernel's pipeline output). */
async function toDevice(data) {
  if (mode !== 'webgpu' && mode !== 'headlessgl') return data;
  const key = `__up:${data.length}`;
  if (!defs.has(key)) defs.set(key, { src: 'function(a0) { return a0[this.thread.x]; }', loopMax: 0, args: ['Array'], n: data.length });
  return runCompiled(key, [data]);
}

function kernelFor(key) {
  let k = kernels.get(key);
  if (k) return k;
  const def = defs.get(key);
  if (!def) throw new Error(`kernel ${key} is not defined`);
  // Kernel sources name their parameters a0, a1, ... (src/codegen.ts).
  const argumentTypes = {};
  def.args.forEach((type, i) => { argumentTypes[`a${i}`] = type; });
  k = gpu.createKernel(def.src, {
    output: [def.n],
    pipeline: true,
    immutable: true,
    precision: 'single',
    tactic: 'precision',
    loopMaxIterations: Math.max(def.loopMax, 1),
    argumentTypes,
  });
  if (k.loopMaxIterations !== undefined && k.loopMaxIterations < def.loopMax) {
    throw new Error(`loopMaxIterations ${k.loopMaxIterations} is below the kernel's longest loop ${def.loopMax}`);
  }
  kernels.set(key, k);
  return k;
}

async function runCompiled(key, args) {
  const k = kernelFor(key);
  let r = k(...args);
  if (r && typeof r.then === 'function') r = await r;
  if (Array.isArray(r)) throw new Error('kernel returned a nested array (expected a flat output)');
  return r;
}

async function runKernel(cmd) {
  const args = cmd.args.map((a) => {
    if (typeof a === 'number') return a;
    const b = buffers.get(a.b);
    if (b === undefined) {
      const why = poisoned.get(a.b);
      throw Object.assign(new Error(why ? `input #${a.b} was not produced (${why})` : `input buffer #${a.b} does not exist (freed?)`), { secondary: !!why });
    }
    return b;
  });
  buffers.set(cmd.id, await runCompiled(cmd.key, args));
}

async function readBuffer(id) {
  const b = buffers.get(id);
  if (b === undefined) {
    const why = poisoned.get(id);
    throw new Error(why ? `the value read was not produced (${why})` : `buffer #${id} does not exist (freed?)`);
  }
  if (b instanceof Float32Array) return b.slice();
  const out = await b.toArray();
  return out instanceof Float32Array ? out : Float32Array.from(out.flat ? out.flat(3) : out);
}

function freeBuffer(id) {
  const b = buffers.get(id);
  buffers.delete(id);
  poisoned.delete(id);
  if (b && typeof b.delete === 'function') b.delete();
}

async function handle(cmd) {
  switch (cmd.t) {
    case 'def':
      defs.set(cmd.key, { src: cmd.src, loopMax: cmd.loopMax, args: cmd.args, n: cmd.n });
      return;
    case 'undef': {
      defs.delete(cmd.key);
      const k = kernels.get(cmd.key);
      kernels.delete(cmd.key);
      // Immutable pipeline results own their buffers (refcounted), so destroying the kernel keeps them.
      try { k?.destroy?.(); } catch { /* ignore */ }
      return;
    }
    case 'up':
      buffers.set(cmd.id, await toDevice(cmd.data));
      return;
    case 'run':
      try {
        await runKernel(cmd);
      } catch (e) {
        const secondary = !!(e && e.secondary);
        const msg = `${cmd.op}: ${errorText(e)}`;
        poisoned.set(cmd.id, secondary ? errorText(e).replace(/^input #\d+ was not produced \((.*)\)$/, '$1') : `${cmd.op} failed on the device: ${errorText(e)}`);
        if (!secondary) errors.push(msg);
      }
      return;
    case 'free':
      freeBuffer(cmd.id);
      return;
    case 'read': {
      let data = null;
      let error = null;
      try {
        data = await readBuffer(cmd.id);
      } catch (e) {
        error = errorText(e);
      }
      const pending = errors;
      errors = [];
      if (pending.length) error = pending.join('; ') + (error ? `; ${error}` : '');
      reply({ seq: cmd.seq, data: error ? null : data, error }, cmd.sync, error || !data ? [] : [data.buffer]);
      return;
    }
    case 'sync': {
      // Kernel calls resolve at submit: wait for the GPU to finish them too.
      if (device) await device.queue.onSubmittedWorkDone();
      const pending = errors;
      errors = [];
      reply({ seq: cmd.seq, error: pending.length ? pending.join('; ') : null, buffers: buffers.size, kernels: kernels.size }, cmd.sync);
      return;
    }
    case 'shutdown':
      for (const id of [...buffers.keys()]) freeBuffer(id);
      for (const k of kernels.values()) { try { k.destroy?.(); } catch { /* ignore */ } }
      kernels.clear();
      try { gpu?.destroy(); } catch { /* ignore */ }
      gpu = null;
      dropNavigator();
      reply({ seq: cmd.seq, error: null }, cmd.sync);
      port.close();
      return;
    default:
      throw new Error(`unknown command ${cmd.t}`);
  }
}

async function drain() {
  if (draining) return;
  draining = true;
  try {
    while (queue.length) {
      const cmd = queue.shift();
      try {
        await handle(cmd);
      } catch (e) {
        errors.push(`${cmd.op ?? cmd.t}: ${errorText(e)}`);
      }
    }
  } finally {
    draining = false;
  }
}

port.on('message', async (msg) => {
  if (msg.t === 'init') {
    const res = await init(msg.modes, msg.fallback);
    reply({ seq: msg.seq, ...res }, true);
    return;
  }
  for (const cmd of msg) queue.push(cmd);
  void drain();
});
