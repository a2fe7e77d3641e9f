//! The conv kernels of a mixed-precision step — forward, input gradient, weight gradient —
//! with f16 activations, against the CPU reference in f32 on the same f16-rounded inputs,
//! for every tiling the tuner may choose on a CPU driver and on a GPU (register-tiled, row
//! and workgroup-staged kernels; with the device's subgroup size where it has one), on odd
//! and vec4-friendly shapes, strides 1 and 2, groups, padding.
//!
//! Tolerances: the forward output and dx are stored as f16, so they may differ from the
//! reference by the f16 rounding that a different f32 summation order tips over: 2e-3 of
//! the tensor's largest magnitude (an f16 ulp is ~1e-3 relative). dw is f32, summed in f32
//! from exactly representable inputs: 1e-4. An indexing or conversion bug errs by the values
//! themselves. Outputs start as NaN, so an element no kernel writes fails.

use crate::gpu_common::{
    Lcg, conv_reference, normalised_error, rt, tensor, upload, window, with_device_subgroup,
};
use netc::codegen::kernels::Elem;
use netc::codegen::tiling::{ConvKind, TileRequest, candidates};
use netc::ir::TrainOp;
use netc::ops::conv::{Conv2dParams, grad_kernel, kernel};
use netc::reference::train_ops;
use netc::runtime::storage::{decode, encode, round_f16};
use netc::runtime::{Dispatch, GpuBuffer};
use netc::tensor::Tensor;

fn shapes() -> Vec<(&'static str, Conv2dParams)> {
    // Three shapes keep this test to a few minutes on lavapipe, where every candidate is a
    // pipeline to compile; between them every kernel family and its edges is taken.
    vec![
        (
            "3x3 s1 p1 groups 2, rows of 4",
            Conv2dParams::new(2, 8, (8, 8), 12, 3)
                .with_padding(1)
                .with_groups(2),
        ),
        (
            "3x3 s2 p1 odd",
            Conv2dParams::new(3, 5, (9, 7), 24, 3)
                .with_stride(2)
                .with_padding(1),
        ),
        (
            "5x5 s1 p2 with bias",
            Conv2dParams::new(1, 4, (8, 8), 6, 5)
                .with_padding(2)
                .with_bias(true),
        ),
    ]
}

/// f16 values, as an f16 buffer holds them: the host's f32 rounded to f16.
fn f16_values(v: Vec<f32>) -> Vec<f32> {
    v.into_iter().map(round_f16).collect()
}

fn upload_f16(v: &[f32]) -> GpuBuffer {
    upload(&encode(Elem::F16, v))
}

/// An f16 buffer of `len` NaNs.
fn nan_f16(len: usize) -> GpuBuffer {
    upload_f16(&vec![f32::NAN; len])
}

fn check(what: &str, got: &[f32], want: &[f32], tol: f64) {
    let e = normalised_error(got, want);
    assert!(e <= tol, "{what}: normalised error {e:e} above {tol:e}");
}

fn all_tilings(kind: ConvKind, p: &Conv2dParams) -> Vec<netc::ops::conv::ConvTiling> {
    let request = TileRequest::new(kind, p);
    let mut all = candidates(&request, true);
    all.extend(candidates(&request, false));
    with_device_subgroup(&all)
}

#[test]
fn f16_conv_forward_every_candidate_equals_the_reference() {
    for (i, (label, p)) in shapes().into_iter().enumerate() {
        let p = p.with_elem(Elem::F16);
        let mut rng = Lcg::new(300 + i as u64);
        let x = f16_values(rng.vec(p.input_len() as usize));
        let w = rng.vec(p.weight_len() as usize);
        let b = rng.vec(p.out_channels as usize);
        let want = f16_values(conv_reference(&p, &x, &w, &b));
        let (xb, wb, bb) = (upload_f16(&x), upload(&w), upload(&b));
        for tiling in all_tilings(ConvKind::Forward, &p) {
            let k = kernel::conv2d(&p, &tiling).unwrap_or_else(|e| panic!("{label}: {e}"));
            assert!(
                k.name.ends_with("_f16") || k.name.contains("_f16_"),
                "{}",
                k.name
            );
            let yb = nan_f16(p.output_len() as usize);
            let mut bufs = vec![&xb, &wb];
            if p.bias {
                bufs.push(&bb);
            }
            bufs.push(&yb);
            let words = rt()
                .run_and_read(&[Dispatch::new(&k, &bufs)], &[&yb])
                .expect("run");
            let got = decode(Elem::F16, &words[0], want.len());
            check(&format!("{label} forward {tiling:?}"), &got, &want, 2e-3);
        }
    }
}

