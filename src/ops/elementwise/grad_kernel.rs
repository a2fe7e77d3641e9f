//! Concat's gradient, the channel slice (`channel_slice.wgsl`, beside this file): a copy of one
//! input's channels out of the concatenation's gradient, one output element (or vector of
//! four) per invocation, no loops.

use crate::codegen::kernels::elementwise::vector_width;
use crate::codegen::kernels::template::Vars;
use crate::codegen::kernels::train::pointwise_grad::elementwise;
use crate::codegen::kernels::{
    Elem, KernelError, KernelSource, MAX_ELEMENTS, ensure, fit_u32, storage_vars,
};

const SLICE: &str = include_str!("channel_slice.wgsl");

/// Channels `[offset, offset + channels)` of `x: [n, c_total, hw]`, as a dense
/// `y: [n, channels, hw]`.
///
/// Bindings: `x`, `y`.
pub fn channel_slice(
    n: u32,
    c_total: u32,
    hw: u32,
    offset: u32,
    channels: u32,
    elem: Elem,
) -> Result<KernelSource, KernelError> {
    const OP: &str = "channel_slice";
    ensure(OP, n > 0 && channels > 0 && hw > 0, || {
        "empty tensor".into()
    })?;
    let end = u64::from(offset) + u64::from(channels);
    ensure(OP, end <= u64::from(c_total), || {
        format!("channels [{offset}, {end}) are outside {c_total}")
    })?;
    fit_u32(
        OP,
        "input elements",
        (u64::from(n) * u64::from(c_total)).saturating_mul(u64::from(hw)),
        MAX_ELEMENTS,
    )?;
    let width = vector_width(u64::from(hw));
    let vars = Vars::new()
        .u32("C_TOTAL", c_total)
        .u32("OFFSET", offset)
        .u32("CHANNELS", channels)
        .u32("HW", hw);
    elementwise(
        OP,
        format!(
            "channel_slice_{n}x{c_total}x{hw}_{offset}+{channels}{}",
            elem.suffix()
        ),
        ("ops/elementwise/channel_slice.wgsl", SLICE),
        (u64::from(n) * u64::from(channels)).saturating_mul(u64::from(hw / width)),
        // A copy never converts: it reads and writes the stored type, WIDTH at a time.
        storage_vars(vars.u32("WIDTH", width), elem, width),
        1,
    )
}
