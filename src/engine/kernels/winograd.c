// 3x3 stride-1 convolution by Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray 2015), in
// wasm SIMD128 (rules as in conv_dw.c). Each 2x2 block of outputs costs 16 multiply-adds per
// (input, output) channel pair instead of 36; the transforms are additions only.
//   filter:  U = G g G^T     (4x4 per channel pair, once per call)
//   input:   V = B^T d B     (4x4 input tile d, per channel)
//   product: M[xi] = V[xi] . U[xi] for each of the 16 positions xi (a small matrix product)
//   output:  Y = A^T M A     (2x2 outputs)
// Tiles are processed in blocks of WT so the block's V and M stay in cache; blocks split across
// parts and each output is computed by one part in one order.
//
// Output (oy, ox) reads input rows oy-top .. oy-top+2 and columns ox-left .. ox-left+2 (zero
// outside the image). Tiles inside the image are read in place; the few on its border are first
// copied with their zeros into a 4x4 scratch tile, so the input needs no padded copy.
// Needs Ci % 4 == 0 and Co % 8 == 0.

#include "simd.h"

typedef float f32;
typedef int i32;

#define EXPORT(name) __attribute__((export_name(#name)))
#define V(p) wasm_v128_load(p)
#define ST(p, v) wasm_v128_store(p, v)
#define ADD wasm_f32x4_add
#define SUB wasm_f32x4_sub
#define WT 32
// Floats between the 16 per-position slabs of a block's V and M: the slab size plus one cache
// line, so the 16 slabs a tile transform writes do not all map to the same L1 set (with WT*C a
// power of two they would, and the transforms thrash L1).
#define SLAB(c) (WT * (c) + 16)

static inline i32 share_begin(i32 n, i32 part, i32 nparts) { return (i32)(((long long)n * part) / nparts); }

// U[xi][ci][co] from g[3][3][Ci][Co]; co in vectors of 4.
EXPORT(wino_filter)
void wino_filter(const f32 *g, i32 Ci, i32 Co, f32 *U) {
  const v128_t h = wasm_f32x4_splat(0.5f);
  const i32 S = Ci * Co;  // stride between taps of g and between positions of U
  for (i32 ci = 0; ci < Ci; ci++) {
    for (i32 co = 0; co < Co; co += 4) {
      const f32 *p = g + ci * Co + co;
      v128_t t[4][3];
      // t = G g: rows 0 and 3 copy g's first and last rows; rows 1, 2 are (g0 +- g1 + g2) / 2.
      for (i32 j = 0; j < 3; j++) {
        const v128_t g0 = V(p + (0 * 3 + j) * S), g1 = V(p + (1 * 3 + j) * S), g2 = V(p + (2 * 3 + j) * S);
        t[0][j] = g0;
        t[1][j] = wasm_f32x4_mul(ADD(ADD(g0, g1), g2), h);
        t[2][j] = wasm_f32x4_mul(ADD(SUB(g0, g1), g2), h);
        t[3][j] = g2;
      }
      for (i32 i = 0; i < 4; i++) {
        f32 *u = U + (i * 4) * S + ci * Co + co;
        ST(u, t[i][0]);
        ST(u + S, wasm_f32x4_mul(ADD(ADD(t[i][0], t[i][1]), t[i][2]), h));
        ST(u + 2 * S, wasm_f32x4_mul(ADD(SUB(t[i][0], t[i][1]), t[i][2]), h));
        ST(u + 3 * S, t[i][2]);
      }
    }
  }
}

// The call's geometry (i32 array).
enum { G_B, G_H, G_W, G_CI, G_OH, G_OW, G_CO, G_RELU, G_BIAS, G_TOP, G_LEFT };

// Whether the n x n input tile at (iy, ix) lies wholly inside the image (n = 4 for F(2x2, 3x3), 6 for F(4x4, 3x3)).
static inline i32 tile_inside(i32 H, i32 W, i32 iy, i32 ix, i32 n) { return iy >= 0 && iy + n <= H && ix >= 0 && ix + n <= W; }

// Copies the n x n x Ci input tile at (iy, ix) of image b into buf ([n][n][Ci]), zeros outside.
static const f32 *border_tile(const f32 *x, i32 H, i32 W, i32 Ci, i32 b, i32 iy, i32 ix, i32 n, f32 *buf) {
  for (i32 r = 0; r < n; r++)
    for (i32 c = 0; c < n; c++) {
      f32 *d = buf + (r * n + c) * Ci;
      const i32 yy = iy + r, xx = ix + c;
      if (yy < 0 || yy >= H || xx < 0 || xx >= W) {
        for (i32 k = 0; k < Ci; k += 4) ST(d + k, wasm_f32x4_splat(0.f));
      } else {
        const f32 *src = x + ((b * H + yy) * W + xx) * Ci;
        for (i32 k = 0; k < Ci; k += 4) ST(d + k, V(src + k));
      }
    }
  return buf;
}

