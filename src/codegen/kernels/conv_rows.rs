//! Convs vectorised along image rows (`shaders/conv2d_rows.wgsl`): the fast path for the
//! forward conv and its input gradient on CPU drivers (lavapipe). The weight gradient's row
//! variant (`train::conv_grad`) uses the same selection and window geometry.
//!
//! A [`ConvTiling`] selects this kernel when `tm` is a multiple of 4 (`tm / 4` output rows of
//! one 4-wide column quad per invocation) and `wg_n == 1` (a workgroup of `wg_m` invocations
//! shares its output channels, so weight loads are uniform), and the shape allows it: source
//! and destination widths that are multiples of 4 (aligned vec4 rows) and an equal stride in
//! both directions (1 for the input gradient; at most the window for the forward conv, so that
//! every source row it loads feeds some tap). Any other tiling or shape uses the generic
//! register-tiled kernels, which accept everything.

use super::conv::{Conv2dParams, ConvTiling};
use super::template::{Vars, render};
use super::{
    Activation, BindingKind, ENTRY_POINT, KernelError, KernelSource, MAX_WORKGROUPS_PER_DIM,
    check_loops, ensure,
};

const TEMPLATE: &str = include_str!("../../../shaders/conv2d_rows.wgsl");

/// The three row kernels: the forward conv and its input gradient (`conv2d_rows.wgsl`), and
/// the weight gradient's first pass (`train/conv2d_grad_weight_rows.wgsl`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RowKernel {
    Forward,
    GradInput,
    GradWeight,
}

/// Whether `kernel`'s row variant applies to the conv `p` with `tiling`.
pub(crate) fn applies(p: &Conv2dParams, tiling: &ConvTiling, kernel: RowKernel) -> bool {
    // The input gradient reads dy and writes dx; the others read x in quads of dy/y columns.
    let (src_w, dst_w) = match kernel {
        RowKernel::GradInput => (p.out_w(), p.in_w),
        RowKernel::Forward | RowKernel::GradWeight => (p.in_w, p.out_w()),
    };
    let stride = p.stride_h;
    let stride_ok = stride >= 1
        && p.stride_w == stride
        && match kernel {
            // A stride-1 conv of dy with the flipped kernel.
            RowKernel::GradInput => stride == 1,
            // Every source row an invocation loads feeds some tap of its rows.
            RowKernel::Forward => p.kernel_h >= stride && p.kernel_w >= stride,
            RowKernel::GradWeight => true,
        };
    tiling.tm.is_multiple_of(4)
        && tiling.wg_n == 1
        && stride_ok
        && src_w.is_multiple_of(4)
        && dst_w.is_multiple_of(4)
}

/// Where a quad's windows start and how many vec4 they span, for padding `pad` (columns),
/// kernel width `kw` and `stride`: column `-pad` relative to the quad's first source column
/// lies in vector `qb` (relative to that column's vector), element `e0`, and `nv` vectors from
/// there cover every tap of the quad's 4 columns (the last reads element `e0 + kw - 1 + 3
/// stride`).
pub(crate) fn window_vectors(pad: impl Into<i64>, kw: u32, stride: u32) -> (i32, u32, u32) {
    let pad = pad.into();
    let qb = (-pad).div_euclid(4) as i32;
    let e0 = (-pad).rem_euclid(4) as u32;
    (qb, e0, (e0 + kw + 3 * stride).div_ceil(4))
}

/// Lanes that split the weight loads of the row kernel with `tiling`: the device's subgroup
/// size where every subgroup of a workgroup is full (`wg_m` a multiple of it), else 1 (every
/// lane loads every weight; no subgroup operations in the WGSL).
pub(crate) fn weight_sharers(tiling: &ConvTiling) -> u32 {
    if tiling.subgroup > 1 && tiling.wg_m.is_multiple_of(tiling.subgroup) {
        tiling.subgroup
    } else {
        1
    }
}

