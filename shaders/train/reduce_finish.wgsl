//! Second pass of a split reduction: out[e] = the PARTS partial sums of element e
//! (netc: src/codegen/kernels/train/reduce.rs, `Reduction::finish` of the weight gradients).
//!
//! The first pass wrote partial s of element e at scratch[s * LEN + e]. A workgroup owns E
//! neighbouring elements and spreads each one's partials over L lanes: lane l adds s = l, l + L,
//! l + 2L, ... in order (neighbouring invocations read neighbouring addresses), then a
//! shared-memory tree adds the L lane sums in a fixed order. No atomics: the result does not
//! depend on scheduling. One invocation per element looping over all PARTS, as before, left a
//! GPU with a few dozen busy threads for hundreds of dependent loads (50 µs on an H100).

const LEN: u32 = {{LEN}};
const PARTS: u32 = {{PARTS}};
const GRID_X: u32 = {{GRID_X}};
const E: u32 = {{E}}; // elements per workgroup
const L: u32 = {{L}}; // lanes per element, a power of two

@group(0) @binding(0) var<storage, read> scratch: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

var<workgroup> lanes: array<f32, E * L>;

@compute @workgroup_size(E, L, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let e = (wid.x + wid.y * GRID_X) * E + lid.x;
    // Every invocation reaches the barriers; those past the end add nothing.
    var acc = 0.0;
    if e < LEN {
        for (var s = lid.y; s < PARTS; s += L) {
            acc += scratch[s * LEN + e];
        }
    }
    lanes[lid.y * E + lid.x] = acc;
    workgroupBarrier();
    for (var stride = L / 2u; stride > 0u; stride /= 2u) {
        if lid.y < stride {
            lanes[lid.y * E + lid.x] += lanes[(lid.y + stride) * E + lid.x];
        }
        workgroupBarrier();
    }
    if lid.y == 0u && e < LEN {
        out[e] = lanes[lid.x];
    }
}
