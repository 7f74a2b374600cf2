// `pnpm new experiment`: the standalone project it generates installs with npm
// and passes its own test; the in-repository layout has the same experiment
// and test; a user's mistakes are refused before anything is written.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain ESM scripts without type declarations
import { UsageError, createInRepo, createOutside, parseArgs } from '../src/new.mjs';
// @ts-expect-error plain ESM scripts without type declarations
import { CONFIG, repoExampleFiles, standaloneFiles } from '../src/templates.mjs';

const work = mkdtempSync(join(tmpdir(), 'normlab-scaffold-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('pnpm new experiment --outside', () => {
  it('creates a project that installs with npm, passes its own test and writes its figure', () => {
    const dir = join(work, 'demo');
    createOutside({ name: 'demo', outside: dir, install: true, build: false }); // the tests' global setup built the packages
    for (const f of ['README.md', 'config.json', 'src/experiment.ts', 'src/main.ts', 'test/demo.test.ts', 'package-lock.json']) expect(existsSync(join(dir, f)), f).toBe(true);
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    // The packed packages it uses, from its own vendor/ folder.
    expect(Object.keys(pkg.dependencies).sort()).toEqual(['@normlab/autograd', '@normlab/data', '@normlab/nn', '@normlab/plot', '@normlab/tensor']);
    for (const spec of Object.values<string>(pkg.dependencies)) expect(spec).toMatch(/^file:vendor\/normlab-[a-z]+-[0-9.]+\.tgz$/);

    const test = spawnSync('npm', ['test'], { cwd: dir, encoding: 'utf8' });
    expect(test.status, test.stdout + test.stderr).toBe(0);
    expect(test.stdout).toMatch(/[#ℹ] pass 4\n[#ℹ] fail 0/); // the tap (Node 20) or spec (Node 24) summary

    const start = spawnSync('npm', ['start', '--', '--steps', '20', '--logEvery', '10', '--trainSamples', '600', '--testSamples', '200'], { cwd: dir, encoding: 'utf8' });
    expect(start.status, start.stdout + start.stderr).toBe(0);
    const metrics = JSON.parse(readFileSync(join(dir, 'runs', 'demo', 'metrics.json'), 'utf8'));
    expect(metrics.map((m: { variant: string; steps: number[] }) => [m.variant, m.steps])).toEqual([['plain', [1, 10, 20]], ['bn', [1, 10, 20]]]);
    expect(readFileSync(join(dir, 'runs', 'demo', 'loss.svg'), 'utf8')).toMatch(/^<svg[^]*demo: training loss \(seed 0\)/);

    // A user's mistake in a flag: one line, exit code 2, nothing written.
    const bad = spawnSync('npm', ['start', '--silent', '--', '--lr', '-1', '--out', join(dir, 'runs', 'bad')], { cwd: dir, encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim()).toBe('demo: config: lr must be a positive number, got -1');
    expect(existsSync(join(dir, 'runs', 'bad'))).toBe(false);
  }, 300_000);

  it('refuses a folder that is not empty', () => {
    const dir = join(work, 'taken');
    mkdirSync(dir);
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    expect(() => createOutside({ name: 'demo', outside: dir, install: false })).toThrow(UsageError);
    expect(readFileSync(join(dir, 'notes.txt'), 'utf8')).toBe('mine');
  });
});

describe('pnpm new experiment (in the repository)', () => {
  it('has the same experiment, config and test as the standalone project, on vitest and the workspace packages', () => {
    const repo = repoExampleFiles('demo');
    const standalone = standaloneFiles('demo', [], { typescript: '*', typesNode: '*' });
    expect(repo['src/experiment.ts']).toBe(standalone['src/experiment.ts']);
    expect(repo['config.json']).toBe(standalone['config.json']);
    expect(JSON.parse(repo['config.json'])).toEqual(CONFIG);
    expect(repo['test/demo.test.ts']).toMatch(/from 'vitest'/);
    expect(standalone['test/demo.test.ts']).toMatch(/from 'node:test'/);
    expect(repo['src/main.ts']).toMatch(/usage: pnpm example demo/);
    for (const spec of Object.values<string>(JSON.parse(repo['package.json']).dependencies)) expect(spec).toBe('workspace:*');
  });

  it('refuses a name that is taken, before writing anything', () => {
    expect(() => createInRepo({ name: 'mnist-bn', install: false })).toThrow(/examples\/mnist-bn exists already/);
  });
});

describe('arguments', () => {
  it('parses a name and --outside, and --help', () => {
    expect(parseArgs(['experiment', 'wd-sweep'])).toEqual({ name: 'wd-sweep', outside: null, install: true });
    expect(parseArgs(['experiment', 'x', '--outside', '/tmp/x', '--no-install'])).toEqual({ name: 'x', outside: '/tmp/x', install: false });
    expect(parseArgs(['--help'])).toBeNull();
  });

  it('refuses what it does not know, naming it', () => {
    expect(() => parseArgs([])).toThrow(/what to create/);
    expect(() => parseArgs(['model', 'x'])).toThrow(/unknown kind 'model'/);
    expect(() => parseArgs(['experiment'])).toThrow(/needs a name/);
    expect(() => parseArgs(['experiment', 'My_Exp'])).toThrow(/'My_Exp' is not a valid name/);
    expect(() => parseArgs(['experiment', 'x', '--outside'])).toThrow(/--outside needs a folder/);
    expect(() => parseArgs(['experiment', 'x', '--force'])).toThrow(/unexpected argument '--force'/);
  });
});
