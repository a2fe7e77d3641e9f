//! conv2d gradients: with respect to the input (`TrainOp::Conv2dGradInput`,
//! `conv2d_grad_input.wgsl`) and to the weight (`TrainOp::Conv2dGradWeight`, a
//! [`Reduction`]: `conv2d_grad_weight_partial.wgsl`, then the shared finish pass).
//!
//! Both take the [`Conv2dParams`] of the *forward* conv (its bias, activation and output slice
//! are ignored) and a [`ConvTiling`], and are register-tiled implicit GEMMs like the forward
//! kernel, with no shared memory and no atomics:
//!
//! * grad input gathers: each invocation owns a tile of `dx` (input pixels x input channels of
//!   one group) and sums over the group's output channels and the taps whose output position
//!   exists. Pixels are grouped by stride phase so that a strided conv only visits the taps that
//!   can reach them (4 of 9 for 3x3 stride 2). One runtime loop over `Cout/groups`.
//! * grad weight owns a tile of `dw` (input-channel taps x output channels of one group) and sums
//!   over `(n, oy, ox)`: N*Ho*Wo terms, up to 131,072 for batch 128 on 32x32, beyond lavapipe's
//!   loop cap, so the range is cut into contiguous chunks
//!   ([`crate::codegen::kernels::train::reduce`] picks how many), one partial result each,
//!   added in order by the finish pass. Where the forward row kernel applies (stride 1, widths
//!   multiple of 4, a row tiling), the first pass is the row variant instead
//!   (`conv2d_grad_weight_rows.wgsl`): the lanes share a weight tile and split the pixels,
//!   loading aligned vec4 of x and dy (on lavapipe ~2x the generic kernel).

use super::kernel::{Conv2dParams, ConvTiling, conv_bindings};
use super::rows::{self, RowKernel};
use super::tiled;
use crate::codegen::kernels::storage_vars;
use crate::codegen::kernels::template::{Vars, render};
use crate::codegen::kernels::train::reduce::{Split, finish, split};
use crate::codegen::kernels::{
    BindingKind, ENTRY_POINT, KernelError, KernelSource, MAX_ELEMENTS, MAX_WORKGROUPS_PER_DIM,
    Reduction, check_loops, ensure, fit_u32, hw_name,
};

const INPUT_TEMPLATE: &str = include_str!("conv2d_grad_input.wgsl");
const WEIGHT_TEMPLATE: &str = include_str!("conv2d_grad_weight_partial.wgsl");
const WEIGHT_ROWS_TEMPLATE: &str = include_str!("conv2d_grad_weight_rows.wgsl");

/// The forward parameters with the parts the gradients ignore reset, validated, plus the
/// tiling's own checks (the same bounds as the forward conv's).
fn checked(
    op: &'static str,
    p: &Conv2dParams,
    tiling: &ConvTiling,
) -> Result<Conv2dParams, KernelError> {
    let p = Conv2dParams {
        bias: false,
        activation: None,
        out_channel_offset: 0,
        out_total_channels: p.out_channels,
        ..*p
    };
    p.validate()?;
    ensure(
        op,
        tiling.tm > 0 && tiling.tn > 0 && tiling.tm * tiling.tn <= 256,
        || {
            format!(
                "register tile {}x{} must be non-empty and at most 256 values",
                tiling.tm, tiling.tn
            )
        },
    )?;
    ensure(
        op,
        tiling.wg_m > 0 && tiling.wg_n > 0 && tiling.wg_m * tiling.wg_n <= 1024,
        || {
            format!(
                "workgroup {}x{} must be non-empty and at most 1024 invocations",
                tiling.wg_m, tiling.wg_n
            )
        },
    )?;
    ensure(op, tiling.split_target > 0, || {
        "split target must be at least one invocation".to_string()
    })?;
    // Indices are u32, with some offsets in i32.
    fit_u32(op, "input elements", p.input_len(), MAX_ELEMENTS)?;
    fit_u32(op, "weight elements", p.weight_len(), MAX_ELEMENTS)?;
    fit_u32(op, "dy elements", p.output_len(), MAX_ELEMENTS)?;
    Ok(p)
}

