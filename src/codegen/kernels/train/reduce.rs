//! Split reductions: the bias gradient, and the pieces every long reduction shares.
//!
//! A training step sums over the batch and the spatial positions (N*H*W values: 131,072 for
//! batch 128 on 32x32), far past what one invocation may loop on lavapipe (65,535 iterations,
//! silently truncated). Each such sum is a [`Reduction`]: a `partial` pass sums `parts`
//! contiguous chunks of the reduction range into a scratch buffer laid out `[parts, len]`, and
//! `finish` (`shaders/train/reduce_finish.wgsl`, shared by every reduction here, conv and
//! linear weight gradients included) adds each element's partials in order. No atomics: the
//! order of every sum is fixed, so results are bit-for-bit deterministic.
//!
//! [`split`] chooses the number of parts: enough to keep each chunk under [`MAX_CHUNK`]
//! iterations, and more, down to chunks of [`MIN_CHUNK`], while the first pass would have fewer
//! invocations than a target ([`TARGET_INVOCATIONS`] unless the kernel's tiling says otherwise),
//! so a short-and-wide problem still spreads its work.
//!
//! The per-channel sums over N*H*W values — the bias gradient here, batch norm's statistics and
//! parameter gradients (`crate::ops::norm::train_kernel`) — share one layout instead: [`chunks`]
//! cuts each channel into chunks of one workgroup each, [`chunk_vars`] gives their first
//! passes' variables, and [`channel_sum_finish`] (`shaders/train/channel_sum_finish.wgsl`) is
//! the second pass of the sums.

use super::super::elementwise::{vector_width, width_vars};
use super::super::reduction_wg;
use super::super::template::{Vars, render};
use super::super::{
    BindingKind, ENTRY_POINT, Elem, KernelError, KernelSource, MAX_ELEMENTS, MAX_LOOP_ITERATIONS,
    Reduction, check_loops, ensure, fit_u32, grid_1d, storage_vars,
};
use crate::ops::activation::{self, Activation};

const FINISH_TEMPLATE: &str = include_str!("../../../../shaders/train/reduce_finish.wgsl");
const PARTIAL_TEMPLATE: &str = include_str!("../../../../shaders/train/channel_sum_partial.wgsl");
const SUM_FINISH: &str = include_str!("../../../../shaders/train/channel_sum_finish.wgsl");
const LANE_SUM: &str = include_str!("../../../../shaders/lib/lane_sum.wgsl");

/// Longest chunk one invocation of a first pass sums (a quarter of the loop budget, so a
/// kernel with a few iterations of other loops still fits).
pub const MAX_CHUNK: u64 = 4096;
/// Shortest chunk worth a partial result (smaller chunks only grow the scratch buffer).
pub const MIN_CHUNK: u64 = 256;
/// Invocations a first pass aims for before it stops splitting further, by default: enough for
/// a CPU driver such as lavapipe (a GPU wants many more, see `ConvTiling::split_target`).
pub const TARGET_INVOCATIONS: u32 = 8192;

/// Invocations per workgroup of the finish pass.
const FINISH_LANES: u32 = 256;

/// How a reduction of `length` terms is cut: `parts` contiguous chunks of `chunk` terms (the
/// last one possibly shorter, none empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Split {
    /// Number of partial results per output element.
    pub parts: u32,
    /// Terms per chunk.
    pub chunk: u32,
}

/// Chooses the split of a reduction over `length` terms whose first pass runs `invocations`
/// invocations per part (the output elements, or output tiles), splitting further while the
/// first pass has fewer than `target` invocations.
pub(crate) fn split(
    op: &'static str,
    length: u64,
    invocations: u64,
    target: u32,
) -> Result<Split, KernelError> {
    let length = length.max(1);
    let min_parts = length.div_ceil(MAX_CHUNK);
    // Extra parts are optional, so they never push the finish loop past its budget.
    let wanted = u64::from(target)
        .div_ceil(invocations.max(1))
        .min(MAX_LOOP_ITERATIONS);
    let max_useful = length.div_ceil(MIN_CHUNK);
    let parts = min_parts.max(wanted.min(max_useful)).max(1);
    let chunk = length.div_ceil(parts);
    // Recompute so that no chunk is empty.
    let parts = length.div_ceil(chunk);
    check_loops(op, chunk)?;
    // The finish pass loops once per part.
    check_loops(op, parts)?;
    Ok(Split {
        parts: parts as u32,
        chunk: chunk as u32,
    })
}

