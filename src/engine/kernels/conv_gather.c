// Convolution forward (Conv2D / FusedConv2D) and input gradient (Conv2DBackpropInput) as one
// "gather" kernel, in wasm SIMD128 (rules as in conv_dw.c).
//
// Both compute, for each output pixel p and output channel q,
//     out[p, q] = sum over taps t and reduction channels r of  in[base(p) + off[t] + r] * w[idx[t], r, q]
// where `in` is a zero-padded NHWC buffer (so no tap needs a bounds check), base(p) is pixel p's
// position in it and off[t] a per-tap offset shared by every pixel of the call.
//   forward:  in = x padded, w = filter [taps, Ci, Co] as is, r = ci, q = co.
//   dX:       in = dy padded, w = filter transposed to [taps, Co, Ci], r = co, q = ci; the pixels of
//             dX split into stride classes (iy mod sh, ix mod sw), one call per class, because a
//             class's pixels all use the same taps at the same relative offsets.
// When Q % 4 != 0 the remaining channels use wq, the same filter laid out [taps, Q, R].
// Pixels are gathered, not scattered, so each output element is written by one thread and summed
// in one order.

#include "simd.h"

typedef float f32;
typedef int i32;

#define EXPORT(name) __attribute__((export_name(#name)))
#define V(p) wasm_v128_load(p)
#define S(p) wasm_v128_load32_splat(p)

static inline i32 share_begin(i32 n, i32 part, i32 nparts) { return (i32)(((long long)n * part) / nparts); }

// dst [B, Hp, Wp, C] <- src [B, H, W, C] placed at (top, left), zeros elsewhere. Rows split by part.
EXPORT(pad_nhwc)
void pad_nhwc(const f32 *src, i32 B, i32 H, i32 W, i32 C, f32 *dst, i32 Hp, i32 Wp, i32 top, i32 left,
              i32 part, i32 nparts) {
  const i32 rows = B * Hp;
  const i32 r0 = share_begin(rows, part, nparts), r1 = share_begin(rows, part + 1, nparts);
  const i32 rowlen = Wp * C;
  for (i32 r = r0; r < r1; r++) {
    const i32 b = r / Hp, y = r % Hp - top;
    f32 *d = dst + r * rowlen;
    if (y < 0 || y >= H) {
      for (i32 k = 0; k < rowlen; k++) d[k] = 0.f;
      continue;
    }
    const f32 *s = src + (b * H + y) * W * C;
    const i32 l = left * C, n = W * C;
    for (i32 k = 0; k < l; k++) d[k] = 0.f;
    for (i32 k = 0; k < n; k++) d[l + k] = s[k];
    for (i32 k = l + n; k < rowlen; k++) d[k] = 0.f;
  }
}

// wt [taps, Co, Ci] <- w [taps, Ci, Co] (filters are small; one thread).
EXPORT(transpose_taps)
void transpose_taps(const f32 *w, i32 taps, i32 Ci, i32 Co, f32 *wt) {
  for (i32 t = 0; t < taps; t++)
    for (i32 ci = 0; ci < Ci; ci++)
      for (i32 co = 0; co < Co; co++) wt[(t * Co + co) * Ci + ci] = w[(t * Ci + ci) * Co + co];
}

// panels [Q / 8, taps, R, 8] <- w [taps, R, Q]: each 8-wide column of the filter contiguous, so
// tile4x8 reads it as one sequential stream (rows of w are Q floats apart: for Q = 512 every row
// is on a new 2 KB stride, which the hardware prefetcher does not follow across pages).
EXPORT(pack_panels)
void pack_panels(const f32 *w, i32 taps, i32 R, i32 Q, f32 *panels) {
  for (i32 q = 0; q + 8 <= Q; q += 8)
    for (i32 t = 0; t < taps; t++)
      for (i32 r = 0; r < R; r++) {
        const f32 *src = w + (t * R + r) * Q + q;
        wasm_v128_store(panels, V(src));
        wasm_v128_store(panels + 4, V(src + 4));
        panels += 8;
      }
}

// The call's geometry (an i32 array; conv.ts writes it).
enum {
  G_B, G_NROWS, G_NCOLS,                // pixels: B images x NROWS x NCOLS
  G_OUT_R0, G_OUT_C0, G_OUT_RS, G_OUT_CS, G_OUT_H, G_OUT_W,   // pixel (row, col) -> output (r0+row*rs, c0+col*cs) in [OUT_H, OUT_W]
  G_IN_R0, G_IN_C0, G_IN_RS, G_IN_CS, G_IN_H, G_IN_W,         // ... and -> padded input (r0+row*rs, c0+col*cs) in [IN_H, IN_W]
  G_R, G_Q, G_NTAPS, G_RELU, G_BIAS,
  G_TAPS                                // NTAPS offsets, then NTAPS filter tap indices
};

