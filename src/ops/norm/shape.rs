//! The shape rules of batch norm and its training ops, which `Op::infer`, `Op::param_shapes`
//! and `TrainOp::infer` delegate to: batch norm keeps its input's shape and owns four `[C]`
//! parameters; the batch statistics are `[3, C]` (mean, biased and unbiased variance).

use crate::ir::ops::{expect_param, image};
use crate::ir::train_ops::{chw, err, same};
use crate::ir::{Op, ParamRole, ShapeError, TensorType};

/// The type of a `[3, C]` batch-statistics tensor (`TrainOp::BatchStats`).
fn stats_of(c: usize) -> TensorType {
    TensorType::param(vec![3, c])
}

/// `Op::BatchNorm` (`op`) over `xs = [x, gamma, beta, running_mean, running_var]`: as `x`,
/// every parameter `[C]`.
pub fn forward(op: &Op, xs: &[&TensorType]) -> Result<TensorType, ShapeError> {
    let (c, _, _) = image(op, xs[0])?;
    for (x, what) in xs[1..]
        .iter()
        .zip(["weight", "bias", "running_mean", "running_var"])
    {
        expect_param(op, what, x, &TensorType::param(vec![c]))?;
    }
    Ok(xs[0].clone())
}

/// The parameters `Op::BatchNorm` (`op`) owns over the image `x`: gamma, beta and the two
/// running statistics, each `[C]`.
pub fn params(op: &Op, x: &TensorType) -> Result<Vec<(ParamRole, Vec<usize>)>, ShapeError> {
    let (c, _, _) = image(op, x)?;
    Ok([
        ParamRole::Gamma,
        ParamRole::Beta,
        ParamRole::RunningMean,
        ParamRole::RunningVar,
    ]
    .into_iter()
    .map(|r| (r, vec![c]))
    .collect())
}

/// `batch_stats(x)`: `[3, C]`.
pub fn batch_stats(x: &TensorType) -> Result<TensorType, ShapeError> {
    let (c, _, _) = chw(x, "batch_stats")?;
    Ok(stats_of(c))
}

/// `batch_norm_train(x, stats, gamma, beta)`: as `x`.
pub fn batch_norm_train(xs: &[&TensorType]) -> Result<TensorType, ShapeError> {
    let (c, _, _) = chw(xs[0], "batch_norm_train")?;
    same(xs[1], &stats_of(c), "batch_norm_train stats")?;
    same(xs[2], &TensorType::param(vec![c]), "batch_norm_train gamma")?;
    same(xs[3], &TensorType::param(vec![c]), "batch_norm_train beta")?;
    Ok(xs[0].clone())
}

/// `running_update(running, stats)` of statistics row `row`: as `running`, `[C]`.
pub fn running_update(row: usize, xs: &[&TensorType]) -> Result<TensorType, ShapeError> {
    let c = xs[0].dims.first().copied().unwrap_or(0);
    same(
        xs[0],
        &TensorType::param(vec![c]),
        "running_update statistic",
    )?;
    same(xs[1], &stats_of(c), "running_update stats")?;
    if row > 2 {
        return err(format!("running_update row {row} is not 0, 1 or 2"));
    }
    Ok(xs[0].clone())
}

/// `batch_norm_grad_input(x, stats, gamma, dy, dgamma, dbeta)`: as `x`.
pub fn batch_norm_grad_input(xs: &[&TensorType]) -> Result<TensorType, ShapeError> {
    let (c, _, _) = chw(xs[0], "batch_norm_grad_input")?;
    same(xs[1], &stats_of(c), "batch_norm_grad_input stats")?;
    same(
        xs[2],
        &TensorType::param(vec![c]),
        "batch_norm_grad_input gamma",
    )?;
    same(xs[3], xs[0], "batch_norm_grad_input dy")?;
    same(
        xs[4],
        &TensorType::param(vec![c]),
        "batch_norm_grad_input dgamma",
    )?;
    same(
        xs[5],
        &TensorType::param(vec![c]),
        "batch_norm_grad_input dbeta",
    )?;
    Ok(xs[0].clone())
}

/// `batch_norm_grad_gamma(x, stats, dy)`: `[C]`.
pub fn batch_norm_grad_gamma(xs: &[&TensorType]) -> Result<TensorType, ShapeError> {
    let (c, _, _) = chw(xs[0], "batch_norm_grad_gamma")?;
    same(xs[1], &stats_of(c), "batch_norm_grad_gamma stats")?;
    same(xs[2], xs[0], "batch_norm_grad_gamma dy")?;
    Ok(TensorType::param(vec![c]))
}
