//! SGD update of one parameter, in place (netc: src/codegen/kernels/train/optim.rs): the
//! momentum buffer (sgd_buffer.wgsl) then the step (sgd_step.wgsl) in one dispatch, with
//! their exact expressions, so results are bit-identical to the two kernels:
//! buf = buf * MOMENTUM + (grad + WEIGHT_DECAY * param), then param = param - lr * d with
//! d = buf, or with Nesterov d = grad + WEIGHT_DECAY * param + MOMENTUM * buf.
//! One element per invocation: each reads its element of every buffer before writing it
//! and touches no other element, so updating `param` and `buf` in place is safe.

const TOTAL: u32 = {{TOTAL}};
const MOMENTUM: f32 = {{MOMENTUM}};
const WEIGHT_DECAY: f32 = {{WEIGHT_DECAY}};
const NESTEROV: bool = {{NESTEROV}};
const WG: u32 = {{WG}};
const GRID_X: u32 = {{GRID_X}};

@group(0) @binding(0) var<storage, read> grad: array<f32>;
@group(0) @binding(1) var<storage, read> lr: array<f32>;
@group(0) @binding(2) var<storage, read_write> param: array<f32>;
@group(0) @binding(3) var<storage, read_write> buf: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = (wid.x + wid.y * GRID_X) * WG + lid.x;
    if i >= TOTAL {
        return;
    }
    let p = param[i];
    // sgd_buffer.wgsl
    let g = grad[i] + WEIGHT_DECAY * p;
    let b = buf[i] * MOMENTUM + g;
    buf[i] = b;
    // sgd_step.wgsl
    var d = b;
    if NESTEROV {
        d = grad[i] + WEIGHT_DECAY * p + MOMENTUM * d;
    }
    param[i] = p - lr[0] * d;
}
