//! The CPU reference of the pooling ops and their gradients, in f64: plain loops, written to be
//! checked by eye and against PyTorch. The interpreter (`reference::ops`,
//! `reference::train_ops`) calls these for `Op::{MaxPool2d, AvgPool2d, GlobalAvgPool}` and
//! their `TrainOp` gradients.

use crate::ir::Window;
use crate::reference::ops::nchw;
use crate::reference::train_ops::tap;
use crate::tensor::{Element, Tensor};

/// Max pool (`max`; padding never wins) or average pool (count_include_pad=True) over `win`.
pub fn pool<T: Element>(x: &Tensor<T>, win: &Window, max: bool) -> Tensor<T> {
    let (n, c, h, w) = nchw(x);
    let ho = win.out_dim(0, h).expect("verified window");
    let wo = win.out_dim(1, w).expect("verified window");
    let mut out = Tensor::zeros(vec![n, c, ho, wo]);
    let area = (win.kernel[0] * win.kernel[1]) as f64;
    for nc in 0..n * c {
        for oy in 0..ho {
            for ox in 0..wo {
                let mut best = f64::NEG_INFINITY;
                let mut sum = 0.0;
                for ky in 0..win.kernel[0] {
                    let iy = (oy * win.stride[0] + ky) as isize - win.padding[0] as isize;
                    if iy < 0 || iy >= h as isize {
                        continue;
                    }
                    for kx in 0..win.kernel[1] {
                        let ix = (ox * win.stride[1] + kx) as isize - win.padding[1] as isize;
                        if ix < 0 || ix >= w as isize {
                            continue;
                        }
                        let v = x.data[(nc * h + iy as usize) * w + ix as usize].to_f64();
                        best = best.max(v);
                        sum += v;
                    }
                }
                // Average pooling counts the zero padding (PyTorch's count_include_pad=True).
                out.data[(nc * ho + oy) * wo + ox] =
                    T::from_f64(if max { best } else { sum / area });
            }
        }
    }
    out
}

/// Global average pool: each plane's mean, `[N,C,1,1]`.
pub fn global_avg_pool<T: Element>(x: &Tensor<T>) -> Tensor<T> {
    let (n, c, h, w) = nchw(x);
    let data = x
        .data
        .chunks(h * w)
        .map(|plane| T::from_f64(plane.iter().map(|&v| v.to_f64()).sum::<f64>() / (h * w) as f64))
        .collect();
    Tensor::new(vec![n, c, 1, 1], data)
}

/// Max pool's gradient: each window's `dy` goes to its first maximum in scan order
/// (PyTorch's rule), summed where windows overlap.
pub fn max_pool_grad<T: Element>(x: &Tensor<T>, dy: &Tensor<T>, win: &Window) -> Tensor<T> {
    let (n, c, h, w) = nchw(x);
    let (ho, wo) = (dy.dims[2], dy.dims[3]);
    let mut acc = vec![0f64; x.numel()];
    for nc in 0..n * c {
        for oy in 0..ho {
            for ox in 0..wo {
                // The first maximum in scan order receives the gradient (PyTorch's rule).
                let mut best: Option<(usize, T)> = None;
                for ky in 0..win.kernel[0] {
                    let Some(iy) = tap(oy, ky, win.stride[0], win.padding[0], h) else {
                        continue;
                    };
                    for kx in 0..win.kernel[1] {
                        let Some(ix) = tap(ox, kx, win.stride[1], win.padding[1], w) else {
                            continue;
                        };
                        let i = (nc * h + iy) * w + ix;
                        if best.is_none_or(|(_, b)| x.data[i] > b) {
                            best = Some((i, x.data[i]));
                        }
                    }
                }
                if let Some((i, _)) = best {
                    acc[i] += dy.data[(nc * ho + oy) * wo + ox].to_f64();
                }
            }
        }
    }
    Tensor::new(x.dims.clone(), acc.into_iter().map(T::from_f64).collect())
}

/// Average pool's gradient (count_include_pad=True): `dy / (kh kw)` to every element of each
/// window.
pub fn avg_pool_grad<T: Element>(dy: &Tensor<T>, win: &Window, input_hw: [usize; 2]) -> Tensor<T> {
    let (n, c, ho, wo) = nchw(dy);
    let (h, w) = (input_hw[0], input_hw[1]);
    let area = (win.kernel[0] * win.kernel[1]) as f64;
    let mut acc = vec![0f64; n * c * h * w];
    for nc in 0..n * c {
        for oy in 0..ho {
            for ox in 0..wo {
                let d = dy.data[(nc * ho + oy) * wo + ox].to_f64() / area;
                for ky in 0..win.kernel[0] {
                    let Some(iy) = tap(oy, ky, win.stride[0], win.padding[0], h) else {
                        continue;
                    };
                    for kx in 0..win.kernel[1] {
                        let Some(ix) = tap(ox, kx, win.stride[1], win.padding[1], w) else {
                            continue;
                        };
                        acc[(nc * h + iy) * w + ix] += d;
                    }
                }
            }
        }
    }
    Tensor::new(vec![n, c, h, w], acc.into_iter().map(T::from_f64).collect())
}

/// Global average pool's gradient: `dy [N,C,1,1] / (H W)` broadcast over each `input_hw` plane.
pub fn global_avg_pool_grad<T: Element>(dy: &Tensor<T>, input_hw: [usize; 2]) -> Tensor<T> {
    let (n, c) = (dy.dims[0], dy.dims[1]);
    let hw = input_hw[0] * input_hw[1];
    let data = dy
        .data
        .iter()
        .flat_map(|&g| std::iter::repeat_n(T::from_f64(g.to_f64() / hw as f64), hw))
        .collect();
    Tensor::new(vec![n, c, input_hw[0], input_hw[1]], data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_pool_ignores_padding_and_avg_pool_counts_it() {
        let x = Tensor::new(vec![1, 1, 2, 2], vec![-1.0, -2.0, -3.0, -4.0]);
        let win = Window {
            kernel: [3, 3],
            stride: [2, 2],
            padding: [1, 1],
        };
        assert_eq!(pool(&x, &win, true).data, vec![-1.0]);
        assert_eq!(pool(&x, &win, false).data, vec![-10.0 / 9.0]);
    }
}
