// `pnpm bench`: runs each library configuration in its own process, one after
// the other (so they never compete for the cores), and prints one table.
// `pnpm bench --only=bn` (or BENCH_ONLY=bn) runs only the BatchNorm rows;
// --only=core only matmul, conv2d and the elementwise ops.
// `pnpm bench --device gpu` prints the @normlab/gpu table instead (device-table.mjs).
import { execFileSync } from 'node:child_process';
import { availableParallelism, cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BN2D, BN_MLP, CONV, ELEMENTWISE_SIZE, MATMUL_SIZES, benchGroups, convFlops } from './timing.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const threads = Math.max(2, availableParallelism());
const onlyArg = process.argv.slice(2).find((a) => a.startsWith('--only='));
if (onlyArg) process.env.BENCH_ONLY = onlyArg.slice('--only='.length);
const groups = benchGroups();

// `pnpm bench --device gpu [--gpu-mode webgpu|webasm|cpu] [--sizes 256,512,...] [--budget-s 20]`:
// the device table (gpu vs the CPU backend in the same run) instead of the tfjs one.
const argv = process.argv.slice(2);
function flag(name) {
  const i = argv.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (i < 0) return undefined;
  return argv[i].includes('=') ? argv[i].slice(argv[i].indexOf('=') + 1) : argv[i + 1];
}
if (flag('device') === 'gpu') {
  const { deviceBench } = await import('./device-table.mjs');
  deviceBench({ run, threads, gpuMode: flag('gpu-mode'), sizes: flag('sizes'), budgetS: flag('budget-s'), only: flag('only') });
  process.exit(0);
}

function run(script, args = [], env = {}) {
  const label = [script, ...args, ...Object.entries(env).map(([k, v]) => `${k}=${v}`)].join(' ');
  process.stderr.write(`running ${label} ...\n`);
  const out = execFileSync(process.execPath, [join(here, script), ...args], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1 << 20,
  });
  return JSON.parse(out);
}

const nl1 = run('run-normlab.mjs', [], { NORMLAB_THREADS: '1' });
const nlT = run('run-normlab.mjs', [], { NORMLAB_THREADS: String(threads) });
const tcpu = run('run-tfjs.mjs', ['cpu']);
const twasm = run('run-tfjs.mjs', ['wasm']);

const f1 = (v) => (v === null || v === undefined || !Number.isFinite(v) ? 'n/a' : v.toFixed(1));
const f2 = (v) => (v === null || v === undefined || !Number.isFinite(v) ? 'n/a' : v.toFixed(2));
const rows = [];
const cols = ['benchmark', 'unit', `normlab 1t`, `normlab ${threads}t`, 'tfjs-cpu', `tfjs-wasm ${twasm.threads}t`, `nl 1t / wasm`, `nl ${threads}t / wasm`, `nl ${threads}t / cpu`];

if (groups.has('core')) {
  for (const n of MATMUL_SIZES) {
    const g = (ms) => (2 * n ** 3) / (ms * 1e6);
    const [a, b, c, d] = [nl1, nlT, tcpu, twasm].map((r) => g(r.matmul[n]));
    rows.push([`matmul f32 ${n}x${n}x${n}`, 'GFLOP/s', f1(a), f1(b), f1(c), f1(d), f2(a / d), f2(b / d), f2(b / c)]);
  }
  {
    const { n, c, h, w, cout, k } = CONV;
    const flops = 3 * convFlops(CONV);
    const g = (ms) => (ms ? flops / (ms * 1e6) : null);
    const [a, b, cc, d] = [nl1, nlT, tcpu, twasm].map((r) => g(r.conv));
    const name = `conv2d fwd+bwd [${n},${c},${h},${w}] ${cout}x${k}x${k} p1`;
    rows.push([name, 'GFLOP/s', f1(a), f1(b), f1(cc), f1(d), a && d ? f2(a / d) : 'n/a', b && d ? f2(b / d) : 'n/a', b && cc ? f2(b / cc) : 'n/a']);
    const ms = (r) => (r.conv ? r.conv.toFixed(1) : 'n/a');
    rows.push(['  (same, time per step)', 'ms', ms(nl1), ms(nlT), ms(tcpu), ms(twasm), '', '', '']);
  }
  for (const [op, bytesPerElem] of [['add', 12], ['exp', 8]]) {
    const g = (ms) => (ELEMENTWISE_SIZE * bytesPerElem) / (ms * 1e6);
    const [a, b, c, d] = [nl1, nlT, tcpu, twasm].map((r) => g(r[op]));
    rows.push([`${op} f32 4M elements`, 'GB/s', f1(a), f1(b), f1(c), f1(d), f2(a / d), f2(b / d), f2(b / c)]);
  }
  for (const [op, bytesPerElem] of [['add', 12], ['exp', 8]]) {
    const g = (ms) => (ms ? (ELEMENTWISE_SIZE * bytesPerElem) / (ms * 1e6) : null);
    rows.push([`  (${op}, host arrays, no tidy)`, 'GB/s', f1(g(nl1[`${op}Gc`])), f1(g(nlT[`${op}Gc`])), '', '', '', '', '']);
  }
}
if (groups.has('bn')) {
  // Times (lower is better): the ratio columns give wasm / normlab, so above 1 means normlab is faster.
  const { n, c, h, w } = BN2D;
  const [a, b, cc, d] = [nl1, nlT, tcpu, twasm].map((r) => r.bn2d);
  const ok = (u, v) => u && v;
  rows.push([`BatchNorm2d fwd+bwd [${n},${c},${h},${w}] train`, 'ms', f1(a), f1(b), f1(cc), f1(d),
    ok(a, d) ? f2(d / a) : 'n/a', ok(b, d) ? f2(d / b) : 'n/a', ok(b, cc) ? f2(cc / b) : 'n/a']);
  rows.push(['  (same, host arrays, no tidy)', 'ms', f1(nl1.bn2dGc), f1(nlT.bn2dGc), '', '', '', '', '']);
  const [sa, sb, sc, sd] = [nl1, nlT, tcpu, twasm].map((r) => r.bnMlp);
  rows.push([`BN-paper MLP step ${BN_MLP.sizes.join('-')} sigmoid+BN batch ${BN_MLP.batch} SGD`, 'steps/s', f1(sa), f1(sb), f1(sc), f1(sd),
    ok(sa, sd) ? f2(sa / sd) : 'n/a', ok(sb, sd) ? f2(sb / sd) : 'n/a', ok(sb, sc) ? f2(sb / sc) : 'n/a']);
}

const widths = cols.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i].length)));
const line = (r) => r.map((v, i) => (i === 0 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join('  ');
console.log(`\nnormlab vs TensorFlow.js 4.22 — ${cpus()[0]?.model ?? 'cpu'}, ${availableParallelism()} threads, Node ${process.versions.node}`);
console.log('medians after warm-up; GB/s counts bytes read + written (add 12 B/element, exp 8 B/element)');
console.log('every timed call runs in tidy (tf.tidy / nl.tidy) on inputs made by an op; "host arrays, no tidy": normlab on fromTyped inputs, outputs left to the GC');
console.log('ratio columns: normlab / tfjs for rates (GFLOP/s, GB/s, steps/s), tfjs / normlab for times (ms): above 1, normlab is faster\n');
console.log(line(cols));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const r of rows) console.log(line(r));
const notes = [nl1.convNote, tcpu.convNote, twasm.convNote].filter(Boolean);
for (const note of notes) console.log(`\nnote: ${note}`);
