//! Kernels of training graphs: gradients, losses and optimizer updates (the ops of
//! `ir::train_ops`; batch norm's are in `crate::ops::norm::train_kernel`). Same rules as the
//! forward kernels: WGSL from templates in `shaders/train/`, every shape a constant,
//! naga-valid, no invocation looping past the lavapipe budget (long reductions are
//! [`super::Reduction`]s), no float atomics (results are bit-for-bit deterministic).

pub mod log;
pub mod pointwise_grad;
pub mod reduce;
