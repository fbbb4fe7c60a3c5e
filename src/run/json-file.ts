import { readFileSync } from 'node:fs';
import { AresError } from '../errors.js';
import { parseJsonText } from '../util/json-text.js';

/** Reads and parses a JSON file; a missing or malformed file is an AresError naming it. */
export function readJsonFile(path: string, what = 'file'): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new AresError(code === 'ENOENT' ? `missing ${what}` : `cannot read ${what}: ${(err as Error).message}`, { file: path });
  }
  return parseJsonText(text, path, `corrupt ${what}: `);
}

export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
/** JSON has no NaN/Infinity; a metric that is null in the file reads as NaN. */
export const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
export const isNumOrNull = (v: unknown): v is number | null => v === null || isNum(v);
