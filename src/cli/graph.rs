//! `netc graph FILE [-o out.dot]`: Graphviz DOT of the model, blocks as clusters.

use super::{ModelArgs, report, write_file};
use netc::diag::{Diagnostics, Sources};
use netc::{ir, pipeline};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Write the DOT here instead of to stdout.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

pub fn run(sources: &mut Sources, a: Args) -> Result<(), Diagnostics> {
    let e = pipeline::front_end(sources, &a.model.file, &a.model.set)?;
    report(sources, &Diagnostics(e.warnings.clone()));
    let dot = ir::dot::to_dot(&e.graph);
    match a.output {
        Some(path) => write_file(&path, &dot),
        None => {
            print!("{dot}");
            Ok(())
        }
    }
}
