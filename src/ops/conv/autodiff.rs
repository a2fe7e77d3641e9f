//! The backward rule of conv2d, which `autodiff::rules` delegates to: the input's gradient is
//! `TrainOp::Conv2dGradInput` (a transposed convolution of `dy` with the weight), the weight's
//! `TrainOp::Conv2dGradWeight`, and the bias's the channel sum `TrainOp::BiasGrad` linear
//! shares.

use crate::autodiff::Builder;
use crate::ir::{NodeId, Op, Site, TrainOp, Window};

/// The gradient of `x` for `y = conv2d(x, w)` over `window` with `groups` whose gradient is
/// `dy`.
pub(crate) fn grad_input(
    b: &mut Builder,
    window: Window,
    groups: usize,
    x: NodeId,
    w: NodeId,
    dy: NodeId,
    site: Site,
) -> NodeId {
    let x = b.t.node(x).ty.dims.clone();
    b.op(
        Op::Train(TrainOp::Conv2dGradInput {
            window,
            groups,
            input_hw: [x[1], x[2]],
            accumulate: false,
        }),
        &[dy, w],
        site,
    )
}

/// The gradient of the weight for `y = conv2d(x, w)` over `window` with `groups` whose
/// gradient is `dy`.
pub(crate) fn grad_weight(
    b: &mut Builder,
    window: Window,
    groups: usize,
    x: NodeId,
    dy: NodeId,
    site: Site,
) -> NodeId {
    b.op(
        Op::Train(TrainOp::Conv2dGradWeight { window, groups }),
        &[x, dy],
        site,
    )
}

/// The gradient of the bias for `y = conv2d(x, w, bias)` whose gradient is `dy`: `dy` summed
/// over every axis but the channel.
pub(crate) fn grad_bias(b: &mut Builder, dy: NodeId, site: Site) -> NodeId {
    b.op(Op::Train(TrainOp::BiasGrad { act_grad: None }), &[dy], site)
}
