//! Per-channel sum, first pass (netc: src/codegen/kernels/train/reduce.rs, `bias_grad`): one
//! workgroup per (channel, chunk of CHUNK values) writes the chunk's sum of dy to scratch
//! [CHANNELS, CHUNKS]; a strided sweep per invocation (neighbouring invocations read
//! neighbouring addresses of the channel's plane), then a shared-memory tree, in a fixed order.
//! With ACT_GRAD, dy is the gradient of a fused activation's output y and the summand is
//! dy * act'(y). The second pass is channel_sum_finish.wgsl.

{{#if F16}}
enable f16;
{{/if}}
const CHANNELS: u32 = {{CHANNELS}};
const HW: u32 = {{HW}};
const M: u32 = {{M}}; // values per channel, N * HW
const CHUNK: u32 = {{CHUNK}};
const CHUNKS: u32 = {{CHUNKS}};
const WG: u32 = {{WG}}; // a power of two
const GRID_X: u32 = {{GRID_X}};
// Sweeps read WIDTH consecutive values of a plane as one V (HW, CHUNK and M are multiples of
// WIDTH): j below counts vectors, not values.
const WIDTH: u32 = {{WIDTH}};
alias V = {{V}};
// How activations are stored: V, or the same width of f16 in a mixed-precision plan.
alias Stored = {{STORED}};
const HW_V: u32 = HW / WIDTH;

@group(0) @binding(0) var<storage, read> dy: array<Stored>;
{{#if ACT_GRAD}}
@group(0) @binding(1) var<storage, read> y: array<Stored>;
@group(0) @binding(2) var<storage, read_write> scratch: array<f32>;
{{/if}}
{{#if !ACT_GRAD}}
@group(0) @binding(1) var<storage, read_write> scratch: array<f32>;
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

    var s = V(0.0);
    for (var j = start / WIDTH + lid.x; j < end / WIDTH; j += WG) {
        s += grad(((j / HW_V) * CHANNELS + c) * HW_V + j % HW_V);
    }
    partial[lid.x] = lane_sum(s);
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if lid.x < stride {
            partial[lid.x] += partial[lid.x + stride];
        }
        workgroupBarrier();
    }
    if lid.x == 0u {
        scratch[g] = partial[0];
    }
}
