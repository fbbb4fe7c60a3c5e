/** Run folders: typed parts, atomic writing, validated reading, and prediction on image files. */
export { writeRun, readRun, runPaths, RUN_FILES, type RunParts, type RunFolder } from './folder.js';
export { saveLayersModel, loadLayersModelFromDir, replaceDirAtomic } from './model-io.js';
export { parseDetectorSpec, parseDetectorJson, DETECTOR_VERSION, type DetectorSpec, type Normalization, type ThresholdSpec } from './detector.js';
export { energyScore, mspScore, softmax, scoreRow, scoreLogits, accepts, type ScoreSpec } from './score.js';
export { readArtifacts, writeArtifacts, SAMPLE_KINDS, type LoadedArtifacts } from './artifacts.js';
export { predictFiles, type FilePrediction, type PredictFilesOptions, type PredictFilesResult } from './predict.js';
export { listImageFiles, encodePng, pngDataUrl } from './images.js';
export type * from './types.js';
