//! The shape rules of the conv ops, which `Op::infer`, `Op::param_shapes` and `TrainOp::infer`
//! delegate to: a conv over an image gives `out_channels` channels of the IR's output size
//! ([`Window::out_dim`]), its weight is `[Cout, Cin/groups, kh, kw]`; the input gradient gives
//! back the input's shape (`input_hw`, which the floor formula loses), the weight gradient the
//! weight's.

use crate::ir::ops::{expect_param, image, spatial};
use crate::ir::train_ops::{chw, err};
use crate::ir::{Op, ParamRole, ShapeError, TensorType, Window};

/// `groups` must divide both the input channels `c` and the output channels.
fn check_groups(c: usize, out_channels: usize, groups: usize) -> Result<(), ShapeError> {
    if groups == 0 || !c.is_multiple_of(groups) || !out_channels.is_multiple_of(groups) {
        return err(format!(
            "conv2d groups = {groups} must divide both the input channels ({c}) and the output channels ({out_channels})"
        ));
    }
    Ok(())
}

/// `Op::Conv2d` (`op`, with these attributes) over `xs`: the image `x`, the weight, and the
/// bias where there is one. `[N,Cout,Ho,Wo]`.
pub fn forward(
    op: &Op,
    out_channels: usize,
    window: &Window,
    groups: usize,
    bias: bool,
    xs: &[&TensorType],
) -> Result<TensorType, ShapeError> {
    let (c, h, w) = image(op, xs[0])?;
    check_groups(c, out_channels, groups)?;
    let want = TensorType::param(vec![
        out_channels,
        c / groups,
        window.kernel[0],
        window.kernel[1],
    ]);
    expect_param(op, "weight", xs[1], &want)?;
    if bias {
        expect_param(op, "bias", xs[2], &TensorType::param(vec![out_channels]))?;
    }
    let (ho, wo) = spatial(op, window, h, w)?;
    Ok(TensorType::activation(vec![out_channels, ho, wo]))
}

/// The parameters `Op::Conv2d` (`op`) owns over the image `x`: its weight, and its bias where
/// it has one.
pub fn params(
    op: &Op,
    out_channels: usize,
    window: &Window,
    groups: usize,
    bias: bool,
    x: &TensorType,
) -> Result<Vec<(ParamRole, Vec<usize>)>, ShapeError> {
    let (c, _, _) = image(op, x)?;
    check_groups(c, out_channels, groups)?;
    let mut ps = vec![(
        ParamRole::Weight,
        vec![out_channels, c / groups, window.kernel[0], window.kernel[1]],
    )];
    if bias {
        ps.push((ParamRole::Bias, vec![out_channels]));
    }
    Ok(ps)
}

/// `conv2d_grad_input(dy, weight)`: `dy` is the conv's output over an `input_hw` input;
/// the result is `[N,Cin,H,W]`.
pub fn grad_input(
    window: &Window,
    groups: usize,
    input_hw: [usize; 2],
    dy: &TensorType,
    weight: &TensorType,
) -> Result<TensorType, ShapeError> {
    let (cout, ho, wo) = chw(dy, "conv2d_grad_input")?;
    let w = &weight.dims;
    if w.len() != 4 || w[0] != cout || w[2] != window.kernel[0] || w[3] != window.kernel[1] {
        return err(format!(
            "conv2d_grad_input weight {weight} does not fit dy {dy}"
        ));
    }
    if window.out_dim(0, input_hw[0]) != Some(ho) || window.out_dim(1, input_hw[1]) != Some(wo) {
        return err(format!(
            "conv2d_grad_input: input {input_hw:?} does not give dy {dy}"
        ));
    }
    Ok(TensorType::activation(vec![
        w[1] * groups,
        input_hw[0],
        input_hw[1],
    ]))
}

/// `conv2d_grad_weight(x, dy)`: `dy` is the conv's output over `x`; the result is
/// `[Cout, Cin/groups, kh, kw]`.
pub fn grad_weight(
    window: &Window,
    groups: usize,
    x: &TensorType,
    dy: &TensorType,
) -> Result<TensorType, ShapeError> {
    let (cin, h, w) = chw(x, "conv2d_grad_weight")?;
    let (cout, ho, wo) = chw(dy, "conv2d_grad_weight dy")?;
    if groups == 0
        || cin % groups != 0
        || window.out_dim(0, h) != Some(ho)
        || window.out_dim(1, w) != Some(wo)
    {
        return err(format!(
            "conv2d_grad_weight: x {x} and dy {dy} do not fit the window ({window})"
        ));
    }
    Ok(TensorType::param(vec![
        cout,
        cin / groups,
        window.kernel[0],
        window.kernel[1],
    ]))
}
