/**
 * loadDetector(urlOrPath): opens an exported bundle (ares.json + model.json + weights) — or a run
 * folder (detector.json + model/) — from a URL (browser or Node) or a path (Node), and returns a
 * Detector. Imports only @tensorflow/tfjs, so it works with the standard tfjs backends anywhere;
 * Node's file system is reached through a dynamic import that a browser never executes.
 *
 * In a browser whose page has not chosen a tfjs backend yet, it takes the WebGPU backend when
 * navigator.gpu gives an adapter (tfjs-backend-webgpu, loaded only then), else tfjs's own default
 * (webgl, else cpu). In Node it keeps whatever backend the program runs (see chooseBackend).
 */
import * as tf from '@tensorflow/tfjs';
import { AresError } from '../errors.js';
import { parseDetectorJson, type DetectorSpec } from '../run/detector.js';
import { MODEL_JSON, graphModelFromParts, modelFromParts, parseModelJson, shardPaths } from './model-json.js';
import { createDetector, type Detector } from './predictor.js';

export { createDetector, UNKNOWN } from './predictor.js';
export type { Detector, Prediction, PredictOptions } from './predictor.js';
export { modelPixels } from './input.js';
export type { DetectorInput, ImageDataLike } from './input.js';
export type { DetectorSpec } from '../run/detector.js';

/** Reads files relative to a bundle's location. */
interface Source {
  /** Human-readable location of `rel`, for messages. */
  where(rel: string): string;
  /** null when the file does not exist. */
  bytes(rel: string): Promise<ArrayBuffer | null>;
}

export interface LoadOptions {
  /** fetch to use for URLs (default: globalThis.fetch). */
  fetch?: typeof fetch;
  /**
   * Browser only: false keeps tfjs's default backend even where WebGPU is available (default true).
   * A backend the page already chose (tf.setBackend before loadDetector) is always kept.
   */
  webgpu?: boolean;
}

const isNode = () => typeof process !== 'undefined' && !!process.versions?.node;
const isUrl = (s: string) => /^[a-z][a-z0-9+.-]*:\/\//i.test(s);

function urlSource(location: string, fetchFn: typeof fetch): Source {
  const page = (globalThis as { location?: { href: string } }).location?.href;
  const base = new URL(location.endsWith('/') ? location : `${location}/`, page);
  const where = (rel: string) => new URL(rel, base).href;
  return {
    where,
    async bytes(rel) {
      let res: Response;
      try {
        res = await fetchFn(where(rel));
      } catch (err) {
        throw new AresError(`cannot fetch: ${(err as Error).message}`, { file: where(rel), cause: err });
      }
      if (res.status === 404) return null;
      if (!res.ok) throw new AresError(`cannot fetch: HTTP ${res.status}`, { file: where(rel) });
      return res.arrayBuffer();
    },
  };
}

async function pathSource(dir: string): Promise<Source> {
  // Kept out of the static import graph: browsers never load node:fs.
  const fs = await import('node:fs/promises');
  const path = await import('node:path');
  const where = (rel: string) => path.join(dir, ...rel.split('/'));
  return {
    where,
    async bytes(rel) {
      try {
        const b = await fs.readFile(where(rel));
        return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw new AresError(`cannot read: ${(err as Error).message}`, { file: where(rel), cause: err });
      }
    },
  };
}

const text = (b: ArrayBuffer) => new TextDecoder().decode(b);

async function required(src: Source, rel: string, what: string): Promise<ArrayBuffer> {
  const b = await src.bytes(rel);
  if (!b) throw new AresError(`missing ${what}`, { file: src.where(rel) });
  return b;
}

/**
 * A bundle holds ares.json beside model.json; a run folder holds detector.json and model/.
 * The bundle is tried first, so loading a bundle URL never requests a file that is absent.
 */
async function openLayout(src: Source): Promise<{ spec: DetectorSpec; modelDir: string }> {
  const ares = await src.bytes('ares.json');
  if (ares) return { spec: parseDetectorJson(text(ares), src.where('ares.json')), modelDir: '' };
  const det = await src.bytes('detector.json');
  if (det) return { spec: parseDetectorJson(text(det), src.where('detector.json')), modelDir: 'model/' };
  throw new AresError('not an ares bundle or run folder (no ares.json or detector.json)', { file: src.where('') });
}

interface GpuLike { requestAdapter(): Promise<object | null> }

/** Whether navigator.gpu gives an adapter (a browser without WebGPU, or with it blocked, gives none). */
async function hasWebGpuAdapter(): Promise<boolean> {
  const gpu = (globalThis as { navigator?: { gpu?: GpuLike } }).navigator?.gpu;
  if (!gpu) return false;
  try {
    return (await gpu.requestAdapter()) !== null;
  } catch {
    return false; // e.g. a browser policy refusing WebGPU: the default backend works as before
  }
}

/**
 * The backend the detector runs on. Browser, no backend chosen yet: webgpu when there is an
 * adapter, else tfjs's default. Node: left as it is: tfjs's WebGPU there needs the optional native
 * package `webgpu` (Dawn) installed as navigator.gpu before tfjs-backend-webgpu loads, which is
 * the program's setup to make, not a loader's; a program that made it and set the webgpu backend
 * gets it (the detector reads only with await).
 */
async function chooseBackend(opts: LoadOptions): Promise<void> {
  if (isNode() || opts.webgpu === false || tf.getBackend()) return;
  if (await hasWebGpuAdapter()) {
    await import('@tensorflow/tfjs-backend-webgpu');
    if (await tf.setBackend('webgpu')) return;
    // The adapter would not give a device (tfjs has logged why): the default backend takes over.
    tf.removeBackend('webgpu');
  }
  await tf.ready();
}

/** Loads a detector from a bundle or run folder: a URL (http(s), or relative in a browser) or a path (Node). */
export async function loadDetector(urlOrPath: string, opts: LoadOptions = {}): Promise<Detector> {
  const location = urlOrPath.replace(/\/(ares|detector)\.json$/, '');
  let src: Source;
  if (isUrl(location) && !location.startsWith('file:')) {
    const f = opts.fetch ?? globalThis.fetch;
    if (!f) throw new AresError('no fetch() available to load a URL; pass opts.fetch');
    src = urlSource(location, f);
  } else if (isNode()) {
    src = await pathSource(location.startsWith('file:') ? decodeURIComponent(new URL(location).pathname) : location);
  } else {
    src = urlSource(location, opts.fetch ?? globalThis.fetch);
  }
  const { spec, modelDir } = await openLayout(src);
  await chooseBackend(opts);
  const modelRel = `${modelDir}${MODEL_JSON}`;
  const modelJson = parseModelJson(text(await required(src, modelRel, 'model file')), src.where(modelRel));
  const shards = await Promise.all(shardPaths(modelJson).map((p) => required(src, `${modelDir}${p}`, 'weight shard')));
  // A graph model (ares fit on a user's tfjs graph model) runs to the nodes the description names.
  const model = spec.model?.format === 'graph-model'
    ? await graphModelFromParts(modelJson, shards, src.where(modelRel))
    : await modelFromParts(modelJson, shards, src.where(modelRel));
  return createDetector(model, spec);
}