// V[xi][k][c..c+3] for tile k of the block, from the 4x4 input tile at d (row stride rs).
static inline void input_tile(const f32 *d, i32 rs, i32 Ci, f32 *v, i32 k) {
  v128_t t[4][4];
  for (i32 j = 0; j < 4; j++) {
    const v128_t d0 = V(d + j * Ci), d1 = V(d + rs + j * Ci), d2 = V(d + 2 * rs + j * Ci), d3 = V(d + 3 * rs + j * Ci);
    t[0][j] = SUB(d0, d2);
    t[1][j] = ADD(d1, d2);
    t[2][j] = SUB(d2, d1);
    t[3][j] = SUB(d1, d3);
  }
  const i32 S = SLAB(Ci);
  f32 *o = v + k * Ci;
  for (i32 i = 0; i < 4; i++) {
    ST(o + (i * 4 + 0) * S, SUB(t[i][0], t[i][2]));
    ST(o + (i * 4 + 1) * S, ADD(t[i][1], t[i][2]));
    ST(o + (i * 4 + 2) * S, SUB(t[i][2], t[i][1]));
    ST(o + (i * 4 + 3) * S, SUB(t[i][1], t[i][3]));
  }
}

// Input transforms of every channel of the tile at (iy, ix) into row k of the block's V.
static inline void input_tiles(const f32 *x, i32 H, i32 W, i32 Ci, i32 b, i32 iy, i32 ix, f32 *buf, f32 *v, i32 k) {
  const i32 inside = tile_inside(H, W, iy, ix, 4);
  const f32 *d = inside ? x + ((b * H + iy) * W + ix) * Ci : border_tile(x, H, W, Ci, b, iy, ix, 4, buf);
  const i32 rs = inside ? W * Ci : 4 * Ci;
  for (i32 c = 0; c < Ci; c += 4) input_tile(d + c, rs, Ci, v + c, k);
}

// M[xi][k0..k0+3][co..co+7] = V[xi][k0..k0+3][:] . U[xi][:][co..co+7]
static inline void gemm4x8(const f32 *v, i32 Ci, const f32 *u, i32 Co, f32 *m) {
  v128_t a00 = wasm_f32x4_splat(0.f), a01 = a00, a10 = a00, a11 = a00;
  v128_t a20 = a00, a21 = a00, a30 = a00, a31 = a00;
  const f32 *v0 = v, *v1 = v + Ci, *v2 = v + 2 * Ci, *v3 = v + 3 * Ci;
  for (i32 c = 0; c < Ci; c++, u += Co) {
    const v128_t w0 = V(u), w1 = V(u + 4);
    v128_t s = wasm_v128_load32_splat(v0 + c);
    MAC(a00, s, w0); MAC(a01, s, w1);
    s = wasm_v128_load32_splat(v1 + c);
    MAC(a10, s, w0); MAC(a11, s, w1);
    s = wasm_v128_load32_splat(v2 + c);
    MAC(a20, s, w0); MAC(a21, s, w1);
    s = wasm_v128_load32_splat(v3 + c);
    MAC(a30, s, w0); MAC(a31, s, w1);
  }
  ST(m, a00); ST(m + 4, a01);
  ST(m + Co, a10); ST(m + Co + 4, a11);
  ST(m + 2 * Co, a20); ST(m + 2 * Co + 4, a21);
  ST(m + 3 * Co, a30); ST(m + 3 * Co + 4, a31);
}

static inline v128_t epilogue(const i32 *g, const f32 *bias, v128_t v) {
  if (g[G_BIAS]) v = ADD(v, V(bias));
  if (g[G_RELU]) v = wasm_f32x4_max(v, wasm_f32x4_splat(0.f));
  return v;
}

// Floats of scratch one part needs: the block's V and M, and a border tile.
EXPORT(wino_scratch)
i32 wino_scratch(i32 Ci, i32 Co) { return 16 * (SLAB(Ci) + SLAB(Co)) + 16 * Ci; }

