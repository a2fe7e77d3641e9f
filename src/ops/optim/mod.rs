//! Optimizers: `torch.optim.SGD` (momentum, Nesterov, weight decay; dampening 0), `Adam` and
//! `AdamW`, and dynamic loss scaling (PyTorch GradScaler) for mixed-precision steps. The
//! members are `TrainOp::{SgdBuffer, SgdStep, AdamMoment, AdamStep}`; autodiff adds them to
//! the training graph through [`updates`], one chain per trainable parameter, and
//! `codegen::optim_fusion` lowers a parameter's chain as one fused in-place update. Everything
//! else about them lives here: the shape rules ([`shape`]), the CPU reference ([`reference`]),
//! the kernels ([`kernel`]: the ops' own and the fused updates) and the loss scaler's
//! ([`loss_scale`]), rendering the `*.wgsl` templates beside them. Training ops are not
//! exported to ONNX.
//!
//! Tested by `tests/ops/optim.rs`.

pub mod kernel;
pub mod loss_scale;
pub mod reference;
pub mod shape;
pub mod updates;
