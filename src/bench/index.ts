export { runBench, formatBench, median, BENCH_DEFAULTS, type BenchOptions, type BenchResult } from './harness.js';
export { registerBenchStep, benchPairs, benchStepFactory, type BenchStep, type BenchStepFactory, type BenchStepOptions } from './registry.js';
export { ceBenchStep, BENCH_INPUT } from './ce-step.js';