EXPORT(wino_conv)
void wino_conv(const i32 *g, const f32 *x, const f32 *U, f32 *y, const f32 *bias, f32 *scratch,
               i32 part, i32 nparts) {
  const i32 H = g[G_H], W = g[G_W], Ci = g[G_CI], OH = g[G_OH], OW = g[G_OW], Co = g[G_CO];
  const i32 TH = (OH + 1) / 2, TW = (OW + 1) / 2, per_img = TH * TW, ntiles = g[G_B] * per_img;
  const i32 nblocks = (ntiles + WT - 1) / WT;
  f32 *vbuf = scratch + part * wino_scratch(Ci, Co);
  f32 *mbuf = vbuf + 16 * SLAB(Ci), *tbuf = mbuf + 16 * SLAB(Co);
  const i32 b0 = share_begin(nblocks, part, nparts), b1 = share_begin(nblocks, part + 1, nparts);
  for (i32 blk = b0; blk < b1; blk++) {
    const i32 t0 = blk * WT, nt = ntiles - t0 < WT ? ntiles - t0 : WT;
    for (i32 k = 0; k < nt; k++) {
      const i32 t = t0 + k, b = t / per_img, r = t % per_img;
      input_tiles(x, H, W, Ci, b, 2 * (r / TW) - g[G_TOP], 2 * (r % TW) - g[G_LEFT], tbuf, vbuf, k);
    }
    // The last block's rows past nt are zeroed (not left stale: garbage could hold denormals,
    // which are slow); their products are computed but never stored.
    const i32 nt4 = (nt + 3) & ~3;
    for (i32 xi = 0; xi < 16; xi++)
      for (i32 k = nt; k < nt4; k++)
        for (i32 c = 0; c < Ci; c += 4) ST(vbuf + xi * SLAB(Ci) + k * Ci + c, wasm_f32x4_splat(0.f));
    for (i32 xi = 0; xi < 16; xi++) {
      const f32 *v = vbuf + xi * SLAB(Ci), *u = U + xi * Ci * Co;
      f32 *m = mbuf + xi * SLAB(Co);
      for (i32 k = 0; k < nt4; k += 4)
        for (i32 co = 0; co < Co; co += 8) gemm4x8(v + k * Ci, Ci, u + co, Co, m + k * Co + co);
    }
    const i32 S = SLAB(Co);
    for (i32 k = 0; k < nt; k++) {
      const i32 t = t0 + k, b = t / per_img, r = t % per_img;
      const i32 oy = 2 * (r / TW), ox = 2 * (r % TW);
      f32 *o = y + ((b * OH + oy) * OW + ox) * Co;
      const i32 right = ox + 1 < OW, down = oy + 1 < OH;
      for (i32 co = 0; co < Co; co += 4) {
        const f32 *m = mbuf + k * Co + co;
        v128_t s0[4], s1[4];
        for (i32 j = 0; j < 4; j++) {
          const v128_t m0 = V(m + (0 * 4 + j) * S), m1 = V(m + (1 * 4 + j) * S);
          const v128_t m2 = V(m + (2 * 4 + j) * S), m3 = V(m + (3 * 4 + j) * S);
          s0[j] = ADD(ADD(m0, m1), m2);
          s1[j] = SUB(SUB(m1, m2), m3);
        }
        const f32 *bb = bias + co;
        ST(o + co, epilogue(g, bb, ADD(ADD(s0[0], s0[1]), s0[2])));
        if (right) ST(o + Co + co, epilogue(g, bb, SUB(SUB(s0[1], s0[2]), s0[3])));
        if (down) {
          ST(o + OW * Co + co, epilogue(g, bb, ADD(ADD(s1[0], s1[1]), s1[2])));
          if (right) ST(o + (OW + 1) * Co + co, epilogue(g, bb, SUB(SUB(s1[1], s1[2]), s1[3])));
        }
      }
    }
  }
}

// w' [3,3,Co,Ci] with w'[ky,kx,co,ci] = w[2-ky,2-kx,ci,co]: the filter that turns the input
// gradient of a stride-1 3x3 convolution into a forward one.
EXPORT(rot180_swap)
void rot180_swap(const f32 *w, i32 Ci, i32 Co, f32 *out) {
  for (i32 ky = 0; ky < 3; ky++)
    for (i32 kx = 0; kx < 3; kx++)
      for (i32 ci = 0; ci < Ci; ci++)
        for (i32 co = 0; co < Co; co++)
          out[((ky * 3 + kx) * Co + co) * Ci + ci] = w[(((2 - ky) * 3 + (2 - kx)) * Ci + ci) * Co + co];
}

// ---------------------------------------------------------------------------------------------
// Filter gradient of the same convolution by F(3x3, 2x2), the transposed algorithm: over each 2x2
// tile e of dy and the 4x4 tile d of (padded) x it reads,
//     dW += G^T [ (A e A^T) . (B^T d B) ] G
// The 16 products are summed over all tiles first (a matrix product per position xi, reducing
// over tiles) and transformed once at the end. Tiles fall into NG fixed groups, each summed into
// its own partial; the groups are added in order, so results do not depend on the thread count.
// ---------------------------------------------------------------------------------------------

enum { D_B, D_H, D_W, D_CI, D_OH, D_OW, D_CO, D_NG, D_TOP, D_LEFT };

// Vd[xi][k][c..c+3] = A e A^T for the dy tile at (oy, ox); entries past the edge are zero.
static inline void dy_tile(const f32 *dy, i32 OH, i32 OW, i32 Co, i32 b, i32 oy, i32 ox, i32 c, f32 *vd, i32 k) {
  const v128_t z = wasm_f32x4_splat(0.f);
  const f32 *p = dy + ((b * OH + oy) * OW + ox) * Co + c;
  const i32 right = ox + 1 < OW, down = oy + 1 < OH;
  const v128_t e00 = V(p), e01 = right ? V(p + Co) : z;
  const v128_t e10 = down ? V(p + OW * Co) : z, e11 = down && right ? V(p + (OW + 1) * Co) : z;
  // Rows of A e: e0, e0 + e1, e0 - e1, -e1 (per column), then the same on columns.
  const v128_t r[4][2] = {
    { e00, e01 }, { ADD(e00, e10), ADD(e01, e11) }, { SUB(e00, e10), SUB(e01, e11) }, { SUB(z, e10), SUB(z, e11) },
  };
  const i32 S = SLAB(Co);
  f32 *o = vd + k * Co + c;
  for (i32 i = 0; i < 4; i++) {
    ST(o + (i * 4 + 0) * S, r[i][0]);
    ST(o + (i * 4 + 1) * S, ADD(r[i][0], r[i][1]));
    ST(o + (i * 4 + 2) * S, SUB(r[i][0], r[i][1]));
    ST(o + (i * 4 + 3) * S, SUB(z, r[i][1]));
  }
}

