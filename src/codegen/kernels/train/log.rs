//! The device-side metric log (`shaders/train/log_scalar.wgsl`): each training step
//! appends its scalar outputs (loss, correct count) to a buffer that stays on the device
//! until the trainer reads it, every few steps, in one read-back.

use super::super::template::{Vars, render};
use super::super::{BindingKind, ENTRY_POINT, KernelError, KernelSource, ensure};

const LOG: &str = include_str!("../../../../shaders/train/log_scalar.wgsl");

/// The largest log: entry counts are stored as f32, exact up to 2^24.
pub const MAX_LOG_CAPACITY: u32 = 1 << 20;

/// Append `value[0]` to a log of `capacity` entries.
///
/// Bindings: `value` (scalar), `log [1 + capacity]` (count, then entries).
pub fn log_scalar(capacity: u32) -> Result<KernelSource, KernelError> {
    const OP: &str = "log_scalar";
    ensure(OP, (1..=MAX_LOG_CAPACITY).contains(&capacity), || {
        format!("a log holds 1 to {MAX_LOG_CAPACITY} entries, not {capacity}")
    })?;
    Ok(KernelSource {
        name: format!("{OP}_{capacity}"),
        wgsl: render(
            "train/log_scalar.wgsl",
            LOG,
            &Vars::new().u32("CAPACITY", capacity),
        )?,
        entry: ENTRY_POINT,
        workgroups: [1, 1, 1],
        workgroup_size: [1, 1, 1],
        bindings: vec![BindingKind::ReadOnly, BindingKind::ReadWrite],
    })
}
