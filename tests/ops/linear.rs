//! The linear family (`src/ops/linear/`): linear and its gradients on the GPU against the CPU
//! reference (`netc::ops::linear::reference`, through `reference::ops` /
//! `reference::train_ops`):
//!
//! * the forward kernel (a 1x1 conv on a 1x1 map), with and without bias and a fused relu, at
//!   batch 1 and odd sizes;
//! * the input gradient and the weight gradient's reduction over the batch, from batch 1 to a
//!   batch of 5,000 (a split reduction), into NaN-filled outputs so that an element a kernel
//!   forgets to write fails the comparison.
//!
//! Flatten and its gradient are views (no kernel). There is no skipping: without a GPU adapter
//! these tests fail and say how to get one.

use crate::gpu_common::{
    Lcg, assert_close, linear_reference, nan_buffer, rt, run_reduction, tensor,
    train_reference as train_ref, upload,
};
use netc::codegen::kernels::{ConvTiling, Elem};
use netc::ir::TrainOp;
use netc::ops::activation::Activation;
use netc::ops::linear::{grad_kernel, kernel};
use netc::runtime::Dispatch;

// ---- forward ----

#[test]
fn linear_128_to_10() {
    for (batch, seed) in [(1u32, 30u64), (3, 31), (33, 32)] {
        let mut rng = Lcg::new(seed);
        let x = rng.vec(batch as usize * 128);
        let w = rng.vec(10 * 128);
        let b = rng.vec(10);
        let want = linear_reference(&x, batch, 128, &w, Some(&b), None);
        let k = kernel::linear(
            batch,
            128,
            10,
            true,
            None,
            &ConvTiling::default(),
            Elem::F32,
        )
        .expect("kernel");
        let (xb, wb, bb, yb) = (
            upload(&x),
            upload(&w),
            upload(&b),
            rt().create_buffer(want.len()).expect("buffer"),
        );
        let got = rt()
            .run_and_read(&[Dispatch::new(&k, &[&xb, &wb, &bb, &yb])], &[&yb])
            .expect("run");
        assert_close(&format!("linear batch {batch}"), &got[0], &want);
    }
}

#[test]
fn linear_without_bias_with_relu() {
    let mut rng = Lcg::new(33);
    let (batch, fin, fout) = (4u32, 37u32, 19u32);
    let x = rng.vec((batch * fin) as usize);
    let w = rng.vec((fout * fin) as usize);
    let want = linear_reference(&x, batch, fin, &w, None, Some(Activation::RELU));
    let k = kernel::linear(
        batch,
        fin,
        fout,
        false,
        Some(Activation::RELU),
        &ConvTiling::default(),
        Elem::F32,
    )
    .expect("kernel");
    let (xb, wb, yb) = (
        upload(&x),
        upload(&w),
        rt().create_buffer(want.len()).expect("buffer"),
    );
    let got = rt()
        .run_and_read(&[Dispatch::new(&k, &[&xb, &wb, &yb])], &[&yb])
        .expect("run");
    assert_close("linear relu", &got[0], &want);
}

// ---- gradients ----

#[test]
fn linear_grads() {
    for (batch, fin, fout, seed) in [
        (1u32, 128u32, 10u32, 30u64),
        (3, 128, 10, 31),
        (33, 37, 19, 32),
        (5000, 7, 3, 33),
    ] {
        let mut rng = Lcg::new(seed);
        let x = rng.vec((batch * fin) as usize);
        let w = rng.vec((fout * fin) as usize);
        let dy = rng.vec((batch * fout) as usize);
        let (xt, wt, dyt) = (
            tensor(&[batch, fin], &x),
            tensor(&[fout, fin], &w),
            tensor(&[batch, fout], &dy),
        );
        let want_dx = train_ref(TrainOp::LinearGradInput, &[&dyt, &wt]);
        let want_dw = train_ref(TrainOp::LinearGradWeight, &[&xt, &dyt]);
        let (xb, wb, dyb) = (upload(&x), upload(&w), upload(&dy));

        let k = grad_kernel::linear_grad_input(batch, fin, fout, Elem::F32).expect("kernel");
        let dxb = nan_buffer(want_dx.len());
        let got = rt()
            .run_and_read(&[Dispatch::new(&k, &[&dyb, &wb, &dxb])], &[&dxb])
            .expect("run");
        let label = format!("linear {batch}x{fin}->{fout}");
        assert_close(&format!("{label} grad input"), &got[0], &want_dx);

        let r = grad_kernel::linear_grad_weight(batch, fin, fout, Elem::F32).expect("kernel");
        let got = run_reduction(&r, &[&xb, &dyb], want_dw.len());
        assert_close(&format!("{label} grad weight"), &got, &want_dw);
    }
}
