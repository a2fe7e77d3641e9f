//! `netc compile FILE [--emit STAGE] [-o DIR] [--batch N] [--no-memory-plan] [--no-optimizer-fusion]`: run the pipeline and print
//! one stage's output, or write the WGSL kernels and the plan to a directory.

use super::{ModelArgs, report, write_file};
use netc::codegen::memory::MemoryPlanning;
use netc::codegen::optim_fusion::OptimizerLowering;
use netc::codegen::plan::{Options, Plan};
use netc::diag::{Diagnostic, Diagnostics, Sources};
use netc::{elab, ir, pipeline, syntax};
use std::path::PathBuf;

/// The pipeline stages that can be printed.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Emit {
    /// The parsed file, as canonical source.
    Ast,
    /// The elaborated IR graph, with every shape.
    Ir,
    /// The IR after the optimisation passes.
    IrOpt,
    /// The WGSL compute shaders of the inference plan.
    Wgsl,
    /// The kernel plan: buffers and dispatches.
    Plan,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Which stage to print (default: the plan, or nothing when writing with -o).
    #[arg(long, value_enum)]
    pub emit: Option<Emit>,
    /// Write every WGSL kernel (`NNN_name.wgsl`) and `plan.txt` into this directory.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Compile the whole training step (forward, loss, backward, optimizer) instead of inference.
    #[arg(long)]
    pub train: bool,
    /// How the training step stores its values: `f32`, or `mixed` (activations and their
    /// gradients in f16, with loss scaling); default: the recipe's `precision`.
    #[arg(long, value_parser = super::parse_precision, requires = "train")]
    pub precision: Option<netc::ir::Precision>,
    /// Batch size the plan is specialised for.
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// Give every value its own buffer instead of sharing buffers between values whose
    /// lifetimes do not overlap.
    #[arg(long)]
    pub no_memory_plan: bool,
    /// Lower each optimizer op to its own dispatch, with end-of-step copies, instead of
    /// one in-place update per parameter.
    #[arg(long)]
    pub no_optimizer_fusion: bool,
}

pub fn run(sources: &mut Sources, a: Args) -> Result<(), Diagnostics> {
    if a.emit == Some(Emit::Ast) {
        let program = elab::load(sources, &a.model.file)?;
        print!("{}", syntax::print::print_file(&program.file));
        return Ok(());
    }
    let start = std::time::Instant::now();
    let c = pipeline::compile_with(sources, &a.model.file, &a.model.set, a.train, a.precision)?;
    report(sources, &Diagnostics(c.elaborated.warnings.clone()));
    match a.emit {
        Some(Emit::Ir) => print!("{}", ir::print::print_graph(&c.elaborated.graph)),
        Some(Emit::IrOpt) => print!("{}", ir::print::print_graph(&c.optimised)),
        _ => {}
    }
    let needs_plan = a.output.is_some() || matches!(a.emit, None | Some(Emit::Wgsl | Emit::Plan));
    if !needs_plan {
        return Ok(());
    }
    if a.batch == 0 {
        return Err(Diagnostic::error("--batch must be at least 1").into());
    }
    let opts = Options {
        memory: if a.no_memory_plan {
            MemoryPlanning::Off
        } else {
            MemoryPlanning::Shared
        },
        optimizer: if a.no_optimizer_fusion {
            OptimizerLowering::Unfused
        } else {
            OptimizerLowering::Fused
        },
        ..Options::default()
    };
    let plan = pipeline::plan(&c.optimised, a.batch, &opts).map_err(|e| match e {
        pipeline::PipelineError::Codegen(e) => {
            Diagnostic::error(format!("cannot generate kernels: {e}"))
        }
        e => Diagnostic::error(e.to_string()),
    })?;
    let elapsed = start.elapsed();
    match a.emit {
        Some(Emit::Wgsl) => {
            for (i, k) in plan.kernels.iter().enumerate() {
                println!("// ---- kernel {i}: {} ----\n{}", k.name, k.wgsl);
            }
        }
        Some(Emit::Plan) => print!("{}", plan.to_text()),
        None if a.output.is_none() => print!("{}", plan.to_text()),
        _ => {}
    }
    if let Some(dir) = &a.output {
        write_dir(dir, &plan)?;
        eprintln!(
            "compiled {} in {:.0} ms: {} kernels, {} dispatches → {}",
            a.model.file.display(),
            elapsed.as_secs_f64() * 1e3,
            plan.kernels.len(),
            plan.steps.len(),
            dir.display()
        );
    }
    Ok(())
}

fn write_dir(dir: &std::path::Path, plan: &Plan) -> Result<(), Diagnostics> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Diagnostic::error(format!("cannot create `{}`: {e}", dir.display())))?;
    for (i, k) in plan.kernels.iter().enumerate() {
        write_file(&dir.join(format!("{i:03}_{}.wgsl", k.name)), &k.wgsl)?;
    }
    write_file(&dir.join("plan.txt"), &plan.to_text())
}
