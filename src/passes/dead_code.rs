//! Dead-code elimination: removes every node from which no output is reachable
//! (unused branches and their parameters). The elaborator has already warned the
//! user about them.

use crate::ir::{Graph, NodeId};
use std::collections::HashSet;

pub fn run(g: &mut Graph) {
    let mut live: HashSet<NodeId> = HashSet::new();
    let mut stack = g.outputs();
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
