//! Convs vectorised along image rows (`conv2d_rows.wgsl`): the fast path for the
//! forward conv and its input gradient on CPU drivers (lavapipe). The weight gradient's row
//! variant ([`super::grad_kernel`]) uses the same selection and window geometry.
//!
//! A [`ConvTiling`] selects this kernel when `tm` is a multiple of 4 (`tm / 4` output rows of
//! one 4-wide column quad per invocation) and `wg_n == 1` (a workgroup of `wg_m` invocations
//! shares its output channels, so weight loads are uniform), and the shape allows it: source
//! and destination widths that are multiples of 4 (aligned vec4 rows) and an equal stride in
//! both directions, at most the window for the forward conv and the input gradient (so every
//! source row the forward conv loads feeds some tap, and every stride phase of the input
//! gradient has taps; its phases' widths must be multiples of 4 too). Any other tiling or shape
//! uses the generic register-tiled kernels, which accept everything.

use super::kernel::{self, Conv2dParams, ConvTiling};
use crate::codegen::kernels::storage_vars;
use crate::codegen::kernels::template::{Vars, render};
use crate::codegen::kernels::{
    ENTRY_POINT, KernelError, KernelSource, MAX_WORKGROUPS_PER_DIM, check_loops, ensure,
};
use crate::ops::activation::Activation;

const TEMPLATE: &str = include_str!("conv2d_rows.wgsl");

/// The three row kernels: the forward conv and its input gradient (`conv2d_rows.wgsl`), and
/// the weight gradient's first pass (`conv2d_grad_weight_rows.wgsl`).
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
            // Forward: every source row an invocation loads feeds some tap of its rows. Input
            // gradient: every stride phase has taps, and its columns come in quads.
            RowKernel::Forward => p.kernel_h >= stride && p.kernel_w >= stride,
            RowKernel::GradInput => {
                p.kernel_h >= stride && p.kernel_w >= stride && dst_w.is_multiple_of(4 * stride)
            }
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

/// One dispatch of the row kernel: a stride-`stride` conv of `src` (`src_channels` x `src_hw`,
/// reducing over `reduce` channels per group) with a `window` of taps, over a `grid` of output
/// pixels that lands in the destination (`dst_hw`) every `step` pixels from `phase`. Tap
/// `(ky, kx)` reads weight tap `(taps.0 + taps.1 ky) * kw_full + taps.2 + taps.3 kx`.
struct RowConv {
    src_channels: u32,
    reduce: u32,
    out_channels: u32,
    src_hw: (u32, u32),
    grid: (u32, u32),
    dst_hw: (u32, u32),
    step: u32,
    phase: (u32, u32),
    pad: (i64, i64),
    stride: u32,
    window: (u32, u32),
    taps: (i64, i64, i64, i64),
    kw_full: u32,
    /// Weight strides: per output channel and per reduced channel.
    w_out: u32,
    w_in: u32,
    d_total: u32,
    d_offset: u32,
    bias: bool,
    activation: Option<Activation>,
    /// An input gradient's `addend` is added into dx (`Conv2dParams::accumulate`).
    accumulate: bool,
}

/// Renders the row kernel for the forward conv of `p`. The caller checks [`applies`] with
/// [`RowKernel::Forward`] and the element-count limits.
pub(crate) fn conv2d_rows(
    op: &'static str,
    name: String,
    p: &Conv2dParams,
    tiling: &ConvTiling,
) -> Result<KernelSource, KernelError> {
    let cin_g = p.in_channels / p.groups;
    let kk = p.kernel_h * p.kernel_w;
    let conv = RowConv {
        src_channels: p.in_channels,
        reduce: cin_g,
        out_channels: p.out_channels / p.groups,
        src_hw: (p.in_h, p.in_w),
        grid: (p.out_h(), p.out_w()),
        dst_hw: (p.out_h(), p.out_w()),
        step: 1,
        phase: (0, 0),
        pad: (i64::from(p.pad_h), i64::from(p.pad_w)),
        stride: p.stride_w,
        window: (p.kernel_h, p.kernel_w),
        taps: (0, 1, 0, 1),
        kw_full: p.kernel_w,
        w_out: cin_g * kk,
        w_in: kk,
        d_total: p.out_total_channels,
        d_offset: p.out_channel_offset,
        bias: p.bias,
        activation: p.activation,
        accumulate: false,
    };
    render_rows(op, format!("{name}_rows"), p, tiling, &conv)
}

