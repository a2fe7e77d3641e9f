//! Training-mode batch norm: batch statistics, the normalisation with them, the running
//! statistics update, and the two gradients (`dgamma`, `dx`; `dbeta` is a bias gradient),
//! rendering the templates beside this file.
//!
//! The two per-channel sums over N*H*W values ([`batch_stats`], [`bn_grad_gamma`]) are
//! [`Reduction`]s, cut into chunks as every per-channel reduction is (`reduce::chunks` in
//! `codegen::kernels::train`). The first pass gives each workgroup one chunk of one channel (at
//! most [`PER_INVOCATION`](crate::codegen::kernels::train::reduce::PER_INVOCATION) values per
//! invocation, strided so neighbours read neighbours) and writes a partial result per chunk; the
//! second pass gives each channel one workgroup that combines the chunk results in a fixed order
//! (a strided walk, then a shared-memory tree). No atomics, so the results are bit-for-bit
//! deterministic.
//!
//! The statistics are numerically sound when `|mean| >> std`: each chunk computes its own mean,
//! then the sum of squared deviations from it (a corrected two-pass, Björck's
//! `sum d^2 - (sum d)^2 / n`), and the finish combines the chunks' `(count, mean, M2)` with Chan
//! et al.'s parallel formula. No step subtracts two large sums of squares.

use crate::codegen::kernels::elementwise::{vector_width, width_vars_flagged};
use crate::codegen::kernels::template::{Vars, render};
use crate::codegen::kernels::train::pointwise_grad::{elementwise, elementwise_in_place};
use crate::codegen::kernels::train::reduce::{
    ChunkLanes, channel_sum_finish, chunk_vars, chunks, read_then_write, through,
};
use crate::codegen::kernels::{
    BindingKind, ENTRY_POINT, Elem, KernelError, KernelSource, MAX_ELEMENTS, Reduction, ensure,
    fit_u32, storage_vars,
};
use crate::ops::activation::{self, Activation};

const STATS_PARTIAL: &str = include_str!("batch_stats_partial.wgsl");
const STATS_FINISH: &str = include_str!("batch_stats_finish.wgsl");
const GAMMA_PARTIAL: &str = include_str!("bn_grad_gamma_partial.wgsl");
const BN_TRAIN: &str = include_str!("batch_norm_train.wgsl");
const RUNNING_PAIR: &str = include_str!("running_update_pair.wgsl");
const RUNNING: &str = include_str!("running_update.wgsl");
const BN_GRAD_INPUT: &str = include_str!("bn_grad_input.wgsl");

fn check_eps(op: &'static str, eps: f32) -> Result<(), KernelError> {
    ensure(op, eps.is_finite() && eps >= 0.0, || {
        format!("eps must be finite and >= 0, got {eps}")
    })
}

/// Per-channel statistics of `x: [n, c, h, w]` over N, H and W: `stats [3, c]` = mean, biased
/// variance, unbiased variance (`ir::train_ops::TrainOp::BatchStats`).
///
/// Bindings: partial `x`, `scratch`; finish `scratch`, `stats`.
pub fn batch_stats(n: u32, c: u32, h: u32, w: u32) -> Result<Reduction, KernelError> {
    batch_stats_lanes(n, c, h, w, None, Elem::F32)
}

/// [`batch_stats`] with `lanes` invocations per chunk ([`ChunkLanes`]), of an `x` stored as
/// `elem`.
pub fn batch_stats_lanes(
    n: u32,
    c: u32,
    h: u32,
    w: u32,
    lanes: ChunkLanes,
    elem: Elem,
) -> Result<Reduction, KernelError> {
    const OP: &str = "batch_stats";
    let k = chunks(OP, n, c, h, w, lanes)?;
    let partial_vars = chunk_vars(&k, k.partial_grid, elem)?.u32("WG", k.wg);
    let finish_vars = Vars::new()
        .u32("CHANNELS", k.c)
        .u32("M", k.m)
        .u32("CHUNK", k.chunk)
        .u32("CHUNKS", k.chunks)
        .u32("GRID_X", k.finish_grid[0])
        .u32("WG", k.finish_wg);
    let shape = format!("{n}x{c}x{h}x{w}");
    Ok(Reduction {
        partial: KernelSource {
            name: format!("batch_stats_partial_{shape}{}", elem.suffix()),
            wgsl: render(
                "ops/norm/batch_stats_partial.wgsl",
                STATS_PARTIAL,
                &partial_vars,
            )?,
            entry: ENTRY_POINT,
            workgroups: k.partial_grid,
            workgroup_size: [k.wg, 1, 1],
            bindings: vec![BindingKind::ReadOnly, BindingKind::ReadWrite],
        },
        finish: KernelSource {
            name: format!("batch_stats_finish_{shape}"),
            wgsl: render(
                "ops/norm/batch_stats_finish.wgsl",
                STATS_FINISH,
                &finish_vars,
            )?,
            entry: ENTRY_POINT,
            workgroups: k.finish_grid,
            workgroup_size: [k.finish_wg, 1, 1],
            bindings: vec![BindingKind::ReadOnly, BindingKind::ReadWrite],
        },
        scratch_len: 2 * u64::from(k.c) * u64::from(k.chunks),
    })
}

