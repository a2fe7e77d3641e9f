//! Gradient of the mean softmax cross-entropy with respect to the logits (netc:
//! src/ops/loss/train_kernel.rs): dlogits = (softmax(z) - onehot(label)) / ROWS.
//! One row per invocation: the max, the sum of exponentials, then the K writes.
//! Labels are f32 class ids.

{{#if F16}}
enable f16;
{{/if}}
// How activations are stored: f32, or f16 in a mixed-precision plan.
alias Stored = {{STORED}};

const ROWS: u32 = {{ROWS}};
const K: u32 = {{K}};
const WG: u32 = {{WG}};
const GRID_X: u32 = {{GRID_X}};

@group(0) @binding(0) var<storage, read> logits: array<Stored>;
@group(0) @binding(1) var<storage, read> labels: array<f32>;
{{#if SCALED}}
// The dynamic loss scaler's state: [scale, clean steps, found non-finite, skipped steps].
@group(0) @binding(2) var<storage, read> scaler: array<f32>;
@group(0) @binding(3) var<storage, read_write> dlogits: array<Stored>;
{{/if}}
{{#if !SCALED}}
@group(0) @binding(2) var<storage, read_write> dlogits: array<Stored>;
{{/if}}

{{ACTIVATION_LIB}}

// The gradient of the loss times this: the loss scale in a mixed-precision step, else 1.
fn loss_scale() -> f32 {
{{#if SCALED}}
    return scaler[0];
{{/if}}
{{#if !SCALED}}
    return 1.0;
{{/if}}
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row = (wid.x + wid.y * GRID_X) * WG + lid.x;
    if row >= ROWS {
        return;
    }
    let base = row * K;
    var m = f32(logits[base]);
    for (var j = 1u; j < K; j++) {
        m = max(m, f32(logits[base + j]));
    }
    var s = 0.0;
    for (var j = 0u; j < K; j++) {
        s += exp_accurate(max(f32(logits[base + j]) - m, -104.0));
    }
    let scale = loss_scale() / (s * f32(ROWS));
    let label = u32(labels[row]);
    for (var j = 0u; j < K; j++) {
        let p = exp_accurate(max(f32(logits[base + j]) - m, -104.0)) * scale;
        dlogits[base + j] = Stored(select(p, p - loss_scale() / f32(ROWS), j == label));
    }
}
