//! Optimizer updates, elementwise (`torch.optim.SGD` with dampening 0, `Adam`/`AdamW`):
//! SGD's momentum buffer and step, Adam's moment estimates and step. Each invocation reads its
//! element of every input before it writes the output, and touches no other element, so the
//! output may be the buffer being updated (in-place).
//!
//! [`sgd_update`] and [`adam_update`] are the fused forms lowering uses for a whole
//! parameter's update (`codegen::optim_fusion`): one dispatch updating the parameter and
//! its optimizer state in place, with the unfused kernels' expressions in the same order,
//! so the results are bit-identical.
//!
//! Adam's bias corrections `1 - beta^t` come from the step buffer at run time; they are
//! computed as `-expm1(t log1p(-(1 - beta)))` with series for both functions, so they keep
//! full f32 accuracy when `beta^t` is close to 1 (`1 - 0.999^1`), where the naive
//! `1 - pow(beta, t)` would lose four digits.

use crate::codegen::kernels::template::{Vars, render};
use crate::codegen::kernels::train::pointwise_grad::elementwise;
use crate::codegen::kernels::{
    BindingKind, ELEMENTWISE_WG, ENTRY_POINT, KernelError, KernelSource, MAX_ELEMENTS, ensure,
    fit_u32, grid_1d,
};

const SGD_BUFFER: &str = include_str!("sgd_buffer.wgsl");
const SGD_STEP: &str = include_str!("sgd_step.wgsl");
const ADAM_MOMENT: &str = include_str!("adam_moment.wgsl");
const ADAM_STEP: &str = include_str!("adam_step.wgsl");
const SGD_UPDATE: &str = include_str!("sgd_update.wgsl");
const ADAM_UPDATE: &str = include_str!("adam_update.wgsl");
const ADAM_BIAS_LIB: &str = include_str!("adam_bias_lib.wgsl");

/// `ln_beta` and `one_minus_exp`, the bias-correction helpers shared by [`adam_step`] and
/// [`adam_update`] so both compute `1 - beta^t` by the same expressions.
fn adam_bias_lib() -> Result<String, KernelError> {
    // Drop the trailing newline so the library splices cleanly into a template line.
    Ok(
        render("ops/optim/adam_bias_lib.wgsl", ADAM_BIAS_LIB, &Vars::new())?
            .trim_end()
            .to_string(),
    )
}

/// Adam's betas must lie in [0, 1) for the bias corrections.
fn check_betas(op: &'static str, betas: [f32; 2]) -> Result<(), KernelError> {
    for (what, beta) in [("beta1", betas[0]), ("beta2", betas[1])] {
        ensure(op, (0.0..1.0).contains(&beta), || {
            format!("{what} must be in [0, 1), got {beta}")
        })?;
    }
    Ok(())
}

fn finite(op: &'static str, what: &str, v: f32) -> Result<(), KernelError> {
    ensure(op, v.is_finite(), || {
        format!("{what} must be finite, got {v}")
    })
}

/// SGD's momentum buffer: `out = buf * momentum + (grad + weight_decay * param)`.
///
/// Bindings: `param`, `grad`, `buf`, `out` (may be `buf`).
pub fn sgd_buffer(len: u64, momentum: f32, weight_decay: f32) -> Result<KernelSource, KernelError> {
    const OP: &str = "sgd_buffer";
    finite(OP, "momentum", momentum)?;
    finite(OP, "weight decay", weight_decay)?;
    let vars = Vars::new()
        .f32("MOMENTUM", momentum)
        .f32("WEIGHT_DECAY", weight_decay);
    elementwise(
        OP,
        format!("sgd_buffer_{len}"),
        ("ops/optim/sgd_buffer.wgsl", SGD_BUFFER),
        len,
        vars,
        3,
    )
}

/// SGD's step: `out = param - lr * d` with `d = buf`, or with Nesterov
/// `d = grad + weight_decay * param + momentum * buf` (`buf` already updated).
///
/// Bindings: `param`, `grad`, `buf`, `lr` (scalar), `out` (may be `param`).
pub fn sgd_step(
    len: u64,
    momentum: f32,
    weight_decay: f32,
    nesterov: bool,
) -> Result<KernelSource, KernelError> {
    const OP: &str = "sgd_step";
    let vars = sgd_step_vars(OP, momentum, weight_decay, nesterov)?;
    elementwise(
        OP,
        format!("sgd_step_{}{len}", if nesterov { "nesterov_" } else { "" }),
        ("ops/optim/sgd_step.wgsl", SGD_STEP),
        len,
        vars,
        4,
    )
}

