//! The backward rule of an activation, which `autodiff::rules` delegates to:
//! `dx = activation_grad(x, dy)`, `dy * act'(x)` with the table's derivative. (The fusion pass
//! may later read it off the output instead, see `TrainOp::ActivationGradFromOutput`.)

use super::Activation;
use crate::autodiff::Builder;
use crate::ir::{NodeId, Op, Site, TrainOp};

/// The gradient of `x` for `y = a(x)` whose gradient is `dy`.
pub(crate) fn backward(
    b: &mut Builder,
    a: Activation,
    x: NodeId,
    dy: NodeId,
    site: Site,
) -> NodeId {
    b.op(Op::Train(TrainOp::ActivationGrad(a)), &[x, dy], site)
}
