/**
 * A user's tfjs graph model (model.json whose modelTopology is a GraphDef, e.g. tensorflowjs_converter
 * output of a SavedModel): which node gives the logits, which the features, and where the head's
 * weights are. Decided on the GraphDef's JSON alone; the model itself runs as it is (GraphModel.execute
 * fetches internal nodes), and the run folder keeps its files unchanged.
 */
import { AresError } from '../errors.js';
import type { ModelJson } from '../export/model-json.js';
import type { GraphModelSpec } from '../run/detector.js';
import type { LogitsSource } from './load-tfjs-model.js';

interface GraphNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, { b?: boolean; s?: string; list?: { s?: string[] }; shape?: { dim?: { size?: string | number }[]; unknownRank?: boolean } }>;
}

export interface GraphChoice {
  spec: GraphModelSpec;
  inputNode: string;
  /** [height, width, channels] from the Placeholder's shape; null when the graph does not say. */
  inputShape: [number, number, number] | null;
  /** The Placeholder's shape as the graph gives it ([-1, 28, 28, 1]), null when unknown. */
  inputDims: number[] | null;
  logits: LogitsSource;
  /** Why no features node was chosen (null when one was), for messages. */
  featuresProblem: string | null;
  /** Notes for the user (e.g. why ViM has no head weights). */
  notes: string[];
  /** Node names a user may pass to --features, in graph order. */
  candidates: string[];
}

/** "name:1" / "^name" (control input) → "name". */
const nodeName = (input: string) => input.replace(/^\^/, '').split(':')[0];
const dataInputs = (n: GraphNode) => (n.input ?? []).filter((i) => !i.startsWith('^')).map(nodeName);
const decode = (s: string | undefined) => (s === undefined ? '' : atob(s));

const BIAS_OPS = new Set(['BiasAdd', 'Add', 'AddV2']);
const NOT_FEATURES = new Set(['Const', 'Placeholder', 'PlaceholderWithDefault', 'NoOp', 'Shape']);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A GraphDef TensorShapeProto as JSON: {dim: [{size}], unknownRank}; sizes are integers >= -1 (-1: any). */
function checkTensorShape(shape: unknown, where: string, file: string): void {
  const bad = (why: string) => new AresError(`${where}: ${why}`, { file, exitCode: 2 });
  if (!isObject(shape)) throw bad(`a tensor shape must be an object {dim: [{size}, ...]}, got ${JSON.stringify(shape)}`);
  if (shape.unknownRank !== undefined && typeof shape.unknownRank !== 'boolean') throw bad('"unknownRank" must be true or false');
  if (shape.dim === undefined) return;
  if (!Array.isArray(shape.dim)) throw bad(`"dim" must be a list of {size}, got ${JSON.stringify(shape.dim)}`);
  for (const d of shape.dim) {
    const size = isObject(d) ? d.size ?? -1 : undefined;
    const n = typeof size === 'string' && /^-?\d+$/.test(size) ? Number(size) : size;
    if (!(typeof n === 'number' && Number.isSafeInteger(n) && n >= -1)) throw bad(`a "dim" entry must be {size: an integer >= -1}, got ${JSON.stringify(d)}`);
  }
}

/** A base64 string attribute, as the converter writes strings (tfjs decodes them with atob). */
function checkBase64(s: unknown, where: string, file: string): void {
  let ok = typeof s === 'string';
  if (ok) { try { atob(s as string); } catch { ok = false; } }
  if (!ok) throw new AresError(`${where}: a string attribute must be base64 text, got ${JSON.stringify(s)}`, { file, exitCode: 2 });
}

/** An integer attribute (proto JSON writes int64 as a string). */
const isIntLike = (v: unknown) => (typeof v === 'number' && Number.isInteger(v)) || (typeof v === 'string' && /^-?\d+$/.test(v));

/** One attribute value (AttrValue proto as JSON): the fields ares or tfjs's op mappers read are checked. */
function checkAttr(value: unknown, where: string, file: string): void {
  const bad = (why: string) => new AresError(`${where}: ${why}`, { file, exitCode: 2 });
  if (!isObject(value)) throw bad(`an attribute must be an object, got ${JSON.stringify(value)}`);
  if (value.s !== undefined) checkBase64(value.s, where, file);
  if (value.i !== undefined && !isIntLike(value.i)) throw bad(`"i" must be an integer, got ${JSON.stringify(value.i)}`);
  if (value.b !== undefined && typeof value.b !== 'boolean') throw bad(`"b" must be true or false, got ${JSON.stringify(value.b)}`);
  if (value.type !== undefined && typeof value.type !== 'string') throw bad(`"type" must be a string, got ${JSON.stringify(value.type)}`);
  if (value.shape !== undefined) checkTensorShape(value.shape, where, file);
  if (value.tensor !== undefined) {
    if (!isObject(value.tensor)) throw bad('"tensor" must be an object');
    if (value.tensor.tensorShape !== undefined) checkTensorShape(value.tensor.tensorShape, where, file);
  }
  if (value.list !== undefined) {
    const l = value.list;
    if (!isObject(l)) throw bad('"list" must be an object');
    const listOf = (k: string, ok: (v: unknown) => boolean, what: string) => {
      if (l[k] !== undefined && !(Array.isArray(l[k]) && (l[k] as unknown[]).every(ok))) throw bad(`"list.${k}" must be a list of ${what}, got ${JSON.stringify(l[k])}`);
    };
    listOf('i', isIntLike, 'integers');
    listOf('b', (v) => typeof v === 'boolean', 'booleans');
    listOf('type', (v) => typeof v === 'string', 'type names');
    listOf('s', (v) => typeof v === 'string', 'base64 strings');
    listOf('shape', () => true, 'shapes');
    for (const s of (l.s as unknown[] | undefined) ?? []) checkBase64(s, where, file);
    for (const sh of (l.shape as unknown[] | undefined) ?? []) checkTensorShape(sh, where, file);
  }
}

