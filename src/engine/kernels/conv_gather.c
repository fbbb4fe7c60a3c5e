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
                           const f32 *w, const f32 *bias, i32 q, f32 *o0, f32 *o1, f32 *o2, f32 *o3) {
  const i32 R = g[G_R], Q = g[G_Q], nt = g[G_NTAPS];
  const i32 *off = g + G_TAPS, *idx = g + G_TAPS + nt;
  v128_t a00 = wasm_f32x4_splat(0.f), a01 = a00, a10 = a00, a11 = a00;
  v128_t a20 = a00, a21 = a00, a30 = a00, a31 = a00;
  for (i32 t = 0; t < nt; t++) {
    const f32 *p0 = s0 + off[t], *p1 = s1 + off[t], *p2 = s2 + off[t], *p3 = s3 + off[t];
    const f32 *wp = w + idx[t] * R * Q + q;
    for (i32 r = 0; r < R; r++, wp += Q) {
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

EXPORT(gather_conv)
void gather_conv(const i32 *g, const f32 *in, const f32 *w, const f32 *wq, f32 *out, const f32 *bias,
                 i32 part, i32 nparts) {
  const i32 Q = g[G_Q], Q8 = Q & ~7, Q4 = Q & ~3;
  const i32 npix = g[G_B] * g[G_NROWS] * g[G_NCOLS];
  const i32 ntiles = (npix + 3) / 4;
  const i32 t0 = share_begin(ntiles, part, nparts), t1 = share_begin(ntiles, part + 1, nparts);
  for (i32 t = t0; t < t1; t++) {
    const i32 k0 = 4 * t;
    if (k0 + 4 <= npix) {
      const f32 *s0, *s1, *s2, *s3;
      f32 *o0, *o1, *o2, *o3;
      pixel_at(g, k0, in, out, &s0, &o0);
      pixel_at(g, k0 + 1, in, out, &s1, &o1);
      pixel_at(g, k0 + 2, in, out, &s2, &o2);
      pixel_at(g, k0 + 3, in, out, &s3, &o3);
      for (i32 q = 0; q < Q8; q += 8) tile4x8(g, s0, s1, s2, s3, w, bias, q, o0, o1, o2, o3);
      for (i32 q = Q8; q < Q4; q += 4) {
        tile1x4(g, s0, w, bias, q, o0); tile1x4(g, s1, w, bias, q, o1);
        tile1x4(g, s2, w, bias, q, o2); tile1x4(g, s3, w, bias, q, o3);
      }
      for (i32 q = Q4; q < Q; q++) dot4(g, s0, s1, s2, s3, wq, bias, q, o0, o1, o2, o3);
    } else {
      for (i32 k = k0; k < npix; k++) {
        const f32 *s0;
        f32 *o0;
        pixel_at(g, k, in, out, &s0, &o0);
        for (i32 q = 0; q < Q4; q += 4) tile1x4(g, s0, w, bias, q, o0);
        // A lone pixel reuses the 4-pixel dot with itself as the other three.
        for (i32 q = Q4; q < Q; q++) dot4(g, s0, s0, s0, s0, wq, bias, q, o0, o0, o0, o0);
      }
    }
  }
}

