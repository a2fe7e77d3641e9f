//! The reverse of import: netc parameters as a PyTorch state dict, under netc's names or
//! under the names of an existing state dict of the same model (matched as import matches).

use super::map_file::MapFile;
use super::{ImportError, import, read, torch_write};
use crate::ir::Graph;
use crate::tensor::{Tensor, TensorMap};
use std::path::Path;

/// `(name, tensor)` in graph order (PyTorch's definition order for a model written alike),
/// named as in `names_from` where it is given.
pub fn state_dict<'a>(
    g: &Graph,
    weights: &'a TensorMap,
    names_from: Option<(&Path, &MapFile)>,
) -> Result<Vec<(String, &'a Tensor)>, ImportError> {
    let mut renamed = std::collections::HashMap::new();
    if let Some((path, pins)) = names_from {
        let sd = read(path)?;
        let (_, mapping) = import(g, &sd, pins, &path.display().to_string())?;
        for row in mapping.0 {
            if let Some(netc) = row.netc {
                renamed.insert(netc, row.torch);
            }
        }
    }
    Ok(g.params()
        .into_iter()
        .filter_map(|(name, _)| {
            let t = weights.get(&name)?;
            Some((renamed.get(&name).cloned().unwrap_or(name), t))
        })
        .collect())
}

/// Write a state dict as `.pt` (torch.save's archive) or `.safetensors`, by extension.
pub fn write(tensors: &[(String, &Tensor)], out: &Path) -> Result<usize, String> {
    let ext = out.extension().and_then(|e| e.to_str()).unwrap_or("");
    let bytes = match ext {
        "pt" | "pth" => torch_write::to_bytes(tensors).map_err(|e| e.to_string())?,
        "safetensors" => {
            let map: TensorMap = tensors
                .iter()
                .map(|(k, t)| (k.clone(), (*t).clone()))
                .collect();
            crate::params::to_bytes(&map).map_err(|e| e.to_string())?
        }
        _ => {
            return Err(format!(
                "`{}`: a state dict is written as .pt (torch.save) or .safetensors",
                out.display()
            ));
        }
    };
    crate::atomic_file::write(out, &bytes)
        .map_err(|e| format!("cannot write `{}`: {e}", out.display()))?;
    Ok(bytes.len())
}
