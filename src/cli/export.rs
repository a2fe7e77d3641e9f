//! `netc export FILE --weights W -o model.onnx [--batch N|dynamic] [--with-normalize]`:
//! the inference graph as an ONNX model that onnxruntime (or any opset-17 runtime) runs.
//! `--format state-dict -o sd.pt|sd.safetensors [--names-from theirs.pt [--map names.json]]`:
//! the parameters as a PyTorch state dict instead (the reverse of `netc import`).

use super::{ModelArgs, model_with_weights};
use netc::diag::{Diagnostic, Diagnostics, Sources};
use netc::export::{self, Batch};
use netc::import::{map_file::MapFile, to_torch};
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
    /// What to write: an ONNX model, or the parameters as a PyTorch state dict (`.pt` in
    /// torch.save's format, or `.safetensors`).
    #[arg(long, value_enum, default_value_t = Format::Onnx)]
    pub format: Format,
    /// With `--format state-dict`: take the tensors' names from this PyTorch state dict of
    /// the same model (matched by structure and shape, as `netc import` matches).
    #[arg(long, value_name = "STATE_DICT")]
    pub names_from: Option<PathBuf>,
    /// With `--names-from`: a `netc import --map` file for what structure cannot decide.
    #[arg(long, value_name = "NAMES_JSON")]
    pub map: Option<PathBuf>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Onnx,
    StateDict,
}

pub fn run(sources: &mut Sources, a: Args) -> Result<(), Diagnostics> {
    let (e, weights) = model_with_weights(sources, &a.model, &a.weights)?;
    if a.format == Format::StateDict {
        return state_dict(&e.graph, &weights, &a);
    }
    if a.names_from.is_some() || a.map.is_some() {
        return Err(Diagnostic::error("--names-from and --map go with --format state-dict").into());
    }
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

/// `--format state-dict`: the parameters (and BN statistics) as a PyTorch state dict.
fn state_dict(
    g: &netc::ir::Graph,
    weights: &netc::tensor::TensorMap,
    a: &Args,
) -> Result<(), Diagnostics> {
    let fail = |message: String| Diagnostics::from(Diagnostic::error(message));
    if a.with_normalize {
        return Err(fail(
            "--with-normalize is for ONNX models; a state dict holds parameters only".into(),
        ));
    }
    let pins = match &a.map {
        Some(p) => MapFile::load(p).map_err(|e| fail(e.to_string()))?,
        None => MapFile::default(),
    };
    let names_from = a.names_from.as_deref().map(|p| (p, &pins));
    let tensors = to_torch::state_dict(g, weights, names_from).map_err(|e| fail(e.to_string()))?;
    let bytes = to_torch::write(&tensors, &a.output).map_err(fail)?;
    println!(
        "wrote {} ({} tensors under {} names, {bytes} bytes)",
        a.output.display(),
        tensors.len(),
        if a.names_from.is_some() {
            "PyTorch's"
        } else {
            "netc's"
        }
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
