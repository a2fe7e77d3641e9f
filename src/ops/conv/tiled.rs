//! conv2d, its input gradient and its weight gradient as implicit GEMMs staged through
//! workgroup memory (`conv2d_tiled.wgsl`): the GPU kernels, chosen by a
//! [`ConvTiling`] with `shared` set.
//!
//! A workgroup computes a `BM x BN` block of the GEMM (BM = `tm * wg_m`, BN = `tn * wg_n`),
//! staging `depth`-deep slices of both operands in workgroup memory so that each value read from
//! device memory serves a whole block row or column. The register-tiled kernels
//! (`conv2d.wgsl`, the row kernels) read every operand value per invocation, which suits a CPU
//! driver's caches and SIMD lanes; on a discrete GPU they are bound by memory traffic.
//!
//! Which GEMM each kernel computes is in the template's header. The input gradient takes
//! stride-1 convs only ([`applies_to_grad_input`]): a strided conv's input gradient keeps the
//! phase-split kernels, which skip the taps that cannot reach a pixel.

use super::kernel::{self, Conv2dParams, ConvTiling};
use crate::codegen::kernels::template::{Vars, render};
use crate::codegen::kernels::train::reduce::{Split, split};
use crate::codegen::kernels::{
    BindingKind, ENTRY_POINT, KernelError, KernelSource, MAX_ELEMENTS, MAX_WORKGROUPS_PER_DIM,
    check_loops, ensure,
};

const TEMPLATE: &str = include_str!("conv2d_tiled.wgsl");

/// Slice depths a tiling may ask for ([`ConvTiling::depth`]): 8 keeps a 128 x 128 block's two
/// slices in 8 KiB of workgroup memory, 16 halves the barriers of smaller blocks.
const DEPTHS: [u32; 3] = [4, 8, 16];

/// Workgroup memory the portable limit guarantees (WebGPU's `maxComputeWorkgroupStorageSize`).
const MAX_SHARED_BYTES: u32 = 16_384;

/// Whether the tiled input-gradient kernel applies to the conv `p` (stride 1 in both
/// directions); otherwise the phase-split kernels take a `shared` tiling's place.
pub(crate) fn applies_to_grad_input(p: &Conv2dParams) -> bool {
    p.stride_h == 1 && p.stride_w == 1
}

/// Checks a `shared` tiling: register tiles of whole quads (read from shared memory as vec4),
/// a block that fits workgroup memory, and a workgroup every device allows.
fn check_tiling(op: &'static str, tiling: &ConvTiling) -> Result<(), KernelError> {
    ensure(
        op,
        tiling.tm.is_multiple_of(4) && tiling.tn.is_multiple_of(4),
        || {
            format!(
                "a tiled kernel's register tile {}x{} must be quads (multiples of 4)",
                tiling.tm, tiling.tn
            )
        },
    )?;
    ensure(op, DEPTHS.contains(&tiling.depth), || {
        format!("slice depth {} is not one of {DEPTHS:?}", tiling.depth)
    })?;
    let (bm, bn) = (tiling.block_m(), tiling.block_n());
    let bytes = 4 * tiling.depth * (bm + 4 + bn + 4);
    ensure(op, bytes <= MAX_SHARED_BYTES, || {
        format!("block {bm}x{bn} needs {bytes} bytes of workgroup memory, above {MAX_SHARED_BYTES}")
    })?;
    ensure(op, tiling.wg_m * tiling.wg_n <= 256, || {
        format!(
            "workgroup {}x{} exceeds the 256 invocations every device allows",
            tiling.wg_m, tiling.wg_n
        )
    })
}

/// Which GEMM the template computes, and its sizes.
struct View {
    /// The template flag: `FORWARD`, `GRAD_INPUT` or `GRAD_WEIGHT`.
    flag: &'static str,
    /// Result rows, result columns per group, reduction length.
    gm: u64,
    gn: u64,
    gk: u64,
    /// How the reduction is cut into parts (one part except for the weight gradient).
    split: Split,
}

