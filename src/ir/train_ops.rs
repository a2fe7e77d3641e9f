//! The operations of training graphs: batch statistics, gradients and optimizer updates.
//!
//! They are ordinary IR ops — [`Op::Train`](super::Op::Train) — kept in their own file so
//! that `ops.rs` stays readable. The autodiff pass (`src/autodiff/`) is their only
//! producer. As in `ops.rs`, each variant states its semantics in PyTorch terms, its
//! operands in order, and its shape rule, which [`TrainOp::infer`] enforces.

use super::ops::{Activation, ShapeError, Window};
use super::types::TensorType;
use crate::ops::{activation, optim, pool};
use serde::Serialize;
use std::fmt;

/// Which row of [`TrainOp::BatchStats`] a running statistic follows.
pub const STATS_MEAN: usize = 0;
/// Row of the biased variance (used to normalise).
pub const STATS_VAR_BIASED: usize = 1;
/// Row of the unbiased variance (used for the running estimate, like PyTorch).
pub const STATS_VAR_UNBIASED: usize = 2;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum TrainOp {
    /// Per-channel statistics of a batch over N, H and W: row 0 the mean, row 1 the biased
    /// variance, row 2 the unbiased variance.
    /// Operands: `x [N,C,H,W]`. Shape: `[3, C]`.
    BatchStats,
    /// Training-mode batch norm: `(x - mean) / sqrt(var_biased + eps) * gamma + beta` with the
    /// batch's statistics; with `act: Some(a)`, that value through `a` (`relu(bn(x))`), a form
    /// only the fusion pass makes (`passes::fuse_activation`; the activation's gradient then
    /// reads this op's output through [`TrainOp::ActivationGradFromOutput`]).
    /// Operands: `x`, `stats [3,C]`, `gamma [C]`, `beta [C]`. Shape: as `x`.
    BatchNormTrain { eps: f32, act: Option<Activation> },
    /// `running * (1 - momentum) + stats[row] * momentum` (PyTorch's running-statistics update).
    /// Operands: `running [C]`, `stats [3,C]`. Shape: `[C]`.
    RunningUpdate { momentum: f32, row: usize },
    /// The parameter or state takes this value after the step (`p.copy_(value)`).
    /// Operands: `target` (a `Param` node), `value` of the same type. Shape: the same. Has no users.
    Assign,
    /// Gradient of an activation: `dy * act'(x)`. Operands: `x`, `dy`. Shape: as `x`.
    ActivationGrad(Activation),
    /// The same gradient read off the activation's output `y = act(x)`, for when the fusion
    /// pass has folded the activation into its producer and `x` is never stored:
    /// relu `dy * (y > 0)`, leaky relu `dy * (y > 0 ? 1 : 0.01)` (both exactly `act'(x)`,
    /// the left derivative at 0 as PyTorch), tanh `dy * (1 - y^2)` (PyTorch's own
    /// `tanh_backward(dy, y)`). gelu's derivative is not a function of its output: the
    /// shape rule rejects it. Operands: `y`, `dy`. Shape: as `y`.
    ActivationGradFromOutput(Activation),
    /// Gradient of conv2d with respect to its input (a transposed convolution).
    /// Operands: `dy [N,Cout,Ho,Wo]`, `weight [Cout,Cin/g,kh,kw]`, and with `accumulate` a
    /// last one, `acc` (see [`TrainOp::accumulator`]). Shape: `[N,Cin,H,W]` with
    /// `input_hw = [H, W]` (the forward floor formula loses it).
    Conv2dGradInput {
        window: Window,
        groups: usize,
        input_hw: [usize; 2],
        accumulate: bool,
    },
    /// Gradient of conv2d with respect to its weight.
    /// Operands: `x [N,Cin,H,W]`, `dy [N,Cout,Ho,Wo]`. Shape: `[Cout, Cin/g, kh, kw]`.
    Conv2dGradWeight { window: Window, groups: usize },
    /// Gradient of a bias: `dy` summed over every axis but the channel (dim 1).
    /// Operands: `dy [N,C,...]`. Shape: `[C]`.
    /// With `act_grad: Some(a)` (see [`TrainOp::ActivationGradFromOutput`]): one more
    /// operand `y`, the output of a fused activation `a`, and `dy`, the gradient of `y`, is
    /// read as `dy * a'(y)` — `a`'s gradient folded in by `passes::fuse_activation_grad`.
    BiasGrad { act_grad: Option<Activation> },
    /// Gradient of training-mode batch norm with respect to `x`:
    /// `gamma * invstd / M * (M dy - dbeta - xhat * dgamma)`, M = N*H*W.
    /// Operands: `x`, `stats`, `gamma`, `dy`, `dgamma [C]`, `dbeta [C]`, with `act_grad`
    /// `y` (as for [`TrainOp::BiasGrad`]), and with `accumulate` a last one, `acc` (see
    /// [`TrainOp::accumulator`]). Shape: as `x`.
    BatchNormGradInput {
        eps: f32,
        act_grad: Option<Activation>,
        accumulate: bool,
    },
    /// `dgamma = sum(dy * xhat)` per channel. Operands: `x`, `stats`, `dy`, and with
    /// `act_grad` `y` (as for [`TrainOp::BiasGrad`]). Shape: `[C]`.
    BatchNormGradGamma {
        eps: f32,
        act_grad: Option<Activation>,
    },
    /// Gradient of max pooling: each window's `dy` goes to its first maximum (PyTorch's
    /// tie-breaking), summed where windows overlap. Operands: `x`, `dy`. Shape: as `x`.
    MaxPool2dGrad(Window),
    /// Gradient of average pooling (`count_include_pad=True`). Operands: `dy`.
    /// Shape: `[N,C,H,W]` with `input_hw = [H, W]`.
    AvgPool2dGrad {
        window: Window,
        input_hw: [usize; 2],
    },
    /// Gradient of global average pooling: `dy / (H W)` broadcast over the plane.
    /// Operands: `dy [N,C,1,1]`. Shape: `[N,C,H,W]`.
    GlobalAvgPoolGrad { input_hw: [usize; 2] },
    /// The same elements under another per-example shape (a view; flatten's gradient).
    /// Operands: `x`. Shape: `[N, dims...]`; invariant: same element count.
    Reshape { dims: Vec<usize> },
    /// Gradient of linear with respect to its input: `dy @ W`.
    /// Operands: `dy [N,out]`, `weight [out,in]`. Shape: `[N,in]`.
    LinearGradInput,
    /// Gradient of linear with respect to its weight: `dy^T @ x`.
    /// Operands: `x [N,in]`, `dy [N,out]`. Shape: `[out,in]`.
    LinearGradWeight,
    /// Channels `[offset, offset + channels)` of `x` (concat's gradient).
    /// Operands: `x [N,C,H,W]`. Shape: `[N,channels,H,W]`.
    ChannelSlice { offset: usize, channels: usize },
    /// Gradient of the mean cross-entropy with respect to the logits: `(softmax(z) - onehot(y)) / N`.
    /// Operands: `logits [N,K]`, `labels [N] i32`. Shape: `[N,K]`.
    SoftmaxCrossEntropyGrad,
    /// Number of rows whose arg-max equals the label (as f32).
    /// Operands: `logits [N,K]`, `labels [N] i32`. Shape: scalar `[]`.
    CorrectCount,
    /// SGD's momentum buffer (`torch.optim.SGD`, dampening 0):
    /// `buf * momentum + (grad + weight_decay * param)`. A zero buffer makes the first step
    /// `buf = grad + wd * param`, exactly PyTorch's initialisation.
    /// Operands: `param`, `grad`, `buf`. Shape: as `param`.
    SgdBuffer { momentum: f32, weight_decay: f32 },
    /// SGD's parameter step: `param - lr * d`, with `d = buf`, or with Nesterov
    /// `d = grad + weight_decay * param + momentum * buf`.
    /// Operands: `param`, `grad`, `buf` (updated), `lr []`. Shape: as `param`.
    SgdStep {
        momentum: f32,
        weight_decay: f32,
        nesterov: bool,
    },
    /// Adam's moment estimates: `m * beta + (1 - beta) * g` (`square: false`) or
    /// `v * beta + (1 - beta) * g^2` (`square: true`), with `g = grad + l2 * param`
    /// (`l2` is Adam's coupled weight decay; 0 for AdamW).
    /// Operands: `moment`, `grad`, `param`. Shape: as `param`.
    AdamMoment { beta: f32, square: bool, l2: f32 },
    /// Adam/AdamW step: `p' = p * (1 - lr * decoupled_wd)`, then
    /// `p' - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)`.
    /// Operands: `param`, `m` (updated), `v` (updated), `lr []`, `step []` (t, from 1).
    /// Shape: as `param`.
    AdamStep {
        beta1: f32,
        beta2: f32,
        eps: f32,
        decoupled_wd: f32,
    },
}