/// Adam's moment estimate: `out = moment * beta + (1 - beta) * g` (`square: false`) or
/// `... * g^2` (`square: true`), with `g = grad + l2 * param` (coupled weight decay; 0 for AdamW).
///
/// Bindings: `moment`, `grad`, `param`, `out` (may be `moment`).
pub fn adam_moment(
    len: u64,
    beta: f32,
    square: bool,
    l2: f32,
) -> Result<KernelSource, KernelError> {
    const OP: &str = "adam_moment";
    finite(OP, "beta", beta)?;
    finite(OP, "l2", l2)?;
    let vars = Vars::new()
        .f32("BETA", beta)
        .f32("ONE_MINUS_BETA", 1.0 - beta)
        .f32("L2", l2)
        .bool("SQUARE", square);
    elementwise(
        OP,
        format!("adam_{}_{len}", if square { "v" } else { "m" }),
        ("ops/optim/adam_moment.wgsl", ADAM_MOMENT),
        len,
        vars,
        3,
    )
}

/// Adam/AdamW's step: `p = param * (1 - lr * decoupled_wd)`, then
/// `out = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)`.
///
/// Bindings: `param`, `m`, `v`, `lr` (scalar), `step` (scalar, `t` counted from 1), `out`
/// (may be `param`).
pub fn adam_step(
    len: u64,
    beta1: f32,
    beta2: f32,
    eps: f32,
    decoupled_wd: f32,
) -> Result<KernelSource, KernelError> {
    const OP: &str = "adam_step";
    check_betas(OP, [beta1, beta2])?;
    finite(OP, "eps", eps)?;
    finite(OP, "weight decay", decoupled_wd)?;
    let vars = Vars::new()
        .f32("BETA1", beta1)
        .f32("BETA2", beta2)
        .f32("EPS", eps)
        .f32("WEIGHT_DECAY", decoupled_wd)
        .set("ADAM_BIAS_LIB", adam_bias_lib()?);
    elementwise(
        OP,
        format!("adam_step_{len}"),
        ("ops/optim/adam_step.wgsl", ADAM_STEP),
        len,
        vars,
        5,
    )
}

/// The checked constants of an SGD step, shared by [`sgd_step`] and [`sgd_update`] so
/// the fused kernel bakes in exactly the unfused one's values.
fn sgd_step_vars(
    op: &'static str,
    momentum: f32,
    weight_decay: f32,
    nesterov: bool,
) -> Result<Vars, KernelError> {
    finite(op, "momentum", momentum)?;
    finite(op, "weight decay", weight_decay)?;
    Ok(Vars::new()
        .f32("MOMENTUM", momentum)
        .f32("WEIGHT_DECAY", weight_decay)
        .bool("NESTEROV", nesterov))
}

/// SGD's whole update of `lens.len()` parameters in place, one dispatch: [`sgd_buffer`]
/// then [`sgd_step`] for each, same expressions. `buf = buf * momentum + (grad +
/// weight_decay * param)`, then `param = param - lr * d` with `d = buf`, or with Nesterov
/// `d = grad + weight_decay * param + momentum * buf`.
///
/// Bindings: `lr` (scalar), then for each parameter its `grad` (read), `param` and `buf`
/// (both read and written); with `scaled`, last, the loss scaler's state (read): the
/// gradients are divided by its scale, and a step it flags is skipped
/// (`loss_scale`).
pub fn sgd_update(
    lens: &[u64],
    momentum: f32,
    weight_decay: f32,
    nesterov: bool,
    scaled: bool,
) -> Result<KernelSource, KernelError> {
    const OP: &str = "sgd_update";
    let vars = sgd_step_vars(OP, momentum, weight_decay, nesterov)?;
    let name = format!("sgd_update_{}", if nesterov { "nesterov_" } else { "" });
    batched_update(
        OP,
        name,
        ("ops/optim/sgd_update.wgsl", SGD_UPDATE),
        lens,
        vars,
        Layout {
            shared: 1,
            writes: 2,
            scaled,
        },
    )
}

