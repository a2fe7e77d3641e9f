//! The compiler pipeline in one place: each stage, in order, with its input and output.
//!
//! ```text
//! source text ──syntax::parse_file──▶ ast::File
//!             ──elab::load──────────▶ Program (root + imports)
//!             ──elab::elaborate─────▶ Elaborated { Graph (shapes inferred), Recipe }
//!             ──autodiff::build─────▶ training Graph (with --train: forward, loss,
//!                                      backward and optimizer updates in one graph)
//!             ──passes::run─────────▶ Graph (optimised; verified after each pass)
//! ```
//! Later stages (code generation, runtime) start from [`Compiled`].

use crate::diag::{Diagnostic, Diagnostics, Sources};
use crate::elab::{self, Elaborated};
use crate::ir::Precision;
use crate::{autodiff, passes};
use std::path::Path;

/// A model after the front end and the IR passes.
pub struct Compiled {
    /// The elaborated model (or, with `--train`, its training graph), before passes (`--emit ir`).
    pub elaborated: Elaborated,
    /// The graph after [`passes::PASSES`] (`--emit ir-opt`).
    pub optimised: crate::ir::Graph,
}

/// Parse and elaborate a model file.
pub fn front_end(
    sources: &mut Sources,
    path: &Path,
    overrides: &[String],
) -> Result<Elaborated, Diagnostics> {
    let program = elab::load(sources, path)?;
    elab::elaborate(&program, sources, overrides)
}

/// Parse and elaborate model source text; `name` resolves imports and labels messages.
pub fn front_end_str(
    sources: &mut Sources,
    name: &str,
    text: &str,
    overrides: &[String],
) -> Result<Elaborated, Diagnostics> {
    let program = elab::load_str(sources, name, text)?;
    elab::elaborate(&program, sources, overrides)
}

/// The front end, then the optimisation passes; with `train`, the graph is the whole
/// training step built by autodiff for the recipe's optimizer.
pub fn compile(
    sources: &mut Sources,
    path: &Path,
    overrides: &[String],
    train: bool,
) -> Result<Compiled, Diagnostics> {
    compile_with(sources, path, overrides, train, None)
}

/// [`compile`], in `precision` (`None`: the recipe's) when `train` is set; an inference
/// graph is always f32 (mixed precision is a training mode).
pub fn compile_with(
    sources: &mut Sources,
    path: &Path,
    overrides: &[String],
    train: bool,
    precision: Option<Precision>,
) -> Result<Compiled, Diagnostics> {
    let mut elaborated = front_end(sources, path, overrides)?;
    let precision = match train {
        true => precision.unwrap_or(elaborated.recipe.precision),
        false => Precision::F32,
    };
    if train {
        let t = autodiff::build(&elaborated.graph, &elaborated.recipe.optimizer)
            .map_err(|e| Diagnostic::error(e.to_string()))?;
        if cfg!(debug_assertions) {
            crate::ir::verify(&t.graph).map_err(|e| {
                Diagnostic::error(format!("internal compiler error: autodiff: {e}"))
            })?;
        }
        elaborated.graph = t.graph;
    }
    let optimised = optimise_for(&elaborated.graph, precision)
        .map_err(|e| Diagnostic::error(format!("internal compiler error: {e}")))?;
    Ok(Compiled {
        elaborated,
        optimised,
    })
}

/// The graph after [`passes::PASSES`] (dead code removed, activations fused): what every
/// device plan is lowered from — training steps, inference, `netc bench` — so that they
/// run the graph `--emit ir-opt` prints. The CPU reference may run either form.
pub fn optimise(graph: &crate::ir::Graph) -> Result<crate::ir::Graph, passes::PassError> {
    optimise_for(graph, Precision::F32)
}

/// [`optimise`] in `precision`: with `Mixed`, activations and their gradients are f16.
pub fn optimise_for(
    graph: &crate::ir::Graph,
    precision: Precision,
) -> Result<crate::ir::Graph, passes::PassError> {
    let mut optimised = graph.clone();
    passes::run_with(&mut optimised, &passes::Config { precision })?;
    Ok(optimised)
}
