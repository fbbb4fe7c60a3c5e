import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { AresError } from '../../src/errors.js';
import { initEngine } from '../../src/engine/backend.js';
import * as tf from '@tensorflow/tfjs';
import { expectedWeightBytes, graphModelFromParts, isGraphModelJson, modelFromParts, modelJsonFor, parseModelJson } from '../../src/export/model-json.js';
import { chooseGraphNodes } from '../../src/fit/graph-model.js';
import { decodeCheckpoint } from '../../src/methods/checkpoint.js';
import { encodeBundle } from '../../src/util/bundle.js';
import { jsonNestingDepth } from '../../src/util/json-depth.js';

/**
 * Generated hostile input for the model.json parser, the GraphDef reader and the checkpoint reader:
 * each either gives a result or throws the project's AresError — never another exception, never a
 * hang (an Identity cycle in the graphs below used to loop forever). Runs are modest so each
 * property takes seconds.
 */
const RUNS = { numRuns: 200, seed: 20261204 } as const;

function resultOrAresError<T>(fn: () => T): T | null {
  try {
    return fn();
  } catch (err) {
    if (!(err instanceof AresError)) throw new Error(`not an AresError: ${(err as Error)?.stack ?? String(err)}`);
    expect(err.message.length).toBeGreaterThan(0);
    return null;
  }
}

async function resultOrAresErrorAsync<T>(fn: () => Promise<T>): Promise<T | null> {
  try {
    return await fn();
  } catch (err) {
    if (!(err instanceof AresError)) throw new Error(`not an AresError: ${(err as Error)?.stack ?? String(err)}`);
    return null;
  }
}

/** Values a hostile file puts where a number, list or object belongs. */
const junk = fc.oneof(fc.constant(null), fc.constant(5), fc.constant(-1), fc.constant('x'), fc.constant(1e300), fc.constant({}), fc.constant([]), fc.constant(true));

const quantization = fc.record({
  dtype: fc.oneof(fc.constantFrom('uint8', 'uint16', 'float16', 'int8'), junk),
  scale: fc.oneof(fc.double({ min: -2, max: 2, noNaN: true }), junk),
  min: fc.oneof(fc.double({ min: -2, max: 2, noNaN: true }), junk),
}, { requiredKeys: [] });

const weightEntry = fc.oneof(
  { weight: 8, arbitrary: fc.record({
    name: fc.oneof(fc.constantFrom('w0', 'w1', 'dense/kernel', ''), junk),
    shape: fc.oneof({ weight: 3, arbitrary: fc.array(fc.integer({ min: -1, max: 4 }), { maxLength: 3 }) }, fc.array(junk, { maxLength: 2 }), junk),
    dtype: fc.oneof(fc.constantFrom('float32', 'int32', 'bool', 'complex64', 'string', 'float16', 'uint8'), junk),
    quantization: fc.option(quantization, { nil: undefined }),
  }, { requiredKeys: ['name', 'shape', 'dtype'] }) },
  { weight: 1, arbitrary: junk },
);

const manifest = fc.array(fc.oneof(
  { weight: 8, arbitrary: fc.record({ paths: fc.oneof(fc.array(fc.constantFrom('w.bin', 'a/b.bin', '../x', '/etc/passwd', 'http:x'), { maxLength: 2 }), junk), weights: fc.oneof(fc.array(weightEntry, { maxLength: 4 }), junk) }) },
  { weight: 1, arbitrary: junk },
), { maxLength: 3 });

/** Arbitrary JSON nested `depth` levels around a value. */
const nested = fc.tuple(fc.integer({ min: 1, max: 400 }), fc.constantFrom('[', '{"a":')).map(([depth, open]) =>
  `{"modelTopology": {"x": ${open.repeat(depth)}0${(open === '[' ? ']' : '}').repeat(depth)}}, "weightsManifest": []}`);

