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

function graphNodes(m: ModelJson, file: string): GraphNode[] {
  const nodes = (m.modelTopology as { node?: unknown }).node;
  if (!Array.isArray(nodes) || !nodes.every((n) => typeof n?.name === 'string' && typeof n?.op === 'string')) {
    throw new AresError('graph model topology must be a GraphDef ({node: [{name, op, input, attr}, ...]})', { file, exitCode: 2 });
  }
  return nodes as GraphNode[];
}

/** Nodes nothing reads (as tfjs takes them without a signature), or the signature's outputs. */
function outputNodes(m: ModelJson, nodes: GraphNode[]): string[] {
  const sig = (m.signature as { outputs?: Record<string, { name?: string }> } | undefined)?.outputs;
  if (sig && Object.keys(sig).length > 0) return Object.values(sig).map((o) => nodeName(String(o.name)));
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
