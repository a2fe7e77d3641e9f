//! Pointwise copies: the channel slice (concat's gradient). One output element per invocation,
//! no loops. Also home of [`elementwise`], the generator shared by every
//! one-element-per-invocation training kernel (batch norm, optimizers, the activation gradients
//! of `crate::ops::activation::kernel`, global average pool's of `crate::ops::pool::grad_kernel`).

use super::super::ELEMENTWISE_WG;
use super::super::elementwise::vector_width;
use super::super::template::{Vars, render};
use super::super::{
    BindingKind, ENTRY_POINT, Elem, KernelError, KernelSource, MAX_ELEMENTS, ensure, fit_u32,
    grid_1d, storage_vars,
};

const SLICE: &str = include_str!("../../../../shaders/train/channel_slice.wgsl");

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

/// Channels `[offset, offset + channels)` of `x: [n, c_total, hw]`, as a dense
/// `y: [n, channels, hw]`.
///
/// Bindings: `x`, `y`.
pub fn channel_slice(
    n: u32,
    c_total: u32,
    hw: u32,
    offset: u32,
    channels: u32,
    elem: Elem,
) -> Result<KernelSource, KernelError> {
    const OP: &str = "channel_slice";
    ensure(OP, n > 0 && channels > 0 && hw > 0, || {
        "empty tensor".into()
    })?;
    let end = u64::from(offset) + u64::from(channels);
    ensure(OP, end <= u64::from(c_total), || {
        format!("channels [{offset}, {end}) are outside {c_total}")
    })?;
    fit_u32(
        OP,
        "input elements",
        (u64::from(n) * u64::from(c_total)).saturating_mul(u64::from(hw)),
        MAX_ELEMENTS,
    )?;
    let width = vector_width(u64::from(hw));
    let vars = Vars::new()
        .u32("C_TOTAL", c_total)
        .u32("OFFSET", offset)
        .u32("CHANNELS", channels)
        .u32("HW", hw);
    elementwise(
        OP,
        format!(
            "channel_slice_{n}x{c_total}x{hw}_{offset}+{channels}{}",
            elem.suffix()
        ),
        ("train/channel_slice.wgsl", SLICE),
        (u64::from(n) * u64::from(channels)).saturating_mul(u64::from(hw / width)),
        // A copy never converts: it reads and writes the stored type, WIDTH at a time.
        storage_vars(vars.u32("WIDTH", width), elem, width),
        1,
    )
}
