// Max-pool gradient in wasm SIMD128 (rules as in conv_grad.c: no C stack, (part, nparts) shares).
// Each window sends its dy to the first position holding the window's maximum (strict >, row-major
// window order), as tfjs's cpu backend does; windows may overlap and be clipped by padding.
// Parts own whole images, so the scatter-adds of two threads never meet.

#include <wasm_simd128.h>

typedef float f32;
typedef int i32;

#define EXPORT(name) __attribute__((export_name(#name)))

static inline i32 imin(i32 a, i32 b) { return a < b ? a : b; }
static inline i32 imax(i32 a, i32 b) { return a > b ? a : b; }
static inline i32 share_begin(i32 n, i32 part, i32 nparts) { return (i32)(((long long)n * part) / nparts); }

// g: B, H, W, C, OH, OW, FH, FW, sh, sw, pt, pl
EXPORT(maxpool_grad)
void maxpool_grad(const i32 *g, const f32 *x, const f32 *dy, f32 *dx, i32 part, i32 nparts) {
  const i32 B = g[0], H = g[1], W = g[2], C = g[3], OH = g[4], OW = g[5];
  const i32 FH = g[6], FW = g[7], sh = g[8], sw = g[9], pt = g[10], pl = g[11];
  const i32 b0 = share_begin(B, part, nparts), b1 = share_begin(B, part + 1, nparts);
  const i32 C4 = C & ~3;
  for (i32 b = b0; b < b1; b++) {
    f32 *dxb = dx + b * H * W * C;
    const f32 *xb = x + b * H * W * C;
    for (i32 k = 0; k < H * W * C; k++) dxb[k] = 0.f;
    for (i32 oy = 0; oy < OH; oy++) {
      const i32 y0 = imax(0, oy * sh - pt), y1 = imin(H, oy * sh - pt + FH);
      for (i32 ox = 0; ox < OW; ox++) {
        const i32 x0 = imax(0, ox * sw - pl), x1 = imin(W, ox * sw - pl + FW);
        const f32 *d = dy + ((b * OH + oy) * OW + ox) * C;
        for (i32 c = 0; c < C4; c += 4) {
          v128_t best = wasm_f32x4_splat(-__builtin_inff());
          v128_t at = wasm_i32x4_splat(-1);
          for (i32 yy = y0; yy < y1; yy++)
            for (i32 xx = x0; xx < x1; xx++) {
              const i32 pos = (yy * W + xx) * C;
              const v128_t v = wasm_v128_load(xb + pos + c);
              const v128_t gt = wasm_f32x4_gt(v, best);
              best = wasm_v128_bitselect(v, best, gt);
              at = wasm_v128_bitselect(wasm_i32x4_splat(pos), at, gt);
            }
          const v128_t dv = wasm_v128_load(d + c);
          i32 p;
          if ((p = wasm_i32x4_extract_lane(at, 0)) >= 0) dxb[p + c] += wasm_f32x4_extract_lane(dv, 0);
          if ((p = wasm_i32x4_extract_lane(at, 1)) >= 0) dxb[p + c + 1] += wasm_f32x4_extract_lane(dv, 1);
          if ((p = wasm_i32x4_extract_lane(at, 2)) >= 0) dxb[p + c + 2] += wasm_f32x4_extract_lane(dv, 2);
          if ((p = wasm_i32x4_extract_lane(at, 3)) >= 0) dxb[p + c + 3] += wasm_f32x4_extract_lane(dv, 3);
        }
        for (i32 c = C4; c < C; c++) {
          f32 best = -__builtin_inff();
          i32 at = -1;
          for (i32 yy = y0; yy < y1; yy++)
            for (i32 xx = x0; xx < x1; xx++) {
              const i32 pos = (yy * W + xx) * C;
              if (xb[pos + c] > best) { best = xb[pos + c]; at = pos; }
            }
          if (at >= 0) dxb[at + c] += d[c];
        }
      }
    }
  }
}
