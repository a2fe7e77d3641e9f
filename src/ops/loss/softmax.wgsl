//! Softmax over the last dimension of a [ROWS, LEN] tensor (netc: src/ops/loss/kernel.rs).
//!
//! One workgroup per row: a max reduction, a sum of exp(x - max) reduction (subtracting the max
//! keeps exp from overflowing, as PyTorch does), then the normalised write. Each invocation
//! handles a strided share of the row, so per-invocation loops stay at LEN / WG iterations.

{{#if F16}}
enable f16;
{{/if}}
// How x and y are stored: f32, or f16 in a mixed-precision plan.
alias Stored = {{STORED}};

const ROWS: u32 = {{ROWS}};
const LEN: u32 = {{LEN}};
const WG: u32 = {{WG}}; // a power of two
const GRID_X: u32 = {{GRID_X}};

@group(0) @binding(0) var<storage, read> x: array<Stored>;
@group(0) @binding(1) var<storage, read_write> y: array<Stored>;

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    // `row` is uniform across the workgroup, so the early return keeps barriers uniform.
    let row = wid.x + wid.y * GRID_X;
    if row >= ROWS {
        return;
    }
    let base = row * LEN;

    var m = bitcast<f32>(0xff800000u); // -inf
    for (var i = lid.x; i < LEN; i += WG) {
        m = max(m, f32(x[base + i]));
    }
    partial[lid.x] = m;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if lid.x < stride {
            partial[lid.x] = max(partial[lid.x], partial[lid.x + stride]);
        }
        workgroupBarrier();
    }
    let row_max = partial[0];
    // Everyone must read the max before the buffer is reused for the sums.
    workgroupBarrier();

    var s = 0.0;
    for (var i = lid.x; i < LEN; i += WG) {
        s += exp(f32(x[base + i]) - row_max);
    }
    partial[lid.x] = s;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if lid.x < stride {
            partial[lid.x] += partial[lid.x + stride];
        }
        workgroupBarrier();
    }
    let inv_sum = 1.0 / partial[0];

    for (var i = lid.x; i < LEN; i += WG) {
        y[base + i] = Stored(exp(f32(x[base + i]) - row_max) * inv_sum);
    }
}
