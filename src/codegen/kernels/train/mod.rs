//! Kernels of training graphs: gradients, batch statistics, losses and optimizer
//! updates (the ops of `ir::train_ops`). Same rules as the forward kernels: WGSL from
//! templates in `shaders/train/`, every shape a constant, naga-valid, no invocation
//! looping past the lavapipe budget (long reductions are [`super::Reduction`]s), no
//! float atomics (results are bit-for-bit deterministic).

pub mod conv_grad;
pub mod log;
pub mod loss_scale;
pub mod norm_train;
pub mod optim;
pub mod pointwise_grad;
pub mod reduce;
