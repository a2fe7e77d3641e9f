//! The shape rules of softmax, the loss and its companions, which `Op::infer` and
//! `TrainOp::infer` delegate to: each reads logits `[N,K]`; the loss and the count of correct
//! predictions are scalars, softmax and the loss's gradient are shaped as the logits.

use crate::ir::ops::float_batched;
use crate::ir::train_ops::err;
use crate::ir::{DType, Op, ShapeError, TensorType};

/// `Op::Softmax` (`op`) of `x [N,K]`: `[N,K]`.
pub fn softmax(op: &Op, x: &TensorType) -> Result<TensorType, ShapeError> {
    float_batched(op, x)?;
    if x.dims.len() != 1 {
        return err(format!("softmax expects [N,K], got {x}"));
    }
    Ok(x.clone())
}

/// `Op::SoftmaxCrossEntropy` of `logits [N,K]` and `labels [N] i32`: a scalar.
pub fn cross_entropy(logits: &TensorType, labels: &TensorType) -> Result<TensorType, ShapeError> {
    if !logits.batched || logits.dims.len() != 1 || logits.dtype != DType::F32 {
        return err(format!("cross-entropy expects logits [N,K], got {logits}"));
    }
    if !labels.batched || !labels.dims.is_empty() || labels.dtype != DType::I32 {
        return err(format!(
            "cross-entropy expects labels [N] i32, got {labels}"
        ));
    }
    Ok(TensorType::scalar())
}

/// `softmax_cross_entropy_grad` and `correct_count` (`name`; `count` for the latter) of
/// `logits [N,K]` and `labels [N] i32`: shaped as the logits, or a scalar count.
pub fn labelled(
    name: &str,
    count: bool,
    logits: &TensorType,
    labels: &TensorType,
) -> Result<TensorType, ShapeError> {
    if !logits.batched
        || logits.dims.len() != 1
        || labels.dtype != DType::I32
        || !labels.batched
        || !labels.dims.is_empty()
    {
        return err(format!(
            "{} expects logits [N,K] and labels [N] i32, got {} and {}",
            name, logits, labels
        ));
    }
    Ok(if count {
        TensorType::scalar()
    } else {
        logits.clone()
    })
}
