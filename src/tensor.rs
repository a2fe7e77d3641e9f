//! Host-side tensors: a shape and a flat row-major buffer of `f32` (or `f64`).
//!
//! This is the currency between the CPU reference interpreter, parameter files and
//! the GPU runtime's uploads and read-backs. Layout is row-major (NCHW for images),
//! exactly PyTorch's contiguous layout. The device and parameter files are `f32`;
//! the reference interpreter also runs in `f64`, where finite differences and
//! PyTorch's float64 results are exact enough to check gradients to many digits.

use std::collections::BTreeMap;
use std::fmt::Debug;

/// An element type the reference interpreter computes in. Every op converts to
/// `f64` to compute and back to the element type to store, so an `f32` run rounds
/// once per op (as a GPU kernel with f32 storage does) and an `f64` run is exact to
/// double precision.
pub trait Element: Copy + Default + PartialOrd + Debug + Send + Sync + 'static {
    fn to_f64(self) -> f64;
    fn from_f64(v: f64) -> Self;
}

impl Element for f32 {
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn from_f64(v: f64) -> Self {
        v as f32
    }
}

impl Element for f64 {
    fn to_f64(self) -> f64 {
        self
    }
    fn from_f64(v: f64) -> Self {
        v
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Tensor<T = f32> {
    /// Full shape, batch included where there is one.
    pub dims: Vec<usize>,
    pub data: Vec<T>,
}

impl<T: Element> Tensor<T> {
    pub fn new(dims: Vec<usize>, data: Vec<T>) -> Self {
        assert_eq!(
            dims.iter().product::<usize>(),
            data.len(),
            "tensor data length must match its shape {dims:?}"
        );
        Tensor { dims, data }
    }

    pub fn zeros(dims: Vec<usize>) -> Self {
        Self::filled(dims, T::default())
    }

    pub fn filled(dims: Vec<usize>, value: T) -> Self {
        let n = dims.iter().product();
        Tensor {
            dims,
            data: vec![value; n],
        }
    }

    pub fn numel(&self) -> usize {
        self.data.len()
    }

    /// The same tensor in another element type (rounding to nearest when narrowing).
    pub fn cast<U: Element>(&self) -> Tensor<U> {
        Tensor {
            dims: self.dims.clone(),
            data: self.data.iter().map(|&v| U::from_f64(v.to_f64())).collect(),
        }
    }
}

/// Named tensors: parameters and buffers by their IR names, in sorted order.
pub type TensorMap<T = f32> = BTreeMap<String, Tensor<T>>;

/// Every tensor of a map in another element type.
pub fn cast_map<T: Element, U: Element>(map: &TensorMap<T>) -> TensorMap<U> {
    map.iter().map(|(k, v)| (k.clone(), v.cast())).collect()
}