/// Training-mode batch norm with the batch's statistics and an optional fused activation:
/// `y = act((x - mean) / sqrt(var_biased + eps) * gamma + beta)`.
///
/// Bindings: `x`, `stats [3, c]`, `gamma`, `beta`, `y`.
pub fn batch_norm_train(
    n: u32,
    c: u32,
    h: u32,
    w: u32,
    eps: f32,
    act: Option<Activation>,
    elem: Elem,
) -> Result<KernelSource, KernelError> {
    const OP: &str = "batch_norm_train";
    ensure(OP, n > 0 && c > 0 && h > 0 && w > 0, || {
        "empty tensor".into()
    })?;
    check_eps(OP, eps)?;
    let hw = u64::from(h) * u64::from(w);
    let len = (u64::from(n) * u64::from(c)).saturating_mul(hw);
    let width = vector_width(hw);
    let vars = Vars::new()
        .u32("CHANNELS", c)
        .u32("HW", fit_u32(OP, "plane", hw, MAX_ELEMENTS)?)
        .f32("EPS", eps)
        .set("ACTIVATION_LIB", activation::wgsl_library(act, width)?);
    let fused = act.map(|a| format!("{}_", a.name())).unwrap_or_default();
    fit_u32(OP, "elements", len, MAX_ELEMENTS)?;
    elementwise(
        OP,
        format!("batch_norm_train_{fused}{n}x{c}x{h}x{w}{}", elem.suffix()),
        ("ops/norm/batch_norm_train.wgsl", BN_TRAIN),
        len / u64::from(width),
        storage_vars(width_vars_flagged(vars, width), elem, width),
        4,
    )
}

/// PyTorch's running-statistics update,
/// `out = running * (1 - momentum) + stats[row] * momentum`, over `c` channels.
///
/// Bindings: `running [c]`, `stats [3, c]`, `out [c]` (may be `running` itself).
pub fn running_update(c: u32, momentum: f32, row: u32) -> Result<KernelSource, KernelError> {
    const OP: &str = "running_update";
    ensure(OP, c > 0, || "no channels".into())?;
    ensure(OP, momentum.is_finite(), || {
        format!("momentum must be finite, got {momentum}")
    })?;
    ensure(OP, row <= 2, || format!("stats row {row} is not 0, 1 or 2"))?;
    fit_u32(OP, "stats", 3 * u64::from(c), MAX_ELEMENTS)?;
    let vars = Vars::new()
        .u32("CHANNELS", c)
        .u32("ROW", row)
        .f32("MOMENTUM", momentum);
    elementwise(
        OP,
        format!("running_update_{c}_row{row}"),
        ("ops/norm/running_update.wgsl", RUNNING),
        u64::from(c),
        vars,
        2,
    )
}

