//! `netc export FILE --weights W -o model.onnx [--batch N|dynamic] [--with-normalize]`:
//! the inference graph as an ONNX model that onnxruntime (or any opset-17 runtime) runs.

use super::{ModelArgs, model_with_weights};
use netc::diag::{Diagnostic, Diagnostics, Sources};
use netc::export::{self, Batch};
use netc::predict::Normalize;
use netc::train::checkpoint::{self, Checkpoint};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Parameters (safetensors), e.g. `runs/X/best.safetensors` or `netc init`'s output.
    #[arg(long)]
    pub weights: PathBuf,
    /// Where to write the ONNX model.
    #[arg(short, long)]
    pub output: PathBuf,
    /// The batch dimension: a fixed size, or `dynamic` (a symbolic dimension `N`).
    #[arg(long, default_value = "dynamic", value_parser = Batch::parse)]
    pub batch: Batch,
    /// Prepend the checkpoint's input normalisation, (x - mean) / std, so that the model
    /// takes images scaled to [0, 1].
    #[arg(long)]
    pub with_normalize: bool,
}

pub fn run(sources: &mut Sources, a: Args) -> Result<(), Diagnostics> {
    let (e, weights) = model_with_weights(sources, &a.model, &a.weights)?;
    let normalize = if a.with_normalize {
        Some(checkpoint_normalize(&a.weights)?)
    } else {
        None
    };
    let opts = export::Options {
        batch: a.batch,
        normalize,
    };
    let bytes = export::to_onnx(&e.graph, &weights, &opts)
        .map_err(|err| Diagnostic::error(err.to_string()))?;
    netc::atomic_file::write(&a.output, &bytes).map_err(|err| {
        Diagnostic::error(format!("cannot write `{}`: {err}", a.output.display()))
    })?;
    println!(
        "wrote {} (ONNX opset {}, {} bytes)",
        a.output.display(),
        export::onnx::OPSET,
        bytes.len()
    );
    Ok(())
}

/// The normalisation a `netc train` checkpoint was trained with (its safetensors metadata,
/// or the older layout's `NAME.json` sidecar).
fn checkpoint_normalize(weights: &Path) -> Result<Normalize, Diagnostics> {
    let fail = |message: String| Diagnostics::from(Diagnostic::error(message));
    let (Some(dir), Some(name)) = (
        weights.parent(),
        weights.file_stem().and_then(|s| s.to_str()),
    ) else {
        return Err(fail(format!("`{}` is not a file path", weights.display())));
    };
    let (_, metadata) = netc::params::load_with(weights).map_err(|err| fail(err.to_string()))?;
    let sidecar = dir.join(format!("{name}.json"));
    if !metadata.contains_key(checkpoint::METADATA_KEY) && !sidecar.exists() {
        return Err(fail(format!(
            "--with-normalize: `{}` holds no normalisation (it is not a checkpoint written by \
             `netc train`, and there is no `{}` beside it); export without --with-normalize, \
             or from a run's `best.safetensors`",
            weights.display(),
            sidecar.display()
        )));
    }
    let c = Checkpoint::load(dir, name).map_err(|err| fail(err.to_string()))?;
    Ok(c.normalize)
}
