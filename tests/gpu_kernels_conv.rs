//! linear kernels on the GPU against netc's CPU reference (conv2d's kernels are tested in
//! `tests/ops/conv/`).
//!
//! There is no skipping: without a GPU adapter these tests fail and say how to get one.

use crate::gpu_common::{Lcg, assert_close, linear_reference, rt, upload};
use netc::codegen::kernels::Elem;
use netc::codegen::kernels::{ConvTiling, linear};
use netc::ops::activation::Activation;
use netc::runtime::Dispatch;

#[test]
fn linear_128_to_10() {
    for (batch, seed) in [(1u32, 30u64), (3, 31), (33, 32)] {
        let mut rng = Lcg::new(seed);
        let x = rng.vec(batch as usize * 128);
        let w = rng.vec(10 * 128);
        let b = rng.vec(10);
        let want = linear_reference(&x, batch, 128, &w, Some(&b), None);
        let k = linear::linear(
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
    let k = linear::linear(
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
