//! Sum of each row of scratch [CHANNELS, CHUNKS] (netc: src/codegen/kernels/train/reduce.rs):
//! the second pass of a per-channel reduction. One workgroup per channel: a strided walk per
//! invocation, then a shared-memory tree, in a fixed order. With PAIR, scratch holds two such
//! blocks and workgroups CHANNELS..2*CHANNELS sum the second one into `y2`.

const CHANNELS: u32 = {{CHANNELS}};
const CHUNKS: u32 = {{CHUNKS}};
const WG: u32 = {{WG}}; // a power of two
const GRID_X: u32 = {{GRID_X}};

@group(0) @binding(0) var<storage, read> scratch: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
{{#if PAIR}}
@group(0) @binding(2) var<storage, read_write> y2: array<f32>;
const ROWS: u32 = 2u * CHANNELS;
{{/if}}
{{#if !PAIR}}
const ROWS: u32 = CHANNELS;
{{/if}}

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    // `c` is uniform across the workgroup, so the early return keeps barriers uniform.
    let c = wid.x + wid.y * GRID_X;
    if c >= ROWS {
        return;
    }
    var s = 0.0;
    for (var k = lid.x; k < CHUNKS; k += WG) {
        s += scratch[c * CHUNKS + k];
    }
    partial[lid.x] = s;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if lid.x < stride {
            partial[lid.x] += partial[lid.x + stride];
        }
        workgroupBarrier();
    }
    if lid.x == 0u {
{{#if PAIR}}
        if c >= CHANNELS {
            y2[c - CHANNELS] = partial[0];
            return;
        }
{{/if}}
        y[c] = partial[0];
    }
}
