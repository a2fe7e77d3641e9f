//! Batch norm, eval mode, with an optional fused activation (netc: src/ops/norm/kernel.rs):
//! y = act((x - mean[c]) / sqrt(var[c] + EPS) * gamma[c] + beta[c]). One element per invocation.

{{#if F16}}
enable f16;
{{/if}}
// How x and y are stored: f32, or f16 in a mixed-precision plan.
alias Stored = {{STORED}};

const TOTAL: u32 = {{TOTAL}};
const CHANNELS: u32 = {{CHANNELS}};
const HW: u32 = {{HW}};
const EPS: f32 = {{EPS}};
const WG: u32 = {{WG}};
const GRID_X: u32 = {{GRID_X}};

@group(0) @binding(0) var<storage, read> x: array<Stored>;
@group(0) @binding(1) var<storage, read> running_mean: array<f32>;
@group(0) @binding(2) var<storage, read> running_var: array<f32>;
@group(0) @binding(3) var<storage, read> gamma: array<f32>;
@group(0) @binding(4) var<storage, read> beta: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<Stored>;

{{ACTIVATION_LIB}}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = (wid.x + wid.y * GRID_X) * WG + lid.x;
    if i >= TOTAL {
        return;
    }
    let c = (i / HW) % CHANNELS;
    // sqrt then divide (not inverseSqrt) to match PyTorch's rounding as closely as possible.
    let v = (f32(x[i]) - running_mean[c]) / sqrt(running_var[c] + EPS) * gamma[c] + beta[c];
    y[i] = Stored(activate(v));
}
