// The one multiply-accumulate every kernel's inner loop uses, so the plain and the relaxed-SIMD
// build (scripts/build-kernels.sh) come from the same source.
//
// Plain wasm SIMD128 has no fused multiply-add: acc + a*b is a mul and an add, two instructions
// and two roundings. Built with -mrelaxed-simd, MAC is f32x4.relaxed_madd, which the engine may
// run fused (one rounding; x86 with FMA3, ARM64) or as the same mul and add (no FMA unit): that
// choice is the "relaxed" part, fixed per machine, so a given build on a given machine is still
// deterministic. clang 16's <wasm_simd128.h> has no wrapper for it yet, hence the builtin.

#ifndef ARES_SIMD_H
#define ARES_SIMD_H

#include <wasm_simd128.h>

#ifdef __wasm_relaxed_simd__
// relaxed_madd(a, b, c) = a * b + c
#define MAC(acc, a, b) acc = (v128_t)__builtin_wasm_relaxed_madd_f32x4((__f32x4)(a), (__f32x4)(b), (__f32x4)(acc))
#else
#define MAC(acc, a, b) acc = wasm_f32x4_add(acc, wasm_f32x4_mul(a, b))
#endif

#endif
