import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { prepareDataset, type PreparedDataset } from '../../src/data/index.js';
import { decodeImage, probeImage } from '../../src/data/image-decode.js';
import { initEngine } from '../../src/engine/backend.js';
import { loadDetector } from '../../src/export/index.js';
import { chooseGraphNodes } from '../../src/fit/graph-model.js';
import { parseDetectorSpec } from '../../src/run/detector.js';
import { loadGraphModelFromDir } from '../../src/run/model-io.js';
import { chromiumMissing, openBrowser, serveStatic } from '../fixtures/browser.js';
import { expectAresError, runCli, tempDir, writeProbeImages, predictShares } from '../run/helpers.js';
import { saveAsGraphModel } from './graph-model.js';
import { smallCnn, trainPlain } from './plain-model.js';

/**
 * `ares fit` on a tfjs graph model: a CNN trained with plain tfjs (digits 0–5 of MNIST), written as
 * a GraphDef model.json + two weight shards (graph-model.ts), then fit, predict, eval, export (the
 * bundle's loader in Node), report. The probe digits are the fit's own ID test split.
 */
const { dir, cleanup } = tempDir('fit-graph');
afterAll(cleanup);
const graphDir = join(dir, 'graph-model');
const runDir = join(dir, 'run');
const DATA = ['--id', 'mnist', '--id-classes', '0,1,2,3,4,5', '--limit', '2000', '--seed', '4'];
let data: PreparedDataset;
let truth: Map<string, string>;
/** `ares predict`'s answers on the probe files, and those files' pixels as predict decodes them. */
let predicted: { file: string; label: string; score: number }[] = [];
let probePixels = new Float32Array(0);

beforeAll(async () => {
  await initEngine();
  data = await prepareDataset({ id: 'mnist', idClasses: [0, 1, 2, 3, 4, 5], limit: 2000, seed: 4 });
  const model = smallCnn([28, 28, 1], 6, 1);
  await trainPlain(model, data.train.images, data.train.labels!, [28, 28, 1], 6, 3);
  saveAsGraphModel(model, [28, 28, 1], graphDir);
  saveAsGraphModel(model, [28, 28, 1], join(dir, 'graph-logits'), { softmax: false, transposeHead: true });
  // The hand-written graph computes what the layers model does (else the rest proves nothing).
  const graph = await loadGraphModelFromDir(graphDir);
  const x = tf.tensor4d(data.test.images.subarray(0, 50 * 784), [50, 28, 28, 1]);
  const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(model.predict(x) as tf.Tensor, graph.execute(x) as tf.Tensor))).dataSync()[0]);
  x.dispose(); graph.dispose(); model.dispose();
  expect(diff).toBeLessThan(1e-5);
  truth = await writeProbeImages(data.test, data.classNames, join(dir, 'digits'), join(dir, 'noise'), { noiseSeed: 55 });
}, 60_000);

