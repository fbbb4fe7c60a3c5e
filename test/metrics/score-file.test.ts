import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseScores, readScoreFile } from '../../src/metrics/index.js';
import { AresError } from '../../src/errors.js';

const parse = (text: string) => Array.from(parseScores(text, 'f.txt'));

describe('score files', () => {
  it('one number per line, blank lines and CRLF tolerated', () => {
    expect(parse('1\n-2.5\r\n\n3e-2\n+4\n.5\ninf\n-Infinity\n')).toEqual([1, -2.5, 0.03, 4, 0.5, Infinity, -Infinity]);
  });
  it('CSV with a one-column header, or a column named score among several', () => {
    expect(parse('energy\n1\n2\n')).toEqual([1, 2]);
    expect(parse('id,label,Score\n0,3,0.25\n1,4,"0.75"\n')).toEqual([0.25, 0.75]);
    expect(parse('name\tscore\na\t1\nb\t2\n')).toEqual([1, 2]);
  });
  it('errors name the file and the line', () => {
    const bad = (text: string, msg: RegExp) => {
      expect(() => parseScores(text, 'f.txt')).toThrow(AresError);
      expect(() => parseScores(text, 'f.txt')).toThrow(msg);
    };
    bad('', /^f\.txt: no scores \(the file is empty\)/);
    bad('score\n', /f\.txt: no scores \(only a header\)/);
    bad('1\n2\nNaN\n', /f\.txt: line 3: NaN is not a score/);
    bad('1\n\n2x\n', /f\.txt: line 3: "2x" is not a number/);
  });
  it('rejects what Number() would wrongly accept, and ambiguous CSV', () => {
    expect(() => parse('0x10\n')).toThrow(/line 1: "0x10" is not a number/);
    expect(() => parse('1\n \n2\n,\n')).toThrow(/line 4/);
    expect(() => parse('1,2\n3,4\n')).toThrow(/line 1: 2 columns and no header/);
    expect(() => parse('a,b\n1,2\n')).toThrow(/no column named "score" among "a", "b"/);
    expect(() => parse('x,score\n1,2\n3\n')).toThrow(/line 3: 1 fields where the header has 2/);
    expect(() => parse('nan\n1\n')).toThrow(/line 1: NaN is not a score/);
  });
  it('readScoreFile: a missing file is an AresError naming it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ares-scores-'));
    const ok = join(dir, 'ok.txt');
    writeFileSync(ok, '0.5\n0.25\n');
    expect(Array.from(readScoreFile(ok))).toEqual([0.5, 0.25]);
    expect(() => readScoreFile(join(dir, 'missing.txt'))).toThrow(/missing\.txt: cannot read score file: no such file/);
    expect(() => readScoreFile(dir)).toThrow(/is a directory/);
  });
});
