// Convolution filter gradient (Conv2DBackpropFilter) for the tfjs wasm backend, in wasm SIMD128.
//
// These functions run inside a module that imports the tfjs wasm backend's own memory, so every
// pointer below is an offset into the backend's heap (tensor data or scratch from its malloc).
// They must not touch the C stack: the module's __stack_pointer would point into emscripten's
// static data. All temporaries are scalars or v128 values, which live in wasm locals.
// scripts/build-kernels.sh checks the built module never reads __stack_pointer.
// The other kernel files follow the same rules.
//
// Every function takes (part, nparts) and computes only its share of the output, so the same
// call can run on several threads over the same memory. Shares are disjoint and each output
// element is reduced in a fixed order, so results do not depend on the number of threads.
//
// Layouts are tfjs's: NHWC activations, filters [KH, KW, Ci, Co].

#include "simd.h"

typedef float f32;
typedef int i32;

#define EXPORT(name) __attribute__((export_name(#name)))

static inline i32 imin(i32 a, i32 b) { return a < b ? a : b; }
static inline i32 imax(i32 a, i32 b) { return a > b ? a : b; }
static inline i32 floordiv(i32 a, i32 b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
static inline i32 ceildiv(i32 a, i32 b) { return floordiv(a + b - 1, b); }

// [begin, end) of this part's share of n units.
static inline i32 share_begin(i32 n, i32 part, i32 nparts) { return (i32)(((long long)n * part) / nparts); }

// Convolution geometry, passed as an i32 array so the JS side and the C side agree on one layout.
typedef struct {
  i32 B, H, W, Ci;     // input x
  i32 OH, OW, Co;      // output dy
  i32 KH, KW;          // filter
  i32 sh, sw;          // strides
  i32 pt, pl;          // top / left padding
} Geom;

#define V(p) wasm_v128_load(p)
#define S(p) wasm_v128_load32_splat(p)

// ---------------------------------------------------------------------------------------------
// dW[ky,kx,ci,co] = sum over b,oy,ox of x[b, oy*sh+ky-pt, ox*sw+kx-pl, ci] * dy[b,oy,ox,co]
//
// Work units are (tap, 8-wide co block); this part owns a contiguous range of units. Positions
// are visited in blocks of output rows so the x and dy rows a block needs stay in cache while
// every unit of the part sweeps them; accumulators live in registers within a block and in dW
// between blocks.
// ---------------------------------------------------------------------------------------------

#define DW_ROWS 4

// Accumulates one (tap, ci..ci+3, co..co+7) tile over output rows [oy0, oy1) of image b.
static inline void dw_tile4x8(const Geom *g, const f32 *x, const f32 *dy, f32 *out,
                              i32 b, i32 oy0, i32 oy1, i32 ky, i32 kx, i32 ox_lo, i32 ox_hi, i32 ci, i32 co) {
  const i32 Co = g->Co, Ci = g->Ci;
  v128_t a00 = V(out), a01 = V(out + 4);
  v128_t a10 = V(out + Co), a11 = V(out + Co + 4);
  v128_t a20 = V(out + 2 * Co), a21 = V(out + 2 * Co + 4);
  v128_t a30 = V(out + 3 * Co), a31 = V(out + 3 * Co + 4);
  const i32 xstep = g->sw * Ci;
  for (i32 oy = oy0; oy < oy1; oy++) {
    const i32 iy = oy * g->sh + ky - g->pt;
    if (iy < 0 || iy >= g->H) continue;
    const f32 *xp = x + (((b * g->H + iy) * g->W) + ox_lo * g->sw + kx - g->pl) * Ci + ci;
    const f32 *dp = dy + ((b * g->OH + oy) * g->OW + ox_lo) * Co + co;
    for (i32 ox = ox_lo; ox < ox_hi; ox++, xp += xstep, dp += Co) {
      const v128_t d0 = V(dp), d1 = V(dp + 4);
      v128_t s = S(xp);
      MAC(a00, s, d0); MAC(a01, s, d1);
      s = S(xp + 1);
      MAC(a10, s, d0); MAC(a11, s, d1);
      s = S(xp + 2);
      MAC(a20, s, d0); MAC(a21, s, d1);
      s = S(xp + 3);
      MAC(a30, s, d0); MAC(a31, s, d1);
    }
  }
  wasm_v128_store(out, a00); wasm_v128_store(out + 4, a01);
  wasm_v128_store(out + Co, a10); wasm_v128_store(out + Co + 4, a11);
  wasm_v128_store(out + 2 * Co, a20); wasm_v128_store(out + 2 * Co + 4, a21);
  wasm_v128_store(out + 3 * Co, a30); wasm_v128_store(out + 3 * Co + 4, a31);
}

// Same for a single input channel and a 4-wide co block (channel and co tails).
static inline void dw_tile1x4(const Geom *g, const f32 *x, const f32 *dy, f32 *out,
                              i32 b, i32 oy0, i32 oy1, i32 ky, i32 kx, i32 ox_lo, i32 ox_hi, i32 ci, i32 co) {
  const i32 Co = g->Co, Ci = g->Ci;
  v128_t a0 = V(out), a1 = wasm_f32x4_splat(0.f);
  const i32 xstep = g->sw * Ci;
  for (i32 oy = oy0; oy < oy1; oy++) {
    const i32 iy = oy * g->sh + ky - g->pt;
    if (iy < 0 || iy >= g->H) continue;
    const f32 *xp = x + (((b * g->H + iy) * g->W) + ox_lo * g->sw + kx - g->pl) * Ci + ci;
    const f32 *dp = dy + ((b * g->OH + oy) * g->OW + ox_lo) * Co + co;
    i32 ox = ox_lo;
    // Two independent chains so the adds do not serialise on one register.
    for (; ox + 1 < ox_hi; ox += 2, xp += 2 * xstep, dp += 2 * Co) {
      MAC(a0, S(xp), V(dp));
      MAC(a1, S(xp + xstep), V(dp + Co));
    }
    if (ox < ox_hi) MAC(a0, S(xp), V(dp));
  }
  wasm_v128_store(out, wasm_f32x4_add(a0, a1));
}

EXPORT(conv2d_dw)
void conv2d_dw(const Geom *g, const f32 *x, const f32 *dy, f32 *dw, i32 part, i32 nparts) {
  const i32 Ci = g->Ci, Co = g->Co, KW = g->KW;
  const i32 taps = g->KH * KW;
  const i32 nblk = (Co + 7) / 8;  // Co is a multiple of 4; the last block may be 4 wide
  const i32 units = taps * nblk;
  const i32 u0 = share_begin(units, part, nparts), u1 = share_begin(units, part + 1, nparts);
  for (i32 u = u0; u < u1; u++) {
    const i32 tap = u / nblk, co = (u % nblk) * 8, cw = imin(8, Co - co);
    for (i32 ci = 0; ci < Ci; ci++) {
      f32 *o = dw + (tap * Ci + ci) * Co + co;
      for (i32 k = 0; k < cw; k++) o[k] = 0.f;
    }
  }
  for (i32 b = 0; b < g->B; b++) {
    for (i32 oy0 = 0; oy0 < g->OH; oy0 += DW_ROWS) {
      const i32 oy1 = imin(g->OH, oy0 + DW_ROWS);
      for (i32 u = u0; u < u1; u++) {
        const i32 tap = u / nblk, co = (u % nblk) * 8, cw = imin(8, Co - co);
        const i32 ky = tap / KW, kx = tap % KW;
        // Output columns whose input column ox*sw + kx - pl lies inside the image.
        const i32 ox_lo = imax(0, ceildiv(g->pl - kx, g->sw));
        const i32 ox_hi = imin(g->OW, floordiv(g->W - 1 + g->pl - kx, g->sw) + 1);
        if (ox_lo >= ox_hi) continue;
        f32 *o = dw + tap * Ci * Co + co;
        i32 ci = 0;
        if (cw == 8) {
          for (; ci + 4 <= Ci; ci += 4)
            dw_tile4x8(g, x, dy, o + ci * Co, b, oy0, oy1, ky, kx, ox_lo, ox_hi, ci, co);
        }
        for (; ci < Ci; ci++)
          for (i32 c = 0; c < cw; c += 4)
            dw_tile1x4(g, x, dy, o + ci * Co + c, b, oy0, oy1, ky, kx, ox_lo, ox_hi, ci, co + c);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The same dW one tap at a time as a matrix product over output positions, for Ci % 4 == 0 and
// Co % 8 == 0: dW[tap][ci][co] = sum over positions p of xt[p][ci] * dy[p][co], where xt is x at
// the tap's input pixel of each output position (zero outside the image) packed in channel quads,
// [Ci / 4, P, 4] (im2col_quads), and dy is packed in channel octets, [Co / 8, P, 8] (pack_octets).
// Both stream contiguously along positions, and each tile sums all B*OH*OW positions, where
// conv2d_dw's tiles run a few positions per output row (three or four at a 4x4 output) and read x
// and dy on a 2 KB stride at 256 and 512 channels. Positions are summed in order (b, oy, ox), as
// in conv2d_dw; the zeros outside the image add exactly nothing to finite sums.
// ---------------------------------------------------------------------------------------------

#define DW_CHUNK 256

// dst [C / 8, P, 8] <- src [P, C]; positions split by part.
EXPORT(pack_octets)
void pack_octets(const f32 *src, i32 P, i32 C, f32 *dst, i32 part, i32 nparts) {
  const i32 p0 = share_begin(P, part, nparts), p1 = share_begin(P, part + 1, nparts);
  for (i32 c = 0; c + 8 <= C; c += 8) {
    f32 *d = dst + (c / 8) * P * 8;
    for (i32 p = p0; p < p1; p++) {
      wasm_v128_store(d + p * 8, V(src + p * C + c));
      wasm_v128_store(d + p * 8 + 4, V(src + p * C + c + 4));
    }
  }
}

// xt [Ci / 4, P, 4] <- x at tap (ky, kx) of each output position; positions split by part.
EXPORT(im2col_quads)
void im2col_quads(const Geom *g, const f32 *x, i32 ky, i32 kx, f32 *xt, i32 part, i32 nparts) {
  const i32 per_img = g->OH * g->OW, P = g->B * per_img, Ci = g->Ci;
  const i32 p0 = share_begin(P, part, nparts), p1 = share_begin(P, part + 1, nparts);
  for (i32 p = p0; p < p1; p++) {
    const i32 b = p / per_img, r = p % per_img, oy = r / g->OW, ox = r % g->OW;
    const i32 iy = oy * g->sh + ky - g->pt, ix = ox * g->sw + kx - g->pl;
    f32 *d = xt + p * 4;
    if (iy < 0 || iy >= g->H || ix < 0 || ix >= g->W) {
      for (i32 c = 0; c < Ci; c += 4) wasm_v128_store(d + c * P, wasm_f32x4_splat(0.f));
      continue;
    }
    const f32 *src = x + ((b * g->H + iy) * g->W + ix) * Ci;
    for (i32 c = 0; c < Ci; c += 4) wasm_v128_store(d + c * P, V(src + c));
  }
}

// dwt [Ci, Co] (one tap of dW) <- xt^T dq. Work units are (8-wide co block, 4-channel ci block),
// co-major so consecutive units reuse a chunk of dq; positions run in chunks of DW_CHUNK so a
// chunk of each stays in cache, with the accumulators kept in dwt between chunks.
EXPORT(conv2d_dw_tap)
void conv2d_dw_tap(const Geom *g, const f32 *xt, const f32 *dq, f32 *dwt, i32 part, i32 nparts) {
  const i32 P = g->B * g->OH * g->OW, Ci4 = g->Ci / 4, Co = g->Co, Co8 = Co / 8;
  const i32 units = Ci4 * Co8;
  const i32 u0 = share_begin(units, part, nparts), u1 = share_begin(units, part + 1, nparts);
  for (i32 q0 = 0; q0 < P; q0 += DW_CHUNK) {
    const i32 q1 = imin(P, q0 + DW_CHUNK);
    for (i32 u = u0; u < u1; u++) {
      const i32 o8 = u / Ci4, c4 = u % Ci4;
      f32 *out = dwt + c4 * 4 * Co + o8 * 8;
      v128_t a00, a01, a10, a11, a20, a21, a30, a31;
      if (q0 == 0) {
        a00 = a01 = a10 = a11 = a20 = a21 = a30 = a31 = wasm_f32x4_splat(0.f);
      } else {
        a00 = V(out); a01 = V(out + 4); a10 = V(out + Co); a11 = V(out + Co + 4);
        a20 = V(out + 2 * Co); a21 = V(out + 2 * Co + 4); a30 = V(out + 3 * Co); a31 = V(out + 3 * Co + 4);
      }
      const f32 *xp = xt + (c4 * P + q0) * 4, *dp = dq + (o8 * P + q0) * 8;
      for (i32 q = q0; q < q1; q++, xp += 4, dp += 8) {
        const v128_t d0 = V(dp), d1 = V(dp + 4);
        v128_t s = S(xp);
        MAC(a00, s, d0); MAC(a01, s, d1);
        s = S(xp + 1);
        MAC(a10, s, d0); MAC(a11, s, d1);
        s = S(xp + 2);
        MAC(a20, s, d0); MAC(a21, s, d1);
        s = S(xp + 3);
        MAC(a30, s, d0); MAC(a31, s, d1);
      }
      wasm_v128_store(out, a00); wasm_v128_store(out + 4, a01);
      wasm_v128_store(out + Co, a10); wasm_v128_store(out + Co + 4, a11);
      wasm_v128_store(out + 2 * Co, a20); wasm_v128_store(out + 2 * Co + 4, a21);
      wasm_v128_store(out + 3 * Co, a30); wasm_v128_store(out + 3 * Co + 4, a31);
    }
  }
}

// Any channel counts (the SIMD path needs Co % 4 == 0): plain loops, same reduction order.
EXPORT(conv2d_dw_scalar)
void conv2d_dw_scalar(const Geom *g, const f32 *x, const f32 *dy, f32 *dw, i32 part, i32 nparts) {
  const i32 Ci = g->Ci, Co = g->Co, taps = g->KH * g->KW;
  const i32 units = taps * Ci;
  const i32 u0 = share_begin(units, part, nparts), u1 = share_begin(units, part + 1, nparts);
  for (i32 u = u0; u < u1; u++) {
    const i32 tap = u / Ci, ci = u % Ci, ky = tap / g->KW, kx = tap % g->KW;
    f32 *o = dw + u * Co;
    for (i32 co = 0; co < Co; co++) o[co] = 0.f;
    for (i32 b = 0; b < g->B; b++)
      for (i32 oy = 0; oy < g->OH; oy++) {
        const i32 iy = oy * g->sh + ky - g->pt;
        if (iy < 0 || iy >= g->H) continue;
        for (i32 ox = 0; ox < g->OW; ox++) {
          const i32 ix = ox * g->sw + kx - g->pl;
          if (ix < 0 || ix >= g->W) continue;
          const f32 xv = x[((b * g->H + iy) * g->W + ix) * Ci + ci];
          const f32 *dp = dy + ((b * g->OH + oy) * g->OW + ox) * Co;
          for (i32 co = 0; co < Co; co++) o[co] += xv * dp[co];
        }
      }
  }
}