/// Both running-statistics updates of a batch norm in one dispatch, in place: rows `rows[0]`
/// and `rows[1]` of `stats` into `running_a` and `running_b`, each as [`running_update`]
/// computes it (bit-identical).
///
/// Bindings: `stats [3, c]`, then `running_a [c]` and `running_b [c]`, read and written.
pub fn running_update_pair(
    c: u32,
    momentum: f32,
    rows: [u32; 2],
) -> Result<KernelSource, KernelError> {
    const OP: &str = "running_update_pair";
    ensure(OP, c > 0, || "no channels".into())?;
    ensure(OP, momentum.is_finite(), || {
        format!("momentum must be finite, got {momentum}")
    })?;
    ensure(OP, rows.iter().all(|&r| r <= 2), || {
        format!("stats rows {rows:?} must be 0, 1 or 2")
    })?;
    fit_u32(OP, "stats", 3 * u64::from(c), MAX_ELEMENTS)?;
    let vars = Vars::new()
        .u32("CHANNELS", c)
        .u32("ROW_A", rows[0])
        .u32("ROW_B", rows[1])
        .f32("MOMENTUM", momentum);
    elementwise_in_place(
        OP,
        format!("running_update_pair_{c}_rows{}{}", rows[0], rows[1]),
        ("ops/norm/running_update_pair.wgsl", RUNNING_PAIR),
        u64::from(c),
        vars,
        1,
        2,
    )
}

/// `dgamma[c] = sum over N, H, W of dy * (x - mean) / sqrt(var_biased + eps)`.
///
/// Bindings: partial `x`, `stats [3, c]`, `dy`, `scratch`; finish `scratch`, `dgamma [c]`.
///
/// With `act_grad` other than the identity, `dy` is the gradient of a fused activation's output
/// `y` (one more binding after `dy`) and is used as `dy * act'(y)`.
pub fn bn_grad_gamma(
    n: u32,
    c: u32,
    h: u32,
    w: u32,
    eps: f32,
    act_grad: Option<Activation>,
    elem: Elem,
) -> Result<Reduction, KernelError> {
    gamma_reduction(
        "bn_grad_gamma",
        [n, c, h, w],
        eps,
        act_grad,
        false,
        None,
        elem,
    )
}

/// Both parameter gradients of a training-mode batch norm in one reduction: `dgamma` as
/// [`bn_grad_gamma`] computes it (the same sums in the same order) and `dbeta[c] = sum of dy`
/// from the same sweep over `dy`. Lowering uses it where the graph asks for both from the
/// same `dy` (see `codegen::bn_grad_pairs`).
///
/// Bindings: partial as [`bn_grad_gamma`]'s; finish `scratch`, `dgamma [c]`, `dbeta [c]`.
pub fn bn_grad_params(
    n: u32,
    c: u32,
    h: u32,
    w: u32,
    eps: f32,
    act_grad: Option<Activation>,
) -> Result<Reduction, KernelError> {
    bn_grad_params_lanes([n, c, h, w], eps, act_grad, None, Elem::F32)
}

/// [`bn_grad_params`] of `x: [n, c, h, w]` with `lanes` invocations per chunk
/// ([`ChunkLanes`]), its activations (`x`, `dy`, `y`) stored as `elem`.
pub fn bn_grad_params_lanes(
    x: [u32; 4],
    eps: f32,
    act_grad: Option<Activation>,
    lanes: ChunkLanes,
    elem: Elem,
) -> Result<Reduction, KernelError> {
    gamma_reduction("bn_grad_params", x, eps, act_grad, true, lanes, elem)
}

fn gamma_reduction(
    op: &'static str,
    [n, c, h, w]: [u32; 4],
    eps: f32,
    act_grad: Option<Activation>,
    beta: bool,
    lanes: ChunkLanes,
    elem: Elem,
) -> Result<Reduction, KernelError> {
    check_eps(op, eps)?;
    let k = chunks(op, n, c, h, w, lanes)?;
    let partial_vars = chunk_vars(&k, k.partial_grid, elem)?
        .u32("WG", k.wg)
        .f32("EPS", eps)
        .flag("VEC4", k.width == 4)
        .flag("ACT_GRAD", act_grad.is_some())
        .flag("BETA", beta)
        .set(
            "ACT_GRAD_LIB",
            activation::wgsl_grad_library(act_grad, k.width)?,
        );
    let shape = format!("{n}x{c}x{h}x{w}");
    Ok(Reduction {
        partial: KernelSource {
            name: format!("{op}_partial{}_{shape}{}", through(act_grad), elem.suffix()),
            wgsl: render(
                "ops/norm/bn_grad_gamma_partial.wgsl",
                GAMMA_PARTIAL,
                &partial_vars,
            )?,
            entry: ENTRY_POINT,
            workgroups: k.partial_grid,
            workgroup_size: [k.wg, 1, 1],
            bindings: read_then_write(3 + usize::from(act_grad.is_some())),
        },
        finish: channel_sum_finish(op, format!("{op}_finish_{shape}"), &k, beta)?,
        // dgamma's block, and with `beta` dbeta's after it.
        scratch_len: u64::from(k.c) * u64::from(k.chunks) * if beta { 2 } else { 1 },
    })
}

