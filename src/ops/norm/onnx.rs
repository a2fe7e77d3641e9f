//! Batch norm as an ONNX (opset 17) operator, written through the exporter's [`OnnxNodes`]:
//! `BatchNormalization` in eval mode (training_mode = 0, the default), which reads the running
//! statistics. A fused activation is written by the exporter after it.

use crate::export::onnx::OnnxNodes;

/// `out = batch_norm(xs)` with `xs = [x, gamma, beta, running_mean, running_var]` (ONNX's
/// operand order too) and `eps`.
pub fn batch_norm(g: &mut dyn OnnxNodes, eps: f32, xs: &[String], out: &str) {
    g.add_node("BatchNormalization", xs, out, &[("epsilon", eps)]);
}
