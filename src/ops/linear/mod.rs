//! Linear layers and the flatten that makes their input: `linear` (`F.linear`) and `flatten`
//! (`torch.flatten(x, 1)`), and their training ops. The members are `Op::{Linear, Flatten}` and
//! `TrainOp::{LinearGradInput, LinearGradWeight, Reshape}` (flatten's gradient; linear's bias
//! gradient is the `TrainOp::BiasGrad` conv shares). Everything else about them lives here: the
//! shape rules ([`shape`]), the CPU reference ([`reference`]), the backward rules
//! ([`autodiff`]), the kernels ([`kernel`], [`grad_kernel`]) and ONNX export ([`onnx`]). The
//! lowering in `codegen::plan` / `codegen::train_plan` calls the kernels; flatten and reshape
//! are views there (no kernel).
//!
//! A linear layer is lowered to a 1x1 conv on a 1x1 map, so its kernels are conv's
//! (`conv2d.wgsl` and the conv gradients' templates), named `linear_*`. [`gemm`] is the reference
//! GEMM (`gemm_reference.wgsl`, beside it) that conv throughput is measured against; no plan
//! uses it. Tested by `tests/ops/linear.rs`.

pub mod autodiff;
pub mod gemm;
pub mod grad_kernel;
pub mod kernel;
pub mod onnx;
pub mod reference;
pub mod shape;
