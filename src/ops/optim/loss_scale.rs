//! Dynamic loss scaling for mixed-precision steps, with PyTorch GradScaler's semantics.
//!
//! In a step whose activations and gradients are stored as f16, the loss gradient is multiplied by
//! a scale (`ops::loss::train_kernel::softmax_cross_entropy_grad` with `scaled`), so that small
//! gradients survive f16 storage; every parameter gradient then carries that factor. Before any
//! parameter is updated, [`grads_finite`] raises a flag when some gradient element is an inf or a
//! NaN; the fused optimizer updates (`optim::sgd_update`, `optim::adam_update` with `scaled`)
//! divide each gradient by the scale and change nothing when the flag is up; and
//! [`loss_scale_update`], the step's last dispatch, halves the scale after a skipped step or
//! doubles it after [`GradScaler::growth_interval`] clean steps in a row. All of it stays on the
//! device: no read-back, and the step is still one submission.

use super::kernel::per_param_vars;
use crate::codegen::kernels::template::{Vars, render};
use crate::codegen::kernels::{
    BindingKind, ELEMENTWISE_WG, ENTRY_POINT, KernelError, KernelSource, ensure,
};

const FINITE: &str = include_str!("grads_finite.wgsl");
const UPDATE: &str = include_str!("loss_scale_update.wgsl");

/// GradScaler's settings (PyTorch's defaults in [`GradScaler::default`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GradScaler {
    /// The scale of the first step.
    pub init_scale: f32,
    /// Factor after `growth_interval` clean steps.
    pub growth_factor: f32,
    /// Factor after a step with a non-finite gradient.
    pub backoff_factor: f32,
    /// Clean steps in a row before the scale grows.
    pub growth_interval: u32,
}

impl Default for GradScaler {
    fn default() -> Self {
        Self {
            init_scale: 65536.0,
            growth_factor: 2.0,
            backoff_factor: 0.5,
            growth_interval: 2000,
        }
    }
}

impl GradScaler {
    /// The scaler's state before the first step: `[scale, clean steps, flag, skipped steps]`.
    pub fn initial_state(&self) -> Vec<f32> {
        vec![self.init_scale, 0.0, 0.0, 0.0]
    }
}

/// Words of the scaler's state buffer.
pub const STATE_LEN: usize = 4;

/// Raises the state's found-non-finite flag if any element of the `lens.len()` gradients is
/// an inf or a NaN. Bindings: each gradient (read), then the scaler's state (written).
pub fn grads_finite(lens: &[u64]) -> Result<KernelSource, KernelError> {
    const OP: &str = "grads_finite";
    let (vars, workgroups) = per_param_vars(OP, Vars::new(), lens)?;
    let mut bindings = vec![BindingKind::ReadOnly; lens.len()];
    bindings.push(BindingKind::ReadWrite);
    Ok(KernelSource {
        name: format!("grads_finite_x{}_{}", lens.len(), lens.iter().sum::<u64>()),
        wgsl: render("ops/optim/grads_finite.wgsl", FINITE, &vars)?,
        entry: ENTRY_POINT,
        workgroups,
        workgroup_size: [ELEMENTWISE_WG, 1, 1],
        bindings,
    })
}

/// The scale update that ends a scaled step. Bindings: the scaler's state, `skipped` (a
/// scalar: 1 when this step's updates were skipped), both written.
pub fn loss_scale_update(s: &GradScaler) -> Result<KernelSource, KernelError> {
    const OP: &str = "loss_scale_update";
    ensure(
        OP,
        s.growth_factor.is_finite()
            && s.growth_factor >= 1.0
            && s.backoff_factor > 0.0
            && s.backoff_factor < 1.0
            && s.growth_interval > 0,
        || format!("growth factor >= 1, backoff in (0, 1) and a positive interval, got {s:?}"),
    )?;
    let vars = Vars::new()
        .f32("GROWTH", s.growth_factor)
        .f32("BACKOFF", s.backoff_factor)
        .f32("GROWTH_INTERVAL", s.growth_interval as f32);
    Ok(KernelSource {
        name: format!("loss_scale_update_every{}", s.growth_interval),
        wgsl: render("ops/optim/loss_scale_update.wgsl", UPDATE, &vars)?,
        entry: ENTRY_POINT,
        workgroups: [1, 1, 1],
        workgroup_size: [1, 1, 1],
        bindings: vec![BindingKind::ReadWrite, BindingKind::ReadWrite],
    })
}
