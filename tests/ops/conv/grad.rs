//! conv2d's gradient kernels on the GPU against netc's CPU reference
//! (`netc::ops::conv::reference`, through `reference::train_ops::forward`): the input and
//! weight gradients over every conv configuration the seed models use (3x3 s1 p1, 3x3 s2 p1,
//! 1x1 s1, 1x1 s2, 5x5 s1 p2), groups 1 and 2, batch 1 and odd sizes, 3 and 24 channels,
//! non-square windows, the row kernels' shapes, and several tilings (and every tiling the
//! tuner may choose). A weight-gradient reduction longer than 2^17 terms proves the split
//! under lavapipe's silent 65,535-iteration loop cap. Reductions run as their two dispatches
//! in one submission. Outputs and scratch buffers start as NaN, so an element a kernel forgets
//! to write fails the comparison.
//!
//! The device-free checks: every training kernel of a conv or linear layer (the conv
//! gradients, linear's, which are 1x1 convs, and the bias gradient) over a grid of shapes (the
//! seed models' at batch 128) is valid WGSL according to naga, with consistent bindings and
//! dispatch sizes, reductions that cover their scratch, and bad parameters rejected.

use crate::gpu_common::{
    Lcg, NON_SQUARE_WINDOWS, assert_close, nan_buffer, rt, run_reduction, tensor,
    train_reference as reference, upload, window, with_device_subgroup,
};
use netc::codegen::kernels::train::reduce;
use netc::codegen::kernels::{
    BindingKind, Elem, KernelError, KernelSource, MAX_WORKGROUPS_PER_DIM, validate_wgsl,
};
use netc::ir::TrainOp;
use netc::ops::conv::{Conv2dParams, ConvTiling, grad_kernel};
use netc::ops::linear::grad_kernel as linear_grad;
use netc::runtime::{Dispatch, GpuBuffer};
use netc::tensor::Tensor;

/// Tilings exercised by the conv cases: 4x4 tiles in 8x8 workgroups, no register tiling, odd
/// tiles so partial tiles occur in both dimensions, and two that select the row-vectorised
/// input-gradient kernel where the shape allows it (`tm % 4 == 0`, `wg_n == 1`; the weight
/// gradient stays generic): the default's 16x16 in 8-wide workgroups, and 3 rows x 5 channels;
/// and two staged through workgroup memory.
const TILINGS: [ConvTiling; 7] = [
    ConvTiling {
        tm: 16,
        tn: 16,
        wg_m: 8,
        wg_n: 1,
        split_target: 8192,
        subgroup: 0,
        shared: false,
        depth: 8,
    },
    ConvTiling {
        tm: 12,
        tn: 5,
        wg_m: 3,
        wg_n: 1,
        split_target: 8192,
        subgroup: 0,
        shared: false,
        depth: 8,
    },
    ConvTiling {
        tm: 4,
        tn: 4,
        wg_m: 8,
        wg_n: 8,
        split_target: 8192,
        subgroup: 0,
        shared: false,
        depth: 8,
    },
    ConvTiling {
        tm: 1,
        tn: 1,
        wg_m: 8,
        wg_n: 8,
        split_target: 8192,
        subgroup: 0,
        shared: false,
        depth: 8,
    },
    ConvTiling {
        tm: 3,
        tn: 5,
        wg_m: 5,
        wg_n: 3,
        split_target: 8192,
        subgroup: 0,
        shared: false,
        depth: 8,
    },
    // Staged through workgroup memory (the GPU kernels): a 32x32 block in 8-deep slices, and
    // a ragged 24x20 block in 16-deep slices whose last staging loads fall partly past them.
    ConvTiling {
        tm: 4,
        tn: 4,
        wg_m: 8,
        wg_n: 8,
        split_target: 8192,
        subgroup: 0,
        shared: true,
        depth: 8,
    },
    ConvTiling {
        tm: 8,
        tn: 4,
        wg_m: 3,
        wg_n: 5,
        split_target: 8192,
        subgroup: 0,
        shared: true,
        depth: 16,
    },
];