fn dims_name(op: &str, p: &Conv2dParams) -> String {
    let dims = format!(
        "{op}_{}x{}_s{}_p{}_g{}_{}x{}x{}x{}_to{}",
        p.kernel_h,
        p.kernel_w,
        hw_name(p.stride_h, p.stride_w),
        hw_name(p.pad_h, p.pad_w),
        p.groups,
        p.batch,
        p.in_channels,
        p.in_h,
        p.in_w,
        p.out_channels
    );
    let acc = if p.accumulate { "_acc" } else { "" };
    dims + acc + p.elem.suffix()
}

fn check_grid(op: &'static str, grid: [u64; 3]) -> Result<[u32; 3], KernelError> {
    let max = u64::from(MAX_WORKGROUPS_PER_DIM);
    ensure(op, grid.iter().all(|&g| g <= max), || {
        format!(
            "dispatch {}x{}x{} exceeds {max} per dimension; use a larger tile",
            grid[0], grid[1], grid[2]
        )
    })?;
    Ok(grid.map(|g| g as u32))
}

/// Gradient of conv2d with respect to its input, `p` being the forward conv: one kernel, or
/// for the strided row kernels one per stride phase ([`rows::conv2d_grad_input_rows`]).
/// Run them in order; together they write every element of dx once.
///
/// Bindings of each: `dy [N, Cout, Ho, Wo]` (read), `weight [Cout, Cin/g, KH, KW]` (read),
/// with `p.accumulate` `addend [N, Cin, H, W]` (read, added into dx), `dx [N, Cin, H, W]`
/// (written).
pub fn conv2d_grad_input(
    p: &Conv2dParams,
    tiling: &ConvTiling,
) -> Result<Vec<KernelSource>, KernelError> {
    let op = "conv2d_grad_input";
    let p = checked(op, p, tiling)?;
    if tiling.shared && tiled::applies_to_grad_input(&p) {
        return Ok(vec![tiled::conv2d_grad_input_tiled(
            op,
            dims_name(op, &p),
            &p,
            tiling,
        )?]);
    }
    if rows::applies(&p, tiling, RowKernel::GradInput) {
        return rows::conv2d_grad_input_rows(op, dims_name(op, &p), &p, tiling);
    }
    Ok(vec![conv2d_grad_input_named(op, &p, tiling)?])
}

