/**
 * Algorithm 1 of the paper as one loop: pretrain with CE (on PixMix images), then train with
 * CE + the discrimination loss between inlier energies and virtual outliers' energies.
 * The same loop trains the baselines (`ce`, `pixmix-only`, `vos`, `logitnorm`, `rotation` and their
 * PixMix forms): each method switches stages on or off (config.ts `stagesOf`) or swaps the loss
 * (logitnorm.ts, rotation.ts), so every method shares data order, optimiser and schedule.
 */
import * as tf from '@tensorflow/tfjs';
import { AresError } from '../errors.js';
import { batchCount, batches } from '../data/batches.js';
import { normalizeInPlace } from '../data/normalize.js';
import { augmentBatch, resolveAugment } from '../data/augment.js';
import type { PreparedDataset } from '../data/prepare.js';
import { createSgd, cosineLr, type Sgd } from '../engine/sgd.js';
import { buildModel } from '../models/index.js';
import type { Classifier } from '../models/types.js';
import { Rng } from '../util/rng.js';
import { energySeparation, type EnergySeparation } from '../metrics/energy-separation.js';
import { negativeEnergy } from '../scores/energy.js';
import { createClassQueues, createVosParams, enqueueFeatures, sampleVirtualOutliers as vosOutliers, vosLossActive, vosUncertaintyLoss, type ClassQueues, type VosParams } from './vos.js';
import { checkRestoredDims, checkRestoredSizes, loadCheckpoint, saveCheckpoint, type Checkpoint } from './checkpoint.js';
import { applyInit } from './init.js';
import { stagesOf, usesLogitNorm, usesRotation, withStoredLabelSmoothing, type TrainConfig } from './config.js';
import { classificationLoss } from './ce-step.js';
import { logitNormLoss } from './logitnorm.js';
import { rotationBatch, rotationForward, rotationLoss, ROTATIONS, withRotationHead } from './rotation.js';
import { createDiscriminationParams, discriminationLoss, type DiscriminationParams } from '../ares/discrimination.js';
import { estimateOutliers, randomPoolOutliers } from '../ares/estimation.js';
import { FeaturePool, mixupFeatures } from '../ares/expansion.js';
import { loadFractalBank } from '../ares/fractal-cache.js';
import type { FractalBank } from '../ares/fractals.js';
import { pixmixBatch } from '../ares/pixmix.js';
import { stopGradient } from '../ares/stop-gradient.js';
import { checkTrainingMemory } from './preflight.js';
import { readFloat32 } from '../engine/read.js';
import { variableGradsAsync } from '../engine/gradients.js';
import { checkGpuUsable, gpuTrainingFailure, throwOnGpuFault } from './gpu-failure.js';

/** Numbers of one training step, for the progress bar and the curves. */
export interface StepStats {
  epoch: number;
  batch: number;
  batches: number;
  lr: number;
  ce: number;
  /** Discrimination term (JSD for ares/jsd) when the outlier phase is on, else null. */
  jsd: number | null;
  loss: number;
  accuracy: number;
  imagesPerSecond: number;
  /** Mean energy of the step's inliers and virtual outliers (outlier phase of ares and vos), else null. */
  energyIn: number | null;
  energyOut: number | null;
}

export interface EpochRecord {
  epoch: number;
  ce: number;
  jsd: number | null;
  loss: number;
  trainAccuracy: number;
  valAccuracy: number;
  seconds: number;
  /** Inlier vs virtual-outlier energies over the epoch's outlier-phase steps (ares, vos), else null. */
  energy: EnergySeparation | null;
}

export interface TrainOptions {
  /** Where checkpoints go (checkpoints/ under it); none when absent. */
  outDir?: string;
  /** Continue from the newest checkpoint in outDir. */
  resume?: boolean;
  onStep?: (s: StepStats) => void;
  onEpoch?: (e: EpochRecord) => void;
  /** Stop after this many epochs of this call (tests of resume); the run is not finished then. */
  stopAfterEpochs?: number;
}

