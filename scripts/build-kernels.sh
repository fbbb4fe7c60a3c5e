#!/usr/bin/env bash
# Builds the wasm SIMD kernels that src/engine registers on the tfjs wasm backend.
# The built .wasm files are committed next to their C source, so users and CI need no clang;
# rerun this after editing src/engine/kernels/*.c. Needs clang and lld 16 or later (Debian 12:
# apt install clang-16 lld-16 llvm-16): older clang emits relaxed SIMD's pre-standard opcodes.
#
# Four variants of one source: kernels.wasm imports the plain (growable) memory of tfjs's
# single-threaded build; kernels-shared.wasm imports the shared memory of its threaded build;
# kernels-relaxed*.wasm are the same two built with relaxed SIMD (simd.h's MAC becomes
# f32x4.relaxed_madd), which runtime.ts picks where the wasm engine supports it.
set -euo pipefail
cd "$(dirname "$0")/../src/engine/kernels"
CLANG=${CLANG:-$(command -v clang-16 || command -v clang)}
OBJDUMP=${OBJDUMP:-$(command -v llvm-objdump-16 || command -v llvm-objdump)}
if (( $("$CLANG" -dumpversion | cut -d. -f1) < 16 )); then
  echo "build-kernels: $CLANG is older than clang 16 (set CLANG=clang-16)" >&2; exit 1
fi
SRC=(conv_dw.c conv_gather.c winograd.c batch_norm.c pool.c matmul.c eltwise.c)
COMMON=(--target=wasm32 -O3 -msimd128 -ffreestanding -nostdlib -fno-builtin
  -Wall -Wextra -Werror -Wno-unused-parameter
  -Wl,--no-entry -Wl,--import-memory -Wl,--strip-all -Wl,-z,stack-size=0)
build() {
  local out=$1; shift
  "$CLANG" "${COMMON[@]}" "$@" -o "$out.tmp" "${SRC[@]}"
  # The module shares emscripten's heap: it must own no data and never use the C stack
  # (its __stack_pointer would point into emscripten's static data).
  local dis
  dis=$("$OBJDUMP" -d "$out.tmp")
  if grep -q 'global\.[gs]et' <<<"$dis"; then
    echo "build-kernels: $out uses the C stack (global.get/set in its code); refusing" >&2; rm -f "$out.tmp"; exit 1
  fi
  # The relaxed builds must use f32x4.relaxed_madd (opcode fd 85 02, which llvm-objdump 16 prints
  # as <unknown>) and the plain ones must not: they are the fallback that runs everywhere.
  local want=0 has=0
  [[ $out == *relaxed* ]] && want=1
  grep -Eq ':[[:space:]]+fd 85 02[[:space:]]' <<<"$dis" && has=1
  if (( want != has )); then
    echo "build-kernels: $out: relaxed_madd present/absent where it should not be; refusing" >&2; rm -f "$out.tmp"; exit 1
  fi
  if "$OBJDUMP" -h "$out.tmp" 2>/dev/null | grep -qw DATA; then
    echo "build-kernels: $out has a data section; refusing" >&2; rm -f "$out.tmp"; exit 1
  fi
  mv "$out.tmp" "$out"
  echo "built src/engine/kernels/$out ($(wc -c <"$out") bytes)"
}
SHARED=(-matomics -mbulk-memory -Wl,--shared-memory -Wl,--max-memory=4294967296)
build kernels.wasm
build kernels-shared.wasm "${SHARED[@]}"
build kernels-relaxed.wasm -mrelaxed-simd
build kernels-relaxed-shared.wasm -mrelaxed-simd "${SHARED[@]}"
