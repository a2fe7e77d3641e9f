//! Elementwise ops and their copies: `add` (with the activation the fusion pass may fold into
//! it) and channel `concat`, and concat's gradient, the channel slice. The members are
//! `Op::{Add, Concat}` and `TrainOp::ChannelSlice` (add's gradient is its operand's, no op of
//! its own). Everything else about them lives here: the shape rules ([`shape`]), the CPU
//! reference ([`reference`]), the backward rules ([`autodiff`]), the forward kernels
//! ([`kernel`]) and the channel slice's ([`grad_kernel`]), rendering the `*.wgsl` templates
//! beside them, and ONNX export ([`onnx`]). The lowering in `codegen::plan` /
//! `codegen::train_plan` calls the kernels; concat is usually free there (producers write into
//! their channels of its buffer), and a parameter's assignment is a one-input concat copy.
//!
//! How many elements one invocation reads as a vector (`codegen::kernels::elementwise`) is
//! shared with the other families' pointwise kernels and stays in codegen. Tested by
//! `tests/ops/elementwise.rs`.

pub mod autodiff;
pub mod grad_kernel;
pub mod kernel;
pub mod onnx;
pub mod reference;
pub mod shape;
