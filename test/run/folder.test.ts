import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initEngine } from '../../src/engine/backend.js';
import { parseDetectorSpec, type DetectorSpec } from '../../src/run/detector.js';
import { readRun, writeRun } from '../../src/run/folder.js';
import { loadLayersModelFromDir, replaceDirAtomic, saveLayersModel } from '../../src/run/model-io.js';
import { expectAresError, tempDir } from './helpers.js';

const { dir: root, cleanup } = tempDir('run');
afterAll(cleanup);

/** inputs [4,4,1] -> [logits (3), features (5)], seeded weights. */
function smallModel(seed = 1): tf.LayersModel {
  const input = tf.input({ shape: [4, 4, 1] });
  const flat = tf.layers.flatten().apply(input) as tf.SymbolicTensor;
  const features = tf.layers.dense({ units: 5, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed }) }).apply(flat) as tf.SymbolicTensor;
  const logits = tf.layers.dense({ units: 3, kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }) }).apply(features) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: [logits, features] });
}

const spec: DetectorSpec = {
  version: 2, classNames: ['a', 'b', 'c'], inputShape: [4, 4, 1], normalization: { mean: [0.5], std: [0.25] }, resize: 'crop',
  score: { name: 'energy', weights: [1, 0.5, 2] }, threshold: { gamma: 1.25, tpr: 0.95, on: 'id-validation' },
};

beforeAll(async () => { await initEngine({ backend: 'cpu' }); });

describe('saveLayersModel / loadLayersModelFromDir', () => {
  it('round-trips weights exactly and writes the browser tfjs layout', async () => {
    const m = smallModel();
    const dir = join(root, 'model-a');
    await saveLayersModel(m, dir);
    expect(readdirSync(dir).sort()).toEqual(['model.json', 'weights.bin']);
    const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
    expect(json.format).toBe('layers-model');
    expect(json.weightsManifest[0].paths).toEqual(['weights.bin']);
    const back = await loadLayersModelFromDir(dir);
    const x = tf.randomUniform([2, 4, 4, 1], 0, 1, 'float32', 7);
    const [a, b] = [m, back].map((mm) => (mm.predict(x) as tf.Tensor[]).map((t) => Array.from(t.dataSync())));
    expect(b).toEqual(a);
    // Saving again replaces the folder (no stale files, no temp folders left beside it).
    await saveLayersModel(smallModel(3), dir);
    expect(readdirSync(root).filter((n) => n.startsWith('.model-a'))).toEqual([]);
    tf.dispose([x]); m.dispose(); back.dispose();
  });

  it('names the file when the model is missing, truncated or not a model', async () => {
    await expectAresError(() => loadLayersModelFromDir(join(root, 'nowhere')), 'missing model file', 'model.json');
    const dir = join(root, 'model-b');
    await saveLayersModel(smallModel(), dir);
    truncateSync(join(dir, 'weights.bin'), 10);
    await expectAresError(() => loadLayersModelFromDir(dir), /weights are 10 bytes, model.json describes \d+/, 'model.json');
    rmSync(join(dir, 'weights.bin'));
    await expectAresError(() => loadLayersModelFromDir(dir), 'missing weight shard', 'weights.bin');
    writeFileSync(join(dir, 'model.json'), '{"modelTopology": {}, "weightsManifest": [{"paths": ["../../etc/passwd"], "weights": []}]}');
    await expectAresError(() => loadLayersModelFromDir(dir), 'must be relative to model.json');
    writeFileSync(join(dir, 'model.json'), '{"format": "graph-model"}');
    await expectAresError(() => loadLayersModelFromDir(dir), 'not a tfjs layers model');
  });

  it('replaceDirAtomic keeps the old folder when writing the new one fails', () => {
    const dir = join(root, 'atomic');
    mkdirSync(dir);
    writeFileSync(join(dir, 'keep.txt'), 'old');
    expect(() => replaceDirAtomic(dir, (tmp) => { writeFileSync(join(tmp, 'half.txt'), 'x'); throw new Error('disk full'); })).toThrow('disk full');
    expect(readdirSync(dir)).toEqual(['keep.txt']);
    expect(readdirSync(root).filter((n) => n.startsWith('.atomic'))).toEqual([]);
  });
});