const modelJsonText = fc.oneof(
  { weight: 6, arbitrary: fc.record({
    modelTopology: fc.oneof({ weight: 3, arbitrary: fc.constantFrom({ class_name: 'Sequential', config: { layers: [] } }, { node: [] }) }, fc.object({ maxDepth: 2 }), junk),
    weightsManifest: fc.oneof({ weight: 8, arbitrary: manifest }, junk),
    format: fc.option(fc.oneof(fc.constantFrom('layers-model', 'graph-model'), junk), { nil: undefined }),
    signature: fc.option(fc.oneof(fc.object({ maxDepth: 2 }), junk), { nil: undefined }),
  }, { requiredKeys: ['modelTopology', 'weightsManifest'] }).map((m) => JSON.stringify(m)) },
  { weight: 1, arbitrary: fc.json({ maxDepth: 3 }) },
  { weight: 1, arbitrary: nested },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
);

/** A real layers model.json (Dense 4 → 3) whose manifest and topology a mutation may damage. */
let template: { modelTopology: object; weightsManifest: { paths: string[]; weights: Record<string, unknown>[] }[] };
let templateBytes: Uint8Array;

const manifestMutation = fc.record({
  weight: fc.nat(1),
  field: fc.oneof({ weight: 2, arbitrary: fc.constant('none') }, fc.constantFrom('shape', 'dtype', 'quantization', 'name', 'whole')),
  value: fc.oneof(
    junk,
    fc.array(fc.integer({ min: -1, max: 5 }), { maxLength: 3 }),
    fc.constantFrom('float32', 'int32', 'bool', 'complex64', 'string', 'uint8'),
    quantization,
  ),
  topology: fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, junk, fc.constant({ class_name: 'Sequential', config: { layers: [{ class_name: 'Nope', config: {} }] } })),
  cut: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, fc.integer({ min: -8, max: 8 })),
  nan: fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, fc.constant(true)),
});

/** The template with one manifest field (or the topology) replaced, and its weight bytes cut, extended or made NaN. */
function mutatedModel(mu: { weight: number; field: string; value: unknown; topology: unknown; cut: number; nan: boolean }): { text: string; shard: Uint8Array } {
  const m = JSON.parse(JSON.stringify(template)) as typeof template;
  const w = m.weightsManifest[0].weights;
  if (mu.field === 'whole') w[mu.weight] = mu.value as Record<string, unknown>;
  else if (mu.field !== 'none') w[mu.weight] = { ...w[mu.weight], [mu.field]: mu.value };
  if (mu.topology !== undefined) m.modelTopology = mu.topology as object;
  const n = Math.max(0, templateBytes.length + mu.cut);
  const shard = new Uint8Array(n);
  shard.set(templateBytes.subarray(0, Math.min(n, templateBytes.length)));
  if (mu.nan) new DataView(shard.buffer).setFloat32(0, NaN, true);
  return { text: JSON.stringify(m), shard };
}

