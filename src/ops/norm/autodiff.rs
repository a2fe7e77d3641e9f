//! Batch norm in training graphs, which `autodiff` delegates to: the training form a forward
//! `Op::BatchNorm` is copied as (batch statistics, the normalisation with them, the running
//! statistics' updates) and the backward rule of `TrainOp::BatchNormTrain`.

use crate::autodiff::Builder;
use crate::ir::train_ops::{STATS_MEAN, STATS_VAR_UNBIASED};
use crate::ir::{NodeId, Op, Site, TrainOp};

/// The training form of `Op::BatchNorm { eps, momentum, .. }` over `ins = [x, gamma, beta,
/// running_mean, running_var]`: the batch's statistics normalise `x`, and each running
/// statistic is assigned its update (PyTorch's `model.train()`). Returns the normalised value,
/// before any fused activation.
pub(crate) fn training_form(
    b: &mut Builder,
    eps: f32,
    momentum: f32,
    ins: &[NodeId],
    site: Site,
) -> NodeId {
    let stats = b.op(Op::Train(TrainOp::BatchStats), &[ins[0]], site.clone());
    let y = b.op(
        Op::Train(TrainOp::BatchNormTrain { eps, act: None }),
        &[ins[0], stats, ins[1], ins[2]],
        site.clone(),
    );
    for (running, row) in [(ins[3], STATS_MEAN), (ins[4], STATS_VAR_UNBIASED)] {
        let updated = b.op(
            Op::Train(TrainOp::RunningUpdate { momentum, row }),
            &[running, stats],
            site.clone(),
        );
        b.op(
            Op::Train(TrainOp::Assign),
            &[running, updated],
            site.clone(),
        );
    }
    y
}

/// The gradients of `y = batch_norm_train(x, stats, gamma, beta)` (`ins`, with `eps`) whose
/// gradient is `g`, as `(operand, gradient)` pairs: `dx` only where `needs_dx`, then `dgamma`
/// and `dbeta`. The statistics' own dependence on `x` is part of `BatchNormGradInput`'s
/// formula, so `stats` gets no gradient of its own.
pub(crate) fn batch_norm_train(
    b: &mut Builder,
    eps: f32,
    ins: &[NodeId],
    g: NodeId,
    needs_dx: bool,
    site: Site,
) -> Vec<(NodeId, NodeId)> {
    let mut out = Vec::new();
    let dbeta = b.op(
        Op::Train(TrainOp::BiasGrad { act_grad: None }),
        &[g],
        site.clone(),
    );
    let dgamma = b.op(
        Op::Train(TrainOp::BatchNormGradGamma {
            eps,
            act_grad: None,
        }),
        &[ins[0], ins[1], g],
        site.clone(),
    );
    if needs_dx {
        let dx = b.op(
            Op::Train(TrainOp::BatchNormGradInput {
                eps,
                act_grad: None,
                accumulate: false,
            }),
            &[ins[0], ins[1], ins[2], g, dgamma, dbeta],
            site,
        );
        out.push((ins[0], dx));
    }
    out.push((ins[2], dgamma));
    out.push((ins[3], dbeta));
    out
}
