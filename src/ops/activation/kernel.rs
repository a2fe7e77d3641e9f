//! The activation kernels and the WGSL libraries that every kernel with a fused activation
//! splices in, rendered from the templates beside this file with the table's WGSL:
//!
//! * `activation_lib.wgsl`: `fn activate(x: f32) -> f32`, the kernel's own activation (its
//!   table expression) or the identity, so a kernel's WGSL depends on no other activation;
//! * `activation_grad_lib.wgsl`: `fn derivative_from_output(y: f32) -> f32`, for the
//!   activations whose derivative is a function of their output;
//! * `activation.wgsl`, `activation_grad.wgsl`, `activation_grad_from_output.wgsl`: the
//!   standalone elementwise kernels `y = act(x)`, `dx = dy * act'(x)` and `dx = dy * act'(y)`.
//!
//! gelu is the exact erf form (PyTorch's default `approximate='none'`). WGSL has no `erf`, so the
//! library carries an erfc approximation with < 1.2e-7 *relative* error; see the shader comments.

use super::Activation;
use crate::codegen::kernels::template::{Vars, render};
use crate::codegen::kernels::train::pointwise_grad::elementwise;
use crate::codegen::kernels::{
    BindingKind, ELEMENTWISE_WG, ENTRY_POINT, Elem, KernelError, KernelSource, MAX_ELEMENTS,
    ensure, fit_u32, grid_1d, storage_vars,
};

const LIB_TEMPLATE: &str = include_str!("activation_lib.wgsl");
const GRAD_LIB_TEMPLATE: &str = include_str!("activation_grad_lib.wgsl");
const TEMPLATE: &str = include_str!("activation.wgsl");
const GRAD_TEMPLATE: &str = include_str!("activation_grad.wgsl");
const GRAD_FROM_OUTPUT_TEMPLATE: &str = include_str!("activation_grad_from_output.wgsl");

/// The name kernels use for a fused activation, `identity` for none.
pub fn kernel_name(act: Option<Activation>) -> &'static str {
    act.map_or("identity", Activation::name)
}

/// The negative slope the libraries' `LEAKY_SLOPE` / `GRAD_SLOPE` hold.
fn slope(act: Option<Activation>) -> f32 {
    act.map_or(0.0, |a| a.def().slope)
}

/// Renders the WGSL library defining `fn activate(x: f32) -> f32` for `act` (the identity for
/// `None`), for kernels that read `width` elements as one vector
/// (`codegen::kernels::elementwise::vector_width`): with 4 it also defines
/// `fn activate4(v: vec4<f32>) -> vec4<f32>`, `activate` lane by lane.
pub fn wgsl_library(act: Option<Activation>, width: u32) -> Result<String, KernelError> {
    let vars = Vars::new()
        .set("ACT_NAME", kernel_name(act))
        .set("ACTIVATE", act.map_or("x", |a| a.def().wgsl))
        .f32("LEAKY_SLOPE", slope(act))
        .flag("VEC4", width == 4);
    // Drop the trailing newline so the library splices cleanly into a template line.
    Ok(
        render("ops/activation/activation_lib.wgsl", LIB_TEMPLATE, &vars)?
            .trim_end()
            .to_string(),
    )
}

/// Renders the WGSL library defining `fn derivative_from_output(y: f32) -> f32`, `act`'s
/// derivative read off its output (1 for the identity, `None`), for kernels that read `width`
/// elements as one vector: with 4 it also defines
/// `fn derivative_from_output4(y: vec4<f32>) -> vec4<f32>`, lane by lane. An activation whose
/// derivative is not a function of its output (gelu) is refused.
pub fn wgsl_grad_library(act: Option<Activation>, width: u32) -> Result<String, KernelError> {
    let derivative = match act {
        None => "1.0",
        Some(a) => {
            a.def()
                .wgsl_derivative_from_output
                .ok_or_else(|| KernelError::InvalidParams {
                    op: "activation_grad",
                    message: format!("{}'s derivative cannot be read off its output", a.name()),
                })?
        }
    };
    let vars = Vars::new()
        .set("ACT_NAME", kernel_name(act))
        .set("DERIVATIVE_FROM_OUTPUT", derivative)
        .f32("GRAD_SLOPE", slope(act))
        .flag("VEC4", width == 4);
    Ok(render(
        "ops/activation/activation_grad_lib.wgsl",
        GRAD_LIB_TEMPLATE,
        &vars,
    )?
    .trim_end()
    .to_string())
}

/// `y = act(x)` over `len` elements; bindings: `x` (read), `y` (write).
pub fn activation(len: u64, act: Activation, elem: Elem) -> Result<KernelSource, KernelError> {
    const OP: &str = "activation";
    ensure(OP, len > 0, || "tensor is empty".into())?;
    let total = fit_u32(OP, "elements", len, MAX_ELEMENTS)?;
    let workgroups = grid_1d(OP, len.div_ceil(u64::from(ELEMENTWISE_WG)))?;
    let vars = Vars::new()
        .u32("TOTAL", total)
        .u32("WG", ELEMENTWISE_WG)
        .u32("GRID_X", workgroups[0])
        .set("ACTIVATION_LIB", wgsl_library(Some(act), 1)?);
    let vars = storage_vars(vars, elem, 1);
    Ok(KernelSource {
        name: format!("{}_{len}{}", act.name(), elem.suffix()),
        wgsl: render("ops/activation/activation.wgsl", TEMPLATE, &vars)?,
        entry: ENTRY_POINT,
        workgroups,
        workgroup_size: [ELEMENTWISE_WG, 1, 1],
        bindings: vec![BindingKind::ReadOnly, BindingKind::ReadWrite],
    })
}

/// `dx = dy * act'(x)` over `len` elements (relu and leaky relu: the derivative at 0 is the
/// left one, as in PyTorch; tanh: `sech^2`; gelu: `Phi(x) + x phi(x)`, exact erf form).
///
/// Bindings: `x`, `dy`, `dx`.
pub fn activation_grad(len: u64, act: Activation, elem: Elem) -> Result<KernelSource, KernelError> {
    let vars = storage_vars(Vars::new(), elem, 1)
        .set("ACTIVATION_LIB", wgsl_library(Some(act), 1)?)
        .set("DERIVATIVE", act.def().wgsl_derivative);
    elementwise(
        "activation_grad",
        format!("{}_grad_{len}{}", act.name(), elem.suffix()),
        ("ops/activation/activation_grad.wgsl", GRAD_TEMPLATE),
        len,
        vars,
        2,
    )
}

/// `dx = dy * act'(x)` over `len` elements, read off the output `y = act(x)` (relu, leaky
/// relu: `y > 0`; tanh: `1 - y^2`), for activations the fusion pass folded into their
/// producer. An activation whose derivative needs `x` (gelu) is refused.
///
/// Bindings: `y`, `dy`, `dx`.
pub fn activation_grad_from_output(
    len: u64,
    act: Activation,
    elem: Elem,
) -> Result<KernelSource, KernelError> {
    let vars =
        storage_vars(Vars::new(), elem, 1).set("ACT_GRAD_LIB", wgsl_grad_library(Some(act), 1)?);
    elementwise(
        "activation_grad_from_output",
        format!("{}_grad_from_output_{len}{}", act.name(), elem.suffix()),
        (
            "ops/activation/activation_grad_from_output.wgsl",
            GRAD_FROM_OUTPUT_TEMPLATE,
        ),
        len,
        vars,
        2,
    )
}
