//! Per-kernel tiling choices: which [`ConvTiling`] each conv-family kernel of a plan uses.
//!
//! Lowering asks [`super::plan::Options::tiling_for`] once per conv forward, input gradient,
//! weight gradient and linear kernel, with a [`TileRequest`]. A tuner
//! ([`super::tune`]) answers with tilings it measured on the device; without one every kernel
//! gets the fixed default. The key of a request names the kernel and its shape only, never
//! options that do not change the inner loop (bias, fused activation, output slice).

use super::kernels::train::reduce::TARGET_INVOCATIONS;
use super::kernels::{Conv2dParams, ConvTiling};

/// The weight gradient's split target for GPU candidates: about an H100's 132 SMs x 1024
/// resident threads. A GPU hides memory latency only with many warps in flight; the default
/// (8192, tuned for lavapipe) leaves it running long chunk loops latency-bound.
pub const GPU_SPLIT_TARGET: u32 = 131_072;

/// The conv-family kernels a tiling applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConvKind {
    /// conv2d forward (and linear, as a 1x1 conv on a 1x1 map).
    Forward,
    /// Gradient with respect to the input (`conv2d_grad_input.wgsl`).
    GradInput,
    /// Gradient with respect to the weight, first pass (`conv2d_grad_weight_partial.wgsl`).
    GradWeight,
}

impl ConvKind {
    /// Short name used in cache keys and reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Forward => "fwd",
            Self::GradInput => "dx",
            Self::GradWeight => "dw",
        }
    }
}

/// One tiling decision: a kernel kind at a conv shape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TileRequest {
    /// Which kernel.
    pub kind: ConvKind,
    /// The forward conv's shape, with the options that do not affect tiling reset.
    pub params: Conv2dParams,
}

impl TileRequest {
    /// A request for `kind` at the shape of `params` (bias, activation and output slice are
    /// dropped: they do not change which tiling is fastest).
    pub fn new(kind: ConvKind, params: &Conv2dParams) -> Self {
        Self {
            kind,
            params: Conv2dParams {
                bias: false,
                activation: None,
                out_channel_offset: 0,
                out_total_channels: params.out_channels,
                // An accumulation costs one load per stored value: it does not change which
                // tiling is fastest, so the accumulating kernel shares the plain one's entry.
                accumulate: false,
                ..*params
            },
        }
    }

    /// A stable text key: kind, window, stride, padding, groups, `NxCxHxW` and output channels,
    /// and `:f16` for kernels over f16 activations (f32 keys are those of earlier caches).
    pub fn key(&self) -> String {
        let p = &self.params;
        format!(
            "{}:k{}x{}s{}x{}p{}x{}g{}:{}x{}x{}x{}->{}{}",
            self.kind.name(),
            p.kernel_h,
            p.kernel_w,
            p.stride_h,
            p.stride_w,
            p.pad_h,
            p.pad_w,
            p.groups,
            p.batch,
            p.in_channels,
            p.in_h,
            p.in_w,
            p.out_channels,
            match p.elem {
                crate::codegen::kernels::Elem::F32 => "",
                crate::codegen::kernels::Elem::F16 => ":f16",
            }
        )
    }
}

/// Output channels per invocation for `channels` output channels: 16 (a 16-wide tile is what
/// makes lavapipe fast), or all of them when there are fewer, so no lane computes clamped
/// duplicates.
fn channel_tile(channels: u32) -> u32 {
    channels.clamp(1, 16)
}

/// Output channels per group of the kernel's result: Cout for the forward conv and the weight
/// gradient, Cin for the input gradient.
fn result_channels(request: &TileRequest) -> u32 {
    let p = &request.params;
    let groups = p.groups.max(1);
    match request.kind {
        ConvKind::GradInput => p.in_channels / groups,
        ConvKind::Forward | ConvKind::GradWeight => p.out_channels / groups,
    }
}

/// The fixed tiling every kernel gets without tuning, measured on lavapipe (the project's CI
/// and development driver; see `examples/conv_roofline.rs`): 16 output pixels (4 rows of the
/// row kernel where it applies) x up to 16 channels per invocation, 8 invocations per workgroup
/// all sharing their channels, so weight loads are uniform across SIMD lanes. This was 3-5x
/// faster than the previous 4x4 tiles in 8x8 workgroups on every seed-model shape. Discrete
/// GPUs prefer smaller tiles in bigger workgroups; the tuner finds those.
pub fn default_tiling(request: &TileRequest) -> ConvTiling {
    ConvTiling {
        tm: 16,
        tn: channel_tile(result_channels(request)),
        wg_m: 8,
        wg_n: 1,
        split_target: TARGET_INVOCATIONS,
        subgroup: 0,
        shared: false,
        depth: 8,
    }
}

