//! conv2d kernels on the GPU against netc's CPU reference, over every conv configuration the
//! seed models use, odd sizes that do not fill tiles, groups, fused activations, output channel
//! slices, and several tilings (linear's, a 1x1 conv, are in `tests/ops/linear.rs`).
//!
//! There is no skipping: without a GPU adapter these tests fail and say how to get one.

use crate::gpu_common::{
    Lcg, NON_SQUARE_WINDOWS, assert_close, conv_reference, rt, upload, with_device_subgroup,
};
use netc::codegen::kernels::{Conv2dParams, ConvTiling, conv};
use netc::ops::activation::Activation;
use netc::runtime::Dispatch;

/// Tilings exercised by every case: 4x4 tiles, no register tiling at all, 8x8, odd
/// non-power-of-two tiles so partial tiles occur in both dimensions, and two tilings that select
/// the row-vectorised kernel where the shape allows it (`tm % 4 == 0`, `wg_n == 1`): the
/// default's 16x16 in 8-wide workgroups, 3 rows x 5 channels in 3-wide workgroups, and 2 rows x
/// 7 channels in 16-wide workgroups (two subgroups of 8 lanes on lavapipe); and two staged
/// through workgroup memory.
const TILINGS: [ConvTiling; 9] = [
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
    ConvTiling {
        tm: 8,
        tn: 7,
        wg_m: 16,
        wg_n: 1,
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

/// The reference result laid out like the kernel's destination: `out_total_channels` channels
/// pre-filled with `sentinel`, the conv's output in channels
/// `[out_channel_offset, out_channel_offset + out_channels)` (built by hand: the IR has no
/// "write into a slice" op).
fn expected_destination(p: &Conv2dParams, dense: &[f32], sentinel: f32) -> Vec<f32> {
    let hw = (p.out_h() * p.out_w()) as usize;
    let (cout, total, offset) = (
        p.out_channels as usize,
        p.out_total_channels as usize,
        p.out_channel_offset as usize,
    );
    let mut out = vec![sentinel; p.output_len() as usize];
    for n in 0..p.batch as usize {
        for co in 0..cout {
            let src = (n * cout + co) * hw;
            let dst = (n * total + offset + co) * hw;
            out[dst..dst + hw].copy_from_slice(&dense[src..src + hw]);
        }
    }
    out
}

/// Runs `p` on the GPU with every tiling and compares with the reference. The output buffer is
/// pre-filled with a sentinel so a write outside the channel slice is caught.
fn check(label: &str, p: Conv2dParams, seed: u64) {
    let mut rng = Lcg::new(seed);
    let x = rng.vec(p.input_len() as usize);
    let w = rng.vec(p.weight_len() as usize);
    let b = rng.vec(p.out_channels as usize);
    let sentinel = 7.5f32;
    let want = expected_destination(&p, &conv_reference(&p, &x, &w, &b), sentinel);

    let (xb, wb, bb) = (upload(&x), upload(&w), upload(&b));
    for tiling in with_device_subgroup(&TILINGS) {
        let k = conv::conv2d(&p, &tiling).unwrap_or_else(|e| panic!("{label}: {e}"));
        let yb = upload(&vec![sentinel; p.output_len() as usize]);
        let mut bufs = vec![&xb, &wb];
        if p.bias {
            bufs.push(&bb);
        }
        bufs.push(&yb);
        let got = rt()
            .run_and_read(&[Dispatch::new(&k, &bufs)], &[&yb])
            .expect("run");
        assert_close(&format!("{label} {tiling:?}"), &got[0], &want);
    }
}

#[test]
fn conv3x3_s1_p1() {
    check(
        "3x3 s1 p1, rgb input",
        Conv2dParams::new(1, 3, (9, 9), 24, 3).with_padding(1),
        1,
    );
    check(
        "3x3 s1 p1, 24 ch",
        Conv2dParams::new(2, 24, (8, 8), 24, 3).with_padding(1),
        2,
    );
}

#[test]
fn conv3x3_s2_p1() {
    check(
        "3x3 s2 p1",
        Conv2dParams::new(2, 24, (9, 9), 96, 3)
            .with_stride(2)
            .with_padding(1),
        3,
    );
}

#[test]
fn conv1x1_s1() {
    check(
        "1x1 s1 bias",
        Conv2dParams::new(2, 96, (7, 7), 24, 1).with_bias(true),
        4,
    );
}

#[test]
fn conv1x1_s2() {
    check(
        "1x1 s2 bias",
        Conv2dParams::new(2, 24, (8, 8), 96, 1)
            .with_stride(2)
            .with_bias(true),
        5,
    );
}

#[test]
fn conv5x5_s1_p2() {
    check(
        "5x5 s1 p2 bias",
        Conv2dParams::new(1, 16, (8, 8), 24, 5)
            .with_padding(2)
            .with_bias(true),
        6,
    );
}

#[test]
fn conv_groups() {
    check(
        "depthwise 3x3",
        Conv2dParams::new(2, 24, (6, 6), 24, 3)
            .with_padding(1)
            .with_groups(24),
        7,
    );
    check(
        "3 groups 3x3",
        Conv2dParams::new(1, 24, (5, 7), 96, 3)
            .with_padding(1)
            .with_groups(3)
            .with_bias(true),
        8,
    );
}

#[test]
fn conv_fused_activations() {
    for (i, act) in [
        Some(Activation::RELU),
        Some(Activation::LEAKY_RELU),
        Some(Activation::TANH),
        Some(Activation::GELU),
    ]
    .into_iter()
    .enumerate()
    {
        let p = Conv2dParams::new(1, 3, (6, 5), 24, 3)
            .with_padding(1)
            .with_bias(true)
            .with_activation(act);
        check(&format!("3x3 + {act:?}"), p, 10 + i as u64);
    }
}

#[test]
fn conv_writes_into_channel_slice() {
    // DenseNet/GoogleNet style: the conv fills channels [16, 40) of a 64-channel concat buffer.
    let p = Conv2dParams::new(2, 24, (5, 5), 24, 3)
        .with_padding(1)
        .with_output_slice(16, 64);
    check("3x3 into slice", p, 20);
    // A slice at the very end, with bias and a fused activation.
    let p = Conv2dParams::new(1, 8, (4, 6), 12, 1)
        .with_bias(true)
        .with_activation(Some(Activation::RELU))
        .with_output_slice(20, 32);
    check("1x1 into last slice", p, 23);
}

#[test]
fn conv_long_reduction_stays_under_lavapipe_loop_cap() {
    // K = 184 * 3 * 3 = 1656, DenseNet's widest conv input, with tiles up to 8x8. Had the
    // window or tile loops stayed runtime loops, (k, i, j) steps would pass 65,535 per
    // invocation and lavapipe would silently truncate them.
    let p = Conv2dParams::new(1, 184, (4, 4), 16, 3).with_padding(1);
    check("K=1656", p, 21);
}

#[test]
fn conv_batch_one_odd_everything() {
    check(
        "odd",
        Conv2dParams::new(1, 5, (11, 3), 7, 3)
            .with_stride(2)
            .with_padding(1)
            .with_bias(true),
        22,
    );
}

/// Shapes the row kernel accepts (widths multiple of 4, stride 1 or up to the window), odd in
/// everything else: rgb input, a height that leaves partial row tiles, groups, a 5x5 window, a
/// 1x1 conv with bias, an output channel slice, batch 1, and strided windows whose first tap
/// lies in the previous vector (3x3 and 4x4, padding 1) or in the quad's own (2x2, no padding).
fn row_kernel_shapes() -> Vec<(&'static str, Conv2dParams)> {
    vec![
        (
            "rows 3x3 rgb",
            Conv2dParams::new(1, 3, (5, 12), 24, 3).with_padding(1),
        ),
        (
            "rows 3x3 groups",
            Conv2dParams::new(2, 24, (7, 8), 96, 3)
                .with_padding(1)
                .with_groups(3),
        ),
        (
            "rows 5x5 p2 bias relu",
            Conv2dParams::new(1, 5, (6, 12), 7, 5)
                .with_padding(2)
                .with_bias(true)
                .with_activation(Some(Activation::RELU)),
        ),
        (
            "rows 1x1 slice",
            Conv2dParams::new(3, 96, (3, 4), 24, 1)
                .with_bias(true)
                .with_output_slice(5, 40),
        ),
        (
            "rows 3x3 s2 p1",
            Conv2dParams::new(2, 5, (7, 16), 12, 3)
                .with_stride(2)
                .with_padding(1),
        ),
        (
            "rows 4x4 s2 p1 bias",
            Conv2dParams::new(1, 3, (8, 16), 6, 4)
                .with_stride(2)
                .with_padding(1)
                .with_bias(true),
        ),
        (
            "rows 2x2 s2",
            Conv2dParams::new(2, 8, (6, 8), 10, 2).with_stride(2),
        ),
    ]
}

#[test]
fn row_kernel_odd_shapes() {
    for (i, (label, p)) in row_kernel_shapes().into_iter().enumerate() {
        check(label, p, 100 + i as u64);
    }
}

/// Every tiling the tuner may choose (software and GPU candidate lists) computes the same conv,
/// on shapes that take the row kernel and shapes that do not — bit for bit: both forward
/// kernels sum in the same order whatever the tiling, so tuning cannot change a forward result.
#[test]
fn every_tuning_candidate_is_correct() {
    use netc::codegen::tiling::{ConvKind, TileRequest, candidates};
    let mut shapes = row_kernel_shapes();
    shapes.push((
        "generic 3x3 s2 odd",
        Conv2dParams::new(2, 5, (9, 7), 24, 3)
            .with_stride(2)
            .with_padding(1),
    ));
    for (i, (label, p)) in shapes.into_iter().enumerate() {
        let request = TileRequest::new(ConvKind::Forward, &p);
        let mut rng = Lcg::new(200 + i as u64);
        let x = rng.vec(p.input_len() as usize);
        let w = rng.vec(p.weight_len() as usize);
        let b = rng.vec(p.out_channels as usize);
        let want = expected_destination(&p, &conv_reference(&p, &x, &w, &b), 7.5);
        let (xb, wb, bb) = (upload(&x), upload(&w), upload(&b));
        let mut first: Option<Vec<f32>> = None;
        for software in [true, false] {
            for tiling in with_device_subgroup(&candidates(&request, software)) {
                let k = conv::conv2d(&p, &tiling).unwrap_or_else(|e| panic!("{label}: {e}"));
                let yb = upload(&vec![7.5; p.output_len() as usize]);
                let mut bufs = vec![&xb, &wb];
                if p.bias {
                    bufs.push(&bb);
                }
                bufs.push(&yb);
                let got = rt()
                    .run_and_read(&[Dispatch::new(&k, &bufs)], &[&yb])
                    .expect("run");
                assert_close(&format!("{label} {tiling:?}"), &got[0], &want);
                let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                match &first {
                    None => first = Some(got[0].clone()),
                    Some(f) => assert!(
                        bits(f) == bits(&got[0]),
                        "{label}: {tiling:?} differs bitwise from the first candidate"
                    ),
                }
            }
        }
    }
}

/// CPU Vulkan drivers (lavapipe, the CI device) report a fixed subgroup size and get row kernels
/// that share weight loads across a subgroup, so the checks above cover that variant there;
/// GPUs get the portable kernels.
#[test]
fn row_kernels_share_weight_loads_on_cpu_drivers_only() {
    use netc::codegen::tiling::{ConvKind, TileRequest, default_tiling};
    let ctx = rt().context();
    let cpu_vulkan = ctx.is_software() && ctx.adapter_info().backend == wgpu::Backend::Vulkan;
    assert_eq!(
        ctx.subgroup_size().is_some(),
        cpu_vulkan,
        "{}: subgroup size {:?}",
        ctx.describe(),
        ctx.subgroup_size()
    );
    let p = Conv2dParams::new(2, 16, (8, 8), 16, 3).with_padding(1);
    let t =
        default_tiling(&TileRequest::new(ConvKind::Forward, &p)).with_subgroup(ctx.subgroup_size());
    let k = conv::conv2d(&p, &t).expect("conv2d");
    // The call, not the template's comment that explains it.
    assert_eq!(k.wgsl.contains("subgroupBroadcast("), cpu_vulkan);
}

#[test]
fn conv_non_square_windows() {
    for (i, w) in NON_SQUARE_WINDOWS.into_iter().enumerate() {
        check(
            &format!("{w:?}"),
            Conv2dParams::new(2, 6, (9, 8), 8, 1)
                .with_window(w)
                .with_bias(true),
            40 + i as u64,
        );
    }
}
