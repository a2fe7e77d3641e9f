//! The shape rules of the pooling ops, which `Op::infer` and `TrainOp::infer` delegate to:
//! a window over an image keeps its channels and gives the IR's output size
//! ([`Window::out_dim`]); a gradient has its input's shape.

use crate::ir::ops::{err_help, image, spatial};
use crate::ir::train_ops::{chw, err, same};
use crate::ir::{Op, ShapeError, TensorType, Window};

/// `Op::MaxPool2d(window)` and `Op::AvgPool2d(window)` (`op`) over the image `x`: `[N,C,Ho,Wo]`,
/// refusing padding of more than half the kernel (PyTorch's rule).
pub fn forward(op: &Op, window: &Window, x: &TensorType) -> Result<TensorType, ShapeError> {
    let (c, h, w) = image(op, x)?;
    for axis in 0..2 {
        if window.padding[axis].saturating_mul(2) > window.kernel[axis] {
            return err_help(
                format!(
                    "{} padding {} is more than half the kernel {}",
                    op.name(),
                    window.padding[axis],
                    window.kernel[axis]
                ),
                "PyTorch requires pad <= k / 2 for pooling",
            );
        }
    }
    let (ho, wo) = spatial(op, window, h, w)?;
    Ok(TensorType::activation(vec![c, ho, wo]))
}

/// `Op::GlobalAvgPool` (`op`) over the image `x`: `[N,C,1,1]`.
pub fn global(op: &Op, x: &TensorType) -> Result<TensorType, ShapeError> {
    let (c, _, _) = image(op, x)?;
    Ok(TensorType::activation(vec![c, 1, 1]))
}

/// `max_pool2d_grad(x, dy)`: `dy` is the pool's output over `x`; the result is shaped as `x`.
pub fn max_pool2d_grad(
    w: &Window,
    x: &TensorType,
    dy: &TensorType,
) -> Result<TensorType, ShapeError> {
    let (c, h, wd) = chw(x, "max_pool2d_grad")?;
    let want = TensorType::activation(vec![
        c,
        w.out_dim(0, h).unwrap_or(0),
        w.out_dim(1, wd).unwrap_or(0),
    ]);
    same(dy, &want, "max_pool2d_grad dy")?;
    Ok(x.clone())
}

/// `avg_pool2d_grad(dy)`: `dy` is the pool's output over an `input_hw` input, the result's size.
pub fn avg_pool2d_grad(
    window: &Window,
    input_hw: [usize; 2],
    dy: &TensorType,
) -> Result<TensorType, ShapeError> {
    let (c, ho, wo) = chw(dy, "avg_pool2d_grad")?;
    if window.out_dim(0, input_hw[0]) != Some(ho) || window.out_dim(1, input_hw[1]) != Some(wo) {
        return err(format!(
            "avg_pool2d_grad: input {input_hw:?} does not give dy {dy}"
        ));
    }
    Ok(TensorType::activation(vec![c, input_hw[0], input_hw[1]]))
}

/// `global_avg_pool_grad(dy)`: `dy [N,C,1,1]` broadcast to `[N,C,H,W]` with `input_hw = [H, W]`.
pub fn global_avg_pool_grad(
    input_hw: [usize; 2],
    dy: &TensorType,
) -> Result<TensorType, ShapeError> {
    let (c, h, w) = chw(dy, "global_avg_pool_grad")?;
    if (h, w) != (1, 1) {
        return err(format!("global_avg_pool_grad expects [N,C,1,1], got {dy}"));
    }
    Ok(TensorType::activation(vec![c, input_hw[0], input_hw[1]]))
}
