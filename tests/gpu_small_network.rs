//! A small network's kernels recorded as one submission on the GPU, against netc's CPU
//! reference: dispatches in one submission see each other's results. Each kernel on its own
//! is tested with its family in `tests/ops/`.
//!
//! There is no skipping: without a GPU adapter these tests fail and say how to get one.

use crate::gpu_common::{
    Lcg, assert_close, batch_norm_reference, conv_reference, global_avg_pool_reference,
    linear_reference, pool_reference, rt, softmax_reference, upload,
};
use netc::codegen::kernels::Elem;
use netc::codegen::kernels::{Conv2dParams, ConvTiling};
use netc::ops::activation::Activation;
use netc::ops::conv::kernel as conv;
use netc::ops::linear::kernel as linear;
use netc::ops::loss::kernel as softmax;
use netc::ops::norm::kernel as norm;
use netc::ops::pool::{Pool2dParams, kernel as pool};
use netc::runtime::Dispatch;

/// A miniature GoogleNet-style stem recorded as one submission: conv(+bias) → BN+relu →
/// max pool 3 s2 p1 → global avg pool → linear → softmax. Checks that dispatches in one pass
/// see each other's results.
#[test]
fn small_network_in_one_submission() {
    let (n, cin, hw, c) = (2u32, 3u32, 9u32, 24u32);
    let mut rng = Lcg::new(500);
    let x = rng.vec((n * cin * hw * hw) as usize);
    let conv_p = Conv2dParams::new(n, cin, (hw, hw), c, 3)
        .with_padding(1)
        .with_bias(true);
    let (cw, cb) = (rng.vec(conv_p.weight_len() as usize), rng.vec(c as usize));
    let (mean, var) = (rng.vec(c as usize), rng.vec_in(c as usize, 0.1, 2.0));
    let (gamma, beta) = (rng.vec_in(c as usize, 0.5, 1.5), rng.vec(c as usize));
    let pool_p = Pool2dParams::new(n, c, (hw, hw), 3, 2, 1);
    let (lw, lb) = (rng.vec(10 * c as usize), rng.vec(10));

    // Reference chain, op by op through netc's interpreter.
    let r1 = conv_reference(&conv_p, &x, &cw, &cb);
    let r2 = batch_norm_reference(
        &r1,
        [n, c, hw, hw],
        &mean,
        &var,
        &gamma,
        &beta,
        1e-5,
        Some(Activation::RELU),
    );
    let r3 = pool_reference(&pool_p, &r2, true);
    let r4 = global_avg_pool_reference(&r3, [n, c, pool_p.out_h(), pool_p.out_w()]);
    let r5 = linear_reference(&r4, n, c, &lw, Some(&lb), None);
    let want = softmax_reference(&r5, 10);

    let k1 = conv::conv2d(&conv_p, &ConvTiling::default()).expect("conv");
    let k2 = norm::batch_norm(n, c, hw, hw, 1e-5, Some(Activation::RELU), Elem::F32).expect("bn");
    let k3 = pool::max_pool2d(&pool_p).expect("pool");
    let k4 = pool::global_avg_pool(n, c, pool_p.out_h(), pool_p.out_w(), Elem::F32).expect("gap");
    let k5 =
        linear::linear(n, c, 10, true, None, &ConvTiling::default(), Elem::F32).expect("linear");
    let k6 = softmax::softmax(n, 10, Elem::F32).expect("softmax");

    let rt = rt();
    let (xb, cwb, cbb) = (upload(&x), upload(&cw), upload(&cb));
    let (mb, vb, gb, bb) = (upload(&mean), upload(&var), upload(&gamma), upload(&beta));
    let (lwb, lbb) = (upload(&lw), upload(&lb));
    let t1 = rt.create_buffer(r1.len()).expect("t1");
    let t2 = rt.create_buffer(r2.len()).expect("t2");
    let t3 = rt.create_buffer(r3.len()).expect("t3");
    let t4 = rt.create_buffer(r4.len()).expect("t4");
    let t5 = rt.create_buffer(r5.len()).expect("t5");
    let out = rt.create_buffer(want.len()).expect("out");
    let got = rt
        .run_and_read(
            &[
                Dispatch::new(&k1, &[&xb, &cwb, &cbb, &t1]),
                Dispatch::new(&k2, &[&t1, &mb, &vb, &gb, &bb, &t2]),
                Dispatch::new(&k3, &[&t2, &t3]),
                Dispatch::new(&k4, &[&t3, &t4]),
                Dispatch::new(&k5, &[&t4, &lwb, &lbb, &t5]),
                Dispatch::new(&k6, &[&t5, &out]),
            ],
            &[&t2, &out],
        )
        .expect("run");
    assert_close("network: after BN+relu", &got[0], &r2);
    assert_close("network: softmax output", &got[1], &want);
}
