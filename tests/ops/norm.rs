//! Batch norm (`src/ops/norm/`): eval-mode `batch_norm` and the training ops — batch
//! statistics, `batch_norm_train`, the running-statistics update and the gradients (dgamma,
//! dgamma with dbeta in one reduction, dx) — each on the GPU against the CPU reference
//! (`netc::ops::norm::reference`, through `reference::ops` / `reference::train_ops`), with every
//! activation the fusion pass may fold in; and batch norm in training graphs against finite
//! differences.
//!
//! The reductions run as their two dispatches in one submission. The batch statistics and
//! dgamma are checked on 133,120 values per channel (above 2^17, where a single-invocation loop
//! would be silently cut short by lavapipe's 65,535-iteration cap) and on a channel with mean 100
//! and std 0.1 (where a naive sum-of-squares variance loses every digit).
//!
//! There is no skipping: without a GPU adapter these tests fail and say how to get one.

use super::harness::{grad_check as check, run_kernel};
use crate::gpu_common::{
    Lcg, assert_close, batch_norm_reference, buffer, epilogues, nchw, rt, run_reduction, tensor,
    train_reference as train_ref, upload,
};
use netc::codegen::kernels::train::reduce;
use netc::codegen::kernels::{Elem, Reduction};
use netc::ir::Op;
use netc::ir::train_ops::TrainOp;
use netc::ops::activation::Activation;
use netc::ops::norm::{kernel, train_kernel};
use netc::reference::{ops, train_ops};
use netc::runtime::{Dispatch, GpuBuffer};
use netc::tensor::Tensor;

/// Every element within `tol` relative to itself (plus a tiny absolute floor).
fn assert_each_close(what: &str, gpu: &[f32], want: &[f32], tol: f64) {
    assert_eq!(gpu.len(), want.len(), "{what}: length");
    for (i, (&g, &r)) in gpu.iter().zip(want).enumerate() {
        let err = (f64::from(g) - f64::from(r)).abs();
        assert!(
            err <= tol * f64::from(r).abs() + 1e-30,
            "{what}[{i}]: gpu {g:e} vs reference {r:e} (relative error {:.3e})",
            err / f64::from(r).abs()
        );
    }
}

/// A batch whose channel 0 is uniform in [-1, 1) and channel 1 has mean 100 and std ~0.1 (the
/// variance of a naive sum of squares would be all rounding error). Other channels: [-2, 3).
fn batch(rng: &mut Lcg, [n, c, h, w]: [u32; 4]) -> Vec<f32> {
    let hw = (h * w) as usize;
    let mut x = vec![0f32; (n * c) as usize * hw];
    for (plane, chunk) in x.chunks_mut(hw).enumerate() {
        let ch = plane % c as usize;
        for v in chunk {
            *v = match ch {
                0 => rng.range(-1.0, 1.0),
                // Uniform on [-0.17, 0.17): std 0.1.
                1 => 100.0 + rng.range(-0.173_205, 0.173_205),
                _ => rng.range(-2.0, 3.0),
            };
        }
    }
    x
}

// ---- eval mode ----

#[test]
fn batch_norm_eval_with_each_activation() {
    for (i, act) in epilogues().into_iter().enumerate() {
        for &(n, c, h, w) in &[(2u32, 24u32, 5u32, 5u32), (1, 3, 7, 3), (1, 96, 4, 4)] {
            let mut rng = Lcg::new(100 + i as u64);
            let x = rng.vec_in((n * c * h * w) as usize, -3.0, 3.0);
            let mean = rng.vec(c as usize);
            let var = rng.vec_in(c as usize, 0.05, 2.0);
            let gamma = rng.vec_in(c as usize, 0.5, 1.5);
            let beta = rng.vec(c as usize);
            let want =
                batch_norm_reference(&x, [n, c, h, w], &mean, &var, &gamma, &beta, 1e-5, act);
            let k = kernel::batch_norm(n, c, h, w, 1e-5, act, Elem::F32).expect("kernel");
            // Kernel binding order: x, running_mean, running_var, gamma, beta, y.
            let bufs = [
                upload(&x),
                upload(&mean),
                upload(&var),
                upload(&gamma),
                upload(&beta),
                rt().create_buffer(want.len()).expect("buffer"),
            ];
            let refs: Vec<_> = bufs.iter().collect();
            let got = rt()
                .run_and_read(&[Dispatch::new(&k, &refs)], &[&bufs[5]])
                .expect("run");
            assert_close(
                &format!("batch_norm {act:?} {n}x{c}x{h}x{w}"),
                &got[0],
                &want,
            );
        }
    }
}