/// The `finish` pass of a reduction: `out[e] = sum over s < parts of scratch[s * len + e]`,
/// in a fixed order (each of L lanes adds every L-th partial in order,
/// then a tree adds the lanes). Bindings: `scratch` (read), `out` (written).
///
/// With `lanes = Some(n)` (a CPU driver's SIMD width, [`ChunkLanes`]) a workgroup is `n`
/// elements with one lane each, adding all partials in order: no tree, whose barriers switch
/// between SIMD groups on such drivers.
pub(crate) fn finish(
    op: &'static str,
    name: &str,
    len: u64,
    parts: u32,
    lanes: ChunkLanes,
) -> Result<KernelSource, KernelError> {
    ensure(op, len > 0 && parts > 0, || {
        format!("empty reduction: {len} elements, {parts} parts")
    })?;
    check_loops(op, u64::from(parts))?;
    fit_u32(op, "scratch elements", len * u64::from(parts), MAX_ELEMENTS)?;
    let len32 = fit_u32(op, "output elements", len, MAX_ELEMENTS)?;
    // Up to 32 neighbouring elements per workgroup, and lanes for the rest of 256 invocations
    // (no more than there are partials).
    let (e, l) = match lanes.filter(|n| n.is_power_of_two()) {
        Some(n) => (n, 1),
        None => {
            let e = len32.next_power_of_two().min(32);
            (e, (FINISH_LANES / e).min(parts.next_power_of_two()))
        }
    };
    let workgroups = grid_1d(op, len.div_ceil(u64::from(e)))?;
    let vars = Vars::new()
        .u32("LEN", len32)
        .u32("PARTS", parts)
        .u32("GRID_X", workgroups[0])
        .u32("E", e)
        .u32("L", l);
    Ok(KernelSource {
        name: format!("{name}_finish"),
        wgsl: render("train/reduce_finish.wgsl", FINISH_TEMPLATE, &vars)?,
        entry: ENTRY_POINT,
        workgroups,
        workgroup_size: [e, l, 1],
        bindings: vec![BindingKind::ReadOnly, BindingKind::ReadWrite],
    })
}

/// Values one invocation of a first pass reads per sweep over its chunk (with the default
/// lanes; chunks keep this length whatever the lanes).
pub const PER_INVOCATION: u32 = 16;

/// Invocations that share one chunk of a per-channel reduction's first pass and add their sums
/// with a workgroup tree: `None` for up to 256 (GPUs want many threads in flight), `Some(n)`
/// for `n` (a power of two), the SIMD width of a CPU driver (`plan::Options::subgroup_size`):
/// there every barrier of the tree switches between the workgroup's SIMD groups, and one SIMD
/// group per chunk made ResNet's batch statistics ~3x faster on lavapipe than 256 lanes. The
/// chunks, and so the partial results, are the same either way; only the order of the sums
/// within a chunk differs.
pub type ChunkLanes = Option<u32>;

/// How a per-channel reduction over N*H*W values is cut into chunks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Chunks {
    /// Channels.
    pub(crate) c: u32,
    /// Plane size H*W.
    pub(crate) hw: u32,
    /// Values per channel, N*H*W.
    pub(crate) m: u32,
    /// Workgroup size of the first pass (a power of two).
    pub(crate) wg: u32,
    /// Values per chunk: [`PER_INVOCATION`] times the default lanes.
    pub(crate) chunk: u32,
    /// Chunks per channel.
    pub(crate) chunks: u32,
    /// First-pass grid (one workgroup per channel and chunk).
    pub(crate) partial_grid: [u32; 3],
    /// Workgroup size of the finish (a power of two).
    pub(crate) finish_wg: u32,
    /// Finish grid (one workgroup per channel).
    pub(crate) finish_grid: [u32; 3],
    /// Values the first pass reads as one vector ([`vector_width`] of the plane): sweeps walk
    /// a chunk in these units.
    pub(crate) width: u32,
}

