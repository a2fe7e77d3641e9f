//! Backward activation fusion: folds `activation_grad_from_output(y, dy)` into the batch-norm
//! backward that consumes it, so the gradient `dy * act'(y)` is computed where it is read
//! instead of being stored by a dispatch of its own.
//!
//! Runs after `fuse_activation`, which turns `batch_norm_train → act` into
//! `batch_norm_train[act]` and that activation's gradient into `activation_grad_from_output`.
//! When every use of that gradient is one of batch norm's backward ops — `bias_grad` (dbeta),
//! `batch_norm_grad_gamma` and `batch_norm_grad_input`, each reading it as `dy` — each of
//! them takes `act_grad: Some(a)` and reads `dy` and `y` instead, and the gradient node goes.
//! (This is the pre-activation pattern `bn → relu → conv` and ResNet's `bn1 → relu`.) A
//! gradient with any other use (e.g. ResNet's residual gradient, which also flows down the
//! shortcut) stays a node: recomputing it per use would cost more than storing it once.

use crate::ir::{Graph, NodeId, Op, TrainOp};

pub fn run(g: &mut Graph) {
    let grads: Vec<NodeId> = g
        .node_ids()
        .filter(|&id| {
            matches!(
                g.node(id).op,
                Op::Train(TrainOp::ActivationGradFromOutput(_))
            )
        })
        .collect();
    for grad in grads {
        let Op::Train(TrainOp::ActivationGradFromOutput(a)) = g.node(grad).op else {
            unreachable!("filtered above");
        };
        let users = g.users(grad);
        if users.is_empty() || !users.iter().all(|&u| reads_as_dy_only(g, u, grad)) {
            continue;
        }
        let ins = g.inputs(grad);
        let (y, dy) = (ins[0], ins[1]);
        g.replace_uses(grad, dy);
        for user in users {
            let slot = g.inputs(user).len();
            match &mut g.node_mut(user).op {
                Op::Train(
                    TrainOp::BiasGrad { act_grad }
                    | TrainOp::BatchNormGradGamma { act_grad, .. }
                    | TrainOp::BatchNormGradInput { act_grad, .. },
                ) => *act_grad = Some(a),
                other => unreachable!("{} cannot fold a gradient", other.name()),
            }
            g.connect(y, user, slot);
        }
        g.remove(grad);
    }
}

/// Whether `user` is a batch-norm backward op (not yet folding an activation) that reads
/// `grad` as its `dy` operand and nowhere else.
fn reads_as_dy_only(g: &Graph, user: NodeId, grad: NodeId) -> bool {
    let dy_slot = match g.node(user).op {
        Op::Train(TrainOp::BiasGrad { act_grad: None }) => 0,
        Op::Train(TrainOp::BatchNormGradGamma { act_grad: None, .. }) => 2,
        Op::Train(TrainOp::BatchNormGradInput {
            act_grad: None,
            accumulate: false,
            ..
        }) => 3,
        _ => return false,
    };
    g.inputs(user)
        .iter()
        .enumerate()
        .all(|(slot, &i)| (i == grad) == (slot == dy_slot))
}
