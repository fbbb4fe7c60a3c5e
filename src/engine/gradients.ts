import * as tf from '@tensorflow/tfjs';
import { AresError } from '../errors.js';

/**
 * Backpropagation that frees memory as it goes. tfjs's engine.gradients keeps every tensor the
 * forward pass saved for the backward pass, and the gradient of every intermediate tensor, until
 * the whole backward pass ends, so its peak is the forward activations plus one gradient per
 * activation: for WRN-40-2 at batch 128 that is more than 2.5 GB and pushed the wasm heap towards
 * its 4 GiB ceiling. This version walks the same nodes in the same order with the same
 * arithmetic (results are bit-identical), but disposes a node's saved tensors and its outputs'
 * gradients as soon as that node's input gradients exist, so the peak is about the forward
 * activations alone, as in PyTorch. Higher-order gradients (a tape inside a tape) keep tfjs's own
 * code path, which needs the tensors to outlive the inner pass.
 */

interface TapeNode {
  id: number;
  kernelName: string;
  inputs: Record<string, tf.Tensor>;
  outputs: tf.Tensor[];
  saved?: tf.Tensor[];
  gradient?: (dys: (tf.Tensor | null)[]) => Record<string, () => tf.Tensor>;
}

interface EngineInternals {
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
  scopedRun<T>(start: () => void, end: () => void, f: () => T): T;
  startTape(): void;
  endTape(): void;
  startScope(name?: string): void;
  endScope(result?: tf.TensorContainer): void;
  tidy<T extends tf.TensorContainer>(nameOrFn: string | (() => T), fn?: () => T): T;
  gradients: GradientsFn;
}
type GradientsFn = <T extends tf.Tensor>(f: () => T, xs: tf.Tensor[], dy?: T, allowNoGradients?: boolean)
  => { value: T; grads: tf.Tensor[] };

/** The nodes on a path from some x to y, with inputs not depending on any x pruned (as tfjs does). */
export function nodesFromXToY(tape: TapeNode[], xs: tf.Tensor[], y: tf.Tensor): TapeNode[] {
  const fromX = new Set(xs.map((x) => x.id));
  const nodesFromX = new Set<number>();
  for (const node of tape) {
    if (Object.values(node.inputs).some((t) => fromX.has(t.id))) {
      for (const o of node.outputs) fromX.add(o.id);
      nodesFromX.add(node.id);
    }
  }
  const toY = new Set([y.id]);
  const nodesToY = new Set<number>();
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i];
    if (node.outputs.some((o) => toY.has(o.id))) {
      for (const t of Object.values(node.inputs)) toY.add(t.id);
      nodesToY.add(node.id);
    }
  }
  return tape.filter((n) => nodesFromX.has(n.id) && nodesToY.has(n.id)).map((n) => ({
    ...n, inputs: Object.fromEntries(Object.entries(n.inputs).filter(([, t]) => fromX.has(t.id))),
  }));
}

/**
 * Walks `nodes` backward from the gradients in `grads` (keyed by tensor id). Gradients of tensors
 * in `keep` stay in the map; every other gradient is disposed once its node has used it.
 */
function backprop(grads: Map<number, tf.Tensor>, nodes: TapeNode[], keep: Set<number>, eng: EngineInternals): void {
  // A gradient tensor can sit under several ids (a gradient function may return its dy as is).
  const uses = new Map<tf.Tensor, number>();
  const put = (id: number, t: tf.Tensor) => { grads.set(id, t); uses.set(t, (uses.get(t) ?? 0) + 1); };
  const drop = (id: number) => {
    const t = grads.get(id);
    if (!t) return;
    grads.delete(id);
    const n = (uses.get(t) ?? 1) - 1;
    if (n > 0) uses.set(t, n); else { uses.delete(t); t.dispose(); }
  };
  for (const [id, t] of grads) uses.set(t, (uses.get(t) ?? 0) + 1);
  for (let i = nodes.length - 1; i >= 0; i--) {
    const node = nodes[i];
    if (!node.gradient) throw new Error(`Cannot compute gradient: gradient function not found for ${node.kernelName}.`);
    const inputGradients = node.gradient(node.outputs.map((o) => grads.get(o.id) ?? null));
    const made: tf.Tensor[] = [];
    for (const name in node.inputs) {
      if (!(name in inputGradients)) {
        throw new Error(`Cannot backprop through input ${name}. Available gradients found: ${Object.keys(inputGradients)}.`);
      }
      const dx = eng.tidy(() => inputGradients[name]());
      if (dx.dtype !== 'float32') {
        throw new Error(`Error in gradient for op ${node.kernelName}. The gradient of input ${name} must have 'float32' dtype, but has '${dx.dtype}'`);
      }
      const x = node.inputs[name];
      if (!tf.util.arraysEqual(dx.shape, x.shape)) {
        throw new Error(`Error in gradient for op ${node.kernelName}. The gradient of input '${name}' has shape '${dx.shape}', which does not match the shape of the input '${x.shape}'`);
      }
      made.push(dx);
      const current = grads.get(x.id);
      if (current == null) put(x.id, dx);
      else { const sum = tf.add(current, dx); drop(x.id); put(x.id, sum); }
    }
    for (const o of node.outputs) if (!keep.has(o.id)) drop(o.id);
    for (const t of node.saved ?? []) if (!made.includes(t) && !uses.has(t)) t.dispose();
  }
}