pub(crate) fn chunks(
    op: &'static str,
    n: u32,
    c: u32,
    h: u32,
    w: u32,
    lanes: ChunkLanes,
) -> Result<Chunks, KernelError> {
    ensure(op, n > 0 && c > 0 && h > 0 && w > 0, || {
        "empty tensor".into()
    })?;
    let hw = u64::from(h) * u64::from(w);
    fit_u32(
        op,
        "elements",
        (u64::from(n) * u64::from(c)).saturating_mul(hw),
        MAX_ELEMENTS,
    )?;
    let m = u64::from(n) * hw;
    let default_wg = reduction_wg(m.min(1 << 20) as u32);
    let chunk = default_wg * PER_INVOCATION;
    let wg = lanes
        .filter(|l| l.is_power_of_two())
        .map_or(default_wg, |l| l.min(default_wg));
    let chunks = m.div_ceil(u64::from(chunk));
    let partial_grid = grid_1d(op, u64::from(c) * chunks)?;
    let chunks = chunks as u32;
    let finish_wg = reduction_wg(chunks);
    // Two sweeps over the chunk and a tree; the finish walks its share of chunks and a tree.
    let tree = u64::from(wg.trailing_zeros()) + 1;
    check_loops(op, 2 * u64::from(chunk / wg) + 2 * tree)?;
    check_loops(
        op,
        u64::from(chunks.div_ceil(finish_wg)) + u64::from(finish_wg.trailing_zeros()) + 1,
    )?;
    Ok(Chunks {
        c,
        hw: hw as u32,
        m: m as u32,
        wg,
        chunk,
        chunks,
        partial_grid,
        finish_wg,
        finish_grid: grid_1d(op, u64::from(c))?,
        width: vector_width(hw),
    })
}

/// The variables every first pass of a per-channel reduction shares: the chunking, the
/// vector width of its sweeps, how the swept activations are stored and `LANE_SUM_LIB` (`shaders/lib/lane_sum.wgsl`).
pub(crate) fn chunk_vars(k: &Chunks, grid: [u32; 3], elem: Elem) -> Result<Vars, KernelError> {
    let vars = Vars::new()
        .u32("CHANNELS", k.c)
        .u32("HW", k.hw)
        .u32("M", k.m)
        .u32("CHUNK", k.chunk)
        .u32("CHUNKS", k.chunks)
        .u32("GRID_X", grid[0]);
    let lane_sum = render(
        "lib/lane_sum.wgsl",
        LANE_SUM,
        &Vars::new().flag("VEC4", k.width == 4),
    )?;
    Ok(storage_vars(width_vars(vars, k.width), elem, k.width)
        .set("LANE_SUM_LIB", lane_sum.trim_end()))
}

/// The second pass of a per-channel reduction over `k`'s chunks: `out[c]` = the sum of row `c`
/// of scratch `[c, chunks]`. With `pair`, scratch holds a second such block, summed into a
/// second output. Bindings: `scratch`, `out [c]` (and `out2 [c]`).
pub(crate) fn channel_sum_finish(
    op: &'static str,
    name: String,
    k: &Chunks,
    pair: bool,
) -> Result<KernelSource, KernelError> {
    // One workgroup per row: c rows, or 2c with a pair.
    let rows = u64::from(k.c) * if pair { 2 } else { 1 };
    let grid = grid_1d(op, rows)?;
    let vars = Vars::new()
        .u32("CHANNELS", k.c)
        .u32("CHUNKS", k.chunks)
        .u32("GRID_X", grid[0])
        .u32("WG", k.finish_wg)
        .flag("PAIR", pair);
    let mut bindings = vec![BindingKind::ReadOnly, BindingKind::ReadWrite];
    if pair {
        bindings.push(BindingKind::ReadWrite);
    }
    Ok(KernelSource {
        name,
        wgsl: render("train/channel_sum_finish.wgsl", SUM_FINISH, &vars)?,
        entry: ENTRY_POINT,
        workgroups: grid,
        workgroup_size: [k.finish_wg, 1, 1],
        bindings,
    })
}

/// The bias gradient `db[c] = sum over n < batch, p < inner of dy[n, c, p]` (`TrainOp::BiasGrad`;
/// `inner` is H*W for a conv, 1 for a linear layer).
///
/// Bindings of `partial`: `dy [batch, channels, inner]` (read), `scratch` (written); of
/// `finish`: `scratch` (read), `db [channels]` (written).
///
/// With `act_grad` other than the identity, `dy` is the gradient of a fused activation's output
/// `y` (one more binding after `dy`) and the sum is over `dy * act'(y)`: the activation's
/// gradient folded into the reduction.
pub fn bias_grad(
    batch: u32,
    channels: u32,
    inner: u32,
    act_grad: Option<Activation>,
) -> Result<Reduction, KernelError> {
    bias_grad_lanes(batch, channels, inner, act_grad, None, Elem::F32)
}

