//! The pooling gradients' kernels, rendering the templates beside this file. Max and average
//! pool are gathers (`pool2d_grad.wgsl`): each invocation owns one input element and sums `dy`
//! over the output windows that contain it, so no two invocations write the same element and
//! no atomics are needed. Global average pool's gradient is a broadcast
//! (`global_avg_pool_grad.wgsl`).
//!
//! Max pool routes each window's `dy` to the window's *first* maximum in scan order (ky, then
//! kx, ascending; padding never wins; a later equal value does not replace it), PyTorch's rule.
//! It takes two passes: `argmax` stores each window's first-maximum position
//! (`max_pool2d_argmax.wgsl`), then the gather adds `dy` from every window
//! containing the element whose stored position is the element's own. Rescanning every window
//! in the gather instead read each input k^2 times per window (81 reads per element for 3x3
//! stride 1): on an H100 that made GoogleNet's max-pool gradients 7% of its training step.
//! Average pool (count_include_pad=True) adds `dy / (kh kw)` from every window containing the
//! element.

use super::Pool2dParams;
use crate::codegen::kernels::template::{Vars, render};
use crate::codegen::kernels::train::pointwise_grad::elementwise;
use crate::codegen::kernels::{
    BindingKind, ELEMENTWISE_WG, ENTRY_POINT, Elem, KernelError, KernelSource, MAX_ELEMENTS,
    check_loops, ensure, fit_u32, grid_1d, storage_vars,
};

const TEMPLATE: &str = include_str!("pool2d_grad.wgsl");
const ARGMAX_TEMPLATE: &str = include_str!("max_pool2d_argmax.wgsl");
const GAP_GRAD: &str = include_str!("global_avg_pool_grad.wgsl");

/// The two passes of max pool 2d's gradient.
#[derive(Debug, Clone)]
pub struct MaxPoolGrad {
    /// Bindings: `x`, `arg` (written): each window's first-maximum position.
    pub argmax: KernelSource,
    /// Bindings: `arg`, `dy`, `dx` (written).
    pub gather: KernelSource,
    /// Length of `arg` in f32 elements (the pool's output length).
    pub arg_len: u64,
}

/// Gradient of max pool 2d: an argmax pass, then a gather.
pub fn max_pool2d_grad(p: &Pool2dParams) -> Result<MaxPoolGrad, KernelError> {
    const OP: &str = "max_pool2d_grad";
    let gather = pool2d_grad(OP, p, true)?;
    // Positions are stored as f32: exact below 2^24.
    fit_u32(
        OP,
        "elements per plane",
        u64::from(p.in_h) * u64::from(p.in_w),
        1 << 24,
    )?;
    let arg_len = p.output_len();
    let workgroups = grid_1d(OP, arg_len.div_ceil(u64::from(ELEMENTWISE_WG)))?;
    let vars = window_vars(p, workgroups[0]);
    let argmax = KernelSource {
        name: format!("max_pool2d_argmax_{}", p.shape_name()),
        wgsl: render("ops/pool/max_pool2d_argmax.wgsl", ARGMAX_TEMPLATE, &vars)?,
        entry: ENTRY_POINT,
        workgroups,
        workgroup_size: [ELEMENTWISE_WG, 1, 1],
        bindings: vec![BindingKind::ReadOnly, BindingKind::ReadWrite],
    };
    Ok(MaxPoolGrad {
        argmax,
        gather,
        arg_len,
    })
}

/// Gradient of average pool 2d (count_include_pad=True). Bindings: `dy`, `dx`.
pub fn avg_pool2d_grad(p: &Pool2dParams) -> Result<KernelSource, KernelError> {
    pool2d_grad("avg_pool2d_grad", p, false)
}

fn pool2d_grad(op: &'static str, p: &Pool2dParams, max: bool) -> Result<KernelSource, KernelError> {
    p.validate(op)?;
    let len = p.input_len();
    fit_u32(op, "input elements", len, MAX_ELEMENTS)?;
    fit_u32(op, "output elements", p.output_len(), MAX_ELEMENTS)?;
    // Windows containing one element; the argmax pass scans one window per invocation.
    let windows =
        u64::from(p.kernel_h.div_ceil(p.stride_h)) * u64::from(p.kernel_w.div_ceil(p.stride_w));
    let scan = if max {
        u64::from(p.kernel_h) * u64::from(p.kernel_w)
    } else {
        0
    };
    check_loops(op, windows.max(scan))?;
    let workgroups = grid_1d(op, len.div_ceil(u64::from(ELEMENTWISE_WG)))?;
    let vars = window_vars(p, workgroups[0]).flag("MAX", max);
    let mut bindings = vec![BindingKind::ReadOnly; if max { 2 } else { 1 }];
    bindings.push(BindingKind::ReadWrite);
    Ok(KernelSource {
        name: format!("{op}_{}", p.shape_name()),
        wgsl: render("ops/pool/pool2d_grad.wgsl", TEMPLATE, &vars)?,
        entry: ENTRY_POINT,
        workgroups,
        workgroup_size: [ELEMENTWISE_WG, 1, 1],
        bindings,
    })
}

/// Template variables shared by both pooling-gradient templates: the window and the grid.
fn window_vars(p: &Pool2dParams, grid_x: u32) -> Vars {
    let vars = Vars::new()
        .u32("PLANES", p.batch * p.channels)
        .u32("H", p.in_h)
        .u32("W", p.in_w)
        .u32("HO", p.out_h())
        .u32("WO", p.out_w())
        .u32("KH", p.kernel_h)
        .u32("KW", p.kernel_w)
        .u32("STRIDE_H", p.stride_h)
        .u32("STRIDE_W", p.stride_w)
        .i32("PAD_H", p.pad_h as i32)
        .i32("PAD_W", p.pad_w as i32)
        .u32("WG", ELEMENTWISE_WG)
        .u32("GRID_X", grid_x);
    storage_vars(vars, p.elem, 1)
}

/// Gradient of global average pooling: `dx[n, c, :, :] = dy[n, c] / (h w)`.
///
/// Bindings: `dy [n, c]`, `dx [n, c, h, w]`.
pub fn global_avg_pool_grad(
    n: u32,
    c: u32,
    h: u32,
    w: u32,
    elem: Elem,
) -> Result<KernelSource, KernelError> {
    const OP: &str = "global_avg_pool_grad";
    ensure(OP, n > 0 && c > 0 && h > 0 && w > 0, || {
        "empty tensor".into()
    })?;
    let hw = fit_u32(OP, "plane", u64::from(h) * u64::from(w), MAX_ELEMENTS)?;
    let vars = storage_vars(Vars::new().u32("HW", hw), elem, 1);
    elementwise(
        OP,
        format!("global_avg_pool_grad_{n}x{c}x{h}x{w}{}", elem.suffix()),
        ("ops/pool/global_avg_pool_grad.wgsl", GAP_GRAD),
        (u64::from(n) * u64::from(c)).saturating_mul(u64::from(hw)),
        vars,
        1,
    )
}
