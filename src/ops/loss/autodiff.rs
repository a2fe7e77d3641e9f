//! The backward rule of the loss, where `autodiff` starts reverse mode: the gradient of the mean
//! cross-entropy with respect to the logits is one training op,
//! `TrainOp::SoftmaxCrossEntropyGrad` (softmax itself is inference-only: no gradient rule).

use crate::autodiff::Builder;
use crate::ir::{NodeId, Op, Site, TrainOp};

/// The gradient of `softmax_cross_entropy(logits, labels)` with respect to `logits`: the seed
/// every other gradient of the training graph is computed from.
pub(crate) fn cross_entropy(b: &mut Builder, logits: NodeId, labels: NodeId, site: Site) -> NodeId {
    b.op(
        Op::Train(TrainOp::SoftmaxCrossEntropyGrad),
        &[logits, labels],
        site,
    )
}
