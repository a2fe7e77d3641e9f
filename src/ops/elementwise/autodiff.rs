//! The backward rules of add and concat, which `autodiff::rules` delegates to: add passes its
//! gradient to both operands unchanged; concat gives each operand that needs one its channels
//! of the gradient (`TrainOp::ChannelSlice`).

use crate::autodiff::Builder;
use crate::ir::{NodeId, Op, Site, TrainOp};
use std::collections::HashSet;

/// The gradients of `a` and `b` for `y = a + b` whose gradient is `dy`: `dy`, twice.
pub(crate) fn add(dy: NodeId) -> [NodeId; 2] {
    [dy, dy]
}

/// `(operand, gradient)` for each operand of `y = concat(xs)` in `requires`, `dy` being the
/// gradient of `y`.
pub(crate) fn concat(
    b: &mut Builder,
    xs: &[NodeId],
    dy: NodeId,
    requires: &HashSet<NodeId>,
    site: Site,
) -> Vec<(NodeId, NodeId)> {
    let mut out = Vec::new();
    let mut offset = 0;
    for &x in xs {
        let channels = b.t.node(x).ty.dims[0];
        if requires.contains(&x) {
            let dx = b.op(
                Op::Train(TrainOp::ChannelSlice { offset, channels }),
                &[dy],
                site.clone(),
            );
            out.push((x, dx));
        }
        offset += channels;
    }
    out
}
