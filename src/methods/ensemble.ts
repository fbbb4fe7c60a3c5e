/**
 * `--ensemble k`: k models of one method, trained with seeds seed, seed+1, ..., seed+k−1 on the same
 * data split (the run's seed chooses the split; a member's seed its initialisation, data order,
 * augmentation and PixMix draws), and evaluated as one model whose logits and penultimate features
 * are the members' averages. Every post-hoc score then reads the ensemble as it reads one model.
 *
 * The ensemble is one tfjs layers model, inputs → [mean logits, mean features] (and the mean rotation
 * logits for the rotation methods), so the run folder's model/ holds it and ares eval, predict and
 * export use it unchanged. Each member is a nested model whose layers are renamed `m<i>_...`:
 * tfjs names weights by layer, and the members' explicitly named layers (`head`) would collide.
 * The logits' average layer is named `head`, where a loaded run looks for the classifier's head.
 *
 * What an ensemble does not have: one linear head on its features (the mean of the members' features
 * through the mean of their heads is not the mean of their logits), so headWeights() is null and ViM
 * takes its origin from the mean ID feature; and learned energy weights (ares, vos members each learn
 * their own), so energy is plain. Members train one after another, each with its own checkpoints in
 * members/seed-<s>/ of the run folder, so an interrupted ensemble resumes where it stopped.
 */
import * as tf from '@tensorflow/tfjs';
import { join } from 'node:path';
import { AresError } from '../errors.js';
import type { PreparedDataset } from '../data/prepare.js';
import { fromLayers } from '../models/layers-classifier.js';
import type { Classifier } from '../models/types.js';
import type { TrainConfig } from './config.js';
import { ROTATION_HEAD_NAME, rotationHeadOf } from './rotation.js';
import { train, type TrainedModel, type TrainOptions } from './train.js';

/** Scores that recompute the logits through the classifier's one linear head, which an ensemble has not (see above). */
export const HEAD_SCORES: readonly string[] = ['react', 'ash', 'scale'];

/** Fails before any training when an ensemble is to be scored with a score it cannot compute. */
export function checkEnsembleScores(cfg: Pick<TrainConfig, 'ensemble'>, scores: readonly string[]): void {
  const k = ensembleSize(cfg);
  const bad = k > 1 ? scores.filter((s) => HEAD_SCORES.includes(s)) : [];
  if (bad.length) {
    throw new AresError(`--ensemble ${k}: ${bad.join(', ')} recompute${bad.length === 1 ? 's' : ''} the logits through the classifier's one linear head, `
      + 'which an ensemble has not (its logits are the mean of its members\'); score it with the others (e.g. energy, mls, vim, mahalanobis, knn)', { exitCode: 2 });
  }
}

/** Folder of a member's checkpoints inside the run folder. */
export const memberDir = (out: string, seed: number) => join(out, 'members', `seed-${seed}`);

/** Members of a configuration: 1 without --ensemble. */
export const ensembleSize = (cfg: Pick<TrainConfig, 'ensemble'>): number => cfg.ensemble ?? 1;

/** Member i's configuration: the run's, with seed + i and no ensemble. */
export function memberConfig(cfg: TrainConfig, i: number): TrainConfig {
  const { ensemble: _k, ...rest } = cfg;
  return { ...rest, seed: cfg.seed + i };
}

/** Every string of a model's JSON topology that is one of its layer or model names, prefixed. */
function renamed(topology: unknown, names: ReadonlySet<string>, prefix: string): unknown {
  if (typeof topology === 'string') return names.has(topology) ? prefix + topology : topology;
  if (Array.isArray(topology)) return topology.map((v) => renamed(v, names, prefix));
  if (topology && typeof topology === 'object') {
    return Object.fromEntries(Object.entries(topology).map(([k, v]) => [k, renamed(v, names, prefix)]));
  }
  return topology;
}