/// Renders the row kernels of the input gradient of `p` (dy and the weights in, dx out): for a
/// stride-1 conv one kernel, a stride-1 conv of dy with the flipped window and padding
/// `K - 1 - P`; for stride S one kernel per stride phase `(py, px)` of dx, each a stride-1 conv
/// of dy with the taps `ky = ry + S t` that reach that phase, which together write every dx
/// element once. The caller checks [`applies`] with [`RowKernel::GradInput`].
pub(crate) fn conv2d_grad_input_rows(
    op: &'static str,
    name: String,
    p: &Conv2dParams,
    tiling: &ConvTiling,
) -> Result<Vec<KernelSource>, KernelError> {
    let cin_g = p.in_channels / p.groups;
    let kk = p.kernel_h * p.kernel_w;
    let s = p.stride_h;
    let phase_of = |pos: u32, pad: u32, k: u32, len: u32| {
        // Taps k = r + S t reach positions pos + S q: r = (pos + P) mod S, and then the dy index
        // is q + c - t with c = (pos + P - r) / S. As a correlation over t' = taps - 1 - t:
        // padding taps - 1 - c, weight tap r + S (taps - 1) - S t'.
        let r = (pos + pad) % s;
        let c = (pos + pad - r) / s;
        let taps = (k - r).div_ceil(s);
        let grid = (len - pos).div_ceil(s);
        let pad = i64::from(taps) - 1 - i64::from(c);
        let first = i64::from(r) + i64::from(s) * (i64::from(taps) - 1);
        (taps, grid, pad, first)
    };
    let mut kernels = Vec::new();
    for py in 0..s {
        for px in 0..s {
            let (kh, gh, pad_h, ty0) = phase_of(py, p.pad_h, p.kernel_h, p.in_h);
            let (kw, gw, pad_w, tx0) = phase_of(px, p.pad_w, p.kernel_w, p.in_w);
            let conv = RowConv {
                src_channels: p.out_channels,
                reduce: p.out_channels / p.groups,
                out_channels: cin_g,
                src_hw: (p.out_h(), p.out_w()),
                grid: (gh, gw),
                dst_hw: (p.in_h, p.in_w),
                step: s,
                phase: (py, px),
                pad: (pad_h, pad_w),
                stride: 1,
                window: (kh, kw),
                taps: (ty0, -i64::from(s), tx0, -i64::from(s)),
                kw_full: p.kernel_w,
                w_out: kk,
                w_in: cin_g * kk,
                d_total: p.in_channels,
                d_offset: 0,
                bias: false,
                activation: None,
                accumulate: p.accumulate,
            };
            let name = if s == 1 {
                format!("{name}_rows")
            } else {
                format!("{name}_rows_phase{py}{px}")
            };
            kernels.push(render_rows(op, name, p, tiling, &conv)?);
        }
    }
    Ok(kernels)
}

/// Renders one row-kernel dispatch of the conv `p` (groups, batch) described by `c`.
fn render_rows(
    op: &'static str,
    name: String,
    p: &Conv2dParams,
    tiling: &ConvTiling,
    c: &RowConv,
) -> Result<KernelSource, KernelError> {
    check_loops(op, u64::from(c.reduce))?;
    let (kh, kw) = c.window;
    let tr = tiling.tm / 4;
    let sharers = weight_sharers(tiling);
    let per_lane = (tiling.tn * kh * kw).div_ceil(sharers);
    let (qb, e0, nv) = window_vectors(c.pad.1, kw, c.stride);
    let (gh, gw) = c.grid;
    let tiles = u64::from(p.batch) * u64::from(gh.div_ceil(tr)) * u64::from(gw / 4);
    let grid = [
        tiles.div_ceil(u64::from(tiling.wg_m)),
        u64::from(c.out_channels).div_ceil(u64::from(tiling.tn)),
        u64::from(p.groups),
    ];
    let max = u64::from(MAX_WORKGROUPS_PER_DIM);
    ensure(op, grid.iter().all(|&n| n <= max), || {
        format!("dispatch {grid:?} exceeds {max} per dimension; use a larger tile")
    })?;
    let vars = storage_vars(Vars::new(), p.elem, 1)
        .u32("BATCH", p.batch)
        .u32("S_CHANNELS", c.src_channels)
        .u32("CR", c.reduce)
        .u32("H", c.src_hw.0)
        .u32("W", c.src_hw.1)
        .u32("CO_G", c.out_channels)
        .u32("HO", gh)
        .u32("WO", gw)
        .u32("DH", c.dst_hw.0)
        .u32("DW", c.dst_hw.1)
        .u32("STEP", c.step)
        .u32("PY", c.phase.0)
        .u32("PX", c.phase.1)
        .u32("D_TOTAL", c.d_total)
        .u32("D_OFFSET", c.d_offset)
        .u32("KH", kh)
        .u32("KW", kw)
        .i32("PAD_H", c.pad.0 as i32)
        .u32("STRIDE", c.stride)
        .i32("QB", qb)
        .u32("E0", e0)
        .u32("NV", nv)
        .u32(
            "W_GROUP",
            c.out_channels * c.reduce * p.kernel_h * p.kernel_w,
        )
        .u32("W_OUT", c.w_out)
        .u32("W_IN", c.w_in)
        .u32("KW_FULL", c.kw_full)
        .i32("TY0", c.taps.0 as i32)
        .i32("TYS", c.taps.1 as i32)
        .i32("TX0", c.taps.2 as i32)
        .i32("TXS", c.taps.3 as i32)
        .u32("TR", tr)
        .u32("TN", tiling.tn)
        .u32("WG", tiling.wg_m)
        .count("IR", c.stride * (tr - 1) + kh)
        .count("NV", nv)
        .count("KH", kh)
        .count("KW", kw)
        .count("LANES", 4)
        .count("TN", tiling.tn)
        .count("TR", tr)
        .u32("SG", sharers)
        .u32("NS", per_lane)
        .count("NS", per_lane)
        .flag("SHARED_WEIGHTS", sharers > 1)
        .flag("STRIDED_STORE", c.step > 1)
        .flag("ACCUMULATE", c.accumulate);
    let (vars, bindings) = kernel::epilogue(vars, c.bias, c.activation, c.accumulate)?;
    Ok(KernelSource {
        name,
        wgsl: render("ops/conv/conv2d_rows.wgsl", TEMPLATE, &vars)?,
        entry: ENTRY_POINT,
        workgroups: grid.map(|n| n as u32),
        workgroup_size: [tiling.wg_m, 1, 1],
        bindings,
    })
}