fn conv_window(p: &Conv2dParams) -> netc::ir::Window {
    window(
        [p.kernel_h, p.kernel_w],
        [p.stride_h, p.stride_w],
        [p.pad_h, p.pad_w],
    )
}

fn dy_dims(p: &Conv2dParams) -> [u32; 4] {
    [p.batch, p.out_channels, p.out_h(), p.out_w()]
}

fn w_dims(p: &Conv2dParams) -> [u32; 4] {
    [
        p.out_channels,
        p.in_channels / p.groups,
        p.kernel_h,
        p.kernel_w,
    ]
}

fn x_dims(p: &Conv2dParams) -> [u32; 4] {
    [p.batch, p.in_channels, p.in_h, p.in_w]
}

/// Runs the input-gradient kernels `ks` (one, or one per stride phase) into a NaN-filled dx of
/// `len` elements, so an element no kernel writes shows up, and reads dx back. `addend` is
/// bound before dx for kernels that accumulate.
fn run_grad_input(
    ks: &[KernelSource],
    dy: &GpuBuffer,
    w: &GpuBuffer,
    addend: Option<&GpuBuffer>,
    len: usize,
) -> Vec<f32> {
    let dx = nan_buffer(len);
    let bufs: Vec<&GpuBuffer> = [dy, w].into_iter().chain(addend).chain([&dx]).collect();
    let dispatches: Vec<Dispatch<'_>> = ks.iter().map(|k| Dispatch::new(k, &bufs)).collect();
    let got = rt().run_and_read(&dispatches, &[&dx]).expect("run");
    got.into_iter().next().expect("one buffer")
}

/// The conv's input gradient, and the same with a gradient accumulation folded in
/// (`accumulate`, reading `addend`), by the reference.
fn reference_dx(p: &Conv2dParams, dy: &Tensor, w: &Tensor, addend: &Tensor) -> [Vec<f32>; 2] {
    [false, true].map(|accumulate| {
        let op = TrainOp::Conv2dGradInput {
            window: conv_window(p),
            groups: p.groups as usize,
            input_hw: [p.in_h as usize, p.in_w as usize],
            accumulate,
        };
        let operands: &[&Tensor] = if accumulate {
            &[dy, w, addend]
        } else {
            &[dy, w]
        };
        reference(op, operands)
    })
}

/// Both input-gradient kernels of `p` with `tiling` (plain and accumulating) against the
/// reference.
fn check_grad_input(
    label: &str,
    p: &Conv2dParams,
    tiling: &ConvTiling,
    [dy, w, addend]: [&GpuBuffer; 3],
    want: &[Vec<f32>; 2],
) {
    for (accumulate, want) in [false, true].into_iter().zip(want) {
        let ks = grad_kernel::conv2d_grad_input(&p.with_accumulate(accumulate), tiling)
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        let got = run_grad_input(&ks, dy, w, accumulate.then_some(addend), want.len());
        assert_close(
            &format!("{label} grad input (accumulate: {accumulate}) {tiling:?}"),
            &got,
            want,
        );
    }
}

/// Both conv gradients of `p` with every tiling against the reference.
fn check_conv(label: &str, p: Conv2dParams, seed: u64) {
    let mut rng = Lcg::new(seed);
    let x = rng.vec(p.input_len() as usize);
    let w = rng.vec(p.weight_len() as usize);
    let dy = rng.vec(p.output_len() as usize);
    let (xt, wt, dyt) = (
        tensor(&x_dims(&p), &x),
        tensor(&w_dims(&p), &w),
        tensor(&dy_dims(&p), &dy),
    );
    let addend = rng.vec(p.input_len() as usize);
    let want_dx = reference_dx(&p, &dyt, &wt, &tensor(&x_dims(&p), &addend));
    let want_dw = reference(
        TrainOp::Conv2dGradWeight {
            window: conv_window(&p),
            groups: p.groups as usize,
        },
        &[&xt, &dyt],
    );
    let (xb, wb, dyb, addb) = (upload(&x), upload(&w), upload(&dy), upload(&addend));
    for tiling in with_device_subgroup(&TILINGS) {
        check_grad_input(label, &p, &tiling, [&dyb, &wb, &addb], &want_dx);

        let r =
            grad_kernel::conv2d_grad_weight(&p, &tiling).unwrap_or_else(|e| panic!("{label}: {e}"));
        let got = run_reduction(&r, &[&xb, &dyb], want_dw.len());
        assert_close(&format!("{label} grad weight {tiling:?}"), &got, &want_dw);
    }
}

