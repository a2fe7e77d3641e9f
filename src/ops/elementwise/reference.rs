//! The CPU reference of add, concat and concat's gradient, in f64 where it computes: the
//! interpreter (`reference::ops`, `reference::train_ops`) calls these for `Op::{Add, Concat}`
//! and `TrainOp::ChannelSlice`.

use crate::ir::Activation;
use crate::reference::ops::{nchw, then};
use crate::tensor::{Element, Tensor};

/// `act(a + b)`: the sum rounded to the element type, then the fused activation (if any).
pub fn add<T: Element>(a: &Tensor<T>, b: &Tensor<T>, act: Option<Activation>) -> Tensor<T> {
    then(
        act,
        Tensor::new(
            a.dims.clone(),
            a.data
                .iter()
                .zip(&b.data)
                .map(|(a, b)| T::from_f64(a.to_f64() + b.to_f64()))
                .collect(),
        ),
    )
}

/// The images `xs` joined along the channels, in order.
pub fn concat<T: Element>(xs: &[&Tensor<T>]) -> Tensor<T> {
    let (n, _, h, w) = nchw(xs[0]);
    let c_total: usize = xs.iter().map(|x| x.dims[1]).sum();
    let mut data = Vec::with_capacity(n * c_total * h * w);
    for ni in 0..n {
        for x in xs {
            let plane = x.dims[1] * h * w;
            data.extend_from_slice(&x.data[ni * plane..(ni + 1) * plane]);
        }
    }
    Tensor::new(vec![n, c_total, h, w], data)
}

/// Channels `[offset, offset + channels)` of the image `x` (concat's gradient).
pub fn channel_slice<T: Element>(x: &Tensor<T>, offset: usize, channels: usize) -> Tensor<T> {
    let (n, c, h, w) = (x.dims[0], x.dims[1], x.dims[2], x.dims[3]);
    let plane = h * w;
    let mut data = Vec::with_capacity(n * channels * plane);
    for ni in 0..n {
        let start = (ni * c + offset) * plane;
        data.extend_from_slice(&x.data[start..start + channels * plane]);
    }
    Tensor::new(vec![n, channels, h, w], data)
}
