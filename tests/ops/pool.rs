//! The pooling family (`src/ops/pool/`): max_pool2d, avg_pool2d and global_avg_pool and their
//! training ops, each on the GPU against the CPU reference (`netc::ops::pool::reference`,
//! through `reference::ops` / `reference::train_ops`):
//!
//! * the forward kernels: max pool exact (padding acts as -inf), avg pool counting the padding,
//!   global average pool over a plane of more than 2^17 elements (the lavapipe loop-cap trap),
//!   and non-square windows;
//! * the gradients: max pool's argmax pass and gather on inputs full of ties (the first maximum
//!   wins), with the forward `max_pool2d_with_indices` writing the argmax pass's positions and
//!   `max_pool2d`'s output bit for bit; avg pool's; global average pool's broadcast;
//! * each pool's gradient in a training graph against finite differences.
//!
//! There is no skipping: without a GPU adapter these tests fail and say how to get one.

use super::harness::{grad_check as check, run_kernel};
use crate::gpu_common::{
    Lcg, NON_SQUARE_WINDOWS, assert_close, buffer, global_avg_pool_reference, nchw, pool_reference,
    rt, tensor, train_reference as train_ref, upload, window,
};
use netc::codegen::kernels::Elem;
use netc::ir::train_ops::TrainOp;
use netc::ops::pool::{Pool2dParams, grad_kernel, kernel};
use netc::runtime::Dispatch;

// ---- forward ----

fn check_pool(label: &str, p: Pool2dParams, max: bool, seed: u64) {
    let mut rng = Lcg::new(seed);
    let x = rng.vec(p.input_len() as usize);
    let want = pool_reference(&p, &x, max);
    let k = if max {
        kernel::max_pool2d(&p)
    } else {
        kernel::avg_pool2d(&p)
    }
    .expect("kernel");
    let (xb, yb) = (upload(&x), rt().create_buffer(want.len()).expect("buffer"));
    let got = rt()
        .run_and_read(&[Dispatch::new(&k, &[&xb, &yb])], &[&yb])
        .expect("run");
    if max {
        // A max selects one input: no rounding at all.
        assert_eq!(got[0], want, "{label}: max pool must be exact");
    } else {
        assert_close(label, &got[0], &want);
    }
}

#[test]
fn max_pool() {
    check_pool(
        "max 3 s1 p1",
        Pool2dParams::new(2, 24, (9, 9), 3, 1, 1),
        true,
        300,
    );
    check_pool(
        "max 3 s2 p1",
        Pool2dParams::new(2, 24, (9, 9), 3, 2, 1),
        true,
        301,
    );
    check_pool(
        "max 3 s2 p1 even",
        Pool2dParams::new(1, 96, (8, 8), 3, 2, 1),
        true,
        302,
    );
    check_pool(
        "max 2 s2",
        Pool2dParams::new(1, 3, (7, 5), 2, 2, 0),
        true,
        303,
    );
}

#[test]
fn max_pool_padding_is_minus_infinity() {
    // All-negative input: zero padding would win the max; -inf padding never does.
    let p = Pool2dParams::new(1, 2, (4, 4), 3, 1, 1);
    let x: Vec<f32> = (0..32).map(|i| -1.0 - i as f32).collect();
    let want = pool_reference(&p, &x, true);
    assert!(want.iter().all(|&v| v < 0.0));
    let k = kernel::max_pool2d(&p).expect("kernel");
    let (xb, yb) = (upload(&x), rt().create_buffer(want.len()).expect("buffer"));
    let got = rt()
        .run_and_read(&[Dispatch::new(&k, &[&xb, &yb])], &[&yb])
        .expect("run");
    assert_eq!(got[0], want);
}

#[test]
fn avg_pool() {
    check_pool(
        "avg 2 s2",
        Pool2dParams::new(2, 24, (8, 8), 2, 2, 0),
        false,
        310,
    );
    check_pool(
        "avg 2 s2 odd",
        Pool2dParams::new(1, 3, (7, 7), 2, 2, 0),
        false,
        311,
    );
    check_pool(
        "avg 3 s2 p1 (pad counted)",
        Pool2dParams::new(1, 5, (6, 6), 3, 2, 1),
        false,
        312,
    );
}

fn check_gap(n: u32, c: u32, h: u32, w: u32, seed: u64) {
    let mut rng = Lcg::new(seed);
    let x = rng.vec((n * c * h * w) as usize);
    let want = global_avg_pool_reference(&x, [n, c, h, w]);
    let k = kernel::global_avg_pool(n, c, h, w, Elem::F32).expect("kernel");
    let (xb, yb) = (upload(&x), rt().create_buffer(want.len()).expect("buffer"));
    let got = rt()
        .run_and_read(&[Dispatch::new(&k, &[&xb, &yb])], &[&yb])
        .expect("run");
    assert_close(&format!("global avg pool {n}x{c}x{h}x{w}"), &got[0], &want);
}

