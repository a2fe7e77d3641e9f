//! Gradient of training-mode batch norm with respect to x (netc: src/ops/norm/train_kernel.rs):
//! dx = gamma * invstd / M * (M dy - dbeta - xhat * dgamma), xhat = (x - mean) * invstd,
//! invstd = 1 / sqrt(var_biased + EPS), M = N * H * W. With ACT_GRAD, dy is the gradient of a
//! fused activation's output y and is used as dy * act'(y). With ACCUMULATE, a gradient
//! accumulation is folded in: dx is that value plus addend. Each invocation handles WIDTH
//! consecutive elements of one channel (HW is a multiple of WIDTH), read and written as one V.

{{#if F16}}
enable f16;
{{/if}}
const WIDTH: u32 = {{WIDTH}};
alias V = {{V}};
// How activations are stored: V, or the same width of f16 in a mixed-precision plan.
alias Stored = {{STORED}};
// Invocations: elements / WIDTH.
const TOTAL: u32 = {{TOTAL}};
const CHANNELS: u32 = {{CHANNELS}};
const HW: u32 = {{HW}};
const M: u32 = {{M}};
const EPS: f32 = {{EPS}};
const WG: u32 = {{WG}};
const GRID_X: u32 = {{GRID_X}};

@group(0) @binding(0) var<storage, read> x: array<Stored>;
@group(0) @binding(1) var<storage, read> stats: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<Stored>;
@group(0) @binding(4) var<storage, read> dgamma: array<f32>;
@group(0) @binding(5) var<storage, read> dbeta: array<f32>;
{{#if ACT_GRAD}}
@group(0) @binding(6) var<storage, read> y: array<Stored>;
{{/if}}
{{#if ACCUMULATE}}
@group(0) @binding({{ADDEND_BINDING}}) var<storage, read> addend: array<Stored>;
{{/if}}
@group(0) @binding({{DX_BINDING}}) var<storage, read_write> dx: array<Stored>;

{{ACT_GRAD_LIB}}

fn grad(i: u32) -> V {
{{#if ACT_GRAD}}
{{#if VEC4}}
    return V(dy[i]) * derivative_from_output4(V(y[i]));
{{/if}}
{{#if !VEC4}}
    return V(dy[i]) * derivative_from_output(V(y[i]));
{{/if}}
{{/if}}
{{#if !ACT_GRAD}}
    return V(dy[i]);
{{/if}}
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = (wid.x + wid.y * GRID_X) * WG + lid.x;
    if i >= TOTAL {
        return;
    }
    let c = (i / (HW / WIDTH)) % CHANNELS;
    let m = f32(M);
    let invstd = 1.0 / sqrt(stats[CHANNELS + c] + EPS);
    let xhat = (V(x[i]) - stats[c]) * invstd;
{{#if !ACCUMULATE}}
    dx[i] = Stored(gamma[c] * invstd / m * (m * grad(i) - dbeta[c] - xhat * dgamma[c]));
{{/if}}
{{#if ACCUMULATE}}
    dx[i] = Stored(gamma[c] * invstd / m * (m * grad(i) - dbeta[c] - xhat * dgamma[c]) + V(addend[i]));
{{/if}}
}
