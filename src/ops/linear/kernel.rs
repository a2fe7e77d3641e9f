//! linear (`nn.Linear`): `y = x Wᵀ + b` with `x: [B, IN]`, `W: [OUT, IN]`, `b: [OUT]`.
//!
//! A linear layer *is* a 1x1 convolution over a 1x1 feature map: `x` read as `[B, IN, 1, 1]` and
//! `W` as `[OUT, IN, 1, 1]` have exactly the memory layout conv2d expects, and the output
//! `[B, OUT, 1, 1]` is `[B, OUT]`. Reusing the register-tiled implicit GEMM gives linear the same
//! tuned inner loop without a second GEMM template.

use crate::codegen::kernels::{Elem, KernelError, KernelSource};
use crate::ops::activation::Activation;
use crate::ops::conv::kernel::{Conv2dParams, ConvTiling, conv2d_named};

/// Generates a linear layer. Bindings: `x`, `W`, `b` (only if `bias`), `y`.
pub fn linear(
    batch: u32,
    in_features: u32,
    out_features: u32,
    bias: bool,
    activation: Option<Activation>,
    tiling: &ConvTiling,
    elem: Elem,
) -> Result<KernelSource, KernelError> {
    let params = Conv2dParams::new(batch, in_features, (1, 1), out_features, 1)
        .with_bias(bias)
        .with_activation(activation)
        .with_elem(elem);
    conv2d_named("linear", &params, tiling)
}
