//! The shape rules of add, concat and concat's gradient, which `Op::infer` and `TrainOp::infer`
//! delegate to: add takes two operands of one type and keeps it; concat joins images of one
//! height and width along the channels; a channel slice takes some of them back.

use crate::ir::ops::{err_help, float_batched, image};
use crate::ir::train_ops::{chw, err};
use crate::ir::{Op, ShapeError, TensorType};

/// `Op::Add` (`op`) of `a` and `b`: their one type.
pub fn add(op: &Op, a: &TensorType, b: &TensorType) -> Result<TensorType, ShapeError> {
    if a != b {
        return err_help(
            format!("add of different shapes: {a} + {b}"),
            "a residual connection needs a projection (e.g. a 1x1 conv with stride) when the shapes differ",
        );
    }
    float_batched(op, a)?;
    Ok(a.clone())
}

/// `Op::Concat` (`op`) of the images `xs` (two or more, checked by `Op::infer`):
/// `[N, sum Ci, H, W]`.
pub fn concat(op: &Op, xs: &[&TensorType]) -> Result<TensorType, ShapeError> {
    let (_, h, w) = image(op, xs[0])?;
    let mut channels = 0;
    for (i, x) in xs.iter().enumerate() {
        let (c, hi, wi) = image(op, x)?;
        if (hi, wi) != (h, w) {
            return err_help(
                format!(
                    "concat of different spatial sizes: input 0 is {}, input {i} is {}",
                    xs[0], x
                ),
                "concat joins channels; every input needs the same height and width",
            );
        }
        channels = c.saturating_add(channels);
    }
    Ok(TensorType::activation(vec![channels, h, w]))
}

/// `channel_slice(x)`: channels `[offset, offset + channels)` of the image `x`.
pub fn channel_slice(
    offset: usize,
    channels: usize,
    x: &TensorType,
) -> Result<TensorType, ShapeError> {
    let (c, h, w) = chw(x, "channel_slice")?;
    if channels == 0 || offset + channels > c {
        return err(format!(
            "channel_slice [{offset}, {}) is outside {} channels",
            offset + channels,
            c
        ));
    }
    Ok(TensorType::activation(vec![channels, h, w]))
}