// m[ci..ci+3][co..co+7] += sum over the block's nt tiles of vx[k][ci..] * vd[k][co..]
static inline void gemm_tn(const f32 *vx, i32 Ci, const f32 *vd, i32 Co, i32 nt, f32 *m) {
  v128_t a00 = V(m), a01 = V(m + 4), a10 = V(m + Co), a11 = V(m + Co + 4);
  v128_t a20 = V(m + 2 * Co), a21 = V(m + 2 * Co + 4), a30 = V(m + 3 * Co), a31 = V(m + 3 * Co + 4);
  for (i32 k = 0; k < nt; k++, vx += Ci, vd += Co) {
    const v128_t d0 = V(vd), d1 = V(vd + 4);
    v128_t s = wasm_v128_load32_splat(vx);
    MAC(a00, s, d0); MAC(a01, s, d1);
    s = wasm_v128_load32_splat(vx + 1);
    MAC(a10, s, d0); MAC(a11, s, d1);
    s = wasm_v128_load32_splat(vx + 2);
    MAC(a20, s, d0); MAC(a21, s, d1);
    s = wasm_v128_load32_splat(vx + 3);
    MAC(a30, s, d0); MAC(a31, s, d1);
  }
  ST(m, a00); ST(m + 4, a01); ST(m + Co, a10); ST(m + Co + 4, a11);
  ST(m + 2 * Co, a20); ST(m + 2 * Co + 4, a21); ST(m + 3 * Co, a30); ST(m + 3 * Co + 4, a31);
}

// Pass 1: partial[g][xi][ci][co] for this part's groups g. scratch: wino_scratch(Ci, Co) per part.
// x is unpadded, placed at (top, left) as in wino_conv.
EXPORT(wino_dw_accumulate)
void wino_dw_accumulate(const i32 *g, const f32 *x, const f32 *dy, f32 *partial, f32 *scratch, i32 part, i32 nparts) {
  const i32 H = g[D_H], W = g[D_W], Ci = g[D_CI], OH = g[D_OH], OW = g[D_OW], Co = g[D_CO], NG = g[D_NG];
  const i32 TH = (OH + 1) / 2, TW = (OW + 1) / 2, per_img = TH * TW, ntiles = g[D_B] * per_img;
  const i32 nblocks = (ntiles + WT - 1) / WT;
  f32 *vx = scratch + part * wino_scratch(Ci, Co), *vd = vx + 16 * SLAB(Ci), *tbuf = vd + 16 * SLAB(Co);
  const i32 g0 = share_begin(NG, part, nparts), g1 = share_begin(NG, part + 1, nparts);
  for (i32 grp = g0; grp < g1; grp++) {
    f32 *m = partial + grp * 16 * Ci * Co;
    for (i32 i = 0; i < 16 * Ci * Co; i += 4) ST(m + i, wasm_f32x4_splat(0.f));
    const i32 bl0 = share_begin(nblocks, grp, NG), bl1 = share_begin(nblocks, grp + 1, NG);
    for (i32 blk = bl0; blk < bl1; blk++) {
      const i32 t0 = blk * WT, nt = ntiles - t0 < WT ? ntiles - t0 : WT;
      for (i32 k = 0; k < nt; k++) {
        const i32 t = t0 + k, b = t / per_img, r = t % per_img, oy = 2 * (r / TW), ox = 2 * (r % TW);
        input_tiles(x, H, W, Ci, b, oy - g[D_TOP], ox - g[D_LEFT], tbuf, vx, k);
        for (i32 c = 0; c < Co; c += 4) dy_tile(dy, OH, OW, Co, b, oy, ox, c, vd, k);
      }
      for (i32 xi = 0; xi < 16; xi++) {
        const f32 *x0 = vx + xi * SLAB(Ci), *d0 = vd + xi * SLAB(Co);
        f32 *mx = m + xi * Ci * Co;
        for (i32 ci = 0; ci < Ci; ci += 4)
          for (i32 co = 0; co < Co; co += 8) gemm_tn(x0 + ci, Ci, d0 + co, Co, nt, mx + ci * Co + co);
      }
    }
  }
}

