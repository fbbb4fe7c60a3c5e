/**
 * Which ID class is which model output. A model knows its classes only by position; the names come
 * from Teachable Machine's metadata.json when there is one. The ID source's classes are matched to
 * the outputs by name when the model has names (unless asked to match by index), else by index.
 */
import { AresError } from '../errors.js';

export type MatchBy = 'name' | 'index';

export interface ClassMatch {
  by: MatchBy;
  /** order[k] = the source class (index into the source's class list) that model output k means. */
  order: number[];
  /** Names of the model's outputs, in output order. */
  classNames: string[];
}

const norm = (s: string) => s.trim().toLowerCase();

export function matchClasses(sourceNames: string[], numOutputs: number, modelLabels: string[] | null, by: MatchBy | undefined, where: string): ClassMatch {
  if (modelLabels && modelLabels.length !== numOutputs) {
    throw new AresError(`metadata.json lists ${modelLabels.length} labels but the model has ${numOutputs} outputs`, { file: where, exitCode: 2 });
  }
  if (sourceNames.length !== numOutputs) {
    throw new AresError(`the ID data has ${sourceNames.length} classes (${sourceNames.join(', ')}) but the model has ${numOutputs} outputs; `
      + 'select the model\'s classes with --id-classes', { exitCode: 2 });
  }
  const method: MatchBy = by ?? (modelLabels ? 'name' : 'index');
  if (method === 'index') {
    return { by: 'index', order: sourceNames.map((_, i) => i), classNames: modelLabels ? [...modelLabels] : [...sourceNames] };
  }
  if (!modelLabels) throw new AresError('--match name needs class names for the model\'s outputs (metadata.json "labels"); none found', { file: where, exitCode: 2 });
  const order = modelLabels.map((label) => {
    let i = sourceNames.indexOf(label);
    if (i < 0) {
      const hits = sourceNames.map((s, j) => (norm(s) === norm(label) ? j : -1)).filter((j) => j >= 0);
      i = hits.length === 1 ? hits[0] : -1;
    }
    return i;
  });
  const missing = modelLabels.filter((_, k) => order[k] < 0);
  if (missing.length > 0 || new Set(order).size !== order.length) {
    throw new AresError(`the model's labels (${modelLabels.join(', ')}) do not match the ID classes (${sourceNames.join(', ')})`
      + `${missing.length ? `: no ID class named ${missing.map((m) => `"${m}"`).join(', ')}` : ''}; rename the class folders, or pass --match index to pair them by position`, { exitCode: 2 });
  }
  return { by: 'name', order, classNames: [...modelLabels] };
}
