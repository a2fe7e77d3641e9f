//! A PyTorch state dict as read from a file: named tensors in the file's order.

use super::pickle::StorageDtype;

/// One tensor of a state dict, its elements converted to f32 where it is a float tensor.
#[derive(Clone, Debug)]
pub struct SourceTensor {
    /// Its key in the file (`blocks.3.net.0.weight`).
    pub name: String,
    pub dims: Vec<usize>,
    /// Elements in row-major order, or the dtype of a tensor that is not a float tensor
    /// (`int64` for `num_batches_tracked`), which netc never loads.
    pub data: Result<Vec<f32>, &'static str>,
}

/// Named tensors and whether their order is the model's definition order.
#[derive(Clone, Debug)]
pub struct StateDict {
    pub tensors: Vec<SourceTensor>,
    /// True for pickles (`torch.save` keeps `state_dict()`'s order: modules in definition
    /// order); false for safetensors, whose header is sorted by name.
    pub definition_order: bool,
}

/// Convert `n` elements of `dtype` (little-endian bytes) to f32: exact for f16, bf16 and f32,
/// rounded to nearest for f64.
pub fn to_f32(dtype: StorageDtype, bytes: &[u8]) -> Result<Vec<f32>, &'static str> {
    Ok(match dtype {
        StorageDtype::F32 => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        StorageDtype::F16 => bytes
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        StorageDtype::BF16 => bytes
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        StorageDtype::F64 => bytes
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("chunks of 8")) as f32)
            .collect(),
        StorageDtype::Other(name) => return Err(name),
    })
}
