//! The CPU reference of the conv ops and their gradients, in f64: plain loops, written to be
//! checked by eye and against PyTorch. The interpreter (`reference::ops`,
//! `reference::train_ops`) calls these for `Op::Conv2d` and
//! `TrainOp::{Conv2dGradInput, Conv2dGradWeight}`.

use crate::ir::Window;
use crate::reference::ops::nchw;
use crate::reference::train_ops::tap;
use crate::tensor::{Element, Tensor};

/// `F.conv2d(x, w, b, stride, padding, groups=groups)` with `cout` output channels over `win`
/// (zero padding, dilation 1).
pub fn conv2d<T: Element>(
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

/// conv2d's gradient with respect to its input `[N, Cin, H, W]` (`input_hw = [H, W]`): a
/// transposed convolution of `dy` with `w`.
pub fn conv_grad_input<T: Element>(
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

/// conv2d's gradient with respect to its weight `[Cout, Cin/groups, kh, kw]`: `x` correlated
/// with `dy`.
pub fn conv_grad_weight<T: Element>(
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
