//! Forward semantics of each op on host tensors (see `ir::ops` for the definitions).

use crate::ir::{Activation, Op};
use crate::ops::activation::reference::activate;
use crate::ops::conv::reference as conv;
use crate::ops::pool::reference as pool;
use crate::tensor::{Element, Tensor};

/// Evaluate one op. Operand shapes were checked by the verifier and by `run_all`.
pub fn forward<T: Element>(op: &Op, xs: &[&Tensor<T>]) -> Tensor<T> {
    match op {
        Op::Conv2d {
            out_channels,
            window,
            groups,
            ..
        } => conv::conv2d(
            xs[0],
            xs[1],
            xs.get(2).copied(),
            *out_channels,
            window,
            *groups,
        ),
        Op::BatchNorm { eps, act, .. } => then(
            *act,
            crate::ops::norm::reference::batch_norm_eval(xs[0], xs[1], xs[2], xs[3], xs[4], *eps),
        ),
        Op::Activation(a) => map(xs[0], |v| activate(*a, v)),
        Op::MaxPool2d(w) => pool::pool(xs[0], w, true),
        Op::AvgPool2d(w) => pool::pool(xs[0], w, false),
        Op::GlobalAvgPool => pool::global_avg_pool(xs[0]),
        Op::Flatten => crate::ops::linear::reference::flatten(xs[0]),
        Op::Linear { out_features, .. } => {
            crate::ops::linear::reference::linear(xs[0], xs[1], xs.get(2).copied(), *out_features)
        }
        Op::Add { act } => crate::ops::elementwise::reference::add(xs[0], xs[1], *act),
        Op::Concat => crate::ops::elementwise::reference::concat(xs),
        Op::Softmax => crate::ops::loss::reference::softmax(xs[0]),
        Op::SoftmaxCrossEntropy => crate::ops::loss::reference::cross_entropy(xs[0], xs[1]),
        Op::Output { .. } => xs[0].clone(),
        Op::Train(t) => super::train_ops::forward(t, xs),
        Op::Input { .. } | Op::Param { .. } => {
            unreachable!("leaves are not evaluated by forward()")
        }
    }
}

/// A fused op's activation, applied to the op's rounded result: rounding the
/// pre-activation to the element type first makes a fused op produce exactly the bits
/// of the unfused pair.
pub fn then<T: Element>(act: Option<Activation>, y: Tensor<T>) -> Tensor<T> {
    match act {
        Some(a) => map(&y, |v| activate(a, v)),
        None => y,
    }
}

fn map<T: Element>(x: &Tensor<T>, f: impl Fn(T) -> T) -> Tensor<T> {
    Tensor::new(x.dims.clone(), x.data.iter().map(|&v| f(v)).collect())
}

pub(crate) fn nchw<T: Element>(t: &Tensor<T>) -> (usize, usize, usize, usize) {
    (t.dims[0], t.dims[1], t.dims[2], t.dims[3])
}
