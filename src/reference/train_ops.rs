//! Reference semantics of the training ops (see `ir::train_ops` for the definitions):
//! plain loops, f64 accumulation, written to be checked by eye and against PyTorch.

use super::ops::then;
use crate::ir::train_ops::{STATS_MEAN, STATS_VAR_BIASED, STATS_VAR_UNBIASED, TrainOp};
use crate::ir::{Activation, Window};
use crate::ops::activation::reference as activation;
use crate::ops::pool::reference as pool;
use crate::tensor::{Element, Tensor};

pub fn forward<T: Element>(op: &TrainOp, xs: &[&Tensor<T>]) -> Tensor<T> {
    let own = unaccumulated(op, xs);
    match op.accumulator() {
        Some(acc) => zip(&own, xs[acc], |g, acc| g + acc),
        None => own,
    }
}

/// The op's own value, before an accumulation it adds in (`TrainOp::accumulator`).
fn unaccumulated<T: Element>(op: &TrainOp, xs: &[&Tensor<T>]) -> Tensor<T> {
    match op {
        TrainOp::BatchStats => batch_stats(xs[0]),
        TrainOp::BatchNormTrain { eps, act } => {
            then(*act, batch_norm_train(xs[0], xs[1], xs[2], xs[3], *eps))
        }
        TrainOp::RunningUpdate { momentum, row } => {
            let c = xs[0].numel();
            let m = *momentum as f64;
            let data = (0..c)
                .map(|i| {
                    T::from_f64(
                        xs[0].data[i].to_f64() * (1.0 - m) + xs[1].data[row * c + i].to_f64() * m,
                    )
                })
                .collect();
            Tensor::new(xs[0].dims.clone(), data)
        }
        TrainOp::Assign => xs[1].clone(),
        TrainOp::ActivationGrad(a) => zip(xs[0], xs[1], |x, dy| {
            dy * activation::derivative::<T>(*a, x)
        }),
        TrainOp::ActivationGradFromOutput(a) => zip(xs[0], xs[1], |y, dy| {
            dy * activation::derivative_from_output(*a, y)
        }),
        TrainOp::Conv2dGradInput {
            window,
            groups,
            input_hw,
            ..
        } => conv_grad_input(xs[0], xs[1], window, *groups, *input_hw),
        TrainOp::Conv2dGradWeight { window, groups } => {
            conv_grad_weight(xs[0], xs[1], window, *groups)
        }
        TrainOp::BiasGrad { act_grad } => bias_grad(&through(*act_grad, xs[0], xs.get(1))),
        TrainOp::BatchNormGradGamma { eps, act_grad } => {
            let dy = through(*act_grad, xs[2], xs.get(3));
            bn_grad_gamma(xs[0], xs[1], &dy, *eps)
        }
        TrainOp::BatchNormGradInput { eps, act_grad, .. } => {
            let dy = through(*act_grad, xs[3], xs.get(6));
            bn_grad_input(xs[0], xs[1], xs[2], &dy, xs[4], xs[5], *eps)
        }
        TrainOp::MaxPool2dGrad(w) => pool::max_pool_grad(xs[0], xs[1], w),
        TrainOp::AvgPool2dGrad { window, input_hw } => {
            pool::avg_pool_grad(xs[0], window, *input_hw)
        }
        TrainOp::GlobalAvgPoolGrad { input_hw } => pool::global_avg_pool_grad(xs[0], *input_hw),
        TrainOp::Reshape { dims } => crate::ops::linear::reference::reshape(xs[0], dims),
        TrainOp::LinearGradInput => crate::ops::linear::reference::linear_grad_input(xs[0], xs[1]),
        TrainOp::LinearGradWeight => {
            crate::ops::linear::reference::linear_grad_weight(xs[0], xs[1])
        }
        TrainOp::ChannelSlice { offset, channels } => {
            crate::ops::elementwise::reference::channel_slice(xs[0], *offset, *channels)
        }
        TrainOp::SoftmaxCrossEntropyGrad => {
            crate::ops::loss::reference::cross_entropy_grad(xs[0], xs[1])
        }
        TrainOp::CorrectCount => crate::ops::loss::reference::correct_count(xs[0], xs[1]),
        TrainOp::SgdBuffer {
            momentum,
            weight_decay,
        } => {
            let (p, g, buf) = (xs[0], xs[1], xs[2]);
            map3(p, g, buf, |p, g, b| {
                b * *momentum as f64 + g + *weight_decay as f64 * p
            })
        }
        TrainOp::SgdStep {
            momentum,
            weight_decay,
            nesterov,
        } => {
            let lr = xs[3].data[0].to_f64();
            map3(xs[0], xs[1], xs[2], |p, g, b| {
                let d = if *nesterov {
                    g + *weight_decay as f64 * p + *momentum as f64 * b
                } else {
                    b
                };
                p - lr * d
            })
        }
        TrainOp::AdamMoment { beta, square, l2 } => map3(xs[0], xs[1], xs[2], |m, g, p| {
            let g = g + *l2 as f64 * p;
            let g = if *square { g * g } else { g };
            m * *beta as f64 + (1.0 - *beta as f64) * g
        }),
        TrainOp::AdamStep {
            beta1,
            beta2,
            eps,
            decoupled_wd,
        } => {
            let (lr, t) = (xs[3].data[0].to_f64(), xs[4].data[0].to_f64());
            let bc1 = 1.0 - (*beta1 as f64).powf(t);
            let bc2 = 1.0 - (*beta2 as f64).powf(t);
            map3(xs[0], xs[1], xs[2], |p, m, v| {
                let p = p * (1.0 - lr * *decoupled_wd as f64);
                p - lr / bc1 * m / (v.sqrt() / bc2.sqrt() + *eps as f64)
            })
        }
    }
}

