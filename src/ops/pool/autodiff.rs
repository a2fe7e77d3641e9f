//! The backward rules of the pooling ops, which `autodiff::rules` delegates to: each pool's
//! gradient is one training op (`TrainOp::{MaxPool2dGrad, AvgPool2dGrad, GlobalAvgPoolGrad}`).

use crate::autodiff::Builder;
use crate::ir::{NodeId, Op, Site, TrainOp, Window};

/// The per-example dims `[C, H, W]` of `x`.
fn dims(b: &Builder, x: NodeId) -> Vec<usize> {
    b.t.node(x).ty.dims.clone()
}

/// The gradient of `x` for `y = max_pool2d(x)` over `w` whose gradient is `dy`.
pub(crate) fn max_pool2d(b: &mut Builder, w: Window, x: NodeId, dy: NodeId, site: Site) -> NodeId {
    b.op(Op::Train(TrainOp::MaxPool2dGrad(w)), &[x, dy], site)
}

/// The gradient of `x` for `y = avg_pool2d(x)` over `w` whose gradient is `dy`.
pub(crate) fn avg_pool2d(b: &mut Builder, w: Window, x: NodeId, dy: NodeId, site: Site) -> NodeId {
    let x = dims(b, x);
    b.op(
        Op::Train(TrainOp::AvgPool2dGrad {
            window: w,
            input_hw: [x[1], x[2]],
        }),
        &[dy],
        site,
    )
}

/// The gradient of `x` for `y = global_avg_pool(x)` whose gradient is `dy`.
pub(crate) fn global_avg_pool(b: &mut Builder, x: NodeId, dy: NodeId, site: Site) -> NodeId {
    let x = dims(b, x);
    b.op(
        Op::Train(TrainOp::GlobalAvgPoolGrad {
            input_hw: [x[1], x[2]],
        }),
        &[dy],
        site,
    )
}
