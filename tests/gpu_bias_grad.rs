//! The bias gradient (`TrainOp::BiasGrad`, conv's and linear's, `codegen::kernels::train::reduce`)
//! on the GPU against netc's CPU reference (`netc::reference::train_ops::forward`), with a
//! reduction longer than 2^17 terms that proves the split under lavapipe's silent
//! 65,535-iteration loop cap. Reductions run as their two dispatches in one submission. Outputs
//! and scratch buffers start as NaN, so an element a kernel forgets to write fails the
//! comparison. The conv and linear gradients are tested with their families in `tests/ops/`.
//!
//! There is no skipping: without a GPU adapter these tests fail and say how to get one.

use crate::gpu_common::{
    Lcg, assert_close, run_reduction, tensor, train_reference as reference, upload,
};
use netc::codegen::kernels::Elem;
use netc::codegen::kernels::train::reduce;
use netc::ir::TrainOp;

#[test]
fn bias_grad_conv_and_linear() {
    for (n, c, inner, seed) in [
        (1u32, 3u32, 81u32, 20u64),
        (3, 24, 25, 21),
        (5, 10, 1, 22),
        (1, 24, 1, 23),
    ] {
        let mut rng = Lcg::new(seed);
        let dy = rng.vec((n * c * inner) as usize);
        let dims: Vec<u32> = if inner == 1 {
            vec![n, c]
        } else {
            vec![n, c, inner, 1]
        };
        let want = reference(TrainOp::BiasGrad { act_grad: None }, &[&tensor(&dims, &dy)]);
        let r = reduce::bias_grad(n, c, inner, None).expect("kernel");
        let got = run_reduction(&r, &[&upload(&dy)], c as usize);
        assert_close(&format!("bias grad {n}x{c}x{inner}"), &got, &want);
    }
}

#[test]
fn bias_grad_reduction_longer_than_2_17() {
    let (n, c, inner) = (130u32, 3u32, 32 * 32u32);
    let mut rng = Lcg::new(24);
    // Offset so the sums are far from 0 and a truncated sum cannot hide in the tolerance.
    let dy = rng.vec_in((n * c * inner) as usize, -0.5, 1.0);
    let want = reference(
        TrainOp::BiasGrad { act_grad: None },
        &[&tensor(&[n, c, 32, 32], &dy)],
    );
    // The default (GPU) lanes per chunk, and a CPU driver's SIMD width.
    for lanes in [None, Some(8)] {
        let r = reduce::bias_grad_lanes(n, c, inner, None, lanes, Elem::F32).expect("kernel");
        assert!(r.scratch_len >= 2 * u64::from(c), "not split: {r:?}");
        let got = run_reduction(&r, &[&upload(&dy)], c as usize);
        assert_close(
            &format!("bias grad, 133,120 terms, lanes {lanes:?}"),
            &got,
            &want,
        );
    }
}
