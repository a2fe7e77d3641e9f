//! Training-mode batch norm with the batch's statistics and an optional fused activation
//! (netc: src/ops/norm/train_kernel.rs):
//! y = act((x - mean[c]) / sqrt(var_biased[c] + EPS) * gamma[c] + beta[c]), stats [3, CHANNELS]
//! rows mean, biased variance, unbiased variance. Each invocation handles WIDTH consecutive
//! elements of one channel (HW is a multiple of WIDTH), read and written as one V.

{{#if F16}}
enable f16;
{{/if}}
const WIDTH: u32 = {{WIDTH}};
alias V = {{V}};
// How x and y are stored: V, or the same width of f16 in a mixed-precision plan.
alias Stored = {{STORED}};
// Invocations: elements / WIDTH.
const TOTAL: u32 = {{TOTAL}};
const CHANNELS: u32 = {{CHANNELS}};
const HW: u32 = {{HW}};
const EPS: f32 = {{EPS}};
const WG: u32 = {{WG}};
const GRID_X: u32 = {{GRID_X}};

@group(0) @binding(0) var<storage, read> x: array<Stored>;
@group(0) @binding(1) var<storage, read> stats: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<Stored>;

{{ACTIVATION_LIB}}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = (wid.x + wid.y * GRID_X) * WG + lid.x;
    if i >= TOTAL {
        return;
    }
    let c = (i / (HW / WIDTH)) % CHANNELS;
    let v = (V(x[i]) - stats[c]) / sqrt(stats[CHANNELS + c] + EPS) * gamma[c] + beta[c];
{{#if VEC4}}
    y[i] = Stored(activate4(v));
{{/if}}
{{#if !VEC4}}
    y[i] = Stored(activate(v));
{{/if}}
}
