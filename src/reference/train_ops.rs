//! Reference semantics of the training ops (see `ir::train_ops` for the definitions):
//! plain loops, f64 accumulation, written to be checked by eye and against PyTorch.

use super::ops::then;
use crate::ir::Activation;
use crate::ir::train_ops::TrainOp;
use crate::ops::activation::reference as activation;
use crate::ops::conv::reference as conv;
use crate::ops::norm::reference as norm;
use crate::ops::optim::reference as optim;
use crate::ops::pool::reference as pool;
use crate::tensor::{Element, Tensor};

pub fn forward<T: Element>(op: &TrainOp, xs: &[&Tensor<T>]) -> Tensor<T> {
    let own = unaccumulated(op, xs);
    match op.accumulator() {
        Some(acc) => zip(&own, xs[acc], |g, acc| g + acc),
        None => own,
    }
}

/// The op's own value, before an accumulation it adds in (`TrainOp::accumulator`).
fn unaccumulated<T: Element>(op: &TrainOp, xs: &[&Tensor<T>]) -> Tensor<T> {
    match op {
        TrainOp::BatchStats => norm::batch_stats(xs[0]),
        TrainOp::BatchNormTrain { eps, act } => then(
            *act,
            norm::batch_norm_train(xs[0], xs[1], xs[2], xs[3], *eps),
        ),
        TrainOp::RunningUpdate { momentum, row } => {
            norm::running_update(xs[0], xs[1], *momentum, *row)
        }
        TrainOp::Assign => xs[1].clone(),
        TrainOp::ActivationGrad(a) => zip(xs[0], xs[1], |x, dy| {
            dy * activation::derivative::<T>(*a, x)
        }),
        TrainOp::ActivationGradFromOutput(a) => zip(xs[0], xs[1], |y, dy| {
            dy * activation::derivative_from_output(*a, y)
        }),
        TrainOp::Conv2dGradInput {
            window,
            groups,
            input_hw,
            ..
        } => conv::conv_grad_input(xs[0], xs[1], window, *groups, *input_hw),
        TrainOp::Conv2dGradWeight { window, groups } => {
            conv::conv_grad_weight(xs[0], xs[1], window, *groups)
        }
        TrainOp::BiasGrad { act_grad } => bias_grad(&through(*act_grad, xs[0], xs.get(1))),
        TrainOp::BatchNormGradGamma { eps, act_grad } => {
            let dy = through(*act_grad, xs[2], xs.get(3));
            norm::bn_grad_gamma(xs[0], xs[1], &dy, *eps)
        }
        TrainOp::BatchNormGradInput { eps, act_grad, .. } => {
            let dy = through(*act_grad, xs[3], xs.get(6));
            norm::bn_grad_input(xs[0], xs[1], xs[2], &dy, xs[4], xs[5], *eps)
        }
        TrainOp::MaxPool2dGrad(w) => pool::max_pool_grad(xs[0], xs[1], w),
        TrainOp::AvgPool2dGrad { window, input_hw } => {
            pool::avg_pool_grad(xs[0], window, *input_hw)
        }
        TrainOp::GlobalAvgPoolGrad { input_hw } => pool::global_avg_pool_grad(xs[0], *input_hw),
        TrainOp::Reshape { dims } => crate::ops::linear::reference::reshape(xs[0], dims),
        TrainOp::LinearGradInput => crate::ops::linear::reference::linear_grad_input(xs[0], xs[1]),
        TrainOp::LinearGradWeight => {
            crate::ops::linear::reference::linear_grad_weight(xs[0], xs[1])
        }
        TrainOp::ChannelSlice { offset, channels } => {
            crate::ops::elementwise::reference::channel_slice(xs[0], *offset, *channels)
        }
        TrainOp::SoftmaxCrossEntropyGrad => {
            crate::ops::loss::reference::cross_entropy_grad(xs[0], xs[1])
        }
        TrainOp::CorrectCount => crate::ops::loss::reference::correct_count(xs[0], xs[1]),
        TrainOp::SgdBuffer {
            momentum,
            weight_decay,
        } => optim::sgd_buffer(xs, *momentum, *weight_decay),
        TrainOp::SgdStep {
            momentum,
            weight_decay,
            nesterov,
        } => optim::sgd_step(xs, *momentum, *weight_decay, *nesterov),
        TrainOp::AdamMoment { beta, square, l2 } => optim::adam_moment(xs, *beta, *square, *l2),
        TrainOp::AdamStep {
            beta1,
            beta2,
            eps,
            decoupled_wd,
        } => optim::adam_step(xs, [*beta1, *beta2], *eps, *decoupled_wd),
    }
}

/// The gradient an op reads: `dy` itself, or with a fused activation's gradient folded in,
/// `dy * act'(y)` rounded to the element type — exactly the tensor
/// `activation_grad_from_output(y, dy)` would have stored, so folding changes no bit.
fn through<T: Element>(
    act_grad: Option<Activation>,
    dy: &Tensor<T>,
    y: Option<&&Tensor<T>>,
) -> Tensor<T> {
    match act_grad {
        Some(a) => {
            let y = y.expect("a gradient through an activation has its output as operand");
            zip(y, dy, |y, dy| dy * activation::derivative_from_output(a, y))
        }
        None => dy.clone(),
    }
}

fn zip<T: Element>(a: &Tensor<T>, b: &Tensor<T>, f: impl Fn(f64, f64) -> f64) -> Tensor<T> {
    Tensor::new(
        a.dims.clone(),
        a.data
            .iter()
            .zip(&b.data)
            .map(|(&x, &y)| T::from_f64(f(x.to_f64(), y.to_f64())))
            .collect(),
    )
}

pub(crate) fn map3<T: Element>(
    a: &Tensor<T>,
    b: &Tensor<T>,
    c: &Tensor<T>,
    f: impl Fn(f64, f64, f64) -> f64,
) -> Tensor<T> {
    let data = (0..a.numel())
        .map(|i| {
            T::from_f64(f(
                a.data[i].to_f64(),
                b.data[i].to_f64(),
                c.data[i].to_f64(),
            ))
        })
        .collect();
    Tensor::new(a.dims.clone(), data)
}

fn bias_grad<T: Element>(dy: &Tensor<T>) -> Tensor<T> {
    let (n, c) = (dy.dims[0], dy.dims[1]);
    let inner: usize = dy.dims[2..].iter().product();
    let mut out = vec![0f64; c];
    for ni in 0..n {
        for (ci, o) in out.iter_mut().enumerate() {
            *o += dy.data[(ni * c + ci) * inner..(ni * c + ci + 1) * inner]
                .iter()
                .map(|&v| v.to_f64())
                .sum::<f64>();
        }
    }
    Tensor::new(vec![c], out.into_iter().map(T::from_f64).collect())
}

/// Input position of output `o` at window offset `k` on one axis, if inside the input.
pub(crate) fn tap(o: usize, k: usize, stride: usize, pad: usize, size: usize) -> Option<usize> {
    let i = (o * stride + k) as isize - pad as isize;
    (i >= 0 && (i as usize) < size).then_some(i as usize)
}
