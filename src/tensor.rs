//! Host-side tensors: a shape and a flat row-major `f32` buffer.
//!
//! This is the currency between the CPU reference interpreter, parameter files and
//! the GPU runtime's uploads and read-backs. Layout is row-major (NCHW for images),
//! exactly PyTorch's contiguous layout.

use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// Full shape, batch included where there is one.
    pub dims: Vec<usize>,
    pub data: Vec<f32>,
}

impl Tensor {
    pub fn new(dims: Vec<usize>, data: Vec<f32>) -> Tensor {
        assert_eq!(
            dims.iter().product::<usize>(),
            data.len(),
            "tensor data length must match its shape {dims:?}"
        );
        Tensor { dims, data }
    }

    pub fn zeros(dims: Vec<usize>) -> Tensor {
        let n = dims.iter().product();
        Tensor {
            dims,
            data: vec![0.0; n],
        }
    }

    pub fn filled(dims: Vec<usize>, value: f32) -> Tensor {
        let n = dims.iter().product();
        Tensor {
            dims,
            data: vec![value; n],
        }
    }

    pub fn numel(&self) -> usize {
        self.data.len()
    }
}

/// Named tensors: parameters and buffers by their IR names, in sorted order.
pub type TensorMap = BTreeMap<String, Tensor>;
