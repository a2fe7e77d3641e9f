//! The local gradient of every forward op, in one table: given a node and the gradient
//! `g` of its result, the gradients of its operands (only those that need one).

use super::Builder;
use crate::ir::{Node, NodeId, Op, TrainOp};
use std::collections::HashSet;

/// `(operand, gradient contribution)` pairs for node `id` with result gradient `g`.
pub(crate) fn local_grads(
    b: &mut Builder,
    id: NodeId,
    g: NodeId,
    requires: &HashSet<NodeId>,
) -> Vec<(NodeId, NodeId)> {
    let node: Node = b.t.node(id).clone();
    let ins = b.t.inputs(id);
    let site = b.site_of(id);
    let needs = |i: usize| ins.get(i).is_some_and(|x| requires.contains(x));
    let mut out = Vec::new();
    let mut push = |operand: NodeId, grad: NodeId| out.push((operand, grad));
    match &node.op {
        Op::Conv2d {
            window,
            groups,
            bias,
            ..
        } => {
            use crate::ops::conv::autodiff as conv;
            if needs(0) {
                let dx = conv::grad_input(b, *window, *groups, ins[0], ins[1], g, site.clone());
                push(ins[0], dx);
            }
            let dw = conv::grad_weight(b, *window, *groups, ins[0], g, site.clone());
            push(ins[1], dw);
            if *bias {
                let db = conv::grad_bias(b, g, site);
                push(ins[2], db);
            }
        }
        Op::Train(TrainOp::BatchNormTrain { eps, act: None }) => {
            // Operands: x, stats, gamma, beta; stats get no gradient of their own.
            let needs_dx = needs(0);
            for (operand, grad) in
                crate::ops::norm::autodiff::batch_norm_train(b, *eps, &ins, g, needs_dx, site)
            {
                push(operand, grad);
            }
        }
        Op::Activation(a) => {
            let dx = crate::ops::activation::autodiff::backward(b, *a, ins[0], g, site);
            push(ins[0], dx);
        }
        Op::MaxPool2d(w) => {
            let dx = crate::ops::pool::autodiff::max_pool2d(b, *w, ins[0], g, site);
            push(ins[0], dx);
        }
        Op::AvgPool2d(w) => {
            let dx = crate::ops::pool::autodiff::avg_pool2d(b, *w, ins[0], g, site);
            push(ins[0], dx);
        }
        Op::GlobalAvgPool => {
            let dx = crate::ops::pool::autodiff::global_avg_pool(b, ins[0], g, site);
            push(ins[0], dx);
        }
        Op::Flatten => {
            let dx = crate::ops::linear::autodiff::flatten(b, ins[0], g, site);
            push(ins[0], dx);
        }
        Op::Linear { bias, .. } => {
            for (x, dx) in crate::ops::linear::autodiff::linear(b, &ins, *bias, needs(0), g, site) {
                push(x, dx);
            }
        }
        Op::Add { act: None } => {
            let [da, db] = crate::ops::elementwise::autodiff::add(g);
            push(ins[0], da);
            push(ins[1], db);
        }
        Op::Concat => {
            for (x, dx) in crate::ops::elementwise::autodiff::concat(b, &ins, g, requires, site) {
                push(x, dx);
            }
        }
        // Leaves, outputs, losses and training-only ops never sit on the path from a
        // parameter to the logits except as handled above.
        other => unreachable!(
            "no gradient rule for `{}` on the path to the logits",
            other.name()
        ),
    }
    // Parameters of a frozen kind (running statistics) never need gradients.
    out.retain(|(operand, _)| requires.contains(operand));
    out
}
