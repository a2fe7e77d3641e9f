//! SGD update of PARAMS parameters, in place (netc: src/ops/optim/kernel.rs): the
//! momentum buffer (sgd_buffer.wgsl) then the step (sgd_step.wgsl) in one dispatch, with
//! their exact expressions, so results are bit-identical to the two kernels:
//! buf = buf * MOMENTUM + (grad + WEIGHT_DECAY * param), then param = param - lr * d with
//! d = buf, or with Nesterov d = grad + WEIGHT_DECAY * param + MOMENTUM * buf.
//! One element index per invocation, for every parameter that long: each reads its element
//! of every buffer before writing it and touches no other element, so updating `param` and
//! `buf` in place is safe. Batching parameters saves dispatches, which cost ~8 µs each on a
//! GPU however small the parameter.

const PARAMS: u32 = {{PARAMS}};
// Elements of each parameter, and the longest.
const LENS = array<u32, PARAMS>({{LENS}});
const TOTAL: u32 = {{TOTAL}};
const MOMENTUM: f32 = {{MOMENTUM}};
const WEIGHT_DECAY: f32 = {{WEIGHT_DECAY}};
const NESTEROV: bool = {{NESTEROV}};
const WG: u32 = {{WG}};
const GRID_X: u32 = {{GRID_X}};

@group(0) @binding(0) var<storage, read> lr: array<f32>;
{{#if SCALED}}
// The loss scaler's state (loss_scale_update.wgsl): gradients arrive multiplied by the scale
// [0], and nothing is updated in a step whose flag [2] says a gradient was inf or NaN.
@group(0) @binding({{SCALER_BINDING}}) var<storage, read> scaler: array<f32>;
{{/if}}
{{#for k in PARAMS}}
@group(0) @binding(1 + 3 * {{k}}) var<storage, read> grad_{{k}}: array<f32>;
@group(0) @binding(2 + 3 * {{k}}) var<storage, read_write> param_{{k}}: array<f32>;
@group(0) @binding(3 + 3 * {{k}}) var<storage, read_write> buf_{{k}}: array<f32>;

fn update_{{k}}(i: u32) {
    let p = param_{{k}}[i];
    // sgd_buffer.wgsl
    let g = grad_{{k}}[i]{{UNSCALE}} + WEIGHT_DECAY * p;
    let b = buf_{{k}}[i] * MOMENTUM + g;
    buf_{{k}}[i] = b;
    // sgd_step.wgsl
    var d = b;
    if NESTEROV {
        d = grad_{{k}}[i]{{UNSCALE}} + WEIGHT_DECAY * p + MOMENTUM * d;
    }
    param_{{k}}[i] = p - lr[0] * d;
}
{{/for}}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = (wid.x + wid.y * GRID_X) * WG + lid.x;
    if i >= TOTAL {
        return;
    }
{{#if SCALED}}
    if bitcast<u32>(scaler[2]) != 0u {
        return;
    }
{{/if}}
{{#for k in PARAMS}}
    if i < LENS[{{k}}] {
        update_{{k}}(i);
    }
{{/for}}
}
