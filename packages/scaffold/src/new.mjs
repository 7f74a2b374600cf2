#!/usr/bin/env node
// `pnpm new experiment <name> [--outside <dir>]`: a new experiment with a
// README, a config, a training loop in tidy, a test and a figure. Inside the
// repository it becomes examples/<name> (run with `pnpm example <name>`);
// with --outside it is a standalone npm project in <dir> that uses the packed
// packages (copied into <dir>/vendor) and is installed with npm.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT, packPackages, runQuiet } from '../../release/src/pack.mjs';
import { repoExampleFiles, standaloneFiles } from './templates.mjs';

/** What the experiment imports; the standalone project vendors these tarballs. */
const USED_PACKAGES = ['@normlab/tensor', '@normlab/autograd', '@normlab/nn', '@normlab/data', '@normlab/plot'];
const USAGE = 'usage: pnpm new experiment <name> [--outside <dir>] [--no-install]\n  <name>: lowercase letters, digits and dashes, starting with a letter';

/** A user's mistake: printed as one line (plus the usage), exit code 2. */
export class UsageError extends Error {}

/** Parses `experiment <name> [--outside <dir>] [--no-install]`; null for --help. */
export function parseArgs(argv) {
  if (argv.includes('--help') || argv.includes('-h')) return null;
  const [kind, name, ...rest] = argv;
  if (kind !== 'experiment') throw new UsageError(kind === undefined ? 'what to create? (only "experiment" is known)' : `unknown kind '${kind}' (only "experiment" is known)`);
  if (name === undefined || name.startsWith('--')) throw new UsageError('the experiment needs a name');
  if (!/^[a-z][a-z0-9-]*$/.test(name)) throw new UsageError(`'${name}' is not a valid name (lowercase letters, digits and dashes, starting with a letter)`);
  let outside = null;
  let install = true;
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === '--outside' && rest[i + 1] !== undefined) outside = resolve(rest[++i]);
    else if (rest[i] === '--no-install') install = false;
    else throw new UsageError(`unexpected argument '${rest[i]}'${rest[i] === '--outside' ? ' (--outside needs a folder)' : ''}`);
  }
  return { name, outside, install };
}

function writeFiles(dir, files) {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text, { flag: 'wx' });
  }
}

/** examples/<name> in this repository's workspace. */
export function createInRepo({ name, install }) {
  const dir = join(ROOT, 'examples', name);
  if (existsSync(dir)) throw new UsageError(`examples/${name} exists already; choose another name`);
  writeFiles(dir, repoExampleFiles(name));
  // Links the new workspace project (its dependencies are all in the workspace).
  if (install) runQuiet('pnpm', ['install', '--offline', '--reporter', 'silent'], ROOT);
  return dir;
}

/** A standalone project in `dir` (absent or empty), with the packed packages in vendor/ (built first unless `build` is false). */
export function createOutside({ name, outside: dir, install, build = true }) {
  if (existsSync(dir) && readdirSync(dir).length > 0) throw new UsageError(`${dir} is not empty; give a new or empty folder to --outside`);
  const rootPkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const versions = { typescript: rootPkg.devDependencies.typescript, typesNode: rootPkg.devDependencies['@types/node'] };
  const vendor = join(dir, 'vendor');
  const tarballs = packPackages(vendor, { build, only: USED_PACKAGES }).map((t) => ({ name: t.name, file: relative(dir, t.file) }));
  writeFiles(dir, standaloneFiles(name, tarballs, versions));
  if (install) runQuiet('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], dir);
  return dir;
}

function main(argv) {
  let args;
  try {
    args = parseArgs(argv);
    if (args === null) {
      console.log(USAGE);
      return 0;
    }
    const dir = args.outside ? createOutside(args) : createInRepo(args);
    const where = args.outside ? dir : relative(process.cwd(), dir);
    console.log(`created ${where}`);
    if (args.outside) console.log(`next: cd ${where} && ${args.install ? '' : 'npm install && '}npm start   (npm test runs its test)`);
    else console.log(`next: pnpm example ${args.name}   (pnpm test examples/${args.name} runs its test)`);
    return 0;
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`new: ${e.message}\n${USAGE}`);
    return 2;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) process.exitCode = main(process.argv.slice(2));
