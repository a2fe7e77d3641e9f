//! The compiler pipeline in one place: each stage, in order, with its input and output.
//!
//! ```text
//! source text ──syntax::parse_file──▶ ast::File
//!             ──elab::load──────────▶ Program (root + imports)
//!             ──elab::elaborate─────▶ Elaborated { Graph (shapes inferred), Recipe }
//!             ──passes::run─────────▶ Graph (optimised; verified after each pass)
//! ```
//! Later stages (code generation, runtime) start from [`Compiled`].

use crate::diag::{Diagnostic, Diagnostics, Sources};
use crate::elab::{self, Elaborated};
use crate::passes;
use std::path::Path;

/// A model after the front end and the IR passes.
pub struct Compiled {
    /// The elaborated model, before passes (`--emit ir`).
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

/// The front end, then the optimisation passes.
pub fn compile(
    sources: &mut Sources,
    path: &Path,
    overrides: &[String],
) -> Result<Compiled, Diagnostics> {
    let elaborated = front_end(sources, path, overrides)?;
    let mut optimised = elaborated.graph.clone();
    passes::run(&mut optimised)
        .map_err(|e| Diagnostic::error(format!("internal compiler error: {e}")))?;
    Ok(Compiled {
        elaborated,
        optimised,
    })
}
