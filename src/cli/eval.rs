//! `netc eval FILE --weights W --data DIR`: top-1 accuracy and a confusion matrix over a
//! dataset (image folders or the CIFAR-10 binary release), on the GPU or the CPU
//! reference; `--compare-cpu` checks the GPU against the reference image by image.

use super::data_args::DataArgs;
use super::{ModelArgs, model_with_weights, open_runtime};
use netc::data::Split;
use netc::diag::{Diagnostic, Diagnostics, Sources};
use netc::predict::{self, Normalize, Predictor};
use std::path::PathBuf;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    Gpu,
    Cpu,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SplitArg {
    Train,
    Test,
}

/// Normalisation flags shared by `eval` and `infer`.
#[derive(clap::Args, Debug)]
pub struct NormArgs {
    /// Per-channel mean of the training images in [0, 1] (default: CIFAR-10's).
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub mean: Option<Vec<f32>>,
    /// Per-channel standard deviation (default: CIFAR-10's).
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub std: Option<Vec<f32>>,
}

impl NormArgs {
    /// `--mean`/`--std`, else the recipe's `normalize(...)`, else CIFAR-10's statistics.
    pub fn resolve_for(&self, recipe: &netc::elab::Recipe) -> Result<Normalize, Diagnostics> {
        let d = netc::train::preflight::recipe_normalize(recipe)
            .map_err(Diagnostic::error)?
            .unwrap_or_else(Normalize::cifar10);
        self.resolve_over(d)
    }

    fn resolve_over(&self, d: Normalize) -> Result<Normalize, Diagnostics> {
        let n = Normalize {
            mean: self.mean.clone().unwrap_or(d.mean),
            std: self.std.clone().unwrap_or(d.std),
        };
        // Pixels are scaled to [0, 1] before normalising, so a mean outside it (or NaN)
        // cannot be a statistic of any image set.
        let bad_mean = n.mean.iter().find(|m| !(0.0..=1.0).contains(*m));
        let bad_std = n.std.iter().find(|s| !(**s > 0.0 && s.is_finite()));
        if n.mean.len() != 3 || n.std.len() != 3 || bad_mean.is_some() || bad_std.is_some() {
            let got = match (bad_mean, bad_std) {
                (Some(m), _) => format!(" (got mean {m})"),
                (_, Some(s)) => format!(" (got std {s})"),
                _ => format!(" (got {} and {} values)", n.mean.len(), n.std.len()),
            };
            return Err(Diagnostic::error(format!(
                "--mean and --std take three values each (R,G,B): every mean in [0, 1], every std positive and finite{got}"
            ))
            .into());
        }
        Ok(n)
    }
}

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Parameters (safetensors), e.g. from `netc init`.
    #[arg(long)]
    pub weights: PathBuf,
    /// Dataset: `DIR/<class>/*.jpg|png`, or a CIFAR-10 `cifar-10-batches-bin` directory.
    #[arg(long)]
    pub data: PathBuf,
    /// Which split of a CIFAR-10 binary release to read.
    #[arg(long, value_enum, default_value_t = SplitArg::Test)]
    pub split: SplitArg,
    /// Evaluate only this many images, spread evenly over the dataset.
    #[arg(long, value_parser = super::values::positive_count)]
    pub limit: Option<usize>,
    #[arg(long, default_value_t = 128, value_parser = super::values::positive_count)]
    pub batch: usize,
    #[arg(long, value_enum, default_value_t = Device::Gpu)]
    pub device: Device,
    /// Also run the CPU reference and report how many predictions differ.
    #[arg(long)]
    pub compare_cpu: bool,
    #[command(flatten)]
    pub norm: NormArgs,
    #[command(flatten)]
    pub loading: DataArgs,
}

pub fn run(sources: &mut Sources, a: Args) -> Result<(), Diagnostics> {
    let (e, weights) = model_with_weights(sources, &a.model, &a.weights)?;
    let norm = a.norm.resolve_for(&e.recipe)?;
    let split = if a.split == SplitArg::Train {
        Split::Train
    } else {
        Split::Test
    };
    let opened = a
        .loading
        .open(&a.data, split, a.limit)
        .map_err(Diagnostic::error)?;
    for line in opened.log_lines() {
        eprintln!("{line}");
    }
    let dataset = opened.train;
    let size = netc::train::preflight::image_size(&e.graph).map_err(Diagnostic::error)?;
    let queue = a.loading.queue(a.batch, size).map_err(Diagnostic::error)?;
    let transforms = &e.recipe.eval_transform;
    let classes = e.graph.node(e.graph.outputs()[0]).ty.numel();
    let fail = |err: predict::PredictError| Diagnostics::from(Diagnostic::error(err.to_string()));
    let runtime;
    let predictor = match a.device {
        Device::Gpu => {
            runtime = open_runtime()?;
            eprintln!("device: {}", runtime.context().describe());
            Predictor::gpu(&runtime, &e.graph, &weights, a.batch).map_err(fail)?
        }
        Device::Cpu => Predictor::cpu(&e.graph, &weights, a.batch).map_err(fail)?,
    };
    let start = std::time::Instant::now();
    let r =
        predict::evaluate(&predictor, &dataset, transforms, &norm, classes, queue).map_err(fail)?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{}: {} images, {} classes — top-1 accuracy {:.2}% ({}/{}), {:.0} images/s",
        e.graph.name,
        r.images,
        dataset.classes().len(),
        100.0 * r.accuracy,
        r.correct,
        r.images,
        r.images as f64 / secs
    );
    print_confusion(dataset.classes(), &r.confusion);
    if a.compare_cpu {
        let cpu = Predictor::cpu(&e.graph, &weights, a.batch).map_err(fail)?;
        let rc =
            predict::evaluate(&cpu, &dataset, transforms, &norm, classes, queue).map_err(fail)?;
        let same = r
            .predictions
            .iter()
            .zip(&rc.predictions)
            .filter(|(x, y)| x == y)
            .count();
        let max_diff = r
            .logits
            .iter()
            .flatten()
            .zip(rc.logits.iter().flatten())
            .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
        println!(
            "CPU reference: same prediction for {same}/{} images; max |logit difference| {max_diff:.3e}",
            r.images
        );
        if same != r.images {
            return Err(Diagnostic::error(format!(
                "{} predictions differ between the device and the CPU reference",
                r.images - same
            ))
            .into());
        }
    }
    Ok(())
}

fn print_confusion(classes: &[String], m: &[Vec<usize>]) {
    println!("confusion matrix (rows: true class, columns: predicted class)");
    let w = classes.iter().map(|c| c.len()).max().unwrap_or(5).max(5);
    let cols = m.first().map_or(0, Vec::len);
    print!("{:>w$} ", "");
    for j in 0..cols {
        print!("{j:>6}");
    }
    println!();
    for (i, row) in m.iter().enumerate() {
        let name = classes.get(i).map_or("?", String::as_str);
        print!("{name:>w$} ");
        for v in row {
            print!("{v:>6}");
        }
        println!();
    }
}
