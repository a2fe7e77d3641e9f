//! Adam / AdamW parameter step (netc: src/ops/optim/kernel.rs):
//! p = param * (1 - lr * WEIGHT_DECAY), then out = p - lr / bc1 * m / (sqrt(v) / sqrt(bc2) + EPS)
//! with bias corrections bc = 1 - beta^t; lr and t (counted from 1) are one-element buffers.
//! One element per invocation; `out` may alias `param`.
//!
//! 1 - beta^t cancels badly in f32 when beta^t is near 1 (1 - 0.999 keeps 4 digits of a
//! rounded 0.999), so it is computed as -expm1(t * log1p(-(1 - beta))), 1 - beta being exact
//! for beta >= 0.5, with series for log1p and expm1 near 0.

const TOTAL: u32 = {{TOTAL}};
const BETA1: f32 = {{BETA1}};
const BETA2: f32 = {{BETA2}};
const EPS: f32 = {{EPS}};
const WEIGHT_DECAY: f32 = {{WEIGHT_DECAY}};
const WG: u32 = {{WG}};
const GRID_X: u32 = {{GRID_X}};

@group(0) @binding(0) var<storage, read> param: array<f32>;
@group(0) @binding(1) var<storage, read> m: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read> lr: array<f32>;
@group(0) @binding(4) var<storage, read> step: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

{{ADAM_BIAS_LIB}}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = (wid.x + wid.y * GRID_X) * WG + lid.x;
    if i >= TOTAL {
        return;
    }
    let rate = lr[0];
    let t = step[0];
    let bc1 = one_minus_exp(t * ln_beta(BETA1));
    let bc2 = one_minus_exp(t * ln_beta(BETA2));
    let p = param[i] * (1.0 - rate * WEIGHT_DECAY);
    let mi = m[i];
    let vi = v[i];
    out[i] = p - rate / bc1 * mi / (sqrt(vi) / sqrt(bc2) + EPS);
}
