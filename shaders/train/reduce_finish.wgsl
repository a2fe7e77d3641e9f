//! Second pass of a split reduction: out[e] = the PARTS partial sums of element e, added in order.
//! (netc: src/codegen/kernels/train/reduce.rs, `Reduction::finish` of every split reduction.)
//!
//! The first pass wrote partial s of element e at scratch[s * LEN + e]. One invocation owns one
//! element and adds its PARTS partials from s = 0 upwards, so the result does not depend on
//! scheduling (no atomics). PARTS is at most the loop budget; neighbouring invocations read
//! neighbouring addresses.

const LEN: u32 = {{LEN}};
const PARTS: u32 = {{PARTS}};
const GRID_X: u32 = {{GRID_X}};
const WG: u32 = {{WG}};

@group(0) @binding(0) var<storage, read> scratch: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let e = (wid.x + wid.y * GRID_X) * WG + lid.x;
    if e >= LEN {
        return;
    }
    var acc = 0.0;
    for (var s = 0u; s < PARTS; s++) {
        acc += scratch[s * LEN + e];
    }
    out[e] = acc;
}
