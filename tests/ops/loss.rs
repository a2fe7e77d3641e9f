//! The loss family (`src/ops/loss/`): softmax, the mean softmax cross-entropy, its gradient and
//! the count of correct predictions, each on the GPU against the CPU reference
//! (`netc::ops::loss::reference`, through `reference::ops` / `reference::train_ops`):
//!
//! * softmax over rows from 1 to 1,000 long;
//! * the loss and its gradient from one row to 2,048 (the batch sum's strided shares) and
//!   1,000 classes;
//! * the count of correct predictions on logits full of ties (the first maximum wins, as
//!   `torch.argmax`), exact.
//!
//! There is no skipping: without a GPU adapter these tests fail and say how to get one.

use super::harness::run_kernel;
use crate::gpu_common::{
    Lcg, assert_close, normalised_error, rt, softmax_reference, tensor,
    train_reference as train_ref, upload,
};
use netc::codegen::kernels::Elem;
use netc::ir::Op;
use netc::ir::train_ops::TrainOp;
use netc::ops::loss::{kernel, train_kernel};
use netc::reference::ops;
use netc::runtime::Dispatch;

fn assert_close_tol(what: &str, gpu: &[f32], want: &[f32], tol: f64) {
    let err = normalised_error(gpu, want);
    assert!(err <= tol, "{what}: normalised error {err:.3e} > {tol:e}");
}

// ---- softmax ----

#[test]
fn softmax_rows() {
    for &(rows, len, seed) in &[
        (4usize, 10usize, 420u64),
        (3, 1000, 421),
        (1, 1, 422),
        (70, 33, 423),
    ] {
        let mut rng = Lcg::new(seed);
        let x = rng.vec_in(rows * len, -20.0, 20.0);
        let want = softmax_reference(&x, len);
        let k = kernel::softmax(rows as u32, len as u32, Elem::F32).expect("kernel");
        let (xb, yb) = (upload(&x), rt().create_buffer(want.len()).expect("buffer"));
        let got = rt()
            .run_and_read(&[Dispatch::new(&k, &[&xb, &yb])], &[&yb])
            .expect("run");
        assert_close(&format!("softmax {rows}x{len}"), &got[0], &want);
    }
}

// ---- the loss ----

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

        let want = ops::forward(&Op::SoftmaxCrossEntropy, &[&lt, &yt]).data;
        let got = run_kernel(
            &train_kernel::softmax_cross_entropy(n, k, Elem::F32).expect("kernel"),
            &[&logits, &labels],
            1,
        );
        assert_close_tol(&format!("loss {n}x{k}"), &got, &want, 1e-4);

        let want = train_ref(TrainOp::SoftmaxCrossEntropyGrad, &[&lt, &yt]);
        let kernel =
            train_kernel::softmax_cross_entropy_grad(n, k, Elem::F32, false).expect("kernel");
        let got = run_kernel(&kernel, &[&logits, &labels], want.len());
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
        let kernel = train_kernel::correct_count(n, k, Elem::F32).expect("kernel");
        let got = run_kernel(&kernel, &[&logits, &labels], 1);
        assert_eq!(got, want, "correct_count {n}x{k}");
    }
}
