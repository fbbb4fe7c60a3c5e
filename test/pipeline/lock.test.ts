import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isStale, readOwner, tryLock, type LockOwner } from '../../src/util/lock.js';

const fresh = () => join(mkdtempSync(join(tmpdir(), 'ares-lock-')), 'sub', '.ares.lock');
/** A pid that surely belongs to no running process: a child that has exited. */
const deadPid = () => spawnSync(process.execPath, ['-e', '0']).pid!;
const owner = (o: Partial<LockOwner>): LockOwner => ({ pid: process.pid, host: hostname(), since: new Date().toISOString(), procStart: null, token: 'x', purpose: 'test', ...o });

afterEach(() => { delete process.env.ARES_LOCK_STALE_S; });

describe('folder lock', () => {
  it('one claim at a time; released claims can be taken again', () => {
    const path = fresh();
    const a = tryLock(path, 'a');
    expect(a.ok).toBe(true);
    const b = tryLock(path, 'b');
    expect(b.ok).toBe(false);
    if (!b.ok) expect(b.holder?.pid).toBe(process.pid);
    if (a.ok) a.lock.release();
    expect(existsSync(path)).toBe(false);
    const c = tryLock(path, 'c');
    expect(c.ok).toBe(true);
    if (c.ok) c.lock.release();
  });

  it('takes over a claim whose process on this host is gone, and says whose it was', () => {
    const path = fresh();
    const first = tryLock(path, 'a');
    if (first.ok) first.lock.release();
    writeFileSync(path, JSON.stringify(owner({ pid: deadPid(), token: 'dead' })));
    const r = tryLock(path, 'b');
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.tookOverStale?.token).toBe('dead');
      expect(readOwner(path)?.token).toBe(r.lock.owner.token);
      r.lock.release();
    }
  });

  it.runIf(existsSync('/proc/self/stat'))('a killed process not yet reaped by its parent (a zombie) holds nothing', async () => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    const path = fresh();
    tryLock(path, 'x');
    expect(isStale(path, owner({ pid: child.pid! }))).toBe(false);
    // SIGKILL, then poll without yielding to the event loop: Node cannot reap the child meanwhile,
    // so it stays a zombie (state Z) whose pid still answers kill(pid, 0).
    child.kill('SIGKILL');
    const deadline = Date.now() + 3000;
    let stale = false;
    while (!stale && Date.now() < deadline) stale = isStale(path, owner({ pid: child.pid! }));
    expect(stale).toBe(true);
    expect(() => process.kill(child.pid!, 0)).not.toThrow();
    await new Promise((r) => child.on('exit', r));
  });

  it.runIf(existsSync('/proc/self/stat'))('a live pid that is another process (pid reused, start time differs) is stale; the same start time is not', () => {
    const path = fresh();
    tryLock(path, 'x');
    const mine = readFileSync(`/proc/${process.pid}/stat`, 'utf8');
    const start = mine.slice(mine.lastIndexOf(')') + 2).split(' ')[19];
    expect(isStale(path, owner({ procStart: start }))).toBe(false);
    expect(isStale(path, owner({ procStart: String(Number(start) + 1) }))).toBe(true);
  });

  it("another host's claim is stale only once its heartbeat (mtime) is older than ARES_LOCK_STALE_S", () => {
    const path = fresh();
    tryLock(path, 'x'); // creates the folder and a file to age
    const other = owner({ host: 'elsewhere.example', pid: 1 });
    process.env.ARES_LOCK_STALE_S = '60';
    expect(isStale(path, other)).toBe(false);
    const old = new Date(Date.now() - 120_000);
    utimesSync(path, old, old);
    expect(isStale(path, other)).toBe(true);
  });

  it('a claim being written (empty file) is held, not stale', () => {
    const path = fresh();
    tryLock(path, 'x');
    writeFileSync(path, '');
    const r = tryLock(path, 'y');
    expect(r.ok).toBe(false);
  });
});