#[test]
fn f16_conv_gradients_every_candidate_equal_the_reference() {
    for (i, (label, p)) in shapes().into_iter().enumerate() {
        let p = p.with_elem(Elem::F16).with_bias(false);
        let mut rng = Lcg::new(400 + i as u64);
        let x = f16_values(rng.vec(p.input_len() as usize));
        let w = rng.vec(p.weight_len() as usize);
        let dy = f16_values(rng.vec(p.output_len() as usize));
        let x_dims = [p.batch, p.in_channels, p.in_h, p.in_w];
        let w_dims = [
            p.out_channels,
            p.in_channels / p.groups,
            p.kernel_h,
            p.kernel_w,
        ];
        let dy_dims = [p.batch, p.out_channels, p.out_h(), p.out_w()];
        let (xt, wt, dyt) = (
            tensor(&x_dims, &x),
            tensor(&w_dims, &w),
            tensor(&dy_dims, &dy),
        );
        let conv_window = window(
            [p.kernel_h, p.kernel_w],
            [p.stride_h, p.stride_w],
            [p.pad_h, p.pad_w],
        );
        // Plain, and with a gradient accumulation (an f16 addend) folded in.
        let addend = f16_values(rng.vec(p.input_len() as usize));
        let addt = tensor(&x_dims, &addend);
        let want_dx = [false, true].map(|accumulate| {
            let op = TrainOp::Conv2dGradInput {
                window: conv_window,
                groups: p.groups as usize,
                input_hw: [p.in_h as usize, p.in_w as usize],
                accumulate,
            };
            let operands: &[&Tensor] = if accumulate {
                &[&dyt, &wt, &addt]
            } else {
                &[&dyt, &wt]
            };
            f16_values(train_ops::forward(&op, operands).data)
        });
        let want_dw = train_ops::forward(
            &TrainOp::Conv2dGradWeight {
                window: conv_window,
                groups: p.groups as usize,
            },
            &[&xt, &dyt],
        )
        .data;
        let (xb, wb, dyb, addb) = (
            upload_f16(&x),
            upload(&w),
            upload_f16(&dy),
            upload_f16(&addend),
        );
        for tiling in all_tilings(ConvKind::GradInput, &p) {
            for (accumulate, want) in [false, true].into_iter().zip(&want_dx) {
                let ks = grad_kernel::conv2d_grad_input(&p.with_accumulate(accumulate), &tiling)
                    .unwrap_or_else(|e| panic!("{label}: {e}"));
                let dx = nan_f16(want.len());
                let bufs: Vec<&GpuBuffer> = [&dyb, &wb]
                    .into_iter()
                    .chain(accumulate.then_some(&addb))
                    .chain([&dx])
                    .collect();
                let dispatches: Vec<Dispatch<'_>> =
                    ks.iter().map(|k| Dispatch::new(k, &bufs)).collect();
                let words = rt().run_and_read(&dispatches, &[&dx]).expect("run");
                let got = decode(Elem::F16, &words[0], want.len());
                check(
                    &format!("{label} grad input (accumulate: {accumulate}) {tiling:?}"),
                    &got,
                    want,
                    2e-3,
                );
            }
        }
        for tiling in all_tilings(ConvKind::GradWeight, &p) {
            let r = grad_kernel::conv2d_grad_weight(&p, &tiling)
                .unwrap_or_else(|e| panic!("{label}: {e}"));
            let scratch = upload(&vec![f32::NAN; r.scratch_len as usize]);
            let dw = upload(&vec![f32::NAN; want_dw.len()]);
            let got = rt()
                .run_and_read(
                    &[
                        Dispatch::new(&r.partial, &[&xb, &dyb, &scratch]),
                        Dispatch::new(&r.finish, &[&scratch, &dw]),
                    ],
                    &[&dw],
                )
                .expect("run");
            check(
                &format!("{label} grad weight {tiling:?}"),
                &got[0],
                &want_dw,
                1e-4,
            );
        }
    }
}
