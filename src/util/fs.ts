import { mkdirSync, renameSync, statSync, writeFileSync, rmSync } from 'node:fs';
import { dirname, join, basename, resolve } from 'node:path';
import { AresError } from '../errors.js';

/**
 * What a file-system error code means for the user, in words. These are the failures a user causes
 * (a path that is a file, a read-only disk, a full disk, missing rights), so they become one-line
 * AresErrors naming the path instead of stack traces.
 */
const FS_CAUSES: Record<string, string> = {
  EEXIST: 'already exists',
  ENOTDIR: 'a part of this path is a file, not a folder',
  EISDIR: 'is a folder, expected a file',
  EPERM: 'operation not permitted',
  EACCES: 'permission denied',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'the file system is read-only',
  ENOENT: 'no such file or folder',
  ENAMETOOLONG: 'the name is too long',
  ENOTEMPTY: 'the folder is not empty',
  EBUSY: 'the file or folder is busy',
  EMFILE: 'too many open files',
  ELOOP: 'too many levels of symbolic links',
};

/** The error code of a Node file-system error when it is one a user's path or disk can cause. */
export function userFsErrorCode(err: unknown): string | null {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' && code in FS_CAUSES ? code : null;
}

/**
 * A file-system error as an AresError naming `path` (or the path Node reports) and the cause;
 * anything else (a bug, an AresError already) is returned unchanged.
 */
export function fsError(err: unknown, path?: string, action = 'cannot write'): unknown {
  const code = userFsErrorCode(err);
  if (!code || err instanceof AresError) return err;
  const e = err as NodeJS.ErrnoException;
  const where = path ?? e.path ?? '(unknown path)';
  // Node names the exact file that failed; say it when it is not the path the user gave.
  const detail = path && e.path && resolve(e.path) !== resolve(path) ? ` (at ${e.path})` : '';
  // mkdir -p through an existing file reports EEXIST: what the user needs to hear is "that is a file".
  const cause = code === 'EEXIST' && e.syscall === 'mkdir' ? FS_CAUSES.ENOTDIR : FS_CAUSES[code];
  // The path leads the message (AresError adds it only when the message lacks it, and `detail` may hold it).
  return new AresError(`${where}: ${action}: ${cause}${detail} [${code}]`, { file: where, cause: err });
}

/** Runs `fn`, turning file-system errors into AresErrors that name `path` (see fsError). */
export function withFsErrors<T>(path: string, fn: () => T, action?: string): T {
  try {
    return fn();
  } catch (err) {
    throw fsError(err, path, action);
  }
}

/** Like withFsErrors, for async work. */
export async function withFsErrorsAsync<T>(path: string, fn: () => Promise<T>, action?: string): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw fsError(err, path, action);
  }
}

/**
 * Checks that `dir` can be an output folder before any work is done: it is a folder or does not
 * exist, and no existing part of its path is a file. (Rights and free space show only on writing.)
 */
export function checkOutputDirPath(dir: string, flag = '--out'): void {
  let p = resolve(dir);
  for (;;) {
    let isDir: boolean;
    try {
      isDir = statSync(p).isDirectory();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        const up = dirname(p);
        if (up === p) return;
        p = up;
        continue;
      }
      throw fsError(err, dir, `${flag} cannot be used`);
    }
    if (isDir) return;
    throw new AresError(p === resolve(dir)
      ? `${flag} must be a folder, but this is a file${flag === '--out' ? '; choose a new or empty folder' : ''}`
      : `${flag} cannot be created: ${p} is a file, not a folder; choose another path`, { file: dir, exitCode: 2 });
  }
}

/**
 * Writes a file so that readers see either the old content or the new, never a half-written file:
 * write a temp file next to the target, then rename (atomic on one filesystem). File-system
 * failures (a read-only disk, a full disk, a file where a folder should be) are AresErrors naming the file.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (err) {
    try { rmSync(tmp, { force: true }); } catch { /* its folder could not be made either */ }
    throw fsError(err, path);
  }
}

export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n');
}