static inline void pixel_at(const i32 *g, i32 k, const f32 *in, f32 *out, const f32 **src, f32 **dst) {
  const i32 per_img = g[G_NROWS] * g[G_NCOLS];
  const i32 b = k / per_img, r = k % per_img;
  const i32 row = r / g[G_NCOLS], col = r % g[G_NCOLS];
  const i32 iy = g[G_IN_R0] + row * g[G_IN_RS], ix = g[G_IN_C0] + col * g[G_IN_CS];
  const i32 oy = g[G_OUT_R0] + row * g[G_OUT_RS], ox = g[G_OUT_C0] + col * g[G_OUT_CS];
  *src = in + ((b * g[G_IN_H] + iy) * g[G_IN_W] + ix) * g[G_R];
  *dst = out + ((b * g[G_OUT_H] + oy) * g[G_OUT_W] + ox) * g[G_Q];
}

// Adds bias, applies relu, stores 4 lanes.
static inline void put4(const i32 *g, const f32 *bias, f32 *o, v128_t v) {
  if (g[G_BIAS]) v = wasm_f32x4_add(v, V(bias));
  if (g[G_RELU]) v = wasm_f32x4_max(v, wasm_f32x4_splat(0.f));
  wasm_v128_store(o, v);
}

static inline f32 put1(const i32 *g, const f32 *bias, f32 v) {
  if (g[G_BIAS]) v += *bias;
  if (g[G_RELU] && !(v > 0.f)) v = 0.f;
  return v;
}

// 4 pixels x 8 output channels starting at q: the main tile.
static inline void tile4x8(const i32 *g, const f32 *s0, const f32 *s1, const f32 *s2, const f32 *s3,
                           const f32 *panel, const f32 *bias, i32 q, f32 *o0, f32 *o1, f32 *o2, f32 *o3) {
  const i32 R = g[G_R], nt = g[G_NTAPS];
  const i32 *off = g + G_TAPS, *idx = g + G_TAPS + nt;
  v128_t a00 = wasm_f32x4_splat(0.f), a01 = a00, a10 = a00, a11 = a00;
  v128_t a20 = a00, a21 = a00, a30 = a00, a31 = a00;
  for (i32 t = 0; t < nt; t++) {
    const f32 *p0 = s0 + off[t], *p1 = s1 + off[t], *p2 = s2 + off[t], *p3 = s3 + off[t];
    const f32 *wp = panel + idx[t] * R * 8;
    for (i32 r = 0; r < R; r++, wp += 8) {
      const v128_t w0 = V(wp), w1 = V(wp + 4);
      v128_t s = S(p0 + r);
      MAC(a00, s, w0); MAC(a01, s, w1);
      s = S(p1 + r);
      MAC(a10, s, w0); MAC(a11, s, w1);
      s = S(p2 + r);
      MAC(a20, s, w0); MAC(a21, s, w1);
      s = S(p3 + r);
      MAC(a30, s, w0); MAC(a31, s, w1);
    }
  }
  bias += q;
  put4(g, bias, o0 + q, a00); put4(g, bias + 4, o0 + q + 4, a01);
  put4(g, bias, o1 + q, a10); put4(g, bias + 4, o1 + q + 4, a11);
  put4(g, bias, o2 + q, a20); put4(g, bias + 4, o2 + q + 4, a21);
  put4(g, bias, o3 + q, a30); put4(g, bias + 4, o3 + q + 4, a31);
}

// 1 pixel x 4 output channels (tails).
static inline void tile1x4(const i32 *g, const f32 *s0, const f32 *w, const f32 *bias, i32 q, f32 *o0) {
  const i32 R = g[G_R], Q = g[G_Q], nt = g[G_NTAPS];
  const i32 *off = g + G_TAPS, *idx = g + G_TAPS + nt;
  v128_t a0 = wasm_f32x4_splat(0.f), a1 = a0;
  for (i32 t = 0; t < nt; t++) {
    const f32 *p0 = s0 + off[t];
    const f32 *wp = w + idx[t] * R * Q + q;
    i32 r = 0;
    for (; r + 1 < R; r += 2, wp += 2 * Q) {
      MAC(a0, S(p0 + r), V(wp));
      MAC(a1, S(p0 + r + 1), V(wp + Q));
    }
    if (r < R) MAC(a0, S(p0 + r), V(wp));
  }
  put4(g, bias + q, o0 + q, wasm_f32x4_add(a0, a1));
}

// Output channel q of 4 pixels, vectorised along the reduction instead (for Q % 4 != 0, e.g. the
// dX of a first layer with 1 or 3 input channels). wq is the filter laid out [taps, Q, R].
static inline f32 hsum(v128_t v) {
  return wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1)
       + wasm_f32x4_extract_lane(v, 2) + wasm_f32x4_extract_lane(v, 3);
}

