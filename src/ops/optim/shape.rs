//! The shape rules of the optimizer ops, which `TrainOp::infer` delegates to: an update has
//! the shape of the parameter it updates, every per-element operand matches it, and the
//! learning rate and step count are scalars.

use crate::ir::train_ops::same;
use crate::ir::{ShapeError, TensorType};

/// `TrainOp::SgdBuffer` and `TrainOp::AdamMoment` (named `name`): the parameter, its gradient
/// and the state it updates, all of one shape.
pub fn state(name: &str, xs: &[&TensorType]) -> Result<TensorType, ShapeError> {
    same(xs[0], xs[1], name)?;
    same(xs[0], xs[2], name)?;
    Ok(xs[0].clone())
}

/// `TrainOp::SgdStep`: the parameter, its gradient, the momentum buffer and the learning rate.
pub fn sgd_step(xs: &[&TensorType]) -> Result<TensorType, ShapeError> {
    same(xs[0], xs[1], "sgd_step grad")?;
    same(xs[0], xs[2], "sgd_step buffer")?;
    same(xs[3], &TensorType::scalar(), "sgd_step lr")?;
    Ok(xs[0].clone())
}

/// `TrainOp::AdamStep`: the parameter, both moments, the learning rate and the step count.
pub fn adam_step(xs: &[&TensorType]) -> Result<TensorType, ShapeError> {
    let scalar = TensorType::scalar();
    same(xs[0], xs[1], "adam_step m")?;
    same(xs[0], xs[2], "adam_step v")?;
    same(xs[3], &scalar, "adam_step lr")?;
    same(xs[4], &scalar, "adam_step step")?;
    Ok(xs[0].clone())
}
