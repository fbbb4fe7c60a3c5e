import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { prepareDataset, type PreparedDataset } from '../../src/data/index.js';
import { initEngine } from '../../src/engine/backend.js';
import { AresError } from '../../src/errors.js';
import { fit } from '../../src/fit/fit.js';
import { loadLayersModelFromDir, renamedManifest } from '../../src/run/model-io.js';
import { expectAresError, tempDir } from '../run/helpers.js';
import { smallCnn } from './plain-model.js';

/**
 * `ares fit` never trains, so the run keeps the user's weight files as shipped (uint8-quantised
 * here, as tensorflowjs_converter --quantize_uint8 writes them), and an error in the middle of a
 * fit is the error shown even when the clean-up fails after it.
 */
const { dir, cleanup } = tempDir('fit-weights');
afterAll(cleanup);
const userDir = join(dir, 'user');
let data: PreparedDataset;

/** Saves `model` as the converter does with --quantize_uint8: per-weight min/scale, one byte per value. */
async function saveQuantised(model: tf.LayersModel, to: string): Promise<void> {
  mkdirSync(to, { recursive: true });
  await model.save(tf.io.withSaveHandler(async (a) => {
    const specs = a.weightSpecs!;
    const floats = tf.io.decodeWeights(a.weightData!, specs);
    const bytes: Uint8Array[] = [];
    const weights = specs.map((w) => {
      const v = floats[w.name].dataSync() as Float32Array;
      let min = Infinity, max = -Infinity;
      for (const x of v) { min = Math.min(min, x); max = Math.max(max, x); }
      const scale = max > min ? (max - min) / 255 : 1;
      bytes.push(Uint8Array.from(v, (x) => Math.round((x - min) / scale)));
      return { name: w.name, shape: w.shape, dtype: 'float32' as const, quantization: { dtype: 'uint8' as const, min, scale } };
    });
    tf.dispose(Object.values(floats));
    writeFileSync(join(to, 'group1-shard1of1.bin'), Buffer.concat(bytes));
    writeFileSync(join(to, 'model.json'), JSON.stringify({
      modelTopology: a.modelTopology, format: 'layers-model', generatedBy: 'keras v2.2.4', convertedBy: 'TensorFlow.js Converter v1.7.4',
      weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights }],
    }));
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
}

beforeAll(async () => {
  await initEngine();
  data = await prepareDataset({ id: 'mnist', idClasses: [0, 1, 2, 3, 4, 5], limit: 300, seed: 2 });
  const model = smallCnn([28, 28, 1], 6, 3);
  await saveQuantised(model, userDir);
  model.dispose();
}, 60_000);

describe('the user\'s weights as shipped', () => {
  it('the run folder keeps the quantised shard byte for byte; model.json has the ares topology and answers as the user\'s model does', async () => {
    const runDir = join(dir, 'run');
    const fitted = await fit(join(userDir, 'model.json'), data, { out: runDir });
    fitted.dispose();
    expect(readdirSync(join(runDir, 'model')).sort()).toEqual(['group1-shard1of1.bin', 'model.json']);
    expect(readFileSync(join(runDir, 'model', 'group1-shard1of1.bin')).equals(readFileSync(join(userDir, 'group1-shard1of1.bin')))).toBe(true);
    const json = JSON.parse(readFileSync(join(runDir, 'model', 'model.json'), 'utf8'));
    const entries = json.weightsManifest.flatMap((g: { weights: { name: string; quantization?: unknown }[] }) => g.weights);
    expect(entries.every((w: { quantization?: { dtype: string } }) => w.quantization?.dtype === 'uint8')).toBe(true);
    // The softmax Dense became the linear layer "head": its weights keep their bytes under the new name.
    expect(entries.map((w: { name: string }) => w.name)).toEqual(expect.arrayContaining(['head/kernel', 'head/bias']));

    const user = await tf.loadLayersModel(tf.io.fromMemory({
      modelTopology: JSON.parse(readFileSync(join(userDir, 'model.json'), 'utf8')).modelTopology,
      weightSpecs: JSON.parse(readFileSync(join(userDir, 'model.json'), 'utf8')).weightsManifest[0].weights,
      weightData: new Uint8Array(readFileSync(join(userDir, 'group1-shard1of1.bin'))).buffer,
    }));
    const stored = await loadLayersModelFromDir(join(runDir, 'model'));
    const x = tf.tensor4d(data.test.images.subarray(0, 20 * 784), [20, 28, 28, 1]);
    const probs = user.predict(x) as tf.Tensor;
    const [logits] = stored.predict(x) as tf.Tensor[];
    const fromStored = tf.softmax(logits);
    expect(tf.max(tf.abs(tf.sub(probs, fromStored))).dataSync()[0]).toBeLessThan(1e-5);
    tf.dispose([x, probs, logits, fromStored]);
    user.dispose(); stored.dispose();
  }, 60_000);

  it('a model passed in memory (no files to keep) is stored as float32 weights.bin, as before', async () => {
    const runDir = join(dir, 'run-memory');
    const model = smallCnn([28, 28, 1], 6, 4);
    const fitted = await fit(model, data, { out: runDir });
    fitted.dispose();
    expect(readdirSync(join(runDir, 'model')).sort()).toEqual(['model.json', 'weights.bin']);
  }, 60_000);
});

describe('renamedManifest', () => {
  async function artifactsOf(model: tf.LayersModel): Promise<tf.io.ModelArtifacts> {
    let saved: tf.io.ModelArtifacts | null = null;
    await model.save(tf.io.withSaveHandler(async (a) => { saved = a; return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }; }));
    return saved!;
  }
  const user = () => {
    const json = JSON.parse(readFileSync(join(userDir, 'model.json'), 'utf8'));
    const b = readFileSync(join(userDir, 'group1-shard1of1.bin'));
    return { json, shards: [b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer] };
  };

  it('keeps every entry (names, quantisation) for the user\'s own model, and refuses weights that are not the user\'s', async () => {
    const { json, shards } = user();
    const same = await loadLayersModelFromDir(userDir);
    expect(renamedManifest(await artifactsOf(same), json, shards)).toEqual(json.weightsManifest);
    same.dispose();
    // Same layers and shapes, other values (another seed): the user's shard cannot stand for them.
    const other = smallCnn([28, 28, 1], 6, 99);
    expect(renamedManifest(await artifactsOf(other), json, shards)).toBeNull();
    other.dispose();
  });
});