/// Renders the template for `view`; `extra` adds the view's own values (the forward conv's
/// bias, activation and output slice).
fn render_view(
    op: &'static str,
    name: String,
    p: &Conv2dParams,
    tiling: &ConvTiling,
    view: &View,
    extra: Vars,
    bindings: Vec<BindingKind>,
) -> Result<KernelSource, KernelError> {
    check_tiling(op, tiling)?;
    // The runtime loop steps through one part's chunk a slice at a time.
    check_loops(
        op,
        u64::from(view.split.chunk).div_ceil(u64::from(tiling.depth)),
    )?;
    for (what, v) in [
        ("rows", view.gm),
        ("columns", view.gn),
        ("reduction", view.gk),
    ] {
        ensure(op, v > 0 && v <= MAX_ELEMENTS, || {
            format!("GEMM {what} = {v} out of range")
        })?;
    }
    let lanes = tiling.wg_m * tiling.wg_n;
    let loads = |block: u32| (tiling.depth * block).div_ceil(lanes);
    let grid = [
        view.gm.div_ceil(u64::from(tiling.block_m())),
        view.gn.div_ceil(u64::from(tiling.block_n())),
        u64::from(p.groups) * u64::from(view.split.parts),
    ];
    let max = u64::from(MAX_WORKGROUPS_PER_DIM);
    ensure(op, grid.iter().all(|&g| g <= max), || {
        format!(
            "dispatch {}x{}x{} exceeds {max} per dimension; use a larger block",
            grid[0], grid[1], grid[2]
        )
    })?;
    let flags = ["FORWARD", "GRAD_INPUT", "GRAD_WEIGHT"];
    let flagged = flags
        .into_iter()
        .fold(extra, |v, f| v.flag(f, f == view.flag))
        .flag("ACCUMULATE", p.accumulate);
    // Storage vars come with the shape constants.
    let vars = kernel::shape_vars(flagged, p)
        .u32("COUT", p.out_channels)
        .u32("GROUPS", p.groups)
        .u32("GM", view.gm as u32)
        .u32("GN", view.gn as u32)
        .u32("GK", view.gk as u32)
        .u32("CHUNK", view.split.chunk)
        .u32("TM", tiling.tm)
        .u32("TN", tiling.tn)
        .u32("WG_M", tiling.wg_m)
        .u32("WG_N", tiling.wg_n)
        .u32("BK", tiling.depth)
        .count("TM", tiling.tm)
        .count("TN", tiling.tn)
        .count("TM4", tiling.tm / 4)
        .count("TN4", tiling.tn / 4)
        .count("BK", tiling.depth)
        .set("LOADS_A", loads(tiling.block_m()))
        .set("LOADS_B", loads(tiling.block_n()))
        .count("LOADS_A", loads(tiling.block_m()))
        .count("LOADS_B", loads(tiling.block_n()));
    Ok(KernelSource {
        name,
        wgsl: render("ops/conv/conv2d_tiled.wgsl", TEMPLATE, &vars)?,
        entry: ENTRY_POINT,
        workgroups: grid.map(|g| g as u32),
        workgroup_size: [tiling.wg_m, tiling.wg_n, 1],
        bindings,
    })
}

/// One part covering the whole reduction.
fn whole(gk: u64) -> Split {
    Split {
        parts: 1,
        chunk: gk as u32,
    }
}

/// The forward conv (with bias, activation and output slice) as a tiled GEMM; `p` is
/// validated by the caller. Bindings as [`super::kernel::conv2d`].
pub(crate) fn conv2d_tiled(
    op: &'static str,
    name: String,
    p: &Conv2dParams,
    tiling: &ConvTiling,
) -> Result<KernelSource, KernelError> {
    let gk = u64::from(p.in_channels / p.groups) * u64::from(p.kernel_h * p.kernel_w);
    let view = View {
        flag: "FORWARD",
        gm: u64::from(p.batch) * u64::from(p.out_h()) * u64::from(p.out_w()),
        gn: u64::from(p.out_channels / p.groups),
        gk,
        split: whole(gk),
    };
    let slice = Vars::new()
        .u32("OUT_TOTAL_CHANNELS", p.out_total_channels)
        .u32("OUT_CHANNEL_OFFSET", p.out_channel_offset);
    let (extra, bindings) = kernel::epilogue(slice, p.bias, p.activation, false)?;
    render_view(
        op,
        format!("{name}_tiled"),
        p,
        tiling,
        &view,
        extra,
        bindings,
    )
}

