import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Every test's temporary files (os.tmpdir(), here and in the CLI processes tests spawn) go into one
 * folder of this run, removed when the run ends: many tests make temp folders and not all of them
 * can clean up after a failure, so without this each run left hundreds of folders in /tmp.
 */
export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'ares-test-run-'));
  process.env.TMPDIR = dir;
  return () => { rmSync(dir, { recursive: true, force: true }); };
}
