//! Each activation as ONNX (opset 17) operators, written through the exporter's
//! [`OnnxNodes`]; `export::onnx` calls the table's [`Lowering`] for standalone and fused
//! activations alike.

use crate::export::onnx::OnnxNodes;

/// Writes the nodes computing `out = act(x)`.
pub type Lowering = fn(g: &mut dyn OnnxNodes, x: String, out: &str);

pub(super) fn relu(g: &mut dyn OnnxNodes, x: String, out: &str) {
    g.add_node("Relu", &[x], out, &[]);
}

pub(super) fn leaky_relu(g: &mut dyn OnnxNodes, x: String, out: &str) {
    g.add_node(
        "LeakyRelu",
        &[x],
        out,
        &[("alpha", super::Activation::LEAKY_SLOPE)],
    );
}

pub(super) fn tanh(g: &mut dyn OnnxNodes, x: String, out: &str) {
    g.add_node("Tanh", &[x], out, &[]);
}

/// Opset 17 has no Gelu: x * 0.5 * (1 + erf(x / sqrt 2)), PyTorch's exact form.
pub(super) fn gelu(g: &mut dyn OnnxNodes, x: String, out: &str) {
    let sqrt2 = g.constant("netc.const.sqrt2", std::f32::consts::SQRT_2);
    let one = g.constant("netc.const.one", 1.0);
    let half = g.constant("netc.const.half", 0.5);
    let scaled = format!("{out}.scaled");
    let erf = format!("{out}.erf");
    let plus = format!("{out}.plus1");
    let times = format!("{out}.times_x");
    g.add_node("Div", &[x.clone(), sqrt2], &scaled, &[]);
    g.add_node("Erf", &[scaled], &erf, &[]);
    g.add_node("Add", &[erf, one], &plus, &[]);
    g.add_node("Mul", &[x, plus], &times, &[]);
    g.add_node("Mul", &[times, half], out, &[]);
}

/// x * Sigmoid(x) (opset 17 has no Silu).
pub(super) fn silu(g: &mut dyn OnnxNodes, x: String, out: &str) {
    let sigmoid = format!("{out}.sigmoid");
    g.add_node("Sigmoid", std::slice::from_ref(&x), &sigmoid, &[]);
    g.add_node("Mul", &[x, sigmoid], out, &[]);
}
