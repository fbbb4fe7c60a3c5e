/**
 * Reading a user's file with bounded resources. Every file the tool reads on a user's behalf (data,
 * model.json, weight shards, name lists) goes through here, so a hostile path cannot hang or exhaust
 * the process: a FIFO would block a plain read forever, a link to /dev/zero would read until memory
 * runs out, a dangling link would surface as a bare ENOENT. Only regular files are read, and only up
 * to a size the caller states.
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, readSync, type Stats } from 'node:fs';
import { lstat, open, type FileHandle } from 'node:fs/promises';
import { AresError } from '../errors.js';

export interface ReadLimits {
  /** Refuse files larger than this many bytes (checked on the open file, before reading). */
  maxBytes: number;
  /** What the file is, for messages ("weight shard", "data file"). */
  what: string;
}

/** Bytes as people read them: "512 bytes", "12.0 KiB", "3.5 GiB". */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} bytes`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return `${v.toFixed(1)} ${units[u]}`;
}

/** Why `st` is not a regular file, in words ("a FIFO (named pipe)"), or null when it is one. */
export function notRegularReason(st: Stats): string | null {
  if (st.isFile()) return null;
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a plain file';
}

/** The words for an open/stat failure; tells a dangling symbolic link from a missing file. */
function openFailure(path: string, err: unknown, what: string, linkIsDangling: boolean): AresError {
  const code = (err as NodeJS.ErrnoException)?.code;
  const message = code === 'ENOENT' && linkIsDangling ? `cannot read ${what}: it is a dangling symbolic link (its target does not exist)`
    : code === 'ENOENT' ? `missing ${what}`
      : code === 'ELOOP' ? `cannot read ${what}: symbolic link loop`
        : code === 'EACCES' || code === 'EPERM' ? `cannot read ${what}: permission denied`
          : code === 'EISDIR' ? `cannot read ${what}: it is a folder, not a file`
            : `cannot read ${what}: ${(err as Error)?.message ?? String(err)}`;
  return new AresError(message, { file: path, cause: err });
}

function isSymlinkSync(path: string): boolean {
  try { return lstatSync(path).isSymbolicLink(); } catch { return false; }
}

async function isSymlink(path: string): Promise<boolean> {
  try { return (await lstat(path)).isSymbolicLink(); } catch { return false; }
}

function checkOpened(path: string, st: Stats, limits: ReadLimits): void {
  const notRegular = notRegularReason(st);
  if (notRegular) throw new AresError(`cannot read ${limits.what}: it is ${notRegular}, not a regular file`, { file: path });
  if (st.size > limits.maxBytes) {
    throw new AresError(`${limits.what} is ${formatBytes(st.size)}, more than the ${formatBytes(limits.maxBytes)} allowed`, { file: path });
  }
}

// O_NONBLOCK: opening a FIFO for reading would otherwise block until a writer appears; on a regular
// file it changes nothing. The type is then checked on the open descriptor (no stat/open race).
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK;

/** Opens a regular file of at most `maxBytes`; the caller closes the handle. */
export async function openRegularFile(path: string, limits: ReadLimits): Promise<{ fh: FileHandle; size: number }> {
  let fh: FileHandle;
  try {
    fh = await open(path, OPEN_FLAGS);
  } catch (err) {
    throw openFailure(path, err, limits.what, await isSymlink(path));
  }
  try {
    const st = await fh.stat();
    checkOpened(path, st, limits);
    return { fh, size: st.size };
  } catch (err) {
    await fh.close();
    throw err;
  }
}

/** The first `size` bytes of an opened file (fewer if it is shorter by the time it is read). */
export async function readOpened(fh: FileHandle, size: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(size);
  let at = 0;
  while (at < size) {
    const { bytesRead } = await fh.read(buf, at, size - at, at);
    if (bytesRead === 0) break;
    at += bytesRead;
  }
  return at === size ? buf : buf.subarray(0, at);
}

/** Reads a whole regular file of at most `maxBytes` (AresError naming the file otherwise). */
export async function readRegularFile(path: string, limits: ReadLimits): Promise<Buffer> {
  const { fh, size } = await openRegularFile(path, limits);
  try {
    return await readOpened(fh, size);
  } catch (err) {
    throw openFailure(path, err, limits.what, false);
  } finally {
    await fh.close();
  }
}

/** Synchronous readRegularFile, for the synchronous readers (model folders). */
export function readRegularFileSync(path: string, limits: ReadLimits): Buffer {
  let fd: number;
  try {
    fd = openSync(path, OPEN_FLAGS);
  } catch (err) {
    throw openFailure(path, err, limits.what, isSymlinkSync(path));
  }
  try {
    const st = fstatSync(fd);
    checkOpened(path, st, limits);
    const buf = Buffer.allocUnsafe(st.size);
    let at = 0;
    while (at < st.size) {
      const n = readSync(fd, buf, at, st.size - at, at);
      if (n === 0) break;
      at += n;
    }
    return at === st.size ? buf : buf.subarray(0, at);
  } finally {
    closeSync(fd);
  }
}

/** Reads a regular text file (UTF-8) of at most `maxBytes`. */
export async function readRegularText(path: string, limits: ReadLimits): Promise<string> {
  return (await readRegularFile(path, limits)).toString('utf8');
}
