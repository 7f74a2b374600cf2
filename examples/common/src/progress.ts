/**
 * Progress of a training run: a bar redrawn in place when the output is a
 * TTY, plain lines (one per evaluation) otherwise, for CI logs; nothing
 * with 'none'.
 */

export interface ProgressInfo {
  step: number;
  loss: number | null;
  /** Test accuracy (shown as "test acc"); leave out for runs without one. */
  accuracy?: number | null;
  stepsPerSecond: number;
  /** Anything else to show after the loss (e.g. "ICS 0.12"). */
  extra?: string;
}

export interface Writer {
  write(s: string): void;
}

export type ProgressMode = 'bar' | 'plain' | 'none';

/** 'auto': a bar on a TTY, plain lines otherwise. */
export function resolveProgressMode(option: ProgressMode | 'auto', out: { isTTY?: boolean }): ProgressMode {
  return option === 'auto' ? (out.isTTY ? 'bar' : 'plain') : option;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const mm = String(m).padStart(2, '0');
  const ss = String(sec).padStart(2, '0');
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

export class Progress {
  private lastDraw = 0;
  private drawn = false;

  constructor(
    private readonly out: Writer,
    private readonly mode: ProgressMode,
    private readonly label: string,
    private readonly total: number,
  ) {}

  private describe(p: ProgressInfo): string {
    const remaining = (this.total - p.step) / p.stepsPerSecond;
    const loss = p.loss === null ? '   -  ' : p.loss.toFixed(4);
    const acc = p.accuracy === undefined ? '' : `  test acc ${p.accuracy === null ? '   -  ' : `${(p.accuracy * 100).toFixed(2)}%`}`;
    const extra = p.extra ? `  ${p.extra}` : '';
    const w = String(this.total).length;
    const rate = p.stepsPerSecond >= 10 ? p.stepsPerSecond.toFixed(0) : p.stepsPerSecond.toFixed(1);
    return `step ${String(p.step).padStart(w)}/${this.total}  loss ${loss}${acc}${extra}  ${rate.padStart(4)} steps/s  ETA ${formatDuration(remaining)}`;
  }

  /** Called every step; draws at most ~10 times a second. */
  tick(p: ProgressInfo): void {
    if (this.mode !== 'bar') return;
    const now = performance.now();
    if (now - this.lastDraw < 100 && p.step < this.total) return;
    this.lastDraw = now;
    const width = 24;
    const filled = Math.round((p.step / this.total) * width);
    const bar = `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
    this.out.write(`\r\x1b[2K${this.label.padEnd(9)} ${bar} ${this.describe(p)}`);
    this.drawn = true;
  }

  /** Called at every evaluation: a line in plain mode. */
  evaluated(p: ProgressInfo): void {
    if (this.mode === 'plain') this.out.write(`[${this.label}] ${this.describe(p)}\n`);
    else this.tick({ ...p });
  }

  /** A message that must not be overwritten by the bar. */
  message(line: string): void {
    if (this.mode === 'none') return;
    if (this.mode === 'bar' && this.drawn) this.out.write('\r\x1b[2K');
    this.out.write(`${line}\n`);
    this.drawn = false;
  }

  finish(p: ProgressInfo): void {
    if (this.mode === 'bar') {
      this.lastDraw = 0;
      this.tick(p);
      this.out.write('\n');
      this.drawn = false;
    }
  }
}

/** Steps per second since this call: `rate(step)` with the number of steps done. */
export function rateMeter(): (step: number) => number {
  const t0 = performance.now();
  return (step) => step / Math.max(1e-9, (performance.now() - t0) / 1000);
}

/** Every (a, b) pair, a-major: the runs of a learning-rate x variant grid. */
export function grid<A, B>(as: readonly A[], bs: readonly B[]): [A, B][] {
  return as.flatMap((a) => bs.map((b): [A, B] => [a, b]));
}