#[test]
fn global_avg_pool_small() {
    check_gap(2, 96, 8, 8, 320);
    check_gap(1, 3, 5, 7, 321);
    check_gap(3, 24, 1, 1, 322);
}

#[test]
fn global_avg_pool_over_more_than_2_pow_17_values() {
    // 384*384 = 147,456 values per plane. A one-invocation-per-plane loop would be cut off by
    // lavapipe after 65,535 iterations and return a wrong mean; the workgroup split must not.
    // Offset the data so a truncated sum would be visibly off.
    let (h, w) = (384u32, 384u32);
    let mut rng = Lcg::new(323);
    let x: Vec<f32> = (0..2 * h * w).map(|_| 1.0 + rng.unit()).collect();
    let want = global_avg_pool_reference(&x, [1, 2, h, w]);
    let k = kernel::global_avg_pool(1, 2, h, w, Elem::F32).expect("kernel");
    let (xb, yb) = (upload(&x), rt().create_buffer(2).expect("buffer"));
    let got = rt()
        .run_and_read(&[Dispatch::new(&k, &[&xb, &yb])], &[&yb])
        .expect("run");
    assert_close("global avg pool 2^17+", &got[0], &want);
}

#[test]
fn pools_non_square_windows() {
    for (i, w) in NON_SQUARE_WINDOWS.into_iter().enumerate() {
        let p = Pool2dParams::new(2, 5, (9, 8), 1, 1, 0).with_window(w);
        check_pool(&format!("max {w:?}"), p, true, 320 + i as u64);
        check_pool(&format!("avg {w:?}"), p, false, 330 + i as u64);
    }
}

// ---- gradients ----

fn check_pool_grad(label: &str, p: Pool2dParams, max: bool, x: &[f32], seed: u64) {
    let mut rng = Lcg::new(seed);
    let dy = rng.vec(p.output_len() as usize);
    let dyt = tensor(&[p.batch, p.channels, p.out_h(), p.out_w()], &dy);
    let win = window(
        [p.kernel_h, p.kernel_w],
        [p.stride_h, p.stride_w],
        [p.pad_h, p.pad_w],
    );
    let (want, got) = if max {
        let xt = nchw(p.batch, p.channels, p.in_h, p.in_w, x);
        let want = train_ref(TrainOp::MaxPool2dGrad(win), &[&xt, &dyt]);
        let k = grad_kernel::max_pool2d_grad(&p).expect("kernel");
        let arg = buffer(k.arg_len as usize);
        let (xb, dyb, dx) = (upload(x), upload(&dy), buffer(x.len()));
        let got = rt()
            .run_and_read(
                &[
                    Dispatch::new(&k.argmax, &[&xb, &arg]),
                    Dispatch::new(&k.gather, &[&arg, &dyb, &dx]),
                ],
                &[&dx],
            )
            .expect("run")
            .remove(0);
        check_forward_indices(&p, x, &k);
        (want, got)
    } else {
        let op = TrainOp::AvgPool2dGrad {
            window: win,
            input_hw: [p.in_h as usize, p.in_w as usize],
        };
        let want = train_ref(op, &[&dyt]);
        let k = grad_kernel::avg_pool2d_grad(&p).expect("kernel");
        (want, run_kernel(&k, &[&dy], p.input_len() as usize))
    };
    assert_close(label, &got, &want);
}

/// A training step's forward max pool stores the gradient's positions itself
/// (`max_pool2d_with_indices`): they are the argmax pass's, and its output is `max_pool2d`'s,
/// bit for bit.
fn check_forward_indices(p: &Pool2dParams, x: &[f32], k: &grad_kernel::MaxPoolGrad) {
    let len = k.arg_len as usize;
    let fused = kernel::max_pool2d_with_indices(p).expect("kernel");
    let plain = kernel::max_pool2d(p).expect("kernel");
    let xb = upload(x);
    let (arg, fused_y, fused_arg, y) = (buffer(len), buffer(len), buffer(len), buffer(len));
    let got = rt()
        .run_and_read(
            &[
                Dispatch::new(&k.argmax, &[&xb, &arg]),
                Dispatch::new(&fused, &[&xb, &fused_y, &fused_arg]),
                Dispatch::new(&plain, &[&xb, &y]),
            ],
            &[&arg, &fused_arg, &y, &fused_y],
        )
        .expect("run");
    for (what, a, b) in [
        ("positions", &got[0], &got[1]),
        ("outputs", &got[2], &got[3]),
    ] {
        let first = a
            .iter()
            .zip(b)
            .position(|(a, b)| a.to_bits() != b.to_bits());
        assert!(
            first.is_none(),
            "{what} differ from element {first:?}: {p:?}"
        );
    }
}

