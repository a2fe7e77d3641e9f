//! `netc init FILE -o weights.safetensors [--seed N]`: initialised parameters, drawn
//! with the recipe's initialiser, deterministic from the seed.

use super::ModelArgs;
use netc::diag::{Diagnostic, Diagnostics, Sources};
use netc::{params, pipeline};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Where to write the parameters (safetensors).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Random seed; defaults to the recipe's `seed`.
    #[arg(long)]
    pub seed: Option<u64>,
}

pub fn run(sources: &mut Sources, a: Args) -> Result<(), Diagnostics> {
    let e = pipeline::front_end(sources, &a.model.file, &a.model.set)?;
    super::report(sources, &Diagnostics(e.warnings.clone()));
    let seed = a.seed.unwrap_or(e.recipe.seed);
    let tensors = params::init(&e.graph, &e.recipe.init, seed);
    params::save(&tensors, &a.output).map_err(|err| Diagnostic::error(err.to_string()))?;
    println!(
        "wrote {} tensors ({} trainable parameters) to {} (seed {seed})",
        tensors.len(),
        netc::summary::group(e.graph.trainable_param_count()),
        a.output.display()
    );
    Ok(())
}