describe('model.json parser (fuzzed)', () => {
  beforeAll(async () => {
    await initEngine();
    const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 3, kernelInitializer: 'ones' })] });
    await model.save(tf.io.withSaveHandler(async (a) => {
      template = JSON.parse(JSON.stringify(modelJsonFor(a)));
      const data = a.weightData!;
      templateBytes = new Uint8Array(Array.isArray(data) ? data[0] : data).slice();
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }));
    model.dispose();
  });

  it('parseModelJson: a checked ModelJson or an AresError; a checked one has whole, consistent weight sizes', () => {
    fc.assert(fc.property(modelJsonText, (text) => {
      const m = resultOrAresError(() => parseModelJson(text, 'fuzz/model.json'));
      if (!m) return;
      for (const w of m.weightsManifest.flatMap((g) => g.weights)) {
        expect(w.shape.every((d) => Number.isSafeInteger(d) && d >= 0)).toBe(true);
      }
      const bytes = expectedWeightBytes(m);
      expect(Number.isNaN(bytes) || (Number.isSafeInteger(bytes) && bytes >= 0)).toBe(true);
    }), RUNS);
  });

  it('nesting is measured on the text and refused past 100 levels, whatever the brackets', () => {
    fc.assert(fc.property(nested, (text) => {
      const depth = jsonNestingDepth(text);
      const m = resultOrAresError(() => parseModelJson(text, 'deep/model.json'));
      expect(m === null).toBe(depth > 100);
    }), { ...RUNS, numRuns: 100 });
  });

  it('a real model.json with a damaged manifest, topology or shard: the model (right weights) or an AresError', async () => {
    let built = 0;
    await fc.assert(fc.asyncProperty(manifestMutation, async (mu) => {
      const { text, shard } = mutatedModel(mu);
      const m = resultOrAresError(() => parseModelJson(text, 'fuzz/model.json'));
      if (!m) return;
      const model = await resultOrAresErrorAsync(() => modelFromParts(m, [shard.slice().buffer], 'fuzz/model.json'));
      if (!model) return;
      built++;
      // Whatever loaded holds finite weights: NaN bytes and lying sizes never get through.
      for (const t of model.getWeights()) expect(Array.from(t.dataSync()).every(Number.isFinite)).toBe(true);
      model.dispose();
    }), { ...RUNS, numRuns: 150 });
    expect(built).toBeGreaterThan(0); // the generator reaches the success path too
  });

  it('arbitrary model.json and random shard bytes: a model or an AresError', async () => {
    await fc.assert(fc.asyncProperty(modelJsonText, fc.uint8Array({ maxLength: 96 }), async (text, random) => {
      const m = resultOrAresError(() => parseModelJson(text, 'fuzz/model.json'));
      if (!m) return;
      const build = isGraphModelJson(m) ? graphModelFromParts : modelFromParts;
      const model = await resultOrAresErrorAsync(() => build(m, [random.slice().buffer], 'fuzz/model.json'));
      model?.dispose();
    }), { ...RUNS, numRuns: 100 });
  });
});

const NAMES = ['input', 'a', 'b', 'c', 'out'];
const attrValue = fc.oneof(
  fc.record({ s: fc.oneof(fc.constantFrom('VkFMSUQ=', 'Qmlhc0FkZA==', '%%', '', 'abc'), junk) }, { requiredKeys: [] }),
  fc.record({ b: fc.oneof(fc.boolean(), junk) }),
  fc.record({ shape: fc.oneof(fc.record({ dim: fc.oneof(fc.array(fc.oneof(fc.record({ size: fc.oneof(fc.constantFrom('-1', '28', '1', '-5', 'x'), fc.integer({ min: -3, max: 30 }), junk) }, { requiredKeys: [] }), junk), { maxLength: 4 }), junk), unknownRank: fc.oneof(fc.boolean(), junk) }, { requiredKeys: [] }), junk) }),
  fc.record({ list: fc.oneof(fc.record({ s: fc.oneof(fc.array(fc.constantFrom('Qmlhc0FkZA==', 'UmVsdQ==', '%%')), junk), i: fc.oneof(fc.array(fc.oneof(fc.constant('1'), fc.integer(), junk)), junk) }, { requiredKeys: [] }), junk) }),
  fc.record({ tensor: fc.oneof(fc.record({ tensorShape: fc.oneof(fc.constant({ dim: [{ size: '3' }] }), junk) }, { requiredKeys: [] }), junk) }),
  junk,
);
const graphNode = fc.oneof(
  { weight: 12, arbitrary: fc.record({
    name: fc.constantFrom(...NAMES.slice(1)),
    op: fc.constantFrom('Identity', 'Identity', 'Placeholder', 'MatMul', '_FusedMatMul', 'Softmax', 'BiasAdd', 'AddV2', 'Const', 'Relu'),
    input: fc.oneof({ weight: 10, arbitrary: fc.array(fc.constantFrom('input', 'a', 'b', 'b:1', 'c', '^c', 'out', 'missing'), { maxLength: 3 }) }, junk),
    attr: fc.oneof({ weight: 10, arbitrary: fc.dictionary(fc.constantFrom('shape', 'fused_ops', 'transpose_a', 'transpose_b', 'padding', 'value'), attrValue, { maxKeys: 2 }) }, junk),
  }, { requiredKeys: ['name', 'op'] }) },
  { weight: 1, arbitrary: junk },
);
/** One image input (its shape possibly damaged), then random nodes: cycles, missing inputs, odd attributes. */
const inputNode = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ name: 'input', op: 'Placeholder', attr: { shape: { shape: { dim: [{ size: '-1' }, { size: '28' }, { size: '28' }, { size: '1' }] } } } }) },
  fc.record({ name: fc.constant('input'), op: fc.constant('Placeholder'), attr: fc.dictionary(fc.constant('shape'), attrValue, { maxKeys: 1 }) }),
);
const graphJson = fc.record({
  nodes: fc.tuple(inputNode, fc.array(graphNode, { maxLength: 7 })).map(([i, rest]) => [i, ...rest] as unknown[]),
  signature: fc.option(fc.oneof(fc.record({ outputs: fc.dictionary(fc.constantFrom('y', 'z'), fc.oneof(fc.record({ name: fc.constantFrom('out:0', 'a', 'nope') }), junk)) }), junk), { nil: undefined }),
  features: fc.option(fc.constantFrom(...NAMES, 'missing'), { nil: undefined }),
});

