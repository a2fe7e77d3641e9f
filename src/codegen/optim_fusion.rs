//! Fusing each parameter's optimizer update into one in-place dispatch at the end of the
//! training step (a lowering decision; the IR keeps the unfused ops). A batch norm's two
//! running statistics are fused the same way: `running_update` of the mean and of the
//! variance plus their two `Assign` copies become one in-place `running_update_pair`.
//!
//! Autodiff writes an update as ordinary ops plus `Assign`s: SGD is
//! `buf' = sgd_buffer(p, g, buf)`, `p' = sgd_step(p, g, buf', lr)`, `buf := buf'`,
//! `p := p'`; Adam/AdamW is `m' = adam_moment(m, g, p)`, `v' = adam_moment(v, g, p)`,
//! `p' = adam_step(p, m', v', lr, step)` and three `Assign`s. Lowered one op at a time that
//! is 4 (SGD) or 6 (Adam) dispatches per parameter, two or three of them end-of-step copies,
//! and a temporary buffer per new value. Where the new values are used by nothing but each
//! other and their `Assign`s, lowering instead emits one kernel (`sgd_update`,
//! `adam_update`/`adamw_update`) that updates the parameter and its state in place, with the
//! unfused kernels' expressions in the same order, so the results are bit-identical.
//!
//! This lives in lowering, not in an IR pass, because the IR has no multi-output or
//! in-place ops: every node is one value, and `Assign` is the only way to write a
//! parameter. A fused update writes two or three parameters, which no single node can
//! express without a new kind of value; the `Assign`s already say "after the step", which
//! is all the fused kernel needs.
//!
//! Why running the fused kernel at the end of the step is safe: it runs where the
//! `Assign` copies of the unfused lowering run, after every other dispatch of the step, so
//! every other read of the parameter and its state (forward, backward, other updates) has
//! already seen the old values, exactly as with the copies. The remaining (unfused)
//! `Assign` copies run before the fused updates, so a copy whose value aliases a parameter
//! would still read its old value; and a fused update reads only its gradient and the `lr`
//! / `step` inputs besides its own buffers, none of which any copy writes (the gradient may
//! not alias a parameter, and copies write parameters only). Each fused update touches its
//! own parameter and state only: `verify` allows one `Assign` per target, and each of the
//! group's targets is assigned by the group.

use crate::ir::{Graph, NodeId, Op, TrainOp, Verified};
use std::collections::{HashMap, HashSet};

/// Whether [`run`] fuses each parameter's optimizer update into one
/// in-place dispatch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OptimizerLowering {
    /// One `sgd_update` / `adam_update` dispatch per parameter (the default).
    #[default]
    Fused,
    /// Every optimizer op its own dispatch, `Assign`s as end-of-step copies (for
    /// comparisons and tests).
    Unfused,
}

/// The arithmetic of one fused update, every constant of the ops it replaces.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum UpdateKind {
    Sgd {
        momentum: f32,
        weight_decay: f32,
        nesterov: bool,
    },
    Adam {
        betas: [f32; 2],
        eps: f32,
        l2: f32,
        decoupled_wd: f32,
    },
    /// A batch norm's two running statistics, from rows `rows` of its batch statistics.
    Running { momentum: f32, rows: [u32; 2] },
}

/// One parameter's update: which nodes it reads and writes.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Update {
    pub kind: UpdateKind,
    /// The gradient, then `lr`, then (Adam) `step`: the kernel's read-only bindings.
    pub reads: Vec<NodeId>,
    /// The parameter, then its state (`buf`, or `m` and `v`): updated in place.
    pub writes: Vec<NodeId>,
}

/// The fusable updates of a training graph: what [`run`] chose, for
/// [`super::plan::lower`].
#[derive(Debug, Default)]
pub struct Fusion {
    /// Nodes lowering skips: the replaced optimizer ops and their `Assign`s.
    pub(super) skip: HashSet<NodeId>,
    /// The update to emit, keyed by the `Assign` into its parameter (lowered after every
    /// node the update reads).
    pub(super) at: HashMap<NodeId, Update>,
}

/// The optimizer-fusion step of lowering: with `Fused`, every update group of `g` that
/// can be fused; with `Unfused`, none (every optimizer op its own dispatch).
pub fn run(g: Verified<'_>, lowering: OptimizerLowering) -> Fusion {
    match lowering {
        OptimizerLowering::Fused => find(g.graph()),
        OptimizerLowering::Unfused => Fusion::default(),
    }
}

