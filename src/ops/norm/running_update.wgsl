//! Running-statistics update (netc: src/ops/norm/train_kernel.rs):
//! out = running * (1 - MOMENTUM) + stats[ROW] * MOMENTUM, PyTorch's rule. One channel per
//! invocation; `out` may alias `running` (each element is read before it is written).

const TOTAL: u32 = {{TOTAL}};
const CHANNELS: u32 = {{CHANNELS}};
const ROW: u32 = {{ROW}};
const MOMENTUM: f32 = {{MOMENTUM}};
const WG: u32 = {{WG}};
const GRID_X: u32 = {{GRID_X}};

@group(0) @binding(0) var<storage, read> running: array<f32>;
@group(0) @binding(1) var<storage, read> stats: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = (wid.x + wid.y * GRID_X) * WG + lid.x;
    if i >= TOTAL {
        return;
    }
    let r = running[i];
    out[i] = r * (1.0 - MOMENTUM) + stats[ROW * CHANNELS + i] * MOMENTUM;
}
