//! PyTorch state dicts saved as safetensors (`safetensors.torch.save_file(sd, path)`).
//!
//! The format keeps names, dtypes and shapes but not the state dict's order: the header is
//! sorted by name. So [`StateDict::definition_order`] is false, and matching rebuilds the
//! order from the names' structure (see [`super::matching`]).

use super::ImportError;
use super::pickle::StorageDtype;
use super::state_dict::{SourceTensor, StateDict, to_f32};

pub fn read(bytes: &[u8], path: &str) -> Result<StateDict, ImportError> {
    let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| ImportError::Format {
        path: path.into(),
        message: format!("not a readable safetensors file ({e}); is it truncated?"),
    })?;
    let mut tensors: Vec<SourceTensor> = st
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let dtype = match view.dtype() {
                safetensors::Dtype::F32 => StorageDtype::F32,
                safetensors::Dtype::F16 => StorageDtype::F16,
                safetensors::Dtype::BF16 => StorageDtype::BF16,
                safetensors::Dtype::F64 => StorageDtype::F64,
                safetensors::Dtype::I64 => StorageDtype::Other("int64"),
                safetensors::Dtype::I32 => StorageDtype::Other("int32"),
                safetensors::Dtype::BOOL => StorageDtype::Other("bool"),
                _ => StorageDtype::Other("a dtype other than f32, f16, bf16 or f64"),
            };
            SourceTensor {
                name,
                dims: view.shape().to_vec(),
                data: to_f32(dtype, view.data()),
            }
        })
        .collect();
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(StateDict {
        tensors,
        definition_order: false,
    })
}
