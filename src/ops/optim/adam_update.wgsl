//! Adam / AdamW update of PARAMS parameters, in place (netc: src/ops/optim/kernel.rs):
//! both moment estimates (adam_moment.wgsl) and the step (adam_step.wgsl) in one dispatch,
//! with their exact expressions, so results are bit-identical to the three kernels. With
//! g = grad + L2 * param: m = m * BETA1 + (1 - BETA1) * g, v = v * BETA2 + (1 - BETA2) * g^2,
//! then param = param * (1 - lr * WEIGHT_DECAY) - lr / bc1 * m / (sqrt(v) / sqrt(bc2) + EPS)
//! with bias corrections bc = 1 - beta^t (see adam_step.wgsl); lr and t (counted from 1) are
//! one-element buffers. One element index per invocation, for every parameter that long: each
//! reads its element of every buffer before writing it and touches no other element, so
//! updating in place is safe. Batching parameters saves dispatches (~8 µs each on a GPU).

const PARAMS: u32 = {{PARAMS}};
// Elements of each parameter, and the longest.
const LENS = array<u32, PARAMS>({{LENS}});
const TOTAL: u32 = {{TOTAL}};
const BETA1: f32 = {{BETA1}};
const ONE_MINUS_BETA1: f32 = {{ONE_MINUS_BETA1}};
const BETA2: f32 = {{BETA2}};
const ONE_MINUS_BETA2: f32 = {{ONE_MINUS_BETA2}};
const L2: f32 = {{L2}};
const EPS: f32 = {{EPS}};
const WEIGHT_DECAY: f32 = {{WEIGHT_DECAY}};
const WG: u32 = {{WG}};
const GRID_X: u32 = {{GRID_X}};

@group(0) @binding(0) var<storage, read> lr: array<f32>;
@group(0) @binding(1) var<storage, read> step: array<f32>;
{{#if SCALED}}
// The loss scaler's state (loss_scale_update.wgsl): gradients arrive multiplied by the scale
// [0], and nothing is updated in a step whose flag [2] says a gradient was inf or NaN.
@group(0) @binding({{SCALER_BINDING}}) var<storage, read> scaler: array<f32>;
{{/if}}

{{ADAM_BIAS_LIB}}

{{#for k in PARAMS}}
@group(0) @binding(2 + 4 * {{k}}) var<storage, read> grad_{{k}}: array<f32>;
@group(0) @binding(3 + 4 * {{k}}) var<storage, read_write> param_{{k}}: array<f32>;
@group(0) @binding(4 + 4 * {{k}}) var<storage, read_write> m_{{k}}: array<f32>;
@group(0) @binding(5 + 4 * {{k}}) var<storage, read_write> v_{{k}}: array<f32>;

fn update_{{k}}(i: u32, rate: f32, bc1: f32, bc2: f32) {
    let p0 = param_{{k}}[i];
    // adam_moment.wgsl, first and second moment
    let g = grad_{{k}}[i]{{UNSCALE}} + L2 * p0;
    let mi = m_{{k}}[i] * BETA1 + ONE_MINUS_BETA1 * g;
    let vi = v_{{k}}[i] * BETA2 + ONE_MINUS_BETA2 * (g * g);
    m_{{k}}[i] = mi;
    v_{{k}}[i] = vi;
    // adam_step.wgsl
    let p = p0 * (1.0 - rate * WEIGHT_DECAY);
    param_{{k}}[i] = p - rate / bc1 * mi / (sqrt(vi) / sqrt(bc2) + EPS);
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
    let rate = lr[0];
    let t = step[0];
    let bc1 = one_minus_exp(t * ln_beta(BETA1));
    let bc2 = one_minus_exp(t * ln_beta(BETA2));
{{#for k in PARAMS}}
    if i < LENS[{{k}}] {
        update_{{k}}(i, rate, bc1, bc2);
    }
{{/for}}
}
