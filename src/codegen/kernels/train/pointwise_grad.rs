//! [`elementwise`], the generator shared by every one-element-per-invocation training kernel
//! (batch norm, optimizers, the activation gradients of `crate::ops::activation::kernel`, global
//! average pool's of `crate::ops::pool::grad_kernel`, the channel slice of
//! `crate::ops::elementwise::grad_kernel`).

use super::super::ELEMENTWISE_WG;
use super::super::template::{Vars, render};
use super::super::{
    BindingKind, ENTRY_POINT, KernelError, KernelSource, MAX_ELEMENTS, ensure, fit_u32, grid_1d,
};

/// A kernel with one invocation per output element, `len` of them: renders `template`
/// (`(file name, text)`) with `vars` plus `TOTAL`, `WG` and `GRID_X`; the bindings are `inputs`
/// read-only buffers and the output.
pub(crate) fn elementwise(
    op: &'static str,
    name: String,
    template: (&str, &str),
    len: u64,
    vars: Vars,
    inputs: usize,
) -> Result<KernelSource, KernelError> {
    elementwise_in_place(op, name, template, len, vars, inputs, 1)
}

/// [`elementwise`] with `outputs` read-write bindings after the `inputs` read-only ones:
/// kernels that update several buffers in place (the fused optimizer updates).
pub(crate) fn elementwise_in_place(
    op: &'static str,
    name: String,
    (file, template): (&str, &str),
    len: u64,
    vars: Vars,
    inputs: usize,
    outputs: usize,
) -> Result<KernelSource, KernelError> {
    ensure(op, len > 0, || "tensor is empty".into())?;
    let total = fit_u32(op, "elements", len, MAX_ELEMENTS)?;
    let workgroups = grid_1d(op, len.div_ceil(u64::from(ELEMENTWISE_WG)))?;
    let vars = vars
        .u32("TOTAL", total)
        .u32("WG", ELEMENTWISE_WG)
        .u32("GRID_X", workgroups[0]);
    let mut bindings = vec![BindingKind::ReadOnly; inputs];
    bindings.extend(std::iter::repeat_n(BindingKind::ReadWrite, outputs));
    Ok(KernelSource {
        name,
        wgsl: render(file, template, &vars)?,
        entry: ENTRY_POINT,
        workgroups,
        workgroup_size: [ELEMENTWISE_WG, 1, 1],
        bindings,
    })
}
