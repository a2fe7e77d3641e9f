//! Every IR operation, with its semantics, operands, shape rule and cost — in one place.
//!
//! Each variant of [`Op`] documents:
//! * **Semantics**, as the PyTorch call it is equivalent to (forward; netc's kernels and
//!   the CPU reference implement exactly this);
//! * **Operands**, in order (an edge's `operand` index selects the slot);
//! * **Shape**, the rule [`Op::infer`] enforces.
//!
//! Layout is NCHW throughout; `N` (the batch) is symbolic in the IR (see [`TensorType`]).

use super::train_ops::TrainOp;
use super::types::{DType, TensorType};
use serde::Serialize;
use std::fmt;

/// What a parameter node holds. Trainable roles are counted as parameters (like
/// `model.parameters()` in PyTorch); buffers (running statistics) are not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum ParamRole {
    /// Conv or linear weight.
    Weight,
    /// Conv or linear bias.
    Bias,
    /// Batch-norm scale (PyTorch's `bn.weight`).
    Gamma,
    /// Batch-norm shift (PyTorch's `bn.bias`).
    Beta,
    /// Batch-norm running mean (buffer).
    RunningMean,
    /// Batch-norm running variance (buffer).
    RunningVar,
    /// SGD's momentum buffer of the parameter named by the node's path (optimizer state).
    MomentumBuffer,
    /// Adam's first-moment estimate (optimizer state).
    ExpAvg,
    /// Adam's second-moment estimate (optimizer state).
    ExpAvgSq,
}

impl ParamRole {
    /// The last component of the parameter's name, as PyTorch's state_dict spells it.
    pub fn suffix(self) -> &'static str {
        match self {
            ParamRole::Weight | ParamRole::Gamma => "weight",
            ParamRole::Bias | ParamRole::Beta => "bias",
            ParamRole::RunningMean => "running_mean",
            ParamRole::RunningVar => "running_var",
            ParamRole::MomentumBuffer => "momentum_buffer",
            ParamRole::ExpAvg => "exp_avg",
            ParamRole::ExpAvgSq => "exp_avg_sq",
        }
    }

    /// Whether the optimizer updates it.
    pub fn trainable(self) -> bool {
        matches!(
            self,
            ParamRole::Weight | ParamRole::Bias | ParamRole::Gamma | ParamRole::Beta
        )
    }
}

/// Pointwise activation functions (the `act` hyper-parameter of the seed's models); every
/// fact about each lives in its family, [`crate::ops::activation`].
pub use crate::ops::activation::Activation;

/// A 2-D window: kernel, stride and zero padding, each (height, width).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Window {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
}

impl Window {
    /// Output size of one spatial dimension, PyTorch's floor formula; `None` if the
    /// window does not fit even once.
    pub fn out_dim(&self, axis: usize, input: usize) -> Option<usize> {
        // Saturating: absurd user-written sizes must not overflow (and panic).
        let padded = input.saturating_add(self.padding[axis].saturating_mul(2));
        if self.kernel[axis] == 0 || self.stride[axis] == 0 || padded < self.kernel[axis] {
            return None;
        }
        Some((padded - self.kernel[axis]) / self.stride[axis] + 1)
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "k={}x{} s={}x{} p={}x{}",
            self.kernel[0],
            self.kernel[1],
            self.stride[0],
            self.stride[1],
            self.padding[0],
            self.padding[1]
        )
    }
}

