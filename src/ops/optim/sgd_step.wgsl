//! SGD parameter step (netc: src/ops/optim/kernel.rs): out = param - lr * d, with
//! d = buf, or with Nesterov d = grad + WEIGHT_DECAY * param + MOMENTUM * buf (buf already
//! updated). lr is a one-element buffer. One element per invocation; `out` may alias `param`.

const TOTAL: u32 = {{TOTAL}};
const MOMENTUM: f32 = {{MOMENTUM}};
const WEIGHT_DECAY: f32 = {{WEIGHT_DECAY}};
const NESTEROV: bool = {{NESTEROV}};
const WG: u32 = {{WG}};
const GRID_X: u32 = {{GRID_X}};

@group(0) @binding(0) var<storage, read> param: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read> buf: array<f32>;
@group(0) @binding(3) var<storage, read> lr: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = (wid.x + wid.y * GRID_X) * WG + lid.x;
    if i >= TOTAL {
        return;
    }
    let p = param[i];
    var d = buf[i];
    if NESTEROV {
        d = grad[i] + WEIGHT_DECAY * p + MOMENTUM * d;
    }
    out[i] = p - lr[0] * d;
}
