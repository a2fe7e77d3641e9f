//! Convolution: `conv2d` (grouped, strided, padded, with its fused bias and activation and an
//! output channel slice, in f32 or f16 storage) and its training ops, the gradients with
//! respect to the input and to the weight. The members are `Op::Conv2d` and
//! `TrainOp::{Conv2dGradInput, Conv2dGradWeight}`; their window is [`crate::ir::Window`],
//! which pooling shares, and the bias gradient is the channel sum linear shares
//! (`codegen::kernels::train::reduce`). Everything else about them lives here: the shape
//! rules ([`shape`]), the CPU reference ([`reference`](mod@reference)), the backward rule
//! ([`autodiff`]), the kernels, rendering the `*.wgsl` templates beside them — [`kernel`]
//! ([`Conv2dParams`], [`ConvTiling`], the register-tiled implicit GEMM and what the conv
//! kernels share), `rows` (vectorised along image rows, for CPU drivers), `tiled` (staged
//! through workgroup memory, for GPUs) and [`grad_kernel`] (the gradients) — and ONNX export
//! ([`onnx`]). The lowering in `codegen::plan` / `codegen::train_plan` calls the kernels; which
//! tiling each kernel gets is `codegen::tiling` and the tuner's (`codegen::tune`).
//!
//! PyTorch semantics throughout: `nn.Conv2d` with dilation 1 and zero padding, NCHW, weights
//! `[Cout, Cin/groups, KH, KW]`. Tested by `tests/ops/conv.rs`.

pub mod autodiff;
pub mod grad_kernel;
pub mod kernel;
pub mod onnx;
pub mod reference;
pub(crate) mod rows;
pub mod shape;
pub(crate) mod tiled;

pub use kernel::{Conv2dParams, ConvTiling};
