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
//! [`verify`] runs after elaboration, after every graph stage in debug and test builds,
//! and before every lowering in every build: it returns the [`Verified`] that code
//! generation requires, so no unverified graph can be lowered (naga's `ModuleInfo`
//! pattern; see `crate::pipeline`).

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

/// A graph [`verify`] accepted, borrowed so it cannot change afterwards. Only [`verify`]
/// makes one, and lowering (`codegen::plan::lower`, `codegen::plan::tile_requests`) takes
/// one, so code generation never sees a graph that breaks an invariant above.
#[derive(Clone, Copy, Debug)]
pub struct Verified<'g>(&'g Graph);

impl<'g> Verified<'g> {
    /// The verified graph.
    pub fn graph(self) -> &'g Graph {
        self.0
    }
}

impl std::ops::Deref for Verified<'_> {
    type Target = Graph;
    fn deref(&self) -> &Graph {
        self.0
    }
}

/// Check every invariant of `g`; the [`Verified`] proves it held.
pub fn verify(g: &Graph) -> Result<Verified<'_>, VerifyError> {
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
    Ok(Verified(g))
}
