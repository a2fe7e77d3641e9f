//! The shape rules of linear, flatten and their gradients, which `Op::infer`,
//! `Op::param_shapes` and `TrainOp::infer` delegate to: flatten makes the flat `[N, features]`
//! input linear takes, linear maps it to `[N, out]`, and each gradient has the shape of what it
//! is the gradient of.

use crate::ir::ops::{err_help, expect_param, float_batched};
use crate::ir::train_ops::err;
use crate::ir::{Op, ParamRole, ShapeError, TensorType};

/// `Op::Flatten` (`op`) of `x`: `[N, prod(dims)]`.
pub fn flatten(op: &Op, x: &TensorType) -> Result<TensorType, ShapeError> {
    float_batched(op, x)?;
    Ok(TensorType::activation(vec![x.numel()]))
}

/// `Op::Linear { out_features, bias }` (`op`) of `xs`: `x [N,in]`, `weight [out,in]`, and with
/// `bias` `bias [out]`; `[N,out]`.
pub fn forward(
    op: &Op,
    out_features: usize,
    bias: bool,
    xs: &[&TensorType],
) -> Result<TensorType, ShapeError> {
    float_batched(op, xs[0])?;
    if xs[0].dims.len() != 1 {
        return err_help(
            format!("linear expects a flat input [N,features], got {}", xs[0]),
            "insert `flatten` (or `global_avg_pool |> flatten`) before `linear`",
        );
    }
    let fin = xs[0].dims[0];
    expect_param(
        op,
        "weight",
        xs[1],
        &TensorType::param(vec![out_features, fin]),
    )?;
    if bias {
        expect_param(op, "bias", xs[2], &TensorType::param(vec![out_features]))?;
    }
    Ok(TensorType::activation(vec![out_features]))
}

/// The parameters `Op::Linear { out_features, bias }` (`op`) owns over the input `x`.
pub fn params(
    op: &Op,
    out_features: usize,
    bias: bool,
    x: &TensorType,
) -> Result<Vec<(ParamRole, Vec<usize>)>, ShapeError> {
    float_batched(op, x)?;
    if x.dims.len() != 1 {
        return err_help(
            format!("linear expects a flat input [N,features], got {x}"),
            "insert `flatten` (or `global_avg_pool |> flatten`) before `linear`",
        );
    }
    let mut ps = vec![(ParamRole::Weight, vec![out_features, x.dims[0]])];
    if bias {
        ps.push((ParamRole::Bias, vec![out_features]));
    }
    Ok(ps)
}

/// `reshape(x)` to the per-example `dims` (flatten's gradient): the same elements.
pub fn reshape(dims: &[usize], x: &TensorType) -> Result<TensorType, ShapeError> {
    let out = TensorType {
        dtype: x.dtype,
        batched: x.batched,
        dims: dims.to_vec(),
    };
    if out.numel() != x.numel() {
        return err(format!(
            "reshape of {} to {out} changes the element count",
            x
        ));
    }
    Ok(out)
}

/// `linear_grad_input(dy, weight)`: `dy [N,out]`, `weight [out,in]`; `[N,in]`.
pub fn linear_grad_input(dy: &TensorType, weight: &TensorType) -> Result<TensorType, ShapeError> {
    let (n_out, w) = (&dy.dims, &weight.dims);
    if !dy.batched || n_out.len() != 1 || w.len() != 2 || w[0] != n_out[0] {
        return err(format!(
            "linear_grad_input: dy {} and weight {} do not fit",
            dy, weight
        ));
    }
    Ok(TensorType::activation(vec![w[1]]))
}

/// `linear_grad_weight(x, dy)`: `x [N,in]`, `dy [N,out]`; `[out,in]`.
pub fn linear_grad_weight(x: &TensorType, dy: &TensorType) -> Result<TensorType, ShapeError> {
    if !x.batched || !dy.batched || x.dims.len() != 1 || dy.dims.len() != 1 {
        return err(format!(
            "linear_grad_weight: x {} and dy {} must be [N,features]",
            x, dy
        ));
    }
    Ok(TensorType::param(vec![dy.dims[0], x.dims[0]]))
}
