#!/usr/bin/env bash
# The mixed-precision checks that need the device machine (an H100/H200), prepared so that a
# lease is spent measuring, not exploring. Run from the repository root there, one stage per
# `run` call (each fits a 10-minute command), with the Vulkan loaders in .gl and the CIFAR-10
# archive in .data (see ../shared/notes/gpu.md):
#
#   bench/device_session.sh build     # release build, tests built (about 3 min on 16 cores)
#   bench/device_session.sh probe     # can wgpu 30 reach the tensor cores? (examples/coop_matrix_probe)
#   bench/device_session.sh tests     # the f16 kernels and mixed steps against the reference, on the GPU
#   bench/device_session.sh compare   # netc f32 and mixed against PyTorch's six configurations
#   bench/device_session.sh train     # 30-epoch ResNet in f32 and in mixed, same seed
#   bench/device_session.sh results-netc MODEL   # the seed's full recipe in netc (README's results table)
#   bench/device_session.sh results-torch MODEL  # the same recipe in PyTorch (bench/torch_train.py), then
#                                                # `netc report --markdown` over both
#   bench/device_session.sh data      # netc bench-data on CIFAR-10: the loader alone must outrun a step
#
# Everything worth keeping goes to $OUT (the device tool brings it back).
set -euo pipefail
OUT="${OUT:-/tmp/out}"
mkdir -p "$OUT"
for f in .gl/*.deb; do [ -e "$f" ] && dpkg -x "$f" /; done
ldconfig
if ! ls /usr/share/vulkan/icd.d/*nvidia* >/dev/null 2>&1; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}" PYTHONUNBUFFERED=1
case "${1:-}" in
  build)
    cargo build --release --examples 2>&1 | tail -3
    cargo test --release --test integration --no-run 2>&1 | tail -2
    ;;
  probe)
    cargo run --release --example coop_matrix_probe 2>&1 | tee "$OUT/coop_probe.txt"
    ;;
  tests)
    cargo test --release --test integration -- gpu_mixed_precision:: ops::conv::f16:: \
      gpu_training:: ops::optim::fused:: 2>&1 | tee "$OUT/gpu_tests.txt" | grep -E "^test |result"
    ;;
  compare)
    bench/compare --mode train --batch 128 --steps 20 --markdown \
      --netc target/release/netc 2>&1 | tee "$OUT/compare.md"
    for m in resnet googlenet; do
      target/release/netc bench "models/$m.net" --mode train --batch 128 --precision mixed --profile --json \
        > "$OUT/profile_mixed_$m.json"
    done
    ;;
  train)
    mkdir -p /tmp/data && tar xzf .data/train.tgz -C /tmp/data
    # The seed's recipe shortened to 30 epochs, its milestones scaled with it (issue #14).
    sed 's/milestones = \[100, 150\]/milestones = [17, 25]/' models/resnet.net > models/resnet30.net
    for p in f32 mixed; do
      target/release/netc train models/resnet30.net --data /tmp/data/train --epochs 30 \
        --precision "$p" --out "/tmp/runs/resnet_$p" --quiet 2>&1 | tail -3
      cp "/tmp/runs/resnet_$p/metrics.jsonl" "$OUT/metrics_$p.jsonl"
    done
    ;;
  results-netc|results-torch)
    model="${2:?usage: $0 $1 MODEL (resnet, preact_resnet, googlenet, densenet)}"
    [ -d /tmp/data/train ] || { mkdir -p /tmp/data && tar xzf .data/train.tgz -C /tmp/data; }
    if [ "$1" = results-netc ]; then
      target/release/netc train "models/$model.net" --data /tmp/data/train \
        --out "/tmp/runs/$model" --quiet 2>&1 | tail -3
      target/release/netc test "/tmp/runs/$model" 2>&1 | tail -3
    else
      python3 bench/torch_train.py "models/$model.net" --data /tmp/data/train \
        --out "/tmp/runs/torch_$model" 2>&1 | tail -3
    fi
    runs=$(ls -d /tmp/runs/"$model" /tmp/runs/torch_"$model" 2>/dev/null)
    target/release/netc report $runs --out "$OUT/report_$model" --markdown 2>&1 | tail -20
    for r in $runs; do cp -r "$r" "$OUT/" ; rm -f "$OUT/$(basename "$r")"/*.safetensors "$OUT/$(basename "$r")"/*.pt; done
    ;;
  data)
    [ -d /tmp/data/train ] || { mkdir -p /tmp/data && tar xzf .data/train.tgz -C /tmp/data; }
    target/release/netc bench-data models/resnet.net --data /tmp/data/train --json \
      2>&1 | tee "$OUT/bench_data_cifar.json"
    ;;
  *)
    echo "usage: $0 build|probe|tests|compare|train|results-netc MODEL|results-torch MODEL|data" >&2
    exit 2
    ;;
esac
