//! Tensor types: element type and shape, with the batch dimension kept symbolic.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Element type of a value as it is stored. netc computes in f32; labels are i32. In a
/// mixed-precision graph (`passes::mixed_precision`) activations and their gradients are
/// stored as f16 — every batched float value — while parameters, their gradients, batch
/// statistics, optimizer state and losses stay f32 ([`crate::ir::Op::infer`] holds the rule).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum DType {
    F32,
    F16,
    I32,
}

impl DType {
    /// A floating-point type (f32 or f16).
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F16)
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DType::F32 => "f32",
            DType::F16 => "f16",
            DType::I32 => "i32",
        })
    }
}

/// How a training step stores its values: the recipe's `precision` key and
/// `--precision`. `Mixed` stores activations and their gradients as f16 (computing and
/// accumulating in f32) and keeps master weights, batch-norm statistics and optimizer state
/// in f32, with dynamic loss scaling (Lightning's `precision="16-mixed"`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    #[default]
    F32,
    Mixed,
}

impl Precision {
    /// Parses the recipe's and the command line's spelling: `f32` or `mixed`.
    pub fn parse(s: &str) -> Option<Precision> {
        match s {
            "f32" => Some(Precision::F32),
            "mixed" => Some(Precision::Mixed),
            _ => None,
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Precision::F32 => "f32",
            Precision::Mixed => "mixed",
        })
    }
}

/// The type of a value flowing along an IR edge.
///
/// `batched` tensors have a leading batch dimension `N` that is not stored in
/// `dims` (it is chosen at run time); parameters are unbatched. An activation of
/// a conv net is `batched` with `dims = [C, H, W]`, printed `[N,C,H,W]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct TensorType {
    pub dtype: DType,
    pub batched: bool,
    pub dims: Vec<usize>,
}

impl TensorType {
    /// A batched f32 activation with per-example dims.
    pub fn activation(dims: Vec<usize>) -> TensorType {
        TensorType {
            dtype: DType::F32,
            batched: true,
            dims,
        }
    }

    /// An unbatched f32 tensor (a parameter or buffer).
    pub fn param(dims: Vec<usize>) -> TensorType {
        TensorType {
            dtype: DType::F32,
            batched: false,
            dims,
        }
    }

    /// A scalar f32 (e.g. a loss).
    pub fn scalar() -> TensorType {
        TensorType::param(Vec::new())
    }

    /// Elements per example (batched) or in total (unbatched); saturates at
    /// `usize::MAX` rather than overflowing on absurd user-written sizes.
    pub fn numel(&self) -> usize {
        self.dims.iter().fold(1usize, |n, &d| n.saturating_mul(d))
    }

    /// Rank counting the batch dimension.
    pub fn rank(&self) -> usize {
        self.dims.len() + usize::from(self.batched)
    }

    /// `(C, H, W)` for a batched image tensor.
    pub fn chw(&self) -> Option<(usize, usize, usize)> {
        match (self.batched, self.dims.as_slice()) {
            (true, &[c, h, w]) => Some((c, h, w)),
            _ => None,
        }
    }
}

impl fmt::Display for TensorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        let mut first = true;
        if self.batched {
            f.write_str("N")?;
            first = false;
        }
        for d in &self.dims {
            if !first {
                f.write_str(",")?;
            }
            write!(f, "{d}")?;
            first = false;
        }
        f.write_str("]")?;
        if self.dtype != DType::F32 {
            write!(f, " {}", self.dtype)?;
        }
        Ok(())
    }
}