// Pass 2: dw[ky][kx][ci][co] = G^T (sum over groups of partial) G, input channels split by part.
EXPORT(wino_dw_finish)
void wino_dw_finish(const i32 *g, const f32 *partial, f32 *dw, i32 part, i32 nparts) {
  const i32 Ci = g[D_CI], Co = g[D_CO], NG = g[D_NG], S = Ci * Co;
  const v128_t h = wasm_f32x4_splat(0.5f);
  const i32 c0 = share_begin(Ci, part, nparts), c1 = share_begin(Ci, part + 1, nparts);
  for (i32 ci = c0; ci < c1; ci++) {
    for (i32 co = 0; co < Co; co += 4) {
      v128_t m[4][4];
      for (i32 xi = 0; xi < 16; xi++) {
        v128_t s = wasm_f32x4_splat(0.f);
        for (i32 grp = 0; grp < NG; grp++) s = ADD(s, V(partial + (grp * 16 + xi) * S + ci * Co + co));
        m[xi / 4][xi % 4] = s;
      }
      // G^T = [[1, 1/2, 1/2, 0], [0, 1/2, -1/2, 0], [0, 1/2, 1/2, 1]] on rows, then on columns.
      v128_t t[3][4];
      for (i32 j = 0; j < 4; j++) {
        t[0][j] = ADD(m[0][j], wasm_f32x4_mul(ADD(m[1][j], m[2][j]), h));
        t[1][j] = wasm_f32x4_mul(SUB(m[1][j], m[2][j]), h);
        t[2][j] = ADD(m[3][j], wasm_f32x4_mul(ADD(m[1][j], m[2][j]), h));
      }
      for (i32 i = 0; i < 3; i++) {
        f32 *o = dw + (i * 3) * S + ci * Co + co;
        ST(o, ADD(t[i][0], wasm_f32x4_mul(ADD(t[i][1], t[i][2]), h)));
        ST(o + S, wasm_f32x4_mul(SUB(t[i][1], t[i][2]), h));
        ST(o + 2 * S, ADD(t[i][3], wasm_f32x4_mul(ADD(t[i][1], t[i][2]), h)));
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The same forward convolution by F(4x4, 3x3) (Lavin & Gray 2015, interpolation points 0, +-1,
// +-2, infinity): 36 multiply-adds per channel pair for each 4x4 block of outputs, 2.25 per
// output against F(2x2, 3x3)'s 4, for larger transforms. Same geometry, layout and work split as
// wino_conv; blocks of WT tiles, 36 slabs per block.
//   B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
//   G   = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
//   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
// ---------------------------------------------------------------------------------------------

#define MUL wasm_f32x4_mul
#define SPL wasm_f32x4_splat

// o[0..5] = G (a, b, c)
static inline __attribute__((always_inline)) void g6(v128_t a, v128_t b, v128_t c, v128_t o[6]) {
  const v128_t q = SPL(0.25f), s6 = SPL(1.f / 6.f), s12 = SPL(1.f / 12.f), s24 = SPL(1.f / 24.f);
  const v128_t ac = ADD(a, c), ac2 = ADD(MUL(a, s24), MUL(c, s6)), b12 = MUL(b, s12);
  o[0] = MUL(a, q);
  o[1] = MUL(SUB(SPL(0.f), ADD(ac, b)), s6);
  o[2] = MUL(SUB(b, ac), s6);
  o[3] = ADD(ac2, b12);
  o[4] = SUB(ac2, b12);
  o[5] = c;
}

// U[xi][ci][co] (xi = 6 * row + col) from g[3][3][Ci][Co].
EXPORT(wino4_filter)
void wino4_filter(const f32 *g, i32 Ci, i32 Co, f32 *U) {
  const i32 S = Ci * Co;
  for (i32 ci = 0; ci < Ci; ci++) {
    for (i32 co = 0; co < Co; co += 4) {
      const f32 *p = g + ci * Co + co;
      v128_t t[3][6];  // t[j] = G (column j of g)
      for (i32 j = 0; j < 3; j++) g6(V(p + j * S), V(p + (3 + j) * S), V(p + (6 + j) * S), t[j]);
      for (i32 i = 0; i < 6; i++) {
        v128_t r[6];
        g6(t[0][i], t[1][i], t[2][i], r);
        f32 *u = U + (i * 6) * S + ci * Co + co;
        for (i32 j = 0; j < 6; j++) ST(u + j * S, r[j]);
      }
    }
  }
}

// o[0..5] = B^T (d0..d5)
static inline __attribute__((always_inline)) void bt6(v128_t d0, v128_t d1, v128_t d2, v128_t d3, v128_t d4, v128_t d5, v128_t o[6]) {
  const v128_t f4 = SPL(4.f), f5 = SPL(5.f), f2 = SPL(2.f);
  const v128_t d4d2 = SUB(d4, d2), d3d1 = SUB(d3, d1);
  const v128_t a = SUB(d4, MUL(f4, d2)), b = SUB(d3, MUL(f4, d1));
  const v128_t c = MUL(f2, d3d1);
  o[0] = ADD(SUB(MUL(f4, d0), MUL(f5, d2)), d4);
  o[1] = ADD(a, b);
  o[2] = SUB(a, b);
  o[3] = ADD(d4d2, c);
  o[4] = SUB(d4d2, c);
  o[5] = ADD(SUB(MUL(f4, d1), MUL(f5, d3)), d5);
}

// V[xi][k][c..c+3] for tile k of the block from the 6x6 tile at d (row stride rs, column stride
// Ci); S: the slab stride of v.
static inline __attribute__((always_inline)) void input_tile6(const f32 *d, i32 rs, i32 Ci, f32 *v, i32 k, i32 S) {
  v128_t t[6][6];  // t[j][i] = (B^T column j of d)[i]
  for (i32 j = 0; j < 6; j++) {
    const f32 *p = d + j * Ci;
    bt6(V(p), V(p + rs), V(p + 2 * rs), V(p + 3 * rs), V(p + 4 * rs), V(p + 5 * rs), t[j]);
  }
  f32 *o = v + k * Ci;
  for (i32 i = 0; i < 6; i++) {
    v128_t r[6];
    bt6(t[0][i], t[1][i], t[2][i], t[3][i], t[4][i], t[5][i], r);
    for (i32 j = 0; j < 6; j++) ST(o + (i * 6 + j) * S, r[j]);
  }
}

// o[0..3] = A^T (m0..m5)
static inline __attribute__((always_inline)) void at6(v128_t m0, v128_t m1, v128_t m2, v128_t m3, v128_t m4, v128_t m5, v128_t o[4]) {
  const v128_t p12 = ADD(m1, m2), d12 = SUB(m1, m2), p34 = ADD(m3, m4), d34 = SUB(m3, m4);
  o[0] = ADD(ADD(m0, p12), p34);
  o[1] = ADD(d12, MUL(SPL(2.f), d34));
  o[2] = ADD(p12, MUL(SPL(4.f), p34));
  o[3] = ADD(ADD(d12, MUL(SPL(8.f), d34)), m5);
}

// The 4x4 outputs (nr x nc of them inside the image) of the tile whose products start at m
// (slab stride S), plus the bias if hb, relu if asked.
static inline __attribute__((always_inline)) void output_tile4(const f32 *mk, i32 S, i32 Co, f32 *o, i32 rs,
                                                             const f32 *bias, i32 hb, i32 relu, i32 nr, i32 nc) {
  for (i32 co = 0; co < Co; co += 4) {
    const f32 *m = mk + co;
    v128_t s[6][4];  // s[j] = A^T (column j of M)
#pragma clang loop unroll(full)
    for (i32 j = 0; j < 6; j++)
      at6(V(m + j * S), V(m + (6 + j) * S), V(m + (12 + j) * S), V(m + (18 + j) * S), V(m + (24 + j) * S),
          V(m + (30 + j) * S), s[j]);
    const v128_t bv = hb ? V(bias + co) : SPL(0.f);
    // Constant trip counts (the edge test inside) keep s and q in registers, off the C stack.
#pragma clang loop unroll(full)
    for (i32 i = 0; i < 4; i++) {
      v128_t q[4];
      at6(s[0][i], s[1][i], s[2][i], s[3][i], s[4][i], s[5][i], q);
      f32 *row = o + i * rs + co;
#pragma clang loop unroll(full)
      for (i32 j = 0; j < 4; j++) {
        v128_t v = ADD(q[j], bv);
        if (relu) v = wasm_f32x4_max(v, SPL(0.f));
        if (i < nr && j < nc) ST(row + j * Co, v);
      }
    }
  }
}

EXPORT(wino4_scratch)
i32 wino4_scratch(i32 Ci, i32 Co) { return 36 * (SLAB(Ci) + SLAB(Co)) + 36 * Ci; }

EXPORT(wino4_conv)
void wino4_conv(const i32 *g, const f32 *x, const f32 *U, f32 *y, const f32 *bias, f32 *scratch,
                i32 part, i32 nparts) {
  const i32 H = g[G_H], W = g[G_W], Ci = g[G_CI], OH = g[G_OH], OW = g[G_OW], Co = g[G_CO];
  const i32 TH = (OH + 3) / 4, TW = (OW + 3) / 4, per_img = TH * TW, ntiles = g[G_B] * per_img;
  const i32 nblocks = (ntiles + WT - 1) / WT, relu = g[G_RELU], hb = g[G_BIAS];
  f32 *vbuf = scratch + part * wino4_scratch(Ci, Co);
  f32 *mbuf = vbuf + 36 * SLAB(Ci), *tbuf = mbuf + 36 * SLAB(Co);
  const i32 b0 = share_begin(nblocks, part, nparts), b1 = share_begin(nblocks, part + 1, nparts);
  for (i32 blk = b0; blk < b1; blk++) {
    const i32 t0 = blk * WT, nt = ntiles - t0 < WT ? ntiles - t0 : WT;
    for (i32 k = 0; k < nt; k++) {
      const i32 t = t0 + k, b = t / per_img, r = t % per_img;
      const i32 iy = 4 * (r / TW) - g[G_TOP], ix = 4 * (r % TW) - g[G_LEFT];
      const i32 inside = tile_inside(H, W, iy, ix, 6);
      const f32 *d = inside ? x + ((b * H + iy) * W + ix) * Ci : border_tile(x, H, W, Ci, b, iy, ix, 6, tbuf);
      const i32 rs = inside ? W * Ci : 6 * Ci;
      for (i32 c = 0; c < Ci; c += 4) input_tile6(d + c, rs, Ci, vbuf + c, k, SLAB(Ci));
    }
    // Rows past nt zeroed, as in wino_conv.
    const i32 nt4 = (nt + 3) & ~3;
    for (i32 xi = 0; xi < 36; xi++)
      for (i32 k = nt; k < nt4; k++)
        for (i32 c = 0; c < Ci; c += 4) ST(vbuf + xi * SLAB(Ci) + k * Ci + c, SPL(0.f));
    for (i32 xi = 0; xi < 36; xi++) {
      const f32 *v = vbuf + xi * SLAB(Ci), *u = U + xi * Ci * Co;
      f32 *m = mbuf + xi * SLAB(Co);
      for (i32 k = 0; k < nt4; k += 4)
        for (i32 co = 0; co < Co; co += 8) gemm4x8(v + k * Ci, Ci, u + co, Co, m + k * Co + co);
    }
    const i32 S = SLAB(Co);
    for (i32 k = 0; k < nt; k++) {
      const i32 t = t0 + k, b = t / per_img, r = t % per_img;
      const i32 oy = 4 * (r / TW), ox = 4 * (r % TW);
      const i32 nr = OH - oy < 4 ? OH - oy : 4, nc = OW - ox < 4 ? OW - ox : 4;
      f32 *o = y + ((b * OH + oy) * OW + ox) * Co;
      if (nr == 4 && nc == 4) {
        // Tiles inside the image (most of them) without edge tests, one copy per relu setting.
        if (relu) output_tile4(mbuf + k * Co, S, Co, o, OW * Co, bias, hb, 1, 4, 4);
        else output_tile4(mbuf + k * Co, S, Co, o, OW * Co, bias, hb, 0, 4, 4);
      } else {
        output_tile4(mbuf + k * Co, S, Co, o, OW * Co, bias, hb, relu, nr, nc);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Filter gradient by F(3x3, 4x4), the transposed F(4x4, 3x3): over each 4x4 tile e of dy and the
// 6x6 tile d of x it reads,  dW += G^T [ (A e A^T) . (B^T d B) ] G,  36 products per tile of 16
// outputs. Same groups, passes and determinism as wino_dw_accumulate / wino_dw_finish.
// ---------------------------------------------------------------------------------------------

// o[0..5] = A (e0..e3)
static inline __attribute__((always_inline)) void a6(v128_t e0, v128_t e1, v128_t e2, v128_t e3, v128_t o[6]) {
  const v128_t p02 = ADD(e0, e2), p13 = ADD(e1, e3);
  const v128_t q02 = ADD(e0, MUL(SPL(4.f), e2)), q13 = MUL(SPL(2.f), ADD(e1, MUL(SPL(4.f), e3)));
  o[0] = e0;
  o[1] = ADD(p02, p13);
  o[2] = SUB(p02, p13);
  o[3] = ADD(q02, q13);
  o[4] = SUB(q02, q13);
  o[5] = e3;
}

// Vd[xi][k][c..c+3] = A e A^T for the dy tile at p (row stride rs, column stride cs) of which
// nr x nc entries lie inside dy (the rest are zero). S: the slab stride of vd.
static inline __attribute__((always_inline)) void dy_tile6(const f32 *p, i32 rs, i32 cs, i32 nr, i32 nc, f32 *vd, i32 S) {
  const v128_t z = SPL(0.f);
  v128_t t[4][6];  // t[c] = A (column c of e)
#pragma clang loop unroll(full)
  for (i32 c = 0; c < 4; c++) {
    v128_t e[4];
#pragma clang loop unroll(full)
    for (i32 r = 0; r < 4; r++) e[r] = r < nr && c < nc ? V(p + r * rs + c * cs) : z;
    a6(e[0], e[1], e[2], e[3], t[c]);
  }
#pragma clang loop unroll(full)
  for (i32 i = 0; i < 6; i++) {
    v128_t r[6];
    a6(t[0][i], t[1][i], t[2][i], t[3][i], r);
#pragma clang loop unroll(full)
    for (i32 j = 0; j < 6; j++) ST(vd + (i * 6 + j) * S, r[j]);
  }
}

// Pass 1: partial[g][xi][ci][co] (36 positions) for this part's groups g; scratch:
// wino4_scratch(Ci, Co) per part.
EXPORT(wino4_dw_accumulate)
void wino4_dw_accumulate(const i32 *g, const f32 *x, const f32 *dy, f32 *partial, f32 *scratch, i32 part, i32 nparts) {
  const i32 H = g[D_H], W = g[D_W], Ci = g[D_CI], OH = g[D_OH], OW = g[D_OW], Co = g[D_CO], NG = g[D_NG];
  const i32 TH = (OH + 3) / 4, TW = (OW + 3) / 4, per_img = TH * TW, ntiles = g[D_B] * per_img;
  const i32 nblocks = (ntiles + WT - 1) / WT;
  f32 *vx = scratch + part * wino4_scratch(Ci, Co), *vd = vx + 36 * SLAB(Ci), *tbuf = vd + 36 * SLAB(Co);
  // Fewer groups than parts (wide layers, whose partial sums are large): every part takes every
  // group and a share of the input channels instead. Each sum still runs over the same tiles in
  // the same order, so the result does not depend on the split.
  const i32 split = NG < nparts;
  const i32 g0 = split ? 0 : share_begin(NG, part, nparts), g1 = split ? NG : share_begin(NG, part + 1, nparts);
  const i32 c0 = split ? 4 * share_begin(Ci / 4, part, nparts) : 0, c1 = split ? 4 * share_begin(Ci / 4, part + 1, nparts) : Ci;
  for (i32 grp = g0; grp < g1; grp++) {
    f32 *m = partial + grp * 36 * Ci * Co;
    for (i32 xi = 0; xi < 36; xi++)
      for (i32 i = c0 * Co; i < c1 * Co; i += 4) ST(m + xi * Ci * Co + i, SPL(0.f));
    const i32 bl0 = share_begin(nblocks, grp, NG), bl1 = share_begin(nblocks, grp + 1, NG);
    for (i32 blk = bl0; blk < bl1; blk++) {
      const i32 t0 = blk * WT, nt = ntiles - t0 < WT ? ntiles - t0 : WT;
      for (i32 k = 0; k < nt; k++) {
        const i32 t = t0 + k, b = t / per_img, r = t % per_img, oy = 4 * (r / TW), ox = 4 * (r % TW);
        const i32 iy = oy - g[D_TOP], ix = ox - g[D_LEFT];
        const i32 inside = tile_inside(H, W, iy, ix, 6);
        const f32 *d = inside ? x + ((b * H + iy) * W + ix) * Ci : border_tile(x, H, W, Ci, b, iy, ix, 6, tbuf);
        const i32 rs = inside ? W * Ci : 6 * Ci;
        for (i32 c = c0; c < c1; c += 4) input_tile6(d + c, rs, Ci, vx + c, k, SLAB(Ci));
        const i32 nr = OH - oy < 4 ? OH - oy : 4, nc = OW - ox < 4 ? OW - ox : 4;
        const f32 *e = dy + ((b * OH + oy) * OW + ox) * Co;
        for (i32 c = 0; c < Co; c += 4) dy_tile6(e + c, OW * Co, Co, nr, nc, vd + k * Co + c, SLAB(Co));
      }
      for (i32 xi = 0; xi < 36; xi++) {
        const f32 *x0 = vx + xi * SLAB(Ci), *d0 = vd + xi * SLAB(Co);
        f32 *mx = m + xi * Ci * Co;
        for (i32 ci = c0; ci < c1; ci += 4)
          for (i32 co = 0; co < Co; co += 8) gemm_tn(x0 + ci, Ci, d0 + co, Co, nt, mx + ci * Co + co);
      }
    }
  }
}

// o[0..2] = G^T (m0..m5)
static inline __attribute__((always_inline)) void gt6(v128_t m0, v128_t m1, v128_t m2, v128_t m3, v128_t m4, v128_t m5, v128_t o[3]) {
  const v128_t s6 = SPL(1.f / 6.f), s12 = SPL(1.f / 12.f), s24 = SPL(1.f / 24.f);
  const v128_t p12 = ADD(m1, m2), d12 = SUB(m2, m1), p34 = ADD(m3, m4), d34 = SUB(m3, m4);
  o[0] = ADD(SUB(MUL(m0, SPL(0.25f)), MUL(p12, s6)), MUL(p34, s24));
  o[1] = ADD(MUL(d12, s6), MUL(d34, s12));
  o[2] = ADD(SUB(MUL(p34, s6), MUL(p12, s6)), m5);
}

// Pass 2: dw[ky][kx][ci][co] = G^T (sum over groups of partial) G, input channels split by part.
EXPORT(wino4_dw_finish)
void wino4_dw_finish(const i32 *g, const f32 *partial, f32 *dw, i32 part, i32 nparts) {
  const i32 Ci = g[D_CI], Co = g[D_CO], NG = g[D_NG], S = Ci * Co;
  const i32 c0 = share_begin(Ci, part, nparts), c1 = share_begin(Ci, part + 1, nparts);
  for (i32 ci = c0; ci < c1; ci++) {
    for (i32 co = 0; co < Co; co += 4) {
      v128_t t[6][3];  // t[j] = G^T (column j of the summed M)
#pragma clang loop unroll(full)
      for (i32 j = 0; j < 6; j++) {
        v128_t m[6];
#pragma clang loop unroll(full)
        for (i32 i = 0; i < 6; i++) {
          v128_t s = SPL(0.f);
          for (i32 grp = 0; grp < NG; grp++) s = ADD(s, V(partial + (grp * 36 + i * 6 + j) * S + ci * Co + co));
          m[i] = s;
        }
        gt6(m[0], m[1], m[2], m[3], m[4], m[5], t[j]);
      }
#pragma clang loop unroll(full)
      for (i32 i = 0; i < 3; i++) {
        v128_t o[3];
        gt6(t[0][i], t[1][i], t[2][i], t[3][i], t[4][i], t[5][i], o);
        f32 *w = dw + (i * 3) * S + ci * Co + co;
        ST(w, o[0]); ST(w + S, o[1]); ST(w + 2 * S, o[2]);
      }
    }
  }
}