let installed = false;
let tfjsGradients: GradientsFn | null = null;

/** Runs f with tfjs's own engine.gradients (tests compare the two). */
export function withTfjsGradients<T>(f: () => T): T {
  const eng = tf.engine() as unknown as EngineInternals;
  if (!tfjsGradients) return f();
  const mine = eng.gradients;
  eng.gradients = tfjsGradients;
  try { return f(); } finally { eng.gradients = mine; }
}

/** Replaces tfjs's engine.gradients (used by tf.grads, tf.variableGrads, optimisers) once per process. */
export function installFrugalGradients(): void {
  if (installed) return;
  installed = true;
  const eng = tf.engine() as unknown as EngineInternals;
  const original = eng.gradients.bind(eng);
  tfjsGradients = original;
  eng.gradients = function <T extends tf.Tensor>(f: () => T, xs: tf.Tensor[], dy?: T, allowNoGradients = false) {
    // Nested gradients: the outer tape records this backward pass and needs its tensors.
    if (eng.state.gradientDepth > 0) return original(f, xs, dy, allowNoGradients);
    if (xs.length === 0) throw new Error('gradients() received an empty list of xs.');
    if (dy != null && dy.dtype !== 'float32') throw new Error(`dy must have 'float32' dtype, but has '${dy.dtype}'`);
    const y = eng.scopedRun(() => eng.startTape(), () => eng.endTape(), () => eng.tidy('forward', f));
    return frugalBackward(eng, y, xs, dy, allowNoGradients);
  };
}

/** The backward half of the frugal engine.gradients, from the tape the forward pass left. */
function frugalBackward<T extends tf.Tensor>(eng: EngineInternals, y: T, xs: tf.Tensor[], dy: T | undefined, allowNoGradients: boolean): { value: T; grads: tf.Tensor[] } {
  if (!(y instanceof tf.Tensor)) throw new Error('The result y returned by f() must be a tensor.');
  const tape = eng.state.activeTape ?? [];
  const nodes = nodesFromXToY(tape, xs, y);
  if (!allowNoGradients && nodes.length === 0) {
    throw new Error('Cannot compute gradient of y=f(x) with respect to x. Make sure that the f you passed encloses all operations that lead from x to y.');
  }
  return eng.tidy('backward', () => {
    const grads = new Map<number, tf.Tensor>([[y.id, dy ?? tf.ones(y.shape)]]);
    const keep = new Set(xs.map((x) => x.id));
    if (dy != null) keep.add(y.id); // the caller's tensor: not ours to dispose
    try {
      backprop(grads, nodes, keep, eng);
    } finally {
      // Saved tensors of nodes off the x-to-y path, and any a gradient function handed back as a gradient.
      const results = new Set(grads.values());
      for (const node of tape) for (const t of node.saved ?? []) if (!results.has(t)) t.dispose();
      eng.state.activeTape = null;
    }
    return { value: y, grads: xs.map((x) => grads.get(x.id)!) };
  });
}

/**
 * tf.variableGrads with a forward pass that may await, so it can read tensors in the middle of the
 * step (ARES's feature pool, VOS's class queues) on a backend that reads only asynchronously
 * (webgpu in Node). The tape and the forward scope stay open across the awaits: nothing else may
 * run tensor ops meanwhile, which holds for a training loop. Same nodes, same order, same
 * arithmetic as variableGrads: results are bit-identical to it.
 */
export async function variableGradsAsync(f: () => Promise<tf.Scalar>, vars: readonly tf.Variable[]): Promise<{ value: tf.Scalar; grads: Record<string, tf.Tensor> }> {
  const eng = tf.engine() as unknown as EngineInternals;
  if (eng.state.gradientDepth > 0) {
    // tfjs has one gradient tape per process: a second training awaited alongside the first would record into it.
    throw new AresError('two training steps ran at once in one process (tfjs has one gradient tape): await one train() before starting the next');
  }
  const xs = vars.filter((v) => v.trainable);
  let y: tf.Scalar | undefined;
  eng.startTape();
  eng.startScope('forward');
  try {
    y = await f();
  } catch (err) {
    for (const node of eng.state.activeTape ?? []) for (const t of node.saved ?? []) t.dispose();
    eng.state.activeTape = null;
    throw err;
  } finally {
    eng.endScope(y);
    eng.endTape();
  }
  if (y.rank !== 0) throw new Error(`variableGradsAsync: f() must return a scalar, got rank ${y.rank}`);
  const { value, grads } = frugalBackward(eng, y, xs, undefined, true);
  const named: Record<string, tf.Tensor> = {};
  xs.forEach((v, i) => { if (grads[i] != null) named[v.name] = grads[i]; });
  return { value, grads: named };
}
