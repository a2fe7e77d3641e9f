//! Stage 3a — autodiff: forward [`Graph`] → training [`Graph`].
//!
//! One graph holds the whole training step, so later passes (fusion, memory planning)
//! see all of it:
//! 1. the forward pass, with batch norm switched to training mode (batch statistics,
//!    running statistics updated through [`TrainOp::Assign`]; `crate::ops::norm::autodiff`);
//! 2. the loss (`softmax_cross_entropy`, mean over the batch) and the count of correct
//!    predictions, as outputs `loss` and `correct`;
//! 3. reverse-mode gradients, built node by node from the local rules in [`rules`];
//! 4. the optimizer update of every trainable parameter ([`crate::ops::optim::updates`]).
//!
//! New inputs: `labels` (`[N]`, i32 class ids), `lr` (scalar) and, for Adam, `step`
//! (scalar, counting from 1): the learning rate is a run-time value, so schedules never
//! recompile.
//!
//! Architecture invariant: every `Assign` takes effect after the whole step; all reads
//! of a parameter in the step see its old value.

mod rules;

use crate::elab::recipe::Optimizer;
use crate::ir::{Activation, DType, Graph, NodeId, Op, ParamRole, Site, TensorType, TrainOp};
use std::collections::HashMap;

/// A training graph and where its gradients are.
pub struct TrainingGraph {
    pub graph: Graph,
    /// The gradient of each trainable parameter, by parameter name, in graph order.
    pub grads: Vec<(String, NodeId)>,
}

/// Why a model cannot be trained as it is.
#[derive(Debug, thiserror::Error)]
pub enum AutodiffError {
    #[error("training needs a model with one output (the logits [N,K]); `{model}` has {outputs}")]
    Outputs { model: String, outputs: usize },
    #[error("the model's output is {0}; training with cross-entropy needs logits [N,K]")]
    Logits(String),
}

/// Build the training graph of `forward` for `optimizer`.
pub fn build(forward: &Graph, optimizer: &Optimizer) -> Result<TrainingGraph, AutodiffError> {
    let outputs = forward.outputs();
    if outputs.len() != 1 {
        return Err(AutodiffError::Outputs {
            model: forward.name.clone(),
            outputs: outputs.len(),
        });
    }
    let logits_ty = &forward.node(outputs[0]).ty;
    if !logits_ty.batched || logits_ty.dims.len() != 1 {
        return Err(AutodiffError::Logits(logits_ty.to_string()));
    }
    let mut b = Builder {
        t: Graph::new(forward.name.clone()),
        map: HashMap::new(),
    };
    b.t.calls = forward.calls.clone();
    let order = forward.topo_order().expect("a verified graph is acyclic");
    for &id in &order {
        b.copy_forward(forward, id);
    }
    let logits = b.map[&forward.inputs(outputs[0])[0]];
    let forward_nodes: Vec<NodeId> = order
        .iter()
        .filter_map(|id| b.map.get(id).copied())
        .collect();

    // Loss and metrics.
    let at = |path: &str| Site {
        path: path.to_string(),
        scope: String::new(),
        span: forward.node(outputs[0]).span,
    };
    let labels = b.t.add_leaf(
        Op::Input {
            name: "labels".into(),
        },
        TensorType {
            dtype: DType::I32,
            batched: true,
            dims: vec![],
        },
        at("labels"),
    );
    let loss = b.op(Op::SoftmaxCrossEntropy, &[logits, labels], at("loss"));
    b.op(
        Op::Output {
            name: "loss".into(),
        },
        &[loss],
        at("loss"),
    );
    let correct = b.op(
        Op::Train(TrainOp::CorrectCount),
        &[logits, labels],
        at("correct"),
    );
    b.op(
        Op::Output {
            name: "correct".into(),
        },
        &[correct],
        at("correct"),
    );

    // Reverse mode.
    let requires = requires_grad(&b.t, &forward_nodes);
    let mut pending: HashMap<NodeId, Vec<NodeId>> = HashMap::new();
    let seed = crate::ops::loss::autodiff::cross_entropy(&mut b, logits, labels, at("loss"));
    pending.insert(logits, vec![seed]);
    let mut grads = Vec::new();
    for &id in forward_nodes.iter().rev() {
        let Some(parts) = pending.remove(&id) else {
            continue;
        };
        let site = b.site_of(id);
        let g = parts
            .into_iter()
            .reduce(|acc, p| b.op(Op::Add { act: None }, &[acc, p], site.clone()))
            .expect("pending lists are non-empty");
        if matches!(b.t.node(id).op, Op::Param { .. }) {
            grads.push((b.t.param_name(id).expect("param"), g));
            continue;
        }
        for (operand, grad) in rules::local_grads(&mut b, id, g, &requires) {
            pending.entry(operand).or_default().push(grad);
        }
    }
    grads.reverse();
    crate::ops::optim::updates::add_updates(&mut b, optimizer, &grads);
    Ok(TrainingGraph { graph: b.t, grads })
}

