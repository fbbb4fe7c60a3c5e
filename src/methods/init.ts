/**
 * `ares train --init model.json [--freeze LAYER]`: start from saved weights of the same architecture
 * (a run folder's model/, or any tfjs layers model built the same way) and keep the layers up to and
 * including LAYER fixed, so ARES's stages run on a pretrained backbone.
 *
 * Layers are paired by position, not by name: tfjs numbers auto-generated layer names per process,
 * so the same network gets other names each time it is built. Pairing checks every layer's class and
 * weight shapes. Frozen layers are left out of the optimiser's variables (so of the weight decay
 * too), and their batch norm runs in inference mode, so its moving statistics stay as loaded.
 */
import type * as tf from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { AresError } from '../errors.js';
import type { Classifier } from '../models/types.js';
import { loadLayersModelFromDir, readModelJsonText } from '../run/model-io.js';
import { parseModelJsonText } from '../export/model-json.js';

interface TopologyLayer { class_name?: string; name?: string; config?: { name?: string } }

/** Layer names of a model.json, in the model's layer order, read from its topology alone. */
export function initLayerNames(file: string): string[] {
  if (!existsSync(file)) throw new AresError('--init: model file not found', { file, exitCode: 2 });
  const m = parseModelJsonText(readModelJsonText(file), file) as { modelTopology?: { config?: unknown; model_config?: { config?: unknown } } } | null;
  const top = m?.modelTopology;
  const cfg = (top?.model_config?.config ?? top?.config) as { layers?: TopologyLayer[] } | TopologyLayer[] | undefined;
  const layers = Array.isArray(cfg) ? cfg : cfg?.layers;
  if (!Array.isArray(layers)) throw new AresError('--init: not a tfjs layers model (no modelTopology layers)', { file, exitCode: 2 });
  return layers.map((l: TopologyLayer | null, i) => {
    const name = l?.name ?? l?.config?.name;
    return typeof name === 'string' ? name : `layer ${i}`;
  });
}

/** The layers `--freeze name` keeps fixed: every layer up to and including it. */
export function frozenLayerNames(file: string, freeze: string): string[] {
  const names = initLayerNames(file);
  const i = names.indexOf(freeze);
  if (i < 0) throw new AresError(`--freeze: no layer named "${freeze}" in the --init model; its layers in order: ${names.join(', ')}`, { file, exitCode: 2 });
  return names.slice(0, i + 1);
}

type LayerLike = { name: string; getClassName(): string; weights: tf.LayerVariable[] };
const layersOf = (m: tf.LayersModel) => m.layers as unknown as LayerLike[];
const valOf = (w: tf.LayerVariable) => (w as unknown as { val: tf.Variable }).val;

/**
 * Copies the weights of the model.json at `file` into `model` (same architecture, paired by layer
 * position) and freezes its first `frozenCount` layers. Returns the variables that stay fixed.
 */
export async function applyInit(model: Classifier, file: string, frozenCount: number): Promise<Set<tf.Variable>> {
  const saved = await loadLayersModelFromDir(dirname(file));
  try {
    const src = layersOf(saved);
    const dst = layersOf(model.layersModel);
    const describe = (ls: LayerLike[]) => ls.map((l) => l.getClassName()).join(', ');
    if (src.length !== dst.length) {
      throw new AresError(`--init: incompatible weights: the model has ${src.length} layers, --model ${model.name} has ${dst.length} (${describe(src)} vs ${describe(dst)})`, { file, exitCode: 2 });
    }
    src.forEach((s, i) => {
      const d = dst[i];
      const shapes = (l: LayerLike) => l.weights.map((w) => `[${w.shape.join(',')}]`).join(' ');
      if (s.getClassName() !== d.getClassName() || shapes(s) !== shapes(d)) {
        throw new AresError(`--init: incompatible weights at layer ${i} "${s.name}": ${s.getClassName()} ${shapes(s)} where --model ${model.name} has ${d.getClassName()} ${shapes(d)}`, { file, exitCode: 2 });
      }
    });
    src.forEach((s, i) => dst[i].weights.forEach((w, j) => valOf(w).assign(valOf(s.weights[j]))));
    const frozen = new Set<tf.Variable>();
    for (const layer of dst.slice(0, frozenCount)) {
      for (const w of layer.weights) frozen.add(valOf(w));
      if (layer.getClassName() === 'BatchNormalization') inferenceOnly(layer);
    }
    return frozen;
  } finally {
    saved.dispose();
  }
}

/** A frozen batch norm normalises with its loaded statistics and never updates them. */
function inferenceOnly(layer: LayerLike): void {
  const l = layer as unknown as { call(inputs: unknown, kwargs: Record<string, unknown>): unknown };
  const call = l.call;
  l.call = function (this: unknown, inputs, kwargs) { return call.call(this, inputs, { ...kwargs, training: false }); };
}
