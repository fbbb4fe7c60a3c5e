import * as tf from '@tensorflow/tfjs';
import type { KernelRuntime } from './runtime.js';
import type { WasmBackendInternals } from '../wasm-init.js';

/**
 * 2-D convolution on wasm with this project's SIMD kernels (NHWC float32, no dilation):
 * Conv2DBackpropFilter (which tfjs's wasm backend lacks), Conv2DBackpropInput (which it runs with
 * a scalar loop) and the forward Conv2D / FusedConv2D (which it hands to XNNPACK).
 * 3x3 stride-1 layers with channels in fours (input) and eights (output) use Winograd (winograd.c:
 * F(4x4, 3x3) forward and input gradient, its transpose F(3x3, 4x4) for the filter gradient;
 * F(2x2, 3x3) and F(3x3, 2x2) for outputs under 4x4); the rest the direct kernels (conv_gather.c, conv_dw.c), which
 * already beat XNNPACK's forward on this project's shapes. Other cases go to tfjs's own kernels.
 */

type ConvInfo = tf.backend_util.Conv2DInfo;
type Pad = 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;
interface ConvAttrs {
  strides: number | [number, number];
  pad: Pad;
  dataFormat: 'NHWC' | 'NCHW';
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

function convInfo(xShape: number[], filterShape: number[], a: ConvAttrs): ConvInfo {
  return tf.backend_util.computeConv2DInfo(xShape as [number, number, number, number],
    filterShape as [number, number, number, number], a.strides, a.dilations ?? 1, a.pad, a.dimRoundingMode, false,
    tf.backend_util.convertConv2DDataFormat(a.dataFormat));
}

function supported(c: ConvInfo, ...ts: tf.TensorInfo[]): boolean {
  return c.dataFormat === 'channelsLast' && c.dilationHeight === 1 && c.dilationWidth === 1
    && ts.every((t) => t.dtype === 'float32');
}

const out = (backend: unknown, shape: number[]) => (backend as WasmBackendInternals).makeOutput(shape, 'float32');

/** Heap scratch freed together. */
class Scratch {
  private readonly ptrs: number[] = [];
  constructor(private readonly rt: KernelRuntime) {}
  floats(n: number): number { const p = this.rt.malloc(4 * Math.max(1, n)); this.ptrs.push(p); return p; }
  ints(values: number[]): number { const p = this.rt.ints(values); this.ptrs.push(p); return p; }
  free(): void { for (const p of this.ptrs.splice(0)) this.rt.free(p); }
}

/** The geometry array of gather_conv (see the enum in conv_gather.c). */
function gatherGeom(p: {
  B: number; nrows: number; ncols: number;
  out: [r0: number, c0: number, rs: number, cs: number, h: number, w: number];
  inp: [r0: number, c0: number, rs: number, cs: number, h: number, w: number];
  R: number; Q: number; relu: boolean; bias: boolean; offsets: number[]; taps: number[];
}): number[] {
  return [p.B, p.nrows, p.ncols, ...p.out, ...p.inp, p.R, p.Q, p.offsets.length, p.relu ? 1 : 0, p.bias ? 1 : 0,
    ...p.offsets, ...p.taps];
}

/** gather_conv's filter panels [Q / 8, taps, R, 8] from w [taps, R, Q] (conv_gather.c pack_panels). */
function packPanels(rt: KernelRuntime, s: Scratch, w: number, taps: number, R: number, Q: number): number {
  const panels = s.floats(taps * R * (Q - (Q % 8)));
  rt.call1('pack_panels', w, taps, R, Q, panels);
  return panels;
}

/** Whether winograd.c covers a convolution: 3x3, stride 1, Ci % 4 == 0, Co % 8 == 0. */
export function winogradFits(KH: number, KW: number, sh: number, sw: number, Ci: number, Co: number): boolean {
  return KH === 3 && KW === 3 && sh === 1 && sw === 1 && Ci % 4 === 0 && Co % 8 === 0;
}

/**
 * Stride-1 3x3 convolution by Winograd (winograd.c): output (oy, ox) reads x [B,H,W,Ci] from row
 * oy - top and column ox - left (zeros outside); w is [3,3,Ci,Co]. F(4x4, 3x3) needs 2.25
 * multiply-adds per output against F(2x2, 3x3)'s 4 (~1.5x faster here at batch 128, relative
 * error ~1e-5); outputs smaller than a 4x4 tile take F(2x2, 3x3), which wastes less on them.
 */
function winograd(rt: KernelRuntime, s: Scratch, g: { B: number; H: number; W: number; Ci: number; Co: number; OH: number; OW: number;
  top: number; left: number }, x: number, w: number, bias: number, relu: boolean, y: number): void {
  const { B, H, W, Ci, Co, OH, OW, top, left } = g;
  const f4 = OH >= 4 && OW >= 4;
  const u = s.floats((f4 ? 36 : 16) * Ci * Co);
  rt.call1(f4 ? 'wino4_filter' : 'wino_filter', w, Ci, Co, u);
  const scratch = s.floats(rt.threads * rt.call1(f4 ? 'wino4_scratch' : 'wino_scratch', Ci, Co));
  const geom = s.ints([B, H, W, Ci, OH, OW, Co, relu ? 1 : 0, bias ? 1 : 0, top, left]);
  rt.run(f4 ? 'wino4_conv' : 'wino_conv', geom, x, u, y, bias, scratch);
}

/** y = conv(x, w) (+ bias, relu) into `y`. */
function forward(rt: KernelRuntime, c: ConvInfo, x: number, w: number, bias: number, relu: boolean, y: number): void {
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: Ci, outChannels: Co } = c;
  const { filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw, outHeight: OH, outWidth: OW } = c;
  const pt = c.padInfo.top, pl = c.padInfo.left;
  const Hp = Math.max(H + pt, (OH - 1) * sh + KH), Wp = Math.max(W + pl, (OW - 1) * sw + KW);
  const s = new Scratch(rt);
  try {
    if (winogradFits(KH, KW, sh, sw, Ci, Co)) {
      winograd(rt, s, { B, H, W, Ci, Co, OH, OW, top: pt, left: pl }, x, w, bias, relu, y);
      return;
    }
    let src = x;
    if (Hp !== H || Wp !== W) {
      src = s.floats(B * Hp * Wp * Ci);
      rt.run('pad_nhwc', x, B, H, W, Ci, src, Hp, Wp, pt, pl);
    }
    let wq = 0;
    if (Co % 4 !== 0) {
      wq = s.floats(KH * KW * Ci * Co);
      rt.call1('transpose_taps', w, KH * KW, Ci, Co, wq);
    }
    const panels = packPanels(rt, s, w, KH * KW, Ci, Co);
    const offsets: number[] = [], taps: number[] = [];
    for (let ky = 0; ky < KH; ky++) for (let kx = 0; kx < KW; kx++) { offsets.push((ky * Wp + kx) * Ci); taps.push(ky * KW + kx); }
    const g = s.ints(gatherGeom({ B, nrows: OH, ncols: OW, out: [0, 0, 1, 1, OH, OW], inp: [0, 0, sh, sw, Hp, Wp],
      R: Ci, Q: Co, relu, bias: bias !== 0, offsets, taps }));
    rt.run('gather_conv', g, src, w, wq, panels, KH * KW, y, bias);
  } finally { s.free(); }
}