/// Gradient of training-mode batch norm with respect to its input,
/// `dx = gamma * invstd / M * (M dy - dbeta - xhat * dgamma)` with `M = n*h*w`; with
/// `act_grad`, `dy` is read as `dy * act'(y)` from one more binding `y` after `dbeta`; with
/// `accumulate`, one more binding `addend` (shaped like dx) is added to dx.
///
/// Bindings: `x`, `stats [3, c]`, `gamma`, `dy`, `dgamma`, `dbeta`, [`y`], [`addend`], `dx`.
#[allow(clippy::too_many_arguments)] // the op's attributes, one argument each
pub fn bn_grad_input(
    n: u32,
    c: u32,
    h: u32,
    w: u32,
    eps: f32,
    act_grad: Option<Activation>,
    accumulate: bool,
    elem: Elem,
) -> Result<KernelSource, KernelError> {
    const OP: &str = "bn_grad_input";
    ensure(OP, n > 0 && c > 0 && h > 0 && w > 0, || {
        "empty tensor".into()
    })?;
    check_eps(OP, eps)?;
    let hw = u64::from(h) * u64::from(w);
    let len = (u64::from(n) * u64::from(c)).saturating_mul(hw);
    let width = vector_width(hw);
    let vars = Vars::new()
        .u32("CHANNELS", c)
        .u32("HW", fit_u32(OP, "plane", hw, MAX_ELEMENTS)?)
        .u32(
            "M",
            fit_u32(OP, "values per channel", u64::from(n) * hw, MAX_ELEMENTS)?,
        )
        .f32("EPS", eps)
        .flag("ACT_GRAD", act_grad.is_some())
        .set(
            "ACT_GRAD_LIB",
            activation::wgsl_grad_library(act_grad, width)?,
        );
    let reads = 6 + usize::from(act_grad.is_some());
    let vars = vars
        .flag("ACCUMULATE", accumulate)
        .set("ADDEND_BINDING", reads)
        .set("DX_BINDING", reads + usize::from(accumulate));
    fit_u32(OP, "elements", len, MAX_ELEMENTS)?;
    elementwise(
        OP,
        format!(
            "bn_grad_input{}_{n}x{c}x{h}x{w}{}{}",
            through(act_grad),
            if accumulate { "_acc" } else { "" },
            elem.suffix()
        ),
        ("ops/norm/bn_grad_input.wgsl", BN_GRAD_INPUT),
        len / u64::from(width),
        storage_vars(width_vars_flagged(vars, width), elem, width),
        reads + usize::from(accumulate),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_channels_are_split_into_chunks() {
        let r = batch_stats(130, 2, 32, 32).expect("stats");
        // 133,120 values per channel in chunks of 4,096.
        assert_eq!(r.scratch_len, 2 * 2 * 33);
        assert_eq!(r.partial.workgroups, [66, 1, 1]);
        assert_eq!(r.finish.workgroups, [2, 1, 1]);
        let g = bn_grad_gamma(1, 3, 2, 2, 1e-5, None, Elem::F32).expect("gamma");
        assert_eq!(g.scratch_len, 3);
        // A CPU driver's 8 lanes per chunk: the same chunks, one SIMD group each.
        let r8 = batch_stats_lanes(130, 2, 32, 32, Some(8), Elem::F32).expect("stats");
        assert_eq!(r8.scratch_len, r.scratch_len);
        assert_eq!(r8.partial.workgroups, r.partial.workgroups);
        assert_eq!(r8.partial.workgroup_size, [8, 1, 1]);
    }

    #[test]
    fn bad_parameters_are_errors() {
        assert!(batch_stats(0, 1, 1, 1).is_err());
        assert!(batch_norm_train(1, 1, 1, 1, f32::NAN, None, Elem::F32).is_err());
        assert!(running_update(4, 0.1, 3).is_err());
        assert!(bn_grad_gamma(1, 1, 1, 1, -1.0, None, Elem::F32).is_err());
        assert!(bn_grad_input(1, u32::MAX, u32::MAX, 2, 1e-5, None, false, Elem::F32).is_err());
    }
}
