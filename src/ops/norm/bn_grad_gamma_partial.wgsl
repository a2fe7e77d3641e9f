//! Batch-norm dgamma, first pass (netc: src/ops/norm/train_kernel.rs): one
//! workgroup per (channel, chunk of CHUNK values) writes the chunk's sum of
//! dy * (x - mean) / sqrt(var + EPS) to scratch [CHANNELS, CHUNKS]; a strided sweep per
//! invocation, then a shared-memory tree, in a fixed order. With ACT_GRAD, dy is the gradient of
//! a fused activation's output y and is used as dy * act'(y). With BETA (`bn_grad_params`),
//! the same sweep also sums dy itself (dbeta) into scratch [CHANNELS * CHUNKS + g]: one read
//! of dy for both parameter gradients.

{{#if F16}}
enable f16;
{{/if}}
const CHANNELS: u32 = {{CHANNELS}};
const HW: u32 = {{HW}};
const M: u32 = {{M}}; // values per channel, N * HW
const CHUNK: u32 = {{CHUNK}};
const CHUNKS: u32 = {{CHUNKS}};
const EPS: f32 = {{EPS}};
const WG: u32 = {{WG}}; // a power of two
const GRID_X: u32 = {{GRID_X}};
// Sweeps read WIDTH consecutive values of a plane as one V (HW, CHUNK and M are multiples of
// WIDTH): j below counts vectors, not values.
const WIDTH: u32 = {{WIDTH}};
alias V = {{V}};
// How activations are stored: V, or the same width of f16 in a mixed-precision plan.
alias Stored = {{STORED}};
const HW_V: u32 = HW / WIDTH;

@group(0) @binding(0) var<storage, read> x: array<Stored>;
@group(0) @binding(1) var<storage, read> stats: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<Stored>;
{{#if ACT_GRAD}}
@group(0) @binding(3) var<storage, read> y: array<Stored>;
@group(0) @binding(4) var<storage, read_write> scratch: array<f32>;
{{/if}}
{{#if !ACT_GRAD}}
@group(0) @binding(3) var<storage, read_write> scratch: array<f32>;
{{/if}}

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

{{LANE_SUM_LIB}}

var<workgroup> partial: array<f32, WG>;
{{#if BETA}}
var<workgroup> partial_beta: array<f32, WG>;
{{/if}}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    // `g` is uniform across the workgroup, so the early return keeps barriers uniform.
    let g = wid.x + wid.y * GRID_X;
    if g >= CHANNELS * CHUNKS {
        return;
    }
    let c = g / CHUNKS;
    let start = (g % CHUNKS) * CHUNK;
    let end = min(start + CHUNK, M);
    let mean = stats[c];

    var s = V(0.0);
    var sb = V(0.0);
    for (var j = start / WIDTH + lid.x; j < end / WIDTH; j += WG) {
        let i = ((j / HW_V) * CHANNELS + c) * HW_V + j % HW_V;
        let d = grad(i);
        s = fma(d, V(x[i]) - mean, s);
        sb += d;
    }
    partial[lid.x] = lane_sum(s);
{{#if BETA}}
    partial_beta[lid.x] = lane_sum(sb);
{{/if}}
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if lid.x < stride {
            partial[lid.x] += partial[lid.x + stride];
{{#if BETA}}
            partial_beta[lid.x] += partial_beta[lid.x + stride];
{{/if}}
        }
        workgroupBarrier();
    }
    if lid.x == 0u {
        scratch[g] = partial[0] / sqrt(stats[CHANNELS + c] + EPS);
{{#if BETA}}
        scratch[CHANNELS * CHUNKS + g] = partial_beta[0];
{{/if}}
    }
}
