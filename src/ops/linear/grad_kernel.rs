//! Linear-layer gradients, lowered to the conv gradients of a 1x1 conv on a 1x1 map (as the
//! forward [`super::kernel::linear`] is lowered to a 1x1 conv): `dy [N, out]` is
//! `[N, out, 1, 1]`, `W [out, in]` is `[out, in, 1, 1]`, and the generated kernels are those of
//! [`crate::ops::conv::grad_kernel`] with the default [`ConvTiling`].
//!
//! * `dx = dy @ W` (`TrainOp::LinearGradInput`): one runtime loop over `out` per invocation.
//! * `dw = dyᵀ @ x` (`TrainOp::LinearGradWeight`): a [`Reduction`] over the batch, split into
//!   chunks when the batch is long or the layer narrow (often a single part).

use crate::codegen::kernels::{Elem, KernelError, KernelSource, Reduction};
use crate::ops::conv::grad_kernel::{conv2d_grad_input_named, conv2d_grad_weight_named};
use crate::ops::conv::{Conv2dParams, ConvTiling};

fn as_conv(batch: u32, in_features: u32, out_features: u32, elem: Elem) -> Conv2dParams {
    Conv2dParams::new(batch, in_features, (1, 1), out_features, 1).with_elem(elem)
}

/// `dx [N, in] = dy [N, out] @ weight [out, in]`.
///
/// Bindings: `dy` (read), `weight` (read), `dx` (written, every element).
pub fn linear_grad_input(
    batch: u32,
    in_features: u32,
    out_features: u32,
    elem: Elem,
) -> Result<KernelSource, KernelError> {
    conv2d_grad_input_named(
        "linear_grad_input",
        &as_conv(batch, in_features, out_features, elem),
        &ConvTiling::default(),
    )
}

/// `dw [out, in] = sum over n of dy[n, o] * x[n, i]`.
///
/// Bindings of `partial`: `x [N, in]` (read), `dy [N, out]` (read), `scratch` (written); of
/// `finish`: `scratch` (read), `dw [out, in]` (written).
pub fn linear_grad_weight(
    batch: u32,
    in_features: u32,
    out_features: u32,
    elem: Elem,
) -> Result<Reduction, KernelError> {
    conv2d_grad_weight_named(
        "linear_grad_weight",
        &as_conv(batch, in_features, out_features, elem),
        &ConvTiling::default(),
    )
}