/// Find every update group of `g` that can be fused.
fn find(g: &Graph) -> Fusion {
    let mut fusion = Fusion::default();
    for id in g.node_ids() {
        if !matches!(g.node(id).op, Op::Train(TrainOp::Assign)) {
            continue;
        }
        let found = sgd_group(g, id)
            .or_else(|| adam_group(g, id))
            .or_else(|| running_group(g, id, &fusion.skip));
        if let Some((update, nodes)) = found {
            fusion.skip.extend(nodes);
            fusion.at.insert(id, update);
        }
    }
    fusion
}

/// The train op of `id`, if it is one.
fn train_op(g: &Graph, id: NodeId) -> Option<&TrainOp> {
    match &g.node(id).op {
        Op::Train(t) => Some(t),
        _ => None,
    }
}

fn is_param(g: &Graph, id: NodeId) -> bool {
    matches!(g.node(id).op, Op::Param { .. })
}

fn is_input(g: &Graph, id: NodeId) -> bool {
    matches!(g.node(id).op, Op::Input { .. })
}

/// Whether the buffer of `id` may be a parameter's: lowering gives `flatten`, `output` and
/// `reshape` their operand's buffer.
fn aliases_param(g: &Graph, mut id: NodeId) -> bool {
    loop {
        match &g.node(id).op {
            Op::Param { .. } => return true,
            Op::Flatten | Op::Output { .. } | Op::Train(TrainOp::Reshape { .. }) => {
                id = g.inputs(id)[0];
            }
            _ => return false,
        }
    }
}

/// The `Assign` of `value` into `target`, when `value`'s uses are exactly `uses` plus that
/// `Assign`.
fn only_assigned(g: &Graph, value: NodeId, target: NodeId, uses: &[NodeId]) -> Option<NodeId> {
    let users = g.users(value);
    let assign = users.iter().copied().find(|&u| {
        matches!(g.node(u).op, Op::Train(TrainOp::Assign)) && g.inputs(u) == [target, value]
    })?;
    let mut expected: Vec<NodeId> = uses.iter().copied().chain([assign]).collect();
    expected.sort();
    (users == expected).then_some(assign)
}

/// When `assign` is `r := running_update(r, stats)` for a running statistic `r` read by
/// nothing but that update: `(r, stats, row, momentum)`.
fn running_update_of(g: &Graph, assign: NodeId) -> Option<(NodeId, NodeId, u32, f32)> {
    if !matches!(g.node(assign).op, Op::Train(TrainOp::Assign)) {
        return None;
    }
    let [r, new_r] = g.inputs(assign)[..] else {
        return None;
    };
    let &TrainOp::RunningUpdate { momentum, row } = train_op(g, new_r)? else {
        return None;
    };
    let [running, stats] = g.inputs(new_r)[..] else {
        return None;
    };
    // In place is safe only when the update is the statistic's one reader: then the old
    // value is dead once the update has read it.
    let sole_reader = g.users(r).iter().all(|&u| u == new_r || u == assign);
    if running != r || !is_param(g, r) || !sole_reader || g.users(new_r) != [assign] {
        return None;
    }
    Some((r, stats, row as u32, momentum))
}

/// A batch norm's two `Assign`s of running statistics (see [`running_update_of`]), found
/// from the first; `done` holds the nodes of groups already found, so the second `Assign`
/// does not form the pair again.
fn running_group(
    g: &Graph,
    assign_a: NodeId,
    done: &HashSet<NodeId>,
) -> Option<(Update, Vec<NodeId>)> {
    if done.contains(&assign_a) {
        return None;
    }
    let (a, stats, row_a, momentum) = running_update_of(g, assign_a)?;
    let assign_b = g.users(stats).into_iter().find_map(|u| {
        let assign = g.users(u).into_iter().next()?;
        let (b, s, row_b, m) = running_update_of(g, assign)?;
        (assign != assign_a && s == stats && m == momentum && b != a).then_some((assign, b, row_b))
    });
    let (assign_b, b, row_b) = assign_b?;
    let update = Update {
        kind: UpdateKind::Running {
            momentum,
            rows: [row_a, row_b],
        },
        reads: vec![stats],
        writes: vec![a, b],
    };
    let new_a = g.inputs(assign_a)[1];
    let new_b = g.inputs(assign_b)[1];
    Some((update, vec![new_a, new_b, assign_a, assign_b]))
}

