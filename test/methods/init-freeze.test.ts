import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { initEngine } from '../../src/engine/backend.js';
import { initLayerNames } from '../../src/methods/init.js';
import { resolveConfig, trainRun, disposeRun } from '../../src/pipeline/train-run.js';
import { loadLayersModelFromDir } from '../../src/run/model-io.js';
import { tempDir, expectAresError } from '../run/helpers.js';

/**
 * `ares train --init model.json --freeze LAYER`: the weights of the layers up to LAYER (batch-norm
 * statistics included) come out of training bit for bit as they went in; the others are trained.
 */
const { dir, cleanup } = tempDir('init-freeze');
afterAll(cleanup);
const base = { id: 'mnist', idClasses: [0, 1, 2], limit: 500, method: 'ce' as const, model: 'cnn' as const, epochs: 1, pretrainEpochs: 0, batchSize: 64, seed: 3 };
const firstRun = join(dir, 'first');
const initFile = join(firstRun, 'model', 'model.json');

beforeAll(async () => {
  await initEngine();
  disposeRun(await trainRun(resolveConfig(base), { out: firstRun }));
}, 60_000);

const weightsByLayer = async (runDir: string) => {
  const m = await loadLayersModelFromDir(join(runDir, 'model'));
  const out = m.layers.map((l) => l.getWeights().map((w) => w.dataSync() as Float32Array));
  m.dispose();
  return out;
};
const same = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));

describe('train --init --freeze', () => {
  it('keeps the frozen layers bit-identical (across a stop and resume), trains the rest, and records what was frozen', async () => {
    const names = initLayerNames(initFile);
    const freezeAt = names.findIndex((_, i) => i > 0 && names.slice(0, i + 1).filter((n) => /conv/i.test(n)).length === 4) + 2; // the ReLU after the 4th conv's BN
    const freeze = names[freezeAt];
    console.log(`--freeze ${freeze}: layers 0..${freezeAt} of ${names.length} fixed`);
    const out = join(dir, 'second');
    const cfg = resolveConfig({ ...base, seed: 4, epochs: 2, init: initFile, freeze });
    // Stopped after one epoch and resumed: the checkpoint's config (init, frozen layers) must match.
    const part = await trainRun(cfg, { out, stopAfterEpochs: 1 });
    expect(part.evaluation).toBeNull();
    disposeRun(part);
    const done = await trainRun(cfg, { out, resume: true });
    expect(done.evaluation).not.toBeNull();
    disposeRun(done);
    const saved = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect(saved.init).toBe(initFile);
    expect(saved.frozenLayers).toEqual(names.slice(0, freezeAt + 1));

    const before = await weightsByLayer(firstRun);
    const after = await weightsByLayer(out);
    let frozenWeights = 0, trainedChanged = 0, trainedWeights = 0;
    before.forEach((ws, i) => ws.forEach((w, j) => {
      if (i <= freezeAt) { expect(same(w, after[i][j]), `layer ${i} "${names[i]}" weight ${j}`).toBe(true); frozenWeights++; }
      else { trainedWeights++; if (!same(w, after[i][j])) trainedChanged++; }
    }));
    expect(frozenWeights).toBeGreaterThanOrEqual(4 + 4 * 4); // 4 conv kernels + 4 BN × (γ, β, mean, var)
    expect(trainedWeights).toBeGreaterThan(0);
    expect(trainedChanged).toBe(trainedWeights);
  }, 60_000);

  it('names the layers for an unknown --freeze, and refuses weights of another architecture', async () => {
    await expectAresError(() => resolveConfig({ ...base, init: initFile, freeze: 'no_such_layer' }), /no layer named "no_such_layer"/, /layers in order: .*conv2d/);
    await expectAresError(() => resolveConfig({ ...base, freeze: 'x' }), /--freeze needs --init/);
    const six = resolveConfig({ ...base, idClasses: [0, 1, 2, 3, 4, 5], init: initFile });
    await expectAresError(() => trainRun(six, {}), /incompatible weights at layer \d+ "head"/);
  }, 60_000);
});