describe('an error in the middle is the error shown', () => {
  it('a batch size that is not a positive integer is refused, naming the flag', async () => {
    await expectAresError(() => fit(join(userDir, 'model.json'), data, { batchSize: 0 }), /--batch-size must be a positive integer, got 0/);
  });

  it('a clean-up that fails after the error (as dispose does after a wasm trap) does not replace it', async () => {
    const noValidation: PreparedDataset = { ...data, val: { ...data.val, count: 0, images: new Float32Array(0), labels: new Int32Array(0) } };
    const trap = new RangeError('memory access out of bounds');
    const spy = vi.spyOn(tf.LayersModel.prototype, 'dispose').mockImplementation(() => { throw trap; });
    let caught: unknown;
    let disposeCalls = 0;
    try {
      await fit(join(userDir, 'model.json'), noValidation);
    } catch (err) {
      caught = err;
    } finally {
      disposeCalls = spy.mock.calls.length; // (mockRestore clears the record)
      spy.mockRestore();
    }
    expect(disposeCalls).toBeGreaterThan(0); // the clean-up ran and failed
    expect(caught).toBeInstanceOf(AresError);
    expect((caught as Error).message).toMatch(/no ID validation images/);
    expect((caught as Error & { suppressed?: unknown }).suppressed).toBe(trap);
  }, 60_000);
});
