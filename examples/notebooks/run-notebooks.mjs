#!/usr/bin/env node
// `pnpm notebooks:test [name...] [--out DIR] [--timeout S]`: executes every
// notebook of examples/notebooks headless in the `normlab` kernel (nbclient,
// through execute.py; one notebook at a time) and fails if a cell raises, a
// notebook runs past its timeout, or a committed notebook carries outputs.
// The executed copies go to a temporary folder (kept with --out).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KERNEL_NAME, jupyterCommand, pythonCommand } from './setup.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');

const USAGE = `usage: pnpm notebooks:test [name...] [--out DIR] [--timeout SECONDS]
  name         run only the notebooks whose file name contains it
  --out DIR    keep the executed notebooks (with their outputs) in DIR
  --timeout S  limit per notebook, kernel start included (default 120; env NOTEBOOK_TIMEOUT)`;

function parseArgs(argv) {
  const o = { names: [], out: null, timeout: Number(process.env.NOTEBOOK_TIMEOUT ?? 120) };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else if (a === '--out') o.out = resolve(process.env.INIT_CWD ?? process.cwd(), argv[++i] ?? '');
    else if (a === '--timeout') o.timeout = Number(argv[++i]);
    else if (a.startsWith('-')) {
      console.error(`notebooks:test: unknown flag ${a}\n${USAGE}`);
      process.exit(2);
    } else o.names.push(a);
  }
  if (!(o.timeout > 0)) {
    console.error(`notebooks:test: --timeout must be a positive number of seconds\n${USAGE}`);
    process.exit(2);
  }
  return o;
}

/** Problems of a notebook as committed: outputs or execution counts left in. */
function committedProblems(nb) {
  return nb.cells.flatMap((c, i) =>
    c.cell_type === 'code' && ((c.outputs ?? []).length > 0 || c.execution_count != null) ? [`cell ${i + 1} has committed outputs (clear them before committing)`] : []);
}

/** Errors recorded in an executed notebook (nbconvert stops at the first; this also catches error outputs it let through). */
function executedProblems(nb) {
  const problems = [];
  nb.cells.forEach((c, i) => {
    if (c.cell_type !== 'code') return;
    for (const o of c.outputs ?? []) if (o.output_type === 'error') problems.push(`cell ${i + 1}: ${o.ename}: ${o.evalue}`);
    if (c.source.length > 0 && c.execution_count == null) problems.push(`cell ${i + 1} did not run`);
  });
  return problems;
}

/** The executor's output, less Deno's warning that its Jupyter kernel is unstable. */
function briefLog(log) {
  return log.split('\n').filter((l) => !/is unstable and might change/.test(l)).map((l) => `    ${l}`).join('\n');
}

const countImages = (nb) => nb.cells.flatMap((c) => c.outputs ?? []).filter((o) => o.data && (o.data['image/svg+xml'] || o.data['image/png'])).length;

/** Runs one notebook; resolves to { ok, seconds, log }. */
function execute(python, path, outDir, timeoutS) {
  const args = [join(here, 'execute.py'), path, join(outDir, basename(path)), '--kernel', KERNEL_NAME, '--timeout', String(Math.ceil(timeoutS))];
  const t0 = performance.now();
  return new Promise((done) => {
    // A process group of its own, so that a timeout ends the kernel too.
    const child = spawn(python, args, { cwd: dirname(path), detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let log = '';
    child.stdout.on('data', (d) => (log += d));
    child.stderr.on('data', (d) => (log += d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try { process.kill(-child.pid, 'SIGTERM'); } catch {}
      setTimeout(() => { try { process.kill(-child.pid, 'SIGKILL'); } catch {} }, 5000).unref();
    }, timeoutS * 1000);
    child.on('close', (code) => {
      clearTimeout(timer);
      const seconds = (performance.now() - t0) / 1000;
      // On a timeout, the executor's traceback (its kernel killed under it) says nothing more.
      if (timedOut) log = `timed out after ${timeoutS} s (raise it with --timeout or NOTEBOOK_TIMEOUT)`;
      done({ ok: code === 0 && !timedOut, seconds, log });
    });
  });
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const jupyter = jupyterCommand();
  const python = jupyter && pythonCommand(jupyter);
  if (!jupyter || !python) {
    console.error("notebooks:test: no 'jupyter' command: run 'pnpm notebooks:setup' first");
    process.exit(1);
  }
  const specs = JSON.parse(spawnSync(jupyter, ['kernelspec', 'list', '--json'], { encoding: 'utf8' }).stdout || '{}').kernelspecs ?? {};
  if (!specs[KERNEL_NAME]) {
    console.error(`notebooks:test: the Jupyter kernel '${KERNEL_NAME}' is not registered: run 'pnpm notebooks:setup' first`);
    process.exit(1);
  }
  for (const p of ['tensor', 'autograd', 'nn', 'plot']) {
    if (!existsSync(join(root, 'packages', p, 'dist', 'index.js'))) {
      console.error(`notebooks:test: packages/${p}/dist is missing: run 'pnpm install' (or 'pnpm build') first`);
      process.exit(1);
    }
  }
  const notebooks = readdirSync(here).filter((f) => f.endsWith('.ipynb')).sort()
    .filter((f) => o.names.length === 0 || o.names.some((n) => f.includes(n)));
  if (notebooks.length === 0) {
    console.error(`notebooks:test: no notebook matches ${o.names.join(', ') || '*.ipynb'}`);
    process.exit(1);
  }
  const outDir = o.out ?? mkdtempSync(join(tmpdir(), 'normlab-notebooks-'));
  mkdirSync(outDir, { recursive: true });
  let passed = 0;
  let failed = 0;
  const t0 = performance.now();
  for (const name of notebooks) {
    const path = join(here, name);
    const problems = committedProblems(JSON.parse(readFileSync(path, 'utf8')));
    const r = await execute(python, path, outDir, o.timeout);
    const executed = join(outDir, basename(name));
    let images = 0;
    if (r.ok && existsSync(executed)) {
      const nb = JSON.parse(readFileSync(executed, 'utf8'));
      problems.push(...executedProblems(nb));
      images = countImages(nb);
    } else if (r.ok) problems.push('no executed notebook was written');
    if (r.ok && problems.length === 0) {
      passed++;
      console.log(`✓ ${name} (${r.seconds.toFixed(1)} s, ${images} figure${images === 1 ? '' : 's'})`);
    } else {
      failed++;
      console.log(`✗ ${name} (${r.seconds.toFixed(1)} s)`);
      for (const p of problems) console.log(`    ${p}`);
      if (!r.ok) console.log(briefLog(r.log));
    }
  }
  if (o.out) console.log(`executed notebooks in ${outDir}`);
  else rmSync(outDir, { recursive: true, force: true });
  console.log(`${notebooks.length} notebook${notebooks.length === 1 ? '' : 's'} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  console.log(`notebooks: ${passed} passed, ${failed} failed`);
  process.exit(failed > 0 ? 1 : 0);
}

main();