export interface TrainedModel {
  config: TrainConfig;
  model: Classifier;
  /** Learned energy weights w_k (ares, vos), or null: plain energy. */
  energyWeights: Float32Array | null;
  history: EpochRecord[];
  /** Virtual outliers of the last step (features, [n, d]) for the report, when the method makes them. */
  lastOutliers: { v: Float32Array; rows: number } | null;
  fractals: FractalBank | null;
  finished: boolean;
}

/** Everything that changes during training: what a checkpoint must hold. */
export interface Session {
  cfg: TrainConfig;
  data: PreparedDataset;
  model: Classifier;
  /** ares: w_k of Eq. 12 (initialised to 1) and the discrimination loss's own parameters. */
  dis: DiscriminationParams | null;
  vos: { queues: ClassQueues; params: VosParams } | null;
  pool: FeaturePool | null;
  bank: FractalBank | null;
  variables: tf.Variable[];
  sgd: Sgd;
  history: EpochRecord[];
  lastOutliers: Float32Array | null;
}

/** Each (stage, epoch, batch) draws from its own stream of the seed, so a resumed run draws the same numbers. */
export function stepRng(seed: number, epoch: number, batch: number, stage: Stage): Rng {
  return Rng.stream(seed, `train/${stage}`, epoch, batch);
}
export type Stage = 'escape' | 'expansion' | 'estimation' | 'augment';

/** Crop + flip (or none) of one raw batch in place; its own stream of (seed, epoch, batch), so a resumed run crops alike. */
export function augmentRawBatch(cfg: Pick<TrainConfig, 'seed' | 'augment'>, shape: PreparedDataset['shape'], x: Float32Array, epoch: number, batchIndex: number): void {
  const mode = resolveAugment(cfg.augment, shape);
  if (mode !== 'none') augmentBatch(x, shape, mode, stepRng(cfg.seed, epoch, batchIndex, 'augment'));
}

/** The configuration with `augment: auto` resolved for the data (what the run records and checkpoints hold). */
export function withResolvedAugment(cfg: TrainConfig, shape: PreparedDataset['shape']): TrainConfig {
  return { ...cfg, augment: resolveAugment(cfg.augment, shape) };
}

/**
 * The network a method trains from the configured model `base`: the rotation methods add the
 * rotation head as a third output (sharing base's layers, so --init's weights loaded into base stay).
 */
export function methodModel(cfg: Pick<TrainConfig, 'method' | 'seed'>, base: Classifier): Classifier {
  return usesRotation(cfg.method) ? withRotationHead(base, cfg.seed) : base;
}

