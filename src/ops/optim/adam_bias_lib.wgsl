//! Adam's bias corrections 1 - beta^t without cancellation (netc: spliced into
//! adam_step.wgsl and adam_update.wgsl by src/ops/optim/kernel.rs, so
//! the unfused and fused updates compute them identically).

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