/** dx = conv2DBackpropInput(dy, w) into `dx`, one gather per stride class of dx pixels. */
function backpropInput(rt: KernelRuntime, c: ConvInfo, dy: number, w: number, dx: number): void {
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: Ci, outChannels: Co } = c;
  const { filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw, outHeight: OH, outWidth: OW } = c;
  const pt = c.padInfo.top, pl = c.padInfo.left;
  // How far the gathered dy rows/cols reach outside [0, OH) x [0, OW).
  const mt = Math.max(0, Math.ceil((KH - 1 - pt) / sh)), ml = Math.max(0, Math.ceil((KW - 1 - pl) / sw));
  const mb = Math.max(0, Math.floor((H - 1 + pt) / sh) - (OH - 1)), mr = Math.max(0, Math.floor((W - 1 + pl) / sw) - (OW - 1));
  const OHp = OH + mt + mb, OWp = OW + ml + mr;
  const s = new Scratch(rt);
  try {
    if (winogradFits(KH, KW, sh, sw, Co, Ci)) {
      // dx is the forward convolution of dy, padded by 2 - pad, with the filter rotated by 180
      // degrees and its channel axes swapped.
      const wr = s.floats(9 * Ci * Co);
      rt.call1('rot180_swap', w, Ci, Co, wr);
      winograd(rt, s, { B, H: OH, W: OW, Ci: Co, Co: Ci, OH: H, OW: W, top: 2 - pt, left: 2 - pl }, dy, wr, 0, false, dx);
      return;
    }
    const dyp = s.floats(B * OHp * OWp * Co);
    rt.run('pad_nhwc', dy, B, OH, OW, Co, dyp, OHp, OWp, mt, ml);
    const wt = s.floats(KH * KW * Ci * Co);
    rt.call1('transpose_taps', w, KH * KW, Ci, Co, wt);
    const panels = packPanels(rt, s, wt, KH * KW, Co, Ci);
    for (let ry = 0; ry < Math.min(sh, H); ry++) {
      for (let rx = 0; rx < Math.min(sw, W); rx++) {
        const ky0 = (ry + pt) % sh, kx0 = (rx + pl) % sw;
        const offsets: number[] = [], taps: number[] = [];
        for (let ky = ky0; ky < KH; ky += sh) {
          for (let kx = kx0; kx < KW; kx += sw) {
            offsets.push(-(((ky - ky0) / sh) * OWp + (kx - kx0) / sw) * Co);
            taps.push(ky * KW + kx);
          }
        }
        const g = s.ints(gatherGeom({
          B, nrows: Math.ceil((H - ry) / sh), ncols: Math.ceil((W - rx) / sw),
          out: [ry, rx, sh, sw, H, W],
          inp: [(ry + pt - ky0) / sh + mt, (rx + pl - kx0) / sw + ml, 1, 1, OHp, OWp],
          R: Co, Q: Ci, relu: false, bias: false, offsets, taps,
        }));
        rt.run('gather_conv', g, dyp, wt, w, panels, KH * KW, dx, 0);
      }
    }
  } finally { s.free(); }
}

