//! `netc compile FILE --emit STAGE`: run the pipeline and print one stage's output.

use super::{ModelArgs, report};
use netc::diag::{Diagnostics, Sources};
use netc::{elab, ir, pipeline, syntax};

/// The pipeline stages that can be printed.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Emit {
    /// The parsed file, as canonical source.
    Ast,
    /// The elaborated IR graph, with every shape.
    Ir,
    /// The IR after the optimisation passes.
    IrOpt,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Which stage to print.
    #[arg(long, value_enum, default_value_t = Emit::IrOpt)]
    pub emit: Emit,
}

pub fn run(sources: &mut Sources, a: Args) -> Result<(), Diagnostics> {
    if a.emit == Emit::Ast {
        let program = elab::load(sources, &a.model.file)?;
        print!("{}", syntax::print::print_file(&program.file));
        return Ok(());
    }
    let c = pipeline::compile(sources, &a.model.file, &a.model.set)?;
    report(sources, &Diagnostics(c.elaborated.warnings.clone()));
    let g = if a.emit == Emit::Ir {
        &c.elaborated.graph
    } else {
        &c.optimised
    };
    print!("{}", ir::print::print_graph(g));
    Ok(())
}
