//! Tensor types: element type and shape, with the batch dimension kept symbolic.

use serde::Serialize;
use std::fmt;

/// Element type. netc computes in f32; labels are i32.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum DType {
    F32,
    I32,
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DType::F32 => "f32",
            DType::I32 => "i32",
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
