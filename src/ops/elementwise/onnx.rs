//! Add and concat as ONNX (opset 17) operators, written through the exporter's
//! [`OnnxNodes`]: `Add` (a fused activation follows as its own node, written by the exporter)
//! and `Concat` along the channels.

use crate::export::onnx::OnnxNodes;

/// `out = xs[0] + xs[1]`.
pub fn add(g: &mut dyn OnnxNodes, xs: &[String], out: &str) {
    g.add_node("Add", xs, out, &[]);
}

/// `out = concat(xs)` along the channels (axis 1).
pub fn concat(g: &mut dyn OnnxNodes, xs: &[String], out: &str) {
    g.add_int_node("Concat", xs, out, &[("axis", 1)]);
}
