//! `netc infer FILE --weights W IMAGE...`: the top classes, with probabilities, for
//! PNG, JPEG or WebP images, prepared by the recipe's `eval_transform` exactly as
//! validation prepares them (a recipe without one: resized to the model's input).

use super::eval::NormArgs;
use super::{ModelArgs, model_with_weights, open_runtime};
use netc::data::loader::Pipeline;
use netc::data::{FileSet, Source};
use netc::diag::{Diagnostic, Diagnostics, Sources};
use netc::elab::recipe::Augment;
use netc::predict::{self, CIFAR10_CLASSES, Predictor};
use netc::tensor::Tensor;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Parameters (safetensors).
    #[arg(long)]
    pub weights: PathBuf,
    /// Images to classify.
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// How many classes to show per image (at least 1).
    #[arg(long, default_value_t = 3, value_parser = super::values::positive_count)]
    pub top: usize,
    /// Use the CPU reference instead of the GPU.
    #[arg(long)]
    pub cpu: bool,
    #[command(flatten)]
    pub norm: NormArgs,
}

pub fn run(sources: &mut Sources, a: Args) -> Result<(), Diagnostics> {
    let (e, weights) = model_with_weights(sources, &a.model, &a.weights)?;
    let norm = a.norm.resolve_for(&e.recipe)?;
    let input = e.graph.inputs_of_model();
    let Some((c, h, w)) = input.first().and_then(|&i| e.graph.node(i).ty.chw()) else {
        return Err(
            Diagnostic::error("`netc infer` needs a model with one image input [C,H,W]").into(),
        );
    };
    if c != 3 {
        return Err(Diagnostic::error(format!(
            "`netc infer` reads RGB images; the model's input has {c} channels"
        ))
        .into());
    }
    let transforms = match e.recipe.eval_transform.as_slice() {
        [] => vec![Augment::Resize {
            size: vec![h as u32, w as u32],
        }],
        list => list.to_vec(),
    };
    let source = Source::Files(FileSet {
        classes: Vec::new(),
        labels: vec![0; a.images.len()],
        paths: a.images.clone(),
        cache: None,
        uniform: None,
    });
    let pipeline = Pipeline {
        source: &source,
        transforms: &transforms,
        mean: &norm.mean,
        std: &norm.std,
        seed: 0,
        epoch: 0,
        size: (h, w),
    };
    let indices: Vec<usize> = (0..a.images.len()).collect();
    let (x, _) = pipeline
        .batch(&indices)
        .map_err(|err| Diagnostic::error(err.to_string()))?;
    let data = x.data;
    let batch = Tensor::new(vec![a.images.len(), 3, h, w], data);
    let fail = |err: predict::PredictError| Diagnostics::from(Diagnostic::error(err.to_string()));
    let runtime;
    let predictor = if a.cpu {
        Predictor::cpu(&e.graph, &weights, a.images.len()).map_err(fail)?
    } else {
        runtime = open_runtime()?;
        Predictor::gpu(&runtime, &e.graph, &weights, a.images.len()).map_err(fail)?
    };
    let logits = predictor.logits(&batch).map_err(fail)?;
    let k = logits.dims[1];
    for (path, row) in a.images.iter().zip(logits.data.chunks(k)) {
        let probs = predict::softmax(row);
        let mut order: Vec<usize> = (0..k).collect();
        order.sort_by(|&x, &y| probs[y].total_cmp(&probs[x]));
        let top: Vec<String> = order
            .iter()
            .take(a.top)
            .map(|&i| {
                let name = if k == CIFAR10_CLASSES.len() {
                    CIFAR10_CLASSES[i].to_string()
                } else {
                    format!("class {i}")
                };
                format!("{name} {:.1}%", 100.0 * probs[i])
            })
            .collect();
        println!("{}: {}", path.display(), top.join(", "));
    }
    Ok(())
}