/** A copy of `model` with every layer (and the model) renamed prefix + name, holding the same weight values. */
async function renamedCopy(model: tf.LayersModel, prefix: string): Promise<tf.LayersModel> {
  const names = new Set([model.name, ...model.layers.map((l) => l.name)]);
  const topology = renamed(model.toJSON(null, false), names, prefix) as tf.io.ModelJSON['modelTopology'];
  const copy = await tf.models.modelFromJSON({ modelTopology: topology });
  const weights = model.getWeights();
  copy.setWeights(weights);
  return copy;
}

/**
 * One classifier averaging the members' logits and features (and rotation logits when every member
 * has the rotation head). The members are copied: the caller may dispose them afterwards.
 */
export async function ensembleClassifier(members: Classifier[]): Promise<Classifier> {
  if (members.length < 1) throw new AresError('an ensemble needs at least one member');
  const [first] = members;
  for (const m of members) {
    if (m.numClasses !== first.numClasses || m.featureDim !== first.featureDim || m.inputShape.join() !== first.inputShape.join()) {
      throw new AresError(`ensemble members differ: ${m.inputShape.join('×')} → ${m.numClasses} classes, d = ${m.featureDim} vs ${first.inputShape.join('×')} → ${first.numClasses}, d = ${first.featureDim}`);
    }
  }
  const copies = await Promise.all(members.map((m, i) => renamedCopy(m.layersModel, `m${i}_`)));
  const withRotation = members.every((m) => rotationHeadOf(m) !== null);
  const input = tf.input({ shape: first.inputShape });
  const outs = copies.map((c) => c.apply(input) as tf.SymbolicTensor[]);
  // tfjs's Average layer needs two inputs or more: one member's outputs pass through unchanged (an
  // identity activation layer keeps the layer names the loader looks for).
  const mean = (i: number, name?: string) => (copies.length > 1
    ? tf.layers.average({ name }).apply(outs.map((o) => o[i]))
    : tf.layers.activation({ activation: 'linear', name }).apply(outs[0][i])) as tf.SymbolicTensor;
  const outputs = [mean(0, 'head'), mean(1), ...(withRotation ? [mean(2, ROTATION_HEAD_NAME)] : [])];
  const model = tf.model({ inputs: input, outputs });
  const c = fromLayers(first.name, model, model.getLayer('head'), first.inputShape, first.numClasses, first.featureDim);
  // No single linear head maps the mean features to the mean logits (see the file header).
  return { ...c, headWeights: () => null, headWeightsAsync: async () => null };
}

/**
 * Trains the configuration's members one after another (each checkpointed in memberDir) and returns
 * the ensemble. Unfinished (`finished: false`) when a member stopped early (opts.stopAfterEpochs).
 * The history is member 0's (the report's curves), with the others' in `members`.
 */
export async function trainEnsemble(cfg: TrainConfig, data: PreparedDataset, opts: TrainOptions = {}): Promise<TrainedModel & { members: TrainedModel['history'][] }> {
  const k = ensembleSize(cfg);
  const trained: TrainedModel[] = [];
  try {
    for (let i = 0; i < k; i++) {
      const member = memberConfig(cfg, i);
      const t = await train(member, data, { ...opts, outDir: opts.outDir && memberDir(opts.outDir, member.seed) });
      trained.push(t);
      if (!t.finished) {
        return { ...t, config: cfg, energyWeights: null, lastOutliers: null, finished: false, members: trained.map((m) => m.history) };
      }
    }
    const model = await ensembleClassifier(trained.map((t) => t.model));
    return {
      config: cfg, model, energyWeights: null, history: trained[0].history, lastOutliers: null,
      fractals: trained[0].fractals, finished: true, members: trained.map((m) => m.history),
    };
  } finally {
    // The ensemble holds copies; an unfinished run returns the member it stopped in, which stays.
    const keep = trained.length > 0 && !trained[trained.length - 1].finished ? trained[trained.length - 1] : null;
    for (const t of trained) if (t !== keep) t.model.layersModel.dispose();
  }
}
