// `pnpm bench --device gpu`: runs run-device.mjs on the CPU backend and on the
// gpu device, one process after the other, and prints one table with both.
import { availableParallelism, cpus, loadavg } from 'node:os';
import { BN2D, GROUP_NORM, LAYER_NORM, MNIST_BN } from './timing.mjs';

const f1 = (v) => (v === null || v === undefined || !Number.isFinite(v) ? 'n/a' : v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toPrecision(2));
const f2 = (v) => (v === null || v === undefined || !Number.isFinite(v) ? 'n/a' : v.toFixed(2));

export function deviceBench({ run, threads, gpuMode, sizes, budgetS, only }) {
  const mode = gpuMode ?? process.env.NORMLAB_GPU_MODE ?? 'webgpu';
  const groups = only === 'bn' ? 'bn2d,mlp' : only === 'core' ? 'matmul' : only;
  const common = [...(sizes ? ['--sizes', sizes] : []), ...(budgetS ? ['--budget-s', budgetS] : []), ...(groups ? ['--only', groups] : [])];
  const load0 = loadavg()[0];
  const cpu = run('run-device.mjs', ['--device', 'cpu', ...common], { NORMLAB_THREADS: String(threads) });
  const dev = run('run-device.mjs', ['--device', 'gpu', '--gpu-mode', mode, ...common]);
  const load1 = loadavg()[0];

  const rows = [];
  const cols = ['benchmark', 'unit', `cpu backend ${threads}t`, `gpu (${dev.info.name})`, 'gpu / cpu'];
  const allSizes = [...new Set([...Object.keys(cpu.matmul), ...Object.keys(dev.matmul), ...Object.keys(dev.skipped), ...Object.keys(cpu.skipped)].map(Number))].sort((a, b) => a - b);
  for (const n of allSizes) {
    const g = (r) => (r ? (2 * n ** 3) / (r.ms * 1e6) : null);
    const [c, d] = [g(cpu.matmul[n]), g(dev.matmul[n])];
    rows.push([`matmul f32 ${n}x${n}x${n}`, 'GFLOP/s', cpu.skipped[n] ? 'skipped' : f1(c), dev.skipped[n] ? 'skipped' : f1(d), c && d ? f2(d / c) : 'n/a']);
  }
  if (cpu.bn2d || dev.bn2d) {
    const { n, c, h, w } = BN2D;
    const [a, b] = [cpu.bn2d?.ms, dev.bn2d?.ms];
    rows.push([`BatchNorm2d fwd+bwd [${n},${c},${h},${w}] train`, 'ms', f1(a), f1(b), a && b ? f2(a / b) : 'n/a']);
  }
  if (cpu.layerNorm || dev.layerNorm) {
    const { rows: lr, features } = LAYER_NORM;
    const { n, c, h, w, groups: g } = GROUP_NORM;
    for (const [name, key] of [[`LayerNorm fwd+bwd [${lr},${features}]`, 'layerNorm'], [`GroupNorm(${g}) fwd+bwd [${n},${c},${h},${w}]`, 'groupNorm']]) {
      const [a, b] = [cpu[key]?.ms, dev[key]?.ms];
      rows.push([name, 'ms', f1(a), f1(b), a && b ? f2(a / b) : 'n/a']);
    }
  }
  if (cpu.mlp || dev.mlp) {
    const [a, b] = [cpu.mlp?.stepsPerS, dev.mlp?.stepsPerS];
    rows.push([`mnist-bn MLP step ${MNIST_BN.sizes.join('-')} BN+sigmoid, batch ${MNIST_BN.batch}, SGD`, 'steps/s', f1(a), f1(b), a && b ? f2(b / a) : 'n/a']);
  }

  const widths = cols.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i].length)));
  const line = (r) => r.map((v, i) => (i === 0 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join('  ');
  console.log(`\nnormlab gpu vs cpu backend — gpu.info(): mode ${dev.info.mode}, adapter ${dev.info.adapter} (${dev.info.adapterDescription})`);
  console.log(`host: ${cpus()[0]?.model ?? 'cpu'}, ${availableParallelism()} threads, Node ${process.versions.node}, load average ${load0.toFixed(1)} -> ${load1.toFixed(1)}`);
  console.log('medians of synchronized runs after one warm-up run (which compiles the device kernels); ratio: gpu / cpu for rates, cpu / gpu for times: above 1, the gpu is faster\n');
  console.log(line(cols));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
  for (const [who, res] of [['cpu', cpu], ['gpu', dev]]) {
    for (const [n, why] of Object.entries(res.skipped)) console.log(`\nnote: ${who} matmul ${n} skipped: ${why} (--sizes, --budget-s)`);
  }
  const runs = (res) => Object.entries(res.matmul).map(([n, r]) => `${n}: ${r.runs}`).join(', ');
  console.log(`\ntimed runs per matmul size: cpu ${runs(cpu)}; gpu ${runs(dev)}`);
  const fb = Object.keys(dev.fallbacks ?? {});
  console.log(`gpu.profile().fallbacks: ${fb.length ? fb.join(', ') : 'none'}`);
}
