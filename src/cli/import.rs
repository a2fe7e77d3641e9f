//! `netc import FILE --from state_dict.(safetensors|pt|ckpt) -o W.safetensors
//! [--show-mapping] [--map names.json]`: PyTorch weights as netc parameters.

use super::ModelArgs;
use netc::diag::{Diagnostic, Diagnostics, Sources};
use netc::import::{self, map_file::MapFile};
use netc::{params, pipeline};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The PyTorch state dict: `.safetensors`, `.pt`/`.pth` (torch.save) or a Lightning `.ckpt`.
    #[arg(long = "from", value_name = "STATE_DICT")]
    pub from: PathBuf,
    /// Where to write netc's parameters (safetensors).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Print which PyTorch tensor became which netc parameter.
    #[arg(long)]
    pub show_mapping: bool,
    /// A JSON object pinning PyTorch names to netc names (`null` ignores a tensor), for what
    /// the structure cannot decide.
    #[arg(long, value_name = "NAMES_JSON")]
    pub map: Option<PathBuf>,
}

pub fn run(sources: &mut Sources, a: Args) -> Result<(), Diagnostics> {
    let e = pipeline::front_end(sources, &a.model.file, &a.model.set)?;
    super::report(sources, &Diagnostics(e.warnings.clone()));
    let fail = |err: import::ImportError| Diagnostics::from(Diagnostic::error(err.to_string()));
    let pins = match &a.map {
        Some(p) => MapFile::load(p).map_err(fail)?,
        None => MapFile::default(),
    };
    let sd = import::read(&a.from).map_err(fail)?;
    let shown = a.from.display().to_string();
    let (tensors, mapping) = import::import(&e.graph, &sd, &pins, &shown).map_err(fail)?;
    let to_diag = |err: params::ParamsError| Diagnostics::from(Diagnostic::error(err.to_string()));
    params::check_finite(&tensors, &shown).map_err(to_diag)?;
    if a.show_mapping {
        print!("{}", mapping.table());
    }
    params::save(&tensors, &a.output).map_err(to_diag)?;
    let ignored = mapping.0.iter().filter(|r| r.netc.is_none()).count();
    println!(
        "wrote {} tensors ({} trainable parameters) to {} from {} ({ignored} ignored{})",
        tensors.len(),
        netc::summary::group(e.graph.trainable_param_count()),
        a.output.display(),
        shown,
        if a.show_mapping {
            ""
        } else {
            "; --show-mapping lists them"
        }
    );
    Ok(())
}
