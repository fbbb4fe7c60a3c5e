import { AresError } from '../errors.js';

/**
 * What `ares bench` times: one full training step of a (model, method) pair. A factory builds the
 * model, optimiser and a fixed batch once; `step()` then runs one complete training step
 * (forward, backward, update, and any per-step data work the method does in training) and returns
 * the loss. Other methods and models register their own factory here.
 */
export interface BenchStep {
  /**
   * One training step; returns the step's loss (read back, so the step has finished), through a
   * Promise on a backend that reads only asynchronously (webgpu in Node).
   */
  step(): number | Promise<number>;
  dispose(): void;
}

export interface BenchStepOptions {
  batch: number;
  seed: number;
}

export type BenchStepFactory = (opts: BenchStepOptions) => BenchStep | Promise<BenchStep>;

const factories = new Map<string, BenchStepFactory>();
const key = (model: string, method: string) => `${model}\u0000${method}`;

export function registerBenchStep(model: string, method: string, factory: BenchStepFactory): void {
  factories.set(key(model, method), factory);
}

export function benchPairs(): Array<{ model: string; method: string }> {
  return [...factories.keys()].map((k) => { const [model, method] = k.split('\u0000'); return { model, method }; });
}

export function benchStepFactory(model: string, method: string): BenchStepFactory {
  const f = factories.get(key(model, method));
  if (!f) {
    const known = benchPairs().map((p) => `${p.model}/${p.method}`).join(', ');
    throw new AresError(`no benchmark step for model "${model}" with method "${method}" (available: ${known})`, { exitCode: 2 });
  }
  return f;
}
