#!/usr/bin/env bash
# The GPU speed sitting: for cnn, resnet18 and wrn40-2, the CE training step of `ares bench
# --backend webgpu` and of bench/torch_step.py --device cuda, back to back at the same batch, then
# a table of ms per step and their ratio (scripts/bench-gpu.ts). It refuses a software WebGPU adapter
# (SwiftShader, llvmpipe): a GPU emulated on the CPU has no GPU speed. --allow-software runs anyway
# as a smoke test, the table marked NOT A SPEED (PyTorch then runs on the CPU when it sees no CUDA).
# Usage: scripts/bench-gpu.sh [--allow-software] [batch] [steps]   (from the repo root)
set -euo pipefail
allow=()
if [[ "${1:-}" == --allow-software ]]; then allow=(--allow-software); shift; fi
batch=${1:-128}
steps=${2:-10}
warmup=${BENCH_GPU_WARMUP:-3}
py=${PYTHON:-/usr/bin/python3}   # Debian's python3-torch installs into the system python
helper=(npx --no-install tsx scripts/bench-gpu.ts)
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}   # Dawn complains without one

"${helper[@]}" adapter "${allow[@]}"   # exits non-zero, with its reason, on no or a software adapter
device=cuda
if ! "$py" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  if [[ ${#allow[@]} -eq 0 ]]; then
    echo "bench-gpu: PyTorch ($py) sees no CUDA device: nothing to compare the GPU with" >&2
    exit 2
  fi
  device=cpu
fi
echo "# $(date -u '+%Y-%m-%d %H:%M:%S UTC'), batch $batch, $steps timed steps after $warmup warm-up, PyTorch on $device"
lines=$(mktemp)
trap 'rm -f "$lines"' EXIT
for model in cnn resnet18 wrn40-2; do
  node bin/ares.js bench --backend webgpu --json --model "$model" --method ce --batch "$batch" --steps "$steps" --warmup "$warmup" | tee -a "$lines"
  "$py" bench/torch_step.py --device "$device" --model "$model" --batch "$batch" --steps "$steps" --warmup "$warmup" | tee -a "$lines"
done
"${helper[@]}" table "${allow[@]}" < "$lines"
