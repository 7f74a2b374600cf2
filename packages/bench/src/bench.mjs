// `pnpm bench`: runs each library configuration in its own process, one after
// the other (so they never compete for the cores), and prints two tables:
// normlab beside PyTorch (reference BLAS and OpenBLAS) and beside TensorFlow.js.
// `pnpm bench --help` lists the options.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RELAXED_SIMD_FLAGS } from './node-flags.mjs';
import * as T from './timing.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const PYTHON = '/usr/bin/python3'; // Debian's python3-torch lives in the system Python
const OPENBLAS_ROOT = join(here, '..', '.openblas');
const INSTALL_TORCH = 'pnpm bench:install-torch';
const PEERS = ['torch', 'tfjs'];

const HELP = `pnpm bench [options]: normlab's CPU backend beside PyTorch and TensorFlow.js

  --only GROUPS     comma list of ${Object.keys(T.GROUPS).join(', ')} (or core = matmul,conv,elementwise);
                    default: all
  --peers PEERS     comma list of ${PEERS.join(', ')}, or none; default: tfjs, and torch when installed
  --threads N       the multi-threaded columns' thread count (default: max(2, the cores))
  --device gpu      the @normlab/gpu table instead (gpu vs the CPU backend):
                    [--gpu-mode webgpu|webasm|cpu] [--sizes 256,512,...] [--budget-s 20] [--only matmul,bn2d,norms,mlp]
  --help            this text

PyTorch is Debian's python3-torch; ${INSTALL_TORCH} installs it (apt) and unpacks
Debian's OpenBLAS into packages/bench/.openblas (the system keeps its reference BLAS).
Groups: ${Object.entries(T.GROUPS).map(([k, v]) => `\n  ${k.padEnd(12)}${v}`).join('')}`;

/** Exits with one line on stderr (a user's mistake, not a stack trace). */
function fail(message) {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(1);
}

function parseArgs(argv) {
  const known = new Set(['only', 'peers', 'threads', 'device', 'gpu-mode', 'sizes', 'budget-s', 'help']);
  const opts = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) fail(`unexpected argument '${a}' (see pnpm bench --help)`);
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    if (!known.has(name)) fail(`unknown option '--${name}' (see pnpm bench --help)`);
    if (name === 'help') opts.help = true;
    else if (eq >= 0) opts[name] = a.slice(eq + 1);
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) opts[name] = argv[++i];
    else fail(`option '--${name}' needs a value`);
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
if (opts.help) {
  console.log(HELP);
  process.exit(0);
}
const threads = opts.threads === undefined ? Math.max(2, availableParallelism()) : Number(opts.threads);
if (!Number.isInteger(threads) || threads < 2) fail(`--threads expects an integer >= 2, got '${opts.threads}'`);

const NODE_FLAGS = ['--expose-gc', ...RELAXED_SIMD_FLAGS];

function run(script, args = [], env = {}) {
  const label = [script, ...args, ...Object.entries(env).map(([k, v]) => `${k}=${v}`)].join(' ');
  process.stderr.write(`running ${label} ...\n`);
  const out = execFileSync(process.execPath, [...NODE_FLAGS, join(here, script), ...args], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1 << 20,
  });
  return JSON.parse(out);
}

if (opts.device !== undefined) {
  if (opts.device !== 'gpu') fail(`--device expects 'gpu', got '${opts.device}'`);
  const { deviceBench } = await import('./device-table.mjs');
  deviceBench({ run, threads, gpuMode: opts['gpu-mode'], sizes: opts.sizes, budgetS: opts['budget-s'], only: opts.only });
  process.exit(0);
}
for (const name of ['gpu-mode', 'sizes', 'budget-s']) if (opts[name] !== undefined) fail(`--${name} applies to --device gpu only`);
if (opts.only !== undefined) process.env.BENCH_ONLY = opts.only;
let groups;
try {
  groups = T.benchGroups();
} catch (e) {
  fail(e.message.replace(/^bench: /, ''));
}

/** Why torch cannot run here, or null when it can. */
function torchMissing() {
  const r = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
  if (r.error) return `${PYTHON} not found`;
  return r.status === 0 ? null : `python3-torch is not installed (${INSTALL_TORCH} installs it)`;
}

/** The folder of Debian's unpacked OpenMP OpenBLAS (its libblas.so.3), or null. */
function openblasDir() {
  const dir = join(OPENBLAS_ROOT, 'usr', 'lib', 'x86_64-linux-gnu', 'openblas-openmp');
  return existsSync(join(dir, 'libblas.so.3')) ? dir : null;
}

const notes = [];
let peers;
if (opts.peers === undefined) {
  const why = torchMissing();
  if (why) notes.push(`torch: absent: ${why}`);
  peers = new Set(why ? ['tfjs'] : ['tfjs', 'torch']);
} else {
  peers = new Set(opts.peers === 'none' ? [] : opts.peers.split(',').map((s) => s.trim()));
  for (const p of peers) if (!PEERS.includes(p)) fail(`unknown peer '${p}' (expected ${PEERS.join(', ')} or none)`);
  const why = peers.has('torch') ? torchMissing() : null;
  if (why) fail(`--peers torch: ${why}`);
}