#[test]
fn conv3x3_s1_p1() {
    check_conv(
        "3x3 s1 p1, rgb",
        Conv2dParams::new(1, 3, (9, 9), 24, 3).with_padding(1),
        1,
    );
    check_conv(
        "3x3 s1 p1, 24 ch, 2 groups",
        Conv2dParams::new(3, 24, (6, 6), 24, 3)
            .with_padding(1)
            .with_groups(2),
        2,
    );
}

#[test]
fn conv3x3_s2_p1() {
    check_conv(
        "3x3 s2 p1, odd input",
        Conv2dParams::new(3, 24, (9, 9), 24, 3)
            .with_stride(2)
            .with_padding(1),
        3,
    );
    check_conv(
        "3x3 s2 p1, even input, rgb",
        Conv2dParams::new(1, 3, (8, 8), 24, 3)
            .with_stride(2)
            .with_padding(1),
        4,
    );
}

#[test]
fn conv1x1_s1() {
    check_conv("1x1 s1", Conv2dParams::new(3, 24, (5, 5), 24, 1), 5);
    check_conv(
        "1x1 s1, 2 groups",
        Conv2dParams::new(1, 24, (7, 7), 24, 1).with_groups(2),
        6,
    );
}

#[test]
fn conv1x1_s2_p0() {
    // Odd columns and rows of the input receive no gradient (zeros in dx).
    check_conv(
        "1x1 s2, even input",
        Conv2dParams::new(1, 24, (8, 8), 24, 1).with_stride(2),
        7,
    );
    check_conv(
        "1x1 s2, odd input, 2 groups",
        Conv2dParams::new(3, 24, (7, 7), 24, 1)
            .with_stride(2)
            .with_groups(2),
        8,
    );
}

#[test]
fn conv5x5_s1_p2() {
    check_conv(
        "5x5 s1 p2, rgb",
        Conv2dParams::new(1, 3, (8, 8), 24, 5).with_padding(2),
        9,
    );
    check_conv(
        "5x5 s1 p2, 24 ch, 2 groups",
        Conv2dParams::new(3, 24, (5, 5), 24, 5)
            .with_padding(2)
            .with_groups(2),
        10,
    );
}

#[test]
fn conv_odd_everything() {
    // Non-square input, odd channel counts per group, a stride that does not divide the input.
    check_conv(
        "odd",
        Conv2dParams::new(5, 6, (7, 5), 10, 3)
            .with_stride(2)
            .with_padding(1)
            .with_groups(2),
        11,
    );
}

#[test]
fn conv_grad_weight_reduction_longer_than_2_17() {
    // N*Ho*Wo = 130 * 32 * 32 = 133,120 terms per weight: one invocation summing them all would
    // be stopped by lavapipe after 65,535 iterations, silently.
    let p = Conv2dParams::new(130, 3, (32, 32), 4, 3).with_padding(1);
    let mut rng = Lcg::new(12);
    let x = rng.vec(p.input_len() as usize);
    let dy = rng.vec(p.output_len() as usize);
    let want = reference(
        TrainOp::Conv2dGradWeight {
            window: conv_window(&p),
            groups: 1,
        },
        &[&tensor(&x_dims(&p), &x), &tensor(&dy_dims(&p), &dy)],
    );
    let r = grad_kernel::conv2d_grad_weight(&p, &ConvTiling::default()).expect("kernel");
    assert!(r.scratch_len >= 2 * p.weight_len(), "not split: {r:?}");
    let got = run_reduction(&r, &[&upload(&x), &upload(&dy)], want.len());
    assert_close("grad weight, 133,120 terms", &got, &want);
}

