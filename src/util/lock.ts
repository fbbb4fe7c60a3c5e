/**
 * An exclusive claim on a folder (a run folder, a benchmark cell) shared by processes and machines.
 *
 * The claim is a file created with O_EXCL (`openSync(path, 'wx')`), which exactly one process wins,
 * also on NFS v3+ and other shared filesystems that honour exclusive create. It holds who owns it
 * (pid, host, process start time, a random token). A claim is stale — and may be taken over — when
 * - its owner was on this host and that process is gone (pid not alive, or alive but a different
 *   process that reused the pid: its start time differs), or
 * - its owner was on another host (whose processes cannot be seen from here) and the file's mtime,
 *   which the owner refreshes (`heartbeat`) while it works, is older than the stale timeout
 *   (ARES_LOCK_STALE_S, default 3600 s). A process killed on another machine therefore blocks its
 *   claim for at most that long; a live owner whose event loop is blocked longer than that between
 *   heartbeats would lose its claim, so the timeout must exceed the longest gap between heartbeats.
 *
 * Hosts are told apart by os.hostname(), so machines sharing a folder need distinct host names.
 *
 * Taking over a stale claim is itself guarded by a short-lived "breaker" file (also O_EXCL), so two
 * processes that both find the same stale claim cannot both delete it and then each create a new one.
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, statSync, utimesSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fsError, withFsErrors } from './fs.js';

export interface LockOwner {
  pid: number;
  host: string;
  /** ISO time the claim was made. */
  since: string;
  /** Kernel start time of the owning process (Linux /proc), to tell a reused pid apart; null elsewhere. */
  procStart: string | null;
  token: string;
  /** What holds it, for messages (e.g. "ares train"). */
  purpose: string;
}

export interface Lock {
  path: string;
  owner: LockOwner;
  /** Refreshes the file's mtime (throttled to once per `HEARTBEAT_MS`), so other hosts see the owner working. */
  heartbeat(): void;
  /** Gives the claim up; a no-op when it was already released or taken over. */
  release(): void;
}

export type TryLock = { ok: true; lock: Lock; tookOverStale: LockOwner | null } | { ok: false; holder: LockOwner | null };

const HEARTBEAT_MS = 30_000;
/** A breaker file older than this belongs to a process that died while taking a claim over. */
const BREAKER_STALE_MS = 60_000;

export function staleAfterMs(): number {
  const s = Number(process.env.ARES_LOCK_STALE_S);
  return Number.isFinite(s) && s > 0 ? s * 1000 : 3600_000;
}

/** Fields 3… of /proc/<pid>/stat (state, ppid, …), or null where there is no /proc. */
function procStat(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses; fields after the last ')' are fixed.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** The kernel start time of a process (field 22 of /proc/<pid>/stat), or null where there is no /proc. */
const procStartOf = (pid: number): string | null => procStat(pid)?.[19] ?? null;

/** Whether process `pid` on this host is running (a zombie counts as gone). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: the process exists but belongs to another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A killed process whose parent has not reaped it yet is a zombie: it will never release its claim.
  return procStat(pid)?.[0] !== 'Z';
}

export function readOwner(path: string): LockOwner | null {
  try {
    const o = JSON.parse(readFileSync(path, 'utf8')) as LockOwner;
    return typeof o?.pid === 'number' && typeof o.host === 'string' ? o : null;
  } catch {
    // Missing, or caught between create and write (a few microseconds): treated as held, not stale.
    return null;
  }
}

/** Whether a claim can be taken over (see the file comment). */
export function isStale(path: string, owner: LockOwner | null, now = Date.now()): boolean {
  if (owner && owner.host === hostname()) {
    if (!pidAlive(owner.pid)) return true;
    const start = procStartOf(owner.pid);
    return owner.procStart !== null && start !== null && start !== owner.procStart;
  }
  try {
    return now - statSync(path).mtimeMs > staleAfterMs();
  } catch {
    return false;
  }
}

function createExclusive(path: string, content: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    // A read-only or full disk, or a file where the folder should be: name the folder, not a stack.
    throw fsError(err, dirname(path), 'cannot create the lock file');
  }
  try {
    writeSync(fd, content);
  } finally {
    closeSync(fd);
  }
  return true;
}

/** Removes the claim at `path` if it is still the stale one we saw (same token), under the breaker. */
function breakStale(path: string, seen: LockOwner | null): boolean {
  const breaker = `${path}.break`;
  if (!createExclusive(breaker, String(process.pid))) {
    try {
      if (Date.now() - statSync(breaker).mtimeMs > BREAKER_STALE_MS) rmSync(breaker, { force: true });
    } catch { /* gone already */ }
    return false;
  }
  try {
    const now = readOwner(path);
    if ((now?.token ?? null) !== (seen?.token ?? null) || !isStale(path, now)) return false;
    rmSync(path, { force: true });
    return true;
  } finally {
    rmSync(breaker, { force: true });
  }
}

export function tryLock(path: string, purpose: string): TryLock {
  withFsErrors(dirname(path), () => mkdirSync(dirname(path), { recursive: true }), 'cannot create the folder');
  const owner: LockOwner = {
    pid: process.pid, host: hostname(), since: new Date().toISOString(), procStart: procStartOf(process.pid),
    token: randomBytes(8).toString('hex'), purpose,
  };
  let tookOverStale: LockOwner | null = null;
  // Two rounds: the second after removing a stale claim (another process may win that race).
  for (let round = 0; round < 2; round++) {
    if (createExclusive(path, JSON.stringify(owner) + '\n')) return { ok: true, lock: makeLock(path, owner), tookOverStale };
    const holder = readOwner(path);
    if (round === 1 || !isStale(path, holder) || !breakStale(path, holder)) return { ok: false, holder };
    tookOverStale = holder;
  }
  return { ok: false, holder: readOwner(path) };
}

function makeLock(path: string, owner: LockOwner): Lock {
  let last = Date.now();
  let released = false;
  const timer = setInterval(() => lock.heartbeat(), HEARTBEAT_MS);
  timer.unref();
  const ours = () => readOwner(path)?.token === owner.token;
  const lock: Lock = {
    path, owner,
    heartbeat() {
      if (released || Date.now() - last < HEARTBEAT_MS) return;
      last = Date.now();
      try {
        const t = new Date();
        utimesSync(path, t, t);
      } catch { /* removed by a takeover; release() will notice */ }
    },
    release() {
      if (released) return;
      released = true;
      clearInterval(timer);
      if (ours()) rmSync(path, { force: true });
    },
  };
  return lock;
}

export function describeOwner(o: LockOwner | null): string {
  if (!o) return 'another process (the claim is being written)';
  return `pid ${o.pid} on ${o.host}, ${o.purpose}, since ${o.since}`;
}
