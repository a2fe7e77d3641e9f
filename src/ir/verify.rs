//! The IR verifier. Invariants of a well-formed [`Graph`]:
//!
//! 1. The graph is acyclic.
//! 2. Every node's operand slots are exactly `0..n`, each filled once, and `n` matches
//!    the op's arity (concat: two or more).
//! 3. Every edge's type equals its producer's result type.
//! 4. Every op's result type is what [`Op::infer`](super::ops::Op::infer) gives for its
//!    operand types: shapes are consistent everywhere, not only where they were built.
//! 5. Leaves (`Input`, `Param`) have no operands; `Output` and `Assign` nodes have no
//!    users, and an `Assign` targets a `Param` node, at most one `Assign` per target.
//! 6. Parameter names (`path.suffix`) are unique and non-empty; input names are unique.
//! 7. There is at least one `Output`.
//!
//! [`verify`] runs after elaboration and after every pass in debug and test builds
//! (see `crate::pipeline`).

use super::graph::{Graph, NodeId};
use super::ops::Op;
use std::collections::HashSet;

/// A broken invariant: always a compiler bug, never a user error.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("IR verifier: {node}: {message}")]
pub struct VerifyError {
    pub node: String,
    pub message: String,
}

pub fn verify(g: &Graph) -> Result<(), VerifyError> {
    let fail = |id: NodeId, message: String| VerifyError {
        node: format!("{id} ({})", g.node(id).op.name()),
        message,
    };
    if let Err(cycle) = g.topo_order() {
        return Err(fail(
            cycle,
            "the graph has a cycle through this node".into(),
        ));
    }
    let mut names = HashSet::new();
    let mut input_names = HashSet::new();
    let mut outputs = 0;
    let mut assigned = HashSet::new();
    for id in g.node_ids() {
        let node = g.node(id);
        let edges = g.in_edges(id);
        for (i, (_, e)) in edges.iter().enumerate() {
            if e.operand != i {
                return Err(fail(
                    id,
                    format!(
                        "operand slots are not 0..n (slot {} at position {i})",
                        e.operand
                    ),
                ));
            }
        }
        match node.op.arity() {
            Some(n) if n != edges.len() => {
                return Err(fail(
                    id,
                    format!("expects {n} operands, has {}", edges.len()),
                ));
            }
            None if edges.len() < 2 => {
                return Err(fail(
                    id,
                    format!("expects two or more operands, has {}", edges.len()),
                ));
            }
            _ => {}
        }
        for (src, e) in &edges {
            if e.ty != g.node(*src).ty {
                return Err(fail(
                    id,
                    format!(
                        "edge from {src} is typed {} but the producer makes {}",
                        e.ty,
                        g.node(*src).ty
                    ),
                ));
            }
        }
        match &node.op {
            Op::Param { .. } => {
                let name = g.param_name(id).unwrap_or_default();
                if node.path.is_empty() {
                    return Err(fail(id, "parameter without a name".into()));
                }
                if !names.insert(name.clone()) {
                    return Err(fail(id, format!("duplicate parameter name `{name}`")));
                }
            }
            Op::Input { name } => {
                if !input_names.insert(name.clone()) {
                    return Err(fail(id, format!("duplicate input name `{name}`")));
                }
            }
            op => {
                let tys: Vec<_> = edges.iter().map(|(_, e)| &e.ty).collect();
                match op.infer(&tys) {
                    Ok(ty) if ty == node.ty => {}
                    Ok(ty) => {
                        return Err(fail(
                            id,
                            format!("typed {} but its operands give {ty}", node.ty),
                        ));
                    }
                    Err(e) => {
                        return Err(fail(
                            id,
                            format!("operands do not type-check: {}", e.message),
                        ));
                    }
                }
                if let Op::Train(crate::ir::TrainOp::Assign) = op {
                    let target = edges[0].0;
                    if !matches!(g.node(target).op, Op::Param { .. }) {
                        return Err(fail(
                            id,
                            "assign to something other than a parameter".into(),
                        ));
                    }
                    if !assigned.insert(target) {
                        return Err(fail(id, format!("{target} is assigned twice")));
                    }
                    if !g.users(id).is_empty() {
                        return Err(fail(id, "an assign has users".into()));
                    }
                }
                if let Op::Output { .. } = op {
                    outputs += 1;
                    if !g.users(id).is_empty() {
                        return Err(fail(id, "an output has users".into()));
                    }
                }
            }
        }
    }
    if outputs == 0 {
        return Err(VerifyError {
            node: "graph".into(),
            message: "no output".into(),
        });
    }
    Ok(())
}
