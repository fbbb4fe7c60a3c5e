/**
 * Datasets of a benchmark config given under one data root: a config writes `$DATA/<folder>` and
 * `ares benchmark --data-root DIR` fills it in. Every dataset of every cell is checked before any
 * cell trains, so a missing folder is reported at the start (all of them at once), not hours in.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { AresError } from '../errors.js';
import { BUILTIN_SOURCES } from '../data/sources.js';
import { isGeneratedKind } from '../data/generated.js';
import type { TrainConfig } from '../methods/config.js';

export const DATA_ROOT_VAR = '$DATA';

type Sources = Pick<Partial<TrainConfig>, 'id' | 'ood' | 'valOod'>;

/** Every data source spec a config part names (ID, test OOD, validation OOD). */
export function sourcesOf(p: Sources): string[] {
  return [p.id, ...(p.ood ?? []), p.valOod].filter((s): s is string => typeof s === 'string' && s.length > 0);
}

export function usesDataRoot(parts: Sources[]): boolean {
  return parts.some((p) => sourcesOf(p).some((s) => s.includes(DATA_ROOT_VAR)));
}

/** `$DATA/...` → `<root>/...` in id, ood and valOod. */
export function withDataRoot<T extends Sources>(p: T, root: string): T {
  const fill = (s: string) => s.split(DATA_ROOT_VAR).join(root.replace(/\/+$/, ''));
  const out = { ...p };
  if (typeof p.id === 'string') out.id = fill(p.id);
  if (Array.isArray(p.ood)) out.ood = p.ood.map(fill);
  if (typeof p.valOod === 'string') out.valOod = fill(p.valOod);
  return out;
}

/** A spec names a path (not a built-in or generated source); the ":train"/":test" suffix is not part of it. */
function pathOf(spec: string): string | null {
  const base = existsSync(spec) ? spec : spec.replace(/:(train|test)$/, '');
  if ((BUILTIN_SOURCES as readonly string[]).includes(base) || isGeneratedKind(base)) return null;
  return base;
}

/** Throws one error listing every dataset path that does not exist. */
export function checkDatasetsExist(parts: Sources[], file: string): void {
  const missing = [...new Set(parts.flatMap(sourcesOf).map(pathOf).filter((p): p is string => p !== null && !existsSync(p)))];
  if (missing.length === 0) return;
  throw new AresError(`${missing.length} dataset folder(s) missing, nothing was trained:\n${missing.map((m) => `  - ${resolve(m)}`).join('\n')}`, { file });
}
