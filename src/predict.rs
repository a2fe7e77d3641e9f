//! Running a model over images: a backend (GPU plan or CPU reference), input
//! normalisation, and evaluation with accuracy and a confusion matrix.
//!
//! Used by `netc infer` and `netc eval`, and later by the trainer's validation.

use crate::codegen::plan::{self, Options};
use crate::data::Source;
use crate::data::loader::{self, Pipeline, Queue};
use crate::elab::recipe::Augment;
use crate::ir::Graph;
use crate::reference;
use crate::runtime::Runtime;
use crate::runtime::model::DeviceModel;
use crate::tensor::{Tensor, TensorMap};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Per-channel input normalisation: `(pixel / 255 - mean) / std`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Normalize {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl Normalize {
    /// CIFAR-10's training-set statistics (the seed's `DATA_MEANS`, `DATA_STD`): the
    /// default when weights come without their own.
    pub fn cifar10() -> Normalize {
        Normalize {
            mean: vec![0.491_399_7, 0.482_158_4, 0.446_530_9],
            std: vec![0.247_032_2, 0.243_485_1, 0.261_587_8],
        }
    }
}

pub use crate::data::CIFAR10_CLASSES;

/// Where logits are computed.
pub enum Backend<'r> {
    Gpu(Box<DeviceModel<'r>>),
    Cpu { graph: Graph, params: TensorMap },
}

/// Why prediction failed.
#[derive(Debug, thiserror::Error)]
pub enum PredictError {
    #[error(transparent)]
    Codegen(#[from] plan::CodegenError),
    #[error(transparent)]
    Device(#[from] crate::runtime::model::ModelError),
    #[error(transparent)]
    Reference(#[from] reference::RunError),
    #[error("internal compiler error: {0}")]
    Pass(#[from] crate::passes::PassError),
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    #[error(
        "the model has {model} input(s) and {outputs} output(s); prediction needs exactly one of each"
    )]
    Arity { model: usize, outputs: usize },
}

/// A model ready to produce logits for batches of at most `batch` images.
pub struct Predictor<'r> {
    backend: Backend<'r>,
    input: String,
    batch: usize,
    /// The input's (height, width); (0, 0) for a model whose input is not an image.
    size: (usize, usize),
}

impl<'r> Predictor<'r> {
    /// Compile `g` (through the optimisation passes) for `batch` images and upload
    /// `params` to the device.
    pub fn gpu(
        runtime: &'r Runtime,
        g: &Graph,
        params: &TensorMap,
        batch: usize,
    ) -> Result<Predictor<'r>, PredictError> {
        Self::gpu_with(runtime, g, params, batch, &Options::default())
    }

    /// [`Predictor::gpu`] with lowering options (tuned tilings).
    pub fn gpu_with(
        runtime: &'r Runtime,
        g: &Graph,
        params: &TensorMap,
        batch: usize,
        opts: &Options,
    ) -> Result<Predictor<'r>, PredictError> {
        let input = single_input(g)?;
        crate::codegen::batch_limit::check_batch(
            g,
            batch,
            runtime.context().limits().max_storage_buffer_binding_size,
        )
        .map_err(crate::runtime::model::ModelError::from)?;
        let plan = plan::lower(&crate::pipeline::optimise(g)?, batch, opts)?;
        Ok(Predictor {
            backend: Backend::Gpu(Box::new(DeviceModel::new(runtime, plan, params)?)),
            input,
            batch,
            size: input_size(g),
        })
    }

    /// The CPU reference interpreter as the backend.
    pub fn cpu(
        g: &Graph,
        params: &TensorMap,
        batch: usize,
    ) -> Result<Predictor<'static>, PredictError> {
        let input = single_input(g)?;
        Ok(Predictor {
            backend: Backend::Cpu {
                graph: g.clone(),
                params: params.clone(),
            },
            input,
            batch,
            size: input_size(g),
        })
    }

    /// Replace the parameters (e.g. with the trainer's latest).
    pub fn load_params(&mut self, new: &TensorMap) -> Result<(), PredictError> {
        match &mut self.backend {
            Backend::Gpu(dm) => dm.write_params(new)?,
            Backend::Cpu { params, .. } => {
                for (name, t) in new {
                    if let Some(p) = params.get_mut(name) {
                        p.data.clone_from(&t.data);
                    }
                }
            }
        }
        Ok(())
    }

    pub fn batch(&self) -> usize {
        self.batch
    }

    /// The (height, width) of the model's image input.
    pub fn image_size(&self) -> (usize, usize) {
        self.size
    }

    /// Logits `[n, classes]` for a batch of `n <= batch` images. A short batch is padded
    /// with zeros for the fixed-size GPU plan; padding rows are dropped from the result.
    pub fn logits(&self, images: &Tensor) -> Result<Tensor, PredictError> {
        let n = images.dims[0];
        let out = match &self.backend {
            Backend::Gpu(dm) => {
                let mut padded = images.clone();
                if n < self.batch {
                    padded.dims[0] = self.batch;
                    padded
                        .data
                        .resize(self.batch * images.numel() / n.max(1), 0.0);
                }
                dm.run(&HashMap::from([(self.input.clone(), padded)]))?
                    .remove(0)
                    .1
            }
            Backend::Cpu { graph, params } => {
                reference::run(
                    graph,
                    params,
                    &HashMap::from([(self.input.clone(), images.clone())]),
                )?
                .remove(0)
                .1
            }
        };
        let k = out.numel() / out.dims[0];
        Ok(Tensor::new(vec![n, k], out.data[..n * k].to_vec()))
    }
}

