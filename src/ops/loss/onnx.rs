//! Softmax as an ONNX (opset 17) operator, written through the exporter's [`OnnxNodes`]. The
//! loss and its companions are ops of training graphs, which do not export.

use crate::export::onnx::OnnxNodes;

/// `out = softmax(xs[0])` over each row (axis 1).
pub fn softmax(g: &mut dyn OnnxNodes, xs: &[String], out: &str) {
    g.add_int_node("Softmax", xs, out, &[("axis", 1)]);
}
