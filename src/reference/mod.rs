//! The CPU reference interpreter: the executable specification of every IR op.
//!
//! Input: a verified [`Graph`], its parameters by name, and its inputs by name.
//! Output: every node's value (or just the outputs).
//!
//! It is written to be obviously right, not fast: plain loops over NCHW buffers, f64
//! accumulation in every reduction, no fusion, no tiling. Every GPU kernel and every
//! gradient is tested against it. Batch norm runs in eval mode in forward graphs
//! (running statistics); training graphs use batch statistics (`BatchNormTrain`).
//!
//! It is generic over the element type: `f32`, as the device stores values, for
//! checking kernels; `f64` for checking gradients against finite differences and
//! against PyTorch's float64 training steps, where f32 rounding would tip values
//! that sit on a kink (a ReLU input near zero, a near-tie in a max pool).
//!
//! Values the graph types as f16 (a mixed-precision step's activations and gradients) are
//! rounded to f16 after they are computed, as the device stores them; gradients
//! downstream of the loss are rounded as the device holds them, multiplied by the loss
//! scale (`params["loss_scaler"][0]` when the parameters hold the scaler's state, else 1).
//! So in every precision the reference computes what the kernels should, up to the order
//! of their f32 sums.

pub mod ops;
pub mod train_ops;

use crate::ir::{DType, Graph, LOSS_SCALER, NodeId, Op};
use crate::tensor::{Element, Tensor, TensorMap};
use std::collections::{HashMap, HashSet};

/// Why the interpreter could not run a graph (missing or mis-shaped inputs).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RunError {
    #[error("no value for input `{0}`")]
    MissingInput(String),
    #[error("no value for parameter `{0}`")]
    MissingParam(String),
    #[error("`{name}` has shape {got:?}, the model expects {want:?}")]
    Shape {
        name: String,
        got: Vec<usize>,
        want: Vec<usize>,
    },
    #[error("inputs disagree on the batch size ({0} vs {1})")]
    Batch(usize, usize),
}

/// Every node's value, by node.
pub type Values<T = f32> = HashMap<NodeId, Tensor<T>>;
/// Graph outputs by name.
pub type Outputs<T = f32> = Vec<(String, Tensor<T>)>;

/// Evaluate every node; returns values indexed by node.
pub fn run_all<T: Element>(
    g: &Graph,
    params: &TensorMap<T>,
    inputs: &HashMap<String, Tensor<T>>,
) -> Result<Values<T>, RunError> {
    let mut values: Values<T> = HashMap::new();
    let mut batch: Option<usize> = None;
    let order = g.topo_order().expect("a verified graph is acyclic");
    let scaled = downstream_of_loss_gradient(g, &order);
    let loss_scale = params
        .get(LOSS_SCALER)
        .and_then(|t| t.data.first())
        .map_or(1.0, |v| v.to_f64());
    for id in order {
        let node = g.node(id);
        let value = match &node.op {
            Op::Input { name } => {
                let t = inputs
                    .get(name)
                    .ok_or_else(|| RunError::MissingInput(name.clone()))?;
                let want: Vec<usize> = if node.ty.batched {
                    let n = *t.dims.first().unwrap_or(&0);
                    if let Some(b) = batch
                        && b != n
                    {
                        return Err(RunError::Batch(b, n));
                    }
                    batch = Some(n);
                    std::iter::once(n)
                        .chain(node.ty.dims.iter().copied())
                        .collect()
                } else {
                    node.ty.dims.clone()
                };
                if t.dims != want {
                    return Err(RunError::Shape {
                        name: name.clone(),
                        got: t.dims.clone(),
                        want,
                    });
                }
                t.clone()
            }
            Op::Param { .. } => {
                let name = g.param_name(id).unwrap_or_default();
                let t = params
                    .get(&name)
                    .ok_or_else(|| RunError::MissingParam(name.clone()))?;
                if t.dims != node.ty.dims {
                    return Err(RunError::Shape {
                        name,
                        got: t.dims.clone(),
                        want: node.ty.dims.clone(),
                    });
                }
                t.clone()
            }
            op => {
                let xs: Vec<&Tensor<T>> = g.inputs(id).iter().map(|i| &values[i]).collect();
                ops::forward(op, &xs)
            }
        };
        let value = match node.ty.dtype {
            DType::F16 => {
                let s = if scaled.contains(&id) {
                    loss_scale
                } else {
                    1.0
                };
                round_f16(value, s)
            }
            DType::F32 | DType::I32 => value,
        };
        values.insert(id, value);
    }
    Ok(values)
}

/// `t` as f16 storage of `t * scale` keeps it: rounded to the nearest f16 (inf past its
/// range), divided by `scale` again.
fn round_f16<T: Element>(mut t: Tensor<T>, scale: f64) -> Tensor<T> {
    for v in &mut t.data {
        let stored = half::f16::from_f64(v.to_f64() * scale).to_f64();
        *v = T::from_f64(stored / scale);
    }
    t
}

/// Every node computed from a loss gradient (`softmax_cross_entropy_grad`): the values a
/// scaled step holds multiplied by the loss scale.
fn downstream_of_loss_gradient(g: &Graph, order: &[NodeId]) -> HashSet<NodeId> {
    let mut out = HashSet::new();
    for &id in order {
        let seed = matches!(
            g.node(id).op,
            Op::Train(crate::ir::TrainOp::SoftmaxCrossEntropyGrad)
        );
        if seed || g.inputs(id).iter().any(|i| out.contains(i)) {
            out.insert(id);
        }
    }
    out
}

/// Evaluate the graph and return its outputs by name.
pub fn run<T: Element>(
    g: &Graph,
    params: &TensorMap<T>,
    inputs: &HashMap<String, Tensor<T>>,
) -> Result<Outputs<T>, RunError> {
    let mut values = run_all(g, params, inputs)?;
    Ok(g.outputs()
        .into_iter()
        .map(|id| {
            let name = match &g.node(id).op {
                Op::Output { name } => name.clone(),
                _ => unreachable!("outputs() returns Output nodes"),
            };
            (name, values.remove(&id).expect("every node was evaluated"))
        })
        .collect())
}

/// Run one training step of a training graph: evaluate it, then apply every `Assign`
/// to `params` (parameters, running statistics, optimizer state). Returns the outputs
/// (`loss`, `correct`) and every node's value, for tests that inspect gradients.
pub fn train_step<T: Element>(
    g: &Graph,
    params: &mut TensorMap<T>,
    inputs: &HashMap<String, Tensor<T>>,
) -> Result<(Outputs<T>, Values<T>), RunError> {
    let values = run_all(g, params, inputs)?;
    for id in g.node_ids() {
        if let Op::Train(crate::ir::TrainOp::Assign) = g.node(id).op {
            let target = g.inputs(id)[0];
            let name = g.param_name(target).expect("assign targets a parameter");
            params.insert(name, values[&id].clone());
        }
    }
    let outputs = g
        .outputs()
        .into_iter()
        .map(|id| match &g.node(id).op {
            Op::Output { name } => (name.clone(), values[&id].clone()),
            _ => unreachable!("outputs() returns Output nodes"),
        })
        .collect();
    Ok((outputs, values))
}
