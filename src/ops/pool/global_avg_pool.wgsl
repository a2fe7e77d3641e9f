//! Global average pool [BATCH, CHANNELS, H, W] -> [BATCH, CHANNELS, 1, 1] (netc: src/ops/pool/kernel.rs).
//!
//! One workgroup per (n, c) plane. Each invocation sums a strided share of the plane, then the
//! workgroup combines the partial sums with a shared-memory tree. Splitting the plane across WG
//! invocations keeps every invocation's loop at HW / WG iterations, well below lavapipe's silent
//! 65,535-iteration cap even for planes of 2^17+ elements (a single-invocation loop would not be).

{{#if F16}}
enable f16;
{{/if}}
// How x and y are stored: f32, or f16 in a mixed-precision plan.
alias Stored = {{STORED}};

const PLANES: u32 = {{PLANES}};
const HW: u32 = {{HW}};
const WG: u32 = {{WG}}; // a power of two
const GRID_X: u32 = {{GRID_X}};

@group(0) @binding(0) var<storage, read> x: array<Stored>;
@group(0) @binding(1) var<storage, read_write> y: array<Stored>;

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    // `plane` is uniform across the workgroup, so the early return keeps barriers uniform.
    let plane = wid.x + wid.y * GRID_X;
    if plane >= PLANES {
        return;
    }
    var sum = 0.0;
    for (var p = lid.x; p < HW; p += WG) {
        sum += f32(x[plane * HW + p]);
    }
    partial[lid.x] = sum;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if lid.x < stride {
            partial[lid.x] += partial[lid.x + stride];
        }
        workgroupBarrier();
    }
    if lid.x == 0u {
        y[plane] = Stored(partial[0] / f32(HW));
    }
}
