//! Gradient-accumulation fusion: folds `add(acc, part)` into the op that computes `part`
//! when that op's kernel can add before storing, so the sum is written by the kernel that
//! computes the part and the `add` dispatch (which re-read both tensors) is gone.
//!
//! Autodiff sums the gradient parts of a value used more than once with `add`s: ResNet's
//! block input (the conv branch's input gradient plus the shortcut's), GoogleNet's inception
//! input (four branches), DenseNet's and the pre-activation ResNet's batch-norm inputs. The
//! part made last is, in every seed model, a conv's or a batch norm's input gradient
//! (`conv2d_grad_input`, `batch_norm_grad_input`); those ops take `accumulate` and one more
//! operand, the running sum (`TrainOp::accumulator`), and compute exactly `part + acc` in f32.
//! Chains fold one by one: `((p1 + p2) + p3)` becomes `p3(.., acc = p2(.., acc = p1))`.
//!
//! Conditions: the part is read by nothing but the `add` (its own value is never stored), the
//! op is not already accumulating, and the running sum was made before the part (its node id
//! is lower), so every edge still points from a lower to a higher id and the graph keeps its
//! order — the lowering order and the printed IR do not move.

use crate::ir::{Graph, NodeId, Op, TrainOp};

pub fn run(g: &mut Graph) {
    let adds: Vec<NodeId> = g
        .topo_order()
        .expect("passes run on verified, acyclic graphs")
        .into_iter()
        .filter(|&id| matches!(g.node(id).op, Op::Add { act: None }))
        .collect();
    for add in adds {
        let ins = g.inputs(add);
        let (part, acc) = if ins[0].index() > ins[1].index() {
            (ins[0], ins[1])
        } else {
            (ins[1], ins[0])
        };
        // The kernel reads the sum as it stores the part: same element type and shape.
        if part == acc
            || g.node(part).ty != g.node(acc).ty
            || g.users(part) != [add]
            || !set_accumulate(&mut g.node_mut(part).op)
        {
            continue;
        }
        let slot = g.inputs(part).len();
        g.connect(acc, part, slot);
        g.replace_uses(add, part);
        g.remove(add);
    }
}

/// Makes `op` add an accumulation operand into its result, if its kernel can; false (and
/// `op` unchanged) otherwise.
fn set_accumulate(op: &mut Op) -> bool {
    match op {
        Op::Train(
            TrainOp::Conv2dGradInput { accumulate, .. }
            | TrainOp::BatchNormGradInput { accumulate, .. },
        ) if !*accumulate => {
            *accumulate = true;
            true
        }
        _ => false,
    }
}
