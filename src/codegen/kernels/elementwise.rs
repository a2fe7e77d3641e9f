//! How many consecutive elements one invocation of a pointwise kernel reads as one vector
//! ([`vector_width`]) and the template variables that say so: shared by the pointwise kernels of
//! every family (add and concat in `crate::ops::elementwise`, batch norm's, channel slices).

use super::template::Vars;

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
