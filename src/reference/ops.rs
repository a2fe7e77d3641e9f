//! Forward semantics of each op on host tensors (see `ir::ops` for the definitions).

use crate::ir::{Activation, Op, Window};
use crate::ops::activation::reference::activate;
use crate::ops::pool::reference as pool;
use crate::tensor::{Element, Tensor};

/// Evaluate one op. Operand shapes were checked by the verifier and by `run_all`.
pub fn forward<T: Element>(op: &Op, xs: &[&Tensor<T>]) -> Tensor<T> {
    match op {
        Op::Conv2d {
            out_channels,
            window,
            groups,
            ..
        } => conv2d(
            xs[0],
            xs[1],
            xs.get(2).copied(),
            *out_channels,
            window,
            *groups,
        ),
        Op::BatchNorm { eps, act, .. } => then(
            *act,
            batch_norm_eval(xs[0], xs[1], xs[2], xs[3], xs[4], *eps),
        ),
        Op::Activation(a) => map(xs[0], |v| activate(*a, v)),
        Op::MaxPool2d(w) => pool::pool(xs[0], w, true),
        Op::AvgPool2d(w) => pool::pool(xs[0], w, false),
        Op::GlobalAvgPool => pool::global_avg_pool(xs[0]),
        Op::Flatten => crate::ops::linear::reference::flatten(xs[0]),
        Op::Linear { out_features, .. } => {
            crate::ops::linear::reference::linear(xs[0], xs[1], xs.get(2).copied(), *out_features)
        }
        Op::Add { act } => crate::ops::elementwise::reference::add(xs[0], xs[1], *act),
        Op::Concat => crate::ops::elementwise::reference::concat(xs),
        Op::Softmax => crate::ops::loss::reference::softmax(xs[0]),
        Op::SoftmaxCrossEntropy => crate::ops::loss::reference::cross_entropy(xs[0], xs[1]),
        Op::Output { .. } => xs[0].clone(),
        Op::Train(t) => super::train_ops::forward(t, xs),
        Op::Input { .. } | Op::Param { .. } => {
            unreachable!("leaves are not evaluated by forward()")
        }
    }
}

/// A fused op's activation, applied to the op's rounded result: rounding the
/// pre-activation to the element type first makes a fused op produce exactly the bits
/// of the unfused pair.
pub fn then<T: Element>(act: Option<Activation>, y: Tensor<T>) -> Tensor<T> {
    match act {
        Some(a) => map(&y, |v| activate(a, v)),
        None => y,
    }
}

fn map<T: Element>(x: &Tensor<T>, f: impl Fn(T) -> T) -> Tensor<T> {
    Tensor::new(x.dims.clone(), x.data.iter().map(|&v| f(v)).collect())
}

pub(crate) fn nchw<T: Element>(t: &Tensor<T>) -> (usize, usize, usize, usize) {
    (t.dims[0], t.dims[1], t.dims[2], t.dims[3])
}

fn conv2d<T: Element>(
    x: &Tensor<T>,
    w: &Tensor<T>,
    b: Option<&Tensor<T>>,
    cout: usize,
    win: &Window,
    groups: usize,
) -> Tensor<T> {
    let (n, cin, h, wd) = nchw(x);
    let (kh, kw) = (win.kernel[0], win.kernel[1]);
    let ho = win.out_dim(0, h).expect("verified window");
    let wo = win.out_dim(1, wd).expect("verified window");
    let cin_g = cin / groups;
    let cout_g = cout / groups;
    let mut out = Tensor::zeros(vec![n, cout, ho, wo]);
    for ni in 0..n {
        for co in 0..cout {
            let g = co / cout_g;
            for oy in 0..ho {
                for ox in 0..wo {
                    let mut acc = b.map_or(0.0, |b| b.data[co].to_f64());
                    for ci in 0..cin_g {
                        let c = g * cin_g + ci;
                        for ky in 0..kh {
                            let iy = (oy * win.stride[0] + ky) as isize - win.padding[0] as isize;
                            if iy < 0 || iy >= h as isize {
                                continue;
                            }
                            for kx in 0..kw {
                                let ix =
                                    (ox * win.stride[1] + kx) as isize - win.padding[1] as isize;
                                if ix < 0 || ix >= wd as isize {
                                    continue;
                                }
                                let xv = x.data
                                    [((ni * cin + c) * h + iy as usize) * wd + ix as usize]
                                    .to_f64();
                                let wv = w.data[((co * cin_g + ci) * kh + ky) * kw + kx].to_f64();
                                acc += xv * wv;
                            }
                        }
                    }
                    out.data[((ni * cout + co) * ho + oy) * wo + ox] = T::from_f64(acc);
                }
            }
        }
    }
    out
}

fn batch_norm_eval<T: Element>(
    x: &Tensor<T>,
    gamma: &Tensor<T>,
    beta: &Tensor<T>,
    mean: &Tensor<T>,
    var: &Tensor<T>,
    eps: f32,
) -> Tensor<T> {
    let (n, c, h, w) = nchw(x);
    let mut out = x.clone();
    for ni in 0..n {
        for ci in 0..c {
            let scale = gamma.data[ci].to_f64() / (var.data[ci].to_f64() + eps as f64).sqrt();
            let shift = beta.data[ci].to_f64() - mean.data[ci].to_f64() * scale;
            let base = (ni * c + ci) * h * w;
            for v in &mut out.data[base..base + h * w] {
                *v = T::from_f64(v.to_f64() * scale + shift);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conv_of_ones_counts_window_overlap() {
        let x = Tensor::filled(vec![1, 1, 3, 3], 1.0);
        let w = Tensor::filled(vec![1, 1, 3, 3], 1.0);
        let win = Window {
            kernel: [3, 3],
            stride: [1, 1],
            padding: [1, 1],
        };
        let y = conv2d(&x, &w, None, 1, &win, 1);
        assert_eq!(y.data, vec![4.0, 6.0, 4.0, 6.0, 9.0, 6.0, 4.0, 6.0, 4.0]);
    }
}