// ---- training ----

fn check_batch_stats(shape: [u32; 4], seed: u64) {
    let [n, c, h, w] = shape;
    let mut rng = Lcg::new(seed);
    let x = batch(&mut rng, shape);
    let want = train_ref(TrainOp::BatchStats, &[&nchw(n, c, h, w, &x)]);
    // The default (GPU) lanes per chunk, and a CPU driver's SIMD width.
    for lanes in [None, Some(8)] {
        let r = train_kernel::batch_stats_lanes(n, c, h, w, lanes, Elem::F32).expect("kernel");
        let got = run_reduction(&r, &[&upload(&x)], 3 * c as usize);
        assert_each_close(
            &format!("batch_stats {shape:?} lanes {lanes:?}"),
            &got,
            &want,
            1e-5,
        );
    }
}

#[test]
fn batch_stats_small() {
    check_batch_stats([2, 3, 5, 5], 1);
    check_batch_stats([1, 2, 1, 3], 2);
    check_batch_stats([3, 4, 7, 9], 3);
    check_batch_stats([3, 4, 4, 6], 5);
}

/// 133,120 values per channel (> 2^17), one channel with mean 100 and std 0.1.
#[test]
fn batch_stats_long_channels_and_large_mean() {
    check_batch_stats([130, 2, 32, 32], 4);
}

fn check_bn_grad_gamma(shape: [u32; 4], seed: u64) {
    let [n, c, h, w] = shape;
    let mut rng = Lcg::new(seed);
    let x = batch(&mut rng, shape);
    let xt = nchw(n, c, h, w, &x);
    let stats = train_ops::forward(&TrainOp::BatchStats, &[&xt]);
    // dy with a positive bias, so the sums do not cancel to ~0.
    let dy = rng.vec_in(x.len(), -0.5, 1.0);
    let dyt = nchw(n, c, h, w, &dy);
    let eps = 1e-5;
    let want = train_ref(
        TrainOp::BatchNormGradGamma {
            eps,
            act_grad: None,
        },
        &[&xt, &stats, &dyt],
    );
    let r = train_kernel::bn_grad_gamma(n, c, h, w, eps, None, Elem::F32).expect("kernel");
    let got = run_reduction(
        &r,
        &[&upload(&x), &upload(&stats.data), &upload(&dy)],
        c as usize,
    );
    assert_close(&format!("bn_grad_gamma {shape:?}"), &got, &want);
}

