//! Import of PyTorch weights: a state dict (`.safetensors`, `.pt`, Lightning `.ckpt`) onto a
//! model's parameters.
//!
//! In: the elaborated forward graph (its parameters, in graph order, with shapes) and a file.
//! Out: a [`TensorMap`] under netc's names, ready for [`crate::params::save`], and the
//! [`Mapping`] that says which PyTorch tensor became which parameter.
//!
//! Reading never runs code from the file: `.pt`/`.ckpt` pickles go through the restricted
//! unpickler of [`pickle`], which refuses every global but the tensor rebuilders.
//! Matching ([`matching`]) uses the state dict's structure and shapes, never names, except
//! where a `--map` file ([`map_file`]) pins them. Every tensor of the file is accounted
//! for: each is a parameter, or ignored for a stated reason (`num_batches_tracked`, or
//! `null` in the map); a tensor left over is an error.

pub mod map_file;
pub mod matching;
pub mod pickle;
mod safetensors_file;
pub mod state_dict;
pub mod to_torch;
mod torch_file;
pub mod torch_write;

use crate::ir::Graph;
use crate::tensor::{Tensor, TensorMap};
use matching::Layer;
use state_dict::StateDict;
use std::collections::HashMap;
use std::path::Path;

/// Why weights were not imported. Each names the file and, where there is one, the tensor.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("`{path}`: {message}")]
    Format { path: String, message: String },
    #[error("`{path}`: {source}")]
    Pickle {
        path: String,
        source: pickle::PickleError,
    },
    #[error(
        "`{path}`: `{path_ext}` is not a state-dict format netc reads: use .safetensors, .pt (.pth, .bin) or .ckpt"
    )]
    Extension { path: String, path_ext: String },
    #[error(
        "`{path}`: PyTorch tensor `{name}` has shape {got:?}, but the netc parameter it would be, `{netc}`, has shape {want:?}"
    )]
    Shape {
        path: String,
        name: String,
        got: Vec<usize>,
        netc: String,
        want: Vec<usize>,
    },
    #[error(
        "`{path}`: PyTorch tensor `{name}` {dims:?} has no counterpart in netc's `{netc}`, which has {has}"
    )]
    NoCounterpart {
        path: String,
        name: String,
        dims: Vec<usize>,
        netc: String,
        has: String,
    },
    #[error("`{path}`: no tensor for netc parameter `{netc}` {dims:?}: {near}")]
    Missing {
        path: String,
        netc: String,
        dims: Vec<usize>,
        near: String,
    },
    #[error(
        "`{path}`: PyTorch tensor `{name}` {dims:?} is left over: every netc parameter already has a tensor (give it `null` in a --map file to ignore it)"
    )]
    Extra {
        path: String,
        name: String,
        dims: Vec<usize>,
    },
    #[error(
        "`{path}`: tensor `{name}` is {dtype}; netc imports float tensors (f32, f16, bf16, f64)"
    )]
    Dtype {
        path: String,
        name: String,
        dtype: String,
    },
    #[error("`{path}`: cannot decide the mapping: {message}")]
    Undecided { path: String, message: String },
    #[error("`{path}`: {message}")]
    Map { path: String, message: String },
}

/// One line of the mapping: a PyTorch tensor and what became of it.
#[derive(Clone, Debug, PartialEq)]
pub struct MappingRow {
    pub torch: String,
    pub dims: Vec<usize>,
    /// The netc parameter it fills, or `None` when it is ignored.
    pub netc: Option<String>,
    /// How it was decided: `structure`, `--map`, or why it is ignored.
    pub how: &'static str,
}

/// The mapping of a whole file, in netc's parameter order, ignored tensors last.
#[derive(Clone, Debug, Default)]
pub struct Mapping(pub Vec<MappingRow>);

impl Mapping {
    /// The table `--show-mapping` prints.
    pub fn table(&self) -> String {
        let shape = |d: &[usize]| format!("{d:?}");
        let w0 = self
            .0
            .iter()
            .map(|r| r.torch.len())
            .max()
            .unwrap_or(0)
            .max(7);
        let w1 = self
            .0
            .iter()
            .map(|r| shape(&r.dims).len())
            .max()
            .unwrap_or(0)
            .max(5);
        let w2 = self
            .0
            .iter()
            .map(|r| r.netc.as_deref().map_or(1, str::len))
            .max()
            .unwrap_or(0)
            .max(4);
        let mut out = format!(
            "{:<w0$}  {:<w1$}  {:<w2$}  how\n",
            "PyTorch", "shape", "netc"
        );
        for r in &self.0 {
            out += &format!(
                "{:<w0$}  {:<w1$}  {:<w2$}  {}\n",
                r.torch,
                shape(&r.dims),
                r.netc.as_deref().unwrap_or("-"),
                r.how
            );
        }
        out
    }
}