/** The GraphDef's nodes, each checked: name, op, inputs (names), attributes (shapes, dims, base64 strings). */
function graphNodes(m: ModelJson, file: string): GraphNode[] {
  const nodes = (m.modelTopology as { node?: unknown }).node;
  const shapeError = () => new AresError('graph model topology must be a GraphDef ({node: [{name, op, input, attr}, ...]})', { file, exitCode: 2 });
  if (!Array.isArray(nodes)) throw shapeError();
  for (const n of nodes as unknown[]) {
    if (!isObject(n) || typeof n.name !== 'string' || n.name === '' || typeof n.op !== 'string') throw shapeError();
    const where = `graph node "${n.name}"`;
    if (n.input !== undefined && !(Array.isArray(n.input) && n.input.every((i) => typeof i === 'string'))) {
      throw new AresError(`${where}: "input" must be a list of node names`, { file, exitCode: 2 });
    }
    if (n.attr === undefined) continue;
    if (!isObject(n.attr)) throw new AresError(`${where}: "attr" must be an object`, { file, exitCode: 2 });
    for (const [k, v] of Object.entries(n.attr)) checkAttr(v, `${where} attribute "${k}"`, file);
  }
  return nodes as GraphNode[];
}

/**
 * Refuses a graph in which `from` depends on itself: a node reached again while its own inputs are
 * being followed. TensorFlow loops close through a NextIteration node, whose inputs are not followed,
 * so converted while-loops pass. Iterative, so a long chain cannot overflow the stack.
 */
function checkAcyclic(byName: Map<string, GraphNode>, from: string, file: string): void {
  const state = new Map<string, 'open' | 'done'>();
  const stack: { name: string; inputs: string[]; next: number }[] = [];
  const enter = (name: string) => {
    const n = byName.get(name);
    state.set(name, 'open');
    stack.push({ name, inputs: n && n.op !== 'NextIteration' ? (n.input ?? []).map(nodeName) : [], next: 0 });
  };
  enter(from);
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    if (top.next === top.inputs.length) {
      state.set(top.name, 'done');
      stack.pop();
      continue;
    }
    const input = top.inputs[top.next++];
    if (!byName.has(input)) continue;
    const seen = state.get(input);
    if (seen === 'open') throw new AresError(`the graph has a cycle through node "${input}"; a GraphDef must not feed a node its own output (outside a TensorFlow loop)`, { file, exitCode: 2 });
    if (seen === undefined) enter(input);
  }
}

/** Nodes nothing reads (as tfjs takes them without a signature), or the signature's outputs. */
function outputNodes(m: ModelJson, nodes: GraphNode[]): string[] {
  const sig = (m.signature as { outputs?: unknown } | undefined)?.outputs;
  if (isObject(sig) && Object.keys(sig).length > 0) return Object.values(sig).map((o) => nodeName(String(isObject(o) ? o.name : o)));
  const read = new Set(nodes.flatMap((n) => (n.input ?? []).map(nodeName)));
  return nodes.filter((n) => !read.has(n.name)).map((n) => n.name);
}

function placeholderDims(n: GraphNode): number[] | null {
  const shape = n.attr?.shape?.shape;
  return shape?.dim && !shape.unknownRank ? shape.dim.map((d) => Number(d.size ?? -1)) : null;
}

function placeholderShape(dims: number[] | null): [number, number, number] | null {
  if (!dims || dims.length !== 4) return null;
  const s = dims.slice(1);
  return s.every((v) => Number.isInteger(v) && v > 0) ? (s as [number, number, number]) : null;
}

/**
 * Logits: the graph's one output, or the input of a final Softmax. Features: `featuresNode`, or the
 * input of the MatMul that (with an optional bias add) gives the logits.
 */