/**
 * Tile groups of the Winograd filter gradient, each with its own partial sum of `positions`
 * Ci x Co floats: at most 8 groups and 32 MB for F(3x3, 2x2); at most 4 groups and 16 MB for
 * F(3x3, 4x4), whose partials are 2.25x larger and where zeroing and summing 8 of them cost more
 * than a quarter of the pass on wide layers. Fixed by shape, so results do not depend on threads.
 */
function winogradGroups(Ci: number, Co: number, positions: 16 | 36): number {
  const [most, bytes] = positions === 16 ? [8, 32 << 20] : [4, 16 << 20];
  return Math.max(1, Math.min(most, Math.floor(bytes / (4 * positions * Ci * Co))));
}

/** conv_dw.c's Geom struct: B, H, W, Ci, OH, OW, Co, KH, KW, sh, sw, pt, pl. */
function geomInts(c: ConvInfo): number[] {
  return [c.batchSize, c.inHeight, c.inWidth, c.inChannels, c.outHeight, c.outWidth, c.outChannels,
    c.filterHeight, c.filterWidth, c.strideHeight, c.strideWidth, c.padInfo.top, c.padInfo.left];
}

function backpropFilter(rt: KernelRuntime, c: ConvInfo, x: number, dy: number, dw: number): void {
  const s = new Scratch(rt);
  try {
    const { batchSize: B, inHeight: H, inWidth: W, inChannels: Ci, outChannels: Co, outHeight: OH, outWidth: OW } = c;
    if (winogradFits(c.filterHeight, c.filterWidth, c.strideHeight, c.strideWidth, Ci, Co)) {
      // F(3x3, 4x4) where dy holds a 4x4 tile, F(3x3, 2x2) below (as in winograd()).
      const f4 = OH >= 4 && OW >= 4, positions = f4 ? 36 : 16;
      const groups = winogradGroups(Ci, Co, positions);
      const partial = s.floats(groups * positions * Ci * Co);
      const scratch = s.floats(rt.threads * rt.call1(f4 ? 'wino4_scratch' : 'wino_scratch', Ci, Co));
      const g = s.ints([B, H, W, Ci, OH, OW, Co, groups, c.padInfo.top, c.padInfo.left]);
      rt.run(f4 ? 'wino4_dw_accumulate' : 'wino_dw_accumulate', g, x, dy, partial, scratch);
      rt.run(f4 ? 'wino4_dw_finish' : 'wino_dw_finish', g, partial, dw);
      return;
    }
    const g = s.ints(geomInts(c));
    if (Ci % 4 === 0 && Co % 8 === 0 && OW <= 8) {
      // One matrix product over output positions per tap (conv_dw.c conv2d_dw_tap). Only for
      // narrow outputs, whose short rows cost conv2d_dw the most: at ResNet-18's stride-2 shapes,
      // batch 128, it took dW from 171 to 103 ms at 4x4 outputs and 144 to 115 ms at 8x8, but
      // 129 to 137 ms at 16x16 (the copies of x per tap cost more than they save there).
      const P = B * OH * OW;
      const xt = s.floats(P * Ci), dq = s.floats(P * Co);
      rt.run('pack_octets', dy, P, Co, dq);
      for (let tap = 0; tap < c.filterHeight * c.filterWidth; tap++) {
        rt.run('im2col_quads', g, x, Math.floor(tap / c.filterWidth), tap % c.filterWidth, xt);
        rt.run('conv2d_dw_tap', g, xt, dq, dw + 4 * tap * Ci * Co);
      }
      return;
    }
    rt.run(Co % 4 === 0 ? 'conv2d_dw' : 'conv2d_dw_scalar', g, x, dy, dw);
  } finally { s.free(); }
}