/// `bn_grad_params` writes dgamma bit-identical to `bn_grad_gamma` (same sums, same order) and
/// dbeta equal to the reference's bias gradient, with and without a folded activation.
fn check_bn_grad_params(shape: [u32; 4], seed: u64) {
    let [n, c, h, w] = shape;
    let mut rng = Lcg::new(seed);
    let x = batch(&mut rng, shape);
    let xt = nchw(n, c, h, w, &x);
    let stats = train_ops::forward(&TrainOp::BatchStats, &[&xt]);
    let dy = rng.vec_in(x.len(), -0.5, 1.0);
    let y = rng.vec_in(x.len(), -1.0, 1.0);
    let (dyt, yt) = (nchw(n, c, h, w, &dy), nchw(n, c, h, w, &y));
    let eps = 1e-5;
    for act in [None, Some(Activation::RELU)] {
        let act_grad = act;
        let mut grads = vec![&dyt];
        let mut bufs = vec![upload(&x), upload(&stats.data), upload(&dy)];
        if act_grad.is_some() {
            grads.push(&yt);
            bufs.push(upload(&y));
        }
        let gamma_in: Vec<&Tensor> = [&xt, &stats]
            .into_iter()
            .chain(grads.iter().copied())
            .collect();
        let want_gamma = train_ref(TrainOp::BatchNormGradGamma { eps, act_grad }, &gamma_in);
        let want_beta = train_ref(TrainOp::BiasGrad { act_grad }, &grads);

        // dgamma and dbeta from a `bn_grad_params` reduction.
        let run_params = |r: &Reduction| {
            let scratch = buffer(r.scratch_len as usize);
            let (dgamma, dbeta) = (buffer(c as usize), buffer(c as usize));
            let mut first: Vec<&GpuBuffer> = bufs.iter().collect();
            first.push(&scratch);
            rt().run_and_read(
                &[
                    Dispatch::new(&r.partial, &first),
                    Dispatch::new(&r.finish, &[&scratch, &dgamma, &dbeta]),
                ],
                &[&dgamma, &dbeta],
            )
            .expect("run")
        };
        let got = run_params(&train_kernel::bn_grad_params(n, c, h, w, eps, act).expect("kernel"));
        let label = format!("bn_grad_params {act:?} {shape:?}");
        assert_close(&format!("{label} dgamma"), &got[0], &want_gamma);
        assert_close(&format!("{label} dbeta"), &got[1], &want_beta);

        // With a CPU driver's SIMD width per chunk: the same values, summed in another order.
        let r8 = train_kernel::bn_grad_params_lanes(shape, eps, act, Some(8), Elem::F32)
            .expect("kernel");
        let got8 = run_params(&r8);
        assert_close(&format!("{label} lanes 8 dgamma"), &got8[0], &want_gamma);
        assert_close(&format!("{label} lanes 8 dbeta"), &got8[1], &want_beta);

        let alone = train_kernel::bn_grad_gamma(n, c, h, w, eps, act, Elem::F32).expect("kernel");
        let refs: Vec<&GpuBuffer> = bufs.iter().collect();
        let gamma_alone = run_reduction(&alone, &refs, c as usize);
        assert_eq!(
            gamma_alone.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            got[0].iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            "{label}: dgamma differs from bn_grad_gamma's"
        );
    }
}

#[test]
fn bn_grad_params_small_and_long() {
    check_bn_grad_params([2, 3, 5, 5], 12);
    check_bn_grad_params([3, 4, 4, 6], 14);
    check_bn_grad_params([130, 2, 32, 32], 13);
}

