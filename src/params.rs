//! Parameters on the host: initialisation from the recipe, and safetensors files.
//!
//! Initialisation follows the seed (PyTorch): conv weights from the recipe's Kaiming
//! initialiser (gain of the model's activation, `fan_in` or `fan_out`); batch norm
//! weight 1, bias 0, running mean 0, running variance 1; conv biases and linear layers
//! with PyTorch's defaults (uniform in ±1/sqrt(fan_in)). Everything is drawn from one
//! ChaCha8 stream seeded by `--seed`, in graph order, so a seed fixes every value.
//!
//! Files are safetensors, f32, keyed by the IR's hierarchical names
//! (`res_block.3.conv1.weight`), the same keys as a PyTorch state_dict of the seed's
//! models up to module naming.

use crate::elab::recipe::Init;
use crate::ir::{Graph, Op, ParamRole};
use crate::ops::activation::{Activation, Gain};
use crate::tensor::{Tensor, TensorMap};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, Uniform};
use std::collections::HashMap;
use std::path::Path;

/// PyTorch's `nn.init.calculate_gain` for the model's activation, as its table entry gives it
/// (`ops::activation::Gain`); 1 for `linear` / `identity`, and ReLU's for any other name.
pub fn gain(nonlinearity: &str) -> f64 {
    match Activation::from_name(nonlinearity).map(|a| a.def().gain) {
        Some(Gain::Constant(g)) => g,
        Some(Gain::Rectifier { negative_slope: a }) => (2.0 / (1.0 + a * a)).sqrt(),
        None if matches!(nonlinearity, "linear" | "identity") => 1.0,
        None => 2f64.sqrt(),
    }
}

/// Fresh parameters and buffers for every `Param` node of `g`.
pub fn init(g: &Graph, init: &Init, seed: u64) -> TensorMap {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = TensorMap::new();
    for id in g.node_ids() {
        let node = g.node(id);
        let Op::Param { role } = node.op else {
            continue;
        };
        let name = g.param_name(id).expect("param node");
        let dims = node.ty.dims.clone();
        // The owning op: the param's single user.
        let owner = g.users(id).first().map(|&u| g.node(u).op.clone());
        let tensor = match (role, owner) {
            (ParamRole::Gamma | ParamRole::RunningVar, _) => Tensor::filled(dims, 1.0),
            (
                ParamRole::Beta
                | ParamRole::RunningMean
                | ParamRole::MomentumBuffer
                | ParamRole::ExpAvg
                | ParamRole::ExpAvgSq,
                _,
            ) => Tensor::zeros(dims),
            (ParamRole::Weight, Some(Op::Conv2d { .. })) => {
                let receptive: usize = dims[2..].iter().product();
                let fan = if init.mode == "fan_out" {
                    dims[0] * receptive
                } else {
                    dims[1] * receptive
                };
                let gain = gain(&init.nonlinearity);
                if init.name == "kaiming_uniform" {
                    uniform(&mut rng, dims, gain * (3.0 / fan as f64).sqrt())
                } else {
                    normal(&mut rng, dims, gain / (fan as f64).sqrt())
                }
            }
            (ParamRole::Weight, _) => {
                // nn.Linear: kaiming_uniform_(a = sqrt 5), i.e. bound 1/sqrt(fan_in).
                let fan_in: usize = dims[1..].iter().product();
                uniform(&mut rng, dims, 1.0 / (fan_in as f64).sqrt())
            }
            (ParamRole::Bias, _) => {
                let fan_in = bias_fan_in(g, id);
                uniform(&mut rng, dims, 1.0 / (fan_in.max(1) as f64).sqrt())
            }
        };
        out.insert(name, tensor);
    }
    out
}

/// The fan-in of the layer a bias belongs to: its sibling weight's elements per output.
fn bias_fan_in(g: &Graph, bias: crate::ir::NodeId) -> usize {
    let Some(&owner) = g.users(bias).first() else {
        return 1;
    };
    let weight = g.inputs(owner)[1];
    g.node(weight).ty.dims[1..].iter().product()
}

fn normal(rng: &mut ChaCha8Rng, dims: Vec<usize>, std: f64) -> Tensor {
    let d = Normal::new(0.0, std).expect("std is finite and non-negative");
    let n = dims.iter().product();
    Tensor::new(dims, (0..n).map(|_| d.sample(rng) as f32).collect())
}

fn uniform(rng: &mut ChaCha8Rng, dims: Vec<usize>, bound: f64) -> Tensor {
    let d = Uniform::new_inclusive(-bound, bound).expect("bound is finite");
    let n = dims.iter().product();
    Tensor::new(dims, (0..n).map(|_| d.sample(rng) as f32).collect())
}

/// Why a parameter file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ParamsError {
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write `{path}`: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("`{path}` is not a valid safetensors file: {message}")]
    Format { path: String, message: String },
    #[error("`{path}`: tensor `{name}` is {dtype}, netc needs F32")]
    Dtype {
        path: String,
        name: String,
        dtype: String,
    },
    #[error("`{path}` has no tensor `{name}`, which the model needs")]
    Missing { path: String, name: String },
    #[error("`{path}`: tensor `{name}` has shape {got:?}, the model expects {want:?}")]
    Shape {
        path: String,
        name: String,
        got: Vec<usize>,
        want: Vec<usize>,
    },
    #[error(
        "`{path}`: tensor `{name}` holds {value} (element {index}); netc does not use non-finite weights (the run that wrote them diverged)"
    )]
    NonFinite {
        path: String,
        name: String,
        index: usize,
        value: f32,
    },
}

