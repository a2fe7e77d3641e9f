//! conv2d as the ONNX (opset 17) `Conv` operator, written through the exporter's
//! [`OnnxNodes`]: the window's attributes, then `group`. The bias, where there is one, is
//! `Conv`'s third input.

use crate::export::onnx::OnnxNodes;
use crate::ir::Window;

/// `out = conv2d(xs)` over `w` with `groups` (`xs`: the input, the weight, the bias if any).
pub fn conv2d(g: &mut dyn OnnxNodes, w: &Window, groups: usize, xs: &[String], out: &str) {
    g.add_window_node("Conv", xs, out, w, &[("group", groups as i64)]);
}
