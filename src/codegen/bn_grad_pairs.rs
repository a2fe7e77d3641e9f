//! Pairing a batch norm's two parameter gradients into one reduction (a lowering decision; the
//! IR keeps the two ops).
//!
//! Autodiff writes `dgamma = batch_norm_grad_gamma(x, stats, dy)` and `dbeta = bias_grad(dy)`:
//! two reductions over the same `dy`, four dispatches, `dy` read twice. Where both exist for the
//! same `dy` (and the same folded activation), lowering emits one `bn_grad_params` reduction
//! that writes both, at the position of whichever comes first in the lowering order.
//!
//! Why that position is safe: every consumer of either gradient comes after its producer in
//! the order, so after the first of the two, and the pair's dispatches write both outputs
//! there. Its inputs are the union of both ops' inputs: `dy` (and `y`) are inputs of both, so
//! they are ready; `x` and `stats` are checked to come earlier in the order.

use crate::ir::{Graph, NodeId, Op, TrainOp};
use std::collections::{HashMap, HashSet};

/// One batch norm's parameter gradients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Pair {
    /// The `batch_norm_grad_gamma` node.
    pub gamma: NodeId,
    /// The `bias_grad` node of the same `dy`.
    pub beta: NodeId,
}

/// The pairs of a graph, keyed by whichever node of a pair comes first in `order`; `later`
/// holds the other node of each pair, which lowering skips.
#[derive(Debug, Default)]
pub(super) struct Pairs {
    pub first: HashMap<NodeId, Pair>,
    pub later: HashSet<NodeId>,
}

/// Finds every batch norm whose `dgamma` and `dbeta` can be computed by one reduction.
pub(super) fn find(g: &Graph, order: &[NodeId]) -> Pairs {
    let position: HashMap<NodeId, usize> =
        order.iter().enumerate().map(|(i, &id)| (id, i)).collect();
    let mut pairs = Pairs::default();
    for &gamma in order {
        let Op::Train(TrainOp::BatchNormGradGamma { act_grad, .. }) = g.node(gamma).op else {
            continue;
        };
        let ins = g.inputs(gamma);
        let (x, stats, grads) = (ins[0], ins[1], &ins[2..]);
        let beta = g.users(grads[0]).into_iter().find(|&u| {
            matches!(g.node(u).op, Op::Train(TrainOp::BiasGrad { act_grad: a }) if a == act_grad)
                && g.inputs(u) == grads
                && !pairs.later.contains(&u)
                && !pairs.first.values().any(|p| p.beta == u)
        });
        let Some(beta) = beta else {
            continue;
        };
        let first = if position[&beta] < position[&gamma] {
            beta
        } else {
            gamma
        };
        if position[&x] > position[&first] || position[&stats] > position[&first] {
            continue;
        }
        let later = if first == gamma { beta } else { gamma };
        pairs.first.insert(first, Pair { gamma, beta });
        pairs.later.insert(later);
    }
    pairs
}