/// The generic (register-tiled, gather) input-gradient kernel, named after `op` (also used by
/// `crate::ops::linear::grad_kernel`).
pub(crate) fn conv2d_grad_input_named(
    op: &'static str,
    p: &Conv2dParams,
    tiling: &ConvTiling,
) -> Result<KernelSource, KernelError> {
    let p = checked(op, p, tiling)?;
    let name = if op == "conv2d_grad_input" {
        dims_name(op, &p)
    } else {
        format!(
            "{op}_{}x{}_to{}{}",
            p.batch,
            p.in_channels,
            p.out_channels,
            p.elem.suffix()
        )
    };
    let cin_g = p.in_channels / p.groups;
    let cout_g = p.out_channels / p.groups;
    // The only runtime loop is over co (the window and the tile are unrolled).
    check_loops(op, u64::from(cout_g))?;
    // Pixels are split by stride phase: one z-slice per (group, phase), each over
    // N * ceil(H / stride_h) * ceil(W / stride_w) rows.
    let (qh, qw) = (p.in_h.div_ceil(p.stride_h), p.in_w.div_ceil(p.stride_w));
    let m = u64::from(p.batch) * u64::from(qh) * u64::from(qw);
    let phases = u64::from(p.stride_h) * u64::from(p.stride_w);
    let workgroups = check_grid(
        op,
        [
            m.div_ceil(u64::from(tiling.block_m())),
            u64::from(cin_g).div_ceil(u64::from(tiling.block_n())),
            u64::from(p.groups) * phases,
        ],
    )?;
    let vars = storage_vars(Vars::new(), p.elem, 1)
        .u32("BATCH", p.batch)
        .u32("CIN", p.in_channels)
        .u32("COUT", p.out_channels)
        .u32("H", p.in_h)
        .u32("W", p.in_w)
        .i32("HO", p.out_h() as i32)
        .i32("WO", p.out_w() as i32)
        .u32("KH", p.kernel_h)
        .u32("KW", p.kernel_w)
        .u32("STRIDE_H", p.stride_h)
        .u32("STRIDE_W", p.stride_w)
        .u32("QH", qh)
        .u32("QW", qw)
        .i32("PAD_H", p.pad_h as i32)
        .i32("PAD_W", p.pad_w as i32)
        .u32("CIN_G", cin_g)
        .u32("COUT_G", cout_g)
        .u32("TM", tiling.tm)
        .u32("TN", tiling.tn)
        .count("TM", tiling.tm)
        .count("TN", tiling.tn)
        .count("TY", p.kernel_h.div_ceil(p.stride_h))
        .count("TX", p.kernel_w.div_ceil(p.stride_w))
        .u32("WG_M", tiling.wg_m)
        .u32("WG_N", tiling.wg_n)
        .flag("ACCUMULATE", p.accumulate);
    Ok(KernelSource {
        name,
        wgsl: render("ops/conv/conv2d_grad_input.wgsl", INPUT_TEMPLATE, &vars)?,
        entry: ENTRY_POINT,
        workgroups,
        workgroup_size: [tiling.wg_m, tiling.wg_n, 1],
        bindings: conv_bindings(false, p.accumulate),
    })
}

/// Gradient of conv2d with respect to its weight, `p` being the forward conv:
/// `dw[co, ci, ky, kx] = sum over n, oy, ox of dy[n, co, oy, ox] * x[n, ci', iy, ix]`.
///
/// Bindings of `partial`: `x [N, Cin, H, W]` (read), `dy [N, Cout, Ho, Wo]` (read), `scratch`
/// (written); of `finish`: `scratch` (read), `dw [Cout, Cin/g, KH, KW]` (written).
pub fn conv2d_grad_weight(p: &Conv2dParams, tiling: &ConvTiling) -> Result<Reduction, KernelError> {
    conv2d_grad_weight_named("conv2d_grad_weight", p, tiling)
}