/// Inputs with many ties: constant 3x3 blocks, a constant plane, and values from {0, 1, 2}.
fn tied_input(p: &Pool2dParams, rng: &mut Lcg) -> Vec<f32> {
    let (h, w) = (p.in_h as usize, p.in_w as usize);
    let mut x = Vec::with_capacity(p.input_len() as usize);
    for plane in 0..(p.batch * p.channels) as usize {
        for y in 0..h {
            for xx in 0..w {
                x.push(match plane % 3 {
                    0 => 1.5,
                    1 => ((y / 3 + xx / 3) % 2) as f32,
                    _ => (rng.unit() * 3.0).floor(),
                });
            }
        }
    }
    x
}

#[test]
fn max_pool_grad_with_ties() {
    for (i, (k, s, pad, hw)) in [(3, 1, 1, 9), (3, 2, 1, 9), (3, 2, 1, 8), (2, 2, 0, 8)]
        .into_iter()
        .enumerate()
    {
        let p = Pool2dParams::new(2, 6, (hw, hw), k, s, pad);
        let mut rng = Lcg::new(60 + i as u64);
        let tied = tied_input(&p, &mut rng);
        check_pool_grad(
            &format!("max {k} s{s} p{pad} ties"),
            p,
            true,
            &tied,
            70 + i as u64,
        );
        let random = rng.vec(p.input_len() as usize);
        check_pool_grad(
            &format!("max {k} s{s} p{pad}"),
            p,
            true,
            &random,
            80 + i as u64,
        );
    }
}

#[test]
fn avg_pool_grad() {
    for (i, (k, s, pad, hw)) in [(2, 2, 0, 8), (3, 1, 1, 7), (3, 2, 1, 9), (2, 2, 0, 7)]
        .into_iter()
        .enumerate()
    {
        let p = Pool2dParams::new(2, 5, (hw, hw), k, s, pad);
        check_pool_grad(
            &format!("avg {k} s{s} p{pad} {hw}"),
            p,
            false,
            &[],
            90 + i as u64,
        );
    }
}

#[test]
fn pool_grads_non_square_windows() {
    for (i, w) in NON_SQUARE_WINDOWS.into_iter().enumerate() {
        let p = Pool2dParams::new(2, 5, (9, 8), 1, 1, 0).with_window(w);
        let mut rng = Lcg::new(90 + i as u64);
        let x = rng.vec(p.input_len() as usize);
        check_pool_grad(&format!("max {w:?}"), p, true, &x, 100 + i as u64);
        check_pool_grad(&format!("avg {w:?}"), p, false, &x, 110 + i as u64);
    }
}

#[test]
fn global_avg_pool_grad() {
    let mut rng = Lcg::new(50);
    let (n, c, h, w) = (3u32, 7u32, 4u32, 5u32);
    let dy = rng.vec((n * c) as usize);
    let op = TrainOp::GlobalAvgPoolGrad {
        input_hw: [h as usize, w as usize],
    };
    let want = train_ref(op, &[&tensor(&[n, c, 1, 1], &dy)]);
    let k = grad_kernel::global_avg_pool_grad(n, c, h, w, Elem::F32).expect("kernel");
    let got = run_kernel(&k, &[&dy], want.len());
    assert_close("global_avg_pool_grad", &got, &want);
}

// ---- gradients in a training graph against finite differences ----

#[test]
fn strided_conv_and_avg_pool() {
    check(
        "model M() { input x: [2, 6, 6]\n return x |> conv(4, k = 1, stride = 2, bias = false) |> avg_pool(2) |> flatten |> linear(3) }",
    );
}

#[test]
fn grouped_conv_and_global_pool() {
    check(
        "model M() { input x: [4, 6, 6]\n y = x |> conv(4, k = 3, pad = 1, groups = 2) |> tanh\n return y |> global_avg_pool |> flatten |> linear(3) }",
    );
}

#[test]
fn max_pool_overlapping_and_padded() {
    // GoogleNet's pools: 3x3 stride 1 pad 1 and 3x3 stride 2 pad 1 (overlapping windows,
    // so one input can be the arg-max of several outputs).
    check(
        "model M() { input x: [2, 6, 6]\n y = x |> conv(3, k = 3, pad = 1) |> max_pool(3, stride = 1, pad = 1)\n return y |> max_pool(3, stride = 2, pad = 1) |> flatten |> linear(3) }",
    );
}

#[test]
fn max_pool_after_relu_and_bn() {
    check(
        "model M() { input x: [2, 6, 6]\n y = x |> conv(4, k = 3, pad = 1) |> bn |> relu |> max_pool(2)\n return y |> conv(3, k = 1) |> global_avg_pool |> flatten |> linear(3) }",
    );
}
