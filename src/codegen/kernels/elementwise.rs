//! Elementwise kernels over whole tensors: add (with optional fused activation) and the
//! channel-concat copy; and [`vector_width`], how many consecutive elements one invocation of
//! a pointwise kernel reads as one vector.
//!
//! Concat is normally free: producers such as conv2d write straight into their channel slice of
//! the concat buffer. [`concat_channels`] is the fallback copy for producers that cannot (for
//! example a graph input, or a pool whose output is reused elsewhere).

use super::ELEMENTWISE_WG;
use super::template::{Vars, render};
use super::{
    BindingKind, ENTRY_POINT, Elem, KernelError, KernelSource, MAX_ELEMENTS, ensure, fit_u32,
    grid_1d, storage_vars,
};
use crate::ops::activation::{self, Activation};

const ADD_TEMPLATE: &str = include_str!("../../../shaders/add.wgsl");
const CONCAT_TEMPLATE: &str = include_str!("../../../shaders/concat.wgsl");

/// Consecutive elements one invocation of a pointwise kernel or a reduction's sweep reads (and
/// writes) as one vector: 4, a `vec4<f32>`, when `run` is a multiple of 4, otherwise one. `run`
/// is the length of the runs a vector must not straddle: the whole tensor, or one channel's
/// plane where the kernel reads per-channel values. On lavapipe every storage-buffer load is a
/// loop over the SIMD lanes whatever its width, so four elements per load, and per-channel
/// values loaded once per four, made batch norm's kernels 2-3x faster; GPUs read 16-byte
/// words per invocation.
pub(crate) fn vector_width(run: u64) -> u32 {
    if run.is_multiple_of(4) { 4 } else { 1 }
}

/// The template variables of a kernel that reads `width` elements as one vector
/// ([`vector_width`]): `WIDTH` and the element type `V` (`vec4<f32>` or `f32`).
pub(crate) fn width_vars(vars: Vars, width: u32) -> Vars {
    let v = if width == 4 { "vec4<f32>" } else { "f32" };
    vars.u32("WIDTH", width).set("V", v)
}

/// [`width_vars`] plus the flag `VEC4`, for templates with code of their own for each width
/// (activations and sums applied lane by lane).
pub(crate) fn width_vars_flagged(vars: Vars, width: u32) -> Vars {
    width_vars(vars, width).flag("VEC4", width == 4)
}

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
        wgsl: render("add.wgsl", ADD_TEMPLATE, &vars)?,
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
        wgsl: render("concat.wgsl", CONCAT_TEMPLATE, &vars)?,
        entry: ENTRY_POINT,
        workgroups,
        workgroup_size: [ELEMENTWISE_WG, 1, 1],
        bindings: vec![BindingKind::ReadOnly, BindingKind::ReadWrite],
    })
}
