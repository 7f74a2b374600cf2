/** The code a run was made with: the git commit of the working tree (and whether it had changes), and the runtime. */
import { spawnSync } from 'node:child_process';

/** What `codeVersion` returns; stored in a run's config.json. */
export interface CodeVersion {
  /** HEAD's commit, or null outside a git checkout (an installed package). */
  commit: string | null;
  /** Whether tracked files differed from the commit (null when unknown). */
  dirty: boolean | null;
  node: string;
}

/** The version of the code in `cwd` (default: the working directory). */
export function codeVersion(cwd = process.cwd()): CodeVersion {
  const git = (args: string[]): string | null => {
    const r = spawnSync('git', args, { cwd, encoding: 'utf8', timeout: 10_000 });
    return r.status === 0 ? r.stdout.trim() : null;
  };
  const commit = git(['rev-parse', 'HEAD']);
  const status = commit === null ? null : git(['status', '--porcelain', '--untracked-files=no']);
  return { commit, dirty: status === null ? null : status !== '', node: process.versions.node };
}
