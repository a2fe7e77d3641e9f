//! The shape rules of the activation ops, which `Op::infer` and `TrainOp::infer` delegate to:
//! an activation and its gradients keep their operand's type, and a gradient read off the
//! output exists only for activations whose derivative is a function of it.

use super::Activation;
use crate::ir::{ShapeError, TensorType};

fn err<T>(message: String) -> Result<T, ShapeError> {
    Err(ShapeError {
        message,
        help: None,
    })
}

/// `Op::Activation(a)`: a batched f32 activation `x` (f16 is seen as f32 by the shape rules)
/// keeps its type.
pub fn forward(a: Activation, x: &TensorType) -> Result<TensorType, ShapeError> {
    if !x.batched || x.dtype != crate::ir::DType::F32 {
        return err(format!(
            "{} expects a batched f32 activation, got {x}",
            a.name()
        ));
    }
    Ok(x.clone())
}

/// `activation_grad(x, dy)` and `activation_grad_from_output(y, dy)`: both operands of one
/// type, the result's. `from_output` is refused for an activation whose derivative needs `x`.
pub fn gradient(
    a: Activation,
    from_output: bool,
    value: &TensorType,
    dy: &TensorType,
) -> Result<TensorType, ShapeError> {
    let what = if from_output {
        if !a.derivative_from_output() {
            return err(format!(
                "{}'s derivative cannot be computed from its output",
                a.name()
            ));
        }
        "activation_grad_from_output"
    } else {
        "activation_grad"
    };
    if value != dy {
        return err(format!("{what}: {value} and {dy} differ"));
    }
    Ok(value.clone())
}

/// A gradient op `op` taking `a`'s gradient through its output (`through=a`, see
/// `TrainOp::BiasGrad`): refused for an activation whose derivative needs its input.
pub fn through(op: &str, a: Activation) -> Result<(), ShapeError> {
    if !a.derivative_from_output() {
        return err(format!("{op}: {}'s derivative needs its input", a.name()));
    }
    Ok(())
}
