#!/usr/bin/env bash
# Writes `netc compile --emit wgsl` and `--emit plan` of every seed model — inference, training in f32 and
# training in mixed precision — into OUT_DIR, one file each, so that a refactoring can show
# that the generated kernels did not change: run it before and after, then `diff -r`.
# Usage: tools/emit_all_wgsl.sh OUT_DIR [NETC_BINARY]
set -euo pipefail
out=${1:?usage: tools/emit_all_wgsl.sh OUT_DIR [NETC_BINARY]}
netc=${2:-target/release/netc}
mkdir -p "$out"
for model in models/*.net; do
    name=$(basename "$model" .net)
    "$netc" compile "$model" --emit wgsl > "$out/$name.infer.wgsl"
    "$netc" compile "$model" --train --emit wgsl > "$out/$name.train.wgsl"
    "$netc" compile "$model" --train --precision mixed --emit wgsl > "$out/$name.train-mixed.wgsl"
    # The plans too: dispatch order, buffers and memory offsets must not move either.
    "$netc" compile "$model" --emit plan > "$out/$name.infer.plan"
    "$netc" compile "$model" --train --emit plan > "$out/$name.train.plan"
    "$netc" compile "$model" --train --precision mixed --emit plan > "$out/$name.train-mixed.plan"
done