/// The operations of netc's IR.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Op {
    /// A model input, one example per batch row (e.g. images `[N,3,32,32]`).
    /// Operands: none. Shape: the declared one.
    Input { name: String },

    /// A parameter or state buffer, named hierarchically in the graph's node `path`
    /// plus [`ParamRole::suffix`] (e.g. `res_block.3.conv1.weight`).
    /// Operands: none. Shape: unbatched, fixed when the consumer was elaborated.
    Param { role: ParamRole },

    /// `F.conv2d(x, weight, bias, stride, padding, groups=groups)`.
    /// Operands: `x [N,Cin,H,W]`, `weight [Cout, Cin/groups, kh, kw]`, optional `bias [Cout]`.
    /// Shape: `[N, Cout, Ho, Wo]` with PyTorch's floor formula. Invariants: `groups`
    /// divides `Cin` and `Cout`.
    Conv2d {
        out_channels: usize,
        window: Window,
        groups: usize,
        bias: bool,
    },

    /// `F.batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps)`.
    /// In training, normalises with the batch's biased variance and updates the running
    /// statistics with the unbiased one; in eval, uses the running statistics.
    /// With `act: Some(a)` the op is `a(F.batch_norm(...))`, e.g. `relu(bn(x))`: the
    /// elaborator never makes that form, the fusion pass (`passes::fuse_activation`) does,
    /// so the kernel applies the activation before it stores.
    /// Operands: `x [N,C,H,W]`, `gamma [C]`, `beta [C]`, `running_mean [C]`, `running_var [C]`.
    /// Shape: same as `x`.
    BatchNorm {
        eps: f32,
        momentum: f32,
        act: Option<Activation>,
    },

    /// Pointwise activation, as its table entry's PyTorch call (`crate::ops::activation`).
    /// Operands: `x`. Shape: same as `x`.
    Activation(Activation),

    /// `F.max_pool2d(x, kernel, stride, padding)`; padding acts as -inf. The pooling ops'
    /// shape rules, reference, gradients, kernels and export live in `crate::ops::pool`.
    /// Operands: `x [N,C,H,W]`. Shape: `[N,C,Ho,Wo]`. Invariant: padding <= kernel/2.
    MaxPool2d(Window),

    /// `F.avg_pool2d(x, kernel, stride, padding)` with `count_include_pad=True`.
    /// Operands: `x [N,C,H,W]`. Shape: `[N,C,Ho,Wo]`. Invariant: padding <= kernel/2.
    AvgPool2d(Window),

    /// `nn.AdaptiveAvgPool2d((1, 1))`: mean over H and W.
    /// Operands: `x [N,C,H,W]`. Shape: `[N,C,1,1]`.
    GlobalAvgPool,

    /// `torch.flatten(x, 1)`. Operands: `x [N,...]`. Shape: `[N, prod(...)]`.
    Flatten,

    /// `F.linear(x, weight, bias)`: `x @ weight.T + bias`.
    /// Operands: `x [N,in]`, `weight [out,in]`, optional `bias [out]`. Shape: `[N,out]`.
    Linear { out_features: usize, bias: bool },

    /// Elementwise `a + b`, no broadcasting; with `act: Some(f)`, `f(a + b)` (e.g. ResNet's
    /// `relu(y + shortcut)`), made only by the fusion pass (`passes::fuse_activation`).
    /// Operands: `a`, `b` of equal type. Shape: that type.
    Add { act: Option<Activation> },

    /// `torch.cat(xs, dim=1)`: channel concatenation, in operand order.
    /// Operands: two or more `[N,Ci,H,W]` with equal H, W. Shape: `[N, sum Ci, H, W]`.
    Concat,

    /// `torch.softmax(x, dim=1)`. Operands: `x [N,K]`. Shape: `[N,K]`.
    Softmax,

    /// `F.cross_entropy(logits, labels)` (log-softmax + NLL, mean over the batch).
    /// Operands: `logits [N,K]`, `labels [N] i32`. Shape: scalar `[]`.
    SoftmaxCrossEntropy,

    /// Marks a graph result. Operands: the value. Shape: same as the value.
    Output { name: String },

    /// An op of training graphs (batch statistics, gradients, optimizer updates),
    /// documented in [`super::train_ops`].
    Train(TrainOp),
}

/// Why an op rejected its operand types; the elaborator adds the source span.
#[derive(Clone, Debug, PartialEq)]
pub struct ShapeError {
    pub message: String,
    pub help: Option<String>,
}

fn err<T>(message: String) -> Result<T, ShapeError> {
    Err(ShapeError {
        message,
        help: None,
    })
}

pub(crate) fn err_help<T>(message: String, help: &str) -> Result<T, ShapeError> {
    Err(ShapeError {
        message,
        help: Some(help.to_string()),
    })
}

