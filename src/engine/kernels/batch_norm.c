// Training-mode batch normalisation over the channel (last) axis, forward and backward, in wasm
// SIMD128. See conv_grad.c for the rules these kernels follow (no C stack, (part, nparts) shares).
//
// x is viewed as [N, C] with N = every position but the channel, C % 4 == 0.
// Per-channel sums are reduced in NBLK fixed blocks of positions, each block's sum kept in f64,
// and the blocks are added in order by *_finish: the result does not depend on the thread count
// and the f32 rounding of 100k-element sums stays far below the 1e-4 the tests ask for.

#include "simd.h"

typedef float f32;
typedef double f64;
typedef int i32;

#define EXPORT(name) __attribute__((export_name(#name)))
#define NBLK 64
#define SUB 64  // positions summed in f32 before the f64 add

static inline i32 share_begin(i32 n, i32 part, i32 nparts) { return (i32)(((long long)n * part) / nparts); }
static inline i32 blk_begin(i32 N, i32 b) { return (i32)(((long long)N * b) / NBLK); }

// acc[0..1] (f64x2 pair) += the four lanes of v.
static inline void add_f64(f64 *acc, v128_t v) {
  const v128_t lo = wasm_f64x2_promote_low_f32x4(v);
  const v128_t hi = wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(v, v, 2, 3, 0, 1));
  wasm_v128_store(acc, wasm_f64x2_add(wasm_v128_load(acc), lo));
  wasm_v128_store(acc + 2, wasm_f64x2_add(wasm_v128_load(acc + 2), hi));
}

// part[blk*C + c] (f64) = sum over the block's positions of x[n, c] - shift[c]  (shift may be 0)
// and, when sq != 0, part2[...] = the sum of squares of the same.
// With dy != 0 instead: part = sum dy, part2 = sum dy * (x - shift).
static void block_sums(const f32 *x, const f32 *dy, const f32 *shift, i32 N, i32 C, i32 blk,
                       f64 *part, f64 *part2, i32 squares) {
  f64 *s1 = part + blk * C, *s2 = part2 + blk * C;
  for (i32 c = 0; c < C; c++) { s1[c] = 0; s2[c] = 0; }
  const i32 n1 = blk_begin(N, blk + 1);
  for (i32 n0 = blk_begin(N, blk); n0 < n1; n0 += SUB) {
    const i32 m = (n1 - n0) < SUB ? (n1 - n0) : SUB;
    for (i32 c = 0; c < C; c += 4) {
      const v128_t mu = shift ? wasm_v128_load(shift + c) : wasm_f32x4_splat(0.f);
      v128_t a = wasm_f32x4_splat(0.f), b = a;
      const f32 *xp = x + n0 * C + c;
      if (dy) {
        const f32 *dp = dy + n0 * C + c;
        for (i32 k = 0; k < m; k++, xp += C, dp += C) {
          const v128_t d = wasm_v128_load(dp);
          a = wasm_f32x4_add(a, d);
          MAC(b, d, wasm_f32x4_sub(wasm_v128_load(xp), mu));
        }
      } else if (squares) {
        for (i32 k = 0; k < m; k++, xp += C) {
          const v128_t v = wasm_f32x4_sub(wasm_v128_load(xp), mu);
          MAC(b, v, v);
        }
      } else {
        for (i32 k = 0; k < m; k++, xp += C) a = wasm_f32x4_add(a, wasm_v128_load(xp));
      }
      add_f64(s1 + c, a);
      add_f64(s2 + c, b);
    }
  }
}

// Pass 1: block sums of x (into part), or with mean given, block sums of squared deviations (part2).
EXPORT(bn_stats_pass)
void bn_stats_pass(const f32 *x, const f32 *mean, i32 N, i32 C, f64 *part, f64 *part2, i32 part_i, i32 nparts) {
  const i32 b0 = share_begin(NBLK, part_i, nparts), b1 = share_begin(NBLK, part_i + 1, nparts);
  for (i32 b = b0; b < b1; b++) block_sums(x, 0, mean, N, C, b, part, part2, mean != 0);
}

// Adds the block sums in order and divides by N: out[c] = sum_b part[b, c] / N.
EXPORT(bn_finish_mean)
void bn_finish_mean(const f64 *part, i32 N, i32 C, f32 *out) {
  for (i32 c = 0; c < C; c++) {
    f64 s = 0;
    for (i32 b = 0; b < NBLK; b++) s += part[b * C + c];
    out[c] = (f32)(s / N);
  }
}

