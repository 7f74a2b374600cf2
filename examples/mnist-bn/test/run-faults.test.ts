/**
 * The run folder's faults, each reproduced as a new user would meet it:
 * interrupting a resumed run, reusing --out, resuming without (or with a
 * damaged) checkpoint or config, --steps below the run's step, errors after
 * parsing, Ctrl-C, and the temporary files of interrupted saves.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { captureIo } from '@normlab/example-kit';
import { run } from '../src/cli.js';
import type { MetricsRow } from '../src/train.js';

const tmp = mkdtempSync(join(tmpdir(), 'mnist-bn-faults-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const TINY = ['--eval-every', '10', '--checkpoint-every', '10', '--train-limit', '600', '--test-limit', '200', '--percentile-images', '100'];
const QUIET = [...TINY, '--progress', 'none'];

/** An Io whose stdout sends SIGINT to this process (as Ctrl-C does) on the first line matching `when`. */
function interruptingIo(when: RegExp): ReturnType<typeof captureIo> {
  const c = captureIo();
  const write = c.io.stdout.write;
  let sent = false;
  c.io.stdout.write = (s: string) => {
    write(s);
    if (!sent && when.test(s)) {
      sent = true;
      process.emit('SIGINT', 'SIGINT');
    }
  };
  return c;
}

/** The rows of metrics.json without the timings (which differ between invocations). */
function rowsOf(dir: string): Omit<MetricsRow, 'trainSeconds' | 'wallSeconds'>[] {
  const rows = (JSON.parse(readFileSync(join(dir, 'metrics.json'), 'utf8')) as { rows: MetricsRow[] }).rows;
  return rows.map(({ trainSeconds: _t, wallSeconds: _w, ...rest }) => rest);
}

const status = (dir: string): { state: string; checkpoint?: string } => JSON.parse(readFileSync(join(dir, 'status.json'), 'utf8'));