pub(crate) fn err<T>(message: String) -> Result<T, ShapeError> {
    Err(ShapeError {
        message,
        help: None,
    })
}

pub(crate) fn same(a: &TensorType, b: &TensorType, what: &str) -> Result<(), ShapeError> {
    if a != b {
        return err(format!("{what}: {a} and {b} differ"));
    }
    Ok(())
}

pub(crate) fn chw(x: &TensorType, what: &str) -> Result<(usize, usize, usize), ShapeError> {
    x.chw().ok_or_else(|| ShapeError {
        message: format!("{what} expects [N,C,H,W], got {x}"),
        help: None,
    })
}

/// The ` through=relu` attribute of a gradient taken through a fused activation.
fn through(act_grad: Option<Activation>) -> String {
    act_grad
        .map(|a| format!(" through={}", a.name()))
        .unwrap_or_default()
}

/// The ` +acc` attribute of a gradient op that adds an accumulation into its result.
fn accumulated(accumulate: bool) -> &'static str {
    if accumulate { " +acc" } else { "" }
}

impl TrainOp {
    pub fn name(&self) -> &'static str {
        match self {
            TrainOp::BatchStats => "batch_stats",
            TrainOp::BatchNormTrain { .. } => "batch_norm_train",
            TrainOp::RunningUpdate { .. } => "running_update",
            TrainOp::Assign => "assign",
            TrainOp::ActivationGrad(_) => "activation_grad",
            TrainOp::ActivationGradFromOutput(_) => "activation_grad_from_output",
            TrainOp::Conv2dGradInput { .. } => "conv2d_grad_input",
            TrainOp::Conv2dGradWeight { .. } => "conv2d_grad_weight",
            TrainOp::BiasGrad { .. } => "bias_grad",
            TrainOp::BatchNormGradInput { .. } => "batch_norm_grad_input",
            TrainOp::BatchNormGradGamma { .. } => "batch_norm_grad_gamma",
            TrainOp::MaxPool2dGrad(_) => "max_pool2d_grad",
            TrainOp::AvgPool2dGrad { .. } => "avg_pool2d_grad",
            TrainOp::GlobalAvgPoolGrad { .. } => "global_avg_pool_grad",
            TrainOp::Reshape { .. } => "reshape",
            TrainOp::LinearGradInput => "linear_grad_input",
            TrainOp::LinearGradWeight => "linear_grad_weight",
            TrainOp::ChannelSlice { .. } => "channel_slice",
            TrainOp::SoftmaxCrossEntropyGrad => "softmax_cross_entropy_grad",
            TrainOp::CorrectCount => "correct_count",
            TrainOp::SgdBuffer { .. } => "sgd_buffer",
            TrainOp::SgdStep { .. } => "sgd_step",
            TrainOp::AdamMoment { .. } => "adam_moment",
            TrainOp::AdamStep { .. } => "adam_step",
        }
    }

    pub fn arity(&self) -> usize {
        // A gradient taken through a fused activation also reads the activation's output.
        let through = |a: &Option<Activation>| usize::from(a.is_some());
        match self {
            TrainOp::BiasGrad { act_grad } => 1 + through(act_grad),
            TrainOp::BatchNormGradGamma { act_grad, .. } => 3 + through(act_grad),
            TrainOp::BatchNormGradInput {
                act_grad,
                accumulate,
                ..
            } => 6 + through(act_grad) + usize::from(*accumulate),
            TrainOp::Conv2dGradInput { accumulate, .. } => 2 + usize::from(*accumulate),
            TrainOp::BatchStats
            | TrainOp::AvgPool2dGrad { .. }
            | TrainOp::GlobalAvgPoolGrad { .. }
            | TrainOp::Reshape { .. }
            | TrainOp::ChannelSlice { .. } => 1,
            TrainOp::RunningUpdate { .. }
            | TrainOp::Assign
            | TrainOp::ActivationGrad(_)
            | TrainOp::ActivationGradFromOutput(_)
            | TrainOp::Conv2dGradWeight { .. }
            | TrainOp::MaxPool2dGrad(_)
            | TrainOp::LinearGradInput
            | TrainOp::LinearGradWeight
            | TrainOp::SoftmaxCrossEntropyGrad
            | TrainOp::CorrectCount => 2,
            TrainOp::SgdBuffer { .. } | TrainOp::AdamMoment { .. } => 3,
            TrainOp::BatchNormTrain { .. } | TrainOp::SgdStep { .. } => 4,
            TrainOp::AdamStep { .. } => 5,
        }
    }

    /// The shape rule (operand count already checked by `Op::infer`).
    pub fn infer(&self, xs: &[&TensorType]) -> Result<TensorType, ShapeError> {
        if let TrainOp::BiasGrad { act_grad: Some(a) }
        | TrainOp::BatchNormGradGamma {
            act_grad: Some(a), ..
        }
        | TrainOp::BatchNormGradInput {
            act_grad: Some(a), ..
        } = self
        {
            // The trailing `y` is shaped like `dy`; its activation's derivative must be a
            // function of `y`.
            activation::shape::through(self.name(), *a)?;
            let (dy, y) = match self {
                TrainOp::BiasGrad { .. } => (0, 1),
                TrainOp::BatchNormGradGamma { .. } => (2, 3),
                _ => (3, 6),
            };
            same(xs[y], xs[dy], &format!("{} y", self.name()))?;
        }
        let out = self.infer_unaccumulated(xs)?;
        if let Some(acc) = self.accumulator() {
            same(xs[acc], &out, &format!("{} acc", self.name()))?;
        }
        Ok(out)
    }

    /// Where a gradient op that adds a gradient accumulation into its result reads the
    /// running sum: the result is then the op's own value plus `acc`, an exact sum of the
    /// two (`grad + acc`, the `add` of two gradient parts that
    /// `passes::fuse_grad_accumulation` folds into the op that makes the later part), so
    /// one kernel writes what two dispatches wrote. `acc` is always the last operand.
    pub fn accumulator(&self) -> Option<usize> {
        match self {
            TrainOp::Conv2dGradInput {
                accumulate: true, ..
            }
            | TrainOp::BatchNormGradInput {
                accumulate: true, ..
            } => Some(self.arity() - 1),
            _ => None,
        }
    }

    /// The shape rule without the accumulation operand.
    fn infer_unaccumulated(&self, xs: &[&TensorType]) -> Result<TensorType, ShapeError> {
        match self {
            TrainOp::BatchStats => crate::ops::norm::shape::batch_stats(xs[0]),
            TrainOp::BatchNormTrain { .. } => crate::ops::norm::shape::batch_norm_train(xs),
            TrainOp::RunningUpdate { row, .. } => crate::ops::norm::shape::running_update(*row, xs),
            TrainOp::Assign => {
                same(xs[0], xs[1], "assign")?;
                Ok(xs[0].clone())
            }
            TrainOp::ActivationGrad(a) => activation::shape::gradient(*a, false, xs[0], xs[1]),
            TrainOp::ActivationGradFromOutput(a) => {
                activation::shape::gradient(*a, true, xs[0], xs[1])
            }
            TrainOp::Conv2dGradInput {
                window,
                groups,
                input_hw,
                ..
            } => crate::ops::conv::shape::grad_input(window, *groups, *input_hw, xs[0], xs[1]),
            TrainOp::Conv2dGradWeight { window, groups } => {
                crate::ops::conv::shape::grad_weight(window, *groups, xs[0], xs[1])
            }
            TrainOp::BiasGrad { .. } => {
                if !xs[0].batched || xs[0].dims.is_empty() {
                    return err(format!("bias_grad expects [N,C,...], got {}", xs[0]));
                }
                Ok(TensorType::param(vec![xs[0].dims[0]]))
            }
            TrainOp::BatchNormGradInput { .. } => {
                crate::ops::norm::shape::batch_norm_grad_input(xs)
            }
            TrainOp::BatchNormGradGamma { .. } => {
                crate::ops::norm::shape::batch_norm_grad_gamma(xs)
            }
            TrainOp::MaxPool2dGrad(w) => pool::shape::max_pool2d_grad(w, xs[0], xs[1]),
            TrainOp::AvgPool2dGrad { window, input_hw } => {
                pool::shape::avg_pool2d_grad(window, *input_hw, xs[0])
            }
            TrainOp::GlobalAvgPoolGrad { input_hw } => {
                pool::shape::global_avg_pool_grad(*input_hw, xs[0])
            }
            TrainOp::Reshape { dims } => crate::ops::linear::shape::reshape(dims, xs[0]),
            TrainOp::LinearGradInput => crate::ops::linear::shape::linear_grad_input(xs[0], xs[1]),
            TrainOp::LinearGradWeight => {
                crate::ops::linear::shape::linear_grad_weight(xs[0], xs[1])
            }
            TrainOp::ChannelSlice { offset, channels } => {
                crate::ops::elementwise::shape::channel_slice(*offset, *channels, xs[0])
            }
            TrainOp::SoftmaxCrossEntropyGrad | TrainOp::CorrectCount => {
                let count = matches!(self, TrainOp::CorrectCount);
                crate::ops::loss::shape::labelled(self.name(), count, xs[0], xs[1])
            }
            TrainOp::SgdBuffer { .. } | TrainOp::AdamMoment { .. } => {
                optim::shape::state(self.name(), xs)
            }
            TrainOp::SgdStep { .. } => optim::shape::sgd_step(xs),
            TrainOp::AdamStep { .. } => optim::shape::adam_step(xs),
        }
    }
}

