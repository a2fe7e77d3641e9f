//! The pooling ops as ONNX (opset 17) operators, written through the exporter's
//! [`OnnxNodes`]: `MaxPool`, `AveragePool` (count_include_pad=1, PyTorch's default) and
//! `GlobalAveragePool`.

use crate::export::onnx::OnnxNodes;
use crate::ir::Window;

/// `out = max_pool2d(xs[0])` over `w`.
pub fn max_pool2d(g: &mut dyn OnnxNodes, w: &Window, xs: &[String], out: &str) {
    g.add_window_node("MaxPool", xs, out, w, &[]);
}

/// `out = avg_pool2d(xs[0])` over `w`, counting the padding as PyTorch does.
pub fn avg_pool2d(g: &mut dyn OnnxNodes, w: &Window, xs: &[String], out: &str) {
    g.add_window_node("AveragePool", xs, out, w, &[("count_include_pad", 1)]);
}

/// `out = global_avg_pool(xs[0])`.
pub fn global_avg_pool(g: &mut dyn OnnxNodes, xs: &[String], out: &str) {
    g.add_node("GlobalAveragePool", xs, out, &[]);
}