/// Why `num_batches_tracked` is not imported.
pub const NUM_BATCHES_TRACKED: &str =
    "ignored: BN's step counter (netc's bn always uses its momentum)";

/// Read a state dict file, by its extension.
pub fn read(path: &Path) -> Result<StateDict, ImportError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| ImportError::Read {
        path: shown.clone(),
        source,
    })?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "safetensors" => safetensors_file::read(&bytes, &shown),
        "pt" | "pth" | "bin" | "ckpt" => torch_file::read(&bytes, &shown),
        _ => Err(ImportError::Extension {
            path: shown,
            path_ext: format!(".{ext}"),
        }),
    }
}

/// Assign the tensors of `sd` to `g`'s parameters. `pins` is a `--map` file's content.
pub fn import(
    g: &Graph,
    sd: &StateDict,
    pins: &map_file::MapFile,
    path: &str,
) -> Result<(TensorMap, Mapping), ImportError> {
    let params: Vec<(String, Vec<usize>)> = g
        .params()
        .into_iter()
        .map(|(name, id)| (name, g.node(id).ty.dims.clone()))
        .collect();
    let by_name: HashMap<&str, &state_dict::SourceTensor> =
        sd.tensors.iter().map(|t| (t.name.as_str(), t)).collect();

    // 1. Pinned and ignored tensors leave the structural matching on both sides.
    let pinned = pins.resolve(&sd.tensors, &params, path)?;
    let mut rows: Vec<MappingRow> = Vec::new();
    let mut chosen: HashMap<String, &str> = HashMap::new(); // netc name -> PyTorch name
    let mut ignored: Vec<MappingRow> = Vec::new();
    let mut taken: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for (torch, netc) in &pinned {
        let t = by_name[torch.as_str()];
        taken.insert(t.name.as_str());
        match netc {
            Some(n) => {
                chosen.insert(n.clone(), t.name.as_str());
            }
            None => ignored.push(MappingRow {
                torch: t.name.clone(),
                dims: t.dims.clone(),
                netc: None,
                how: "ignored: null in --map",
            }),
        }
    }
    for t in &sd.tensors {
        if !taken.contains(t.name.as_str())
            && t.name.rsplit('.').next() == Some("num_batches_tracked")
        {
            taken.insert(t.name.as_str());
            ignored.push(MappingRow {
                torch: t.name.clone(),
                dims: t.dims.clone(),
                netc: None,
                how: NUM_BATCHES_TRACKED,
            });
        }
    }

    // 2. The rest by structure and shape.
    let theirs: Vec<(String, Vec<usize>)> = sd
        .tensors
        .iter()
        .filter(|t| !taken.contains(t.name.as_str()))
        .map(|t| (t.name.clone(), t.dims.clone()))
        .collect();
    let ours: Vec<(String, Vec<usize>)> = params
        .iter()
        .filter(|(n, _)| !chosen.contains_key(n))
        .cloned()
        .collect();
    let (torch_layers, netc_layers): (Vec<Layer>, Vec<Layer>) =
        (matching::layers(&theirs), matching::layers(&ours));
    let assignment = if netc_layers.is_empty() && torch_layers.is_empty() {
        Vec::new()
    } else {
        matching::assign(&netc_layers, &torch_layers, sd.definition_order, path)?
    };
    let mut structural: HashMap<String, &str> = HashMap::new();
    for (nl, &ti) in netc_layers.iter().zip(&assignment) {
        for (netc_name, suffix, _) in &nl.tensors {
            let (torch_name, _, _) = torch_layers[ti]
                .tensors
                .iter()
                .find(|(_, s, _)| s == suffix)
                .expect("assigned layers have the same suffixes");
            structural.insert(
                netc_name.clone(),
                by_name[torch_name.as_str()].name.as_str(),
            );
        }
    }

    // 3. The tensors, in netc's order.
    let mut out = TensorMap::new();
    for (name, dims) in &params {
        let (torch_name, how) = match (chosen.get(name), structural.get(name)) {
            (Some(&t), _) => (t, "--map"),
            (None, Some(&t)) => (t, "structure"),
            (None, None) => unreachable!("every netc parameter is pinned or matched"),
        };
        let t = by_name[torch_name];
        if &t.dims != dims {
            return Err(ImportError::Shape {
                path: path.into(),
                name: t.name.clone(),
                got: t.dims.clone(),
                netc: name.clone(),
                want: dims.clone(),
            });
        }
        let data = t.data.clone().map_err(|dtype| ImportError::Dtype {
            path: path.into(),
            name: t.name.clone(),
            dtype: dtype.into(),
        })?;
        out.insert(name.clone(), Tensor::new(dims.clone(), data));
        rows.push(MappingRow {
            torch: t.name.clone(),
            dims: t.dims.clone(),
            netc: Some(name.clone()),
            how,
        });
    }
    rows.extend(ignored);
    Ok((out, Mapping(rows)))
}
