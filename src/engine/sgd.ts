import * as tf from '@tensorflow/tfjs';
import { AresError } from '../errors.js';
import { readFloat32 } from './read.js';

/**
 * SGD with momentum, Nesterov and weight decay exactly as PyTorch's torch.optim.SGD applies them
 * (dampening 0), because the project's reference numbers come from PyTorch training scripts:
 *   g = grad + wd * p;  v = mu * v + g;  p -= lr * (nesterov ? g + mu * v : v)
 * Weight decay applies to every variable given (PyTorch's default: biases and BN scales too).
 */
export interface SgdOptions {
  /** mu; PyTorch's default in this project's recipes. */
  momentum?: number;
  nesterov?: boolean;
  /** L2 coefficient added to the gradient (not decoupled). */
  weightDecay?: number;
}

export interface Sgd {
  readonly vars: readonly tf.Variable[];
  /**
   * One update; grads[i] belongs to vars[i]. Does not dispose the grads. A variable whose gradient
   * is undefined (not part of this step's loss) is left untouched, momentum and decay included,
   * as PyTorch skips parameters whose .grad is None.
   */
  step(grads: readonly (tf.Tensor | undefined)[], lr: number): void;
  /** Copies of the momentum buffers, aligned with vars (for checkpoints). */
  state(): Float32Array[];
  /** state(), read with await (the webgpu backend cannot read synchronously in Node). */
  readState(): Promise<Float32Array[]>;
  /** Restores momentum buffers saved by state(). */
  load(state: readonly Float32Array[]): void;
  dispose(): void;
}

export function createSgd(vars: tf.Variable[], opts: SgdOptions = {}): Sgd {
  const mu = opts.momentum ?? 0.9;
  const nesterov = opts.nesterov ?? true;
  const wd = opts.weightDecay ?? 5e-4;
  if (!(mu >= 0) || !(wd >= 0)) throw new AresError(`SGD momentum and weight decay must be >= 0 (got ${mu}, ${wd})`);
  if (nesterov && mu === 0) throw new AresError('Nesterov momentum needs momentum > 0');
  const list = [...vars];
  const buffers = list.map((v) => tf.tidy(() => tf.variable(tf.zerosLike(v), false)));
  let disposed = false;
  const alive = () => { if (disposed) throw new AresError('SGD optimiser used after dispose()'); };

  return {
    vars: list,
    step(grads, lr) {
      alive();
      if (grads.length !== list.length) throw new AresError(`SGD step got ${grads.length} gradients for ${list.length} variables`);
      if (!Number.isFinite(lr)) throw new AresError(`SGD learning rate must be finite, got ${lr}`);
      tf.tidy(() => {
        const lrT = tf.scalar(lr);
        const muT = tf.scalar(mu);
        const wdT = tf.scalar(wd);
        list.forEach((p, i) => {
          const grad = grads[i];
          if (!grad) return;
          const g = wd > 0 ? tf.add(grad, tf.mul(wdT, p)) : grad;
          const v = tf.add(tf.mul(muT, buffers[i]), g);
          buffers[i].assign(v);
          const update = nesterov ? tf.add(g, tf.mul(muT, v)) : v;
          p.assign(tf.sub(p, tf.mul(lrT, update)));
        });
      });
    },
    state() {
      alive();
      return buffers.map((b) => Float32Array.from(b.dataSync() as Float32Array));
    },
    async readState() {
      alive();
      return Promise.all(buffers.map(readFloat32));
    },
    load(state) {
      alive();
      if (state.length !== buffers.length) throw new AresError(`SGD state has ${state.length} buffers, expected ${buffers.length}`);
      state.forEach((s, i) => {
        if (s.length !== buffers[i].size) {
          throw new AresError(`SGD state buffer ${i} has ${s.length} values, expected ${buffers[i].size} (${list[i].name})`);
        }
        buffers[i].assign(tf.tensor(s, buffers[i].shape));
      });
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      buffers.forEach((b) => b.dispose());
    },
  };
}

/** Cosine decay from lr0 at step 0 to lrMin at totalSteps (per step, as design.md specifies). */
export function cosineLr(step: number, totalSteps: number, lr0 = 0.1, lrMin = 1e-6): number {
  if (totalSteps <= 0) return lr0;
  const t = Math.min(Math.max(step / totalSteps, 0), 1);
  return lrMin + (lr0 - lrMin) * 0.5 * (1 + Math.cos(Math.PI * t));
}