describe('GraphDef reader (fuzzed)', () => {
  const graph = (node: object[]) => ({ format: 'graph-model', modelTopology: { node }, weightsManifest: [] });
  const input = { name: 'input', op: 'Placeholder' };

  it('a cycle of any ops is refused naming a node on it; a TensorFlow while-loop (closed through NextIteration) is not a cycle', () => {
    const cyclic = graph([input, { name: 'r1', op: 'AddV2', input: ['input', 'r2'] }, { name: 'r2', op: 'Relu', input: ['r1'] }, { name: 'out', op: 'MatMul', input: ['r1', 'input'] }]);
    expect(() => chooseGraphNodes(cyclic, 'cyclic/model.json')).toThrow(/cyclic\/model.json: the graph has a cycle through node "r[12]"/);
    const loop = graph([
      input,
      { name: 'w/Enter', op: 'Enter', input: ['input'] },
      { name: 'w/Merge', op: 'Merge', input: ['w/Enter', 'w/NextIteration'] },
      { name: 'w/Switch', op: 'Switch', input: ['w/Merge', 'w/Merge'] },
      { name: 'w/Body', op: 'Relu', input: ['w/Switch:1'] },
      { name: 'w/NextIteration', op: 'NextIteration', input: ['w/Body'] },
      { name: 'w/Exit', op: 'Exit', input: ['w/Switch'] },
      { name: 'out', op: 'Softmax', input: ['w/Exit'] },
    ]);
    const choice = chooseGraphNodes(loop, 'loop/model.json');
    expect(choice.spec.logits).toBe('w/Exit');
    expect(choice.featuresProblem).toMatch(/not a MatMul/);
  });

  it('chooseGraphNodes: a choice of existing nodes or an AresError, never a hang (cycles of Identity nodes included)', () => {
    let chosen = 0;
    fc.assert(fc.property(graphJson, ({ nodes, signature, features }) => {
      const m = { format: 'graph-model', modelTopology: { node: nodes }, weightsManifest: [], ...(signature !== undefined ? { signature: signature as object } : {}) };
      const choice = resultOrAresError(() => chooseGraphNodes(m, 'fuzz/model.json', features));
      if (!choice) return;
      const names = new Set((nodes as { name: string }[]).map((n) => n.name));
      expect(names.has(choice.spec.logits)).toBe(true);
      expect(names.has(choice.inputNode)).toBe(true);
      if (choice.inputShape) expect(choice.inputShape.every((d) => Number.isInteger(d) && d > 0)).toBe(true);
      chosen++;
    }), { ...RUNS, numRuns: 400 });
    expect(chosen).toBeGreaterThan(0); // the generator reaches the success path too
  });
});

