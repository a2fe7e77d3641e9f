//! Both running-statistics updates of one batch norm, in place (netc:
//! src/ops/norm/train_kernel.rs, `running_update_pair`; fused by
//! src/codegen/optim_fusion.rs): running_a = running_a * (1 - MOMENTUM) + stats[ROW_A] *
//! MOMENTUM, and the same for running_b with ROW_B, the expressions of running_update.wgsl, so
//! results are bit-identical to two of those dispatches and their copies. One channel per
//! invocation: each reads its element before writing it, so updating in place is safe.

const TOTAL: u32 = {{TOTAL}};
const CHANNELS: u32 = {{CHANNELS}};
const ROW_A: u32 = {{ROW_A}};
const ROW_B: u32 = {{ROW_B}};
const MOMENTUM: f32 = {{MOMENTUM}};
const WG: u32 = {{WG}};
const GRID_X: u32 = {{GRID_X}};

@group(0) @binding(0) var<storage, read> stats: array<f32>;
@group(0) @binding(1) var<storage, read_write> running_a: array<f32>;
@group(0) @binding(2) var<storage, read_write> running_b: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = (wid.x + wid.y * GRID_X) * WG + lid.x;
    if i >= TOTAL {
        return;
    }
    let a = running_a[i];
    running_a[i] = a * (1.0 - MOMENTUM) + stats[ROW_A * CHANNELS + i] * MOMENTUM;
    let b = running_b[i];
    running_b[i] = b * (1.0 - MOMENTUM) + stats[ROW_B * CHANNELS + i] * MOMENTUM;
}