/// Adam's or AdamW's whole update of one parameter in place: both [`adam_moment`]s then
/// [`adam_step`] in one dispatch, same expressions. With `g = grad + l2 * param`:
/// `m = m * beta1 + (1 - beta1) * g`, `v = v * beta2 + (1 - beta2) * g^2`, then
/// `param = param * (1 - lr * decoupled_wd) - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)`.
/// Adam passes its weight decay as `l2`, AdamW as `decoupled_wd`.
///
/// Bindings: `lr` (scalar), `step` (scalar, `t` counted from 1), then for each parameter
/// its `grad`, `param`, `m` and `v`, the last three read and written; with `scaled`, last,
/// the loss scaler's state, as in [`sgd_update`].
pub fn adam_update(
    lens: &[u64],
    [beta1, beta2]: [f32; 2],
    eps: f32,
    l2: f32,
    decoupled_wd: f32,
    scaled: bool,
) -> Result<KernelSource, KernelError> {
    const OP: &str = "adam_update";
    check_betas(OP, [beta1, beta2])?;
    finite(OP, "eps", eps)?;
    finite(OP, "l2", l2)?;
    finite(OP, "weight decay", decoupled_wd)?;
    // The same f32 constants the unfused kernels bake in (`1 - beta` rounded once).
    let vars = Vars::new()
        .f32("BETA1", beta1)
        .f32("ONE_MINUS_BETA1", 1.0 - beta1)
        .f32("BETA2", beta2)
        .f32("ONE_MINUS_BETA2", 1.0 - beta2)
        .f32("L2", l2)
        .f32("EPS", eps)
        .f32("WEIGHT_DECAY", decoupled_wd)
        .set("ADAM_BIAS_LIB", adam_bias_lib()?);
    let kind = if decoupled_wd != 0.0 { "adamw" } else { "adam" };
    batched_update(
        OP,
        format!("{kind}_update_"),
        ("ops/optim/adam_update.wgsl", ADAM_UPDATE),
        lens,
        vars,
        Layout {
            shared: 2,
            writes: 3,
            scaled,
        },
    )
}

/// A fused update of `lens.len()` parameters: `shared` scalar bindings, then per parameter
/// its gradient (read) and `writes` buffers updated in place, and with `scaled` the loss
/// scaler's state (read). Named `{prefix}x{count}_{total elements}` (`_scaled` after the
/// prefix when scaled); one invocation per element index of the longest parameter.
/// `vars` plus what a kernel over `lens.len()` parameters (or gradients) of these lengths,
/// one invocation per element index of the longest, declares: `PARAMS` (a count and a loop
/// bound), `LENS`, `TOTAL`, `WG`, `GRID_X`; and its grid.
pub(crate) fn per_param_vars(
    op: &'static str,
    vars: Vars,
    lens: &[u64],
) -> Result<(Vars, [u32; 3]), KernelError> {
    ensure(op, !lens.is_empty() && lens.iter().all(|&l| l > 0), || {
        format!("every parameter must have elements: {lens:?}")
    })?;
    let longest = *lens.iter().max().expect("not empty");
    let total = fit_u32(op, "elements", longest, MAX_ELEMENTS)?;
    let workgroups = grid_1d(op, longest.div_ceil(u64::from(ELEMENTWISE_WG)))?;
    let list = lens
        .iter()
        .map(|&l| format!("{l}u"))
        .collect::<Vec<_>>()
        .join(", ");
    let vars = vars
        .count("PARAMS", lens.len() as u32)
        .u32("PARAMS", lens.len() as u32)
        .set("LENS", list)
        .u32("TOTAL", total)
        .u32("WG", ELEMENTWISE_WG)
        .u32("GRID_X", workgroups[0]);
    Ok((vars, workgroups))
}

/// The bindings of a fused update: see [`batched_update`].
struct Layout {
    shared: usize,
    writes: usize,
    scaled: bool,
}

fn batched_update(
    op: &'static str,
    prefix: String,
    (file, template): (&str, &str),
    lens: &[u64],
    vars: Vars,
    Layout {
        shared,
        writes,
        scaled,
    }: Layout,
) -> Result<KernelSource, KernelError> {
    let (vars, workgroups) = per_param_vars(op, vars, lens)?;
    let mut bindings = vec![BindingKind::ReadOnly; shared];
    for _ in lens {
        bindings.push(BindingKind::ReadOnly);
        bindings.extend(std::iter::repeat_n(BindingKind::ReadWrite, writes));
    }
    let vars = vars
        .flag("SCALED", scaled)
        .set("UNSCALE", if scaled { " * (1.0 / scaler[0])" } else { "" });
    let vars = if scaled {
        let at = bindings.len() as u32;
        bindings.push(BindingKind::ReadOnly);
        vars.u32("SCALER_BINDING", at)
    } else {
        vars
    };
    let prefix = if scaled {
        format!("{prefix}scaled_")
    } else {
        prefix
    };
    Ok(KernelSource {
        name: format!("{prefix}x{}_{}", lens.len(), lens.iter().sum::<u64>()),
        wgsl: render(file, template, &vars)?,
        entry: ENTRY_POINT,
        workgroups,
        workgroup_size: [ELEMENTWISE_WG, 1, 1],
        bindings,
    })
}