static inline void dot4(const i32 *g, const f32 *s0, const f32 *s1, const f32 *s2, const f32 *s3,
                        const f32 *wq, const f32 *bias, i32 q, f32 *o0, f32 *o1, f32 *o2, f32 *o3) {
  const i32 R = g[G_R], Q = g[G_Q], nt = g[G_NTAPS], R4 = R & ~3;
  const i32 *off = g + G_TAPS, *idx = g + G_TAPS + nt;
  v128_t a0 = wasm_f32x4_splat(0.f), a1 = a0, a2 = a0, a3 = a0;
  f32 e0 = 0.f, e1 = 0.f, e2 = 0.f, e3 = 0.f;
  for (i32 t = 0; t < nt; t++) {
    const f32 *p0 = s0 + off[t], *p1 = s1 + off[t], *p2 = s2 + off[t], *p3 = s3 + off[t];
    const f32 *wp = wq + (idx[t] * Q + q) * R;
    i32 r = 0;
    for (; r < R4; r += 4) {
      const v128_t wv = V(wp + r);
      MAC(a0, V(p0 + r), wv); MAC(a1, V(p1 + r), wv); MAC(a2, V(p2 + r), wv); MAC(a3, V(p3 + r), wv);
    }
    for (; r < R; r++) { e0 += p0[r] * wp[r]; e1 += p1[r] * wp[r]; e2 += p2[r] * wp[r]; e3 += p3[r] * wp[r]; }
  }
  o0[q] = put1(g, bias + q, hsum(a0) + e0);
  o1[q] = put1(g, bias + q, hsum(a1) + e1);
  o2[q] = put1(g, bias + q, hsum(a2) + e2);
  o3[q] = put1(g, bias + q, hsum(a3) + e3);
}

// Pixel tiles per block: each block sweeps the output channels once, so an 8-wide column of the
// filter is read from cache by all of a block's tiles (wide filters, e.g. 3x3x256x512 = 4.7 MB,
// do not fit in L2; re-reading the whole filter for every 4 pixels made such layers ~35% slower
// per FLOP than narrow ones). Tiles are the same and each output is summed in the same order, so
// results do not depend on the block size or the number of threads.
#define GATHER_BLOCK_TILES 16

static inline void pixels4(const i32 *g, i32 k0, const f32 *in, f32 *out, const f32 **s, f32 **o) {
  for (i32 i = 0; i < 4; i++) pixel_at(g, k0 + i, in, out, &s[i], &o[i]);
}

EXPORT(gather_conv)
void gather_conv(const i32 *g, const f32 *in, const f32 *w, const f32 *wq, const f32 *panels, i32 ftaps,
                 f32 *out, const f32 *bias, i32 part, i32 nparts) {
  const i32 Q = g[G_Q], Q8 = Q & ~7, Q4 = Q & ~3;
  const i32 npix = g[G_B] * g[G_NROWS] * g[G_NCOLS];
  const i32 nfull = npix / 4, ntiles = (npix + 3) / 4;
  const i32 t0 = share_begin(ntiles, part, nparts), t1 = share_begin(ntiles, part + 1, nparts);
  const i32 f1 = t1 < nfull ? t1 : nfull;
  for (i32 b0 = t0; b0 < f1; b0 += GATHER_BLOCK_TILES) {
    const i32 b1 = b0 + GATHER_BLOCK_TILES < f1 ? b0 + GATHER_BLOCK_TILES : f1;
    const f32 *s[4];
    f32 *o[4];
    for (i32 q = 0; q < Q8; q += 8) {
      for (i32 t = b0; t < b1; t++) {
        pixels4(g, 4 * t, in, out, s, o);
        tile4x8(g, s[0], s[1], s[2], s[3], panels + q * ftaps * g[G_R], bias, q, o[0], o[1], o[2], o[3]);
      }
    }
    for (i32 t = b0; t < b1; t++) {
      pixels4(g, 4 * t, in, out, s, o);
      for (i32 q = Q8; q < Q4; q += 4) {
        tile1x4(g, s[0], w, bias, q, o[0]); tile1x4(g, s[1], w, bias, q, o[1]);
        tile1x4(g, s[2], w, bias, q, o[2]); tile1x4(g, s[3], w, bias, q, o[3]);
      }
      for (i32 q = Q4; q < Q; q++) dot4(g, s[0], s[1], s[2], s[3], wq, bias, q, o[0], o[1], o[2], o[3]);
    }
  }
  // The last, partial tile (at most one, owned by the last part).
  for (i32 t = f1 > t0 ? f1 : t0; t < t1; t++) {
    for (i32 k = 4 * t; k < npix; k++) {
      const f32 *s0;
      f32 *o0;
      pixel_at(g, k, in, out, &s0, &o0);
      for (i32 q = 0; q < Q4; q += 4) tile1x4(g, s0, w, bias, q, o0);
      // A lone pixel reuses the 4-pixel dot with itself as the other three.
      for (i32 q = Q4; q < Q; q++) dot4(g, s0, s0, s0, s0, wq, bias, q, o0, o0, o0, o0);
    }
  }
}