impl fmt::Display for TrainOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.name();
        match self {
            TrainOp::BatchNormTrain { eps, act } => {
                write!(f, "{name}[eps={eps:e}{}]", super::ops::fused(*act))
            }
            TrainOp::BatchNormGradInput {
                eps,
                act_grad,
                accumulate,
            } => write!(
                f,
                "{name}[eps={eps:e}{}{}]",
                through(*act_grad),
                accumulated(*accumulate)
            ),
            TrainOp::BatchNormGradGamma { eps, act_grad } => {
                write!(f, "{name}[eps={eps:e}{}]", through(*act_grad))
            }
            TrainOp::BiasGrad { act_grad: Some(a) } => write!(f, "{name}[through={}]", a.name()),
            TrainOp::RunningUpdate { momentum, row } => {
                write!(f, "{name}[momentum={momentum} row={row}]")
            }
            TrainOp::ActivationGrad(a) => write!(f, "{}_grad", a.name()),
            TrainOp::ActivationGradFromOutput(a) => write!(f, "{}_grad_from_output", a.name()),
            TrainOp::Conv2dGradInput {
                window,
                groups,
                input_hw,
                accumulate,
            } => write!(
                f,
                "{name}[{window} g={groups} in={}x{}{}]",
                input_hw[0],
                input_hw[1],
                accumulated(*accumulate)
            ),
            TrainOp::Conv2dGradWeight { window, groups } => {
                write!(f, "{name}[{window} g={groups}]")
            }
            TrainOp::MaxPool2dGrad(w) => write!(f, "{name}[{w}]"),
            TrainOp::AvgPool2dGrad { window, .. } => write!(f, "{name}[{window}]"),
            TrainOp::Reshape { dims } => write!(f, "{name}{dims:?}"),
            TrainOp::ChannelSlice { offset, channels } => {
                write!(f, "{name}[{offset}..{}]", offset + channels)
            }
            TrainOp::SgdBuffer {
                momentum,
                weight_decay,
            } => write!(f, "{name}[momentum={momentum} wd={weight_decay}]"),
            TrainOp::SgdStep { nesterov, .. } => write!(f, "{name}[nesterov={nesterov}]"),
            TrainOp::AdamMoment { beta, square, l2 } => {
                write!(f, "{name}[beta={beta} square={square} l2={l2}]")
            }
            TrainOp::AdamStep {
                beta1,
                beta2,
                eps,
                decoupled_wd,
            } => write!(
                f,
                "{name}[betas={beta1},{beta2} eps={eps:e} wd={decoupled_wd}]"
            ),
            _ => f.write_str(name),
        }
    }
}
