import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initEngine } from '../../src/engine/backend.js';
import { encodeBundle, type NumericArray } from '../../src/util/bundle.js';
import { createDiscriminationParams } from '../../src/ares/discrimination.js';
import type { TrainConfig } from '../../src/methods/config.js';
import { resolveConfig } from '../../src/pipeline/train-run.js';
import { withResolvedAugment } from '../../src/methods/train.js';
import { buildModel } from '../../src/models/index.js';
import { tempDir } from '../run/helpers.js';
import { saveLikeTfjsNode } from '../fit/plain-model.js';

/**
 * Hostile or broken inputs given to the CLI: each must end in one `ares: error:` line naming the file
 * and the cause, with a non-zero exit, within 10 s and well under 1 GB of memory (never a stack
 * trace, a hang or a multi-GB allocation). The 10 s bound is on the child's CPU time where
 * /usr/bin/time can measure it (wall time on a loaded machine says more about the other processes);
 * a hang would burn it, or hit the 60 s wall-clock kill.
 */
const { dir, cleanup } = tempDir('hostile');
afterAll(cleanup);
// Fixtures build small tfjs models in this process.
beforeAll(async () => { await initEngine(); });
const root = join(import.meta.dirname, '..', '..');
const TIME = '/usr/bin/time';
const MAX_SECONDS = 10;
const MAX_RSS_MB = 1024;
const WALL_LIMIT_MS = 60_000;

interface Outcome { code: number; stderr: string; stdout: string; seconds: number; cpuSeconds: number | null; peakRssMb: number | null }

/** `ares ...args` in a child (ARES_THREADS=1), with wall time and, where /usr/bin/time exists, CPU time and peak RSS. */
function ares(args: string[]): Outcome {
  const measure = existsSync(TIME);
  const cmd = measure ? TIME : process.execPath;
  const argv = [...(measure ? ['-f', 'ares-usage=%U,%S,%M', process.execPath] : []), 'bin/ares.js', ...args];
  const t0 = performance.now();
  const r = spawnSync(cmd, argv, { cwd: root, encoding: 'utf8', env: { ...process.env, ARES_THREADS: '1' }, timeout: WALL_LIMIT_MS });
  const seconds = (performance.now() - t0) / 1000;
  const usage = /ares-usage=([\d.]+),([\d.]+),(\d+)/.exec(r.stderr ?? '');
  const stderr = (r.stderr ?? '').replace(/.*ares-usage=.*\n?/, '');
  return {
    code: r.status ?? -1, stdout: r.stdout ?? '', stderr, seconds,
    cpuSeconds: usage ? Number(usage[1]) + Number(usage[2]) : null, peakRssMb: usage ? Number(usage[3]) / 1024 : null,
  };
}

/** One named error: exit code, the message's parts, no stack trace, quick, small. */
function expectNamedError(o: Outcome, code: number, ...patterns: (string | RegExp)[]): void {
  expect(o.stderr, o.stderr).toMatch(/^ares: error: /m);
  expect(o.stderr).not.toMatch(/unexpected error|^\s+at /m);
  for (const p of patterns) expect(o.stderr).toMatch(p);
  expect(o.code).toBe(code);
  expect(o.seconds).toBeLessThan(WALL_LIMIT_MS / 1000);
  expect(o.cpuSeconds ?? o.seconds).toBeLessThan(MAX_SECONDS);
  if (o.peakRssMb !== null) expect(o.peakRssMb).toBeLessThan(MAX_RSS_MB);
  console.log(`exit ${o.code} after ${o.seconds.toFixed(1)} s wall, ${o.cpuSeconds?.toFixed(1) ?? '?'} s CPU, peak RSS ${o.peakRssMb?.toFixed(0) ?? '?'} MB: ${o.stderr.split('\n').find((l) => l.startsWith('ares: error:'))?.slice(0, 100)}`);
}

const write = (path: string, data: string | Uint8Array) => { mkdirSync(join(path, '..'), { recursive: true }); writeFileSync(path, data); return path; };
const fitArgs = (model: string) => ['fit', '--model', model, '--id', 'mnist', '--id-classes', '0,1,2', '--limit', '300', '--out', join(dir, 'never-written')];

