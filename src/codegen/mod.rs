//! Stage 4 — code generation: IR [`Graph`](crate::ir::Graph) → kernel [`plan::Plan`].
//!
//! [`kernels`] renders one WGSL compute shader per op instance from the templates in
//! `shaders/` (every shape a compile-time constant) and validates it with naga;
//! [`plan`] lowers a whole graph into buffers and an ordered list of dispatches that
//! the runtime records into one command buffer; [`memory`] then lets values with
//! disjoint lifetimes share device buffers. [`optim_fusion`] decides which optimizer
//! updates lowering emits as one in-place dispatch per parameter. [`tiling`] gives each conv
//! kernel its tiling, and [`tune`] measures the candidates on a device (through the
//! runtime's [`tune::TuningDevice`]) and caches the choice; [`batch_limit`] checks before
//! lowering that every value fits one device buffer.

pub mod batch_limit;
mod bn_grad_pairs;
pub mod kernels;
pub mod memory;
mod occupancy;
pub mod optim_fusion;
pub mod plan;
pub mod tiling;
mod train_plan;
pub mod tune;
mod tune_cache;

pub use train_plan::SKIPPED;
