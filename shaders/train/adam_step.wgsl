//! Adam / AdamW parameter step (netc: src/codegen/kernels/train/optim.rs):
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

// ln(beta) for beta in [0, 1). Near 1 (beta >= 0.5): log1p(-q), q = 1 - beta (exact), as
// 2 atanh(s) with s = -q / (2 - q), |s| <= 1/3, by its odd series to s^21 (error < 1e-11).
fn ln_beta(beta: f32) -> f32 {
    if beta < 0.5 {
        return log(beta);
    }
    let q = 1.0 - beta;
    let s = -q / (2.0 - q);
    let s2 = s * s;
    let series = 1.0 + s2 * (1.0 / 3.0 + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0
        + s2 * (1.0 / 11.0 + s2 * (1.0 / 13.0 + s2 * (1.0 / 15.0 + s2 * (1.0 / 17.0
        + s2 * (1.0 / 19.0 + s2 / 21.0)))))))));
    return 2.0 * s * series;
}

// 1 - exp(y) for y <= 0, without cancellation near 0: -expm1(y) by its Taylor series for
// |y| < 0.5 (to y^11, error < 1e-10 relative), 1 - exp(y) beyond (no cancellation left).
fn one_minus_exp(y: f32) -> f32 {
    if y < -0.5 {
        return 1.0 - exp(y);
    }
    let e = y * (1.0 + y * (1.0 / 2.0 + y * (1.0 / 6.0 + y * (1.0 / 24.0 + y * (1.0 / 120.0
        + y * (1.0 / 720.0 + y * (1.0 / 5040.0 + y * (1.0 / 40320.0 + y * (1.0 / 362880.0
        + y * (1.0 / 3628800.0 + y / 39916800.0))))))))));
    return -e;
}

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