/** The shapes and timing of timing.mjs, for the Python harness. */
function torchSpec() {
  const keys = ['MATMUL_SIZES', 'CONV', 'ELEMENTWISE_SIZE', 'BN2D', 'BN_MLP', 'MLP', 'BN_MLP_TIMING', 'CONV_NET', 'CONV_NET_TIMING', 'VGG', 'VGG_TIMING', 'LAYER_NORM', 'GROUP_NORM'];
  return JSON.stringify({ groups: [...groups], ...Object.fromEntries(keys.map((k) => [k, T[k]])) });
}

function runTorch(n, blasDir) {
  const env = { ...process.env, OMP_NUM_THREADS: String(n), BENCH_ONLY: [...groups].join(',') };
  if (blasDir) env.LD_LIBRARY_PATH = blasDir + (env.LD_LIBRARY_PATH ? `:${env.LD_LIBRARY_PATH}` : '');
  process.stderr.write(`running run-torch.py ${n} thread(s)${blasDir ? ' with OpenBLAS' : ''} ...\n`);
  const out = execFileSync(PYTHON, [join(here, 'run-torch.py'), String(n), torchSpec()], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 });
  const r = JSON.parse(out);
  // The ratio columns name OpenBLAS: check that this process really loaded it.
  if (blasDir && !r.blas.some((p) => p.includes('openblas'))) throw new Error(`run-torch.py did not load OpenBLAS from ${blasDir} (loaded: ${r.blas.join(', ')})`);
  return r;
}

const load0 = loadavg()[0];
const nl1 = run('run-normlab.mjs', [], { NORMLAB_THREADS: '1' });
const nlT = run('run-normlab.mjs', [], { NORMLAB_THREADS: String(threads) });
let torch = null;
if (peers.has('torch')) {
  const ob = openblasDir();
  torch = { ref1: runTorch(1, null), refT: runTorch(threads, null), ob1: null, obT: null };
  if (ob) {
    torch.ob1 = runTorch(1, ob);
    torch.obT = runTorch(threads, ob);
  } else notes.push(`torch+OpenBLAS: absent: Debian's OpenBLAS is not unpacked (${INSTALL_TORCH} does it)`);
}
let tfjs = null;
if (peers.has('tfjs')) tfjs = { cpu: run('run-tfjs.mjs', ['cpu']), wasm: run('run-tfjs.mjs', ['wasm']) };
const load1 = loadavg()[0];

// Each row: how to read a number from one runner's results, and whether higher is better.
const gflops = (flops) => (ms) => (ms ? flops / (ms * 1e6) : null);
const gbs = (bytes) => (ms) => (ms ? bytes / (ms * 1e6) : null);
const same = (v) => v;
const rows = [];
const row = (group, name, unit, key, toValue = same) => {
  if (groups.has(group)) rows.push({ name, unit, key, toValue, higherIsBetter: unit !== 'ms' });
};
for (const n of T.MATMUL_SIZES) row('matmul', `matmul f32 ${n}x${n}x${n}`, 'GFLOP/s', (r) => r.matmul?.[n], gflops(2 * n ** 3));
{
  const { n, c, h, w, cout, k } = T.CONV;
  row('conv', `conv2d fwd+bwd [${n},${c},${h},${w}] ${cout}x${k}x${k} p1`, 'ms', (r) => r.conv);
}
row('elementwise', 'add f32 4M elements', 'GB/s', (r) => r.add, gbs(T.ELEMENTWISE_SIZE * 12));
row('elementwise', 'exp f32 4M elements', 'GB/s', (r) => r.exp, gbs(T.ELEMENTWISE_SIZE * 8));
row('elementwise', '  (add, host arrays, no tidy)', 'GB/s', (r) => r.addGc, gbs(T.ELEMENTWISE_SIZE * 12));
row('elementwise', '  (exp, host arrays, no tidy)', 'GB/s', (r) => r.expGc, gbs(T.ELEMENTWISE_SIZE * 8));
{
  const { n, c, h, w } = T.BN2D;
  row('bn', `BatchNorm2d fwd+bwd [${n},${c},${h},${w}] train`, 'ms', (r) => r.bn2d);
  row('bn', '  (same, no tidy)', 'ms', (r) => r.bn2dGc);
}
{
  const { rows: lr, features } = T.LAYER_NORM;
  row('norms', `LayerNorm fwd+bwd [${lr},${features}]`, 'ms', (r) => r.layerNorm);
  const { n, c, h, w, groups: g } = T.GROUP_NORM;
  row('norms', `GroupNorm(${g}) fwd+bwd [${n},${c},${h},${w}]`, 'ms', (r) => r.groupNorm);
}
row('mlp', `BN-paper MLP step ${T.BN_MLP.sizes.join('-')} sigmoid+BN batch ${T.BN_MLP.batch} SGD`, 'steps/s', (r) => r.bnMlp);
row('mlp', '  (same MLP without BN)', 'steps/s', (r) => r.mlp);
row('convnet', `conv net step (2x conv3x3+BN+ReLU+pool, batch ${T.CONV_NET.batch}) SGD`, 'steps/s', (r) => r.convNet);
row('vgg', `VGG-11 width 1/4 +BN step, batch ${T.VGG.batch} 3x${T.VGG.size}x${T.VGG.size} SGD`, 'steps/s', (r) => r.vgg);

