//! Activation functions: the [`Activation`] enum shared by every kernel with a fused epilogue,
//! the WGSL library that implements them (`shaders/lib/activation.wgsl`), and the standalone
//! elementwise activation kernel (`shaders/activation.wgsl`).
//!
//! gelu is the exact erf form (PyTorch's default `approximate='none'`). WGSL has no `erf`, so the
//! library carries an erfc approximation with < 1.2e-7 *relative* error; see the shader comments.

use super::template::{Vars, render};
use super::{
    BindingKind, ENTRY_POINT, KernelError, KernelSource, MAX_ELEMENTS, ensure, fit_u32, grid_1d,
};
use super::{Elem, storage_vars};

const LIB_TEMPLATE: &str = include_str!("../../../shaders/lib/activation.wgsl");
const GRAD_LIB_TEMPLATE: &str = include_str!("../../../shaders/lib/activation_grad.wgsl");
const TEMPLATE: &str = include_str!("../../../shaders/activation.wgsl");

/// Workgroup size of the elementwise kernels: large enough that lavapipe's 8-wide SIMD and a
/// GPU's 32-wide warps are both full.
pub(crate) const ELEMENTWISE_WG: u32 = 256;

/// A pointwise nonlinearity, with PyTorch semantics.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Activation {
    /// `y = x` (no activation).
    #[default]
    Identity,
    /// `y = max(x, 0)`.
    Relu,
    /// `y = x` for `x >= 0`, `slope * x` otherwise (PyTorch's default slope is 0.01).
    LeakyRelu {
        /// Negative slope.
        slope: f32,
    },
    /// `y = tanh(x)`.
    Tanh,
    /// `y = 0.5 x (1 + erf(x / sqrt 2))` (exact, not the tanh approximation).
    Gelu,
}

impl Activation {
    /// Leaky ReLU with PyTorch's default slope of 0.01.
    pub const LEAKY_RELU: Activation = Activation::LeakyRelu { slope: 0.01 };

    /// Short name used in kernel names.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Identity => "identity",
            Activation::Relu => "relu",
            Activation::LeakyRelu { .. } => "leaky_relu",
            Activation::Tanh => "tanh",
            Activation::Gelu => "gelu",
        }
    }

    /// The `ACT_KIND` constant of `shaders/lib/activation.wgsl`.
    fn kind_id(self) -> u32 {
        match self {
            Activation::Identity => 0,
            Activation::Relu => 1,
            Activation::LeakyRelu { .. } => 2,
            Activation::Tanh => 3,
            Activation::Gelu => 4,
        }
    }

    /// Renders the WGSL library defining `fn activate(x: f32) -> f32` for this activation.
    pub fn wgsl_library(self) -> Result<String, KernelError> {
        self.wgsl_library_width(1)
    }

    /// [`Self::wgsl_library`] for kernels that read `width` elements as one vector
    /// ([`super::elementwise::vector_width`]): with 4 it also defines `fn activate4(v: vec4<f32>) ->
    /// vec4<f32>`, `activate` lane by lane.
    pub fn wgsl_library_width(self, width: u32) -> Result<String, KernelError> {
        let slope = match self {
            Activation::LeakyRelu { slope } => slope,
            _ => 0.0,
        };
        ensure("activation", slope.is_finite(), || {
            format!("leaky relu slope must be finite, got {slope}")
        })?;
        let vars = Vars::new()
            .u32("ACT_KIND", self.kind_id())
            .f32("LEAKY_SLOPE", slope)
            .flag("VEC4", width == 4);
        // Drop the trailing newline so the library splices cleanly into a template line.
        Ok(render("lib/activation.wgsl", LIB_TEMPLATE, &vars)?
            .trim_end()
            .to_string())
    }

    /// Renders the WGSL library defining `fn derivative_from_output(y: f32) -> f32`, this
    /// activation's derivative read off its output (1 for the identity: no activation).
    /// gelu's derivative is not a function of its output and is refused.
    pub fn wgsl_grad_library(self) -> Result<String, KernelError> {
        self.wgsl_grad_library_width(1)
    }

    /// [`Self::wgsl_grad_library`] for kernels that read `width` elements as one vector: with 4
    /// it also defines `fn derivative_from_output4(y: vec4<f32>) -> vec4<f32>`, lane by lane.
    pub fn wgsl_grad_library_width(self, width: u32) -> Result<String, KernelError> {
        ensure("activation_grad", self != Activation::Gelu, || {
            "gelu's derivative cannot be read off its output".into()
        })?;
        let slope = match self {
            Activation::LeakyRelu { slope } => slope,
            _ => 0.0,
        };
        ensure("activation_grad", slope.is_finite(), || {
            format!("leaky relu slope must be finite, got {slope}")
        })?;
        let vars = Vars::new()
            .u32("GRAD_KIND", self.kind_id())
            .f32("GRAD_SLOPE", slope)
            .flag("VEC4", width == 4);
        Ok(
            render("lib/activation_grad.wgsl", GRAD_LIB_TEMPLATE, &vars)?
                .trim_end()
                .to_string(),
        )
    }
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
        .set("ACTIVATION_LIB", act.wgsl_library()?);
    let vars = storage_vars(vars, elem, 1);
    Ok(KernelSource {
        name: format!("{}_{len}{}", act.name(), elem.suffix()),
        wgsl: render("activation.wgsl", TEMPLATE, &vars)?,
        entry: ENTRY_POINT,
        workgroups,
        workgroup_size: [ELEMENTWISE_WG, 1, 1],
        bindings: vec![BindingKind::ReadOnly, BindingKind::ReadWrite],
    })
}