/// Renders the row kernel for the forward conv of `p` or (with `grad_input`) its input
/// gradient. The caller checks [`applies`] (with [`RowKernel::Forward`] or
/// [`RowKernel::GradInput`]) and the element-count limits.
pub(crate) fn conv2d_rows(
    op: &'static str,
    name: String,
    p: &Conv2dParams,
    tiling: &ConvTiling,
    grad_input: bool,
) -> Result<KernelSource, KernelError> {
    let cin_g = p.in_channels / p.groups;
    let cout_g = p.out_channels / p.groups;
    let kk = p.kernel_h * p.kernel_w;
    // The input gradient is a stride-1 conv of dy with the flipped kernel, padding K - 1 - P,
    // reducing over the output channels.
    let (s_channels, cr, co_g, (h, w), (ho, wo), pad) = if grad_input {
        (
            p.out_channels,
            cout_g,
            cin_g,
            (p.out_h(), p.out_w()),
            (p.in_h, p.in_w),
            (
                i64::from(p.kernel_h) - 1 - i64::from(p.pad_h),
                i64::from(p.kernel_w) - 1 - i64::from(p.pad_w),
            ),
        )
    } else {
        (
            p.in_channels,
            cin_g,
            cout_g,
            (p.in_h, p.in_w),
            (p.out_h(), p.out_w()),
            (i64::from(p.pad_h), i64::from(p.pad_w)),
        )
    };
    let (w_out, w_in) = if grad_input {
        (kk, cin_g * kk)
    } else {
        (cin_g * kk, kk)
    };
    check_loops(op, u64::from(cr))?;
    let tr = tiling.tm / 4;
    let sharers = weight_sharers(tiling);
    let per_lane = (tiling.tn * kk).div_ceil(sharers);
    // The input gradient is a stride-1 conv ([`applies`]).
    let stride = if grad_input { 1 } else { p.stride_w };
    let (qb, e0, nv) = window_vectors(pad.1, p.kernel_w, stride);
    let tiles = u64::from(p.batch) * u64::from(ho.div_ceil(tr)) * u64::from(wo / 4);
    let grid = [
        tiles.div_ceil(u64::from(tiling.wg_m)),
        u64::from(co_g).div_ceil(u64::from(tiling.tn)),
        u64::from(p.groups),
    ];
    let max = u64::from(MAX_WORKGROUPS_PER_DIM);
    ensure(op, grid.iter().all(|&n| n <= max), || {
        format!("dispatch {grid:?} exceeds {max} per dimension; use a larger tile")
    })?;
    let (bias, activation, d_total, d_offset) = if grad_input {
        (false, Activation::Identity, cin_g * p.groups, 0)
    } else {
        (
            p.bias,
            p.activation,
            p.out_total_channels,
            p.out_channel_offset,
        )
    };
    let vars = Vars::new()
        .u32("BATCH", p.batch)
        .u32("S_CHANNELS", s_channels)
        .u32("CR", cr)
        .u32("H", h)
        .u32("W", w)
        .u32("CO_G", co_g)
        .u32("HO", ho)
        .u32("WO", wo)
        .u32("D_TOTAL", d_total)
        .u32("D_OFFSET", d_offset)
        .u32("KH", p.kernel_h)
        .u32("KW", p.kernel_w)
        .i32("PAD_H", pad.0 as i32)
        .u32("STRIDE", stride)
        .i32("QB", qb)
        .u32("E0", e0)
        .u32("NV", nv)
        .u32("W_GROUP", cout_g * cin_g * kk)
        .u32("W_OUT", w_out)
        .u32("W_IN", w_in)
        .bool("FLIP", grad_input)
        .u32("TR", tr)
        .u32("TN", tiling.tn)
        .u32("WG", tiling.wg_m)
        .count("IR", stride * (tr - 1) + p.kernel_h)
        .count("NV", nv)
        .count("KH", p.kernel_h)
        .count("KW", p.kernel_w)
        .count("LANES", 4)
        .count("TN", tiling.tn)
        .count("TR", tr)
        .u32("SG", sharers)
        .u32("NS", per_lane)
        .count("NS", per_lane)
        .flag("SHARED_WEIGHTS", sharers > 1)
        .flag("HAS_BIAS", bias)
        .set("Y_BINDING", if bias { 3 } else { 2 })
        .set("ACTIVATION_LIB", activation.wgsl_library()?);
    let mut bindings = vec![BindingKind::ReadOnly, BindingKind::ReadOnly];
    if bias {
        bindings.push(BindingKind::ReadOnly);
    }
    bindings.push(BindingKind::ReadWrite);
    Ok(KernelSource {
        name: format!("{name}_rows"),
        wgsl: render("conv2d_rows.wgsl", TEMPLATE, &vars)?,
        entry: ENTRY_POINT,
        workgroups: grid.map(|n| n as u32),
        workgroup_size: [tiling.wg_m, 1, 1],
        bindings,
    })
}
