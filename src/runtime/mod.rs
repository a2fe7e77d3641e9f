//! Stage 5 — the wgpu runtime: device, buffers, pipelines, one submission per run.
//!
//! [`device`] opens an adapter (and says how to get one when there is none),
//! [`exec`] owns buffers and cached pipelines and records a list of dispatches into a
//! single command buffer, and [`model`] runs a compiled [`Plan`](crate::codegen::plan::Plan)
//! with uploaded parameters. [`timing`] times kernels for the tuner (`codegen::tune`). The
//! runtime runs plans and kernels; it never reads the IR.

pub mod device;
pub mod error;
pub mod exec;
pub mod model;
pub mod storage;
pub mod timing;

pub use device::GpuContext;
pub use error::GpuError;
pub use exec::{Dispatch, GpuBuffer, Recorded, Runtime};