export function conv2dBackpropFilterConfig(rt: KernelRuntime): tf.KernelConfig {
  return {
    kernelName: tf.Conv2DBackpropFilter,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
      const a = attrs as unknown as ConvAttrs & { filterShape: [number, number, number, number] };
      const c = convInfo(x.shape, a.filterShape, a);
      if (!supported(c, x, dy)) throw new Error('Conv2DBackpropFilter on wasm: only NHWC float32 without dilation is implemented');
      const dw = out(backend, a.filterShape);
      backpropFilter(rt, c, rt.ptr(x), rt.ptr(dy), rt.ptr(dw));
      return dw;
    },
  };
}

/** `own` is tfjs's kernel, kept for what these do not cover. */
export function conv2dBackpropInputConfig(rt: KernelRuntime, own: tf.KernelFunc): tf.KernelConfig {
  return {
    kernelName: tf.Conv2DBackpropInput,
    backendName: 'wasm',
    kernelFunc: (args) => {
      const { dy, filter } = args.inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
      const a = args.attrs as unknown as ConvAttrs & { inputShape: [number, number, number, number] };
      const c = convInfo(a.inputShape, filter.shape, a);
      if (!supported(c, dy, filter)) return own(args);
      const dx = out(args.backend, c.inShape);
      backpropInput(rt, c, rt.ptr(dy), rt.ptr(filter), rt.ptr(dx));
      return dx;
    },
  };
}

export function conv2dConfig(rt: KernelRuntime, own: tf.KernelFunc): tf.KernelConfig {
  return {
    kernelName: tf.Conv2D,
    backendName: 'wasm',
    kernelFunc: (args) => {
      const { x, filter } = args.inputs as { x: tf.TensorInfo; filter: tf.TensorInfo };
      const c = convInfo(x.shape, filter.shape, args.attrs as unknown as ConvAttrs);
      if (!supported(c, x, filter)) return own(args);
      const y = out(args.backend, c.outShape);
      forward(rt, c, rt.ptr(x), rt.ptr(filter), 0, false, rt.ptr(y));
      return y;
    },
  };
}

export function fusedConv2dConfig(rt: KernelRuntime, own: tf.KernelFunc): tf.KernelConfig {
  return {
    kernelName: tf.FusedConv2D,
    backendName: 'wasm',
    kernelFunc: (args) => {
      const { x, filter, bias, preluActivationWeights } = args.inputs as Record<string, tf.TensorInfo | undefined>;
      const a = args.attrs as unknown as ConvAttrs & { activation?: string };
      const c = convInfo(x!.shape, filter!.shape, a);
      const act = a.activation ?? 'linear';
      const biasOk = bias == null || (bias.dtype === 'float32' && tf.util.sizeFromShape(bias.shape) === c.outChannels);
      if (!supported(c, x!, filter!) || preluActivationWeights != null || !biasOk || (act !== 'linear' && act !== 'relu')) {
        return own(args);
      }
      const y = out(args.backend, c.outShape);
      forward(rt, c, rt.ptr(x!), rt.ptr(filter!), bias ? rt.ptr(bias) : 0, act === 'relu', rt.ptr(y));
      return y;
    },
  };
}
