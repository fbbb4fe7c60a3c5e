/** Detector bundles: loadDetector (Node and browser) and `ares export`. */
export { loadDetector, createDetector, UNKNOWN, type Detector, type Prediction, type PredictOptions, type DetectorInput, type ImageDataLike, type LoadOptions } from './loader.js';
export { exportBundle, buildLoaderModule, BUNDLE_FILES, type ExportResult } from './bundle.js';
export { modelPixels, toModelInput } from './input.js';
export { serveBundle, type BundleServer } from './page/server.js';
