/**
 * The package as a user gets it: `npm pack` (which builds dist/ through prepack), the tarball
 * installed into an empty project, then the library imported, its types checked against a consumer
 * file, and the `ares` CLI run — all with no TypeScript runtime in the consumer's node_modules.
 *
 * The consumer installs from a lockfile made of the repository's own non-dev lockfile entries plus
 * the tarball, so `npm ci --prefer-offline` takes every dependency from the npm cache that the
 * repository's `npm ci` filled (no registry metadata needed), and a runtime import of a package that
 * is only a devDependency (tsx, typescript, …) fails here as it would for a user.
 */
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');

interface PackEntry { filename: string; files: { path: string }[] }
interface LockEntry { dev?: boolean; link?: boolean; version?: string }

let work = '';
let consumer = '';
let packed: PackEntry;

function run(cmd: string, args: string[], cwd: string, timeout = 120_000): SpawnSyncReturns<string> {
  // npm_* variables of an enclosing `npm test` would otherwise steer the nested npm (prefix, script shell…).
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')));
  return spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout, env: { ...env, NO_COLOR: '1' } });
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
  if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** A lockfile for a project depending on the tarball alone, pinned to the repository's resolved versions. */
function consumerLock(tarball: string, pkg: { version: string; dependencies: Record<string, string>; bin: unknown; engines: unknown; license: string }) {
  const repoLock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const typesNode = repoLock.packages['node_modules/@types/node']?.version;
  if (!typesNode) throw new Error('package-lock.json has no @types/node');
  const manifest = { name: 'consumer', version: '1.0.0', private: true, type: 'module', dependencies: { 'ares-ood': `file:${tarball}` }, devDependencies: { '@types/node': typesNode } };
  const packages: Record<string, unknown> = {
    '': { name: manifest.name, version: manifest.version, dependencies: manifest.dependencies, devDependencies: manifest.devDependencies },
    'node_modules/ares-ood': { version: pkg.version, resolved: `file:${tarball}`, license: pkg.license, dependencies: pkg.dependencies, bin: pkg.bin, engines: pkg.engines },
  };
  for (const [path, entry] of Object.entries(repoLock.packages)) {
    if (path && !entry.dev && !entry.link) packages[path] = entry;
  }
  // The consumer's own devDependency; the repository resolves it as a dependency of tfjs's typings too.
  packages['node_modules/@types/node'] = { ...(repoLock.packages['node_modules/@types/node'] as object), dev: undefined };
  return { manifest, lock: { name: manifest.name, version: manifest.version, lockfileVersion: 3, requires: true, packages } };
}