// scale = gamma / sqrt(var + eps), shift = beta - mean * scale, packed as coef[0..C) and coef[C..2C).
EXPORT(bn_forward_coef)
void bn_forward_coef(const f32 *gamma, const f32 *beta, const f32 *mean, const f32 *var, f32 eps, i32 C, f32 *coef) {
  for (i32 c = 0; c < C; c++) {
    const f32 inv = 1.0f / __builtin_sqrtf(var[c] + eps);
    const f32 s = gamma[c] * inv;
    coef[c] = s;
    coef[C + c] = beta[c] - mean[c] * s;
  }
}

// out[n, c] = x[n, c] * coef[c] + coef[C + c], positions split across parts. Also the backward's
// last step, where x plays dy and a third term is added: out = dy * a + x * b + d.
static void affine(const f32 *x, const f32 *x2, const f32 *coef, i32 N, i32 C, f32 *out, i32 part, i32 nparts) {
  const i32 n0 = share_begin(N, part, nparts), n1 = share_begin(N, part + 1, nparts);
  for (i32 n = n0; n < n1; n++) {
    const f32 *xp = x + n * C, *x2p = x2 ? x2 + n * C : 0;
    f32 *op = out + n * C;
    for (i32 c = 0; c < C; c += 4) {
      // Same order of operations as before MAC existed, so the plain build's results are unchanged.
      const v128_t d = wasm_v128_load(coef + C + c);
      v128_t v;
      if (x2p) {
        v = wasm_f32x4_mul(wasm_v128_load(xp + c), wasm_v128_load(coef + c));
        MAC(v, wasm_v128_load(x2p + c), wasm_v128_load(coef + 2 * C + c));
        v = wasm_f32x4_add(v, d);
      } else {
        v = d;
        MAC(v, wasm_v128_load(xp + c), wasm_v128_load(coef + c));
      }
      wasm_v128_store(op + c, v);
    }
  }
}

EXPORT(bn_apply)
void bn_apply(const f32 *x, const f32 *coef, i32 N, i32 C, f32 *y, i32 part, i32 nparts) {
  affine(x, 0, coef, N, C, y, part, nparts);
}

// Backward pass 1: block sums of dy and of dy * (x - mean).
EXPORT(bn_grad_pass)
void bn_grad_pass(const f32 *dy, const f32 *x, const f32 *mean, i32 N, i32 C, f64 *part, f64 *part2,
                  i32 part_i, i32 nparts) {
  const i32 b0 = share_begin(NBLK, part_i, nparts), b1 = share_begin(NBLK, part_i + 1, nparts);
  for (i32 b = b0; b < b1; b++) block_sums(x, dy, mean, N, C, b, part, part2, 0);
}

// With inv = 1/sqrt(var+eps), xhat = (x-mean)*inv:
//   dbeta = sum dy,  dgamma = sum dy*xhat,
//   dx = gamma*inv * (dy - dbeta/N - xhat*dgamma/N) = dy*a + x*b + d
// coef gets a at [0,C), d at [C,2C), b at [2C,3C) (the order affine() reads).
EXPORT(bn_grad_finish)
void bn_grad_finish(const f64 *part, const f64 *part2, const f32 *gamma, const f32 *mean, const f32 *var,
                    f32 eps, i32 N, i32 C, f32 *dgamma, f32 *dbeta, f32 *coef) {
  for (i32 c = 0; c < C; c++) {
    f64 sdy = 0, sdyx = 0;
    for (i32 b = 0; b < NBLK; b++) { sdy += part[b * C + c]; sdyx += part2[b * C + c]; }
    const f64 inv = 1.0 / __builtin_sqrt((f64)var[c] + (f64)eps);
    const f64 dg = sdyx * inv;
    dbeta[c] = (f32)sdy;
    dgamma[c] = (f32)dg;
    const f64 a = gamma[c] * inv;
    const f64 b = -a * inv * dg / N;
    coef[c] = (f32)a;
    coef[2 * C + c] = (f32)b;
    coef[C + c] = (f32)(-a * sdy / N - b * mean[c]);
  }
}

EXPORT(bn_grad_apply)
void bn_grad_apply(const f32 *dy, const f32 *x, const f32 *coef, i32 N, i32 C, f32 *dx, i32 part, i32 nparts) {
  affine(dy, x, coef, N, C, dx, part, nparts);
}