/// The gradient an op reads: `dy` itself, or with a fused activation's gradient folded in,
/// `dy * act'(y)` rounded to the element type — exactly the tensor
/// `activation_grad_from_output(y, dy)` would have stored, so folding changes no bit.
fn through<T: Element>(
    act_grad: Option<Activation>,
    dy: &Tensor<T>,
    y: Option<&&Tensor<T>>,
) -> Tensor<T> {
    match act_grad {
        Some(a) => {
            let y = y.expect("a gradient through an activation has its output as operand");
            zip(y, dy, |y, dy| dy * activation::derivative_from_output(a, y))
        }
        None => dy.clone(),
    }
}

fn zip<T: Element>(a: &Tensor<T>, b: &Tensor<T>, f: impl Fn(f64, f64) -> f64) -> Tensor<T> {
    Tensor::new(
        a.dims.clone(),
        a.data
            .iter()
            .zip(&b.data)
            .map(|(&x, &y)| T::from_f64(f(x.to_f64(), y.to_f64())))
            .collect(),
    )
}

fn map3<T: Element>(
    a: &Tensor<T>,
    b: &Tensor<T>,
    c: &Tensor<T>,
    f: impl Fn(f64, f64, f64) -> f64,
) -> Tensor<T> {
    let data = (0..a.numel())
        .map(|i| {
            T::from_f64(f(
                a.data[i].to_f64(),
                b.data[i].to_f64(),
                c.data[i].to_f64(),
            ))
        })
        .collect();
    Tensor::new(a.dims.clone(), data)
}

fn nchw<T: Element>(t: &Tensor<T>) -> (usize, usize, usize, usize) {
    (t.dims[0], t.dims[1], t.dims[2], t.dims[3])
}