/// The tilings a tuner tries for `request`, the default first: five on CPU drivers; on other
/// devices six register-tiled ones and up to eight staged through workgroup memory (four
/// blocks, two slice depths; twice that for a weight gradient: two split targets).
/// `software` is true on CPU drivers such as lavapipe, which favour large register tiles and
/// uniform weight loads; other devices also try GPU-style tiles (small tiles, 64-256
/// invocations per workgroup), and their weight gradients split the reduction for
/// [`GPU_SPLIT_TARGET`] invocations, with the default tiling also tried at the default target
/// for comparison. Every candidate is valid for every shape (tests run them all against the
/// CPU reference).
pub fn candidates(request: &TileRequest, software: bool) -> Vec<ConvTiling> {
    let channels = result_channels(request).max(1);
    let tn = channel_tile(channels);
    let t = |tm, tn: u32, wg_m, wg_n| ConvTiling {
        tm,
        tn: tn.min(256 / tm).min(channels).max(1),
        wg_m,
        wg_n,
        split_target: TARGET_INVOCATIONS,
        subgroup: 0,
        shared: false,
        depth: 8,
    };
    let default = default_tiling(request);
    let mut out = vec![default];
    if software {
        // Each won on some seed-model shape on lavapipe (examples/conv_roofline.rs, the tuner).
        out.extend([
            t(8, tn, 8, 1),
            t(16, tn, 16, 1),
            t(16, tn / 2, 8, 1),
            t(8, 2 * tn, 8, 1),
        ]);
    } else {
        let gpu = [
            default,
            t(4, 4, 8, 8),
            t(4, 4, 16, 16),
            t(8, 8, 8, 8),
            t(2, 2, 16, 16),
        ]
        .into_iter()
        .chain(shared_candidates(channels));
        let split_target = if request.kind == ConvKind::GradWeight {
            GPU_SPLIT_TARGET
        } else {
            TARGET_INVOCATIONS
        };
        // The default at the GPU target comes second: the tuner's time budget always spares
        // the first two candidates, so both targets are compared.
        out.extend(gpu.map(|c| ConvTiling { split_target, ..c }));
        // A block of 64-256 invocations already keeps a GPU busy with fewer parts, and every
        // part is a slice of partial results written and read again: the staged weight
        // gradients also try a quarter of the target.
        if request.kind == ConvKind::GradWeight {
            out.extend(shared_candidates(channels).map(|c| ConvTiling {
                split_target: GPU_SPLIT_TARGET / 4,
                ..c
            }));
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|c| seen.insert(*c));
    out
}

/// Tilings of the kernels staged through workgroup memory (`ConvTiling::shared`), for GPUs:
/// blocks of 128, 64 and 32 rows by the width that fits `channels` result columns (16 to 128,
/// at most the block's height), and 128 x 64 where that width is 128. Invocations own 8 x 8,
/// 8 x 4 or 4 x 4 outputs (whole quads, read from shared memory as vec4). Each block comes with
/// 8-deep slices, and with 16-deep ones where those fit 16 KiB of workgroup memory.
fn shared_candidates(channels: u32) -> impl Iterator<Item = ConvTiling> {
    let bn = channels.next_power_of_two().clamp(16, 128);
    let wide = (bn == 128).then_some((128, 64));
    let blocks = [(128, bn), (64, bn.min(64)), (32, bn.min(32))]
        .into_iter()
        .chain(wide)
        .map(|(bm, bn): (u32, u32)| {
            let tm = if bm == 128 { 8 } else { 4 };
            let tn = if bn == 128 { 8 } else { 4 };
            ConvTiling {
                tm,
                tn,
                wg_m: bm / tm,
                wg_n: bn / tn,
                split_target: TARGET_INVOCATIONS,
                subgroup: 0,
                shared: true,
                depth: 8,
            }
        });
    blocks.flat_map(|c| {
        let deep = ConvTiling { depth: 16, ..c };
        let fits = 4 * 16 * (deep.block_m() + 4 + deep.block_n() + 4) <= 16_384;
        std::iter::once(c).chain(fits.then_some(deep))
    })
}

/// Whether `tiling`, read from a tuning cache for `request`, is one the tuner could have
/// chosen: one of [`candidates`] (every one of which is valid for every shape, which is
/// what a cache entry must be trusted to be). The cache stores tilings without the
/// device's subgroup size, which lowering adds. `Err` says why not.
pub fn check_cached(
    request: &TileRequest,
    tiling: &ConvTiling,
    software: bool,
) -> Result<(), String> {
    if tiling.subgroup != 0 {
        return Err("a cached tiling carries no subgroup size".into());
    }
    if candidates(request, software).contains(tiling) {
        return Ok(());
    }
    Err(format!(
        "tiling tm={} tn={} wg_m={} wg_n={} split_target={} shared={} depth={} is not one \
         netc tries for this kernel on this device",
        tiling.tm,
        tiling.tn,
        tiling.wg_m,
        tiling.wg_n,
        tiling.split_target,
        tiling.shared,
        tiling.depth
    ))
}
