//! The IR graph: a petgraph `StableGraph` of typed op nodes behind typed handles.
//!
//! Nodes hold an [`Op`], the type of the value the node produces, the hierarchical
//! `path` it was elaborated under, and the source span it came from. Edges run from a
//! producer to a consumer and carry the operand slot and the value's type, so every
//! edge is typed. Callers never touch petgraph indices: they hold [`NodeId`]s.

use super::ops::{Op, ShapeError};
use super::types::TensorType;
use crate::diag::Span;
use petgraph::Direction;
use petgraph::stable_graph::{NodeIndex, StableDiGraph};
use petgraph::visit::EdgeRef;
use std::fmt;

/// A handle to a node of one [`Graph`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(NodeIndex<u32>);

impl NodeId {
    pub fn index(self) -> usize {
        self.0.index()
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "%{}", self.0.index())
    }
}

/// One operation and the value it produces.
#[derive(Clone, Debug)]
pub struct Node {
    pub op: Op,
    /// The type of the node's result.
    pub ty: TensorType,
    /// Hierarchical name of the layer this node belongs to, e.g. `res_block.3.conv1`.
    /// A parameter's full name is `path` + `.` + its role suffix.
    pub path: String,
    /// The block invocation the node was elaborated in, e.g. `res_block.3`
    /// (empty at model level). Always a prefix of `path`.
    pub scope: String,
    /// Where in the source the node came from.
    pub span: Span,
}

/// Where a new node comes from: its layer path, its block scope and its source span.
#[derive(Clone, Debug, Default)]
pub struct Site {
    pub path: String,
    pub scope: String,
    pub span: Span,
}

/// A use of a value: the consumer's operand slot and the value's type.
#[derive(Clone, Debug, PartialEq)]
pub struct Edge {
    pub operand: usize,
    pub ty: TensorType,
}

/// One block invocation, recorded so that summaries and DOT can group nodes by it.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockCall {
    /// The invocation's scope, e.g. `res_block.3`; nodes inside have this scope or a deeper one.
    pub path: String,
    /// The block's name, e.g. `ResBlock`.
    pub block: String,
    /// The call expression.
    pub span: Span,
}

/// A model as a dataflow graph.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    /// The model's name (from `model Name(...)`).
    pub name: String,
    /// Every block invocation, outermost first within each call tree.
    pub calls: Vec<BlockCall>,
    g: StableDiGraph<Node, Edge, u32>,
}

impl Graph {
    pub fn new(name: impl Into<String>) -> Graph {
        Graph {
            name: name.into(),
            calls: Vec::new(),
            g: StableDiGraph::default(),
        }
    }

    /// Add a node with no operands and a declared type (an input or a parameter).
    pub fn add_leaf(&mut self, op: Op, ty: TensorType, at: Site) -> NodeId {
        debug_assert_eq!(op.arity(), Some(0));
        NodeId(self.g.add_node(Node {
            op,
            ty,
            path: at.path,
            scope: at.scope,
            span: at.span,
        }))
    }

    /// Add an op over `inputs`, inferring its result type with [`Op::infer`].
    pub fn add_op(&mut self, op: Op, inputs: &[NodeId], at: Site) -> Result<NodeId, ShapeError> {
        let tys: Vec<&TensorType> = inputs.iter().map(|&i| &self.g[i.0].ty).collect();
        let ty = op.infer(&tys)?;
        super::size::check("the output", &ty)?;
        let edges: Vec<(NodeIndex<u32>, Edge)> = inputs
            .iter()
            .enumerate()
            .map(|(operand, &i)| {
                (
                    i.0,
                    Edge {
                        operand,
                        ty: self.g[i.0].ty.clone(),
                    },
                )
            })
            .collect();
        let id = self.g.add_node(Node {
            op,
            ty,
            path: at.path,
            scope: at.scope,
            span: at.span,
        });
        for (src, e) in edges {
            self.g.add_edge(src, id, e);
        }
        Ok(NodeId(id))
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.g[id.0]
    }

    pub fn node_mut(&mut self, id: NodeId) -> &mut Node {
        &mut self.g[id.0]
    }

    pub fn node_count(&self) -> usize {
        self.g.node_count()
    }

    /// All node ids in insertion order (which is a topological order for graphs
    /// built by the elaborator; [`Graph::topo_order`] does not assume that).
    pub fn node_ids(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.g.node_indices().map(NodeId)
    }

    /// The operands of `id`, in operand order.
    pub fn inputs(&self, id: NodeId) -> Vec<NodeId> {
        let mut ins: Vec<(usize, NodeId)> = self
            .g
            .edges_directed(id.0, Direction::Incoming)
            .map(|e| (e.weight().operand, NodeId(e.source())))
            .collect();
        ins.sort_by_key(|(operand, _)| *operand);
        ins.into_iter().map(|(_, n)| n).collect()
    }