/// Nodes whose value depends on a trainable parameter.
fn requires_grad(g: &Graph, order: &[NodeId]) -> std::collections::HashSet<NodeId> {
    let mut set = std::collections::HashSet::new();
    for &id in order {
        let node = g.node(id);
        let needs = match node.op {
            Op::Param { role } => role.trainable(),
            _ => g.inputs(id).iter().any(|i| set.contains(i)),
        };
        if needs {
            set.insert(id);
        }
    }
    set
}

/// The graph under construction and the forward-to-training node map.
pub(crate) struct Builder {
    pub t: Graph,
    map: HashMap<NodeId, NodeId>,
}

impl Builder {
    /// Add an op whose operands are known to fit (autodiff builds only well-typed nodes).
    pub fn op(&mut self, op: Op, inputs: &[NodeId], site: Site) -> NodeId {
        let name = op.name();
        self.t
            .add_op(op, inputs, site)
            .unwrap_or_else(|e| panic!("autodiff built an ill-typed `{name}`: {}", e.message))
    }

    pub fn site_of(&self, id: NodeId) -> Site {
        let n = self.t.node(id);
        Site {
            path: n.path.clone(),
            scope: n.scope.clone(),
            span: n.span,
        }
    }

    /// Copy one forward node into the training graph; batch norm becomes its training form.
    fn copy_forward(&mut self, f: &Graph, id: NodeId) {
        let node = f.node(id);
        let site = Site {
            path: node.path.clone(),
            scope: node.scope.clone(),
            span: node.span,
        };
        let ins: Vec<NodeId> = f.inputs(id).iter().map(|i| self.map[i]).collect();
        let new = match &node.op {
            Op::Output { .. } => return,
            Op::Input { .. } | Op::Param { .. } => {
                self.t.add_leaf(node.op.clone(), node.ty.clone(), site)
            }
            Op::BatchNorm { eps, momentum, act } => {
                let y = crate::ops::norm::autodiff::training_form(
                    self,
                    *eps,
                    *momentum,
                    &ins,
                    site.clone(),
                );
                self.then(*act, y, site)
            }
            // Autodiff differentiates unfused ops (fusion runs after it, on the whole step);
            // a fused forward graph is split back into op and activation here.
            Op::Add { act } => {
                let y = self.op(Op::Add { act: None }, &ins, site.clone());
                self.then(*act, y, site)
            }
            op => self.op(op.clone(), &ins, site),
        };
        self.map.insert(id, new);
    }

    /// `act(y)` as its own node, or `y` when there is no activation.
    fn then(&mut self, act: Option<Activation>, y: NodeId, site: Site) -> NodeId {
        match act {
            Some(a) => self.op(Op::Activation(a), &[y], site),
            None => y,
        }
    }

    /// A new state buffer for the parameter `param` (e.g. its momentum).
    pub fn state(&mut self, param: NodeId, role: ParamRole) -> NodeId {
        let name = self
            .t
            .param_name(param)
            .expect("state belongs to a parameter");
        let n = self.t.node(param);
        let site = Site {
            path: name,
            scope: n.scope.clone(),
            span: n.span,
        };
        let ty = n.ty.clone();
        self.t.add_leaf(Op::Param { role }, ty, site)
    }
}