/// Batch norm's backward with a fused activation's gradient folded in (`act_grad`): the
/// kernels read `dy` and the activation's output `y` and equal the reference, which equals
/// the unfolded ops fed `activation_grad_from_output(y, dy)`.
#[test]
fn bn_backward_through_a_fused_activation() {
    // Planes of 30 values are read one value per invocation, planes of 24 as vec4s.
    for (i, (act, [n, c, h, w])) in [
        (Some(Activation::RELU), [3u32, 4, 5, 6]),
        (Some(Activation::LEAKY_RELU), [3, 4, 5, 6]),
        (Some(Activation::TANH), [3, 4, 5, 6]),
        (Some(Activation::RELU), [3, 4, 4, 6]),
        (Some(Activation::LEAKY_RELU), [3, 4, 4, 6]),
        (Some(Activation::TANH), [3, 4, 4, 6]),
    ]
    .into_iter()
    .enumerate()
    {
        let a = act;
        let mut rng = Lcg::new(60 + i as u64);
        let x = batch(&mut rng, [n, c, h, w]);
        let xt = nchw(n, c, h, w, &x);
        let stats = train_ops::forward(&TrainOp::BatchStats, &[&xt]);
        let gamma = rng.vec_in(c as usize, 0.5, 1.5);
        let gt = tensor(&[c], &gamma);
        let pre = nchw(n, c, h, w, &rng.vec(x.len()));
        let y = ops::forward(&Op::Activation(a.expect("an activation")), &[&pre]);
        let dy = rng.vec(x.len());
        let dyt = nchw(n, c, h, w, &dy);
        let g = train_ops::forward(&TrainOp::ActivationGradFromOutput(a.unwrap()), &[&y, &dyt]);

        let dbeta = train_ref(TrainOp::BiasGrad { act_grad: a }, &[&dyt, &y]);
        assert_eq!(
            dbeta,
            train_ref(TrainOp::BiasGrad { act_grad: None }, &[&g])
        );
        let gamma_op = TrainOp::BatchNormGradGamma {
            eps: 1e-5,
            act_grad: a,
        };
        let dgamma = train_ref(gamma_op, &[&xt, &stats, &dyt, &y]);
        let (dgt, dbt) = (tensor(&[c], &dgamma), tensor(&[c], &dbeta));
        let input_op = TrainOp::BatchNormGradInput {
            eps: 1e-5,
            act_grad: a,
            accumulate: false,
        };
        let dx = train_ref(input_op, &[&xt, &stats, &gt, &dyt, &dgt, &dbt, &y]);
        let plain = TrainOp::BatchNormGradInput {
            eps: 1e-5,
            act_grad: None,
            accumulate: false,
        };
        assert_eq!(dx, train_ref(plain, &[&xt, &stats, &gt, &g, &dgt, &dbt]));

        let (xb, sb, dyb, yb) = (
            upload(&x),
            upload(&stats.data),
            upload(&dy),
            upload(&y.data),
        );
        let r = reduce::bias_grad(n, c, h * w, act).expect("kernel");
        let got = run_reduction(&r, &[&dyb, &yb], c as usize);
        assert_close(&format!("bias_grad through {act:?} {h}x{w}"), &got, &dbeta);
        let r = train_kernel::bn_grad_gamma(n, c, h, w, 1e-5, act, Elem::F32).expect("kernel");
        let got = run_reduction(&r, &[&xb, &sb, &dyb, &yb], c as usize);
        assert_close(
            &format!("bn_grad_gamma through {act:?} {h}x{w}"),
            &got,
            &dgamma,
        );
        let k =
            train_kernel::bn_grad_input(n, c, h, w, 1e-5, act, false, Elem::F32).expect("kernel");
        let got = run_kernel(
            &k,
            &[&x, &stats.data, &gamma, &dy, &dgamma, &dbeta, &y.data],
            x.len(),
        );
        assert_close(&format!("bn_grad_input through {act:?} {h}x{w}"), &got, &dx);

        // With a gradient accumulation folded in (`accumulate`): dx + addend, exactly.
        let addend = Lcg::new(77).vec(x.len());
        let accumulating = TrainOp::BatchNormGradInput {
            eps: 1e-5,
            act_grad: a,
            accumulate: true,
        };
        let addt = nchw(n, c, h, w, &addend);
        let want = train_ref(
            accumulating,
            &[&xt, &stats, &gt, &dyt, &dgt, &dbt, &y, &addt],
        );
        let sum: Vec<f32> = dx.iter().zip(&addend).map(|(d, a)| d + a).collect();
        assert_eq!(
            want, sum,
            "the reference adds the accumulation after rounding dx"
        );
        let k =
            train_kernel::bn_grad_input(n, c, h, w, 1e-5, act, true, Elem::F32).expect("kernel");
        let got = run_kernel(
            &k,
            &[
                &x,
                &stats.data,
                &gamma,
                &dy,
                &dgamma,
                &dbeta,
                &y.data,
                &addend,
            ],
            x.len(),
        );
        assert_close(
            &format!("bn_grad_input accumulating through {act:?} {h}x{w}"),
            &got,
            &want,
        );
        let k =
            train_kernel::bn_grad_input(n, c, h, w, 1e-5, None, true, Elem::F32).expect("kernel");
        let got = run_kernel(
            &k,
            &[&x, &stats.data, &gamma, &g.data, &dgamma, &dbeta, &addend],
            x.len(),
        );
        assert_close(&format!("bn_grad_input accumulating {h}x{w}"), &got, &want);
    }
    assert!(
        train_kernel::bn_grad_input(1, 1, 1, 1, 1e-5, Some(Activation::GELU), false, Elem::F32)
            .is_err()
    );
}