/// The input gradient of the stride-1 conv `p` ([`applies_to_grad_input`]) as a tiled GEMM.
/// Bindings: `dy` (read), `weight` (read), `dx` (written).
pub(crate) fn conv2d_grad_input_tiled(
    op: &'static str,
    name: String,
    p: &Conv2dParams,
    tiling: &ConvTiling,
) -> Result<KernelSource, KernelError> {
    ensure(op, applies_to_grad_input(p), || {
        format!(
            "the tiled input gradient takes stride 1, not {}x{}",
            p.stride_h, p.stride_w
        )
    })?;
    let gk = u64::from(p.out_channels / p.groups) * u64::from(p.kernel_h * p.kernel_w);
    let view = View {
        flag: "GRAD_INPUT",
        gm: u64::from(p.batch) * u64::from(p.in_h) * u64::from(p.in_w),
        gn: u64::from(p.in_channels / p.groups),
        gk,
        split: whole(gk),
    };
    render_view(
        op,
        format!("{name}_tiled"),
        p,
        tiling,
        &view,
        Vars::new(),
        kernel::conv_bindings(false, p.accumulate),
    )
}

/// The first pass of the weight gradient as a tiled GEMM with its reduction over
/// `(n, oy, ox)` cut into parts: partial `s` of weight `e` goes to `scratch[s * len + e]`, as
/// the other first passes write it. Returns the kernel and the number of parts. Bindings: `x`
/// (read), `dy` (read), `scratch` (written).
pub(crate) fn conv2d_grad_weight_tiled(
    op: &'static str,
    name: &str,
    p: &Conv2dParams,
    tiling: &ConvTiling,
) -> Result<(KernelSource, u32), KernelError> {
    // The split below rounds to whole slices.
    check_tiling(op, tiling)?;
    let gm = u64::from(p.in_channels / p.groups) * u64::from(p.kernel_h * p.kernel_w);
    let gn = u64::from(p.out_channels / p.groups);
    let gk = u64::from(p.batch) * u64::from(p.out_h()) * u64::from(p.out_w());
    let blocks = gm.div_ceil(u64::from(tiling.block_m()))
        * gn.div_ceil(u64::from(tiling.block_n()))
        * u64::from(p.groups);
    let invocations = blocks * u64::from(tiling.wg_m * tiling.wg_n);
    // Cap the parts where the scratch buffer or the grid's z dimension would overflow.
    let max_parts = (MAX_ELEMENTS / p.weight_len())
        .min(u64::from(MAX_WORKGROUPS_PER_DIM) / u64::from(p.groups))
        .max(1);
    let target = u64::from(tiling.split_target).min(invocations.saturating_mul(max_parts));
    let sp = split(op, gk, invocations, target as u32)?;
    // Whole slices per part, so only the last part stages a ragged slice.
    let chunk = u64::from(sp.chunk).next_multiple_of(u64::from(tiling.depth));
    let sp = Split {
        parts: gk.div_ceil(chunk) as u32,
        chunk: chunk as u32,
    };
    let view = View {
        flag: "GRAD_WEIGHT",
        gm,
        gn,
        gk,
        split: sp,
    };
    let bindings = vec![
        BindingKind::ReadOnly,
        BindingKind::ReadOnly,
        BindingKind::ReadWrite,
    ];
    let kernel = render_view(
        op,
        format!("{name}_tiled_partial"),
        p,
        tiling,
        &view,
        Vars::new(),
        bindings,
    )?;
    Ok((kernel, sp.parts))
}