describe('detector description', () => {
  it('accepts a valid description and keeps every field', () => {
    expect(parseDetectorSpec(JSON.parse(JSON.stringify(spec)), 'x.json')).toEqual(spec);
    expect(parseDetectorSpec({ ...spec, score: { name: 'energy' } }, 'x.json').score).toEqual({ name: 'energy', weights: null });
  });

  it.each([
    [{ version: 3 }, 'unsupported version 3'],
    [{ classNames: ['only'] }, 'classNames must list at least two'],
    [{ classNames: ['a', 'unknown', 'c'] }, 'may not be named "unknown"'],
    [{ inputShape: [4, 4] }, 'inputShape has 2 values, expected 3'],
    [{ inputShape: [4, 4.5, 1] }, 'three positive integers'],
    [{ normalization: { mean: [0.5, 0.5], std: [1] } }, 'normalization.mean has 2 values, expected 1'],
    [{ normalization: { mean: [0.5], std: [0] } }, 'std values must be > 0'],
    [{ score: { name: 'odin' } }, 'score.name must be one of energy, msp'],
    [{ score: { name: 'energy', weights: [1, 2] } }, 'score.weights has 2 values, expected 3'],
    [{ score: { name: 'energy', weights: [0, -1, 0] } }, 'at least one positive weight'],
    [{ threshold: { gamma: null, tpr: 0.95, on: 'id-validation' } }, 'threshold.gamma must be a finite number'],
    [{ threshold: { gamma: 1, tpr: 1.5, on: 'id-validation' } }, 'threshold.tpr must be in (0, 1]'],
    [{ threshold: { gamma: 1, tpr: 0.95, on: 'ood-test' } }, 'threshold.on must be "id-validation"'],
  ])('rejects %j', async (patch, message) => {
    await expectAresError(() => parseDetectorSpec({ ...spec, ...patch }, '/runs/x/detector.json'), message, '/runs/x/detector.json');
  });
});

