//! Optimizer updates, elementwise (`torch.optim.SGD` with dampening 0, `Adam`/`AdamW`):
//! SGD's momentum buffer and step, Adam's moment estimates and step. Each invocation reads its
//! element of every input before it writes the output, and touches no other element, so the
//! output may be the buffer being updated (in-place).
//!
//! Adam's bias corrections `1 - beta^t` come from the step buffer at run time; they are
//! computed as `-expm1(t log1p(-(1 - beta)))` with series for both functions, so they keep
//! full f32 accuracy when `beta^t` is close to 1 (`1 - 0.999^1`), where the naive
//! `1 - pow(beta, t)` would lose four digits.

use super::super::template::Vars;
use super::super::{KernelError, KernelSource, ensure};
use super::pointwise_grad::elementwise;

const SGD_BUFFER: &str = include_str!("../../../../shaders/train/sgd_buffer.wgsl");
const SGD_STEP: &str = include_str!("../../../../shaders/train/sgd_step.wgsl");
const ADAM_MOMENT: &str = include_str!("../../../../shaders/train/adam_moment.wgsl");
const ADAM_STEP: &str = include_str!("../../../../shaders/train/adam_step.wgsl");

fn finite(op: &'static str, what: &str, v: f32) -> Result<(), KernelError> {
    ensure(op, v.is_finite(), || {
        format!("{what} must be finite, got {v}")
    })
}

/// SGD's momentum buffer: `out = buf * momentum + (grad + weight_decay * param)`.
///
/// Bindings: `param`, `grad`, `buf`, `out` (may be `buf`).
pub fn sgd_buffer(len: u64, momentum: f32, weight_decay: f32) -> Result<KernelSource, KernelError> {
    const OP: &str = "sgd_buffer";
    finite(OP, "momentum", momentum)?;
    finite(OP, "weight decay", weight_decay)?;
    let vars = Vars::new()
        .f32("MOMENTUM", momentum)
        .f32("WEIGHT_DECAY", weight_decay);
    elementwise(
        OP,
        format!("sgd_buffer_{len}"),
        ("train/sgd_buffer.wgsl", SGD_BUFFER),
        len,
        vars,
        3,
    )
}

/// SGD's step: `out = param - lr * d` with `d = buf`, or with Nesterov
/// `d = grad + weight_decay * param + momentum * buf` (`buf` already updated).
///
/// Bindings: `param`, `grad`, `buf`, `lr` (scalar), `out` (may be `param`).
pub fn sgd_step(
    len: u64,
    momentum: f32,
    weight_decay: f32,
    nesterov: bool,
) -> Result<KernelSource, KernelError> {
    const OP: &str = "sgd_step";
    finite(OP, "momentum", momentum)?;
    finite(OP, "weight decay", weight_decay)?;
    let vars = Vars::new()
        .f32("MOMENTUM", momentum)
        .f32("WEIGHT_DECAY", weight_decay)
        .bool("NESTEROV", nesterov);
    elementwise(
        OP,
        format!("sgd_step_{}{len}", if nesterov { "nesterov_" } else { "" }),
        ("train/sgd_step.wgsl", SGD_STEP),
        len,
        vars,
        4,
    )
}

/// Adam's moment estimate: `out = moment * beta + (1 - beta) * g` (`square: false`) or
/// `... * g^2` (`square: true`), with `g = grad + l2 * param` (coupled weight decay; 0 for AdamW).
///
/// Bindings: `moment`, `grad`, `param`, `out` (may be `moment`).
pub fn adam_moment(
    len: u64,
    beta: f32,
    square: bool,
    l2: f32,
) -> Result<KernelSource, KernelError> {
    const OP: &str = "adam_moment";
    finite(OP, "beta", beta)?;
    finite(OP, "l2", l2)?;
    let vars = Vars::new()
        .f32("BETA", beta)
        .f32("ONE_MINUS_BETA", 1.0 - beta)
        .f32("L2", l2)
        .bool("SQUARE", square);
    elementwise(
        OP,
        format!("adam_{}_{len}", if square { "v" } else { "m" }),
        ("train/adam_moment.wgsl", ADAM_MOMENT),
        len,
        vars,
        3,
    )
}

/// Adam/AdamW's step: `p = param * (1 - lr * decoupled_wd)`, then
/// `out = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)`.
///
/// Bindings: `param`, `m`, `v`, `lr` (scalar), `step` (scalar, `t` counted from 1), `out`
/// (may be `param`).
pub fn adam_step(
    len: u64,
    beta1: f32,
    beta2: f32,
    eps: f32,
    decoupled_wd: f32,
) -> Result<KernelSource, KernelError> {
    const OP: &str = "adam_step";
    for (what, beta) in [("beta1", beta1), ("beta2", beta2)] {
        ensure(OP, (0.0..1.0).contains(&beta), || {
            format!("{what} must be in [0, 1), got {beta}")
        })?;
    }
    finite(OP, "eps", eps)?;
    finite(OP, "weight decay", decoupled_wd)?;
    let vars = Vars::new()
        .f32("BETA1", beta1)
        .f32("BETA2", beta2)
        .f32("EPS", eps)
        .f32("WEIGHT_DECAY", decoupled_wd);
    elementwise(
        OP,
        format!("adam_step_{len}"),
        ("train/adam_step.wgsl", ADAM_STEP),
        len,
        vars,
        5,
    )
}
