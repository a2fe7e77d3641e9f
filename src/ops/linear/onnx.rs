//! Flatten and linear as ONNX (opset 17) operators, written through the exporter's
//! [`OnnxNodes`]: `Flatten` (axis 1) and `Gemm` with the weight transposed (`transB`).

use crate::export::onnx::OnnxNodes;

/// `out = flatten(xs[0])`, keeping the batch axis.
pub fn flatten(g: &mut dyn OnnxNodes, xs: &[String], out: &str) {
    g.add_int_node("Flatten", xs, out, &[("axis", 1)]);
}

/// `out = xs[0] @ xs[1]ᵀ (+ xs[2])`.
pub fn linear(g: &mut dyn OnnxNodes, xs: &[String], out: &str) {
    g.add_int_node("Gemm", xs, out, &[("transB", 1)]);
}
