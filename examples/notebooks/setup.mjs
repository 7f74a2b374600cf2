#!/usr/bin/env node
// `pnpm notebooks:setup`: installs Jupyter (Debian's packages, when root on
// Debian/Ubuntu) and registers Deno's TypeScript kernel as the Jupyter kernel
// `normlab`. Idempotent: what is there already is left as it is. See
// docs/notebooks.md.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const KERNEL_NAME = 'normlab';
/** Debian (bookworm) packages: the jupyter command, kernelspecs, nbformat, nbclient and nbconvert. */
export const APT_PACKAGES = ['jupyter-client', 'jupyter-nbconvert', 'python3-nbclient'];
/** What the Python side must import (Debian's python3, not a pyenv or venv one). */
const PY_MODULES = ['jupyter_client', 'nbformat', 'nbclient', 'nbconvert'];

const here = dirname(fileURLToPath(import.meta.url));
const t0 = performance.now();
const log = (s) => console.log(`notebooks:setup: ${s}`);
const fail = (s) => {
  console.error(`notebooks:setup: ${s}`);
  process.exit(1);
};
const run = (cmd, args, opts = {}) => spawnSync(cmd, args, { encoding: 'utf8', ...opts });

/** The Deno binary of the @deno/<platform> package installed by `pnpm install` (an optional dependency of this folder). */
export function denoBinary() {
  const require = createRequire(join(here, 'package.json'));
  const { platform, arch } = process;
  const name = platform === 'linux' ? `@deno/linux-${arch}-glibc` : `@deno/${platform}-${arch}`;
  try {
    const dir = dirname(require.resolve(`${name}/package.json`));
    const bin = join(dir, platform === 'win32' ? 'deno.exe' : 'deno');
    if (existsSync(bin)) return bin;
  } catch {}
  return null;
}

/** The jupyter command: Debian's /usr/bin/jupyter first (its #! is Debian's python3, so a pyenv python3 on PATH does not hide it). */
export function jupyterCommand() {
  for (const c of ['/usr/bin/jupyter', 'jupyter']) {
    const r = run(c, ['--version']);
    if (r.status === 0) return c;
  }
  return null;
}

/** The Python of the jupyter command: the interpreter its #! line names, whose modules count. */
export function pythonCommand(jupyter) {
  let py = 'python3';
  try {
    const path = jupyter.includes('/') ? jupyter : run('sh', ['-c', `command -v ${jupyter}`]).stdout.trim();
    const shebang = readFileSync(path, 'utf8').split('\n', 1)[0];
    if (shebang.startsWith('#!')) {
      const [cmd, arg] = shebang.slice(2).trim().split(/\s+/);
      py = cmd.endsWith('/env') && arg ? arg : cmd;
    }
  } catch {}
  return run(py, ['--version']).status === 0 ? py : null;
}

function pythonHasModules(jupyter) {
  const py = pythonCommand(jupyter);
  return py !== null && run(py, ['-c', `import ${PY_MODULES.join(', ')}`]).status === 0;
}

