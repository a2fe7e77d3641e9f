//! Dead-code elimination: removes every node from which no result is reachable
//! (unused branches and their parameters). Results are the outputs and, in training
//! graphs, the `Assign`s that update parameters and state. The elaborator has already
//! warned the user about unused values.

use crate::ir::{Graph, NodeId, Op, TrainOp};
use std::collections::HashSet;

pub fn run(g: &mut Graph) {
    let mut live: HashSet<NodeId> = HashSet::new();
    let mut stack: Vec<NodeId> = g
        .node_ids()
        .filter(|&id| {
            matches!(
                g.node(id).op,
                Op::Output { .. } | Op::Train(TrainOp::Assign)
            )
        })
        .collect();
    while let Some(id) = stack.pop() {
        if live.insert(id) {
            stack.extend(g.inputs(id));
        }
    }
    let dead: Vec<NodeId> = g.node_ids().filter(|id| !live.contains(id)).collect();
    for id in dead {
        g.remove(id);
    }
}
