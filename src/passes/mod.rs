//! Stage 3 — graph passes: IR [`Graph`] → IR [`Graph`].
//!
//! Each pass is a plain function over the graph and the compilation's [`Config`].
//! [`PASSES`] lists them in the order they run; [`run_with`] runs them and, in debug and
//! test builds, verifies the graph after each one, naming the pass that broke an
//! invariant.

mod dead_code;
mod fuse_activation;
mod fuse_activation_grad;
mod fuse_grad_accumulation;
mod mixed_precision;

use crate::ir::{Graph, Precision, VerifyError};

/// What the passes are asked to do beyond optimising.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// `Mixed`: store activations and their gradients as f16 ([`mixed_precision`]).
    pub precision: Precision,
}

/// A graph-to-graph pass.
pub type Pass = fn(&mut Graph, &Config);

/// The pass pipeline, in order.
pub const PASSES: &[(&str, Pass)] = &[
    ("dead_code", |g, _| dead_code::run(g)),
    ("mixed_precision", mixed_precision::run),
    ("fuse_activation", |g, _| fuse_activation::run(g)),
    ("fuse_activation_grad", |g, _| fuse_activation_grad::run(g)),
    // After fuse_activation_grad, which adds `y` operands before any accumulation operand.
    ("fuse_grad_accumulation", |g, _| {
        fuse_grad_accumulation::run(g)
    }),
];

/// A pass left the graph ill-formed: a compiler bug.
#[derive(Debug, thiserror::Error)]
#[error("pass `{pass}` broke the IR: {error}")]
pub struct PassError {
    pub pass: &'static str,
    pub error: VerifyError,
}

/// Run every pass in [`PASSES`] order, in f32.
pub fn run(g: &mut Graph) -> Result<(), PassError> {
    run_with(g, &Config::default())
}

/// Run every pass in [`PASSES`] order with `config`.
pub fn run_with(g: &mut Graph, config: &Config) -> Result<(), PassError> {
    for (name, pass) in PASSES {
        pass(g, config);
        if cfg!(debug_assertions) {
            crate::ir::verify(g).map_err(|error| PassError { pass: name, error })?;
        }
    }
    Ok(())
}