/// Serialise tensors to safetensors bytes (f32, little-endian).
pub fn to_bytes(tensors: &TensorMap) -> Result<Vec<u8>, safetensors::SafeTensorError> {
    to_bytes_with(tensors, None)
}

/// Serialise tensors, with string metadata in the file's header (`__metadata__`).
pub fn to_bytes_with(
    tensors: &TensorMap,
    metadata: Option<HashMap<String, String>>,
) -> Result<Vec<u8>, safetensors::SafeTensorError> {
    let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = tensors
        .iter()
        .map(|(k, t)| {
            (
                k.clone(),
                t.data.iter().flat_map(|v| v.to_le_bytes()).collect(),
                t.dims.clone(),
            )
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = bytes
        .iter()
        .map(|(k, b, dims)| {
            let view =
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, dims.clone(), b)
                    .expect("f32 bytes match their shape");
            (k.clone(), view)
        })
        .collect();
    safetensors::serialize(views, metadata)
}

/// Parse safetensors bytes; every tensor must be f32.
pub fn from_bytes(bytes: &[u8], path: &str) -> Result<TensorMap, ParamsError> {
    from_bytes_with(bytes, path).map(|(tensors, _)| tensors)
}

/// Parse safetensors bytes and the header's metadata (empty when it has none).
pub fn from_bytes_with(
    bytes: &[u8],
    path: &str,
) -> Result<(TensorMap, HashMap<String, String>), ParamsError> {
    let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| ParamsError::Format {
        path: path.into(),
        message: e.to_string(),
    })?;
    // Parsed twice (the header is small): `SafeTensors` keeps its `Metadata` private.
    let metadata = safetensors::SafeTensors::read_metadata(bytes)
        .map(|(_, m)| m.metadata().clone().unwrap_or_default())
        .unwrap_or_default();
    let mut out = TensorMap::new();
    for (name, view) in st.tensors() {
        if view.dtype() != safetensors::Dtype::F32 {
            return Err(ParamsError::Dtype {
                path: path.into(),
                name,
                dtype: format!("{:?}", view.dtype()),
            });
        }
        let data = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        out.insert(name, Tensor::new(view.shape().to_vec(), data));
    }
    Ok((out, metadata))
}

/// Write tensors atomically (`atomic_file::write`).
pub fn save(tensors: &TensorMap, path: &Path) -> Result<(), ParamsError> {
    save_with(tensors, None, path)
}

/// Write tensors and header metadata atomically.
pub fn save_with(
    tensors: &TensorMap,
    metadata: Option<HashMap<String, String>>,
    path: &Path,
) -> Result<(), ParamsError> {
    let shown = path.display().to_string();
    let bytes = to_bytes_with(tensors, metadata).map_err(|e| ParamsError::Format {
        path: shown.clone(),
        message: e.to_string(),
    })?;
    crate::atomic_file::write(path, &bytes).map_err(|source| ParamsError::Write {
        path: shown,
        source,
    })
}

pub fn load(path: &Path) -> Result<TensorMap, ParamsError> {
    load_with(path).map(|(tensors, _)| tensors)
}

/// Read tensors and the header's metadata.
pub fn load_with(path: &Path) -> Result<(TensorMap, HashMap<String, String>), ParamsError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| ParamsError::Read {
        path: shown.clone(),
        source,
    })?;
    from_bytes_with(&bytes, &shown)
}

/// The first NaN or infinite value, in name order: (tensor, element, value).
pub fn first_non_finite(tensors: &TensorMap) -> Option<(&str, usize, f32)> {
    tensors.iter().find_map(|(name, t)| {
        t.data
            .iter()
            .position(|v| !v.is_finite())
            .map(|i| (name.as_str(), i, t.data[i]))
    })
}

/// Refuse tensors holding NaN or infinity, naming the first such tensor.
pub fn check_finite(tensors: &TensorMap, path: &str) -> Result<(), ParamsError> {
    match first_non_finite(tensors) {
        Some((name, index, value)) => Err(ParamsError::NonFinite {
            path: path.into(),
            name: name.into(),
            index,
            value,
        }),
        None => Ok(()),
    }
}

/// Check that `tensors` holds every parameter of `g` with the right shape.
pub fn check_against(g: &Graph, tensors: &TensorMap, path: &str) -> Result<(), ParamsError> {
    for (name, id) in g.params() {
        let want = &g.node(id).ty.dims;
        match tensors.get(&name) {
            None => {
                return Err(ParamsError::Missing {
                    path: path.into(),
                    name,
                });
            }
            Some(t) if &t.dims != want => {
                return Err(ParamsError::Shape {
                    path: path.into(),
                    name,
                    got: t.dims.clone(),
                    want: want.clone(),
                });
            }
            Some(_) => {}
        }
    }
    Ok(())
}
