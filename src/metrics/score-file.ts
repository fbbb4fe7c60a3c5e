import { readFileSync } from 'node:fs';
import { AresError } from '../errors.js';

// A plain decimal number (optionally signed, with exponent) or an infinity. Deliberately narrower
// than Number(): Number('') is 0 and Number('0x1f') is 31, neither of which is a score.
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const INFINITY = /^[+-]?(inf|infinity)$/i;

/** Parses one field as a score, or returns null when it is not a number. NaN is never accepted. */
function parseScore(field: string): number | null {
  const s = field.trim();
  if (NUMBER.test(s)) return Number(s);
  if (INFINITY.test(s)) return s.startsWith('-') ? -Infinity : Infinity;
  return null;
}

/** A header field: starts like a name, and is not a number, an infinity or NaN. */
function isColumnName(field: string): boolean {
  return /^[A-Za-z_]/.test(field) && parseScore(field) === null && !/^nan$/i.test(field);
}

function splitFields(line: string, delimiter: string): string[] {
  return line.split(delimiter).map((f) => f.trim().replace(/^"(.*)"$/, '$1').trim());
}

/**
 * Reads scores from text: one number per line, or CSV with a header naming one column or a column
 * called `score` (comma, tab or semicolon separated). Blank lines are skipped. Every problem (missing
 * file, no scores, a field that is not a number, NaN) is an AresError naming the file and the line.
 */
export function parseScores(text: string, file: string): Float64Array {
  const lines = text.split(/\r?\n/);
  const first = lines.findIndex((l) => l.trim() !== '');
  if (first < 0) throw new AresError('no scores (the file is empty)', { file });
  const header = lines[first];
  const delimiter = [',', '\t', ';'].find((d) => header.includes(d)) ?? ',';
  const headerFields = splitFields(header, delimiter);
  let column = 0;
  let start = first;
  if (headerFields.every(isColumnName)) {
    if (headerFields.length > 1) {
      column = headerFields.findIndex((f) => f.toLowerCase() === 'score');
      if (column < 0) {
        throw new AresError(`line ${first + 1}: no column named "score" among ${headerFields.map((f) => `"${f}"`).join(', ')}`, { file });
      }
    }
    start = first + 1;
  } else if (headerFields.length > 1) {
    throw new AresError(`line ${first + 1}: ${headerFields.length} columns and no header; add a header line with a column named "score"`, { file });
  }
  const scores: number[] = [];
  for (let i = start; i < lines.length; i++) {
    if (lines[i].trim() === '') continue;
    const fields = splitFields(lines[i], delimiter);
    if (fields.length !== headerFields.length) {
      throw new AresError(`line ${i + 1}: ${fields.length} fields where the header has ${headerFields.length}`, { file });
    }
    const v = parseScore(fields[column]);
    if (v === null) {
      const what = /^nan$/i.test(fields[column]) ? 'NaN is not a score' : `"${fields[column]}" is not a number`;
      throw new AresError(`line ${i + 1}: ${what}`, { file });
    }
    scores.push(v);
  }
  if (scores.length === 0) throw new AresError('no scores (only a header)', { file });
  return Float64Array.from(scores);
}

/** Reads a score file (see parseScores for the format). */
export function readScoreFile(file: string): Float64Array {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (err as Error).message;
    throw new AresError(`cannot read score file: ${why}`, { file, cause: err });
  }
  return parseScores(text, file);
}
