//! Stage 3 — graph passes: IR [`Graph`](crate::ir::Graph) → IR `Graph`.
//!
//! Each pass is a plain function over the graph (and, where it needs one, the
//! compilation's [`Config`]), one file each. Their order, and autodiff's before them, is
//! written once, in `crate::pipeline::STAGES`, which also verifies the graph after each
//! one in debug and test builds, naming the stage that broke an invariant.

pub mod dead_code;
pub mod fuse_activation;
pub mod fuse_activation_grad;
pub mod fuse_grad_accumulation;
pub mod mixed_precision;

use crate::ir::Precision;

/// What the passes are asked to do beyond optimising.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// `Mixed`: store activations and their gradients as f16 ([`mixed_precision`]).
    pub precision: Precision,
}
