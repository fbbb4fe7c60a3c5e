/** The data layer's public API: readers, built-in sources, dataset preparation, batching. */
export type { ImageSet, LoadOptions, Normalization, ResizeFit, Shape, SkippedFile, Split } from './types.js';
export { loadSource, loadResolved, openFolderSource, DEFAULT_GENERATED_SHAPE } from './load.js';
export { resolveSource, fashionMnistDir, BUILTIN_SOURCES, type ResolvedSource, type SourceFormat, type SplitName } from './sources.js';
export { prepareDataset, splitOff, type DatasetSpec, type PreparedDataset } from './prepare.js';
export { batches, folderBatches, epochOrder, batchCount, type Batch, type BatchOptions } from './batches.js';
export { computeNormalization, checkNormalization, normalize, normalizeInPlace, denormalizeInPlace } from './normalize.js';
export { conformSet, convertChannels, resizeImages, limitSet, selectIndices, subsetClasses, otherClasses } from './transform.js';
export { openImageFolder, loadImageFolder, type FolderReader, type FolderBatch, type FolderOptions } from './image-folder.js';
export { decodeImage, probeImage } from './image-decode.js';
export { parseIdx, idxToImages, idxToLabels, loadIdxPair, type IdxArray } from './idx.js';
export { parseCifar, loadCifarFiles, type CifarBatch, type CifarVariant } from './cifar.js';
export { loadMnistJson, mnistPackageDir } from './mnist-json.js';
export { generateSet, gaussianBlur, GENERATED_KINDS, DEFAULT_GENERATED_COUNT, type GeneratedKind, DERIVED_KINDS, type DerivedKind, deriveSet } from './generated.js';
export { randomCropFlip } from './augment.js';
export { inspectSource, summarizeSet, type InspectReport, type SplitSummary } from './inspect.js';
export { timeBatching, type BatchingTiming, type BatchAugment } from './timing.js';
export { parseShape, parseClassList } from './check.js';
export { CIFAR10_NAMES, CIFAR100_FINE_NAMES, CIFAR100_COARSE_NAMES, FASHION_MNIST_NAMES, DIGIT_NAMES } from './class-names.js';
