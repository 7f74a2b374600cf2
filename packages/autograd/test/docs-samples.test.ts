import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';

// Every ```ts block of README.md and docs/**/*.md is type-checked (strict,
// against the packages' sources) and run, so that no sample rots. A block
// right after `<!-- no-run -->` is skipped: keep that for fragments (a
// signature, a loop body). In a block right after `<!-- usage-sample ... -->`
// or `<!-- check-output -->`, each `console.log(...); // value` must print
// `value` exactly; other blocks only have to run without an error.
// DOCS_SAMPLES_PRINT=1 shows what each sample prints.
const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const PACKAGES = ['tensor', 'autograd', 'nn', 'data', 'landscape', 'plot', 'gpu', 'models', 'lab'];

interface Sample {
  /** Markdown file, relative to the root, and the line of the opening fence. */
  file: string;
  line: number;
  code: string;
  checkOutput: boolean;
  /** The generated .ts file. */
  path: string;
}

function markdownFiles(): string[] {
  const out = ['README.md'];
  const walk = (dir: string): void => {
    for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
      const rel = join(dir, e.name);
      if (e.isDirectory() && rel !== join('docs', 'api') && e.name !== 'node_modules') walk(rel);
      else if (e.isFile() && e.name.endsWith('.md')) out.push(rel);
    }
  };
  walk('docs');
  return out;
}

function extract(file: string): Omit<Sample, 'path'>[] {
  const lines = readFileSync(join(root, file), 'utf8').split('\n');
  const out: Omit<Sample, 'path'>[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(ts|typescript)\s*$/.test(lines[i])) {
      if (/^```/.test(lines[i])) for (i++; i < lines.length && !/^```/.test(lines[i]); i++);
      continue;
    }
    let j = i - 1;
    while (j >= 0 && lines[j].trim() === '') j--;
    const marker = j >= 0 ? lines[j].trim() : '';
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```/.test(lines[i]); i++) body.push(lines[i]);
    if (marker.startsWith('<!-- no-run')) continue;
    const checkOutput = marker.startsWith('<!-- usage-sample') || marker.startsWith('<!-- check-output');
    out.push({ file, line: start + 1, code: body.join('\n'), checkOutput });
  }
  return out;
}

const dir = mkdtempSync(join(tmpdir(), 'normlab-docs-samples-'));
const samples: Sample[] = markdownFiles()
  .flatMap(extract)
  .map((s, k) => ({ ...s, path: join(dir, `${String(k).padStart(3, '0')}-${s.file.replace(/[^a-z0-9]+/gi, '-')}-L${s.line}.ts`) }));

beforeAll(() => {
  // A throwaway project whose node_modules links the workspace packages, so
  // the samples import '@normlab/nn' exactly as a user does.
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module', private: true }));
  mkdirSync(join(dir, 'node_modules/@normlab'), { recursive: true });
  for (const p of PACKAGES) symlinkSync(join(root, 'packages', p), join(dir, 'node_modules/@normlab', p), 'dir');
  symlinkSync(join(root, 'node_modules/@types'), join(dir, 'node_modules/@types'), 'dir');
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
    extends: join(root, 'tsconfig.base.json'),
    compilerOptions: { composite: false, declaration: false, declarationMap: false, sourceMap: false, noEmit: true, customConditions: ['source'] },
    include: ['*.ts'],
  }));
  for (const s of samples) writeFileSync(s.path, `${s.code}\nexport {};\n`);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('the docs have samples, and README.md has its usage sample', () => {
  expect(samples.length).toBeGreaterThan(10);
  expect(samples.some((s) => s.file === 'README.md' && s.checkOutput)).toBe(true);
});

test('every sample type-checks (tsc, strict)', () => {
  const tsc = join(root, 'node_modules/.bin/tsc');
  const r = spawnSync(tsc, ['-p', join(dir, 'tsconfig.json'), '--pretty', 'false'], { encoding: 'utf8' });
  // Point each error at the Markdown: sample file(line,col) -> docs/x.md:line.
  const byName = new Map(samples.map((s) => [relative(dir, s.path), s]));
  const errors = `${r.stdout}${r.stderr}`.replace(/^(\S+\.ts)\((\d+),(\d+)\)/gm, (m, f: string, l: string) => {
    const s = byName.get(relative(dir, join(dir, f))) ?? byName.get(f);
    return s ? `${s.file}:${s.line + Number(l)}` : m;
  });
  expect(errors.trim()).toBe('');
  expect(r.status).toBe(0);
}, 60_000);

describe('every sample runs', () => {
  test.each(samples.map((s) => [`${s.file}:${s.line}`, s] as const))('%s', async (_, s) => {
    const expected = s.checkOutput ? [...s.code.matchAll(/console\.log\(.*\); \/\/ (.*)$/gm)].map((m) => m[1]) : [];
    if (s.checkOutput) expect(expected.length).toBeGreaterThan(0);
    const printed: string[] = [];
    const spy = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
      printed.push(args.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(' '));
    });
    try {
      await import(/* @vite-ignore */ s.path);
    } finally {
      spy.mockRestore();
    }
    if (process.env.DOCS_SAMPLES_PRINT) process.stderr.write(`--- ${s.file}:${s.line}\n${printed.join('\n')}\n`);
    if (s.checkOutput) expect(printed).toEqual(expected);
  });
});
