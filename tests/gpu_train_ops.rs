//! Every training kernel (`netc::codegen::kernels::train::{norm_train, optim}`; the pooling
//! gradients' are in `tests/ops/pool.rs`, the channel slice's in `tests/ops/elementwise.rs`, the
//! loss's in `tests/ops/loss.rs`) on the GPU against netc's CPU oracle,
//! `netc::reference::train_ops::forward`, plus a device-free naga validation sweep over many
//! shapes (every family's training kernels).
//!
//! The reductions run as their two dispatches in one submission. The batch statistics and
//! dgamma are checked on 133,120 values per channel (above 2^17, where a single-invocation loop
//! would be silently cut short by lavapipe's 65,535-iteration cap) and on a channel with mean 100
//! and std 0.1 (where a naive sum-of-squares variance loses every digit).
//!
//! There is no skipping: without a GPU adapter these tests fail and say how to get one.

use crate::gpu_common::{Lcg, assert_close, epilogues, rt, tensor, upload};
use netc::codegen::kernels::Elem;
use netc::codegen::kernels::train::{norm_train, optim, reduce};
use netc::codegen::kernels::{
    BindingKind, KernelSource, MAX_WORKGROUPS_PER_DIM, Reduction, validate_wgsl,
};
use netc::ir::Op;
use netc::ir::train_ops::TrainOp;
use netc::ops::activation::{self, Activation};
use netc::ops::elementwise::grad_kernel as slice;
use netc::ops::loss::train_kernel as loss;
use netc::ops::pool::{Pool2dParams, grad_kernel as pool_grad};
use netc::reference::{ops, train_ops};
use netc::runtime::{Dispatch, GpuBuffer};
use netc::tensor::Tensor;

// ---- helpers ----

fn train_ref(op: TrainOp, xs: &[&Tensor]) -> Vec<f32> {
    train_ops::forward(&op, xs).data
}

fn buffer(len: usize) -> GpuBuffer {
    rt().create_buffer(len).expect("buffer")
}

/// Runs one kernel over `inputs` into a fresh output of `out_len` and reads it back.
fn run1(k: &KernelSource, inputs: &[&GpuBuffer], out_len: usize) -> Vec<f32> {
    let out = buffer(out_len);
    let mut bufs = inputs.to_vec();
    bufs.push(&out);
    assert_eq!(bufs.len(), k.bindings.len(), "{}: binding count", k.name);
    rt().run_and_read(&[Dispatch::new(k, &bufs)], &[&out])
        .expect("run")
        .remove(0)
}

/// Runs a reduction's two dispatches in one submission and reads the output.
fn run_reduction(r: &Reduction, inputs: &[&GpuBuffer], out_len: usize) -> Vec<f32> {
    let scratch = buffer(r.scratch_len as usize);
    let out = buffer(out_len);
    let mut first = inputs.to_vec();
    first.push(&scratch);
    assert_eq!(first.len(), r.partial.bindings.len(), "{}", r.partial.name);
    rt().run_and_read(
        &[
            Dispatch::new(&r.partial, &first),
            Dispatch::new(&r.finish, &[&scratch, &out]),
        ],
        &[&out],
    )
    .expect("run")
    .remove(0)
}

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

