//! `netc check FILE`: parse, elaborate and infer shapes; exit 0 or print diagnostics.

use super::{ModelArgs, report};
use netc::diag::{Diagnostics, Sources};
use netc::pipeline;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub model: ModelArgs,
}

pub fn run(sources: &mut Sources, a: Args) -> Result<(), Diagnostics> {
    let e = pipeline::front_end(sources, &a.model.file, &a.model.set)?;
    report(sources, &Diagnostics(e.warnings.clone()));
    println!(
        "{}: ok — model {}, {} trainable parameters, {} MACs per example",
        a.model.file.display(),
        e.graph.name,
        netc::summary::group(e.graph.trainable_param_count()),
        netc::summary::group(e.graph.macs())
    );
    Ok(())
}
