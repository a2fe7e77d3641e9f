//! Batch normalisation in eval mode (`batch_norm.wgsl`, beside this file), PyTorch's
//! `nn.BatchNorm2d` with `model.eval()`: running statistics, no update. An activation can be
//! fused because in every seed model BN is followed by one (BN-act is the hot memory-bound pair
//! in DenseNet).

use crate::codegen::kernels::template::{Vars, render};
use crate::codegen::kernels::{
    BindingKind, ELEMENTWISE_WG, ENTRY_POINT, Elem, KernelError, KernelSource, MAX_ELEMENTS,
    ensure, fit_u32, grid_1d, storage_vars,
};
use crate::ops::activation::{self, Activation};

const TEMPLATE: &str = include_str!("batch_norm.wgsl");

/// Generates eval-mode batch norm over an NCHW tensor `[batch, channels, h, w]`.
///
/// Bindings: `x`, `running_mean`, `running_var`, `gamma` (weight), `beta` (bias), all `[channels]`
/// except `x`, then `y`.
pub fn batch_norm(
    batch: u32,
    channels: u32,
    h: u32,
    w: u32,
    eps: f32,
    activation: Option<Activation>,
    elem: Elem,
) -> Result<KernelSource, KernelError> {
    const OP: &str = "batch_norm";
    ensure(OP, batch > 0 && channels > 0 && h > 0 && w > 0, || {
        "empty tensor".into()
    })?;
    ensure(OP, eps.is_finite() && eps >= 0.0, || {
        format!("eps must be finite and >= 0, got {eps}")
    })?;
    let hw = u64::from(h) * u64::from(w);
    let len = u64::from(batch) * u64::from(channels) * hw;
    let total = fit_u32(OP, "elements", len, MAX_ELEMENTS)?;
    let workgroups = grid_1d(OP, len.div_ceil(u64::from(ELEMENTWISE_WG)))?;
    let vars = Vars::new()
        .u32("TOTAL", total)
        .u32("CHANNELS", channels)
        .u32("HW", hw as u32)
        .f32("EPS", eps)
        .u32("WG", ELEMENTWISE_WG)
        .u32("GRID_X", workgroups[0])
        .set("ACTIVATION_LIB", activation::wgsl_library(activation, 1)?);
    let vars = storage_vars(vars, elem, 1);
    let mut bindings = vec![BindingKind::ReadOnly; 5];
    bindings.push(BindingKind::ReadWrite);
    Ok(KernelSource {
        name: format!(
            "batch_norm_{}_{batch}x{channels}x{h}x{w}{}",
            activation::kernel_name(activation),
            elem.suffix()
        ),
        wgsl: render("ops/norm/batch_norm.wgsl", TEMPLATE, &vars)?,
        entry: ENTRY_POINT,
        workgroups,
        workgroup_size: [ELEMENTWISE_WG, 1, 1],
        bindings,
    })
}
