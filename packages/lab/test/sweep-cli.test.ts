/**
 * `pnpm sweep` for real: the 2 x 2 x 3 smoke grid of mnist-bn run locally,
 * resumed (every run skipped), through the one-node Slurm of
 * `pnpm slurm:start` (identical aggregates), and its report opened in
 * headless Chromium. CI (.ci/run) starts Slurm, installs Chromium and sets
 * NORMLAB_SLURM_REQUIRE=1 and NORMLAB_CHROMIUM_REQUIRE=1, so those parts
 * cannot skip there; elsewhere they run when the tools are there.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { SweepAggregate } from '../src/index.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const SMOKE = join(ROOT, 'sweeps', 'mnist-bn-smoke.json');
const tmp = mkdtempSync(join(tmpdir(), 'sweep-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function sweep(args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [...process.execArgv.filter((a) => a.startsWith('--experimental-wasm')), join(ROOT, 'examples', 'sweep.mjs'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
const aggregateOf = (dir: string): SweepAggregate => JSON.parse(readFileSync(join(dir, 'aggregate.json'), 'utf8'));

/** Whether `cmd` runs; with `required` set, a missing tool fails the test instead of skipping it. */
function available(cmd: string, args: string[], required: boolean): boolean {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  const ok = r.status === 0;
  if (!ok && required) throw new Error(`${cmd} is required here but does not run: ${r.error?.message ?? r.stderr}`);
  return ok;
}
const slurmUp = available('sinfo', ['-h', '-o', '%T'], process.env.NORMLAB_SLURM_REQUIRE === '1');
const chromium = available('chromium', ['--version'], process.env.NORMLAB_CHROMIUM_REQUIRE === '1');