impl Op {
    /// A short lower-case name, used in printed IR, DOT and summaries.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Input { .. } => "input",
            Op::Param { .. } => "param",
            Op::Conv2d { .. } => "conv2d",
            Op::BatchNorm { .. } => "batch_norm",
            Op::Activation(a) => a.name(),
            Op::MaxPool2d(_) => "max_pool2d",
            Op::AvgPool2d(_) => "avg_pool2d",
            Op::GlobalAvgPool => "global_avg_pool",
            Op::Flatten => "flatten",
            Op::Linear { .. } => "linear",
            Op::Add { .. } => "add",
            Op::Concat => "concat",
            Op::Softmax => "softmax",
            Op::SoftmaxCrossEntropy => "softmax_cross_entropy",
            Op::Output { .. } => "output",
            Op::Train(t) => t.name(),
        }
    }

    /// Number of operands the op takes; `None` for variadic ops (concat: two or more).
    pub fn arity(&self) -> Option<usize> {
        Some(match self {
            Op::Input { .. } | Op::Param { .. } => 0,
            Op::Conv2d { bias, .. } | Op::Linear { bias, .. } => 2 + usize::from(*bias),
            Op::BatchNorm { .. } => 5,
            Op::Add { .. } | Op::SoftmaxCrossEntropy => 2,
            Op::Concat => return None,
            Op::Activation(_)
            | Op::MaxPool2d(_)
            | Op::AvgPool2d(_)
            | Op::GlobalAvgPool
            | Op::Flatten
            | Op::Softmax
            | Op::Output { .. } => 1,
            Op::Train(t) => t.arity(),
        })
    }

    /// The shape rule: the result type for these operand types, or why they don't fit.
    ///
    /// `Input` and `Param` have no rule (their type is declared); calling `infer` on them
    /// is an error.
    ///
    /// The element type follows one rule for every op: a batched float result (an activation
    /// or an activation's gradient) is stored like the op's first batched float operand — f16
    /// throughout a mixed-precision graph, whose images are f16 — and every other float
    /// result (a parameter's gradient, batch statistics, a loss, an optimizer update) is f32.
    /// This is PyTorch autocast's split: f16 where the data is large, f32 where values
    /// accumulate or persist.
    pub fn infer(&self, xs: &[&TensorType]) -> Result<TensorType, ShapeError> {
        // Shape rules compare whole types; they see f16 operands as f32, so that the one
        // rule below decides every element type.
        let as_f32: Vec<TensorType> = xs
            .iter()
            .map(|x| match x.dtype {
                DType::F16 => TensorType {
                    dtype: DType::F32,
                    ..(*x).clone()
                },
                _ => (*x).clone(),
            })
            .collect();
        let mut ty = self.infer_shape(&as_f32.iter().collect::<Vec<_>>())?;
        if ty.batched
            && ty.dtype == DType::F32
            && let Some(x) = xs.iter().find(|x| x.batched && x.dtype.is_float())
        {
            ty.dtype = x.dtype;
        }
        Ok(ty)
    }

    /// [`Op::infer`] before the element-type rule: every float result f32.
    fn infer_shape(&self, xs: &[&TensorType]) -> Result<TensorType, ShapeError> {
        match self.arity() {
            Some(n) if xs.len() != n => {
                return err(format!(
                    "{} takes {n} operand(s), got {}",
                    self.name(),
                    xs.len()
                ));
            }
            None if xs.len() < 2 => {
                return err(format!(
                    "{} needs at least two inputs, got {}",
                    self.name(),
                    xs.len()
                ));
            }
            _ => {}
        }
        match self {
            Op::Input { .. } | Op::Param { .. } => {
                err(format!("{} has a declared type, not a rule", self.name()))
            }
            Op::Conv2d {
                out_channels,
                window,
                groups,
                bias,
            } => crate::ops::conv::shape::forward(self, *out_channels, window, *groups, *bias, xs),
            Op::BatchNorm { .. } => crate::ops::norm::shape::forward(self, xs),
            Op::Activation(a) => crate::ops::activation::shape::forward(*a, xs[0]),
            Op::MaxPool2d(window) | Op::AvgPool2d(window) => {
                crate::ops::pool::shape::forward(self, window, xs[0])
            }
            Op::GlobalAvgPool => crate::ops::pool::shape::global(self, xs[0]),
            Op::Flatten => crate::ops::linear::shape::flatten(self, xs[0]),
            Op::Linear { out_features, bias } => {
                crate::ops::linear::shape::forward(self, *out_features, *bias, xs)
            }
            Op::Add { .. } => crate::ops::elementwise::shape::add(self, xs[0], xs[1]),
            Op::Concat => crate::ops::elementwise::shape::concat(self, xs),
            Op::Softmax => crate::ops::loss::shape::softmax(self, xs[0]),
            Op::SoftmaxCrossEntropy => crate::ops::loss::shape::cross_entropy(xs[0], xs[1]),
            Op::Output { .. } => Ok(xs[0].clone()),
            Op::Train(t) => t.infer(xs),
        }
    }

    /// The parameters this op owns, as (role, shape), given its first operand's type:
    /// the single place that knows which weights an op needs. Fails with the same
    /// message [`Op::infer`] would give when `x` does not fit the op.
    pub fn param_shapes(&self, x: &TensorType) -> Result<Vec<(ParamRole, Vec<usize>)>, ShapeError> {
        Ok(match self {
            Op::Conv2d {
                out_channels,
                window,
                groups,
                bias,
            } => crate::ops::conv::shape::params(self, *out_channels, window, *groups, *bias, x)?,
            Op::BatchNorm { .. } => crate::ops::norm::shape::params(self, x)?,
            Op::Linear { out_features, bias } => {
                crate::ops::linear::shape::params(self, *out_features, *bias, x)?
            }
            _ => Vec::new(),
        })
    }

    /// Forward multiply-accumulates per example for an op with this output type and
    /// these operand types (convs and linear layers only, as the seed's figures count).
    pub fn macs(&self, xs: &[&TensorType], out: &TensorType) -> u64 {
        match self {
            Op::Conv2d { .. } => {
                // Each output element reduces over weight[1..] = Cin/groups * kh * kw.
                let per_output = TensorType::param(xs[1].dims[1..].to_vec()).numel();
                out.numel().saturating_mul(per_output) as u64
            }
            Op::Linear { out_features, .. } => xs[0].numel().saturating_mul(*out_features) as u64,
            _ => 0,
        }
    }
}