describe('mnist-bn run folders', () => {
  const straight = join(tmp, 'straight');

  it('Ctrl-C while a resumed run trains its first variant keeps every earlier row of the later ones, saves the step it finished, exits 130; resuming then equals a straight run', async () => {
    expect(await run(['--steps', '40', '--variants', 'baseline,bn', '--out', straight, ...QUIET], captureIo().io)).toBe(0);
    const dir = join(tmp, 'interrupted');
    expect(await run(['--steps', '20', '--variants', 'baseline,bn', '--out', dir, ...QUIET], captureIo().io)).toBe(0);
    const bnBefore = rowsOf(dir).filter((r) => r.variant === 'bn');
    expect(bnBefore.map((r) => r.step)).toEqual([0, 10, 20]);

    const c = interruptingIo(/\[baseline\] step 30\b/);
    expect(await run(['--resume', dir, '--steps', '40', '--progress', 'plain'], c.io)).toBe(130);
    expect(c.err()).toMatch(/interrupted; baseline saved at step 30 in .*baseline-step000030\.safetensors\ncontinue with: pnpm example mnist-bn --resume /);
    expect(status(dir)).toMatchObject({ state: 'interrupted', checkpoint: join(dir, 'checkpoints', 'baseline-step000030.safetensors') });
    const rows = rowsOf(dir);
    expect(rows.filter((r) => r.variant === 'bn')).toEqual(bnBefore);
    expect(rows.filter((r) => r.variant === 'baseline').map((r) => r.step)).toEqual([0, 10, 20, 30]);

    expect(await run(['--resume', dir, '--steps', '40', '--progress', 'none'], captureIo().io)).toBe(0);
    expect(status(dir).state).toBe('done');
    expect(rowsOf(dir)).toEqual(rowsOf(straight));
  });

  it('refuses an --out that holds a run (one line, nothing touched); --force moves it aside, never deletes it', async () => {
    const before = readFileSync(join(straight, 'config.json'), 'utf8');
    const c = captureIo();
    expect(await run(['--steps', '10', '--variants', 'baseline', '--out', straight, ...QUIET], c.io)).toBe(1);
    expect(c.err()).toBe(`mnist-bn: ${straight} holds a run; --resume ${straight} continues it, --force moves it aside and starts a new run\n`);
    expect(readFileSync(join(straight, 'config.json'), 'utf8')).toBe(before);

    const copy = join(tmp, 'forced');
    expect(await run(['--steps', '10', '--variants', 'baseline', '--out', copy, ...QUIET], captureIo().io)).toBe(0);
    const old = readFileSync(join(copy, 'metrics.jsonl'), 'utf8');
    const f = captureIo();
    expect(await run(['--steps', '10', '--variants', 'bn', '--out', copy, '--force', ...TINY, '--progress', 'plain'], f.io)).toBe(0);
    const moved = /the run that was in .* is now in (\S+)/.exec(f.out())![1];
    expect(readFileSync(join(moved, 'metrics.jsonl'), 'utf8')).toBe(old);
    expect(readdirSync(join(copy, 'checkpoints'))).toEqual(['bn-step000010.safetensors']);
  });

  it('--resume of a variant that trained but has no checkpoint is an error; --start-over trains it from step 0', async () => {
    const dir = join(tmp, 'no-checkpoint');
    expect(await run(['--steps', '10', '--variants', 'baseline', '--out', dir, ...QUIET], captureIo().io)).toBe(0);
    rmSync(join(dir, 'checkpoints'), { recursive: true });
    const c = captureIo();
    expect(await run(['--resume', dir, '--steps', '20'], c.io)).toBe(1);
    expect(c.err()).toMatch(/^mnist-bn: --resume: baseline has trained \(metrics\.jsonl has its rows\) but it has no checkpoint in .*; --start-over trains it again from step 0\n$/);
    expect(await run(['--resume', dir, '--steps', '20', '--start-over'], captureIo().io)).toBe(0);
    expect(rowsOf(dir).map((r) => r.step)).toEqual([0, 10, 20]);
  });

  it('--resume with --steps below the step the run reached is an error, and config.json is left as it was', async () => {
    const config = readFileSync(join(straight, 'config.json'), 'utf8');
    const c = captureIo();
    expect(await run(['--resume', straight, '--steps', '10'], c.io)).toBe(1);
    expect(c.err()).toMatch(/^mnist-bn: --resume: baseline is at step 40 \(.*baseline-step000040\.safetensors\), past --steps 10; give --steps 40 or more\n$/);
    expect(readFileSync(join(straight, 'config.json'), 'utf8')).toBe(config);
  });

  it('a damaged newest checkpoint is named and skipped for the one before; stale temporary files go at the next save', async () => {
    const dir = join(tmp, 'damaged');
    expect(await run(['--steps', '20', '--variants', 'bn', '--out', dir, ...QUIET], captureIo().io)).toBe(0);
    const newest = join(dir, 'checkpoints', 'bn-step000020.safetensors');
    writeFileSync(newest, readFileSync(newest).subarray(0, 100)); // truncated, as by a full disk
    // A temporary file of a save whose process is gone (pid 2^22 + 1 is above Linux's pid_max).
    const stale = join(dir, 'checkpoints', `.bn-step000030.safetensors.${2 ** 22 + 1}.0a1b2c3d.tmp`);
    writeFileSync(stale, 'partial');
    const c = captureIo();
    expect(await run(['--resume', dir, '--steps', '40', '--progress', 'plain'], c.io)).toBe(0);
    expect(c.out()).toContain(`bn: skipping a checkpoint that does not load: ${newest}:`);
    expect(c.out()).toContain('bn: resumed from');
    expect(c.out()).toContain('bn-step000010.safetensors at step 10');
    expect(existsSync(stale)).toBe(false);
    expect(rowsOf(dir)).toEqual(rowsOf(straight).filter((r) => r.variant === 'bn'));
  });

  it('a damaged config.json is one line naming the file', async () => {
    const dir = join(tmp, 'bad-config');
    expect(await run(['--steps', '10', '--variants', 'baseline', '--out', dir, ...QUIET], captureIo().io)).toBe(0);
    writeFileSync(join(dir, 'config.json'), '{"options": ');
    const c = captureIo();
    expect(await run(['--resume', dir], c.io)).toBe(1);
    expect(c.err()).toMatch(new RegExp(`^mnist-bn: ${join(dir, 'config.json').replace(/[.]/g, '\\.')}: damaged, not valid JSON \\(.*\\); restore it or start a new run\\n$`));
  });

  it('errors after parsing are one line and leave no folder: --batch-size 1 with BN, an --out that cannot be created', async () => {
    const dir = join(tmp, 'never');
    const c = captureIo();
    expect(await run(['--batch-size', '1', '--variants', 'baseline,bn', '--out', dir, ...QUIET], c.io)).toBe(2);
    expect(c.err()).toMatch(/^mnist-bn: --batch-size must be at least 2/);
    expect(existsSync(dir)).toBe(false);

    const file = join(tmp, 'a-file');
    writeFileSync(file, 'not a folder');
    const d = captureIo();
    expect(await run(['--steps', '10', '--out', join(file, 'run'), ...QUIET], d.io)).toBe(1);
    expect(d.err()).toBe(`mnist-bn: cannot create the run folder ${join(file, 'run')}: ENOTDIR\n`);

  });
});