describe('pnpm sweep', () => {
  const local = join(tmp, 'local');

  it('runs the 2 x 2 x 3 grid locally, aggregates 4 series over 3 seeds; run again, it skips every run', () => {
    const first = sweep([SMOKE, '--out', local, '--jobs', '2', '--progress', 'plain']);
    expect(first.err).toBe('');
    expect(first.code).toBe(0);
    expect(first.out).toContain('sweep mnist-bn-smoke: mnist-bn, 12 runs (4 configs x 3 seeds), executor local, 2 at a time');
    expect(first.out).toContain('sweep: 12/12 done, 0 running, 0 failed');
    expect(readdirSync(join(local, 'runs'))).toHaveLength(12);
    const agg = aggregateOf(local);
    expect(agg.series.map((s) => s.label)).toEqual(['lr 0.25, variants baseline', 'lr 0.25, variants bn', 'lr 1, variants baseline', 'lr 1, variants bn']);
    for (const s of agg.series) {
      expect(s.x).toEqual([0, 20, 40, 60]);
      expect(s.metrics.testAccuracy.n).toEqual([3, 3, 3, 3]);
    }
    for (const f of ['summary.md', 'testAccuracy.svg', 'testLoss.svg', 'report.html', 'sweep.json']) expect(statSync(join(local, f)).size).toBeGreaterThan(0);
    const again = sweep([SMOKE, '--out', local, '--progress', 'plain']);
    expect(again.code).toBe(0);
    expect(again.out).toContain('sweep: 12/12 done (12 skipped), 0 running, 0 failed');
    expect(aggregateOf(local).series).toEqual(agg.series);
  }, 300_000);

  it('a run that fails is reported with its log and exit code 1; a damaged sweep file is one line', () => {
    const file = join(tmp, 'bad-unit.json');
    writeFileSync(file, JSON.stringify({ example: 'mnist-bn', args: { steps: 10, unit: 100 }, metrics: { y: ['testAccuracy'] } }));
    const r = sweep([file, '--out', join(tmp, 'bad'), '--progress', 'none']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^sweep: 1 run not done: seed-0 \(pending; log .*logs\/seed-0\.log\)\n$/);
    expect(readFileSync(join(tmp, 'bad', 'logs', 'seed-0.log'), 'utf8')).toContain('--unit must be in 0..99');
    writeFileSync(file, '{ "example": ');
    const d = sweep([file]);
    expect([d.code, d.err]).toEqual([1, `sweep: ${file}: not valid JSON (${(() => { try { JSON.parse('{ "example": '); } catch (e) { return (e as Error).message; } return ''; })()})\n`]);
    const none = sweep([SMOKE, '--out', join(tmp, 'nothing'), '--aggregate-only']);
    expect([none.code, none.err]).toEqual([1, `sweep: --aggregate-only: no sweep in ${join(tmp, 'nothing')} (no sweep.json); run the sweep first\n`]);
    const u = sweep(['--jobs', '0', SMOKE]);
    expect(u.code).toBe(2);
    expect(u.err).toMatch(/^sweep: --jobs expects an integer >= 1, got '0'\n\nusage: pnpm sweep/);
  }, 300_000);

  it('Ctrl-C to the sweep starts no new run, lets the running one finish, exits 130; the same command continues', async () => {
    const dir = join(tmp, 'ctrl-c');
    const child = spawn(process.execPath, [...process.execArgv.filter((a) => a.startsWith('--experimental-wasm')), join(ROOT, 'examples', 'sweep.mjs'), SMOKE, '--out', dir, '--jobs', '1', '--progress', 'plain'], { cwd: ROOT });
    let out = '';
    let err = '';
    let sent = false;
    child.stdout.on('data', (d: Buffer) => {
      out += d;
      // One SIGINT to the sweep process alone (a terminal's Ctrl-C would reach the runs too) after the first run.
      if (!sent && out.includes('sweep: 1/12 done')) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    child.stderr.on('data', (d: Buffer) => void (err += d));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(130);
    const done = readdirSync(join(dir, 'runs')).filter((id) => JSON.parse(readFileSync(join(dir, 'runs', id, 'status.json'), 'utf8')).state === 'done');
    expect(done.length).toBeGreaterThanOrEqual(1);
    expect(done.length).toBeLessThanOrEqual(2);
    expect(err).toBe(`sweep: interrupted; ${12 - done.length} runs not done; the same command continues\n`);
    const again = sweep([SMOKE, '--out', dir, '--progress', 'plain']);
    expect(again.code).toBe(0);
    expect(again.out).toContain(`sweep: 12/12 done (${done.length} skipped)`);
    expect(aggregateOf(dir).series).toEqual(aggregateOf(local).series);
  }, 300_000);

  it.skipIf(!slurmUp)('runs the same grid through Slurm (one job array) to the same aggregate', () => {
    const dir = join(tmp, 'slurm');
    const r = sweep([SMOKE, '--out', dir, '--executor', 'slurm', '--poll-seconds', '1', '--progress', 'plain']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/sweep: submitted job array \d+ \(12 tasks\)/);
    expect(aggregateOf(dir).series).toEqual(aggregateOf(local).series);
  }, 300_000);

  it.skipIf(!chromium)('its report renders in headless Chromium: the tables and both figures, no page errors', () => {
    const url = `file://${join(local, 'report.html')}`;
    const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--enable-logging=stderr', '--v=0'];
    const dom = spawnSync('chromium', [...flags, '--dump-dom', url], { encoding: 'utf8', timeout: 120_000 });
    expect(dom.status).toBe(0);
    expect(dom.stdout.match(/<svg/g)).toHaveLength(2);
    expect(dom.stdout.match(/<tr>/g)).toHaveLength(1 + 4 + 1 + 12);
    // Page errors and console messages are logged as CONSOLE lines or "Uncaught".
    expect(`${dom.stderr}`.split('\n').filter((l) => /CONSOLE|Uncaught|Failed to load resource/.test(l))).toEqual([]);
    const png = join(tmp, 'report.png');
    const shot = spawnSync('chromium', [...flags, `--screenshot=${png}`, '--window-size=1200,1600', url], { encoding: 'utf8', timeout: 120_000 });
    expect(shot.status).toBe(0);
    expect(readFileSync(png).subarray(1, 4).toString()).toBe('PNG');
    expect(statSync(png).size).toBeGreaterThan(20_000);
  }, 300_000);
});
