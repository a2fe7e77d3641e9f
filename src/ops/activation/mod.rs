//! Pointwise activations (`relu`, `leaky_relu`, `tanh`, `gelu`, `silu`): the `act`
//! hyper-parameter of the seed's models, standalone ops and the epilogue fused into batch norm,
//! add and conv kernels.
//!
//! [`Activation`] is what the IR stores: an index into [`table::TABLE`], whose one
//! [`ActivationDef`] per activation holds every fact about it — its name, PyTorch semantics, CPU
//! reference and derivatives, WGSL, ONNX form and init gain. Everything else reads the table:
//! the elaborator's builtins and diagnostics, the shape rules ([`shape`]), the backward rule
//! ([`autodiff`]), the fusion pass (whether the derivative can be read off the output), the
//! kernels ([`kernel`]), ONNX export ([`onnx`]) and `params::gain`.
//!
//! To add an activation, add its entry to `table.rs` (and its reference functions to
//! `reference.rs`, its ONNX lowering to `onnx.rs`), then regenerate
//! `tests/ops/activation/fixtures.json` with `tools/make_op_fixtures.py`: `tests/ops/activation.rs`
//! iterates the table, so the new activation's kernels, gradients and PyTorch parity are tested
//! without a new test.

pub mod autodiff;
pub mod kernel;
pub mod onnx;
pub mod reference;
pub mod shape;
mod table;

pub use kernel::{kernel_name, wgsl_grad_library, wgsl_library};

use serde::{Serialize, Serializer};
use std::fmt;

/// A pointwise activation: an index into the activation table.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Activation(u8);

/// How `nn.init.calculate_gain` scales an activation's Kaiming initialisation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Gain {
    /// `sqrt(2 / (1 + a^2))` with negative slope `a` (relu: `a = 0`, so `sqrt 2`).
    Rectifier { negative_slope: f64 },
    /// A constant (tanh: 5/3).
    Constant(f64),
}

/// Everything netc knows about one activation.
pub struct ActivationDef {
    /// The name in `.net` files, printed IR, kernel names and `nonlinearity =` (`leaky_relu`).
    pub name: &'static str,
    /// Other spellings the language accepts (`leakyrelu`).
    pub aliases: &'static [&'static str],
    /// The PyTorch call it equals, the semantics every implementation follows.
    pub pytorch: &'static str,
    /// `y = act(x)` in f64: the CPU reference.
    pub forward: fn(f64) -> f64,
    /// `act'(x)` in f64. `stored` rounds a value as the element type stores it: a derivative
    /// written in terms of `act(x)` (tanh's `1 - y^2`) reads `y` as the device holds it, as
    /// PyTorch's backward does.
    pub derivative: fn(x: f64, stored: fn(f64) -> f64) -> f64,
    /// `act'(x)` read off the output `y = act(x)`, where it is a function of `y`; `None` where
    /// it is not (gelu). The fusion pass folds an activation whose gradient is taken into its
    /// producer only when this is `Some`: once fused, `x` is never stored.
    pub derivative_from_output: Option<fn(y: f64) -> f64>,
    /// WGSL expression of `act(x)` (`x: f32` in scope, with the helpers of
    /// `activation_lib.wgsl` and its `LEAKY_SLOPE`).
    pub wgsl: &'static str,
    /// WGSL expression of `act'(x)` (the helpers of `activation_grad.wgsl` in scope).
    pub wgsl_derivative: &'static str,
    /// WGSL expression of [`Self::derivative_from_output`] (`y: f32` and `GRAD_SLOPE` in
    /// scope); `Some` exactly when it is.
    pub wgsl_derivative_from_output: Option<&'static str>,
    /// The negative slope the kernels' `LEAKY_SLOPE` / `GRAD_SLOPE` constants hold (0 where the
    /// activation has none).
    pub slope: f32,
    /// Writes the ONNX (opset 17) nodes computing `out = act(x)`.
    pub onnx: onnx::Lowering,
    /// The init gain `kaiming_*(nonlinearity = name)` uses.
    pub gain: Gain,
}

impl Activation {
    /// `torch.relu`.
    pub const RELU: Activation = Activation(0);
    /// `F.leaky_relu(x, 0.01)`.
    pub const LEAKY_RELU: Activation = Activation(1);
    /// `torch.tanh`.
    pub const TANH: Activation = Activation(2);
    /// `F.gelu(x)`, the exact erf form.
    pub const GELU: Activation = Activation(3);
    /// `F.silu(x)`, x * sigmoid(x).
    pub const SILU: Activation = Activation(4);

    /// The negative slope of leaky ReLU (PyTorch's default).
    pub const LEAKY_SLOPE: f32 = table::LEAKY_SLOPE;

    /// Every activation, in table order.
    pub fn all() -> impl Iterator<Item = Activation> + Clone {
        (0..table::TABLE.len()).map(|i| Activation(i as u8))
    }

    /// The activation this name or alias stands for.
    pub fn from_name(name: &str) -> Option<Activation> {
        Activation::all().find(|a| a.name() == name || a.def().aliases.contains(&name))
    }

    /// This activation's entry in the table.
    pub fn def(self) -> &'static ActivationDef {
        &table::TABLE[usize::from(self.0)]
    }

    /// The name used in `.net` files, printed IR, kernel names and init gain.
    pub fn name(self) -> &'static str {
        self.def().name
    }

    /// Whether the derivative is a function of the output (see
    /// [`ActivationDef::derivative_from_output`]).
    pub fn derivative_from_output(self) -> bool {
        self.def().derivative_from_output.is_some()
    }

    /// Every name, in table order, joined with `, ` (`relu, leaky_relu, ...`): what
    /// diagnostics list as the accepted activations.
    pub fn names() -> String {
        Activation::all()
            .map(Activation::name)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Debug for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Activation {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_constants_are_their_table_entries() {
        for (a, name) in [
            (Activation::RELU, "relu"),
            (Activation::LEAKY_RELU, "leaky_relu"),
            (Activation::TANH, "tanh"),
            (Activation::GELU, "gelu"),
            (Activation::SILU, "silu"),
        ] {
            assert_eq!(a.name(), name);
            assert_eq!(Activation::from_name(name), Some(a));
        }
    }

    #[test]
    fn names_are_unique_and_wgsl_matches_the_reference_forms() {
        let mut seen = std::collections::HashSet::new();
        for a in Activation::all() {
            let d = a.def();
            for n in std::iter::once(&d.name).chain(d.aliases) {
                assert!(seen.insert(*n), "{n} names two activations");
            }
            assert_eq!(
                d.derivative_from_output.is_some(),
                d.wgsl_derivative_from_output.is_some(),
                "{}: the reference and the kernels disagree on reading act' off the output",
                d.name
            );
        }
    }
}