/// [`conv2d_grad_weight`] with a caller-chosen op name (used by `crate::ops::linear::grad_kernel`).
pub(crate) fn conv2d_grad_weight_named(
    op: &'static str,
    p: &Conv2dParams,
    tiling: &ConvTiling,
) -> Result<Reduction, KernelError> {
    let p = checked(op, p, tiling)?;
    ensure(op, !p.accumulate, || {
        "only input-gradient kernels accumulate into their output".into()
    })?;
    let name = if op == "conv2d_grad_weight" {
        dims_name(op, &p)
    } else {
        format!("{op}_{}x{}_to{}", p.batch, p.in_channels, p.out_channels)
    };
    if tiling.shared {
        let (partial, parts) = tiled::conv2d_grad_weight_tiled(op, &name, &p, tiling)?;
        return weight_reduction(op, &name, partial, p.weight_len(), parts, tiling);
    }
    if rows::applies(&p, tiling, RowKernel::GradWeight) {
        return conv2d_grad_weight_rows(op, name, &p, tiling);
    }
    let cin_g = p.in_channels / p.groups;
    let cout_g = p.out_channels / p.groups;
    let (ho, wo) = (p.out_h(), p.out_w());
    let kc = u64::from(cin_g) * u64::from(p.kernel_h) * u64::from(p.kernel_w);
    let length = u64::from(p.batch) * u64::from(ho) * u64::from(wo);
    let tiles = [
        kc.div_ceil(u64::from(tiling.block_m())),
        u64::from(cout_g).div_ceil(u64::from(tiling.block_n())),
        u64::from(p.groups),
    ];
    let invocations = tiles.iter().product::<u64>() * u64::from(tiling.wg_m * tiling.wg_n);
    let weight_len = p.weight_len();
    // The target is an aim, not a demand: cap the parts it asks for where the scratch buffer
    // or the grid's z dimension would overflow (a large GPU target on a narrow layer).
    let max_parts = (MAX_ELEMENTS / weight_len)
        .min(u64::from(MAX_WORKGROUPS_PER_DIM) / tiles[2])
        .max(1);
    let target = u64::from(tiling.split_target).min(invocations.saturating_mul(max_parts));
    let sp = split(op, length, invocations, target as u32)?;
    let workgroups = check_grid(op, [tiles[0], tiles[1], tiles[2] * u64::from(sp.parts)])?;
    let vars = weight_shape_vars(&p)
        .u32("STRIDE_H", p.stride_h)
        .u32("STRIDE_W", p.stride_w)
        .i32("PAD_H", p.pad_h as i32)
        .i32("PAD_W", p.pad_w as i32)
        .u32("CIN_G", cin_g)
        .u32("COUT_G", cout_g)
        .u32("GROUPS", p.groups)
        .bool("CHECK_BOUNDS", p.pad_h > 0 || p.pad_w > 0)
        .u32("R", length as u32)
        .u32("CHUNK", sp.chunk)
        .u32("TM", tiling.tm)
        .u32("TN", tiling.tn)
        .count("TM", tiling.tm)
        .count("TN", tiling.tn)
        .u32("WG_M", tiling.wg_m)
        .u32("WG_N", tiling.wg_n);
    let partial = KernelSource {
        name: format!("{name}_partial"),
        wgsl: render(
            "ops/conv/conv2d_grad_weight_partial.wgsl",
            WEIGHT_TEMPLATE,
            &vars,
        )?,
        entry: ENTRY_POINT,
        workgroups,
        workgroup_size: [tiling.wg_m, tiling.wg_n, 1],
        bindings: weight_partial_bindings(),
    };
    weight_reduction(op, &name, partial, weight_len, sp.parts, tiling)
}

/// The shape constants both weight-gradient first passes declare (and how x and dy are
/// stored): x `[N, CIN, H, W]`, dy
/// `[N, COUT, HO, WO]`, a `KH` x `KW` window.
fn weight_shape_vars(p: &Conv2dParams) -> Vars {
    storage_vars(Vars::new(), p.elem, 1)
        .u32("CIN", p.in_channels)
        .u32("COUT", p.out_channels)
        .u32("H", p.in_h)
        .u32("W", p.in_w)
        .u32("HO", p.out_h())
        .u32("WO", p.out_w())
        .u32("KH", p.kernel_h)
        .u32("KW", p.kernel_w)
}

/// The bindings of either weight-gradient first pass: x and dy (read), scratch (written).
fn weight_partial_bindings() -> Vec<BindingKind> {
    vec![
        BindingKind::ReadOnly,
        BindingKind::ReadOnly,
        BindingKind::ReadWrite,
    ]
}

/// A weight-gradient first pass writing `parts` partials of every weight, and its finish (one
/// lane per weight on a CPU driver, where `tiling` carries its subgroup size).
fn weight_reduction(
    op: &'static str,
    name: &str,
    partial: KernelSource,
    weight_len: u64,
    parts: u32,
    tiling: &ConvTiling,
) -> Result<Reduction, KernelError> {
    let scratch_len = weight_len * u64::from(parts);
    fit_u32(op, "scratch elements", scratch_len, MAX_ELEMENTS)?;
    let lanes = (tiling.subgroup > 0).then_some(tiling.subgroup);
    Ok(Reduction {
        partial,
        finish: finish(op, name, weight_len, parts, lanes)?,
        scratch_len,
    })
}