export function chooseGraphNodes(m: ModelJson, file: string, featuresNode?: string): GraphChoice {
  const nodes = graphNodes(m, file);
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const isConst = (name: string) => byName.get(name)?.op === 'Const';
  const candidates = nodes.filter((n) => !NOT_FEATURES.has(n.op)).map((n) => n.name);
  const listed = () => {
    const shown = candidates.length > 40 ? ['…', ...candidates.slice(-40)] : candidates;
    return `candidate nodes in graph order: ${shown.join(', ')}`;
  };

  const inputs = nodes.filter((n) => n.op === 'Placeholder');
  if (inputs.length !== 1) throw new AresError(`the graph has ${inputs.length} Placeholder inputs; ares fit needs one image input`, { file, exitCode: 2 });
  const outs = outputNodes(m, nodes).filter((o) => !isConst(o));
  if (outs.length !== 1) throw new AresError(`the graph has ${outs.length} outputs (${outs.join(', ')}); ares fit needs one class output`, { file, exitCode: 2 });
  const out = byName.get(outs[0]);
  if (!out) throw new AresError(`the graph's signature names output "${outs[0]}", which is not a node`, { file, exitCode: 2 });

  // Converted SavedModels often end in Identity nodes (the signature's outputs): look through them.
  // Every walk below follows inputs from the output: a cycle there (Identity nodes looping back on
  // themselves in a hostile file) would never end, so it is refused first.
  checkAcyclic(byName, out.name, file);
  const through = (n: GraphNode) => {
    let at = n;
    for (let src = dataInputs(at); at.op === 'Identity' && src.length === 1 && byName.has(src[0]); src = dataInputs(at)) at = byName.get(src[0])!;
    return at;
  };
  const last = through(out);
  let logitsNode = last;
  let logits: LogitsSource = { kind: 'output', layer: last.name };
  if (last.op === 'Softmax') {
    const [src] = dataInputs(last);
    const n = src === undefined ? undefined : byName.get(src);
    if (!n) throw new AresError(`the Softmax node "${last.name}" has no input node`, { file, exitCode: 2 });
    logitsNode = through(n);
    logits = { kind: 'pre-softmax', layer: last.name, how: 'softmax-node' };
  }

  // The head: [bias add ∘] MatMul(features, W), or one _FusedMatMul(features, W, b).
  const notes: string[] = [];
  let auto: { features: string; kernel?: string; transposed: boolean; bias?: string } | null = null;
  let problem: string | null = null;
  let matmul: GraphNode | undefined = logitsNode;
  let bias: string | undefined;
  if (BIAS_OPS.has(logitsNode.op)) {
    const ins = dataInputs(logitsNode);
    const c = ins.filter(isConst);
    const other = ins.filter((i) => !isConst(i));
    matmul = other.length === 1 ? byName.get(other[0]) : undefined;
    bias = c.length === 1 ? c[0] : undefined;
  }
  if (matmul && (matmul.op === 'MatMul' || matmul.op === '_FusedMatMul')) {
    const [x, w, b] = dataInputs(matmul);
    const fused = (matmul.attr?.fused_ops?.list?.s ?? []).map(decode);
    if (matmul.op === '_FusedMatMul' && fused.some((f) => f !== 'BiasAdd')) {
      problem = `the logits node "${logitsNode.name}" fuses ${fused.join('+')} after its MatMul`;
    } else if (matmul.attr?.transpose_a?.b) {
      problem = `the MatMul "${matmul.name}" transposes its input`;
    } else if (x === undefined || isConst(x)) {
      problem = `the MatMul "${matmul.name}" has no non-constant input`;
    } else {
      if (matmul.op === '_FusedMatMul' && fused.includes('BiasAdd')) bias = b !== undefined && isConst(b) ? b : undefined;
      auto = { features: x, transposed: Boolean(matmul.attr?.transpose_b?.b), ...(w !== undefined && isConst(w) ? { kernel: w } : {}), ...(bias ? { bias } : {}) };
    }
  } else {
    problem = `the logits node "${logitsNode.name}" (${logitsNode.op}) is not a MatMul or a bias added to one`;
  }

  let features: string | null = auto?.features ?? null;
  if (featuresNode !== undefined) {
    const n = byName.get(featuresNode);
    if (!n || NOT_FEATURES.has(n.op) || n.name === logitsNode.name || n.name === out.name || n.name === last.name) {
      throw new AresError(`--features "${featuresNode}" is not a node before the logits; ${listed()}`, { file, exitCode: 2 });
    }
    features = featuresNode;
    problem = null;
  } else if (!auto) {
    problem = `cannot decide which node gives the features: ${problem}; pass --features <node>; ${listed()}`;
  }
  const head = auto && features === auto.features && auto.kernel ? auto : null;
  if (features && !head) notes.push('the head\'s weights were not read from the graph (features → logits is not one MatMul + bias with constant weights): ViM uses the mean ID feature as its origin');
  return {
    spec: {
      format: 'graph-model', logits: logitsNode.name, features,
      ...(head ? { headKernel: head.kernel!, headKernelTransposed: head.transposed } : {}),
      ...(head?.bias ? { headBias: head.bias } : {}),
    },
    inputNode: inputs[0].name, inputShape: placeholderShape(placeholderDims(inputs[0])), inputDims: placeholderDims(inputs[0]), logits, featuresProblem: features ? null : problem, notes, candidates,
  };
}

/** One line for the output and the run's config. */
export function describeGraphLogits(s: LogitsSource, logitsNode: string): string {
  return s.kind === 'pre-softmax'
    ? `the input of the graph's final Softmax node "${s.layer}" (node "${logitsNode}")`
    : `the graph's output (node "${s.layer}")`;
}
