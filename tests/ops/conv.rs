//! The conv family (`src/ops/conv/`): conv2d and its training ops, each kernel on the GPU
//! against the CPU reference (`netc::ops::conv::reference`, through `reference::ops` /
//! `reference::train_ops`):
//!
//! * [`forward`]: the forward kernels (register-tiled, row and workgroup-staged) over the seed
//!   models' convs, odd shapes, groups, fused activations, output channel slices, non-square
//!   windows and every tiling the tuner may choose;
//! * [`grad`]: the input and weight gradients over the same, the weight gradient's split
//!   reduction, and the device-free checks of every conv and linear training kernel (naga,
//!   bindings, dispatch sizes, bad parameters);
//! * [`f16`]: all three with f16 activations, as a mixed-precision step runs them.
//!
//! conv's gradients in training graphs against finite differences are among the pooling
//! models (`tests/ops/pool.rs`) and `tests/grad_check.rs`; its shape rule is checked in
//! `tests/ir.rs`, its WGSL pinned in `tests/codegen_kernels.rs`.
//!
//! There is no skipping: without a GPU adapter these tests fail and say how to get one.

mod f16;
mod forward;
mod grad;