/// The weight gradient's first pass vectorised along image rows
/// (`conv2d_grad_weight_rows.wgsl`), for the shapes and tilings where it applies
/// ([`rows::applies`] with [`RowKernel::GradWeight`]): the lanes of a workgroup share a tile
/// of `tn` output channels x `ceil(tm / (KH * KW))` input channels (about `tm` x `tn` weights,
/// as in the generic kernel) and split the 4-pixel quads between them, one part each.
fn conv2d_grad_weight_rows(
    op: &'static str,
    name: String,
    p: &Conv2dParams,
    tiling: &ConvTiling,
) -> Result<Reduction, KernelError> {
    let cin_g = p.in_channels / p.groups;
    let cout_g = p.out_channels / p.groups;
    let (ho, wo) = (p.out_h(), p.out_w());
    let kk = p.kernel_h * p.kernel_w;
    let tn = tiling.tn.min(cout_g).max(1);
    let tc = tiling.tm.div_ceil(kk).min(cin_g).max(1);
    let (qb, e0, nv) = rows::window_vectors(p.pad_w, p.kernel_w, p.stride_w);
    let quads = u64::from(p.batch) * u64::from(ho) * u64::from(wo / 4);
    let tiles = [
        u64::from(cout_g).div_ceil(u64::from(tn)),
        u64::from(p.groups) * u64::from(cin_g.div_ceil(tc)),
    ];
    let weight_len = p.weight_len();
    let max_parts = (MAX_ELEMENTS / weight_len)
        .min(u64::from(MAX_WORKGROUPS_PER_DIM) * u64::from(tiling.wg_m))
        .max(1);
    let per_part = tiles.iter().product::<u64>();
    let target = u64::from(tiling.split_target).min(per_part.saturating_mul(max_parts));
    // Split the terms (4 per quad), then round the chunks to whole quads: the lanes of a
    // workgroup are parts, so short reductions (8x8 maps) still fill a workgroup.
    let terms = split(op, quads * 4, per_part, target as u32)?;
    let chunk = u64::from(terms.chunk).div_ceil(4);
    let sp = Split {
        parts: quads.div_ceil(chunk) as u32,
        chunk: chunk as u32,
    };
    let workgroups = check_grid(
        op,
        [
            u64::from(sp.parts).div_ceil(u64::from(tiling.wg_m)),
            tiles[0],
            tiles[1],
        ],
    )?;
    let vars = weight_shape_vars(p)
        .i32("PAD_H", p.pad_h as i32)
        .u32("STRIDE", p.stride_w)
        .i32("QB", qb)
        .u32("E0", e0)
        .u32("NV", nv)
        .u32("CIN_G", cin_g)
        .u32("COUT_G", cout_g)
        .u32("RQ", quads as u32)
        .u32("PARTS", sp.parts)
        .u32("CHUNK", sp.chunk)
        .u32("TN", tn)
        .u32("TC", tc)
        .u32("WG", tiling.wg_m)
        .count("TN", tn)
        .count("TC", tc)
        .count("KH", p.kernel_h)
        .count("KW", p.kernel_w)
        .count("NV", nv)
        .count("LANES", 4);
    let partial = KernelSource {
        name: format!("{name}_rows_partial"),
        wgsl: render(
            "ops/conv/conv2d_grad_weight_rows.wgsl",
            WEIGHT_ROWS_TEMPLATE,
            &vars,
        )?,
        entry: ENTRY_POINT,
        workgroups,
        workgroup_size: [tiling.wg_m, 1, 1],
        bindings: weight_partial_bindings(),
    };
    weight_reduction(op, &name, partial, weight_len, sp.parts, tiling)
}