fn input_size(g: &Graph) -> (usize, usize) {
    g.inputs_of_model()
        .first()
        .and_then(|&i| g.node(i).ty.chw())
        .map_or((0, 0), |(_, h, w)| (h, w))
}

fn single_input(g: &Graph) -> Result<String, PredictError> {
    let ins = g.inputs_of_model();
    if ins.len() != 1 || g.outputs().len() != 1 {
        return Err(PredictError::Arity {
            model: ins.len(),
            outputs: g.outputs().len(),
        });
    }
    match &g.node(ins[0]).op {
        crate::ir::Op::Input { name } => Ok(name.clone()),
        _ => unreachable!("inputs_of_model returns inputs"),
    }
}

/// Softmax of one row of logits, in f64.
pub fn softmax(row: &[f32]) -> Vec<f64> {
    let m = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
    let e: Vec<f64> = row.iter().map(|&v| (v as f64 - m).exp()).collect();
    let z: f64 = e.iter().sum();
    e.into_iter().map(|v| v / z).collect()
}

pub fn argmax(row: &[f32]) -> usize {
    // First maximum, like torch.argmax.
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best
}

/// Accuracy and confusion matrix over a dataset.
#[derive(Clone, Debug, Serialize)]
pub struct EvalReport {
    pub images: usize,
    pub correct: usize,
    pub accuracy: f64,
    /// `confusion[true][predicted]`.
    pub confusion: Vec<Vec<usize>>,
    /// Every prediction, in dataset order.
    #[serde(skip)]
    pub predictions: Vec<usize>,
    /// Every logits row, in dataset order.
    #[serde(skip)]
    pub logits: Vec<Vec<f32>>,
}

/// Evaluate `predictor` on every image of `data`, each prepared by `transforms` (the
/// recipe's `eval_transform`) and `norm`, on the loader's workers.
pub fn evaluate(
    p: &Predictor<'_>,
    data: &Source,
    transforms: &[Augment],
    norm: &Normalize,
    classes: usize,
    queue: Queue,
) -> Result<EvalReport, PredictError> {
    let mut confusion = vec![vec![0usize; classes]; data.classes().len().max(classes)];
    let mut predictions = Vec::with_capacity(data.len());
    let mut logits = Vec::with_capacity(data.len());
    let indices: Vec<usize> = (0..data.len()).collect();
    let chunks: Vec<&[usize]> = indices.chunks(p.batch()).collect();
    let pipeline = Pipeline {
        source: data,
        transforms,
        mean: &norm.mean,
        std: &norm.std,
        seed: 0,
        epoch: 0,
        size: p.image_size(),
    };
    let labels = data.labels();
    loader::stream(&pipeline, &chunks, 0, queue, |k, (x, _)| {
        let out = p.logits(&x)?;
        let k_ = out.dims[1];
        for (row, &i) in out.data.chunks(k_).zip(chunks[k]) {
            let pred = argmax(row);
            confusion[labels[i] as usize][pred.min(classes - 1)] += 1;
            predictions.push(pred);
            logits.push(row.to_vec());
        }
        Ok::<bool, PredictError>(true)
    })?;
    let correct = predictions
        .iter()
        .zip(labels)
        .filter(|(p, l)| **p == **l as usize)
        .count();
    Ok(EvalReport {
        images: data.len(),
        correct,
        accuracy: correct as f64 / data.len().max(1) as f64,
        confusion,
        predictions,
        logits,
    })
}