describe('npm pack → install into an empty project → import, types, CLI', () => {
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'ares-pack-'));
    const out = ok(run('npm', ['pack', '--json', '--pack-destination', work], ROOT, 180_000), 'npm pack');
    packed = (JSON.parse(out) as PackEntry[])[0];
    const tarball = join(work, packed.filename);
    const pkg = JSON.parse(execFileSync('tar', ['xzf', tarball, '-O', 'package/package.json'], { encoding: 'utf8' }));
    consumer = join(work, 'consumer');
    mkdirSync(consumer);
    const { manifest, lock } = consumerLock(tarball, pkg);
    writeFileSync(join(consumer, 'package.json'), JSON.stringify(manifest, null, 2));
    writeFileSync(join(consumer, 'package-lock.json'), JSON.stringify(lock, null, 2));
    ok(run('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund'], consumer, 240_000), 'npm ci of the tarball');
  }, 420_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('ships the build output, the wasm kernels, bin and docs, and no sources, tests or source maps', () => {
    const paths = packed.files.map((f) => f.path);
    for (const p of ['dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js', 'dist/export/loader.js',
      'dist/engine/kernels/kernels.wasm', 'dist/engine/kernels/kernels-shared.wasm',
      'dist/engine/kernels/kernels-relaxed.wasm', 'dist/engine/kernels/kernels-relaxed-shared.wasm', 'bin/ares.js', 'README.md', 'LICENSE', 'package.json']) {
      expect(paths, p).toContain(p);
    }
    expect(paths.filter((p) => /^(src|test|scripts|configs|bench)\//.test(p) || p.endsWith('.map') || p.endsWith('.ts') && !p.endsWith('.d.ts'))).toEqual([]);
  });

  it('installs without a TypeScript runtime', () => {
    expect(existsSync(join(consumer, 'node_modules/ares-ood/dist/index.js'))).toBe(true);
    for (const devOnly of ['tsx', 'typescript', 'vitest']) expect(existsSync(join(consumer, 'node_modules', devOnly)), devOnly).toBe(false);
  });

  it('imports as a library and classifies with a detector it trained', () => {
    const script = `
      import * as ares from 'ares-ood';
      const names = ['train', 'loadDetector', 'createDetector', 'exportBundle', 'evaluate', 'loadSource', 'writeReport'];
      const missing = names.filter((n) => typeof ares[n] !== 'function');
      if (missing.length) throw new Error('missing exports: ' + missing.join(', '));
      const res = await ares.train({ id: 'mnist', idClasses: [0, 1, 2], limit: 256, epochs: 1, pretrainEpochs: 0, method: 'ce' }, { out: 'lib-run' });
      const det = await ares.loadDetector('lib-run');
      const [p] = await det.predict({ width: 28, height: 28, data: new Uint8Array(28 * 28) });
      console.log(JSON.stringify({ backend: res.engine.backend, label: p.label, score: p.score, classes: det.classNames }));
    `;
    // A module file, as a user writes one (`node --input-type=module -e` would hand its flag on to
    // the wasm backend's worker threads, which then fail to load their CommonJS script).
    writeFileSync(join(consumer, 'use-library.mjs'), script);
    const out = JSON.parse(ok(run(process.execPath, ['use-library.mjs'], consumer), 'library import').trim().split('\n').pop()!);
    expect(out.backend).toBe('wasm');
    expect(out.classes).toEqual(['0', '1', '2']);
    expect(['0', '1', '2', 'unknown']).toContain(out.label);
    expect(Number.isFinite(out.score)).toBe(true);
  });

  it("type-checks a consumer file against the installed types (and rejects a wrong call)", () => {
    writeFileSync(join(consumer, 'consumer.ts'), `
import { train, loadDetector, metrics, type Detector, type Prediction, type TrainConfig } from 'ares-ood';
const cfg: Partial<TrainConfig> & { id: string } = { id: 'mnist', epochs: 1, method: 'ares' };
export async function demo(): Promise<number> {
  await train(cfg, { out: 'runs/x' });
  const det: Detector = await loadDetector('runs/x');
  const answers: Prediction[] = await det.predict({ width: 28, height: 28, data: new Uint8Array(784) });
  // @ts-expect-error: the ID source is required
  await train({ epochs: 1 });
  // @ts-expect-error: method is one of the known names
  await train({ id: 'mnist', method: 'magic' });
  return answers.length + Object.keys(metrics).length;
}
`);
    writeFileSync(join(consumer, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: true, types: ['node'] },
      files: ['consumer.ts'],
    }));
    ok(run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], consumer), 'tsc on the consumer file');
  });

  it('runs the installed `ares` CLI: --help, train, bench (project kernels), export, predict', () => {
    const ares = join(consumer, 'node_modules/.bin/ares');
    expect(ok(run(ares, ['--help'], consumer), 'ares --help')).toMatch(/train[\s\S]*predict[\s\S]*export/);
    const trained = JSON.parse(ok(run(ares, ['train', '--id', 'mnist', '--id-classes', '0,1,2', '--limit', '256', '--epochs', '1',
      '--pretrain-epochs', '0', '--out', 'cli-run', '--json'], consumer), 'ares train').trim().split('\n').pop()!);
    expect(trained.backend).toBe('wasm');
    expect(trained.thresholds.energy).toEqual(expect.any(Number));
    const bench = JSON.parse(ok(run(ares, ['bench', '--steps', '1', '--warmup', '1', '--batch', '8', '--json'], consumer), 'ares bench').trim().split('\n').pop()!);
    expect(bench.custom_kernels).toBeGreaterThan(0);
    ok(run(ares, ['export', '--run', 'cli-run', '--out', 'bundle'], consumer), 'ares export');
    expect(readFileSync(join(consumer, 'bundle/loader.js'), 'utf8')).toContain('loadDetector');
    const img = join(consumer, 'probe.png');
    ok(run(process.execPath, ['-e', `require('sharp')(Buffer.alloc(784, 128), { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(${JSON.stringify(img)})`], consumer), 'probe image');
    const pred = JSON.parse(ok(run(ares, ['predict', '--run', 'cli-run', '--json', img], consumer), 'ares predict'));
    expect(pred.predictions).toHaveLength(1);
    expect(['0', '1', '2', 'unknown']).toContain(pred.predictions[0].label);
  });
});