export async function train(config: TrainConfig, data: PreparedDataset, opts: TrainOptions = {}): Promise<TrainedModel> {
  const cfg = withResolvedAugment(config, data.shape);
  // On the GPU: out of memory or a lost device becomes an AresError naming a batch that fits, or the checkpoint to resume from.
  const onGpu = tf.getBackend() === 'webgpu';
  if (onGpu) checkGpuUsable();
  const base = buildModel(cfg.model, data.shape, data.classNames.length, cfg.seed);
  const frozen = cfg.init ? await applyInit(base, cfg.init, cfg.frozenLayers?.length ?? 0) : undefined;
  const s = createSession(cfg, data, methodModel(cfg, base), frozen);
  let startEpoch = 0;
  if (opts.resume) {
    if (!opts.outDir) throw new AresError('--resume needs the run folder (--out) whose checkpoints to continue', { exitCode: 2 });
    const ckpt = loadCheckpoint(opts.outDir);
    if (ckpt) startEpoch = restoreSession(s, ckpt);
  }
  const perEpoch = batchCount(data.train.count, cfg.batchSize, true);
  if (perEpoch < 1) throw new AresError(`the training split has ${data.train.count} images, fewer than one batch of ${cfg.batchSize}`);
  const totalSteps = perEpoch * cfg.epochs;
  await checkTrainingMemory(cfg, data.shape, data.classNames.length);
  let epochsThisCall = 0;
  let epoch = startEpoch;
  let checkpointEpochs: number | null = startEpoch > 0 ? startEpoch : null;
  try {
    for (; epoch < cfg.epochs; epoch++) {
      if (opts.stopAfterEpochs !== undefined && epochsThisCall >= opts.stopAfterEpochs) break;
      const t0 = performance.now();
      const sums = { ce: 0, jsd: 0, loss: 0, correct: 0, seen: 0, jsdSteps: 0 };
      const energies: { in: number[]; out: number[] } = { in: [], out: [] };
      for (const batch of batches(data.train, { batchSize: cfg.batchSize, seed: cfg.seed, epoch, dropLast: true })) {
        const tStep = performance.now();
        const lr = cosineLr(epoch * perEpoch + batch.batchIndex, totalSteps, cfg.lr, cfg.lrMin);
        const r = await trainStep(s, batch.x, batch.y, epoch, batch.batchIndex, lr);
        if (onGpu) throwOnGpuFault();
        sums.ce += r.ce; sums.loss += r.loss; sums.correct += r.correct; sums.seen += batch.size;
        if (r.jsd !== null) { sums.jsd += r.jsd; sums.jsdSteps++; }
        if (r.energies) { energies.in.push(...r.energies.in); energies.out.push(...r.energies.out); }
        opts.onStep?.({
          epoch, batch: batch.batchIndex, batches: perEpoch, lr, ce: r.ce, jsd: r.jsd, loss: r.loss,
          accuracy: r.correct / batch.size, imagesPerSecond: batch.size / ((performance.now() - tStep) / 1000),
          energyIn: r.energies ? mean(r.energies.in) : null, energyOut: r.energies ? mean(r.energies.out) : null,
        });
      }
      const record: EpochRecord = {
        epoch,
        ce: sums.ce / perEpoch,
        jsd: sums.jsdSteps > 0 ? sums.jsd / sums.jsdSteps : null,
        loss: sums.loss / perEpoch,
        trainAccuracy: sums.correct / sums.seen,
        valAccuracy: await validationAccuracy(s.model, data),
        seconds: (performance.now() - t0) / 1000,
        energy: energySeparation(energies.in, energies.out, cfg.tpr),
      };
      s.history.push(record);
      if (opts.outDir) {
        const ckpt = await checkpointOf(s, epoch + 1);
        if (onGpu) throwOnGpuFault(); // never a checkpoint of values a faulted GPU computed
        saveCheckpoint(opts.outDir, ckpt);
        checkpointEpochs = epoch + 1;
      }
      opts.onEpoch?.(record);
      epochsThisCall++;
    }
    if (onGpu) throwOnGpuFault(); // a fault in the last validation pass, with no checkpoint after it
  } catch (err) {
    if (!onGpu) throw err;
    throw await gpuTrainingFailure(err, { cfg, shape: data.shape, classes: data.classNames.length, epoch, outDir: opts.outDir, checkpointEpochs });
  }
  const finished = s.history.length === cfg.epochs;
  const wVar = s.dis?.w ?? s.vos?.params.energyWeights;
  const w = wVar ? await readFloat32(wVar) : null;
  return {
    config: cfg, model: s.model, energyWeights: w, history: s.history,
    lastOutliers: s.lastOutliers ? { v: s.lastOutliers, rows: s.lastOutliers.length / s.model.featureDim } : null,
    fractals: s.bank, finished,
  };
}

