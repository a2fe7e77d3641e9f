//! The batch size a graph can be lowered at on a device: every value must fit one device
//! buffer (`max_storage_buffer_binding_size`), checked before lowering so the error names the
//! largest value and the largest batch that fits.

use crate::ir::Graph;

/// A batch at which some value of the graph exceeds the device's buffer limit.
#[derive(Debug, thiserror::Error)]
#[error(
    "batch {batch} is too large for this device: `{name}` takes {per_example} bytes per example, and one buffer may hold at most {limit} bytes (max_storage_buffer_binding_size); the largest batch that fits is {max}"
)]
pub struct BatchTooLarge {
    pub batch: usize,
    pub max: usize,
    pub name: String,
    pub per_example: u64,
    pub limit: u64,
}

/// Check, before lowering, that every value of `g` fits one device buffer of `limit` bytes at
/// `batch`.
pub fn check_batch(g: &Graph, batch: usize, limit: u64) -> Result<(), BatchTooLarge> {
    let largest = g
        .node_ids()
        .filter(|&id| g.node(id).ty.batched)
        .map(|id| (g.node(id).ty.numel() as u64 * 4, id))
        .max_by_key(|(bytes, id)| (*bytes, std::cmp::Reverse(*id)));
    let Some((per_example, id)) = largest else {
        return Ok(());
    };
    let max = (limit / per_example.max(1)) as usize;
    if batch > max {
        return Err(BatchTooLarge {
            batch,
            max,
            name: g.node(id).path.clone(),
            per_example,
            limit,
        });
    }
    Ok(())
}
