#!/usr/bin/env bash
# One sitting of the speed comparison: for each model, the CE training step of `ares bench` and of the
# repo's PyTorch script (bench/torch_step.py), back to back at the same batch, with the load average
# before each run; then MobileNetV2 at 224x224 against torchvision's: inference at batch 1 and 32 and
# the frozen-backbone training step at batch 32.
# Usage: scripts/bench-sitting.sh [batch] [steps]   (from the repo root)
set -euo pipefail
batch=${1:-128}
steps=${2:-10}
py=/usr/bin/python3   # Debian's python3-torch installs into the system python
echo "# $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) cores, batch $batch, $steps timed steps after 3 warm-up"
for model in cnn wrn40-2 resnet18; do
  echo "## $model (load: $(cut -d' ' -f1-3 /proc/loadavg))"
  /usr/bin/time -f "peak_rss_kb %M" node bin/ares.js bench --json --model "$model" --method ce --batch "$batch" --steps "$steps" --warmup 3 2>&1 | grep -v '^$'
  echo "(load: $(cut -d' ' -f1-3 /proc/loadavg))"
  /usr/bin/time -f "peak_rss_kb %M" "$py" bench/torch_step.py --model "$model" --batch "$batch" --steps "$steps" --warmup 3 --threads "$(nproc)" 2>&1 | grep -v '^$'
done
# MobileNetV2 rows: (ares --method, torch --mode, batch)
for row in "infer infer 1" "infer infer 32" "ce-frozen train-frozen 32"; do
  read -r method mode b <<<"$row"
  echo "## mobilenetv2 $method batch $b (load: $(cut -d' ' -f1-3 /proc/loadavg))"
  /usr/bin/time -f "peak_rss_kb %M" node bin/ares.js bench --json --model mobilenetv2 --method "$method" --batch "$b" --steps "$steps" --warmup 3 2>&1 | grep -v '^$'
  echo "(load: $(cut -d' ' -f1-3 /proc/loadavg))"
  /usr/bin/time -f "peak_rss_kb %M" "$py" bench/torch_step.py --model mobilenetv2 --mode "$mode" --batch "$b" --steps "$steps" --warmup 3 --threads "$(nproc)" 2>&1 | grep -v '^$'
done