fn batch_stats<T: Element>(x: &Tensor<T>) -> Tensor<T> {
    let (n, c, h, w) = nchw(x);
    let plane = h * w;
    let m = (n * plane) as f64;
    let mut out = vec![T::default(); 3 * c];
    for ci in 0..c {
        let values =
            (0..n).flat_map(|ni| x.data[(ni * c + ci) * plane..(ni * c + ci + 1) * plane].iter());
        let mean = values.clone().map(|&v| v.to_f64()).sum::<f64>() / m;
        let ss: f64 = values.map(|&v| (v.to_f64() - mean).powi(2)).sum();
        out[STATS_MEAN * c + ci] = T::from_f64(mean);
        out[STATS_VAR_BIASED * c + ci] = T::from_f64(ss / m);
        out[STATS_VAR_UNBIASED * c + ci] = T::from_f64(ss / (m - 1.0).max(1.0));
    }
    Tensor::new(vec![3, c], out)
}

/// (mean, 1/sqrt(var_biased + eps)) of channel `ci`.
fn mean_invstd<T: Element>(stats: &Tensor<T>, ci: usize, eps: f32) -> (f64, f64) {
    let c = stats.dims[1];
    let mean = stats.data[STATS_MEAN * c + ci].to_f64();
    let var = stats.data[STATS_VAR_BIASED * c + ci].to_f64();
    (mean, 1.0 / (var + eps as f64).sqrt())
}

fn batch_norm_train<T: Element>(
    x: &Tensor<T>,
    stats: &Tensor<T>,
    gamma: &Tensor<T>,
    beta: &Tensor<T>,
    eps: f32,
) -> Tensor<T> {
    let (n, c, h, w) = nchw(x);
    let plane = h * w;
    let mut out = x.clone();
    for ni in 0..n {
        for ci in 0..c {
            let (mean, invstd) = mean_invstd(stats, ci, eps);
            let (g, b) = (gamma.data[ci].to_f64(), beta.data[ci].to_f64());
            for v in &mut out.data[(ni * c + ci) * plane..(ni * c + ci + 1) * plane] {
                *v = T::from_f64((v.to_f64() - mean) * invstd * g + b);
            }
        }
    }
    out
}

fn bias_grad<T: Element>(dy: &Tensor<T>) -> Tensor<T> {
    let (n, c) = (dy.dims[0], dy.dims[1]);
    let inner: usize = dy.dims[2..].iter().product();
    let mut out = vec![0f64; c];
    for ni in 0..n {
        for (ci, o) in out.iter_mut().enumerate() {
            *o += dy.data[(ni * c + ci) * inner..(ni * c + ci + 1) * inner]
                .iter()
                .map(|&v| v.to_f64())
                .sum::<f64>();
        }
    }
    Tensor::new(vec![c], out.into_iter().map(T::from_f64).collect())
}

fn bn_grad_gamma<T: Element>(
    x: &Tensor<T>,
    stats: &Tensor<T>,
    dy: &Tensor<T>,
    eps: f32,
) -> Tensor<T> {
    let (n, c, h, w) = nchw(x);
    let plane = h * w;
    let mut out = vec![0f64; c];
    for ni in 0..n {
        for (ci, o) in out.iter_mut().enumerate() {
            let (mean, invstd) = mean_invstd(stats, ci, eps);
            let r = (ni * c + ci) * plane..(ni * c + ci + 1) * plane;
            *o += x.data[r.clone()]
                .iter()
                .zip(&dy.data[r])
                .map(|(&xv, &g)| (xv.to_f64() - mean) * invstd * g.to_f64())
                .sum::<f64>();
        }
    }
    Tensor::new(vec![c], out.into_iter().map(T::from_f64).collect())
}

fn bn_grad_input<T: Element>(
    x: &Tensor<T>,
    stats: &Tensor<T>,
    gamma: &Tensor<T>,
    dy: &Tensor<T>,
    dgamma: &Tensor<T>,
    dbeta: &Tensor<T>,
    eps: f32,
) -> Tensor<T> {
    let (n, c, h, w) = nchw(x);
    let plane = h * w;
    let m = (n * plane) as f64;
    let mut out = x.clone();
    for ni in 0..n {
        for ci in 0..c {
            let (mean, invstd) = mean_invstd(stats, ci, eps);
            let k = gamma.data[ci].to_f64() * invstd / m;
            let (dg, db) = (dgamma.data[ci].to_f64(), dbeta.data[ci].to_f64());
            for i in (ni * c + ci) * plane..(ni * c + ci + 1) * plane {
                let xhat = (x.data[i].to_f64() - mean) * invstd;
                out.data[i] = T::from_f64(k * (m * dy.data[i].to_f64() - db - xhat * dg));
            }
        }
    }
    out
}

