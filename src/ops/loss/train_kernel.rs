//! The loss and its companions over logits `[n, k]` and labels `[n]` (f32 class ids):
//! mean softmax cross-entropy, its gradient with respect to the logits, and the number of
//! correct predictions (`cross_entropy.wgsl`, `cross_entropy_grad.wgsl`, `correct_count.wgsl`,
//! beside this file).
//!
//! The two batch sums (loss, count) run in a single workgroup: each invocation walks a strided
//! share of the rows (at most `n / 256` of them, so a batch of 2,048 costs 8 rows per
//! invocation), then a shared-memory tree adds the invocations' results in a fixed order. No
//! atomics: the results are deterministic. Every exponential goes through the activation
//! library's `exp_accurate` (2 ulp), not the driver's `exp` (Vulkan allows 3 + 2|a| ulp).

use crate::codegen::kernels::template::{Vars, render};
use crate::codegen::kernels::{
    BindingKind, ELEMENTWISE_WG, ENTRY_POINT, Elem, KernelError, KernelSource, MAX_ELEMENTS,
    check_loops, ensure, fit_u32, grid_1d, reduction_wg, storage_vars,
};
use crate::ops::activation;

const LOSS: &str = include_str!("cross_entropy.wgsl");
const GRAD: &str = include_str!("cross_entropy_grad.wgsl");
const COUNT: &str = include_str!("correct_count.wgsl");

fn check_shape(op: &'static str, n: u32, k: u32) -> Result<(), KernelError> {
    ensure(op, n > 0 && k > 0, || "empty logits".into())?;
    fit_u32(op, "logits", u64::from(n) * u64::from(k), MAX_ELEMENTS)?;
    Ok(())
}

/// A single-workgroup batch sum: `per_row` loop iterations for each row.
fn batch_sum(
    op: &'static str,
    (file, template): (&str, &str),
    n: u32,
    k: u32,
    per_row: u64,
    exp_lib: bool,
    elem: Elem,
) -> Result<KernelSource, KernelError> {
    check_shape(op, n, k)?;
    let wg = reduction_wg(n);
    check_loops(
        op,
        u64::from(n.div_ceil(wg)) * (per_row + 1) + u64::from(wg.trailing_zeros()) + 1,
    )?;
    let mut vars = storage_vars(Vars::new(), elem, 1)
        .u32("ROWS", n)
        .u32("K", k)
        .u32("WG", wg);
    if exp_lib {
        vars = vars.set("ACTIVATION_LIB", activation::wgsl_library(None, 1)?);
    }
    Ok(KernelSource {
        name: format!("{op}_{n}x{k}{}", elem.suffix()),
        wgsl: render(file, template, &vars)?,
        entry: ENTRY_POINT,
        workgroups: [1, 1, 1],
        workgroup_size: [wg, 1, 1],
        bindings: vec![
            BindingKind::ReadOnly,
            BindingKind::ReadOnly,
            BindingKind::ReadWrite,
        ],
    })
}

/// Mean softmax cross-entropy of `n` rows of `k` logits (`F.cross_entropy`).
///
/// Bindings: `logits [n, k]` (stored as `elem`), `labels [n]`, `loss` (scalar).
pub fn softmax_cross_entropy(n: u32, k: u32, elem: Elem) -> Result<KernelSource, KernelError> {
    // Per row: a max sweep and a sum-of-exp sweep.
    batch_sum(
        "softmax_cross_entropy",
        ("ops/loss/cross_entropy.wgsl", LOSS),
        n,
        k,
        2 * u64::from(k),
        true,
        elem,
    )
}

/// Gradient of the mean cross-entropy: `dlogits = (softmax(logits) - onehot(labels)) / n`.
/// One invocation per row.
///
/// Bindings: `logits [n, k]`, `labels [n]`, `dlogits [n, k]`; the logits and their gradient
/// stored as `elem`. With `scaled`, one more binding before `dlogits`: the loss scaler's state
/// (`scaler[0]` is the scale, see `optim::loss_scale_update`), and the gradient is that of the
/// loss times the scale — the seed of dynamic loss scaling, so that small gradients survive
/// f16 storage.
pub fn softmax_cross_entropy_grad(
    n: u32,
    k: u32,
    elem: Elem,
    scaled: bool,
) -> Result<KernelSource, KernelError> {
    const OP: &str = "softmax_cross_entropy_grad";
    check_shape(OP, n, k)?;
    // Max, sum of exp, write.
    check_loops(OP, 3 * u64::from(k))?;
    let workgroups = grid_1d(OP, u64::from(n).div_ceil(u64::from(ELEMENTWISE_WG)))?;
    let vars = Vars::new()
        .u32("ROWS", n)
        .u32("K", k)
        .u32("WG", ELEMENTWISE_WG)
        .u32("GRID_X", workgroups[0])
        .set("ACTIVATION_LIB", activation::wgsl_library(None, 1)?)
        .flag("SCALED", scaled);
    let vars = storage_vars(vars, elem, 1);
    let mut bindings = vec![BindingKind::ReadOnly; 2 + usize::from(scaled)];
    bindings.push(BindingKind::ReadWrite);
    Ok(KernelSource {
        name: format!(
            "{OP}_{n}x{k}{}{}",
            if scaled { "_scaled" } else { "" },
            elem.suffix()
        ),
        wgsl: render("ops/loss/cross_entropy_grad.wgsl", GRAD, &vars)?,
        entry: ENTRY_POINT,
        workgroups,
        workgroup_size: [ELEMENTWISE_WG, 1, 1],
        bindings,
    })
}

/// Number of rows whose first maximum (as `torch.argmax`) is the label, as an f32.
///
/// Bindings: `logits [n, k]` (stored as `elem`), `labels [n]`, `count` (scalar).
pub fn correct_count(n: u32, k: u32, elem: Elem) -> Result<KernelSource, KernelError> {
    batch_sum(
        "correct_count",
        ("ops/loss/correct_count.wgsl", COUNT),
        n,
        k,
        u64::from(k),
        false,
        elem,
    )
}
