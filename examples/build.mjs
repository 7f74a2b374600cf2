// What `pnpm example` and `pnpm sweep` share: the examples there are, and a
// quiet build (its output shown only when it fails).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const EXAMPLES_DIR = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = join(EXAMPLES_DIR, '..');

/** The examples: folders of examples/ with a package.json and src/main.ts. */
export function availableExamples() {
  return readdirSync(EXAMPLES_DIR, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(EXAMPLES_DIR, d.name, 'package.json')) && existsSync(join(EXAMPLES_DIR, d.name, 'src', 'main.ts')))
    .map((d) => d.name);
}

/** Runs `pnpm run build` in `cwd` quietly; on failure shows its output and exits with its code. */
export function buildQuietly(cwd) {
  const r = spawnSync('pnpm', ['--reporter', 'silent', 'run', 'build'], { cwd, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) {
    process.stdout.write(r.stdout ?? '');
    process.stderr.write(r.stderr ?? (r.error ? `${r.error.message}\n` : ''));
    process.exit(r.status ?? 1);
  }
}
