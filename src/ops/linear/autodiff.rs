//! The backward rules of flatten and linear, which `autodiff::rules` delegates to: flatten's
//! gradient is a reshape back (`TrainOp::Reshape`); linear's are `TrainOp::LinearGradInput`
//! (only where the input needs one), `TrainOp::LinearGradWeight` and the bias gradient.

use crate::autodiff::Builder;
use crate::ir::{NodeId, Op, Site, TrainOp};

/// The gradient of `x` for `y = flatten(x)` whose gradient is `dy`.
pub(crate) fn flatten(b: &mut Builder, x: NodeId, dy: NodeId, site: Site) -> NodeId {
    let dims = b.t.node(x).ty.dims.clone();
    b.op(Op::Train(TrainOp::Reshape { dims }), &[dy], site)
}

/// `(operand, gradient)` for `y = linear(ins[0], ins[1], ins[2]?)` whose gradient is `dy`: the
/// input's if `needs_input`, the weight's, and with `bias` the bias's.
pub(crate) fn linear(
    b: &mut Builder,
    ins: &[NodeId],
    bias: bool,
    needs_input: bool,
    dy: NodeId,
    site: Site,
) -> Vec<(NodeId, NodeId)> {
    let mut out = Vec::new();
    if needs_input {
        let dx = b.op(
            Op::Train(TrainOp::LinearGradInput),
            &[dy, ins[1]],
            site.clone(),
        );
        out.push((ins[0], dx));
    }
    let dw = b.op(
        Op::Train(TrainOp::LinearGradWeight),
        &[ins[0], dy],
        site.clone(),
    );
    out.push((ins[1], dw));
    if bias {
        let db = b.op(Op::Train(TrainOp::BiasGrad { act_grad: None }), &[dy], site);
        out.push((ins[2], db));
    }
    out
}
