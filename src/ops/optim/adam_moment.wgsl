//! Adam moment estimate (netc: src/ops/optim/kernel.rs): with g = grad + L2 * param,
//! out = moment * BETA + (1 - BETA) * g (first moment) or * g^2 (SQUARE: second moment).
//! One element per invocation; `out` may alias `moment`.

const TOTAL: u32 = {{TOTAL}};
const BETA: f32 = {{BETA}};
const ONE_MINUS_BETA: f32 = {{ONE_MINUS_BETA}};
const L2: f32 = {{L2}};
const SQUARE: bool = {{SQUARE}};
const WG: u32 = {{WG}};
const GRID_X: u32 = {{GRID_X}};

@group(0) @binding(0) var<storage, read> moment: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read> param: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = (wid.x + wid.y * GRID_X) * WG + lid.x;
    if i >= TOTAL {
        return;
    }
    var g = grad[i] + L2 * param[i];
    if SQUARE {
        g = g * g;
    }
    let m = moment[i];
    out[i] = m * BETA + ONE_MINUS_BETA * g;
}