/// The weight gradient is correct whatever its split target (`ConvTiling::split_target`: the
/// first pass's invocations the reduction is split for), on shapes where the target changes
/// the number of parts: a small one (fewer parts, long chunks) and a GPU-sized one (chunks
/// down to `reduce::MIN_CHUNK`).
#[test]
fn conv_grad_weight_any_split_target() {
    let targets = [64, 8192, 131_072];
    let mut grew = [false; 2];
    for (i, p) in [
        Conv2dParams::new(4, 8, (16, 16), 8, 3).with_padding(1),
        Conv2dParams::new(4, 8, (32, 32), 8, 3).with_padding(1),
        Conv2dParams::new(4, 8, (64, 64), 8, 3)
            .with_stride(2)
            .with_padding(1),
    ]
    .into_iter()
    .enumerate()
    {
        let mut rng = Lcg::new(60 + i as u64);
        let x = rng.vec(p.input_len() as usize);
        let dy = rng.vec(p.output_len() as usize);
        let want = reference(
            TrainOp::Conv2dGradWeight {
                window: conv_window(&p),
                groups: 1,
            },
            &[&tensor(&x_dims(&p), &x), &tensor(&dy_dims(&p), &dy)],
        );
        let (xb, dyb) = (upload(&x), upload(&dy));
        for tiling in TILINGS {
            let mut parts = Vec::new();
            for split_target in targets {
                let t = ConvTiling {
                    split_target,
                    ..tiling
                };
                let r = grad_kernel::conv2d_grad_weight(&p, &t).expect("kernel");
                parts.push(r.scratch_len / p.weight_len());
                let got = run_reduction(&r, &[&xb, &dyb], want.len());
                assert_close(&format!("{p:?} grad weight {t:?}"), &got, &want);
            }
            assert!(parts.is_sorted(), "{p:?} {tiling:?}: parts {parts:?}");
            grew[0] |= parts[0] < parts[1];
            grew[1] |= parts[1] < parts[2];
        }
    }
    assert_eq!(grew, [true, true], "the targets must change some split");
}

// ---- Device-free checks. ----

/// Every kernel of this file's generators over a grid of shapes, including the seed models'
/// layers at batch 128 on 32x32.
fn all_kernels() -> Vec<KernelSource> {
    let tilings = [
        ConvTiling::default(),
        ConvTiling {
            tm: 1,
            tn: 1,
            wg_m: 16,
            wg_n: 16,
            split_target: 8192,
            subgroup: 0,
            shared: false,
            depth: 8,
        },
        ConvTiling {
            tm: 8,
            tn: 8,
            wg_m: 8,
            wg_n: 8,
            split_target: 8192,
            subgroup: 0,
            shared: false,
            depth: 8,
        },
        ConvTiling {
            tm: 3,
            tn: 5,
            wg_m: 5,
            wg_n: 3,
            split_target: 8192,
            subgroup: 0,
            shared: false,
            depth: 8,
        },
    ];
    let convs = [
        Conv2dParams::new(128, 3, (32, 32), 64, 3).with_padding(1),
        Conv2dParams::new(128, 64, (32, 32), 64, 3)
            .with_padding(1)
            .with_bias(true),
        Conv2dParams::new(128, 16, (32, 32), 32, 3)
            .with_stride(2)
            .with_padding(1),
        Conv2dParams::new(128, 16, (32, 32), 32, 1).with_stride(2),
        Conv2dParams::new(128, 184, (4, 4), 32, 1),
        Conv2dParams::new(128, 16, (16, 16), 8, 5).with_padding(2),
        Conv2dParams::new(128, 24, (16, 16), 24, 3)
            .with_padding(1)
            .with_groups(2),
        Conv2dParams::new(2, 24, (7, 7), 24, 3)
            .with_padding(1)
            .with_groups(24),
        Conv2dParams::new(1, 5, (11, 3), 7, 3)
            .with_stride(2)
            .with_padding(1),
        Conv2dParams::new(130, 3, (32, 32), 4, 3).with_padding(1),
    ];
    let mut out = Vec::new();
    for p in convs {
        for t in &tilings {
            out.extend(grad_kernel::conv2d_grad_input(&p, t).expect("grad input"));
            let r = grad_kernel::conv2d_grad_weight(&p, t).expect("grad weight");
            out.extend([r.partial, r.finish]);
        }
    }
    for (batch, fin, fout) in [
        (128, 128, 10),
        (1, 184, 10),
        (128, 512, 1000),
        (70_000, 3, 2),
    ] {
        out.push(linear_grad::linear_grad_input(batch, fin, fout, Elem::F32).expect("linear dx"));
        let r = linear_grad::linear_grad_weight(batch, fin, fout, Elem::F32).expect("linear dw");
        out.extend([r.partial, r.finish]);
    }
    for (n, c, inner) in [(128, 64, 1024), (128, 10, 1), (1, 1, 1), (128, 1, 65_536)] {
        let r = reduce::bias_grad(n, c, inner, None).expect("bias");
        out.extend([r.partial, r.finish]);
    }
    out
}

