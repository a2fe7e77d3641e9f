//! The CPU reference of batch norm and its training ops, in f64: plain loops, written to be
//! checked by eye and against PyTorch. The interpreter (`reference::ops`,
//! `reference::train_ops`) calls these for `Op::BatchNorm` (eval mode) and
//! `TrainOp::{BatchStats, BatchNormTrain, RunningUpdate, BatchNormGradGamma,
//! BatchNormGradInput}`; a fused activation is applied by the interpreter, as for every op.

use crate::ir::train_ops::{STATS_MEAN, STATS_VAR_BIASED, STATS_VAR_UNBIASED};
use crate::reference::ops::nchw;
use crate::tensor::{Element, Tensor};

/// Eval-mode batch norm with the running statistics `mean` and `var`.
pub fn batch_norm_eval<T: Element>(
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

/// The batch statistics `[3, C]` of `x` over N, H and W: mean, biased and unbiased variance.
pub fn batch_stats<T: Element>(x: &Tensor<T>) -> Tensor<T> {
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

/// Training-mode batch norm with the batch's statistics `stats`.
pub fn batch_norm_train<T: Element>(
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

/// PyTorch's running-statistics update: `running * (1 - momentum) + stats[row] * momentum`.
pub fn running_update<T: Element>(
    running: &Tensor<T>,
    stats: &Tensor<T>,
    momentum: f32,
    row: usize,
) -> Tensor<T> {
    let c = running.numel();
    let m = momentum as f64;
    let data = (0..c)
        .map(|i| {
            T::from_f64(running.data[i].to_f64() * (1.0 - m) + stats.data[row * c + i].to_f64() * m)
        })
        .collect();
    Tensor::new(running.dims.clone(), data)
}

/// `dgamma = sum(dy * xhat)` per channel.
pub fn bn_grad_gamma<T: Element>(
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

/// `dx = gamma * invstd / M * (M dy - dbeta - xhat * dgamma)`, M = N*H*W.
pub fn bn_grad_input<T: Element>(
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