/// `p := sgd_step(p, g, buf', lr)` with `buf' = sgd_buffer(p, g, buf)` and `buf := buf'`,
/// `buf'` used by nothing else. Returns the update and the nodes it replaces.
fn sgd_group(g: &Graph, assign_p: NodeId) -> Option<(Update, Vec<NodeId>)> {
    let [p, step] = g.inputs(assign_p)[..] else {
        return None;
    };
    let &TrainOp::SgdStep {
        momentum,
        weight_decay,
        nesterov,
    } = train_op(g, step)?
    else {
        return None;
    };
    let [sp, grad, new_buf, lr] = g.inputs(step)[..] else {
        return None;
    };
    // The step's constants must be the buffer's: the fused kernel has one of each.
    let &TrainOp::SgdBuffer {
        momentum: m2,
        weight_decay: wd2,
    } = train_op(g, new_buf)?
    else {
        return None;
    };
    let [bp, bgrad, buf] = g.inputs(new_buf)[..] else {
        return None;
    };
    let same = sp == p && bp == p && bgrad == grad && m2 == momentum && wd2 == weight_decay;
    let shapes = g.node(buf).ty == g.node(p).ty && g.node(grad).ty == g.node(p).ty;
    if !same || !shapes || !is_param(g, p) || !is_param(g, buf) || buf == p {
        return None;
    }
    if aliases_param(g, grad) || !is_input(g, lr) || g.users(step) != [assign_p] {
        return None;
    }
    let assign_buf = only_assigned(g, new_buf, buf, &[step])?;
    let update = Update {
        kind: UpdateKind::Sgd {
            momentum,
            weight_decay,
            nesterov,
        },
        reads: vec![grad, lr],
        writes: vec![p, buf],
    };
    Some((update, vec![new_buf, step, assign_buf, assign_p]))
}

/// `p := adam_step(p, m', v', lr, step)` with `m' = adam_moment(m, g, p)` (first moment),
/// `v' = adam_moment(v, g, p)` (second), `m := m'`, `v := v'`, the new moments used by
/// nothing else. Returns the update and the nodes it replaces.
fn adam_group(g: &Graph, assign_p: NodeId) -> Option<(Update, Vec<NodeId>)> {
    let [p, new_p] = g.inputs(assign_p)[..] else {
        return None;
    };
    let &TrainOp::AdamStep {
        beta1,
        beta2,
        eps,
        decoupled_wd,
    } = train_op(g, new_p)?
    else {
        return None;
    };
    let [sp, new_m, new_v, lr, step] = g.inputs(new_p)[..] else {
        return None;
    };
    // Each moment's beta must be the step's (the fused kernel has one of each), and both
    // moments must add the same L2 term.
    let moment = |id: NodeId, square: bool, beta: f32| -> Option<(NodeId, NodeId, f32)> {
        let &TrainOp::AdamMoment {
            beta: b,
            square: s,
            l2,
        } = train_op(g, id)?
        else {
            return None;
        };
        let [state, grad, mp] = g.inputs(id)[..] else {
            return None;
        };
        (s == square && b == beta && mp == p && is_param(g, state)).then_some((state, grad, l2))
    };
    let (m, grad, l2) = moment(new_m, false, beta1)?;
    let (v, vgrad, l2v) = moment(new_v, true, beta2)?;
    let ty = &g.node(p).ty;
    let shapes = [m, v, grad].iter().all(|&i| g.node(i).ty == *ty);
    let distinct = p != m && p != v && m != v;
    if sp != p || vgrad != grad || l2v != l2 || !shapes || !distinct || !is_param(g, p) {
        return None;
    }
    if aliases_param(g, grad) || !is_input(g, lr) || !is_input(g, step) {
        return None;
    }
    if g.users(new_p) != [assign_p] {
        return None;
    }
    let assign_m = only_assigned(g, new_m, m, &[new_p])?;
    let assign_v = only_assigned(g, new_v, v, &[new_p])?;
    let update = Update {
        kind: UpdateKind::Adam {
            betas: [beta1, beta2],
            eps,
            l2,
            decoupled_wd,
        },
        reads: vec![grad, lr, step],
        writes: vec![p, m, v],
    };
    Some((
        update,
        vec![new_m, new_v, new_p, assign_m, assign_v, assign_p],
    ))
}
