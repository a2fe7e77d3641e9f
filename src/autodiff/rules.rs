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
    let dims = |b: &Builder, i: NodeId| b.t.node(i).ty.dims.clone();
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
            let dx = b.op(
                Op::Train(TrainOp::Reshape {
                    dims: dims(b, ins[0]),
                }),
                &[g],
                site,
            );
            push(ins[0], dx);
        }
        Op::Linear { bias, .. } => {
            if needs(0) {
                let dx = b.op(
                    Op::Train(TrainOp::LinearGradInput),
                    &[g, ins[1]],
                    site.clone(),
                );
                push(ins[0], dx);
            }
            let dw = b.op(
                Op::Train(TrainOp::LinearGradWeight),
                &[ins[0], g],
                site.clone(),
            );
            push(ins[1], dw);
            if *bias {
                let db = b.op(Op::Train(TrainOp::BiasGrad { act_grad: None }), &[g], site);
                push(ins[2], db);
            }
        }
        Op::Add { act: None } => {
            push(ins[0], g);
            push(ins[1], g);
        }
        Op::Concat => {
            let mut offset = 0;
            for &x in &ins {
                let channels = b.t.node(x).ty.dims[0];
                if requires.contains(&x) {
                    let dx = b.op(
                        Op::Train(TrainOp::ChannelSlice { offset, channels }),
                        &[g],
                        site.clone(),
                    );
                    push(x, dx);
                }
                offset += channels;
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