/** A graph model.json of hand-written nodes (no weights): enough for ares fit to read it. */
function graphModel(name: string, nodes: object[]): string {
  return write(join(dir, name, 'model.json'), JSON.stringify({ format: 'graph-model', modelTopology: { node: nodes }, weightsManifest: [{ paths: [], weights: [] }] }));
}
const placeholder = (shape: unknown = { dim: [-1, 28, 28, 1].map((d) => ({ size: String(d) })) }) => ({ name: 'input', op: 'Placeholder', attr: { dtype: { type: 'DT_FLOAT' }, shape: { shape } } });

describe('ares fit --model with hostile graph models', () => {
  it('Identity nodes that form a cycle: a named error naming the node, not an endless loop', () => {
    const file = graphModel('identity-cycle', [
      placeholder(),
      { name: 'loopA', op: 'Identity', input: ['loopB', '^input'] },
      { name: 'loopB', op: 'Identity', input: ['loopA'] },
      { name: 'out', op: 'Identity', input: ['loopA'] },
    ]);
    expectNamedError(ares(fitArgs(file)), 2, file, /the graph has a cycle through node "loop[AB]"/);
  });

  it('a tensor shape whose "dim" is a number', () => {
    const file = graphModel('dim-number', [placeholder({ dim: 5 }), { name: 'out', op: 'Softmax', input: ['input'] }]);
    expectNamedError(ares(fitArgs(file)), 2, file, /graph node "input" attribute "shape": "dim" must be a list/);
  });

  it('a string attribute that is not base64', () => {
    const file = graphModel('bad-base64', [placeholder(), { name: 'out', op: 'MaxPool', input: ['input'], attr: { padding: { s: '%%not base64%%' } } }]);
    expectNamedError(ares(fitArgs(file)), 2, file, /graph node "out" attribute "padding": a string attribute must be base64 text/);
  });
});

describe('ares fit --model with malformed model.json', () => {
  const layersJson = (weights: unknown[]) => JSON.stringify({ modelTopology: { class_name: 'Sequential', config: {} }, weightsManifest: [{ paths: ['w.bin'], weights }] });

  it('"shape": 5 in a weight entry', () => {
    const file = write(join(dir, 'shape-5', 'model.json'), layersJson([{ name: 'dense/kernel', shape: 5, dtype: 'float32' }]));
    write(join(dir, 'shape-5', 'w.bin'), new Uint8Array(20));
    expectNamedError(ares(fitArgs(file)), 1, file, /weight "dense\/kernel": "shape" must be a list of non-negative integers, got 5/);
  });

  it('a null weight entry', () => {
    const file = write(join(dir, 'null-weight', 'model.json'), layersJson([null]));
    expectNamedError(ares(fitArgs(file)), 1, file, /weightsManifest group 0 entry 0: must be an object/);
  });

  it('JSON nested a million levels deep (JSON.parse takes it; later recursive walks would overflow the stack)', () => {
    const deep = `{"modelTopology": {"config": ${'['.repeat(1_000_000)}${']'.repeat(1_000_000)}}, "weightsManifest": []}`;
    const file = write(join(dir, 'deep', 'model.json'), deep);
    expectNamedError(ares(fitArgs(file)), 1, file, /nests more than 100 levels deep/);
  });

  it('a 600 MB model.json is refused by its size, before it is read', () => {
    const file = write(join(dir, 'huge', 'model.json'), '{');
    truncateSync(file, 600 * 1024 * 1024); // sparse: no disk or memory spent here
    const o = ares(fitArgs(file));
    expectNamedError(o, 1, file, /model.json is 600 MiB; ares reads model files of at most 64 MiB/);
    if (o.peakRssMb !== null) expect(o.peakRssMb).toBeLessThan(400);
  });
});