/// The ` act=relu` suffix of a fused op's attributes (empty when nothing is fused).
pub(crate) fn fused(act: Option<Activation>) -> String {
    act.map(|a| format!(" act={}", a.name()))
        .unwrap_or_default()
}

pub(crate) fn float_batched(op: &Op, x: &TensorType) -> Result<(), ShapeError> {
    if !x.batched || x.dtype != DType::F32 {
        return err(format!(
            "{} expects a batched f32 activation, got {x}",
            op.name()
        ));
    }
    Ok(())
}

pub(crate) fn image(op: &Op, x: &TensorType) -> Result<(usize, usize, usize), ShapeError> {
    float_batched(op, x)?;
    match x.chw() {
        Some(chw) => Ok(chw),
        None => err_help(
            format!("{} expects an image tensor [N,C,H,W], got {x}", op.name()),
            "image ops need 4-D input; did a `flatten` or `linear` come too early?",
        ),
    }
}

pub(crate) fn spatial(
    op: &Op,
    window: &Window,
    h: usize,
    w: usize,
) -> Result<(usize, usize), ShapeError> {
    match (window.out_dim(0, h), window.out_dim(1, w)) {
        (Some(ho), Some(wo)) => Ok((ho, wo)),
        _ => err(format!(
            "{} window ({window}) does not fit the {h}x{w} input",
            op.name()
        )),
    }
}

pub(crate) fn expect_param(
    op: &Op,
    what: &str,
    got: &TensorType,
    want: &TensorType,
) -> Result<(), ShapeError> {
    if got != want {
        return err(format!("{} {what} should be {want}, got {got}", op.name()));
    }
    Ok(())
}

impl fmt::Display for Op {
    /// The op and its attributes, as in the printed IR (`conv2d[16 k=3x3 s=1x1 p=1x1]`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Input { name } => write!(f, "input \"{name}\""),
            Op::Param { role } => write!(f, "param {}", role.suffix()),
            Op::Conv2d {
                out_channels,
                window,
                groups,
                bias,
            } => {
                write!(f, "conv2d[{out_channels} {window}")?;
                if *groups != 1 {
                    write!(f, " groups={groups}")?;
                }
                if !bias {
                    write!(f, " no_bias")?;
                }
                write!(f, "]")
            }
            Op::BatchNorm { eps, momentum, act } => {
                write!(
                    f,
                    "batch_norm[eps={eps:e} momentum={momentum}{}]",
                    fused(*act)
                )
            }
            Op::Add { act: Some(a) } => write!(f, "add[act={}]", a.name()),
            Op::MaxPool2d(w) => write!(f, "max_pool2d[{w}]"),
            Op::AvgPool2d(w) => write!(f, "avg_pool2d[{w}]"),
            Op::Linear { out_features, bias } => {
                write!(f, "linear[{out_features}")?;
                if !bias {
                    write!(f, " no_bias")?;
                }
                write!(f, "]")
            }
            Op::Output { name } => write!(f, "output \"{name}\""),
            Op::Train(t) => write!(f, "{t}"),
            other => f.write_str(other.name()),
        }
    }
}