const ENTRY_NAMES = ['var/0', 'var/1', 'extra/0', 'opt/0', 'pool/data', 'pool/shift', 'pool/sum', 'pool/sumSq', 'vos/data', 'vos/counts', 'vos/next', '__proto__', 'constructor'];
const count = fc.oneof({ weight: 4, arbitrary: fc.nat(3) }, fc.constant(3e8), junk);
const checkpointHeader = fc.record({
  entries: fc.oneof({ weight: 5, arbitrary: fc.array(fc.record({
    name: fc.oneof(fc.constantFrom(...ENTRY_NAMES), junk),
    kind: fc.oneof(fc.constantFrom('float32', 'float64', 'int32', 'toString', 'constructor'), junk),
    length: fc.oneof({ weight: 4, arbitrary: fc.nat(16) }, fc.constant(3e8), fc.constant(-4), fc.constant(1.5), junk),
    offset: fc.oneof({ weight: 4, arbitrary: fc.nat(8).map((k) => k * 8) }, fc.constant(2 ** 40), fc.constant(-8), junk),
  }, { requiredKeys: [] }), { maxLength: 6 }) }, junk),
  meta: fc.oneof({ weight: 5, arbitrary: fc.record({
    epochsDone: fc.oneof(fc.nat(3), junk),
    config: fc.oneof(fc.constant({ poolSize: 2 }), fc.object({ maxDepth: 1 }), junk),
    history: fc.oneof(fc.constant([]), fc.array(fc.object({ maxDepth: 1 }), { maxLength: 2 }), junk),
    counts: fc.oneof({ weight: 4, arbitrary: fc.record({ variables: count, extra: count, optimizer: count }, { requiredKeys: [] }) }, junk),
    pool: fc.oneof(fc.constant(null), fc.record({ dim: count, capacity: fc.oneof(fc.constant(2), count), addsSinceExact: count }, { requiredKeys: [] }), junk),
    vos: fc.oneof(fc.constant(null), fc.record({ numClasses: count, dim: count, capacity: count }, { requiredKeys: [] }), junk),
  }, { requiredKeys: [] }) }, junk),
}, { requiredKeys: [] });

/** A bundle file whose header is `header` (written as the encoder lays it out) followed by `payload`. */
function bundleBytes(header: unknown, payload: Uint8Array): Uint8Array {
  const h = new TextEncoder().encode(JSON.stringify(header));
  const start = Math.ceil((12 + h.length) / 8) * 8;
  const out = new Uint8Array(start + payload.length);
  out.set(new TextEncoder().encode('ARESBNDL'));
  new DataView(out.buffer).setUint32(8, h.length, true);
  out.set(h, 12);
  out.set(payload, start);
  return out;
}

