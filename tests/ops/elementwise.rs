//! The elementwise family (`src/ops/elementwise/`): add, concat and concat's gradient, the
//! channel slice, each on the GPU against the CPU reference (`netc::ops::elementwise::reference`,
//! through `reference::ops` / `reference::train_ops`):
//!
//! * add with each fused activation, one element per invocation and four (a vec4);
//! * concat's copies: two inputs in one pass, and a slice copied into the middle of a buffer
//!   leaving the other channels alone (planes copied one element at a time and as vec4s), exact;
//! * the channel slice, exact, on planes of 20 and of 16 (vec4s).
//!
//! There is no skipping: without a GPU adapter these tests fail and say how to get one.

use super::harness::run_kernel;
use crate::gpu_common::{
    Lcg, add_reference, assert_close, epilogues, nchw, rt, tensor, train_reference as train_ref,
    upload,
};
use netc::codegen::kernels::Elem;
use netc::ir::Op;
use netc::ir::train_ops::TrainOp;
use netc::ops::elementwise::{grad_kernel, kernel};
use netc::reference::ops;
use netc::runtime::Dispatch;

// ---- forward ----

#[test]
fn add_with_each_activation() {
    // 1001 elements: one per invocation; 1004: four per invocation, as one vec4.
    for len in [1001, 1004] {
        for (i, act) in epilogues().into_iter().enumerate() {
            let mut rng = Lcg::new(400 + i as u64);
            let (a, b) = (rng.vec_in(len, -4.0, 4.0), rng.vec_in(len, -4.0, 4.0));
            let want = add_reference(&a, &b, act);
            let k = kernel::add(len as u64, act, Elem::F32).expect("kernel");
            let (ab, bb, yb) = (
                upload(&a),
                upload(&b),
                rt().create_buffer(len).expect("buffer"),
            );
            let got = rt()
                .run_and_read(&[Dispatch::new(&k, &[&ab, &bb, &yb])], &[&yb])
                .expect("run");
            assert_close(&format!("add {len} {act:?}"), &got[0], &want);
        }
    }
}

#[test]
fn concat_two_inputs_in_one_pass() {
    let (n, hw) = (2u32, 25u32);
    let mut rng = Lcg::new(410);
    let a = rng.vec((n * 3 * hw) as usize);
    let b = rng.vec((n * 24 * hw) as usize);
    let want = ops::forward(
        &Op::Concat,
        &[&tensor(&[n, 3, 5, 5], &a), &tensor(&[n, 24, 5, 5], &b)],
    )
    .data;
    let ka = kernel::concat_channels(n, 3, hw, 0, 27, Elem::F32).expect("kernel");
    let kb = kernel::concat_channels(n, 24, hw, 3, 27, Elem::F32).expect("kernel");
    let (ab, bb, yb) = (
        upload(&a),
        upload(&b),
        rt().create_buffer(want.len()).expect("buffer"),
    );
    let got = rt()
        .run_and_read(
            &[
                Dispatch::new(&ka, &[&ab, &yb]),
                Dispatch::new(&kb, &[&bb, &yb]),
            ],
            &[&yb],
        )
        .expect("run");
    assert_eq!(got[0], want, "concat is a copy and must be exact");
}

#[test]
fn concat_copy_leaves_other_channels_alone() {
    // One slice copied into the middle of a pre-filled buffer: expected buffer built by hand.
    // Planes of 7 are copied one element per invocation, planes of 8 as vec4s.
    for hw in [7usize, 8] {
        concat_copy_into_the_middle(hw);
    }
}

fn concat_copy_into_the_middle(hw: usize) {
    let (n, c, offset, total) = (3usize, 5usize, 4usize, 12usize);
    let mut rng = Lcg::new(411);
    let src = rng.vec(n * c * hw);
    let sentinel = -42.0f32;
    let mut want = vec![sentinel; n * total * hw];
    for ni in 0..n {
        for ci in 0..c {
            let s = (ni * c + ci) * hw;
            let d = (ni * total + offset + ci) * hw;
            want[d..d + hw].copy_from_slice(&src[s..s + hw]);
        }
    }
    let k = kernel::concat_channels(
        n as u32,
        c as u32,
        hw as u32,
        offset as u32,
        total as u32,
        Elem::F32,
    )
    .expect("kernel");
    let (sb, db) = (upload(&src), upload(&vec![sentinel; n * total * hw]));
    let got = rt()
        .run_and_read(&[Dispatch::new(&k, &[&sb, &db])], &[&db])
        .expect("run");
    assert_eq!(got[0], want, "planes of {hw}");
}

// ---- concat's gradient ----

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
        let k =
            grad_kernel::channel_slice(n, c, h * w, offset, channels, Elem::F32).expect("kernel");
        let got = run_kernel(&k, &[&x], want.len());
        assert_eq!(got, want, "channel_slice {offset}+{channels} is a copy");
        // The same channels of planes of 4 x 4, copied as vec4s.
        let x16 = rng.vec((n * c * 16) as usize);
        let want = train_ref(op_slice(offset, channels), &[&nchw(n, c, 4, 4, &x16)]);
        let k = grad_kernel::channel_slice(n, c, 16, offset, channels, Elem::F32).expect("kernel");
        let got = run_kernel(&k, &[&x16], want.len());
        assert_eq!(
            got, want,
            "channel_slice {offset}+{channels} of 4x4 planes is a copy"
        );
    }
}