/// Input position of output `o` at window offset `k` on one axis, if inside the input.
pub(crate) fn tap(o: usize, k: usize, stride: usize, pad: usize, size: usize) -> Option<usize> {
    let i = (o * stride + k) as isize - pad as isize;
    (i >= 0 && (i as usize) < size).then_some(i as usize)
}

fn conv_grad_input<T: Element>(
    dy: &Tensor<T>,
    w: &Tensor<T>,
    win: &Window,
    groups: usize,
    input_hw: [usize; 2],
) -> Tensor<T> {
    let (n, cout, ho, wo) = nchw(dy);
    let (cin_g, kh, kw) = (w.dims[1], w.dims[2], w.dims[3]);
    let (h, wd) = (input_hw[0], input_hw[1]);
    let cin = cin_g * groups;
    let cout_g = cout / groups;
    let mut acc = vec![0f64; n * cin * h * wd];
    for ni in 0..n {
        for co in 0..cout {
            let g = co / cout_g;
            for oy in 0..ho {
                for ox in 0..wo {
                    let d = dy.data[((ni * cout + co) * ho + oy) * wo + ox].to_f64();
                    for ci in 0..cin_g {
                        for ky in 0..kh {
                            let Some(iy) = tap(oy, ky, win.stride[0], win.padding[0], h) else {
                                continue;
                            };
                            for kx in 0..kw {
                                let Some(ix) = tap(ox, kx, win.stride[1], win.padding[1], wd)
                                else {
                                    continue;
                                };
                                let wv = w.data[((co * cin_g + ci) * kh + ky) * kw + kx].to_f64();
                                acc[((ni * cin + g * cin_g + ci) * h + iy) * wd + ix] += d * wv;
                            }
                        }
                    }
                }
            }
        }
    }
    Tensor::new(
        vec![n, cin, h, wd],
        acc.into_iter().map(T::from_f64).collect(),
    )
}

fn conv_grad_weight<T: Element>(
    x: &Tensor<T>,
    dy: &Tensor<T>,
    win: &Window,
    groups: usize,
) -> Tensor<T> {
    let (n, cin, h, wd) = nchw(x);
    let (_, cout, ho, wo) = nchw(dy);
    let (kh, kw) = (win.kernel[0], win.kernel[1]);
    let cin_g = cin / groups;
    let cout_g = cout / groups;
    let mut acc = vec![0f64; cout * cin_g * kh * kw];
    for ni in 0..n {
        for co in 0..cout {
            let g = co / cout_g;
            for oy in 0..ho {
                for ox in 0..wo {
                    let d = dy.data[((ni * cout + co) * ho + oy) * wo + ox].to_f64();
                    for ci in 0..cin_g {
                        for ky in 0..kh {
                            let Some(iy) = tap(oy, ky, win.stride[0], win.padding[0], h) else {
                                continue;
                            };
                            for kx in 0..kw {
                                let Some(ix) = tap(ox, kx, win.stride[1], win.padding[1], wd)
                                else {
                                    continue;
                                };
                                let xv = x.data[((ni * cin + g * cin_g + ci) * h + iy) * wd + ix]
                                    .to_f64();
                                acc[((co * cin_g + ci) * kh + ky) * kw + kx] += d * xv;
                            }
                        }
                    }
                }
            }
        }
    }
    Tensor::new(
        vec![cout, cin_g, kh, kw],
        acc.into_iter().map(T::from_f64).collect(),
    )
}
