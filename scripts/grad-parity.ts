/**
 * Gradient parity of one training step between backends: the same model, weights and batch on
 * each backend, every trainable variable's gradient compared with the first backend's, as
 * max |difference| / max |reference| per variable (worst first).
 *
 *   ARES_THREADS=1 npx tsx scripts/grad-parity.ts --model resnet18 --size 16 --backends cpu,wasm [--seed 19] [--batch 8] [--without-bn-kernel]
 *
 * A backend written NAME+EPS (e.g. cpu+1e-6) runs on NAME with every input value scaled by
 * (1 + EPS u), u uniform in [-1, 1]: how far the gradients move under input rounding-size noise
 * on one backend, the yardstick for a difference between backends.
 *
 * --without-bn-kernel takes the wasm engine's fused training batch-norm kernel out (tfjs-layers'
 * own moments + batchNorm then run on wasm too). webgpu needs VK_ICD_FILENAMES on a machine
 * without a GPU (see README, "The GPU").
 */
import * as tf from '@tensorflow/tfjs';
import { parseArgs } from 'node:util';
import { initEngine } from '../src/engine/backend.js';
import { BN_TRAIN } from '../src/engine/kernels/batch-norm.js';
import { buildModel } from '../src/models/index.js';
import { Rng } from '../src/util/rng.js';

const { values: o } = parseArgs({ options: {
  model: { type: 'string', default: 'resnet18' }, size: { type: 'string', default: '16' }, backends: { type: 'string', default: 'cpu,wasm' },
  seed: { type: 'string', default: '19' }, batch: { type: 'string', default: '8' }, 'without-bn-kernel': { type: 'boolean', default: false },
} });
const [HW, B, K] = [Number(o.size), Number(o.batch), 3];
const shape: [number, number, number] = [HW, HW, 3];
const backends = o.backends!.split(',');
const rng = new Rng(Number(o.seed));
const x = Float32Array.from({ length: B * HW * HW * 3 }, () => rng.uniform());
const y = Int32Array.from({ length: B }, () => rng.int(K));

await initEngine({ backend: 'wasm' });
if (o['without-bn-kernel']) tf.unregisterKernel(BN_TRAIN, 'wasm');
const init = buildModel(o.model!, shape, K, 0);
const weights = init.allVariables.map((v) => Float32Array.from(v.dataSync() as Float32Array));
init.layersModel.dispose();

const grads: Float32Array[][] = [];
let names: string[] = [];
for (const spec of backends) {
  const [be, eps] = [spec.split('+')[0], Number(spec.split('+')[1] ?? 0)];
  const noise = new Rng(1000 + Number(o.seed));
  const xin = eps ? x.map((v) => v * (1 + eps * (2 * noise.uniform() - 1))) : x;
  if (be === 'webgpu') await initEngine({ backend: 'webgpu' }); else await tf.setBackend(be);
  const m = buildModel(o.model!, shape, K, 0);
  m.allVariables.forEach((v, i) => v.assign(tf.tensor(weights[i], v.shape)));
  const xt = tf.tensor4d(xin, [B, ...shape]);
  const yt = tf.oneHot(tf.tensor1d(y, 'int32'), K).toFloat();
  const { value, grads: g } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(yt, m.apply(xt, true).logits) as tf.Scalar, m.trainableVariables);
  console.log(`${spec}: loss ${(await value.data())[0]}`);
  names = m.trainableVariables.map((v, i) => `${i} ${v.name.replace(/_\d+(?=\/)/, '')}`);
  grads.push(await Promise.all(Object.values(g).map(async (t) => Float32Array.from(await t.data() as Float32Array))));
  tf.dispose([xt, yt, value, ...Object.values(g)]);
  m.layersModel.dispose();
}
for (let b = 1; b < backends.length; b++) {
  const rows = grads[0].map((ref, i) => {
    let num = 0, den = 0;
    for (let j = 0; j < ref.length; j++) { num = Math.max(num, Math.abs(ref[j] - grads[b][i][j])); den = Math.max(den, Math.abs(ref[j])); }
    return { name: names[i], rel: num / (den || 1) };
  }).sort((p, q) => q.rel - p.rel);
  console.log(`${backends[b]} vs ${backends[0]}: worst ${rows.slice(0, 5).map((r) => `${r.name} ${r.rel.toExponential(2)}`).join('; ')}`);
}
