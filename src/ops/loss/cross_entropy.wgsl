//! Mean softmax cross-entropy over a batch (netc: src/ops/loss/train_kernel.rs), like
//! F.cross_entropy: loss = mean over rows of log(sum_j exp(z_j - max)) + max - z_label.
//! One workgroup: each invocation walks rows lid, lid + WG, ... (the max, then the sum of
//! exponentials), then a shared-memory tree adds the per-invocation sums in a fixed order.
//! Labels are f32 class ids.

{{#if F16}}
enable f16;
{{/if}}
// How activations are stored: f32, or f16 in a mixed-precision plan.
alias Stored = {{STORED}};

const ROWS: u32 = {{ROWS}};
const K: u32 = {{K}};
const WG: u32 = {{WG}}; // a power of two

@group(0) @binding(0) var<storage, read> logits: array<Stored>;
@group(0) @binding(1) var<storage, read> labels: array<f32>;
@group(0) @binding(2) var<storage, read_write> loss: array<f32>;

{{ACTIVATION_LIB}}

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
    var total = 0.0;
    for (var row = lid.x; row < ROWS; row += WG) {
        let base = row * K;
        var m = f32(logits[base]);
        for (var j = 1u; j < K; j++) {
            m = max(m, f32(logits[base + j]));
        }
        var s = 0.0;
        for (var j = 0u; j < K; j++) {
            s += exp_accurate(max(f32(logits[base + j]) - m, -104.0));
        }
        let label = min(u32(labels[row]), K - 1u);
        total += log(s) + (m - f32(logits[base + label]));
    }
    partial[lid.x] = total;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if lid.x < stride {
            partial[lid.x] += partial[lid.x + stride];
        }
        workgroupBarrier();
    }
    if lid.x == 0u {
        loss[0] = partial[0] / f32(ROWS);
    }
}
