//! The elementwise kernels over whole tensors: add with an optional fused activation
//! (`add.wgsl`, beside this file) and the channel-concat copy (`concat.wgsl`). Both read
//! `codegen::kernels::elementwise::vector_width` elements per invocation.
//!
//! Concat is normally free: producers such as conv2d write straight into their channel slice of
//! the concat buffer. [`concat_channels`] is the fallback copy for producers that cannot (for
//! example a graph input, or a pool whose output is reused elsewhere).

use crate::codegen::kernels::elementwise::{vector_width, width_vars_flagged};
use crate::codegen::kernels::template::{Vars, render};
use crate::codegen::kernels::{
    BindingKind, ELEMENTWISE_WG, ENTRY_POINT, Elem, KernelError, KernelSource, MAX_ELEMENTS,
    ensure, fit_u32, grid_1d, storage_vars,
};
use crate::ops::activation::{self, Activation};

const ADD_TEMPLATE: &str = include_str!("add.wgsl");
const CONCAT_TEMPLATE: &str = include_str!("concat.wgsl");

/// `y = act(a + b)` over `len` elements (same shapes, no broadcasting).
/// Bindings: `a`, `b`, `y`.
pub fn add(
    len: u64,
    activation: Option<Activation>,
    elem: Elem,
) -> Result<KernelSource, KernelError> {
    const OP: &str = "add";
    ensure(OP, len > 0, || "tensor is empty".into())?;
    fit_u32(OP, "elements", len, MAX_ELEMENTS)?;
    let width = vector_width(len);
    let invocations = len / u64::from(width);
    let workgroups = grid_1d(OP, invocations.div_ceil(u64::from(ELEMENTWISE_WG)))?;
    let vars = Vars::new()
        .u32("TOTAL", invocations as u32)
        .u32("WG", ELEMENTWISE_WG)
        .u32("GRID_X", workgroups[0])
        .set(
            "ACTIVATION_LIB",
            activation::wgsl_library(activation, width)?,
        );
    let vars = storage_vars(width_vars_flagged(vars, width), elem, width);
    Ok(KernelSource {
        name: format!(
            "add_{}_{len}{}",
            activation::kernel_name(activation),
            elem.suffix()
        ),
        wgsl: render("ops/elementwise/add.wgsl", ADD_TEMPLATE, &vars)?,
        entry: ENTRY_POINT,
        workgroups,
        workgroup_size: [ELEMENTWISE_WG, 1, 1],
        bindings: vec![
            BindingKind::ReadOnly,
            BindingKind::ReadOnly,
            BindingKind::ReadWrite,
        ],
    })
}

/// Copies `src: [batch, src_channels, h*w]` into channels `[dst_offset, dst_offset +
/// src_channels)` of `dst: [batch, dst_channels, h*w]`. Bindings: `src`, `dst`.
/// One dispatch per concatenated input; the dispatches may share one pass.
pub fn concat_channels(
    batch: u32,
    src_channels: u32,
    hw: u32,
    dst_offset: u32,
    dst_channels: u32,
    elem: Elem,
) -> Result<KernelSource, KernelError> {
    const OP: &str = "concat";
    ensure(OP, batch > 0 && src_channels > 0 && hw > 0, || {
        "empty tensor".into()
    })?;
    // u64: the offset and width must not overflow while being checked.
    let end = u64::from(dst_offset) + u64::from(src_channels);
    ensure(OP, end <= u64::from(dst_channels), || {
        format!("channels [{dst_offset}, {end}) do not fit in {dst_channels}")
    })?;
    let width = vector_width(u64::from(hw));
    let invocations = u64::from(batch) * u64::from(src_channels) * u64::from(hw / width);
    fit_u32(
        OP,
        "destination elements",
        u64::from(batch) * u64::from(dst_channels) * u64::from(hw),
        MAX_ELEMENTS,
    )?;
    let workgroups = grid_1d(OP, invocations.div_ceil(u64::from(ELEMENTWISE_WG)))?;
    let vars = Vars::new()
        .u32("BATCH", batch)
        .u32("SRC_CHANNELS", src_channels)
        .u32("DST_CHANNELS", dst_channels)
        .u32("DST_OFFSET", dst_offset)
        .u32("HW", hw)
        .u32("WG", ELEMENTWISE_WG)
        .u32("GRID_X", workgroups[0]);
    // A copy never converts: it reads and writes the stored type, WIDTH at a time.
    let vars = storage_vars(vars.u32("WIDTH", width), elem, width);
    Ok(KernelSource {
        name: format!(
            "concat_{batch}x{src_channels}x{hw}_at{dst_offset}_of{dst_channels}{}",
            elem.suffix()
        ),
        wgsl: render("ops/elementwise/concat.wgsl", CONCAT_TEMPLATE, &vars)?,
        entry: ENTRY_POINT,
        workgroups,
        workgroup_size: [ELEMENTWISE_WG, 1, 1],
        bindings: vec![BindingKind::ReadOnly, BindingKind::ReadWrite],
    })
}
