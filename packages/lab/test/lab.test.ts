import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CheckpointStore, MetricsLog, RunDir, RunError, readMetrics, removeStaleTempFiles, watchInterrupt, writeFileAtomic } from '../src/index.js';

const tmp = mkdtempSync(join(tmpdir(), 'lab-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => join(tmp, `case-${n++}`);

describe('MetricsLog', () => {
  it('appends one line per record and reads them back in order', () => {
    const dir = fresh();
    mkdirSync(dir);
    const log = new MetricsLog(join(dir, 'metrics.jsonl'));
    expect(log.read()).toEqual({ records: [], torn: null });
    log.append({ step: 0, loss: 2.3, note: 'a\nb' });
    log.append({ step: 10, loss: null });
    expect(readFileSync(log.path, 'utf8').split('\n')).toHaveLength(3);
    expect(log.read()).toEqual({ records: [{ step: 0, loss: 2.3, note: 'a\nb' }, { step: 10, loss: null }], torn: null });
  });

  it('skips a torn last line (named), cuts it off before the next append; a damaged earlier line is an error naming it', () => {
    const dir = fresh();
    mkdirSync(dir);
    const path = join(dir, 'metrics.jsonl');
    writeFileSync(path, '{"step":0}\n{"step":1}\n{"st');
    const read = readMetrics(path);
    expect(read.records).toEqual([{ step: 0 }, { step: 1 }]);
    expect(read.torn).toBe(`${path}: line 3 was cut off mid-write (4 bytes), skipped`);
    new MetricsLog(path).append({ step: 2 });
    expect(readMetrics(path)).toEqual({ records: [{ step: 0 }, { step: 1 }, { step: 2 }], torn: null });
    writeFileSync(path, '{"step":0}\n[1,2]\n{"step":2}\n');
    expect(() => readMetrics(path)).toThrow(RunError);
    expect(() => readMetrics(path)).toThrow(`${path}: line 2 is not a JSON object: [1,2]`);
  });
});

describe('RunDir', () => {
  it('creates a new folder; refuses an existing non-empty one; force moves it aside intact', () => {
    const dir = fresh();
    const a = RunDir.create(dir);
    a.writeConfig({ lr: 0.1 });
    a.setStatus('running');
    expect(a.status()).toMatchObject({ state: 'running' });
    expect(() => RunDir.create(dir)).toThrow(`${dir} holds a run; --resume ${dir} continues it, --force moves it aside and starts a new run`);
    const b = RunDir.create(dir, { force: true });
    expect(b.movedAside).toMatch(new RegExp(`^${dir}\\.replaced-\\d{8}-\\d{6}$`));
    expect(JSON.parse(readFileSync(join(b.movedAside!, 'config.json'), 'utf8'))).toEqual({ lr: 0.1 });
    expect(readdirSync(dir)).toEqual([]);
    // An empty folder is taken as it is.
    expect(RunDir.create(dir).movedAside).toBeNull();
  });

  it('open needs a config.json; a damaged one is a RunError naming it', () => {
    const dir = fresh();
    mkdirSync(dir);
    expect(() => RunDir.open(dir)).toThrow(`${dir}: no config.json there (not a run folder)`);
    writeFileSync(join(dir, 'config.json'), '{');
    expect(() => RunDir.open(dir).readConfig()).toThrow(RunError);
    expect(() => RunDir.open(dir).readConfig()).toThrow(`${join(dir, 'config.json')}: damaged, not valid JSON`);
  });

  it('discardIfUnused removes a folder it created with no metrics or checkpoints, and nothing else', () => {
    const unused = RunDir.create(fresh());
    unused.writeConfig({});
    expect(unused.discardIfUnused()).toBe(true);
    expect(existsSync(unused.dir)).toBe(false);
    const used = RunDir.create(fresh());
    used.metrics.append({ step: 0 });
    expect(used.discardIfUnused()).toBe(false);
    const existing = fresh();
    mkdirSync(existing);
    expect(RunDir.create(existing).discardIfUnused()).toBe(false);
    expect(existsSync(existing)).toBe(true);
  });
});

describe('checkpoints and atomic writes', () => {
  it('writeFileAtomic replaces the content whole and leaves no temporary file', () => {
    const dir = fresh();
    mkdirSync(dir);
    const path = join(dir, 'f.json');
    writeFileAtomic(path, 'old');
    writeFileAtomic(path, new Uint8Array([110, 101, 119]));
    expect(readFileSync(path, 'utf8')).toBe('new');
    expect(readdirSync(dir)).toEqual(['f.json']);
  });

  it('removes stale temporary files of dead processes and of this one, not those of a live process', () => {
    const dir = fresh();
    mkdirSync(dir);
    const dead = `.m.safetensors.${2 ** 22 + 1}.0a1b2c3d.tmp`;
    const mine = `.m.safetensors.${process.pid}.0a1b2c3d.tmp`;
    const live = `.m.safetensors.1.0a1b2c3d.tmp`; // pid 1 always exists
    for (const f of [dead, mine, live, 'keep.safetensors', 'notes.tmp']) writeFileSync(join(dir, f), 'x');
    expect(removeStaleTempFiles(dir).sort()).toEqual([dead, mine].sort());
    expect(readdirSync(dir).sort()).toEqual([live, 'keep.safetensors', 'notes.tmp'].sort());
  });

  it('newestValid skips checkpoints that do not load, naming them, and says when none does', async () => {
    const store = new CheckpointStore(join(fresh(), 'checkpoints'));
    for (const step of [10, 20, 30]) await store.save(`m-step${step}.ckpt`, (p) => writeFileSync(p, step === 30 ? 'broken' : `ok ${step}`));
    const load = (p: string): string => {
      const text = readFileSync(p, 'utf8');
      if (!text.startsWith('ok')) throw new Error(`${p}: not a checkpoint`);
      return text;
    };
    const pattern = /^m-step(\d+)\.ckpt$/;
    expect(store.list(pattern).map((f) => f.step)).toEqual([30, 20, 10]);
    const found = store.newestValid(pattern, load);
    expect(found.loaded).toMatchObject({ step: 20, value: 'ok 20' });
    expect(found.skipped).toEqual([{ path: store.path('m-step30.ckpt'), reason: `${store.path('m-step30.ckpt')}: not a checkpoint` }]);
    expect(store.newestValid(/^other-(\d+)$/, load)).toEqual({ loaded: null, skipped: [] });
  });
});

describe('watchInterrupt', () => {
  it('turns SIGINT into a request with exit code 130 (SIGTERM 143) until disposed', () => {
    const a = watchInterrupt();
    expect([a.requested, a.signal]).toEqual([false, null]);
    process.emit('SIGINT', 'SIGINT');
    expect([a.requested, a.signal, a.exitCode]).toEqual([true, 'SIGINT', 130]);
    a.dispose();
    const b = watchInterrupt();
    process.emit('SIGTERM', 'SIGTERM');
    expect(b.exitCode).toBe(143);
    b.dispose();
    expect(process.listenerCount('SIGINT')).toBe(0);
  });
});