#[test]
fn every_train_conv_kernel_validates_with_naga() {
    let kernels = all_kernels();
    assert!(kernels.len() > 100);
    for k in &kernels {
        if let Err(e) = validate_wgsl(&k.wgsl) {
            panic!("{} does not validate:\n{e}", k.name);
        }
    }
}

#[test]
fn bindings_and_dispatch_sizes_are_consistent() {
    for k in all_kernels() {
        assert_eq!(
            k.bindings.last(),
            Some(&BindingKind::ReadWrite),
            "{}",
            k.name
        );
        assert!(
            k.bindings[..k.bindings.len() - 1]
                .iter()
                .all(|b| *b == BindingKind::ReadOnly),
            "{}",
            k.name
        );
        for (i, _) in k.bindings.iter().enumerate() {
            assert!(
                k.wgsl.contains(&format!("@binding({i})")),
                "{}: binding {i} missing",
                k.name
            );
        }
        assert!(
            k.workgroups
                .iter()
                .all(|&g| (1..=MAX_WORKGROUPS_PER_DIM).contains(&g)),
            "{}: {:?}",
            k.name,
            k.workgroups
        );
        assert!(k.invocations_per_workgroup() <= 1024, "{}", k.name);
    }
}

#[test]
fn reductions_cover_their_scratch_and_stay_under_the_loop_budget() {
    // Scratch sizes are whole multiples of the output, and the parts stay under the budget
    // even for reductions far longer than lavapipe's cap.
    let p = Conv2dParams::new(128, 64, (32, 32), 64, 3).with_padding(1);
    let r = grad_kernel::conv2d_grad_weight(&p, &ConvTiling::default()).expect("kernel");
    assert_eq!(r.scratch_len % p.weight_len(), 0);
    let parts = r.scratch_len / p.weight_len();
    assert!(parts >= 128 * 32 * 32 / 4096, "{parts} parts");
    // Any split target, however large, stays within the loop budget, the scratch limit and
    // the grid, even for a narrow layer (one workgroup per part) or many groups.
    for p in [
        Conv2dParams::new(128, 1, (128, 128), 1, 1),
        Conv2dParams::new(128, 64, (64, 64), 64, 3)
            .with_padding(1)
            .with_groups(64),
    ] {
        for tiling in TILINGS {
            let t = ConvTiling {
                split_target: u32::MAX,
                ..tiling
            };
            let r = grad_kernel::conv2d_grad_weight(&p, &t).expect("kernel");
            assert!(r.scratch_len / p.weight_len() <= 16_384, "{p:?} {t:?}");
            assert!(
                r.partial.workgroups[2] <= MAX_WORKGROUPS_PER_DIM,
                "{p:?} {t:?}"
            );
        }
    }
    let r = reduce::bias_grad(1000, 8, 64 * 64, None).expect("kernel");
    assert_eq!(r.scratch_len % 8, 0);
    assert!(r.scratch_len / 8 >= 1000 * 64 * 64 / 4096);
}

