//! Every training kernel outside the op families (`netc::codegen::kernels::train::{pointwise_grad,
//! loss}`; the pooling gradients' are in `tests/ops/pool.rs`, batch norm's in `tests/ops/norm.rs`,
//! the optimizers' in `tests/ops/optim.rs`) on the GPU against netc's CPU oracle,
//! `netc::reference::train_ops::forward` (and `reference::ops` for the loss), plus a
//! device-free naga validation sweep over many shapes, the families' kernels included.
//!
//! There is no skipping: without a GPU adapter these tests fail and say how to get one.

use crate::gpu_common::{Lcg, assert_close, normalised_error, rt, tensor, upload};
use netc::codegen::kernels::Elem;
use netc::codegen::kernels::train::{loss, pointwise_grad};
use netc::codegen::kernels::{BindingKind, KernelSource, MAX_WORKGROUPS_PER_DIM, validate_wgsl};
use netc::ir::Op;
use netc::ir::train_ops::TrainOp;
use netc::ops::activation::{self, Activation};
use netc::ops::norm::train_kernel as norm_train;
use netc::ops::optim::kernel as optim;
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

fn assert_close_tol(what: &str, gpu: &[f32], want: &[f32], tol: f64) {
    let err = normalised_error(gpu, want);
    assert!(err <= tol, "{what}: normalised error {err:.3e} > {tol:e}");
}

fn nchw(n: u32, c: u32, h: u32, w: u32, data: &[f32]) -> Tensor {
    tensor(&[n, c, h, w], data)
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
        out.push(pointwise_grad::channel_slice(n, c + 3, h * w, 2, c, Elem::F32).expect("slice"));
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
    assert!(pointwise_grad::channel_slice(1, 8, 4, 6, 3, Elem::F32).is_err());
    assert!(pointwise_grad::channel_slice(1, 8, 4, u32::MAX, 3, Elem::F32).is_err());
    assert!(activation::kernel::activation_grad(0, Activation::RELU, Elem::F32).is_err());
    assert!(pool_grad::max_pool2d_grad(&Pool2dParams::new(1, 1, (8, 8), 2, 2, 2)).is_err());
    assert!(pool_grad::avg_pool2d_grad(&Pool2dParams::new(1, 1, (u32::MAX, 8), 3, 1, 1)).is_err());
    assert!(loss::softmax_cross_entropy(0, 10, Elem::F32).is_err());
    // 20,000 classes: 40,000 loop iterations per row, above the budget.
    assert!(loss::softmax_cross_entropy(1, 20_000, Elem::F32).is_err());
    assert!(optim::adam_step(4, 1.0, 0.999, 1e-8, 0.0).is_err());
    assert!(optim::sgd_buffer(4, f32::NAN, 0.0).is_err());
}

// ---- pointwise ----

fn op_slice(offset: u32, channels: u32) -> TrainOp {
    TrainOp::ChannelSlice {
        offset: offset as usize,
        channels: channels as usize,
    }
}

#[test]
fn channel_slice() {
    let mut rng = Lcg::new(50);
    let (n, c, h, w) = (3u32, 7u32, 4u32, 5u32);
    let x = rng.vec((n * c * h * w) as usize);
    let xt = nchw(n, c, h, w, &x);
    for (offset, channels) in [(0u32, 7u32), (2, 3), (6, 1)] {
        let want = train_ref(op_slice(offset, channels), &[&xt]);
        let k = pointwise_grad::channel_slice(n, c, h * w, offset, channels, Elem::F32)
            .expect("kernel");
        let got = run1(&k, &[&upload(&x)], want.len());
        assert_eq!(got, want, "channel_slice {offset}+{channels} is a copy");
        // The same channels of planes of 4 x 4, copied as vec4s.
        let x16 = rng.vec((n * c * 16) as usize);
        let want = train_ref(op_slice(offset, channels), &[&nchw(n, c, 4, 4, &x16)]);
        let k =
            pointwise_grad::channel_slice(n, c, 16, offset, channels, Elem::F32).expect("kernel");
        let got = run1(&k, &[&upload(&x16)], want.len());
        assert_eq!(
            got, want,
            "channel_slice {offset}+{channels} of 4x4 planes is a copy"
        );
    }
}

// ---- loss ----

fn logits_and_labels(rng: &mut Lcg, n: u32, k: u32) -> (Vec<f32>, Vec<f32>) {
    let logits = rng.vec_in((n * k) as usize, -6.0, 6.0);
    let labels = (0..n)
        .map(|_| (rng.unit() * k as f32).floor().min(k as f32 - 1.0))
        .collect();
    (logits, labels)
}

#[test]
fn cross_entropy_loss_and_grad() {
    for (i, (n, k)) in [(1u32, 10u32), (37, 3), (128, 10), (2048, 10), (5, 1000)]
        .into_iter()
        .enumerate()
    {
        let mut rng = Lcg::new(100 + i as u64);
        let (logits, labels) = logits_and_labels(&mut rng, n, k);
        let (lt, yt) = (tensor(&[n, k], &logits), tensor(&[n], &labels));
        let (lb, yb) = (upload(&logits), upload(&labels));

        let want = ops::forward(&Op::SoftmaxCrossEntropy, &[&lt, &yt]).data;
        let got = run1(
            &loss::softmax_cross_entropy(n, k, Elem::F32).expect("kernel"),
            &[&lb, &yb],
            1,
        );
        assert_close_tol(&format!("loss {n}x{k}"), &got, &want, 1e-4);

        let want = train_ref(TrainOp::SoftmaxCrossEntropyGrad, &[&lt, &yt]);
        let kernel = loss::softmax_cross_entropy_grad(n, k, Elem::F32, false).expect("kernel");
        let got = run1(&kernel, &[&lb, &yb], want.len());
        assert_close(&format!("dlogits {n}x{k}"), &got, &want);
    }
}

#[test]
fn correct_count_with_ties() {
    for (i, (n, k)) in [(1u32, 10u32), (37, 3), (2048, 10)].into_iter().enumerate() {
        let mut rng = Lcg::new(110 + i as u64);
        // Logits from {0, 1, 2}: many rows have tied maxima.
        let logits: Vec<f32> = (0..n * k).map(|_| (rng.unit() * 3.0).floor()).collect();
        let labels: Vec<f32> = (0..n)
            .map(|_| (rng.unit() * k as f32).floor().min(k as f32 - 1.0))
            .collect();
        let want = train_ref(
            TrainOp::CorrectCount,
            &[&tensor(&[n, k], &logits), &tensor(&[n], &labels)],
        );
        let kernel = loss::correct_count(n, k, Elem::F32).expect("kernel");
        let got = run1(&kernel, &[&upload(&logits), &upload(&labels)], 1);
        assert_eq!(got, want, "correct_count {n}x{k}");
    }
}