/** `model`: as methodModel makes it (a rotation method's has the rotation head). `frozen`: model variables the optimiser leaves alone (--freeze). */
export function createSession(cfg: TrainConfig, data: PreparedDataset,
  model = methodModel(cfg, buildModel(cfg.model, data.shape, data.classNames.length, cfg.seed)), frozen?: ReadonlySet<tf.Variable>): Session {
  const k = data.classNames.length;
  const stages = stagesOf(cfg);
  // VOS brings its own w (initialised U(0,1) as in VOS) and logistic regression; ARES uses w = 1.
  const vos = cfg.method === 'vos'
    ? { queues: createClassQueues(k, model.featureDim, cfg.vosQueue), params: createVosParams(k, Rng.stream(cfg.seed, 'vos/init')) }
    : null;
  const dis = cfg.method === 'ares' ? createDiscriminationParams(k, cfg.loss) : null;
  const trainable = frozen ? model.trainableVariables.filter((v) => !frozen.has(v)) : model.trainableVariables;
  const variables = [...trainable, ...(dis?.variables ?? []), ...(vos?.params.variables ?? [])];
  return {
    cfg, data, model, dis, vos,
    pool: cfg.method === 'ares' ? new FeaturePool(model.featureDim, cfg.poolSize) : null,
    bank: stages.escape ? loadFractalBank(data.shape, cfg.fractalBankSize, cfg.seed).bank : null,
    variables,
    sgd: createSgd(variables, { momentum: cfg.momentum, nesterov: true, weightDecay: cfg.weightDecay }),
    history: [],
    lastOutliers: null,
  };
}

export interface StepResult {
  ce: number;
  jsd: number | null;
  loss: number;
  correct: number;
  /** Energies of the inliers [B] and virtual outliers [B'] when the step had an outlier loss, else null. */
  energies: { in: Float32Array; out: Float32Array } | null;
}

/**
 * One iteration of Algorithm 1's training loop (lines 4–10), or a baseline's step. Every read of a
 * tensor is awaited, the feature pool's and VOS queues' mid-step reads included, so the step also
 * runs on a backend that reads only asynchronously (webgpu in Node).
 */
