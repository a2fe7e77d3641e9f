//! Stage 3 — graph passes: IR [`Graph`] → IR [`Graph`].
//!
//! Each pass is a plain function over the graph. [`PASSES`] lists them in the order
//! they run; [`run`] runs them and, in debug and test builds, verifies the graph
//! after each one, naming the pass that broke an invariant.

mod dead_code;
mod fuse_activation;
mod fuse_activation_grad;

use crate::ir::{Graph, VerifyError};

/// A graph-to-graph pass.
pub type Pass = fn(&mut Graph);

/// The optimisation pipeline, in order.
pub const PASSES: &[(&str, Pass)] = &[
    ("dead_code", dead_code::run),
    ("fuse_activation", fuse_activation::run),
    ("fuse_activation_grad", fuse_activation_grad::run),
];

/// A pass left the graph ill-formed: a compiler bug.
#[derive(Debug, thiserror::Error)]
#[error("pass `{pass}` broke the IR: {error}")]
pub struct PassError {
    pub pass: &'static str,
    pub error: VerifyError,
}

/// Run every pass in [`PASSES`] order.
pub fn run(g: &mut Graph) -> Result<(), PassError> {
    for (name, pass) in PASSES {
        pass(g);
        if cfg!(debug_assertions) {
            crate::ir::verify(g).map_err(|error| PassError { pass: name, error })?;
        }
    }
    Ok(())
}
