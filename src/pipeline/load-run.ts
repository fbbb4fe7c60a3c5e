import type { TrainConfig } from '../methods/config.js';
import { classifierFromSaved } from '../models/index.js';
import type { Classifier } from '../models/types.js';
import type { DetectorSpec } from '../run/detector.js';
import { readRun, type RunFolder } from '../run/folder.js';

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
  const model = classifierFromSaved(await folder.loadModel(), config.model);
  return { folder, config, detector: folder.detector, model };
}
