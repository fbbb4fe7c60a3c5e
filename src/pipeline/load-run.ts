import type { TrainConfig } from '../methods/config.js';
import { fromGraph } from '../models/graph-classifier.js';
import { classifierFromSaved } from '../models/index.js';
import type { Classifier } from '../models/types.js';
import type { DetectorSpec } from '../run/detector.js';
import { readRun, type RunFolder } from '../run/folder.js';
import { loadGraphModelFromDir } from '../run/model-io.js';

export interface LoadedRun {
  folder: RunFolder;
  config: TrainConfig;
  detector: DetectorSpec;
  model: Classifier;
}

/** Opens a finished run folder (validated by readRun) with its model as a Classifier. */
export async function loadRun(dir: string): Promise<LoadedRun> {
  const folder = readRun(dir);
  const config = folder.config as unknown as TrainConfig;
  const graph = folder.detector.model;
  // A run fitted on a tfjs graph model keeps that model's files; detector.json names its nodes.
  const model = graph
    ? fromGraph(config.model, await loadGraphModelFromDir(folder.paths.model), graph, folder.detector.inputShape)
    : classifierFromSaved(await folder.loadModel(), config.model);
  return { folder, config, detector: folder.detector, model };
}
