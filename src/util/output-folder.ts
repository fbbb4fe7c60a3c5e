/**
 * Output folders the tool owns. Every folder ares-ood writes (a run folder, an exported bundle, a
 * benchmark results folder, the demo's folder) holds a marker file, `.ares-ood.json`:
 * `{"tool": "ares-ood", "kind": "run" | "bundle" | "benchmark" | "demo", "version": 1, ...}`.
 * A command writes only into a folder that is missing, empty, or marked with its own kind — never
 * into a folder that merely holds familiar file names (config.json, ares.json), which may be anybody's.
 *
 * Folders written before the marker existed are recognised by a strict check of their layout that
 * each kind supplies (`legacy`): every entry must be a name that kind writes and its key files must
 * parse as the tool's. Anything else is refused with a message; the refusal never touches a file.
 */
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { AresError } from '../errors.js';
import { checkOutputDirPath, withFsErrors, writeJsonAtomic } from './fs.js';
import { pidAlive } from './lock.js';

export const MARKER_FILE = '.ares-ood.json';
export const MARKER_VERSION = 1;

export type FolderKind = 'run' | 'bundle' | 'benchmark' | 'demo';

const KIND_NAMES: Record<FolderKind, string> = {
  run: 'a run folder', bundle: 'an exported bundle', benchmark: 'a benchmark results folder', demo: 'a demo folder',
};

export interface FolderMarker {
  tool: 'ares-ood';
  kind: FolderKind;
  version: number;
  /** Bundles: the files the export wrote (the only ones a later export may replace). */
  files?: string[];
  /** Runs: the scores training was asked to evaluate, so a resumed run evaluates the same ones. */
  scores?: string[];
}

/** The folder's marker, or null when it has none (or one that is not ours). */
export function readMarker(dir: string): FolderMarker | null {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(join(dir, MARKER_FILE), 'utf8'));
  } catch {
    return null;
  }
  const m = raw as FolderMarker;
  if (!m || typeof m !== 'object' || m.tool !== 'ares-ood' || !(m.kind in KIND_NAMES)) return null;
  return m;
}

/** Marks `dir` as the tool's output of `kind`, keeping what an earlier marker of that kind recorded. */
export function writeMarker(dir: string, kind: FolderKind, extra: Omit<Partial<FolderMarker>, 'tool' | 'kind' | 'version'> = {}): void {
  const old = readMarker(dir);
  const { tool: _t, kind: _k, version: _v, ...kept } = old?.kind === kind ? old : ({} as Partial<FolderMarker>);
  writeJsonAtomic(join(dir, MARKER_FILE), { tool: 'ares-ood', kind, version: MARKER_VERSION, ...kept, ...extra });
}

/** A name written by writeFileAtomic or replaceDirAtomic while they work: `.<name>.<pid>.<stamp>.tmp|old`. */
const TEMP_NAME = /^\..+\.(\d+)\.\d+\.(tmp|old)$/;

/** Entries the tool itself may leave in any folder it works in: the marker, lock files, temp files. */
export function isToolEntry(name: string): boolean {
  return name === MARKER_FILE || name === '.ares.lock' || name === '.ares.lock.break' || TEMP_NAME.test(name);
}

export interface ClaimOptions {
  /** The flag that named the folder, for messages (default --out). */
  flag?: string;
  /** Recognises a folder of this kind written before markers existed (see the file comment). */
  legacy?: (dir: string, entries: string[]) => boolean;
}

export type ClaimResult = 'missing' | 'empty' | 'own' | 'legacy';

/**
 * Checks that the tool may write its `kind` of output into `dir`, or throws an AresError naming the
 * folder, why not, and what to do. Call it before any work, and write the marker once writing begins.
 */
export function claimOutputFolder(dir: string, kind: FolderKind, opts: ClaimOptions = {}): ClaimResult {
  const flag = opts.flag ?? '--out';
  checkOutputDirPath(dir, flag);
  if (!existsSync(dir)) return 'missing';
  const marker = readMarker(dir);
  if (marker) {
    if (marker.kind === kind) return 'own';
    throw new AresError(`${flag} holds ${KIND_NAMES[marker.kind]} written by ares-ood, not ${KIND_NAMES[kind]}; choose a new or empty folder`,
      { file: dir, exitCode: 2 });
  }
  const entries = withFsErrors(dir, () => readdirSync(dir), 'cannot read the folder').filter((n) => !isToolEntry(n));
  if (entries.length === 0) return 'empty';
  if (opts.legacy?.(dir, entries)) return 'legacy';
  const shown = entries.slice(0, 3).join(', ') + (entries.length > 3 ? `, … (${entries.length} entries)` : '');
  throw new AresError(`${flag} is not empty and is not ${KIND_NAMES[kind]} written by ares-ood (it holds ${shown} and no ${MARKER_FILE}); `
    + 'nothing was written, so none of its files is overwritten or deleted: choose a new or empty folder', { file: dir, exitCode: 2 });
}

/** Whether `path` is a folder (false when missing or unreadable). */
export function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** A JSON file's value, or undefined when it is missing or does not parse (legacy checks). */
export function tryReadJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Removes temp files and folders that writeFileAtomic / replaceDirAtomic left in `dir` when their
 * process was killed (its pid is gone). Only the tool's own temp names are touched. Call it while
 * holding the folder's lock, so no live writer of this folder is using them.
 */
export function removeLeftoverTemps(dir: string): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    const m = TEMP_NAME.exec(name);
    if (!m || Number(m[1]) === process.pid || pidAlive(Number(m[1]))) continue;
    rmSync(join(dir, name), { recursive: true, force: true });
    removed.push(join(dir, name));
  }
  return removed;
}
