//! Activation fusion: folds a pointwise activation into the op that produces its operand
//! when that op's kernel can apply it before storing, so the pair is one dispatch and the
//! pre-activation tensor is never written:
//!
//! * `batch_norm` (eval) → act ⇒ `batch_norm[act]` (`relu(bn(x))`);
//! * `batch_norm_train` → act ⇒ `batch_norm_train[act]` (training graphs);
//! * `add` → act ⇒ `add[act]` (ResNet's `relu(y + shortcut)`), forward or training.
//!
//! The producer must have no other use than the activation, except — in training graphs —
//! the activation's own gradient, `activation_grad(x, dy)`, which reads the pre-activation
//! `x`. Once fused, `x` no longer exists, so that gradient becomes
//! `activation_grad_from_output(y, dy)`, exact for relu and leaky relu (`y > 0` iff
//! `x > 0`) and PyTorch's own form for tanh (`1 - y^2`). An activation whose derivative needs
//! `x` (the table's `derivative_from_output` is `None`: gelu) is left unfused when its gradient
//! is taken (a forward-only gelu still fuses).

use crate::ir::{Activation, Graph, NodeId, Op, TrainOp};

pub fn run(g: &mut Graph) {
    let order = g
        .topo_order()
        .expect("passes run on verified, acyclic graphs");
    for act_node in order {
        let Op::Activation(a) = g.node(act_node).op else {
            continue;
        };
        let producer = g.inputs(act_node)[0];
        if !accepts_activation(&g.node(producer).op) {
            continue;
        }
        let Some(grads) = gradients_only(g, producer, act_node, a) else {
            continue;
        };
        if !a.derivative_from_output() && !grads.is_empty() {
            continue;
        }
        set_activation(&mut g.node_mut(producer).op, a);
        // The gradients keep their edge from the producer, which now holds y = act(x).
        for grad in grads {
            g.node_mut(grad).op = Op::Train(TrainOp::ActivationGradFromOutput(a));
        }
        g.replace_uses(act_node, producer);
        g.remove(act_node);
    }
}

/// Ops whose kernels take a fused activation, not already carrying one.
fn accepts_activation(op: &Op) -> bool {
    matches!(
        op,
        Op::BatchNorm { act: None, .. }
            | Op::Add { act: None }
            | Op::Train(TrainOp::BatchNormTrain { act: None, .. })
    )
}

fn set_activation(op: &mut Op, a: Activation) {
    match op {
        Op::BatchNorm { act, .. }
        | Op::Add { act }
        | Op::Train(TrainOp::BatchNormTrain { act, .. }) => *act = Some(a),
        other => unreachable!("{} takes no fused activation", other.name()),
    }
}

/// The uses of `producer` other than `act_node`, if every one is `act_node`'s gradient
/// reading the pre-activation value (operand 0 of `activation_grad(a)`, and not also its
/// `dy`); `None` if anything else reads it.
fn gradients_only(
    g: &Graph,
    producer: NodeId,
    act_node: NodeId,
    a: Activation,
) -> Option<Vec<NodeId>> {
    let mut grads = Vec::new();
    let mut seen_act = false;
    for user in g.users(producer) {
        if user == act_node && !seen_act {
            seen_act = true;
            continue;
        }
        let ins = g.inputs(user);
        let is_grad = g.node(user).op == Op::Train(TrainOp::ActivationGrad(a))
            && ins[0] == producer
            && ins[1] != producer;
        if !is_grad {
            return None;
        }
        grads.push(user);
    }
    Some(grads)
}
