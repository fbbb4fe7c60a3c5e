// Element-wise kernels for the training step, in wasm SIMD128 (rules as in conv_dw.c).
// Each part takes a contiguous share of the elements, split on multiples of 4.

#include <wasm_simd128.h>

typedef float f32;
typedef int i32;

#define EXPORT(name) __attribute__((export_name(#name)))

// [begin, end) of this part's share of n elements, in whole vectors except the last part's tail.
static inline void range4(i32 n, i32 part, i32 nparts, i32 *b, i32 *e) {
  const i32 nv = n / 4;
  *b = 4 * (i32)(((long long)nv * part) / nparts);
  *e = part == nparts - 1 ? n : 4 * (i32)(((long long)nv * (part + 1)) / nparts);
}

EXPORT(relu_fwd)
void relu_fwd(const f32 *x, i32 n, f32 *y, i32 part, i32 nparts) {
  i32 i, e;
  range4(n, part, nparts, &i, &e);
  const v128_t z = wasm_f32x4_splat(0.f);
  // max(x, 0) but NaN stays NaN, as tfjs's relu does (x < 0 ? 0 : x).
  for (; i + 4 <= e; i += 4) {
    const v128_t v = wasm_v128_load(x + i);
    wasm_v128_store(y + i, wasm_v128_bitselect(z, v, wasm_f32x4_lt(v, z)));
  }
  for (; i < e; i++) y[i] = x[i] < 0.f ? 0.f : x[i];
}

// dx = dy * (x > 0): tfjs's relu gradient, mul(dy, step(x)), in one pass.
EXPORT(relu_grad)
void relu_grad(const f32 *dy, const f32 *x, i32 n, f32 *dx, i32 part, i32 nparts) {
  i32 i, e;
  range4(n, part, nparts, &i, &e);
  const v128_t z = wasm_f32x4_splat(0.f);
  for (; i + 4 <= e; i += 4) {
    const v128_t pos = wasm_f32x4_gt(wasm_v128_load(x + i), z);
    wasm_v128_store(dx + i, wasm_f32x4_mul(wasm_v128_load(dy + i), wasm_v128_and(pos, wasm_f32x4_splat(1.f))));
  }
  for (; i < e; i++) dx[i] = dy[i] * (x[i] > 0.f ? 1.f : 0.f);
}