/** A valid checkpoint (model variables, optimiser state, maybe a feature pool and VOS queues) with one header field replaced. */
const nearValidCheckpoint = fc.record({
  vars: fc.integer({ min: 1, max: 3 }), dim: fc.integer({ min: 1, max: 3 }), pool: fc.boolean(), vos: fc.boolean(),
  path: fc.constantFrom('meta.counts.variables', 'meta.counts.optimizer', 'meta.pool.dim', 'meta.pool.capacity', 'meta.vos.numClasses', 'meta.vos.capacity',
    'meta.vos.dim', 'meta.epochsDone', 'meta.config', 'meta.history', 'entries.0.length', 'entries.0.kind', 'entries.0.offset', 'entries.1.name', 'entries.2'),
  value: fc.oneof(count, fc.constantFrom('float64', 'int32', 'var/0', 'pool/data'), fc.constant(undefined)),
}).map(({ vars, dim, pool, vos, path, value }) => {
  const arrays: Record<string, Float32Array | Float64Array | Int32Array> = {};
  for (let i = 0; i < vars; i++) { arrays[`var/${i}`] = new Float32Array(dim + i); arrays[`opt/${i}`] = new Float32Array(dim + i); }
  if (pool) Object.assign(arrays, { 'pool/data': new Float32Array(2 * dim), 'pool/shift': new Float64Array(dim), 'pool/sum': new Float64Array(dim), 'pool/sumSq': new Float64Array(dim * dim) });
  if (vos) Object.assign(arrays, { 'vos/data': new Float32Array(2 * 2 * dim), 'vos/counts': Int32Array.from([1, 2]), 'vos/next': Int32Array.from([1, 0]) });
  const meta = { epochsDone: 1, config: { poolSize: 2 }, history: [], counts: { variables: vars, extra: 0, optimizer: vars },
    pool: pool ? { dim, capacity: 2, addsSinceExact: 0 } : null, vos: vos ? { numClasses: 2, dim, capacity: 2 } : null };
  const bytes = encodeBundle(arrays, meta);
  const headerLength = new DataView(bytes.buffer).getUint32(8, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + headerLength)));
  const start = Math.ceil((12 + headerLength) / 8) * 8;
  const keys = path.split('.');
  let at = header;
  for (const k of keys.slice(0, -1)) at = at?.[k];
  if (at && typeof at === 'object') at[keys[keys.length - 1]] = value;
  return bundleBytes(header, bytes.subarray(start));
});

describe('checkpoint reader (fuzzed)', () => {
  it('random bytes and random headers: a checkpoint backed by the file\'s arrays, or an AresError', () => {
    let read = 0;
    const input = fc.oneof(
      fc.uint8Array({ maxLength: 200 }),
      fc.tuple(checkpointHeader, fc.uint8Array({ maxLength: 160 })).map(([h, p]) => bundleBytes(h, p)),
      { weight: 3, arbitrary: nearValidCheckpoint },
    );
    fc.assert(fc.property(input, (bytes) => {
      const c = resultOrAresError(() => decodeCheckpoint(bytes, 'fuzz.ckpt'));
      if (!c) return;
      // Everything returned lies in the file: no list longer than its entries, no array larger than its bytes.
      const arrays = [...c.variables, ...c.extra, ...c.optimizer];
      expect(arrays.reduce((n, a) => n + a.byteLength, 0)).toBeLessThanOrEqual(bytes.length);
      expect(Number.isSafeInteger(c.epochsDone) && c.epochsDone >= 0).toBe(true);
      if (c.pool) expect(c.pool.sumSq.length).toBe(c.pool.dim * c.pool.dim);
      if (c.vosQueues) expect(c.vosQueues.data.length).toBe(c.vosQueues.numClasses * c.vosQueues.capacity * c.vosQueues.dim);
      read++;
    }), { ...RUNS, numRuns: 500 });
    expect(read).toBeGreaterThan(0); // the generator reaches the success path too
  });

  it('a valid checkpoint round-trips; one with a byte changed or cut reads or throws AresError', () => {
    const valid = fc.tuple(fc.array(fc.float({ noNaN: true }), { maxLength: 6 }), fc.nat(3));
    const damage = fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean());
    fc.assert(fc.property(valid, damage, ([values, epochs], [at, value, cut]) => {
      const v = Float32Array.from(values);
      const bytes = encodeBundle({ 'var/0': v, 'opt/0': v }, { epochsDone: epochs, config: { poolSize: 2 }, history: [], counts: { variables: 1, extra: 0, optimizer: 1 }, pool: null, vos: null });
      const c = decodeCheckpoint(bytes, 'ok.ckpt');
      expect(Array.from(c.variables[0])).toEqual(Array.from(v));
      expect(c.epochsDone).toBe(epochs);
      const bad = cut ? bytes.slice(0, at % bytes.length) : bytes.slice();
      if (!cut) bad[at % bad.length] = value;
      resultOrAresError(() => decodeCheckpoint(bad, 'bad.ckpt'));
    }), RUNS);
  });
});
