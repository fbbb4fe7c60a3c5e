import type * as tf from '@tensorflow/tfjs';
import { fromLayers } from './layers-classifier.js';
import { AresError } from '../errors.js';
import { buildCnn } from './cnn.js';
import { buildResnet18, buildWrn40x2 } from './resnet.js';
import type { Classifier, ModelName } from './types.js';

export type { Classifier, ModelName, ModelOutputs } from './types.js';
export const MODEL_NAMES: readonly ModelName[] = ['cnn', 'resnet18', 'wrn40-2'];

/** Builds a freshly initialised model by name; same (name, shape, classes, seed) → same weights. */
export function buildModel(name: string, inputShape: [number, number, number], numClasses: number, seed = 0): Classifier {
  switch (name) {
    // The reference CNN is specified for 28×28 (dense 3136→128); other sizes change only that layer's width.
    case 'cnn': return buildCnn(inputShape, numClasses, seed);
    case 'resnet18': return buildResnet18(inputShape, numClasses, seed);
    case 'wrn40-2': return buildWrn40x2(inputShape, numClasses, seed);
    default:
      throw new AresError(`unknown model "${name}"; choose one of ${MODEL_NAMES.join(', ')}`, { exitCode: 2 });
  }
}

/** A Classifier around a saved layers model (inputs -> [logits, features], last layer named "head"). */
export function classifierFromSaved(model: tf.LayersModel, name: ModelName): Classifier {
  const [logitsOut, featuresOut] = model.outputs;
  const inputShape = model.inputs[0].shape.slice(1) as [number, number, number];
  if (!logitsOut || !featuresOut || inputShape.length !== 3) {
    throw new AresError(`saved model "${model.name}" is not an ares-ood classifier (expected one image input and [logits, features] outputs)`);
  }
  return fromLayers(name, model, model.getLayer('head'), inputShape, logitsOut.shape[1] as number, featuresOut.shape[1] as number);
}