const fmt = (v) => (v === null || v === undefined || !Number.isFinite(v) ? 'n/a' : v >= 100 ? v.toFixed(0) : v.toFixed(1));
const value = (r, rr) => (r ? rr.toValue(rr.key(r)) ?? null : null);
/** normlab's speed over the peer's (above 1: normlab is faster), for rates and times alike. */
const speedup = (rr, a, b) => (a && b ? (rr.higherIsBetter ? a / b : b / a).toFixed(2) : 'n/a');

function printTable(title, cols, cells) {
  const body = rows.map((rr) => cells(rr)).filter((c) => c !== null);
  if (body.length === 0) return;
  const widths = cols.map((c, i) => Math.max(c.length, ...body.map((r) => r[i].length)));
  const line = (r) => r.map((v, i) => (i === 0 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join('  ');
  console.log(`\n${title}\n`);
  console.log(line(cols));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of body) console.log(line(r));
}

console.log(`\nnormlab ${threads === 2 ? '' : `(${threads} threads) `}— ${cpus()[0]?.model ?? 'cpu'}, ${availableParallelism()} cores, Node ${process.versions.node}, load ${load0.toFixed(2)} -> ${load1.toFixed(2)}`);
console.log(`CPU kernels: ${nl1.kernels ?? 'none (JS loops)'}${nl1.kernels === 'relaxed-simd' ? ' (the GEMM on f32x4.relaxed_madd)' : ''}${RELAXED_SIMD_FLAGS.length > 0 ? `, Node ${process.versions.node} run with ${RELAXED_SIMD_FLAGS.join(' ')}` : ''}; NORMLAB_WASM_RELAXED=0 times the plain SIMD build`);
console.log('medians after warm-up; GB/s counts bytes read + written (add 12 B/element, exp 8 B/element)');
console.log('every normlab call runs in tidy (tfjs: tf.tidy) on inputs from fromTyped (a user\'s arrays; add and exp: outputs of an op); "no tidy": host arrays, outputs left to the GC');
console.log('ratio columns: normlab\'s speed over the peer\'s (rates: normlab / peer; times: peer / normlab): above 1, normlab is faster');
if (torch) {
  const t = torch;
  const cols = ['benchmark', 'unit', 'normlab 1t', `normlab ${threads}t`, 'torch 1t', `torch ${threads}t`, 'torch+OB 1t', `torch+OB ${threads}t`,
    'nl/torch+OB 1t', `nl/torch+OB ${threads}t`, 'nl/torch 1t'];
  printTable(`PyTorch ${t.ref1.version} (Debian; torch: its reference BLAS, torch+OB: OpenBLAS 0.3 via LD_LIBRARY_PATH)`, cols, (rr) => {
    const [a, b, c, d, e, f] = [nl1, nlT, t.ref1, t.refT, t.ob1, t.obT].map((r) => value(r, rr));
    // Rows no peer runs (normlab's own variants) are shown here too.
    if (c === null && e === null && (value(tfjs?.cpu, rr) !== null || value(tfjs?.wasm, rr) !== null)) return null;
    return [rr.name, rr.unit, fmt(a), fmt(b), fmt(c), fmt(d), fmt(e), fmt(f), speedup(rr, a, e), speedup(rr, b, f), speedup(rr, a, c)];
  });
}
if (!torch && !tfjs) {
  printTable('normlab alone (no peers)', ['benchmark', 'unit', 'normlab 1t', `normlab ${threads}t`], (rr) => {
    const [a, b] = [nl1, nlT].map((r) => value(r, rr));
    return [rr.name, rr.unit, fmt(a), fmt(b)];
  });
}
if (tfjs) {
  const cols = ['benchmark', 'unit', 'normlab 1t', `normlab ${threads}t`, 'tfjs-cpu', `tfjs-wasm ${tfjs.wasm.threads}t`, 'nl 1t / wasm', `nl ${threads}t / wasm`, `nl ${threads}t / cpu`];
  printTable('TensorFlow.js 4.22 (tfjs-cpu: plain JS; tfjs-wasm: its SIMD backend)', cols, (rr) => {
    const [a, b, c, d] = [nl1, nlT, tfjs.cpu, tfjs.wasm].map((r) => value(r, rr));
    if (c === null && d === null && torch) return null;
    return [rr.name, rr.unit, fmt(a), fmt(b), fmt(c), fmt(d), speedup(rr, a, d), speedup(rr, b, d), speedup(rr, b, c)];
  });
}
for (const note of [...notes, nl1.convNote, tfjs?.cpu.convNote, tfjs?.wasm.convNote].filter(Boolean)) console.log(`\nnote: ${note}`);