#[test]
fn invalid_parameters_are_errors() {
    let t = ConvTiling::default();
    let bad_groups = Conv2dParams::new(1, 6, (4, 4), 4, 3).with_groups(4);
    assert!(matches!(
        grad_kernel::conv2d_grad_input(&bad_groups, &t),
        Err(KernelError::InvalidParams { .. })
    ));
    assert!(matches!(
        grad_kernel::conv2d_grad_weight(&bad_groups, &t),
        Err(KernelError::InvalidParams { .. })
    ));
    let zero_tile = ConvTiling { tm: 0, ..t };
    let p = Conv2dParams::new(1, 4, (4, 4), 4, 3);
    assert!(grad_kernel::conv2d_grad_input(&p, &zero_tile).is_err());
    assert!(grad_kernel::conv2d_grad_weight(&p, &zero_tile).is_err());
    let no_split = ConvTiling {
        split_target: 0,
        ..t
    };
    assert!(matches!(
        grad_kernel::conv2d_grad_weight(&p, &no_split),
        Err(KernelError::InvalidParams { .. })
    ));
    // The grad-input loop runs over Cout/groups: too many channels is a loop-budget error.
    let wide = Conv2dParams::new(1, 1, (1, 1), 20_000, 1);
    assert!(matches!(
        grad_kernel::conv2d_grad_input(&wide, &t),
        Err(KernelError::LoopTooLong { .. })
    ));
    assert!(linear_grad::linear_grad_input(0, 3, 3, Elem::F32).is_err());
    assert!(linear_grad::linear_grad_weight(3, 0, 3, Elem::F32).is_err());
    assert!(reduce::bias_grad(1, 0, 1, None).is_err());
    // Absurd sizes are errors, not overflow panics.
    assert!(reduce::bias_grad(u32::MAX, u32::MAX, u32::MAX, None).is_err());
    let huge = Conv2dParams::new(1 << 16, 1 << 16, (1, 1), 1 << 16, 1);
    assert!(grad_kernel::conv2d_grad_input(&huge, &t).is_err());
    assert!(grad_kernel::conv2d_grad_weight(&huge, &t).is_err());
}

/// Shapes whose gradients take the row kernels (widths multiple of 4; for a strided input
/// gradient, the window at least the stride and the width a multiple of 4 strides), odd in
/// everything else: rgb (fewer input channels than a weight tile), partial row and channel
/// tiles, groups, a 5x5 window, a 1x1 conv, batch 1 (fewer parts than a workgroup has lanes),
/// and stride 2: 3x3 with padding on an odd height (phases of different heights), 4x4 and 2x2
/// (every phase with the same taps), 5x5 with padding 2, 1x1 (the weight gradient only).
#[test]
fn row_kernel_odd_shapes() {
    check_conv(
        "rows 3x3 rgb",
        Conv2dParams::new(1, 3, (5, 12), 24, 3).with_padding(1),
        40,
    );
    check_conv(
        "rows 3x3 groups",
        Conv2dParams::new(2, 24, (7, 8), 96, 3)
            .with_padding(1)
            .with_groups(3),
        41,
    );
    check_conv(
        "rows 5x5 p2",
        Conv2dParams::new(1, 5, (6, 12), 7, 5).with_padding(2),
        42,
    );
    check_conv("rows 1x1", Conv2dParams::new(3, 96, (3, 4), 24, 1), 43);
    check_conv(
        "rows 3x3 s2 p1",
        Conv2dParams::new(2, 5, (7, 16), 12, 3)
            .with_stride(2)
            .with_padding(1),
        44,
    );
    check_conv(
        "rows 1x1 s2",
        Conv2dParams::new(2, 6, (5, 16), 10, 1).with_stride(2),
        45,
    );
    check_conv(
        "rows 4x4 s2 p1",
        Conv2dParams::new(1, 3, (8, 16), 6, 4)
            .with_stride(2)
            .with_padding(1),
        46,
    );
    check_conv(
        "rows 2x2 s2 groups",
        Conv2dParams::new(2, 8, (6, 8), 12, 2)
            .with_stride(2)
            .with_groups(2),
        47,
    );
    check_conv(
        "rows 5x5 s2 p2",
        Conv2dParams::new(1, 4, (6, 16), 5, 5)
            .with_stride(2)
            .with_padding(2),
        48,
    );
    // The strided input gradients above do take the row kernels, one per stride phase.
    for p in [
        Conv2dParams::new(2, 5, (7, 16), 12, 3)
            .with_stride(2)
            .with_padding(1),
        Conv2dParams::new(1, 4, (6, 16), 5, 5)
            .with_stride(2)
            .with_padding(2),
    ] {
        let ks = grad_kernel::conv2d_grad_input(&p, &TILINGS[0]).expect("kernels");
        let names: Vec<&str> = ks.iter().map(|k| k.name.as_str()).collect();
        assert!(
            names.len() == 4 && names.iter().all(|n| n.contains("_rows_phase")),
            "{names:?}"
        );
    }
}

