/**
 * The device itself: modes, what info() reports, honest failure and
 * fallback, float64, int32/bool storage, errors surfacing at the next read,
 * async reads, dispose and memory(), the kernel cache, and Node exiting.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { backendFor, fromArray, fromTyped, full, matmul, mul, randn, relu, storageVersion, sub, sum, writeInto } from '@normlab/tensor';
import { type GpuBackend, GpuStorage, gpu, registerGpuBackend } from '../src/index.js';
import { modeAvailable, useMode } from './helpers.js';

const webgpu = modeAvailable('webgpu');
// The rest runs on the fastest mode that works (webasm works everywhere Node does).
const MODE = 'webasm';

afterAll(() => gpu.shutdown());

describe('modes', () => {
  it.skipIf(!webgpu.ok)(`webgpu reports the adapter that ran${webgpu.ok ? '' : ` [skipped: ${webgpu.reason}]`}`, () => {
    useMode('webgpu');
    const info = gpu.info();
    expect(info.mode).toBe('webgpu');
    expect(info.adapter.length).toBeGreaterThan(0);
    expect(info.name).toBe(`webgpu / ${info.adapter}`);
    console.log(`[normlab/gpu] ${info.name} (${info.adapterDescription})`);
    expect(sum(fromArray([1, 2, 3]).to('gpu')).item()).toBe(6);
    gpu.shutdown();
  });

  it('a mode that does not work throws and says why; with fallback the next mode runs and info() says so', () => {
    gpu.shutdown();
    // headless-gl is an optional native package the workspace does not install.
    expect(() => registerGpuBackend({ mode: 'headlessgl' })).toThrow(/gpu\.js mode 'headlessgl' does not work here: headless-gl/);
    expect(() => gpu.info()).toThrow(/registerGpuBackend/);
    const info = registerGpuBackend({ mode: 'headlessgl', fallback: true });
    expect(info.mode).toBe(webgpu.ok ? 'webgpu' : 'webasm');
    expect(info.fallbackReasons[0]).toMatch(/^headlessgl: /);
    gpu.shutdown();
  });

  it('rejects unknown modes, also from NORMLAB_GPU_MODE, which picks the mode otherwise', () => {
    gpu.shutdown();
    expect(() => registerGpuBackend({ mode: 'cuda' as never })).toThrow(/unknown mode 'cuda'/);
    const saved = process.env.NORMLAB_GPU_MODE;
    try {
      process.env.NORMLAB_GPU_MODE = 'metal';
      expect(() => registerGpuBackend()).toThrow(/unknown mode 'metal' \(NORMLAB_GPU_MODE\)/);
      process.env.NORMLAB_GPU_MODE = 'cpu';
      expect(registerGpuBackend().mode).toBe('cpu');
      expect(() => registerGpuBackend({ mode: 'webasm' })).toThrow(/already runs in mode 'cpu'/);
    } finally {
      if (saved === undefined) delete process.env.NORMLAB_GPU_MODE;
      else process.env.NORMLAB_GPU_MODE = saved;
      gpu.shutdown();
    }
  });
});

describe('storage', () => {
  it('float64 is refused with a clear error', () => {
    useMode(MODE);
    expect(() => randn([2, 2], { dtype: 'float64' }).to('gpu')).toThrow("gpu: float64 tensors are not supported on the device; use .astype('float32') first");
    expect(randn([2, 2], { dtype: 'float64' }).astype('float32').to('gpu').dtype).toBe('float32');
  });

  it('int32 and bool arrays keep their dtype and values (stored as exact float32)', () => {
    useMode(MODE);
    const i = fromTyped(Int32Array.from([-3, 0, 7, 16777216]), [4]).to('gpu');
    expect(i.dtype).toBe('int32');
    expect(i.toTypedArray()).toEqual(Int32Array.from([-3, 0, 7, 16777216]));
    const b = fromArray([true, false, true]).to('gpu');
    expect(b.dtype).toBe('bool');
    expect(b.toTypedArray()).toEqual(Uint8Array.from([1, 0, 1]));
    expect(() => fromTyped(Int32Array.from([16777217]), [1]).to('gpu')).toThrow(/cannot be stored exactly/);
  });

  it('strided views read back through a device copy; reading and moving to the cpu agree', () => {
    useMode(MODE);
    const c = randn([3, 4, 5]);
    const g = c.to('gpu');
    const v = g.permute(2, 0, 1).slice(1, 1, 4, 2);
    expect(v.toArray()).toEqual(c.permute(2, 0, 1).slice(1, 1, 4, 2).toArray());
    expect(v.to('cpu').toArray()).toEqual(v.toArray());
  });

  it('dispose() frees the buffer once (idempotent), memory() counts it, and a disposed array cannot be read', () => {
    useMode(MODE);
    const before = gpu.memory();
    const x = randn([10, 10]).to('gpu');
    expect(gpu.memory()).toEqual({ buffers: before.buffers + 1, bytes: before.bytes + 400 });
    const view = x.transpose(0, 1);
    (x.storage as GpuStorage).dispose();
    (x.storage as GpuStorage).dispose();
    gpu.dispose(view);
    expect(gpu.memory()).toEqual(before);
    expect(() => view.toArray()).toThrow(/disposed/);
  });
});

describe('synchronization', () => {
  it('an error raised on the device surfaces at the next read, naming the op; later reads work', () => {
    useMode(MODE);
    const be = backendFor('gpu') as GpuBackend;
    const x = fromArray([1, 2, 3]).to('gpu');
    // A kernel gpu.js cannot compile: the op is queued without error, the failure is recorded on the device.
    be.client.run('test:broken', () => ({ src: 'function(a0) { return no_such_function(a0[this.thread.x]); }', loopMax: 0, args: ['Array'], n: 3 }), 'myBrokenOp', [{ b: (x.storage as GpuStorage).id }]);
    const y = relu(x);
    expect(() => y.toArray()).toThrow(/error on the device \(surfaced at a read of float32 \[3\]\): myBrokenOp: /);
    expect(y.toArray()).toEqual([1, 2, 3]);
    expect(() => gpu.synchronize()).not.toThrow();
  });

  it('readAsync and synchronizeAsync do not block; results match the blocking read', async () => {
    useMode(MODE);
    const a = randn([20, 30]).to('gpu');
    const b = randn([30, 10]).to('gpu');
    const c = matmul(a, b);
    const v = await gpu.readAsync(c);
    expect(Array.from(v)).toEqual(Array.from(c.toTypedArray()));
    expect(await c.toArrayAsync()).toEqual(c.toArray());
    await gpu.synchronizeAsync();
  });

  it('kernels compile once per op and shape: a new batch size compiles only the kernels whose shapes change', () => {
    useMode(MODE);
    const w = randn([8, 4]).to('gpu');
    const step = (n: number) => sum(relu(matmul(randn([n, 8]).to('gpu'), w))).item();
    step(5);
    const k0 = gpu.profile().kernelsCompiled;
    step(5);
    expect(gpu.profile().kernelsCompiled).toBe(k0);
    step(6);
    // matmul, relu and sum have new shapes (3 kernels); w's upload needs none.
    expect(gpu.profile().kernelsCompiled).toBe(k0 + 3);
  });
});

describe('constants', () => {
  it('a plain-number operand (and full/zeros) allocates no device buffer until a kernel needs one; values match the CPU', () => {
    useMode(MODE);
    const c = randn([4, 5]);
    const x = c.to('gpu');
    const before = gpu.memory().buffers;
    const k0 = gpu.profile().kernelsCompiled;
    const ys = [0.001, 0.25, -3].map((v) => mul(x, v));
    // One buffer per result, none for the scalars; one kernel for all three values.
    expect(gpu.memory().buffers).toBe(before + 3);
    expect(gpu.profile().kernelsCompiled).toBe(k0 + 1);
    [0.001, 0.25, -3].forEach((v, i) => expect(ys[i].toArray()).toEqual(mul(c, v).toArray()));
    const d = sub(2, x);
    expect(d.toArray()).toEqual(sub(2, c).toArray());
    d.dispose();
    const z = full([2, 3], 1.5, { device: 'gpu' });
    expect(gpu.memory().buffers).toBe(before + 3);
    expect(z.toArray()).toEqual(full([2, 3], 1.5).toArray());
    // A kernel that needs the buffer fills it on the device.
    expect(relu(z).toArray()).toEqual(full([2, 3], 1.5).toArray());
    expect(matmul(full([2, 2], 2, { device: 'gpu' }), x.slice(0, 0, 2).slice(1, 0, 2)).toArray()).toEqual(matmul(full([2, 2], 2), c.slice(0, 0, 2).slice(1, 0, 2)).toArray());
  });
});

describe('writes in place', () => {
  for (const mode of ['webgpu', 'webasm'] as const) {
    const available = modeAvailable(mode);
    it.skipIf(!available.ok)(`${mode}: the whole buffer or a strided view, seen through every view, the buffers freed, the version bumped${available.ok ? '' : ` [skipped: ${available.reason}]`}`, () => {
      useMode(mode);
      const c = randn([3, 4]);
      const x = c.to('gpu');
      const t = x.transpose(0, 1);
      const doubled = mul(x, 2);
      const before = gpu.memory().buffers;
      // The whole buffer: a device copy of the source becomes its contents (the old buffer is freed).
      writeInto('copy_', x, doubled);
      expect(gpu.memory().buffers).toBe(before);
      expect(x.toArray()).toEqual(mul(c, 2).toArray());
      expect(t.toArray()).toEqual(mul(c, 2).transpose(0, 1).toArray());
      // A constant: no buffer until a kernel needs one, the values right.
      writeInto('fill_', x, 0.5);
      expect(gpu.memory().buffers).toBe(before - 1);
      expect(relu(x).toArray()).toEqual(full([3, 4], 0.5).toArray());
      // A strided column: patched on the host.
      writeInto('copy_', t.select(0, 1), fromArray([1, 2, 3]).to('gpu'));
      const expected = full([3, 4], 0.5);
      writeInto('copy_', expected.transpose(0, 1).select(0, 1), fromArray([1, 2, 3]));
      expect(x.toArray()).toEqual(expected.toArray());
      expect(storageVersion(x.storage)).toBe(3);
      const i = fromArray([1, 2, 3], { dtype: 'int32' }).to('gpu');
      writeInto('fill_', i.slice(0, 1), 7);
      expect(i.toArray()).toEqual([1, 7, 7]);
    });
  }
});

describe('process lifetime', () => {
  const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url));
  for (const mode of ['webgpu', 'webasm'] as const) {
    const ok = modeAvailable(mode).ok && existsSync(dist);
    it.skipIf(!ok)(`Node exits by itself with a ${mode} device left running${ok ? '' : ' [skipped: mode unavailable or dist/ not built]'}`, () => {
      const script = `import { registerGpuBackend } from ${JSON.stringify(dist)}; import { fromArray, sum } from '@normlab/tensor';
        registerGpuBackend({ mode: '${mode}' }); const x = fromArray([1, 2, 3]).to('gpu'); console.log(sum(x).item()); sum(x);`;
      const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
        cwd: fileURLToPath(new URL('..', import.meta.url)),
        // A plain Node: without the test runner's NODE_OPTIONS and VITEST* variables.
        env: Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_OPTIONS' && !k.startsWith('VITEST'))),
        timeout: 30_000,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      expect(out.trim()).toBe('6');
    });
  }
});
