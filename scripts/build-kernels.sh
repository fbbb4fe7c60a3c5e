#!/usr/bin/env bash
# Builds the wasm SIMD kernels that src/engine registers on the tfjs wasm backend.
# The built .wasm files are committed next to their C source, so users and CI need no clang;
# rerun this after editing src/engine/kernels/*.c. Needs clang and lld (Debian: apt install clang lld).
#
# Two variants of one source: kernels.wasm imports the plain (growable) memory of tfjs's
# single-threaded build; kernels-shared.wasm imports the shared memory of its threaded build.
set -euo pipefail
cd "$(dirname "$0")/../src/engine/kernels"
CLANG=${CLANG:-clang}
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
  dis=$(llvm-objdump -d "$out.tmp" 2>/dev/null || llvm-objdump-14 -d "$out.tmp")
  if grep -q 'global\.[gs]et' <<<"$dis"; then
    echo "build-kernels: $out uses the C stack (global.get/set in its code); refusing" >&2; rm -f "$out.tmp"; exit 1
  fi
  if llvm-objdump -h "$out.tmp" 2>/dev/null | grep -qw DATA; then
    echo "build-kernels: $out has a data section; refusing" >&2; rm -f "$out.tmp"; exit 1
  fi
  mv "$out.tmp" "$out"
  echo "built src/engine/kernels/$out ($(wc -c <"$out") bytes)"
}
build kernels.wasm
build kernels-shared.wasm -matomics -mbulk-memory -Wl,--shared-memory -Wl,--max-memory=4294967296
