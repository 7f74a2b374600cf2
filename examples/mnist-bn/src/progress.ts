/**
 * Progress of one variant's training: a bar redrawn in place when the
 * output is a TTY, plain lines (one per evaluation) otherwise, for CI logs.
 */

export interface ProgressInfo {
  step: number;
  loss: number | null;
  accuracy: number | null;
  stepsPerSecond: number;
}

export interface Writer {
  write(s: string): void;
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
    private readonly mode: 'bar' | 'plain' | 'none',
    private readonly label: string,
    private readonly total: number,
  ) {}

  private describe(p: ProgressInfo): string {
    const remaining = (this.total - p.step) / p.stepsPerSecond;
    const loss = p.loss === null ? '   -  ' : p.loss.toFixed(4);
    const acc = p.accuracy === null ? '   -  ' : `${(p.accuracy * 100).toFixed(2)}%`;
    const w = String(this.total).length;
    return `step ${String(p.step).padStart(w)}/${this.total}  loss ${loss}  test acc ${acc}  ${p.stepsPerSecond.toFixed(0).padStart(4)} steps/s  ETA ${formatDuration(remaining)}`;
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