function aptInstall() {
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const apt = existsSync('/usr/bin/apt-get') && existsSync('/usr/bin/dpkg-query');
  if (!apt) {
    fail(`Jupyter (jupyter-client, nbclient, nbconvert) was not found and this is not a Debian-like system.\n` +
      `  Install it with your package manager (e.g. 'pipx install nbclient nbconvert jupyter-client', or 'brew install jupyterlab'), then re-run 'pnpm notebooks:setup'.`);
  }
  const missing = APT_PACKAGES.filter((p) => run('dpkg-query', ['-W', '-f=${Status}', p]).stdout !== 'install ok installed');
  if (missing.length === 0) return;
  if (!isRoot) fail(`missing Debian packages; run as root:\n  apt-get update && apt-get install -y --no-install-recommends ${missing.join(' ')}`);
  log(`apt-get install ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => run('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing], { env, stdio: 'inherit' });
  // Try with the package lists there are first; update them only if that fails.
  if (install().status !== 0) {
    if (run('apt-get', ['update', '-q'], { env, stdio: 'inherit' }).status !== 0) fail('apt-get update failed');
    if (install().status !== 0) fail(`apt-get install ${missing.join(' ')} failed`);
  }
}

/**
 * True when @normlab/tensor's GEMM worker threads start under Deno. They did
 * not as of Deno 2.9 (the eval'd worker source declares \`module\`, which
 * Deno's node:worker_threads wrapper declares too: "Identifier 'module' has
 * already been declared", reported as an uncaught error in the kernel);
 * products still ran, on the calling thread only.
 */
function denoWorkersStart(deno) {
  const code = [
    "import { randn } from '@normlab/autograd';",
    'const a = randn([384, 384]);',
    'for (let i = 0; i < 4; i++) a.matmul(a);',
    'await new Promise((r) => setTimeout(r, 300));',
    'for (let i = 0; i < 4; i++) a.matmul(a);',
    'await new Promise((r) => setTimeout(r, 300));',
  ].join('\n');
  const r = run(deno, ['eval', code], { cwd: here, env: { ...process.env, NO_COLOR: '1', NORMLAB_THREADS: '2' }, timeout: 60_000 });
  return r.status === 0 && !/worker/i.test(r.stderr);
}

const USAGE = `usage: pnpm notebooks:setup
  installs Jupyter's headless parts (Debian's ${APT_PACKAGES.join(', ')}; apt, as root) when missing
  and registers Deno's TypeScript kernel as the Jupyter kernel '${KERNEL_NAME}'; takes no arguments`;

function main(argv) {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(USAGE);
    return;
  }
  if (argv.length > 0) {
    console.error(`notebooks:setup: unexpected argument '${argv[0]}'\n${USAGE}`);
    process.exit(2);
  }
  const deno = denoBinary();
  if (!deno) fail(`no Deno binary for ${process.platform}-${process.arch} under examples/notebooks/node_modules/@deno/: run 'pnpm install' first`);
  const denoVersion = run(deno, ['--version']).stdout.split('\n')[0];

  let jupyter = jupyterCommand();
  // On Debian the packages themselves are checked (dpkg-query is quick), not only the modules.
  const debian = existsSync('/usr/bin/apt-get') && existsSync('/usr/bin/dpkg-query');
  if (debian || !jupyter || !pythonHasModules(jupyter)) {
    aptInstall();
    jupyter = jupyterCommand();
    if (!jupyter || !pythonHasModules(jupyter)) fail(`Jupyter is still missing after the install (need the Python modules ${PY_MODULES.join(', ')})`);
  }

  // `deno jupyter --install` writes the kernelspec (argv: this binary) to the user's Jupyter data dir.
  const display = `TypeScript (normlab, Deno ${denoVersion.split(' ')[1] ?? ''})`.replace(' )', ')');
  const r = run(deno, ['jupyter', '--install', '--force', '--name', KERNEL_NAME, '--display', display], { env: { ...process.env, NO_COLOR: '1' } });
  if (r.status !== 0) fail(`deno jupyter --install failed:\n${r.stdout}${r.stderr}`);
  const specs = JSON.parse(run(jupyter, ['kernelspec', 'list', '--json']).stdout || '{}').kernelspecs ?? {};
  const spec = specs[KERNEL_NAME];
  if (!spec) fail(`the kernel '${KERNEL_NAME}' is not in 'jupyter kernelspec list' after 'deno jupyter --install'`);
  if (spec.spec.argv[0] !== deno) fail(`the kernelspec '${KERNEL_NAME}' runs ${spec.spec.argv[0]}, not ${deno}`);
  const workersOk = denoWorkersStart(deno);
  if (!workersOk) {
    // Keep the kernel on one thread rather than print a worker error into the notebooks.
    const file = join(spec.resource_dir, 'kernel.json');
    const kernelJson = JSON.parse(readFileSync(file, 'utf8'));
    kernelJson.env = { ...kernelJson.env, NORMLAB_THREADS: '1' };
    writeFileSync(file, `${JSON.stringify(kernelJson, null, 2)}\n`);
  }

  log(`${denoVersion.trim()} (${deno})`);
  log(`${run(jupyter, ['--version']).stdout.split('\n').filter((l) => /nbconvert|nbclient|jupyter_client|jupyter_core/.test(l)).map((l) => l.replace(/\s+/g, ' ').trim()).join(', ')}`);
  log(`kernel '${KERNEL_NAME}' (${display}) registered in ${spec.resource_dir}`);
  if (!workersOk) log("@normlab/tensor's worker threads do not start under this Deno: the kernel runs with NORMLAB_THREADS=1 (one thread)");
  log(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s; 'pnpm notebooks:test' runs the notebooks of examples/notebooks`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main(process.argv.slice(2));