describe('writeRun / readRun', () => {
  const dir = join(root, 'run-1');
  const features = new Float32Array(Array.from({ length: 4 * 5 }, (_, i) => i / 7));

  beforeAll(async () => {
    await writeRun(dir, {
      config: { method: 'ce', seed: 3 }, model: smallModel(), detector: spec, thresholdCount: 200,
      metrics: { idAccuracy: 0.9, tpr: 0.95, rows: [{ ood: 'gaussian', score: 'energy', fpr95: 0.1, auroc: 0.95, aupr_in: 0.9, aupr_out: 0.97 }], extra: 'kept' },
      history: { epochs: [{ epoch: 1, ce: 1.2, jsd: null, accuracy: 0.5 }, { epoch: 2, ce: 0.7, jsd: 0.02, accuracy: 0.8, valAccuracy: 0.78 }] },
      artifacts: {
        scores: { score: 'energy', id: [3, 4], val: [2.5, 3.5], ood: { gaussian: [1, 2] }, virtual: [0.5] },
        features: { dim: 5, groups: [{ name: 'ID test', kind: 'id', features: features.subarray(0, 15), labels: Int32Array.of(0, 2, 1) }, { name: 'gaussian', kind: 'ood', features: features.subarray(15) }] },
        samples: { pixmix: { shape: [2, 2, 1], images: Float32Array.of(0, 0.5, 1, 0.25, 1, 1, 0, 0) }, fractals: { shape: [2, 2, 3], images: new Float32Array(12).fill(0.5) } },
      },
      report: '<html></html>',
    });
  });

  it('writes the design\'s layout', () => {
    for (const f of ['config.json', 'detector.json', 'threshold.json', 'metrics.json', 'history.json', 'report.html', 'model/model.json', 'model/weights.bin', 'checkpoints',
      'artifacts/scores.json', 'artifacts/features.json', 'artifacts/features.f32', 'artifacts/samples/pixmix-000.png', 'artifacts/samples/pixmix-001.png', 'artifacts/samples/fractals-000.png']) {
      expect(existsSync(join(dir, f)), f).toBe(true);
    }
    const t = JSON.parse(readFileSync(join(dir, 'threshold.json'), 'utf8'));
    expect(t).toMatchObject({ gamma: 1.25, tpr: 0.95, on: 'id-validation', score: 'energy', count: 200 });
    expect(t.meaning).toMatch(/score ≥ γ = 1\.25; γ was chosen to accept 95\.0% of the 200 ID validation images/);
  });

  it('reads back every part', async () => {
    const run = readRun(dir);
    expect(run.config).toEqual({ method: 'ce', seed: 3 });
    expect(run.detector).toEqual(spec);
    expect(run.metrics?.rows[0].auroc).toBe(0.95);
    expect(run.metrics?.extra).toBe('kept');
    expect(run.history?.epochs[0].jsd).toBeNull();
    const art = run.readArtifacts();
    expect(art.scores).toEqual({ score: 'energy', id: [3, 4], val: [2.5, 3.5], ood: { gaussian: [1, 2] }, virtual: [0.5] });
    expect(art.features?.dim).toBe(5);
    expect(Array.from(art.features!.groups[0].features)).toEqual(Array.from(features.subarray(0, 15)));
    expect(Array.from(art.features!.groups[1].features)).toEqual(Array.from(features.subarray(15)));
    expect(Array.from(art.features!.groups[0].labels!)).toEqual([0, 2, 1]);
    expect(art.samples.pixmix).toHaveLength(2);
    expect(art.samples.fractals).toHaveLength(1);
    expect(art.samples.pixmix[0].subarray(1, 4).toString()).toBe('PNG');
    const model = await run.loadModel();
    expect(model.outputs.map((o) => o.shape)).toEqual([[null, 3], [null, 5]]);
    model.dispose();
  });

  it('refuses a detector it could not read back', async () => {
    await expectAresError(() => writeRun(join(root, 'run-bad'), { detector: { ...spec, classNames: ['x'] } }), 'classNames');
  });

  it('names the folder or file when a run is missing, incomplete or corrupt', async () => {
    await expectAresError(() => readRun(join(root, 'no-such-run')), 'run folder not found', 'no-such-run');
    const broken = join(root, 'run-2');
    await writeRun(broken, { config: { method: 'ce' }, model: smallModel(), detector: spec });
    rmSync(join(broken, 'detector.json'));
    await expectAresError(() => readRun(broken), 'detector.json is missing', broken);
    await writeRun(broken, { detector: spec });
    writeFileSync(join(broken, 'config.json'), '{"method": ');
    await expectAresError(() => readRun(broken), 'corrupt run config: not valid JSON', join(broken, 'config.json'));
    await writeRun(broken, { config: { method: 'ce' } });
    writeFileSync(join(broken, 'threshold.json'), JSON.stringify({ gamma: 9, tpr: 0.95, on: 'id-validation', score: 'energy' }));
    await expectAresError(() => readRun(broken), 'disagrees with detector.json', 'threshold.json');
    await writeRun(broken, { detector: spec });
    writeFileSync(join(broken, 'metrics.json'), JSON.stringify({ idAccuracy: 0.9, rows: [{ ood: 'x' }] }));
    await expectAresError(() => readRun(broken), 'metrics row 0', 'metrics.json');
    rmSync(join(broken, 'metrics.json'));
    writeFileSync(join(broken, 'history.json'), JSON.stringify({ epochs: [{ epoch: 1 }] }));
    await expectAresError(() => readRun(broken), 'history epoch 0', 'history.json');
    rmSync(join(broken, 'history.json'));
    mkdirSync(join(broken, 'artifacts'), { recursive: true });
    writeFileSync(join(broken, 'artifacts', 'features.json'), JSON.stringify({ dim: 4, groups: [{ name: 'x', kind: 'id', count: 3 }] }));
    writeFileSync(join(broken, 'artifacts', 'features.f32'), new Uint8Array(40));
    await expectAresError(() => readRun(broken).readArtifacts(), 'feature data is 40 bytes, features.json describes 3 rows of 4 float32', 'features.f32');
    writeFileSync(join(broken, 'artifacts', 'scores.json'), JSON.stringify({ score: 'energy', id: [1], val: [1, 'x'], ood: {} }));
    await expectAresError(() => readRun(broken).readArtifacts(), 'invalid score arrays', 'scores.json');
  });
});
