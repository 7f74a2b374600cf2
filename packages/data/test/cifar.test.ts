/**
 * loadCifar10 / loadCifar100 on files the test writes in the binary
 * versions' exact layout (full-size files, sparse beyond their first
 * records): labels and pixels in order across the batch files, the R, G, B
 * planes, standardization, limit, the fine and coarse labels, and the errors
 * of truncated, oversized and missing files, bad labels and no folder.
 */
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, truncateSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CIFAR10_MEAN, CIFAR10_STD, CIFAR10_CLASSES, loadCifar10, loadCifar100 } from '../src/index.js';

const work = mkdtempSync(join(tmpdir(), 'normlab-cifar-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The pixel byte k of record r of file f: a pattern that differs between files, records and planes. */
const pixel = (f: number, r: number, k: number): number => (f * 31 + r * 7 + k * 3 + (k >> 10) * 50) % 256;

/** A file of `records` records (`labelBytes` label bytes, then 3072 pixels), the first `written` of them filled in. */
function writeRecords(path: string, f: number, records: number, labelBytes: number, written: number, label: (r: number) => number[]): void {
  const rec = labelBytes + 3072;
  const buf = new Uint8Array(written * rec);
  for (let r = 0; r < written; r++) {
    buf.set(label(r), r * rec);
    for (let k = 0; k < 3072; k++) buf[r * rec + labelBytes + k] = pixel(f, r, k);
  }
  const fd = openSync(path, 'w');
  writeSync(fd, buf);
  closeSync(fd);
  truncateSync(path, records * rec); // the rest sparse zeros: the exact size, cheaply
}

function cifar10Dir(): string {
  const dir = mkdtempSync(join(work, 'c10-'));
  for (let i = 1; i <= 5; i++) writeRecords(join(dir, `data_batch_${i}.bin`), i, 10000, 1, 3, (r) => [(i + r) % 10]);
  writeRecords(join(dir, 'test_batch.bin'), 0, 10000, 1, 3, (r) => [9 - r]);
  return dir;
}

const vals = (t: { data: { toTypedArray(): ArrayLike<number | bigint | boolean> } }): number[] => Array.from(t.data.toTypedArray(), Number);

describe('loadCifar10', () => {
  const dir = cifar10Dir();

  it('reads the records in order, labels then R, G and B planes of 32 x 32, as [N, 3, 32, 32] in [0, 1]', () => {
    const test = loadCifar10({ split: 'test', root: dir, limit: 3 });
    const [x, y] = test.tensors;
    expect(x.shape).toEqual([3, 3, 32, 32]);
    expect(vals(y)).toEqual([9, 8, 7]);
    expect(CIFAR10_CLASSES[9]).toBe('truck');
    const v = vals(x);
    for (const [r, k] of [[0, 0], [1, 1023], [1, 1024], [2, 3071]]) expect(v[r * 3072 + k]).toBeCloseTo(pixel(0, r, k) / 255, 7);
    // The training split runs through data_batch_1 .. 5: record 10000 is the first of data_batch_2.
    const train = loadCifar10({ split: 'train', root: dir, limit: 10001 });
    expect(train.tensors[0].shape).toEqual([10001, 3, 32, 32]);
    expect(vals(train.tensors[1]).slice(0, 3)).toEqual([1, 2, 3]);
    expect(vals(train.tensors[1])[10000]).toBe(2);
    expect(vals(train.tensors[0].narrow(0, 10000, 1)).slice(0, 2)).toEqual([pixel(2, 0, 0) / 255, pixel(2, 0, 1) / 255].map((p) => Math.fround(p)));
  });

  it('standardizes each channel with CIFAR-10\'s training statistics', () => {
    const [raw] = loadCifar10({ split: 'test', root: dir, limit: 1 }).tensors;
    const [std] = loadCifar10({ split: 'test', root: dir, limit: 1, standardize: true }).tensors;
    const a = vals(raw);
    const b = vals(std);
    for (const k of [0, 1500, 3000]) {
      const c = k >> 10;
      expect(b[k]).toBeCloseTo((a[k] - CIFAR10_MEAN[c]) / CIFAR10_STD[c], 5);
    }
  });

  it('names the file of every problem, before reading anything', () => {
    const bad = cifar10Dir();
    truncateSync(join(bad, 'data_batch_3.bin'), 10000 * 3073 - 1);
    expect(() => loadCifar10({ split: 'train', root: bad, limit: 1 })).toThrow(/loadCifar10: .*data_batch_3\.bin: 30729999 bytes, expected 30730000 \(10000 records of 3073 bytes: 1 label byte and 3072 pixels\)/);
    rmSync(join(bad, 'test_batch.bin'));
    expect(() => loadCifar10({ split: 'test', root: bad })).toThrow(/loadCifar10: cannot read .*test_batch\.bin/);
    const labels = mkdtempSync(join(work, 'lbl-'));
    writeRecords(join(labels, 'test_batch.bin'), 0, 10000, 1, 2, (r) => [r === 1 ? 10 : 0]);
    expect(() => loadCifar10({ split: 'test', root: labels, limit: 2 })).toThrow(/test_batch\.bin: record 1 has label 10, expected 0\.\.9/);
    const saved = process.env.NORMLAB_CIFAR10_DIR;
    delete process.env.NORMLAB_CIFAR10_DIR;
    try {
      expect(() => loadCifar10({ split: 'test' })).toThrow(/loadCifar10: no data folder: pass \{ root \} or set NORMLAB_CIFAR10_DIR/);
    } finally {
      if (saved !== undefined) process.env.NORMLAB_CIFAR10_DIR = saved;
    }
    expect(() => loadCifar10({ split: 'valid' as never, root: dir })).toThrow(/split must be 'train' or 'test'/);
    expect(() => loadCifar10({ split: 'test', root: dir, limit: 10001 })).toThrow(/limit must be an integer in 0\.\.10000 for the test split, got 10001/);
  });
});

describe('loadCifar100', () => {
  const dir = mkdtempSync(join(work, 'c100-'));
  mkdirSync(dir, { recursive: true });
  writeRecords(join(dir, 'train.bin'), 3, 50000, 2, 3, (r) => [r + 10, r * 20 + 5]);
  writeRecords(join(dir, 'test.bin'), 4, 10000, 2, 3, (r) => [19 - r, 99 - r]);

  it('reads the fine labels by default and the coarse ones on request, after two label bytes', () => {
    expect(vals(loadCifar100({ split: 'train', root: dir, limit: 3 }).tensors[1])).toEqual([5, 25, 45]);
    expect(vals(loadCifar100({ split: 'train', root: dir, limit: 3, labels: 'coarse' }).tensors[1])).toEqual([10, 11, 12]);
    expect(vals(loadCifar100({ split: 'test', root: dir, limit: 2 }).tensors[1])).toEqual([99, 98]);
    const [x] = loadCifar100({ split: 'test', root: dir, limit: 1 }).tensors;
    expect(vals(x)[2000]).toBeCloseTo(pixel(4, 0, 2000) / 255, 7);
    expect(() => loadCifar100({ split: 'test', root: dir, labels: 'medium' as never })).toThrow(/loadCifar100: labels must be 'fine' or 'coarse'/);
    truncateSync(join(dir, 'test.bin'), 10001 * 3074);
    expect(() => loadCifar100({ split: 'test', root: dir })).toThrow(/test\.bin: 30743074 bytes, expected 30740000 \(10000 records of 3074 bytes: 2 label bytes and 3072 pixels\)/);
  });
});
