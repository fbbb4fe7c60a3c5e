/**
 * `ares serve`: a static HTTP server for one exported bundle, so its page can load the model
 * (browsers refuse module imports and fetches from a file:// page). Loopback only, read only, no
 * directory listings; nothing outside the bundle folder is reachable, through `..`, encoded
 * separators or symbolic links alike, and no dot-file inside it (404).
 */
import { createReadStream, existsSync, realpathSync, statSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { extname, relative, resolve, sep } from 'node:path';
import { AresError } from '../../errors.js';

export const DEFAULT_PORT = 8080;
export const HOST = '127.0.0.1';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.bin': 'application/octet-stream',
  '.css': 'text/css; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
};

export function contentType(file: string): string {
  return TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
}

export interface BundleServer {
  /** http://127.0.0.1:PORT/ */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** The bundle's real path; an AresError unless it is a folder holding ares.json and index.html. */
export function checkBundleDir(dir: string): string {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new AresError('bundle folder not found', { file: dir });
  if (!existsSync(resolve(dir, 'ares.json'))) {
    throw new AresError('not an ares bundle (no ares.json); write one with `ares export --run <run> --out <folder>`', { file: dir });
  }
  if (!existsSync(resolve(dir, 'index.html'))) {
    throw new AresError('the bundle has no index.html (exported by an older version); export it again with `ares export`', { file: dir });
  }
  return realpathSync(dir);
}

const inside = (root: string, p: string) => p === root || p.startsWith(root.endsWith(sep) ? root : root + sep);

/**
 * Whether a path inside `root` passes through a dot-file or dot-folder (the ownership marker, a
 * lock, temp files, .git, .env): none is part of a bundle's page, so none is served.
 */
export const isHiddenPath = (root: string, p: string) => relative(root, p).split(sep).some((part) => part.startsWith('.'));

/** The file a URL path names inside `root`, or an HTTP status explaining why there is none. */
async function resolveFile(root: string, urlPath: string): Promise<string | number> {
  let path: string;
  try {
    path = decodeURIComponent(urlPath);
  } catch {
    return 400;
  }
  if (path.includes('\0') || path.includes('\\')) return 400;
  if (path.endsWith('/')) path += 'index.html';
  const file = resolve(root, `.${path}`);
  if (!inside(root, file)) return 403;
  if (isHiddenPath(root, file)) return 404;
  let real: string;
  try {
    real = realpathSync(file);
  } catch {
    return 404;
  }
  // A symbolic link in the bundle must not lead outside it.
  if (!inside(root, real)) return 403;
  if (isHiddenPath(root, real)) return 404;
  return (await stat(real)).isFile() ? real : 404;
}

function plain(res: ServerResponse, status: number, extra: Record<string, string> = {}): void {
  const body = `${status} ${{ 400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 421: 'Misdirected Request' }[status] ?? ''}\n`;
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), ...extra });
  res.end(body);
}

/**
 * A page elsewhere could point its own host name at 127.0.0.1 (DNS rebinding) and read the bundle;
 * answer only requests addressed to a loopback name. Any port: an SSH tunnel may forward another one.
 */
export function isLoopbackHost(host: string | undefined): boolean {
  const name = (host ?? '').toLowerCase().replace(/:\d+$/, '');
  return name === '127.0.0.1' || name === 'localhost' || name === '[::1]';
}

async function answer(root: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') return plain(res, 405, { allow: 'GET, HEAD' });
  if (!isLoopbackHost(req.headers.host)) return plain(res, 421);
  let pathname: string;
  try {
    pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
  } catch {
    return plain(res, 400);
  }
  // new URL() already resolves '..' segments; a raw request path may still carry them encoded.
  const found = await resolveFile(root, pathname);
  if (typeof found === 'number') return plain(res, found);
  const size = (await stat(found)).size;
  res.writeHead(200, {
    'content-type': contentType(found), 'content-length': size,
    'cache-control': 'no-cache', 'x-content-type-options': 'nosniff',
  });
  if (req.method === 'HEAD') return void res.end();
  createReadStream(found).on('error', () => res.destroy()).pipe(res);
}

/** A file that vanishes or cannot be read mid-request is a 404 (or a cut connection), never a crash. */
function handler(root: string) {
  return (req: IncomingMessage, res: ServerResponse) => {
    answer(root, req, res).catch(() => { if (res.headersSent) res.destroy(); else plain(res, 404); });
  };
}

/** Serves the bundle in `dir` on 127.0.0.1:`port` (0 = any free port). */
export async function serveBundle(dir: string, opts: { port?: number } = {}): Promise<BundleServer> {
  const root = checkBundleDir(dir);
  const wanted = opts.port ?? DEFAULT_PORT;
  if (!Number.isInteger(wanted) || wanted < 0 || wanted > 65535) throw new AresError(`port must be an integer from 0 to 65535, got ${wanted}`, { exitCode: 2 });
  const server = createServer(handler(root));
  await new Promise<void>((ok, fail) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      fail(err.code === 'EADDRINUSE'
        ? new AresError(`port ${wanted} on ${HOST} is already in use; choose another with --port (0 picks a free one)`)
        : err.code === 'EACCES'
          ? new AresError(`not allowed to listen on port ${wanted} (ports below 1024 need privileges); choose another with --port`)
          : new AresError(`cannot listen on ${HOST}:${wanted}: ${err.message}`, { cause: err }));
    });
    server.listen(wanted, HOST, () => ok());
  });
  const { port } = server.address() as { port: number };
  return {
    url: `http://${HOST}:${port}/`, port,
    close: () => new Promise<void>((ok) => { server.closeAllConnections(); server.close(() => ok()); }),
  };
}
