/**
 * `metrics.jsonl`: one JSON object per line, appended and synced to disk as
 * each record is written, never rewritten. An interruption can lose at most
 * the record being written; a torn last line (the process killed mid-write)
 * is named and skipped on reading, and cut off before the next append.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, truncateSync, writeSync } from 'node:fs';
import { RunError } from './errors.js';

/** One line of a metrics log: any JSON object. */
export type MetricsRecord = Record<string, unknown>;

/** The records of a metrics log, and the torn last line skipped, if any. */
export interface MetricsRead<R extends MetricsRecord = MetricsRecord> {
  records: R[];
  /** A description of the torn last line that was skipped, or null. */
  torn: string | null;
}

/** The records of a metrics log (none when the file does not exist). Throws a RunError naming the line on a damaged line other than the last. */
export function readMetrics<R extends MetricsRecord = MetricsRecord>(path: string): MetricsRead<R> {
  if (!existsSync(path)) return { records: [], torn: null };
  const text = readFileSync(path, 'utf8');
  const lines = text.split('\n');
  const complete = text.endsWith('\n') || text === '';
  const records: R[] = [];
  let torn: string | null = null;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line === '') continue;
    const last = i === lines.length - 1;
    try {
      const value = JSON.parse(line) as unknown;
      if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('not an object');
      if (last && !complete) throw new Error('no newline');
      records.push(value as R);
    } catch {
      if (last && !complete) {
        torn = `${path}: line ${i + 1} was cut off mid-write (${line.length} bytes), skipped`;
        continue;
      }
      throw new RunError(`${path}: line ${i + 1} is not a JSON object: ${line.length > 80 ? `${line.slice(0, 80)}...` : line}`);
    }
  }
  return { records, torn };
}

/** Appends records to a metrics log, each synced to disk before `append` returns. */
export class MetricsLog {
  readonly path: string;

  constructor(path: string) {
    this.path = path;
    // A torn last line from an interrupted writer is cut off, so the next record starts on a line of its own.
    if (existsSync(path)) {
      const text = readFileSync(path, 'utf8');
      if (text !== '' && !text.endsWith('\n')) truncateSync(path, Buffer.byteLength(text.slice(0, text.lastIndexOf('\n') + 1)));
    }
  }

  append(record: MetricsRecord): void {
    // JSON.stringify escapes newlines inside strings: one record is one line.
    const line = `${JSON.stringify(record)}\n`;
    const fd = openSync(this.path, 'a');
    try {
      const bytes = Buffer.from(line);
      for (let at = 0; at < bytes.length;) at += writeSync(fd, bytes, at, bytes.length - at);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  read<R extends MetricsRecord = MetricsRecord>(): MetricsRead<R> {
    return readMetrics<R>(this.path);
  }
}
