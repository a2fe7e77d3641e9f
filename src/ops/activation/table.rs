//! The activation table: one [`ActivationDef`] per activation, every fact about it in one
//! place. The order is the order diagnostics list the names in; append new activations at the
//! end (the named constants of [`super::Activation`] are positions in it).

use super::reference as r;
use super::{ActivationDef, Gain, onnx};

/// The negative slope of leaky ReLU (PyTorch's default).
pub const LEAKY_SLOPE: f32 = 0.01;

pub static TABLE: [ActivationDef; 5] = [
    ActivationDef {
        name: "relu",
        aliases: &[],
        pytorch: "torch.relu(x)",
        forward: r::relu,
        derivative: r::relu_derivative,
        derivative_from_output: Some(r::relu_derivative_from_output),
        wgsl: "max(x, 0.0)",
        wgsl_derivative: "select(0.0, 1.0, x > 0.0)",
        wgsl_derivative_from_output: Some("select(0.0, 1.0, y > 0.0)"),
        slope: 0.0,
        onnx: onnx::relu,
        gain: Gain::Rectifier {
            negative_slope: 0.0,
        },
    },
    ActivationDef {
        name: "leaky_relu",
        aliases: &["leakyrelu"],
        pytorch: "F.leaky_relu(x, 0.01)",
        forward: r::leaky_relu,
        derivative: r::leaky_relu_derivative,
        derivative_from_output: Some(r::leaky_relu_derivative_from_output),
        wgsl: "select(LEAKY_SLOPE * x, x, x >= 0.0)",
        wgsl_derivative: "select(LEAKY_SLOPE, 1.0, x > 0.0)",
        wgsl_derivative_from_output: Some("select(GRAD_SLOPE, 1.0, y > 0.0)"),
        slope: LEAKY_SLOPE,
        onnx: onnx::leaky_relu,
        // PyTorch's calculate_gain('leaky_relu') with its default slope, in f64.
        gain: Gain::Rectifier {
            negative_slope: 0.01,
        },
    },
    ActivationDef {
        name: "tanh",
        aliases: &[],
        pytorch: "torch.tanh(x)",
        forward: r::tanh,
        derivative: r::tanh_derivative,
        derivative_from_output: Some(r::tanh_derivative_from_output),
        wgsl: "tanh_stable(x)",
        wgsl_derivative: "tanh_grad(x)",
        wgsl_derivative_from_output: Some("1.0 - y * y"),
        slope: 0.0,
        onnx: onnx::tanh,
        gain: Gain::Constant(5.0 / 3.0),
    },
    ActivationDef {
        name: "gelu",
        aliases: &[],
        pytorch: "F.gelu(x) (exact: x * 0.5 * (1 + erf(x / sqrt 2)))",
        forward: r::gelu,
        derivative: r::gelu_derivative,
        derivative_from_output: None,
        wgsl: "gelu(x)",
        wgsl_derivative: "gelu_grad(x)",
        wgsl_derivative_from_output: None,
        slope: 0.0,
        onnx: onnx::gelu,
        // PyTorch has no gain for GELU; netc uses ReLU's, which GELU approximates for
        // positive inputs.
        gain: Gain::Rectifier {
            negative_slope: 0.0,
        },
    },
    ActivationDef {
        name: "silu",
        aliases: &[],
        pytorch: "F.silu(x) (x * sigmoid(x))",
        forward: r::silu,
        derivative: r::silu_derivative,
        // silu is not monotonic (its minimum is at x = -1.278): y does not determine x.
        derivative_from_output: None,
        // x * sigmoid(x) with e = exp(-|x|): x / (1 + e) for x >= 0, x e / (1 + e) below, so
        // neither side overflows; exp_accurate keeps the left tail's relative accuracy.
        wgsl: "select(x * exp_accurate(-abs(x)), x, x >= 0.0) / (1.0 + exp_accurate(-abs(x)))",
        // sigmoid(x) (1 + x (1 - sigmoid(x))), both factors from e = exp(-|x|) as above.
        wgsl_derivative: "select(exp_accurate(-abs(x)), 1.0, x >= 0.0) / (1.0 + exp_accurate(-abs(x))) * (1.0 + x * select(1.0, exp_accurate(-abs(x)), x >= 0.0) / (1.0 + exp_accurate(-abs(x))))",
        wgsl_derivative_from_output: None,
        slope: 0.0,
        onnx: onnx::silu,
        // PyTorch's calculate_gain has no 'silu' (it raises); netc uses ReLU's, as for gelu
        // (and as timm does), which silu approximates for positive inputs.
        gain: Gain::Rectifier {
            negative_slope: 0.0,
        },
    },
];