export async function trainStep(s: Session, xRaw: Float32Array, y: Int32Array, epoch: number, batchIndex: number, lr: number): Promise<StepResult> {
  const { cfg, model, data } = s;
  const [h, w, c] = data.shape;
  const b = y.length;
  const stages = stagesOf(cfg);
  const outlierPhase = stages.outliers && epoch >= cfg.pretrainEpochs;

  // CIFAR-standard crop + flip of the raw batch, before PixMix; labels kept.
  augmentRawBatch(cfg, data.shape, xRaw, epoch, batchIndex);
  // Escape (line 2): x* = PixMix(x, fractals); labels kept. x*: [B, H, W, C] in [0, 1]
  const xStar = s.bank ? pixmixBatch(xRaw, data.shape, s.bank, stepRng(cfg.seed, epoch, batchIndex, 'escape'), { rounds: cfg.pixmixRounds, beta: cfg.pixmixBeta }) : xRaw;
  normalizeInPlace(xStar, c, data.normalization);
  // Rotation prediction: the batch and its three quarter turns, one forward pass of 4B images.
  const rotated = usesRotation(cfg.method) ? rotationBatch(xStar, data.shape, b) : null;

  // What tf.tidy would do around the step, by hand: tidy cannot await.
  const eng = tf.engine();
  eng.startScope();
  // Read after the update: loss, CE, predictions [B], and the outlier term and energies when the step has them.
  const out: { ce?: tf.Scalar; pred?: tf.Tensor; jsd?: tf.Scalar; energyIn?: tf.Tensor; energyOut?: tf.Tensor } = {};
  try {
    const x = rotated ? tf.tensor4d(rotated.x, [ROTATIONS * b, h, w, c]) : tf.tensor4d(xStar, [b, h, w, c]);
    const yOneHot = tf.oneHot(tf.tensor1d(y, 'int32'), data.classNames.length);
    const { value, grads } = await variableGradsAsync(async () => {
      if (rotated) {
        // CE on the unrotated quarter of the 4B outputs + λ · the rotation head's CE on all 4B.
        const o = rotationForward(model, x, true);
        const logits = o.logits.slice([0, 0], [b, data.classNames.length]);
        const ce = classificationLoss(yOneHot, logits, cfg.labelSmoothing);
        out.ce = tf.keep(ce);
        out.pred = tf.keep(tf.argMax(logits, 1));
        return tf.add(ce, tf.mul(cfg.rotationWeight, rotationLoss(o.rotation, rotated.labels))) as tf.Scalar;
      }
      const { logits, features } = model.apply(x, true); // logits: [B, K], features h: [B, d]
      // The classification loss, label-smoothed when labelSmoothing > 0; the curves' "ce" is it.
      const ce = classificationLoss(yOneHot, logits, cfg.labelSmoothing);
      out.ce = tf.keep(ce);
      out.pred = tf.keep(tf.argMax(logits, 1));
      // LogitNorm trains on the normalised logits only; ce stays the raw logits' CE, for the curves.
      if (usesLogitNorm(cfg.method)) return logitNormLoss(yOneHot as tf.Tensor2D, logits, cfg.logitNormTau, cfg.labelSmoothing);
      if (s.pool) {
        // Expansion (lines 4–6): x̃ = λ2·h_i + (1 − λ2)·h_j, no gradient, into the FIFO pool X̃.
        const rng = stepRng(cfg.seed, epoch, batchIndex, 'expansion');
        s.pool.add(await readFloat32(cfg.expansion ? mixupFeatures(features, rng, cfg.mixupAlpha) : stopGradient(features)));
      }
      if (s.vos) enqueueFeatures(s.vos.queues, { data: await readFloat32(features), rows: b, cols: model.featureDim }, y);
      if (!outlierPhase) return ce;

      if (s.vos) {
        if (!vosLossActive(epoch, cfg.pretrainEpochs, s.vos.queues)) return ce;
        const v = vosOutliers(s.vos.queues, stepRng(cfg.seed, epoch, batchIndex, 'estimation'), { candidates: cfg.vosCandidates });
        s.lastOutliers = Float32Array.from(v.data);
        const outlierLogits = model.head(tf.tensor2d(Float32Array.from(v.data), [v.rows, v.cols]));
        const reg = vosUncertaintyLoss(logits, outlierLogits, s.vos.params);
        out.jsd = tf.keep(reg);
        // VOS's own energy, with its learned weights: E = −log Σ_k w_k e^{f_k}.
        const w = s.vos.params.energyWeights;
        out.energyIn = tf.keep(tf.neg(negativeEnergy(logits, w)));
        out.energyOut = tf.keep(tf.neg(negativeEnergy(outlierLogits, w)));
        return tf.add(ce, tf.mul(cfg.vosWeight, reg)) as tf.Scalar;
      }

      // Estimation (lines 7–8): v = the B least likely of M draws from N(μ̂, Σ̂) of X̃. v: [B, d]
      const rng = stepRng(cfg.seed, epoch, batchIndex, 'estimation');
      const v = cfg.estimation
        ? estimateOutliers(s.pool!, b, rng, { candidates: cfg.candidates, source: cfg.estimationSource, scale: cfg.estimationScale }).v : randomPoolOutliers(s.pool!, b, rng);
      s.lastOutliers = v;

      // Divergence (lines 9–10): energies E(x*) and E(v) with learnable w → Gaussians → JSD → loss.
      const outlierLogits = model.head(tf.tensor2d(v, [b, model.featureDim])); // [B, K]
      const dis = discriminationLoss(logits, outlierLogits, s.dis!, { loss: cfg.loss, form: cfg.divergence, beta: cfg.beta });
      out.jsd = tf.keep(dis.jsd);
      out.energyIn = tf.keep(dis.energyIn);
      out.energyOut = tf.keep(dis.energyOut);
      return tf.add(ce, dis.loss) as tf.Scalar;
    }, s.variables);
    s.sgd.step(s.variables.map((v) => grads[v.name]), lr);
    const [loss, ce, pred] = await Promise.all([value, out.ce!, out.pred!].map((t) => t.data()));
    const lossValue = loss[0];
    if (!Number.isFinite(lossValue)) {
      throw new AresError(`training diverged at epoch ${epoch}, batch ${batchIndex}: loss is ${lossValue} (try a lower --lr)`);
    }
    let correct = 0;
    for (let i = 0; i < b; i++) if (pred[i] === y[i]) correct++;
    return {
      ce: ce[0], loss: lossValue, correct,
      jsd: out.jsd ? (await out.jsd.data())[0] : null,
      energies: out.energyIn && out.energyOut ? { in: await readFloat32(out.energyIn), out: await readFloat32(out.energyOut) } : null,
    };
  } finally {
    tf.dispose(Object.values(out));
    eng.endScope();
  }
}