/// Every tiling the tuner may choose for the input and weight gradients (software and GPU
/// candidate lists) computes the same gradients.
#[test]
fn every_tuning_candidate_is_correct() {
    use netc::codegen::tiling::{ConvKind, TileRequest, candidates};
    for (i, p) in [
        Conv2dParams::new(2, 24, (7, 8), 96, 3)
            .with_padding(1)
            .with_groups(3),
        Conv2dParams::new(2, 5, (9, 7), 24, 3)
            .with_stride(2)
            .with_padding(1),
    ]
    .into_iter()
    .enumerate()
    {
        let mut rng = Lcg::new(50 + i as u64);
        let x = rng.vec(p.input_len() as usize);
        let w = rng.vec(p.weight_len() as usize);
        let dy = rng.vec(p.output_len() as usize);
        let (xt, wt, dyt) = (
            tensor(&x_dims(&p), &x),
            tensor(&w_dims(&p), &w),
            tensor(&dy_dims(&p), &dy),
        );
        let addend = rng.vec(p.input_len() as usize);
        let want_dx = reference_dx(&p, &dyt, &wt, &tensor(&x_dims(&p), &addend));
        let want_dw = reference(
            TrainOp::Conv2dGradWeight {
                window: conv_window(&p),
                groups: p.groups as usize,
            },
            &[&xt, &dyt],
        );
        let (xb, wb, dyb, addb) = (upload(&x), upload(&w), upload(&dy), upload(&addend));
        for software in [true, false] {
            let dx_candidates = candidates(&TileRequest::new(ConvKind::GradInput, &p), software);
            for t in with_device_subgroup(&dx_candidates) {
                check_grad_input(&format!("{p:?}"), &p, &t, [&dyb, &wb, &addb], &want_dx);
            }
            let dw_candidates = candidates(&TileRequest::new(ConvKind::GradWeight, &p), software);
            for t in with_device_subgroup(&dw_candidates) {
                let r = grad_kernel::conv2d_grad_weight(&p, &t).expect("kernel");
                let got = run_reduction(&r, &[&xb, &dyb], want_dw.len());
                assert_close(&format!("{p:?} grad weight {t:?}"), &got, &want_dw);
            }
        }
    }
}

#[test]
fn conv_grads_non_square_windows() {
    for (i, w) in NON_SQUARE_WINDOWS.into_iter().enumerate() {
        check_conv(
            &format!("{w:?}"),
            Conv2dParams::new(2, 6, (9, 8), 8, 1).with_window(w),
            50 + i as u64,
        );
    }
}
