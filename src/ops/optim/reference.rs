//! The CPU reference of the optimizer updates, in f64, exactly `torch.optim.SGD` (dampening
//! 0), `Adam` and `AdamW`. The interpreter (`reference::train_ops`) calls these for
//! `TrainOp::{SgdBuffer, SgdStep, AdamMoment, AdamStep}`; operands are in the op's order.

use crate::reference::train_ops::map3;
use crate::tensor::{Element, Tensor};

/// SGD's momentum buffer from `[param, grad, buf]`: `buf * momentum + (grad + wd * param)`.
pub fn sgd_buffer<T: Element>(xs: &[&Tensor<T>], momentum: f32, weight_decay: f32) -> Tensor<T> {
    let (p, g, buf) = (xs[0], xs[1], xs[2]);
    map3(p, g, buf, |p, g, b| {
        b * momentum as f64 + g + weight_decay as f64 * p
    })
}

/// SGD's step from `[param, grad, buf, lr]` (`buf` already updated).
pub fn sgd_step<T: Element>(
    xs: &[&Tensor<T>],
    momentum: f32,
    weight_decay: f32,
    nesterov: bool,
) -> Tensor<T> {
    let lr = xs[3].data[0].to_f64();
    map3(xs[0], xs[1], xs[2], |p, g, b| {
        let d = if nesterov {
            g + weight_decay as f64 * p + momentum as f64 * b
        } else {
            b
        };
        p - lr * d
    })
}

/// Adam's first (`square: false`) or second moment from `[moment, grad, param]`, with the
/// coupled L2 decay `l2`.
pub fn adam_moment<T: Element>(xs: &[&Tensor<T>], beta: f32, square: bool, l2: f32) -> Tensor<T> {
    map3(xs[0], xs[1], xs[2], |m, g, p| {
        let g = g + l2 as f64 * p;
        let g = if square { g * g } else { g };
        m * beta as f64 + (1.0 - beta as f64) * g
    })
}

/// Adam's step from `[param, m, v, lr, step]`, with bias corrections `1 - beta^t` and the
/// decoupled (AdamW) decay `decoupled_wd`.
pub fn adam_step<T: Element>(
    xs: &[&Tensor<T>],
    [beta1, beta2]: [f32; 2],
    eps: f32,
    decoupled_wd: f32,
) -> Tensor<T> {
    let (lr, t) = (xs[3].data[0].to_f64(), xs[4].data[0].to_f64());
    let bc1 = 1.0 - (beta1 as f64).powf(t);
    let bc2 = 1.0 - (beta2 as f64).powf(t);
    map3(xs[0], xs[1], xs[2], |p, m, v| {
        let p = p * (1.0 - lr * decoupled_wd as f64);
        p - lr / bc1 * m / (v.sqrt() / bc2.sqrt() + eps as f64)
    })
}