describe('ares fit on a tfjs graph model', () => {
  it('finds logits (before the Softmax) and features (the last MatMul\'s input), stores the graph as it is, and predict answers unknown for noise, the right digit for held-in digits', () => {
    const r = runCli(['fit', '--model', graphDir, ...DATA, '--ood', 'gaussian', '--score', 'energy,vim', '--out', runDir, '--json'], {}, 60_000);
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.format).toBe('graph-model');
    expect(out.logits).toMatch(/Softmax node "probs".*"d2\/BiasAdd"/);
    expect(out.featuresLayer).toBe('d1/Relu');
    expect(out.featureDim).toBe(64);
    expect(out.score).toBe('energy');
    const detector = JSON.parse(readFileSync(join(runDir, 'detector.json'), 'utf8'));
    expect(detector.model).toEqual({ format: 'graph-model', logits: 'd2/BiasAdd', features: 'd1/Relu', headKernel: 'd2/kernel', headKernelTransposed: false, headBias: 'd2/bias' });
    expect(parseDetectorSpec(detector, 'detector.json').model).toEqual(detector.model);
    expect(() => parseDetectorSpec({ ...detector, model: { ...detector.model, logits: '' } }, 'detector.json')).toThrow(/model\.logits must name the logits node/);
    expect(() => parseDetectorSpec({ ...detector, model: { ...detector.model, format: 'layers-model' } }, 'detector.json')).toThrow(/model\.format must be "graph-model"/);
    const config = JSON.parse(readFileSync(join(runDir, 'config.json'), 'utf8'));
    expect(config).toMatchObject({ method: 'fit', format: 'graph-model', graph: detector.model, featuresLayer: 'd1/Relu' });
    for (const f of ['model.json', 'group1-shard1of2.bin', 'group1-shard2of2.bin']) {
      expect(readFileSync(join(runDir, 'model', f)).equals(readFileSync(join(graphDir, f))), f).toBe(true);
    }
    expect(out.metrics.rows.map((x: { score: string }) => x.score).sort()).toEqual(['energy', 'energy', 'vim', 'vim']); // gaussian and the held-out digits 6–9

    const { unknownShare, rightShare } = predictShares(runDir, join(dir, 'digits'), join(dir, 'noise'), truth, 'ares fit (graph model)');
    expect(unknownShare).toBeGreaterThanOrEqual(0.9);
    expect(rightShare).toBeGreaterThanOrEqual(0.8);
  }, 60_000);

  it('eval and report accept the run; the exported bundle loads in Node and answers as predict does', async () => {
    const e = runCli(['eval', '--run', runDir, '--ood', 'uniform', '--score', 'energy', '--json'], {}, 60_000);
    expect(e.stderr).toBe('');
    expect(e.code).toBe(0);
    expect(JSON.parse(e.stdout).idAccuracy).toBeGreaterThan(0.85);
    const rep = runCli(['report', '--run', runDir, '--out', join(dir, 'r.html')]);
    expect(rep.code).toBe(0);

    const bundle = join(dir, 'bundle');
    const x = runCli(['export', '--run', runDir, '--out', bundle, '--json']);
    expect(x.code).toBe(0);
    expect(readdirSync(bundle)).toEqual(expect.arrayContaining(['ares.json', 'model.json', 'group1-shard1of2.bin', 'group1-shard2of2.bin', 'loader.js']));
    const p = runCli(['predict', '--run', runDir, '--json', join(dir, 'digits'), join(dir, 'noise')]);
    const preds = JSON.parse(p.stdout).predictions as { file: string; label: string; score: number }[];
    const det = await loadDetector(bundle);
    try {
      expect(det.model).toBeInstanceOf(tf.GraphModel);
      const pixels = new Float32Array(preds.length * 784);
      for (let i = 0; i < preds.length; i++) pixels.set(await decodeImage(preds[i].file, [28, 28, 1], 'cover', await probeImage(preds[i].file)), i * 784);
      predicted = preds;
      probePixels = pixels;
      const input = tf.tensor4d(pixels, [preds.length, 28, 28, 1]);
      const answers = await det.predict(input);
      input.dispose();
      expect(answers.map((a) => a.label)).toEqual(preds.map((q) => q.label));
      answers.forEach((a, i) => expect(a.score).toBeCloseTo(preds[i].score, 4));
    } finally {
      det.dispose();
    }
  }, 60_000);

  it.skipIf(chromiumMissing)('the exported bundle answers the same in headless Chromium', async () => {
    expect(predicted.length).toBeGreaterThan(0);
    const page0 = `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>graph bundle</title>
<script type="module">
  import * as tf from './tf.fesm.min.js';
  import { loadDetector } from './loader.js';
  window.classify = async (pixels) => {
    await tf.setBackend('cpu');
    const d = await loadDetector('./');
    const x = tf.tensor4d(Float32Array.from(pixels), [pixels.length / 784, 28, 28, 1]);
    const out = await d.predict(x);
    x.dispose(); d.dispose();
    return out;
  };
  window.ready = true;
</script>`;
    const server = await serveStatic(join(dir, 'bundle'), { '/index.html': page0 });
    const { browser, page, problems } = await openBrowser();
    try {
      await page.goto(`${server.url}/index.html`);
      await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
      const got = await page.evaluate((px) => (window as unknown as { classify: Function }).classify(px), Array.from(probePixels)) as { label: string; score: number }[];
      expect(got.map((a) => a.label)).toEqual(predicted.map((q) => q.label));
      got.forEach((a, i) => expect(a.score).toBeCloseTo(predicted[i].score, 3));
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
      await server.close();
    }
  }, 30_000);

  it('deploys vim with the head read from the graph (transposed kernel, no Softmax at the end)', () => {
    const vimRun = join(dir, 'run-vim');
    const r = runCli(['fit', '--model', join(dir, 'graph-logits', 'model.json'), ...DATA, '--score', 'vim', '--out', vimRun, '--json'], {}, 60_000);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.logits).toBe('the graph\'s output (node "d2/BiasAdd")');
    expect(out.warnings).toEqual([]);
    const detector = JSON.parse(readFileSync(join(vimRun, 'detector.json'), 'utf8'));
    expect(detector.score.name).toBe('vim');
    expect(detector.score.state.origin).toBe('head');
    expect(detector.model).toMatchObject({ headKernel: 'd2/kernel', headKernelTransposed: true });
    const p = runCli(['predict', '--run', vimRun, '--json', join(dir, 'noise')]);
    expect(p.code).toBe(0);
    const noise = JSON.parse(p.stdout).predictions as { label: string }[];
    expect(noise.filter((x) => x.label === 'unknown').length / noise.length).toBeGreaterThanOrEqual(0.9);
  }, 60_000);

  it('a features node it cannot find is a clear error listing the nodes; energy alone still fits without one', async () => {
    // Temperature-scaled logits (a Mul by a constant) behind an Identity: no MatMul directly behind
    // them to take the features from.
    const noHead = join(dir, 'graph-scaled');
    mkdirSync(noHead);
    for (const f of readdirSync(join(dir, 'graph-logits'))) copyFileSync(join(dir, 'graph-logits', f), join(noHead, f));
    const json = JSON.parse(readFileSync(join(noHead, 'model.json'), 'utf8'));
    const F = { type: 'DT_FLOAT' };
    json.modelTopology.node.push(
      { name: 'temperature', op: 'Const', attr: { dtype: F, value: { tensor: { dtype: 'DT_FLOAT', tensorShape: {} } } } },
      { name: 'out', op: 'Mul', input: ['d2/BiasAdd', 'temperature'], attr: { T: F } },
      { name: 'Identity', op: 'Identity', input: ['out'], attr: { T: F } },
    );
    const group = json.weightsManifest[0];
    group.weights.push({ name: 'temperature', shape: [], dtype: 'float32' });
    const lastShard = join(noHead, group.paths[group.paths.length - 1]);
    writeFileSync(lastShard, Buffer.concat([readFileSync(lastShard), Buffer.from(Float32Array.from([0.5]).buffer)]));
    writeFileSync(join(noHead, 'model.json'), JSON.stringify(json));
    const c = chooseGraphNodes(json, 'm.json');
    expect(c.spec).toMatchObject({ logits: 'out', features: null });
    // An Identity after the Softmax is looked through too.
    const withSoftmax = JSON.parse(readFileSync(join(graphDir, 'model.json'), 'utf8'));
    withSoftmax.modelTopology.node.push({ name: 'Identity', op: 'Identity', input: ['probs'], attr: { T: F } });
    expect(chooseGraphNodes(withSoftmax, 'm.json').spec).toMatchObject({ logits: 'd2/BiasAdd', features: 'd1/Relu' });
    expect(chooseGraphNodes(json, 'm.json', 'p2').spec.features).toBe('p2');
    await expectAresError(() => chooseGraphNodes(json, 'm.json', 'nope'), /--features "nope" is not a node before the logits/, /d1\/Relu/);

    const bad = runCli(['fit', '--model', noHead, ...DATA, '--score', 'energy,knn', '--out', join(dir, 'bad')]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/cannot decide which node gives the features: the logits node "out" \(Mul\) is not a MatMul.*--features <node>.*c1\/Conv2D, c1\/BiasAdd, .*d1\/Relu, d2\/MatMul, d2\/BiasAdd, out, Identity \(knn read features/);
    expect(existsSync(join(dir, 'bad'))).toBe(false);
    const wrong = runCli(['fit', '--model', graphDir, ...DATA, '--features', 'nope', '--out', join(dir, 'bad')]);
    expect(wrong.stderr).toMatch(/--features "nope".*candidate nodes.*d1\/Relu/);

    const energyRun = join(dir, 'run-energy');
    const r = runCli(['fit', '--model', noHead, ...DATA, '--score', 'energy', '--out', energyRun, '--json'], {}, 60_000);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.featuresLayer).toBe('(none)');
    expect(out.warnings.join()).toMatch(/no features node/);
    expect(JSON.parse(readFileSync(join(energyRun, 'detector.json'), 'utf8')).model).toEqual({ format: 'graph-model', logits: 'out', features: null });
    const p = runCli(['predict', '--run', energyRun, '--json', join(dir, 'noise')]);
    expect(p.code).toBe(0);
    const noise = JSON.parse(p.stdout).predictions as { label: string }[];
    expect(noise.filter((x) => x.label === 'unknown').length / noise.length).toBeGreaterThanOrEqual(0.9);
    const e = runCli(['eval', '--run', energyRun, '--score', 'energy,knn']);
    expect(e.code).not.toBe(0);
    expect(e.stderr).toMatch(/no features node, which knn read/);
  }, 60_000);
});