fn nchw(n: u32, c: u32, h: u32, w: u32, data: &[f32]) -> Tensor {
    tensor(&[n, c, h, w], data)
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

// ---- device-free: naga validation over many shapes ----

fn all_train_kernels() -> Vec<KernelSource> {
    let mut out = Vec::new();
    let shapes = [
        [1u32, 1, 1, 1],
        [2, 3, 5, 5],
        [128, 64, 32, 32],
        [130, 2, 32, 32],
        [1, 184, 4, 4],
        [7, 5, 3, 11],
        [2048, 1, 1, 1],
    ];
    for [n, c, h, w] in shapes {
        for r in [
            norm_train::batch_stats(n, c, h, w).expect("stats"),
            norm_train::bn_grad_gamma(n, c, h, w, 1e-5, None, Elem::F32).expect("dgamma"),
        ] {
            out.push(r.partial);
            out.push(r.finish);
        }
        out.push(norm_train::batch_norm_train(n, c, h, w, 1e-5, None, Elem::F32).expect("bn"));
        out.push(norm_train::bn_grad_input(n, c, h, w, 1e-3, None, false, Elem::F32).expect("dx"));
        out.push(pool_grad::global_avg_pool_grad(n, c, h, w, Elem::F32).expect("gap"));
        out.push(slice::channel_slice(n, c + 3, h * w, 2, c, Elem::F32).expect("slice"));
        for row in 0..3 {
            out.push(norm_train::running_update(c, 0.1, row).expect("running"));
        }
    }
    for act in Activation::all() {
        for len in [1u64, 1000, 128 * 64 * 32 * 32] {
            out.push(activation::kernel::activation_grad(len, act, Elem::F32).expect("act"));
        }
    }
    for (k, s, p) in [
        (3, 1, 1),
        (3, 2, 1),
        (2, 2, 0),
        (5, 1, 2),
        (1, 1, 0),
        (3, 3, 0),
    ] {
        for (n, c, hw) in [(1, 1, 5), (2, 24, 9), (128, 64, 32)] {
            let params = Pool2dParams::new(n, c, (hw, hw), k, s, p);
            let max = pool_grad::max_pool2d_grad(&params).expect("max");
            out.push(max.argmax);
            out.push(max.gather);
            out.push(pool_grad::avg_pool2d_grad(&params).expect("avg"));
        }
    }
    for (n, k) in [(1, 1), (1, 10), (128, 10), (2048, 10), (256, 1000), (37, 3)] {
        out.push(loss::softmax_cross_entropy(n, k, Elem::F32).expect("loss"));
        out.push(loss::softmax_cross_entropy_grad(n, k, Elem::F32, false).expect("dloss"));
        out.push(loss::correct_count(n, k, Elem::F32).expect("count"));
    }
    for len in [1u64, 1000, 23_000_000] {
        out.push(optim::sgd_buffer(len, 0.9, 5e-4).expect("buf"));
        for nesterov in [false, true] {
            out.push(optim::sgd_step(len, 0.9, 5e-4, nesterov).expect("sgd"));
        }
        for square in [false, true] {
            out.push(optim::adam_moment(len, 0.999, square, 0.01).expect("moment"));
        }
        out.push(optim::adam_step(len, 0.9, 0.999, 1e-8, 0.01).expect("adam"));
        out.push(optim::adam_step(len, 0.3, 0.4, 1e-8, 0.0).expect("adam"));
    }
    out
}

#[test]
fn every_train_kernel_validates_with_naga() {
    let kernels = all_train_kernels();
    assert!(kernels.len() > 150, "grid shrank: {}", kernels.len());
    for k in &kernels {
        if let Err(e) = validate_wgsl(&k.wgsl) {
            panic!("kernel `{}` is invalid WGSL:\n{e}", k.name);
        }
        assert!(k.bindings.len() <= 8, "{}: more than 8 bindings", k.name);
        for i in 0..k.bindings.len() {
            assert!(k.wgsl.contains(&format!("@binding({i})")), "{}", k.name);
        }
        assert!(!k.wgsl.contains(&format!("@binding({})", k.bindings.len())));
        assert_eq!(
            k.bindings.last(),
            Some(&BindingKind::ReadWrite),
            "{}",
            k.name
        );
        assert_eq!(k.wgsl.matches("read_write>").count(), 1, "{}", k.name);
        assert!(
            k.workgroups
                .iter()
                .all(|&n| (1..=MAX_WORKGROUPS_PER_DIM).contains(&n)),
            "{}: {:?}",
            k.name,
            k.workgroups
        );
        assert!(k.invocations_per_workgroup() <= 256, "{}", k.name);
        assert!(k.wgsl.starts_with("//!"), "{}", k.name);
    }
}

#[test]
fn bad_parameters_are_errors() {
    assert!(norm_train::batch_stats(0, 1, 1, 1).is_err());
    assert!(norm_train::batch_stats(u32::MAX, u32::MAX, 2, 2).is_err());
    assert!(norm_train::running_update(3, 0.1, 3).is_err());
    assert!(norm_train::bn_grad_input(1, 1, 1, 1, f32::INFINITY, None, false, Elem::F32).is_err());
    assert!(slice::channel_slice(1, 8, 4, 6, 3, Elem::F32).is_err());
    assert!(slice::channel_slice(1, 8, 4, u32::MAX, 3, Elem::F32).is_err());
    assert!(activation::kernel::activation_grad(0, Activation::RELU, Elem::F32).is_err());
    assert!(pool_grad::max_pool2d_grad(&Pool2dParams::new(1, 1, (8, 8), 2, 2, 2)).is_err());
    assert!(pool_grad::avg_pool2d_grad(&Pool2dParams::new(1, 1, (u32::MAX, 8), 3, 1, 1)).is_err());
    assert!(loss::softmax_cross_entropy(0, 10, Elem::F32).is_err());
    // 20,000 classes: 40,000 loop iterations per row, above the budget.
    assert!(loss::softmax_cross_entropy(1, 20_000, Elem::F32).is_err());
    assert!(optim::adam_step(4, 1.0, 0.999, 1e-8, 0.0).is_err());
    assert!(optim::sgd_buffer(4, f32::NAN, 0.0).is_err());
}

// ---- batch norm ----

fn check_batch_stats(shape: [u32; 4], seed: u64) {
    let [n, c, h, w] = shape;
    let mut rng = Lcg::new(seed);
    let x = batch(&mut rng, shape);
    let want = train_ref(TrainOp::BatchStats, &[&nchw(n, c, h, w, &x)]);
    // The default (GPU) lanes per chunk, and a CPU driver's SIMD width.
    for lanes in [None, Some(8)] {
        let r = norm_train::batch_stats_lanes(n, c, h, w, lanes, Elem::F32).expect("kernel");
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
    let r = norm_train::bn_grad_gamma(n, c, h, w, eps, None, Elem::F32).expect("kernel");
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
        let got = run_params(&norm_train::bn_grad_params(n, c, h, w, eps, act).expect("kernel"));
        let label = format!("bn_grad_params {act:?} {shape:?}");
        assert_close(&format!("{label} dgamma"), &got[0], &want_gamma);
        assert_close(&format!("{label} dbeta"), &got[1], &want_beta);

        // With a CPU driver's SIMD width per chunk: the same values, summed in another order.
        let r8 =
            norm_train::bn_grad_params_lanes(shape, eps, act, Some(8), Elem::F32).expect("kernel");
        let got8 = run_params(&r8);
        assert_close(&format!("{label} lanes 8 dgamma"), &got8[0], &want_gamma);
        assert_close(&format!("{label} lanes 8 dbeta"), &got8[1], &want_beta);

        let alone = norm_train::bn_grad_gamma(n, c, h, w, eps, act, Elem::F32).expect("kernel");
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
        let r = norm_train::bn_grad_gamma(n, c, h, w, 1e-5, act, Elem::F32).expect("kernel");
        let got = run_reduction(&r, &[&xb, &sb, &dyb, &yb], c as usize);
        assert_close(
            &format!("bn_grad_gamma through {act:?} {h}x{w}"),
            &got,
            &dgamma,
        );
        let (gb, dgb, dbb) = (upload(&gamma), upload(&dgamma), upload(&dbeta));
        let k = norm_train::bn_grad_input(n, c, h, w, 1e-5, act, false, Elem::F32).expect("kernel");
        let got = run1(&k, &[&xb, &sb, &gb, &dyb, &dgb, &dbb, &yb], x.len());
        assert_close(&format!("bn_grad_input through {act:?} {h}x{w}"), &got, &dx);

        // With a gradient accumulation folded in (`accumulate`): dx + addend, exactly.
        let addend = Lcg::new(77).vec(x.len());
        let accumulating = TrainOp::BatchNormGradInput {
            eps: 1e-5,
            act_grad: a,
            accumulate: true,
        };
        let (addt, addb) = (nchw(n, c, h, w, &addend), upload(&addend));
        let want = train_ref(
            accumulating,
            &[&xt, &stats, &gt, &dyt, &dgt, &dbt, &y, &addt],
        );
        let sum: Vec<f32> = dx.iter().zip(&addend).map(|(d, a)| d + a).collect();
        assert_eq!(
            want, sum,
            "the reference adds the accumulation after rounding dx"
        );
        let k = norm_train::bn_grad_input(n, c, h, w, 1e-5, act, true, Elem::F32).expect("kernel");
        let got = run1(&k, &[&xb, &sb, &gb, &dyb, &dgb, &dbb, &yb, &addb], x.len());
        assert_close(
            &format!("bn_grad_input accumulating through {act:?} {h}x{w}"),
            &got,
            &want,
        );
        let gb_plain = upload(&g.data);
        let k = norm_train::bn_grad_input(n, c, h, w, 1e-5, None, true, Elem::F32).expect("kernel");
        let got = run1(&k, &[&xb, &sb, &gb, &gb_plain, &dgb, &dbb, &addb], x.len());
        assert_close(&format!("bn_grad_input accumulating {h}x{w}"), &got, &want);
    }
    assert!(
        norm_train::bn_grad_input(1, 1, 1, 1, 1e-5, Some(Activation::GELU), false, Elem::F32)
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

        let (xb, sb) = (upload(&x), upload(&stats.data));
        // Plain, and with each activation the fusion pass may fold in.
        for act in epilogues() {
            let op = TrainOp::BatchNormTrain { eps, act };
            let want = train_ref(op, &[&xt, &stats, &gt, &bt]);
            let k = norm_train::batch_norm_train(n, c, h, w, eps, act, Elem::F32).expect("kernel");
            let got = run1(&k, &[&xb, &sb, &upload(&gamma), &upload(&beta)], x.len());
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
        let k = norm_train::bn_grad_input(n, c, h, w, eps, None, false, Elem::F32).expect("kernel");
        let got = run1(
            &k,
            &[
                &xb,
                &sb,
                &upload(&gamma),
                &upload(&dy),
                &upload(&dgamma),
                &upload(&dbeta),
            ],
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
        let k = norm_train::running_update(c, 0.1, row).expect("kernel");
        let got = run1(&k, &[&upload(&running), &upload(&stats)], c as usize);
        assert_close(&format!("running_update row {row}"), &got, &want);
    }
}

// ---- optimizers ----

/// SGD with momentum (plain and Nesterov, with weight decay) for four steps, the GPU carrying
/// its own state; every step's buffer and parameters against the reference's.
#[test]
fn sgd_steps() {
    let len = 1000usize;
    let (momentum, weight_decay, lr) = (0.9f32, 5e-4f32, 0.05f32);
    for nesterov in [false, true] {
        let mut rng = Lcg::new(120 + u64::from(nesterov));
        let mut p = rng.vec(len);
        let mut buf = vec![0f32; len];
        let (mut gp, mut gbuf) = (upload(&p), upload(&buf));
        let lr_b = upload(&[lr]);
        let kb = optim::sgd_buffer(len as u64, momentum, weight_decay).expect("kernel");
        let ks = optim::sgd_step(len as u64, momentum, weight_decay, nesterov).expect("kernel");
        for step in 0..4 {
            let g = rng.vec(len);
            let t = |v: &[f32]| tensor(&[len as u32], v);
            buf = train_ref(
                TrainOp::SgdBuffer {
                    momentum,
                    weight_decay,
                },
                &[&t(&p), &t(&g), &t(&buf)],
            );
            p = train_ref(
                TrainOp::SgdStep {
                    momentum,
                    weight_decay,
                    nesterov,
                },
                &[&t(&p), &t(&g), &t(&buf), &tensor(&[], &[lr])],
            );
            let gb = upload(&g);
            let (new_buf, new_p) = (buffer(len), buffer(len));
            let got = rt()
                .run_and_read(
                    &[
                        Dispatch::new(&kb, &[&gp, &gb, &gbuf, &new_buf]),
                        Dispatch::new(&ks, &[&gp, &gb, &new_buf, &lr_b, &new_p]),
                    ],
                    &[&new_buf, &new_p],
                )
                .expect("run");
            assert_close(
                &format!("sgd buf nesterov={nesterov} step {step}"),
                &got[0],
                &buf,
            );
            assert_close(
                &format!("sgd param nesterov={nesterov} step {step}"),
                &got[1],
                &p,
            );
            (gp, gbuf) = (new_p, new_buf);
        }
    }
}

/// Adam (coupled L2) and AdamW (decoupled decay) for four steps from t = 1, the GPU carrying
/// its own state. Besides the parameters, each step's update (new minus old parameters) is
/// compared, which exposes an inaccurate bias correction (1 - 0.999^t) that the parameters
/// alone would hide.
#[test]
fn adam_steps() {
    let len = 1000usize;
    let (beta1, beta2, eps, lr) = (0.9f32, 0.999f32, 1e-8f32, 0.05f32);
    for (l2, wd) in [(0.01f32, 0.0f32), (0.0, 0.01)] {
        let mut rng = Lcg::new(130 + u64::from(wd > 0.0));
        let mut p = rng.vec(len);
        let (mut m, mut v) = (vec![0f32; len], vec![0f32; len]);
        let (mut gp, mut gm, mut gv) = (upload(&p), upload(&m), upload(&v));
        let lr_b = upload(&[lr]);
        let km = optim::adam_moment(len as u64, beta1, false, l2).expect("kernel");
        let kv = optim::adam_moment(len as u64, beta2, true, l2).expect("kernel");
        let ks = optim::adam_step(len as u64, beta1, beta2, eps, wd).expect("kernel");
        for t in 1..=4 {
            let g = rng.vec(len);
            let ten = |x: &[f32]| tensor(&[len as u32], x);
            m = train_ref(
                TrainOp::AdamMoment {
                    beta: beta1,
                    square: false,
                    l2,
                },
                &[&ten(&m), &ten(&g), &ten(&p)],
            );
            v = train_ref(
                TrainOp::AdamMoment {
                    beta: beta2,
                    square: true,
                    l2,
                },
                &[&ten(&v), &ten(&g), &ten(&p)],
            );
            let new_p = train_ref(
                TrainOp::AdamStep {
                    beta1,
                    beta2,
                    eps,
                    decoupled_wd: wd,
                },
                &[
                    &ten(&p),
                    &ten(&m),
                    &ten(&v),
                    &tensor(&[], &[lr]),
                    &tensor(&[], &[t as f32]),
                ],
            );
            let (gb, step_b) = (upload(&g), upload(&[t as f32]));
            let (nm, nv, np) = (buffer(len), buffer(len), buffer(len));
            let got = rt()
                .run_and_read(
                    &[
                        Dispatch::new(&km, &[&gm, &gb, &gp, &nm]),
                        Dispatch::new(&kv, &[&gv, &gb, &gp, &nv]),
                        Dispatch::new(&ks, &[&gp, &nm, &nv, &lr_b, &step_b, &np]),
                    ],
                    &[&gp, &nm, &nv, &np],
                )
                .expect("run");
            let what = format!("adam l2={l2} wd={wd} t={t}");
            assert_close(&format!("{what} m"), &got[1], &m);
            assert_close(&format!("{what} v"), &got[2], &v);
            assert_close(&format!("{what} param"), &got[3], &new_p);
            let delta = |a: &[f32], b: &[f32]| -> Vec<f32> {
                a.iter().zip(b).map(|(x, y)| x - y).collect()
            };
            assert_close(
                &format!("{what} update"),
                &delta(&got[3], &got[0]),
                &delta(&new_p, &p),
            );
            p = new_p;
            (gp, gm, gv) = (np, nm, nv);
        }
    }
}