describe('ares fit --model: weights that are not finite or lie about their quantisation', () => {
  /** A small dense classifier for 28×28×1 images, saved as tfjs-node would; `edit` changes its model.json. */
  async function saveDense(name: string, opts: { kernel?: number; edit?: (m: { weightsManifest: { weights: Record<string, unknown>[] }[] }) => void } = {}): Promise<string> {
    const model = tf.sequential({ layers: [
      tf.layers.flatten({ inputShape: [28, 28, 1] }),
      tf.layers.dense({ units: 8, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }),
      tf.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
    ] });
    if (opts.kernel !== undefined) {
      const [k, b] = model.layers[1].getWeights();
      model.layers[1].setWeights([tf.fill(k.shape, opts.kernel), b]);
    }
    const out = join(dir, name);
    await saveLikeTfjsNode(model, out);
    model.dispose();
    if (opts.edit) {
      const m = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8'));
      opts.edit(m);
      writeFileSync(join(out, 'model.json'), JSON.stringify(m));
    }
    return join(out, 'model.json');
  }

  it('NaN weights: the model file and the weight are named, not "score 0 is NaN"', async () => {
    const file = await saveDense('nan-weights', { kernel: NaN });
    expectNamedError(ares(fitArgs(file)), 1, file, /weight "dense_\w+\/kernel" holds NaN: the model's weights are not finite/);
  });

  it('finite weights whose outputs overflow: the model file is named and the outputs are said to be not finite', async () => {
    const file = await saveDense('overflow', { kernel: 3e38 });
    expectNamedError(ares(fitArgs(file)), 1, file, /the model's (logits|features) are not finite/);
  });

  it('uint8 quantisation claimed for float32 shard bytes: a size mismatch, not silently wrong weights', async () => {
    const file = await saveDense('quant-lie', { edit: (m) => { for (const w of m.weightsManifest[0].weights) w.quantization = { dtype: 'uint8', scale: 0.01, min: -1 }; } });
    expectNamedError(ares(fitArgs(file)), 1, file, /shards hold \d+ bytes, model.json describes \d+ .*quantisation/);
  });

  it('uint8 quantisation without scale and min', async () => {
    const file = await saveDense('quant-no-scale', { edit: (m) => { m.weightsManifest[0].weights[0].quantization = { dtype: 'uint8' }; } });
    expectNamedError(ares(fitArgs(file)), 1, file, /uint8 quantisation needs finite "scale" and "min"/);
  });
});

describe('ares train --resume with a doctored checkpoint', () => {
  /** A run folder (config.json + one checkpoint) that resume reads; nothing is trained to make it. */
  function runWithCheckpoint(name: string, arrays: Record<string, NumericArray>, meta: (cfg: TrainConfig) => object, raw?: Uint8Array, method: 'ce' | 'ares' = 'ce'): string {
    const out = join(dir, name);
    const cfg = withResolvedAugment(resolveConfig({ id: 'mnist', idClasses: [0, 1], limit: 128, epochs: 2, pretrainEpochs: method === 'ares' ? 1 : 0, method, batchSize: 32, model: 'cnn' }), [28, 28, 1]);
    write(join(out, 'config.json'), JSON.stringify(cfg));
    write(join(out, 'checkpoints', 'epoch-0001.ckpt'), raw ?? encodeBundle(arrays, meta(cfg)));
    return out;
  }
  const resume = (out: string) => ares(['train', '--id', 'mnist', '--out', out, '--resume', '--json']);
  const ckpt = (out: string) => join(out, 'checkpoints', 'epoch-0001.ckpt');

  it('counts.variables = 3e8: refused against the arrays the file holds, nothing allocated for it', () => {
    const out = runWithCheckpoint('ckpt-counts', { 'var/0': new Float32Array(4) }, (config) => ({ epochsDone: 1, config, history: [], counts: { variables: 3e8, extra: 0, optimizer: 0 }, pool: null, vos: null }));
    expectNamedError(resume(out), 1, ckpt(out), /not a valid checkpoint: "counts.variables" is 300000000; the file stores 1 arrays/);
  });

  it('entries: {} in the header', () => {
    const header = new TextEncoder().encode(JSON.stringify({ entries: {}, meta: {} }));
    const bytes = new Uint8Array(16 + header.length);
    bytes.set(new TextEncoder().encode('ARESBNDL'));
    new DataView(bytes.buffer).setUint32(8, header.length, true);
    bytes.set(header, 12);
    const out = runWithCheckpoint('ckpt-entries', {}, () => ({}), bytes);
    expectNamedError(resume(out), 1, ckpt(out), /not a valid checkpoint: header has no "entries" list/);
  });

  /** Zero arrays the size of the run's model variables (the reference CNN for 2 classes). */
  function modelArrays(): Float32Array[] {
    const model = buildModel('cnn', [28, 28, 1], 2, 0);
    const vars = model.allVariables.map((v) => new Float32Array(v.size));
    model.layersModel.dispose();
    return vars;
  }

  it('an ARES feature pool of another width than the model\'s features: refused before anything is restored', () => {
    const vars = modelArrays();
    const extra = createDiscriminationParams(2).variables.map((v) => new Float32Array(v.size));
    const arrays: Record<string, NumericArray> = Object.fromEntries([...vars.map((a, i) => [`var/${i}`, a]), ...extra.map((a, i) => [`extra/${i}`, a])]);
    Object.assign(arrays, { 'pool/data': new Float32Array(6), 'pool/shift': new Float64Array(3), 'pool/sum': new Float64Array(3), 'pool/sumSq': new Float64Array(9) });
    const out = runWithCheckpoint('ckpt-pool', arrays, (config) => ({ epochsDone: 1, config, history: [], counts: { variables: vars.length, extra: extra.length, optimizer: 0 },
      pool: { dim: 3, capacity: config.poolSize, addsSinceExact: 0 }, vos: null }), undefined, 'ares');
    expectNamedError(resume(out), 2, ckpt(out), /checkpoint does not fit this run: feature pool dim is 3 in it, \d+ in the run/);
  });

  it('arrays that do not fit the run\'s model: refused naming the file before any tensor is made', () => {
    // The real variable list of the run's model, with the first one a value short.
    const vars = modelArrays();
    vars[0] = new Float32Array(vars[0].length - 1);
    const arrays = Object.fromEntries(vars.map((a, i) => [`var/${i}`, a]));
    const out = runWithCheckpoint('ckpt-sizes', arrays, (config) => ({ epochsDone: 1, config, history: [], counts: { variables: vars.length, extra: 0, optimizer: 0 }, pool: null, vos: null }));
    expectNamedError(resume(out), 2, ckpt(out), /checkpoint does not fit this run: model variables 0 \(.+\) has \d+ values, expected \d+/);
  });
});

describe('ares benchmark --config: refused when read, before any cell trains', () => {
  const config = (name: string, entries: object[]) => write(join(dir, `${name}.json`), JSON.stringify({ name, defaults: { id: 'mnist', epochs: 1, pretrainEpochs: 0 }, entries }));
  const bench = (file: string, ...extra: string[]) => ares(['benchmark', '--config', file, '--out', `${file}.out`, ...extra]);

  it('labels "CE" and "ce!" would share one cell folder: both labels named', () => {
    const file = config('slug-clash', [{ label: 'CE', method: 'ce', seeds: [0] }, { label: 'ce!', method: 'ce', seeds: [0] }]);
    const o = bench(file);
    expectNamedError(o, 1, file, /the labels "CE" and "ce!" would share one results folder \("ce"\)/);
    expect(existsSync(`${file}.out`)).toBe(false);
  });

  it('a repeated seed would count one cell twice', () => {
    const file = config('dup-seed', [{ label: 'CE', method: 'ce', seeds: [0, 1, 0] }]);
    expectNamedError(bench(file), 1, file, /entry "CE" lists seed 0 twice/);
  });

  it('a config nested 100 000 levels deep (its settings are later written with the recursive JSON.stringify)', () => {
    const file = write(join(dir, 'deep-bench.json'), `{"name": "x", "defaults": {"id": "mnist"}, "entries": [{"label": "A", "seeds": [0], "x": ${'['.repeat(100_000)}${']'.repeat(100_000)}}]}`);
    expectNamedError(bench(file), 1, file, /nests more than 100 levels deep/);
  });

  it('--set keys are checked as own TrainConfig keys: toString and constructor are unknown settings', () => {
    const file = config('set-keys', [{ label: 'CE', method: 'ce', seeds: [0] }]);
    expectNamedError(bench(file, '--set', 'toString=1'), 2, /--set: unknown setting "toString"/);
    expectNamedError(bench(file, '--set', 'constructor=1'), 2, /--set: unknown setting "constructor"/);
  });

  it('--preset names are own keys of "presets" too: toString is no preset', () => {
    const file = write(join(dir, 'preset-keys.json'), JSON.stringify({ name: 'p', defaults: { id: 'mnist' }, presets: { short: { epochs: 1 } }, entries: [{ label: 'CE', method: 'ce', seeds: [0] }] }));
    expectNamedError(bench(file, '--preset', 'toString'), 2, file, /no preset "toString" \(presets: short\)/);
  });
});
