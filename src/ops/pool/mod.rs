//! Pooling: `max_pool2d`, `avg_pool2d` and `global_avg_pool`, and their training ops (max
//! pool's argmax pass and `max_pool2d_with_indices`, the pooling gradients). The members are
//! `Op::{MaxPool2d, AvgPool2d, GlobalAvgPool}` and
//! `TrainOp::{MaxPool2dGrad, AvgPool2dGrad, GlobalAvgPoolGrad}`; their window is
//! [`crate::ir::Window`], which conv shares. Everything else about them lives here: the shape
//! rules ([`shape`]), the CPU reference ([`reference`]), the backward rules ([`autodiff`]),
//! the forward kernels ([`kernel`]) and the gradients' ([`grad_kernel`]), rendering the
//! `*.wgsl` templates beside them, and ONNX export ([`onnx`]). The lowering in
//! `codegen::plan` / `codegen::train_plan` calls the kernels.
//!
//! PyTorch semantics throughout: ceil_mode=False, dilation 1, max pool padding acts as -inf
//! and a window's gradient goes to its first maximum, avg pool counts the padding
//! (count_include_pad=True). Tested by `tests/ops/pool.rs`.

pub mod autodiff;
pub mod grad_kernel;
pub mod kernel;
pub mod onnx;
pub mod reference;
pub mod shape;

pub use kernel::Pool2dParams;