    /// The edges into `id` as (producer, edge), in operand order.
    pub fn in_edges(&self, id: NodeId) -> Vec<(NodeId, &Edge)> {
        let mut ins: Vec<(NodeId, &Edge)> = self
            .g
            .edges_directed(id.0, Direction::Incoming)
            .map(|e| (NodeId(e.source()), e.weight()))
            .collect();
        ins.sort_by_key(|(_, e)| e.operand);
        ins
    }

    /// The consumers of `id` (one entry per use).
    pub fn users(&self, id: NodeId) -> Vec<NodeId> {
        let mut us: Vec<NodeId> = self
            .g
            .edges_directed(id.0, Direction::Outgoing)
            .map(|e| NodeId(e.target()))
            .collect();
        us.sort();
        us
    }

    /// Nodes in a topological order, or a node on a cycle if there is one.
    ///
    /// When every edge points from a lower to a higher id (true of elaborated graphs)
    /// this is id order, so printed IR follows the source.
    pub fn topo_order(&self) -> Result<Vec<NodeId>, NodeId> {
        let forward = self.g.edge_indices().all(|e| {
            let (a, b) = self.g.edge_endpoints(e).expect("edge index is live");
            a.index() < b.index()
        });
        if forward {
            return Ok(self.node_ids().collect());
        }
        petgraph::algo::toposort(&self.g, None)
            .map(|order| order.into_iter().map(NodeId).collect())
            .map_err(|cycle| NodeId(cycle.node_id()))
    }

    /// The full checkpoint name of a parameter node (`path.suffix`).
    pub fn param_name(&self, id: NodeId) -> Option<String> {
        match &self.node(id).op {
            Op::Param { role } => Some(format!("{}.{}", self.node(id).path, role.suffix())),
            _ => None,
        }
    }

    /// Every parameter and buffer, in graph order, with its full name.
    pub fn params(&self) -> Vec<(String, NodeId)> {
        self.node_ids()
            .filter_map(|id| self.param_name(id).map(|n| (n, id)))
            .collect()
    }

    /// Number of trainable parameter elements (PyTorch's `sum(p.numel() for p in model.parameters())`).
    /// Saturation is unreachable for an elaborated graph (see [`super::size`]).
    pub fn trainable_param_count(&self) -> u64 {
        self.node_ids()
            .filter(|&id| matches!(self.node(id).op, Op::Param { role } if role.trainable()))
            .map(|id| self.node(id).ty.numel() as u64)
            .fold(0, u64::saturating_add)
    }

    /// Forward multiply-accumulates per example, summed over the graph. The elaborator
    /// rejects a model whose sum overflows, so saturation is unreachable for its graphs.
    pub fn macs(&self) -> u64 {
        self.node_ids()
            .map(|id| self.node_macs(id))
            .fold(0, u64::saturating_add)
    }

    /// Forward multiply-accumulates per example of one node.
    pub fn node_macs(&self, id: NodeId) -> u64 {
        let ins = self.inputs(id);
        let tys: Vec<&TensorType> = ins.iter().map(|&i| &self.node(i).ty).collect();
        let node = self.node(id);
        node.op.macs(&tys, &node.ty)
    }

    /// The model's inputs, in declaration order.
    pub fn inputs_of_model(&self) -> Vec<NodeId> {
        self.node_ids()
            .filter(|&id| matches!(self.node(id).op, Op::Input { .. }))
            .collect()
    }

    /// The graph's output nodes.
    pub fn outputs(&self) -> Vec<NodeId> {
        self.node_ids()
            .filter(|&id| matches!(self.node(id).op, Op::Output { .. }))
            .collect()
    }

    /// Remove a node and its edges (used by passes; the verifier re-checks the result).
    pub fn remove(&mut self, id: NodeId) {
        self.g.remove_node(id.0);
    }

    /// Move every use of `old` to `new`, each in the same operand slot (for passes that
    /// replace a value by an equal one; `new`'s type must be `old`'s).
    pub fn replace_uses(&mut self, old: NodeId, new: NodeId) {
        let uses: Vec<(NodeId, usize)> = self
            .g
            .edges_directed(old.0, Direction::Outgoing)
            .map(|e| (NodeId(e.target()), e.weight().operand))
            .collect();
        for (user, _) in &uses {
            while let Some(e) = self.g.find_edge(old.0, user.0) {
                self.g.remove_edge(e);
            }
        }
        for (user, operand) in uses {
            self.connect(new, user, operand);
        }
    }

    /// Give the value of `id` the type `ty`, on the node and on every edge out of it; for
    /// passes that change element types. The verifier checks the result.
    pub fn retype(&mut self, id: NodeId, ty: TensorType) {
        let outs: Vec<_> = self
            .g
            .edges_directed(id.0, petgraph::Direction::Outgoing)
            .map(|e| e.id())
            .collect();
        for e in outs {
            self.g[e].ty = ty.clone();
        }
        self.g[id.0].ty = ty;
    }

    /// Add an edge directly; for passes that rewire. The verifier checks the result.
    pub fn connect(&mut self, from: NodeId, to: NodeId, operand: usize) {
        let ty = self.g[from.0].ty.clone();
        self.g.add_edge(from.0, to.0, Edge { operand, ty });
    }
}