function mean(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i];
  return s / x.length;
}

/** Accuracy on the held-out ID validation split (inference mode). */
export async function validationAccuracy(model: Classifier, data: PreparedDataset): Promise<number> {
  if (data.val.count === 0) return NaN;
  let correct = 0;
  for (const batch of batches(data.val, { batchSize: 256, shuffle: false, normalization: data.normalization })) {
    const predicted = tf.tidy(() => tf.argMax(model.apply(tf.tensor4d(batch.x, [batch.size, ...data.shape]), false).logits, 1));
    const pred = await predicted.data();
    predicted.dispose();
    for (let i = 0; i < batch.size; i++) if (pred[i] === batch.y[i]) correct++;
  }
  return correct / data.val.count;
}

async function checkpointOf(s: Session, epochsDone: number): Promise<Checkpoint> {
  return {
    epochsDone,
    config: s.cfg,
    variables: await Promise.all(s.model.allVariables.map(readFloat32)),
    extra: await Promise.all(methodVariables(s).map(readFloat32)),
    optimizer: await s.sgd.readState(),
    pool: s.pool?.state() ?? null,
    vosQueues: s.vos ? s.vos.queues : null,
    history: s.history,
  };
}

function restoreSession(s: Session, ckpt: Checkpoint): number {
  if (canonicalJson(withStoredLabelSmoothing(withStoredAugment(ckpt.config))) !== canonicalJson(s.cfg)) {
    throw new AresError('the checkpoint was written with a different configuration; resume with the same options (see config in the run folder)', { exitCode: 2 });
  }
  // Everything is checked before anything is assigned: a checkpoint that does not fit leaves the session as it was.
  const sizes = (vars: tf.Variable[]) => vars.map((v) => ({ name: v.name, size: v.size }));
  checkRestoredSizes(ckpt, 'model variables', ckpt.variables, sizes(s.model.allVariables));
  checkRestoredSizes(ckpt, 'method parameters', ckpt.extra, sizes(methodVariables(s)));
  if (s.pool && ckpt.pool) checkRestoredDims(ckpt, 'feature pool', { dim: [ckpt.pool.dim, s.pool.dim], capacity: [ckpt.pool.capacity, s.pool.capacity] });
  const [q, own] = [ckpt.vosQueues, s.vos?.queues];
  if (q && own) checkRestoredDims(ckpt, 'VOS queues', { numClasses: [q.numClasses, own.numClasses], dim: [q.dim, own.dim], capacity: [q.capacity, own.capacity] });
  s.model.allVariables.forEach((v, i) => v.assign(tf.tensor(ckpt.variables[i], v.shape)));
  methodVariables(s).forEach((v, i) => v.assign(tf.tensor(ckpt.extra[i], v.shape)));
  s.sgd.load(ckpt.optimizer);
  if (s.pool && ckpt.pool) s.pool = FeaturePool.fromState(ckpt.pool);
  if (s.vos && ckpt.vosQueues) Object.assign(s.vos.queues, ckpt.vosQueues);
  s.history = ckpt.history;
  return ckpt.epochsDone;
}

/** Parameters the method trains beside the model. */
function methodVariables(s: Session): tf.Variable[] {
  return [...(s.dis?.variables ?? []), ...(s.vos?.params.variables ?? [])];
}

/** Runs written before `augment` existed trained without augmentation. */
export function withStoredAugment<T extends { augment?: unknown }>(cfg: T): T {
  return cfg.augment === undefined ? { ...cfg, augment: 'none' } : cfg;
}

/** JSON with sorted keys: configurations compare by content, not by the order their keys were added. */
export function canonicalJson(o: object): string {
  return JSON.stringify(o, Object.keys(o).sort());
}