#[test]
fn bn_grad_gamma_small_and_long() {
    check_bn_grad_gamma([2, 3, 5, 5], 10);
    check_bn_grad_gamma([130, 2, 32, 32], 11);
}

#[test]
fn batch_norm_train_forward_and_grad_input() {
    // Planes of 24 and 4 values are read as vec4s, the others one value per invocation.
    for (i, shape) in [
        [2u32, 3, 5, 5],
        [4, 6, 3, 7],
        [1, 2, 1, 1],
        [2, 3, 4, 6],
        [3, 2, 2, 2],
    ]
    .into_iter()
    .enumerate()
    {
        let [n, c, h, w] = shape;
        let mut rng = Lcg::new(20 + i as u64);
        let x = batch(&mut rng, shape);
        let xt = nchw(n, c, h, w, &x);
        let stats = train_ops::forward(&TrainOp::BatchStats, &[&xt]);
        let gamma = rng.vec_in(c as usize, 0.5, 1.5);
        let beta = rng.vec(c as usize);
        let (gt, bt) = (tensor(&[c], &gamma), tensor(&[c], &beta));
        let eps = 1e-5;

        // Plain, and with each activation the fusion pass may fold in.
        for act in epilogues() {
            let op = TrainOp::BatchNormTrain { eps, act };
            let want = train_ref(op, &[&xt, &stats, &gt, &bt]);
            let k =
                train_kernel::batch_norm_train(n, c, h, w, eps, act, Elem::F32).expect("kernel");
            let got = run_kernel(&k, &[&x, &stats.data, &gamma, &beta], x.len());
            assert_close(&format!("batch_norm_train {act:?} {shape:?}"), &got, &want);
        }

        let dy = rng.vec(x.len());
        let dyt = nchw(n, c, h, w, &dy);
        let dgamma = train_ref(
            TrainOp::BatchNormGradGamma {
                eps,
                act_grad: None,
            },
            &[&xt, &stats, &dyt],
        );
        let dbeta = train_ref(TrainOp::BiasGrad { act_grad: None }, &[&dyt]);
        let want = train_ref(
            TrainOp::BatchNormGradInput {
                eps,
                act_grad: None,
                accumulate: false,
            },
            &[
                &xt,
                &stats,
                &gt,
                &dyt,
                &tensor(&[c], &dgamma),
                &tensor(&[c], &dbeta),
            ],
        );
        let k =
            train_kernel::bn_grad_input(n, c, h, w, eps, None, false, Elem::F32).expect("kernel");
        let got = run_kernel(
            &k,
            &[&x, &stats.data, &gamma, &dy, &dgamma, &dbeta],
            x.len(),
        );
        if n * h * w > 1 {
            assert_close(&format!("bn_grad_input {shape:?}"), &got, &want);
        }
    }
}

#[test]
fn running_update_each_row() {
    let c = 37u32;
    let mut rng = Lcg::new(30);
    let running = rng.vec(c as usize);
    let stats = rng.vec_in(3 * c as usize, 0.0, 2.0);
    for row in 0..3u32 {
        let op = TrainOp::RunningUpdate {
            momentum: 0.1,
            row: row as usize,
        };
        let want = train_ref(op, &[&tensor(&[c], &running), &tensor(&[3, c], &stats)]);
        let k = train_kernel::running_update(c, 0.1, row).expect("kernel");
        let got = run_kernel(&k, &[&running, &stats], c as usize);
        assert_close(&format!("running_update row {row}"), &got, &want);
    }
}

// ---- in a training graph against finite differences ----

#[test]
fn smooth_bn_concat() {
    check(
        "model M() { input x: [3, 4, 4]\n y = x |> bn |> tanh |> conv(2, k = 1, bias = false)\n z = concat(y, x)\n return z |> bn as bn2 |> tanh |> global_avg_pool |> flatten |> linear(3) }",
    );
}

#[test]
fn smooth_bn_twice_on_one_input() {
    check(
        "model M() { input x: [3, 4, 4]\n a = x |> conv(3, k = 1) \n y = a |> bn |> tanh\n z = a |> bn as bn2 |> tanh\n return (y + z) |> global_avg_pool |> flatten |> linear(3) }",
    );
}
