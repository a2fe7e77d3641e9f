//! Batch norm: `Op::BatchNorm` (PyTorch's `nn.BatchNorm2d`; eval mode in inference graphs,
//! optionally with a fused activation) and its training ops,
//! `TrainOp::{BatchStats, BatchNormTrain, RunningUpdate, BatchNormGradGamma,
//! BatchNormGradInput}` (`dbeta` is a plain `TrainOp::BiasGrad`; lowering pairs it with
//! `dgamma` into one reduction, `codegen::bn_grad_pairs`, and the two running-statistics
//! updates into one dispatch, `codegen::optim_fusion`). Everything else about them lives here:
//! the shape rules ([`shape`]), the CPU reference ([`reference`]), the training form and the
//! backward rule ([`autodiff`]), the eval-mode kernel ([`kernel`]) and the training kernels
//! ([`train_kernel`]: batch statistics, the normalisation with them, the running updates and
//! the gradients), rendering the `*.wgsl` templates beside them, and ONNX export ([`onnx`]).
//! The lowering in `codegen::plan` / `codegen::train_plan` calls the kernels; the per-channel
//! chunking the reductions share with the bias gradient is `codegen::kernels::train::reduce`'s.
//!
//! PyTorch semantics throughout: training normalises with the batch's biased variance and
//! updates the running statistics with the unbiased one (`momentum` as PyTorch's); eval mode
//! uses the running statistics. Tested by `tests/ops/norm.rs`.

pub mod autodiff;
pub mod kernel;
pub mod onnx;
pub mod reference;
pub mod shape;
pub mod train_kernel;