/// [`bias_grad`] with `lanes` invocations per chunk ([`ChunkLanes`]), of a `dy` (and `y`)
/// stored as `elem`.
pub fn bias_grad_lanes(
    batch: u32,
    channels: u32,
    inner: u32,
    act_grad: Option<Activation>,
    lanes: ChunkLanes,
    elem: Elem,
) -> Result<Reduction, KernelError> {
    const OP: &str = "bias_grad";
    // The batch-statistics layout: one workgroup per (channel, chunk), then one per channel.
    // A first pass with one invocation per (channel, part) looping over its part read dy
    // uncoalesced and left too few invocations for a GPU (40 µs against 16 µs on an H100).
    let k = chunks(OP, batch, channels, inner, 1, lanes)?;
    let vars = chunk_vars(&k, k.partial_grid, elem)?
        .u32("WG", k.wg)
        .flag("VEC4", k.width == 4)
        .flag("ACT_GRAD", act_grad.is_some())
        .set(
            "ACT_GRAD_LIB",
            activation::wgsl_grad_library(act_grad, k.width)?,
        );
    let name = format!(
        "bias_grad{}_{batch}x{channels}x{inner}{}",
        through(act_grad),
        elem.suffix()
    );
    let partial = KernelSource {
        name: format!("{name}_partial"),
        wgsl: render("train/channel_sum_partial.wgsl", PARTIAL_TEMPLATE, &vars)?,
        entry: ENTRY_POINT,
        workgroups: k.partial_grid,
        workgroup_size: [k.wg, 1, 1],
        bindings: read_then_write(1 + usize::from(act_grad.is_some())),
    };
    Ok(Reduction {
        partial,
        finish: channel_sum_finish(OP, format!("{name}_finish"), &k, false)?,
        scratch_len: u64::from(k.c) * u64::from(k.chunks),
    })
}

/// The kernel-name suffix of a gradient taken through a fused activation (`_through_relu`).
pub(crate) fn through(act_grad: Option<Activation>) -> String {
    act_grad
        .map(|a| format!("_through_{}", a.name()))
        .unwrap_or_default()
}

/// `reads` read-only bindings, then one read-write.
pub(crate) fn read_then_write(reads: usize) -> Vec<BindingKind> {
    let mut b = vec![BindingKind::ReadOnly; reads];
    b.push(BindingKind::ReadWrite);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_respects_the_loop_budget_and_covers_the_range() {
        for length in [1u64, 7, 255, 4096, 4097, 131_072, 133_120, 10_000_000] {
            for inv in [1u64, 24, 10_000, 1 << 20] {
                let s = split("t", length, inv, TARGET_INVOCATIONS).unwrap();
                assert!(u64::from(s.chunk) <= MAX_CHUNK, "{length} {inv} {s:?}");
                assert!(u64::from(s.parts) * u64::from(s.chunk) >= length);
                assert!(u64::from(s.parts - 1) * u64::from(s.chunk) < length);
            }
        }
        assert_eq!(
            split("t", 10, 1 << 20, TARGET_INVOCATIONS).unwrap(),
            Split {
                parts: 1,
                chunk: 10
            }
        );
    }

    #[test]
    fn a_larger_target_splits_into_more_parts_never_past_min_chunk() {
        for length in [4096u64, 65_536, 133_120, 1 << 22] {
            for inv in [1u64, 64, 1024, 8192] {
                let mut last = 0;
                for target in [1u32, 64, TARGET_INVOCATIONS, 131_072, u32::MAX] {
                    let s = split("t", length, inv, target).unwrap();
                    let (parts, chunk) = (u64::from(s.parts), u64::from(s.chunk));
                    let ctx = format!("{length} {inv} {target} {s:?}");
                    assert!(parts >= last, "{ctx}: fewer parts than a smaller target");
                    assert!(parts <= length.div_ceil(MIN_CHUNK).max(1), "{ctx}");
                    assert!(parts <= MAX_LOOP_ITERATIONS && chunk <= MAX_CHUNK, "{ctx}");
                    // No empty chunk: the last one starts inside the range.
                    assert!(
                        (parts - 1) * chunk < length && parts * chunk >= length,
                        "{ctx}"
                    );
                    last = parts;
                }
            }
        }
        let at = |target| split("t", 65_536, 64, target).unwrap().parts;
        assert_eq!(at(TARGET_INVOCATIONS), 128);
        assert_eq!(at(131_072), 256, "bounded by length / MIN_CHUNK");
        assert_eq!(at(64), 16, "at least length / MAX_CHUNK");
    }

    #[test]
    fn bias_grad_kernels_validate() {
        for (n, c, p) in [(1, 1, 1), (128, 10, 1), (130, 24, 1024), (3, 7, 5)] {
            let r = bias_grad(n, c, p, None).unwrap();
            for k in [&r.partial, &r.finish] {
                super::super::super::validate_wgsl(&k.wgsl)
                    .unwrap_or_else(|e| panic!("{}: {e}", k.name));
            }
        }
        assert!(bias_grad(0, 1, 1, None).is_err());
    }
}
