// Batched matrix product with either operand transposed, in wasm SIMD128 (rules as in
// conv_grad.c). tfjs's wasm BatchMatMul hands untransposed products to XNNPACK but runs
// transposed ones (every dense layer's backward pass) ~15x slower; this covers those.
//
// C[b] (M x N) = op(A[b]) (M x K) . op(B[b]) (K x N). B is packed per part into panels of 8
// columns ([K][8], zero-padded), so the 4x8 inner tile reads 8 contiguous floats per k; A is read
// in place in either layout (4 rows' values at k are contiguous when A is transposed).

#include "simd.h"

typedef float f32;
typedef int i32;

#define EXPORT(name) __attribute__((export_name(#name)))

static inline i32 imin(i32 a, i32 b) { return a < b ? a : b; }
static inline i32 share_begin(i32 n, i32 part, i32 nparts) { return (i32)(((long long)n * part) / nparts); }

// Packs columns [n0, n0+8) of op(B) into panel[K][8].
static void pack_panel(const f32 *b, i32 K, i32 N, i32 transB, i32 n0, f32 *panel) {
  const i32 w = imin(8, N - n0);
  for (i32 k = 0; k < K; k++) {
    f32 *p = panel + 8 * k;
    for (i32 j = 0; j < 8; j++) p[j] = j < w ? (transB ? b[(n0 + j) * K + k] : b[k * N + n0 + j]) : 0.f;
  }
}

// g: batch, M, K, N, transA, transB, batchStrideA, batchStrideB (0 broadcasts).
// scratch: matmul_t_scratch(K) floats per part.
EXPORT(matmul_t)
void matmul_t(const i32 *g, const f32 *a, const f32 *b, f32 *c, f32 *scratch, i32 part, i32 nparts) {
  const i32 batch = g[0], M = g[1], K = g[2], N = g[3], transA = g[4], transB = g[5];
  const i32 sa = g[6], sb = g[7];
  const i32 npanel = (N + 7) / 8, units = batch * npanel;
  f32 *panel = scratch + part * (8 * K + 32);
  // Step between consecutive k of one row of op(A), and between consecutive rows.
  const i32 ak = transA ? M : 1, am = transA ? 1 : K;
  const i32 u0 = share_begin(units, part, nparts), u1 = share_begin(units, part + 1, nparts);
  for (i32 u = u0; u < u1; u++) {
    const i32 bi = u / npanel, n0 = (u % npanel) * 8, w = imin(8, N - n0);
    const f32 *A = a + bi * sa, *Bm = b + bi * sb;
    f32 *Cm = c + bi * M * N;
    pack_panel(Bm, K, N, transB, n0, panel);
    i32 m = 0;
    for (; m + 4 <= M; m += 4) {
      v128_t c00 = wasm_f32x4_splat(0.f), c01 = c00, c10 = c00, c11 = c00;
      v128_t c20 = c00, c21 = c00, c30 = c00, c31 = c00;
      const f32 *a0 = A + m * am, *a1 = a0 + am, *a2 = a1 + am, *a3 = a2 + am;
      const f32 *p = panel;
      for (i32 k = 0; k < K; k++, p += 8) {
        const v128_t b0 = wasm_v128_load(p), b1 = wasm_v128_load(p + 4);
        const i32 o = k * ak;
        v128_t s = wasm_v128_load32_splat(a0 + o);
        MAC(c00, s, b0); MAC(c01, s, b1);
        s = wasm_v128_load32_splat(a1 + o);
        MAC(c10, s, b0); MAC(c11, s, b1);
        s = wasm_v128_load32_splat(a2 + o);
        MAC(c20, s, b0); MAC(c21, s, b1);
        s = wasm_v128_load32_splat(a3 + o);
        MAC(c30, s, b0); MAC(c31, s, b1);
      }
      // Rows of C are N wide; a panel narrower than 8 stores lane by lane.
      f32 *r = Cm + m * N + n0;
      if (w == 8) {
        wasm_v128_store(r, c00); wasm_v128_store(r + 4, c01);
        wasm_v128_store(r + N, c10); wasm_v128_store(r + N + 4, c11);
        wasm_v128_store(r + 2 * N, c20); wasm_v128_store(r + 2 * N + 4, c21);
        wasm_v128_store(r + 3 * N, c30); wasm_v128_store(r + 3 * N + 4, c31);
      } else {
        // Lanes need constant indices, so go through 32 floats of scratch past the panel.
        f32 *t = panel + 8 * K;
        wasm_v128_store(t, c00); wasm_v128_store(t + 4, c01);
        wasm_v128_store(t + 8, c10); wasm_v128_store(t + 12, c11);
        wasm_v128_store(t + 16, c20); wasm_v128_store(t + 20, c21);
        wasm_v128_store(t + 24, c30); wasm_v128_store(t + 28, c31);
        for (i32 i = 0; i < 4; i++)
          for (i32 j = 0; j < w; j++) r[i * N + j] = t[8 * i + j];
      }
    }
    for (; m < M; m++) {
      v128_t c0 = wasm_f32x4_splat(0.f), c1 = c0;
      const f32 *a0 = A + m * am;
      const f32 *p = panel;
      for (i32 k = 0; k < K; k++, p += 8) {
        const v128_t s = wasm_v128_load32_splat(a0 + k * ak);
        MAC(c0, s, wasm_v128_load(p)); MAC(c1, s, wasm_v128_load(p + 4));
      }
      f32 *t = panel + 8 * K;
      wasm_v128_store(t, c0); wasm_v128_store(t + 4, c1);
      f32 *r = Cm + m * N + n0;
      for (i32 j = 0; j < w; j++) r[j] = t[j];
    }
  }
}

// Floats of scratch matmul_t needs per part.
EXPORT(matmul_t_scratch)
i32 matmul_t_scratch(i32 K) { return 8 * K + 32; }
