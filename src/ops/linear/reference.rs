//! The CPU reference of linear, flatten and their gradients, in f64: plain loops, written to be
//! checked by eye and against PyTorch. The interpreter (`reference::ops`,
//! `reference::train_ops`) calls these for `Op::{Linear, Flatten}` and
//! `TrainOp::{LinearGradInput, LinearGradWeight, Reshape}`.

use crate::tensor::{Element, Tensor};

/// `torch.flatten(x, 1)`: the same elements as `[N, prod(dims)]`.
pub fn flatten<T: Element>(x: &Tensor<T>) -> Tensor<T> {
    let n = x.dims[0];
    Tensor::new(vec![n, x.numel() / n.max(1)], x.data.clone())
}

/// `F.linear(x, w, b)`: `x [N,in] @ w [out,in]ᵀ + b`.
pub fn linear<T: Element>(
    x: &Tensor<T>,
    w: &Tensor<T>,
    b: Option<&Tensor<T>>,
    out_features: usize,
) -> Tensor<T> {
    let n = x.dims[0];
    let fin = x.dims[1];
    let mut out = Tensor::zeros(vec![n, out_features]);
    for ni in 0..n {
        for o in 0..out_features {
            let mut acc = b.map_or(0.0, |b| b.data[o].to_f64());
            for i in 0..fin {
                acc += x.data[ni * fin + i].to_f64() * w.data[o * fin + i].to_f64();
            }
            out.data[ni * out_features + o] = T::from_f64(acc);
        }
    }
    out
}

/// The same elements as `[N, dims...]` (flatten's gradient).
pub fn reshape<T: Element>(x: &Tensor<T>, dims: &[usize]) -> Tensor<T> {
    let full = std::iter::once(x.dims[0])
        .chain(dims.iter().copied())
        .collect();
    Tensor::new(full, x.data.clone())
}

/// Linear's input gradient: `dx [N,in] = dy [N,out] @ w [out,in]`.
pub fn linear_grad_input<T: Element>(dy: &Tensor<T>, w: &Tensor<T>) -> Tensor<T> {
    let (n, o) = (dy.dims[0], dy.dims[1]);
    let i_len = w.dims[1];
    let mut out = vec![T::default(); n * i_len];
    for ni in 0..n {
        for i in 0..i_len {
            let acc: f64 = (0..o)
                .map(|oi| dy.data[ni * o + oi].to_f64() * w.data[oi * i_len + i].to_f64())
                .sum();
            out[ni * i_len + i] = T::from_f64(acc);
        }
    }
    Tensor::new(vec![n, i_len], out)
}

/// Linear's weight gradient: `dw [out,in] = dyᵀ @ x`, summed over the batch.
pub fn linear_grad_weight<T: Element>(x: &Tensor<T>, dy: &Tensor<T>) -> Tensor<T> {
    let (n, i_len) = (x.dims[0], x.dims[1]);
    let o = dy.dims[1];
    let mut out = vec![T::default(); o * i_len];
    for oi in 0..o {
        for i in 0..i_len {
            let acc: f64 = (0..n)
                .map(|ni| dy.data[ni * o + oi].to_f64() * x.data[ni * i_len + i].to_f64())
                .sum();
            out[oi * i_len + i] = T::from_f64(acc);
        }
    }
    Tensor::new(vec![o, i_len], out)
}
