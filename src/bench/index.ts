export { runBench, formatBench, median, BENCH_DEFAULTS, type BenchOptions, type BenchResult } from './harness.js';
export { registerBenchStep, benchPairs, benchStepFactory, type BenchStep, type BenchStepFactory, type BenchStepOptions } from './registry.js';
export { ceBenchStep, BENCH_INPUT } from './ce-step.js';
export { profileBench, formatProfile, aggregateProfile, opLabel, type ProfileResult, type ProfileRow, type KernelRecord } from './profile.js';
export { buildMobileNetV2, foldedBackbone, trainableParameterCount, MOBILENETV2_BLOCKS } from './mobilenetv2.js';
