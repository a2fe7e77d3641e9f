//! Device-free code generation checks: every kernel the generators can produce (over a broad
//! grid of ops, shapes, activations and tilings) is valid WGSL according to naga, bindings and
//! workgroup counts are consistent, bad parameters are rejected with errors, and the generated
//! WGSL of two small kernels is pinned with insta snapshots (review changes with
//! `cargo insta review`, or accept with `INSTA_UPDATE=always cargo test`).

use crate::gpu_common::epilogues;
use netc::codegen::kernels::Elem;
use netc::codegen::kernels::{
    BindingKind, Conv2dParams, ConvTiling, KernelError, KernelSource, MAX_WORKGROUPS_PER_DIM,
    validate_wgsl,
};
use netc::ops::activation::{self, Activation};
use netc::ops::conv::kernel as conv;
use netc::ops::elementwise::kernel as elementwise;
use netc::ops::linear::kernel as linear;
use netc::ops::loss::kernel as softmax;
use netc::ops::norm::kernel as norm;
use netc::ops::pool::{Pool2dParams, kernel as pool};

/// Every kernel family over a grid of parameters, including the seed models' layers.
fn all_kernels() -> Vec<KernelSource> {
    let mut out = Vec::new();
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
        // The row kernel, portable and with weight loads shared across subgroups of 8 lanes
        // (one and two subgroups per workgroup).
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
            tm: 16,
            tn: 16,
            wg_m: 8,
            wg_n: 1,
            split_target: 8192,
            subgroup: 8,
            shared: false,
            depth: 8,
        },
        ConvTiling {
            tm: 12,
            tn: 5,
            wg_m: 16,
            wg_n: 1,
            split_target: 8192,
            subgroup: 8,
            shared: false,
            depth: 8,
        },
        // Staged through workgroup memory (the GPU kernels): a square block in 8-deep slices
        // and a ragged one in 16-deep slices.
        ConvTiling {
            tm: 8,
            tn: 8,
            wg_m: 16,
            wg_n: 16,
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
    let convs = [
        Conv2dParams::new(128, 3, (32, 32), 64, 3)
            .with_padding(1)
            .with_bias(true),
        Conv2dParams::new(128, 16, (32, 32), 32, 3)
            .with_stride(2)
            .with_padding(1),
        Conv2dParams::new(128, 16, (32, 32), 32, 1)
            .with_stride(2)
            .with_bias(true),
        Conv2dParams::new(128, 184, (4, 4), 32, 1),
        Conv2dParams::new(128, 16, (16, 16), 8, 5)
            .with_padding(2)
            .with_bias(true),
        Conv2dParams::new(2, 24, (7, 7), 24, 3)
            .with_padding(1)
            .with_groups(24),
        Conv2dParams::new(2, 32, (8, 8), 16, 3)
            .with_padding(1)
            .with_output_slice(48, 64),
    ];
    for p in convs {
        for t in &tilings {
            for act in epilogues() {
                out.push(conv::conv2d(&p.with_activation(act), t).expect("conv2d"));
            }
        }
    }
    for act in epilogues() {
        out.push(
            linear::linear(128, 128, 10, true, act, &ConvTiling::default(), Elem::F32)
                .expect("linear"),
        );
        out.push(
            linear::linear(1, 184, 10, false, act, &ConvTiling::default(), Elem::F32)
                .expect("linear"),
        );
        out.push(norm::batch_norm(128, 184, 4, 4, 1e-5, act, Elem::F32).expect("bn"));
        if let Some(a) = act {
            out.push(activation::kernel::activation(1000, a, Elem::F32).expect("act"));
        }
        out.push(elementwise::add(128 * 64 * 8 * 8, act, Elem::F32).expect("add"));
    }
    // More than 65,535 workgroups: exercises the 2D grid split.
    out.push(
        activation::kernel::activation(128 * 64 * 32 * 32 * 4, Activation::RELU, Elem::F32)
            .expect("big act"),
    );
    out.push(elementwise::concat_channels(128, 16, 32 * 32, 48, 64, Elem::F32).expect("concat"));
    for (k, s, p) in [(3, 1, 1), (3, 2, 1), (2, 2, 0)] {
        let pp = Pool2dParams::new(128, 96, (16, 16), k, s, p);
        out.push(pool::max_pool2d(&pp).expect("max"));
        out.push(pool::avg_pool2d(&pp).expect("avg"));
    }
    out.push(pool::global_avg_pool(128, 184, 4, 4, Elem::F32).expect("gap"));
    out.push(pool::global_avg_pool(1, 1, 384, 384, Elem::F32).expect("gap big"));
    out.push(softmax::softmax(128, 10, Elem::F32).expect("softmax"));
    out.push(softmax::softmax(70_000, 1000, Elem::F32).expect("softmax big"));
    out
}

#[test]
fn every_generated_kernel_validates_with_naga() {
    let kernels = all_kernels();
    for k in &kernels {
        if let Err(e) = validate_wgsl(&k.wgsl) {
            panic!("kernel `{}` is invalid WGSL:\n{e}", k.name);
        }
    }
    assert!(kernels.len() > 150, "grid shrank: {}", kernels.len());
}

#[test]
fn bindings_and_dispatch_sizes_are_consistent() {
    for k in all_kernels() {
        // One `@binding(i)` per declared binding, the output last.
        for i in 0..k.bindings.len() {
            assert!(
                k.wgsl.contains(&format!("@binding({i})")),
                "{}: binding {i} missing",
                k.name
            );
        }
        assert!(
            !k.wgsl.contains(&format!("@binding({})", k.bindings.len())),
            "{}: extra binding",
            k.name
        );
        assert_eq!(
            k.bindings.last(),
            Some(&BindingKind::ReadWrite),
            "{}",
            k.name
        );
        assert_eq!(
            k.wgsl.matches("read_write>").count(),
            1,
            "{}: one output",
            k.name
        );
        assert!(
            k.workgroups
                .iter()
                .all(|&n| (1..=MAX_WORKGROUPS_PER_DIM).contains(&n)),
            "{}: {:?}",
            k.name,
            k.workgroups
        );
        assert!(k.invocations_per_workgroup() <= 256, "{}", k.name);
        assert!(!k.wgsl.contains("{{"), "{}: unrendered placeholder", k.name);
    }
}

#[test]
fn invalid_parameters_are_errors() {
    let t = ConvTiling::default();
    let bad_groups = Conv2dParams::new(1, 24, (8, 8), 10, 3).with_groups(4);
    assert!(matches!(
        conv::conv2d(&bad_groups, &t),
        Err(KernelError::InvalidParams { .. })
    ));
    let bad_slice = Conv2dParams::new(1, 3, (8, 8), 24, 3).with_output_slice(10, 30);
    assert!(matches!(
        conv::conv2d(&bad_slice, &t),
        Err(KernelError::InvalidParams { .. })
    ));
    let too_small = Conv2dParams::new(1, 3, (2, 2), 24, 5);
    assert!(conv::conv2d(&too_small, &t).is_err());
    let bad_tile = ConvTiling {
        tm: 0,
        tn: 4,
        wg_m: 8,
        wg_n: 8,
        split_target: 8192,
        subgroup: 0,
        shared: false,
        depth: 8,
    };
    assert!(conv::conv2d(&Conv2dParams::new(1, 3, (8, 8), 4, 3), &bad_tile).is_err());
    // Tiled kernels: quads only, a slice depth they know, a block that fits 16 KiB of
    // workgroup memory.
    let tiled = ConvTiling {
        tm: 8,
        tn: 8,
        wg_m: 16,
        wg_n: 16,
        shared: true,
        ..ConvTiling::default()
    };
    let p = Conv2dParams::new(1, 3, (8, 8), 4, 3);
    assert!(conv::conv2d(&p, &tiled).is_ok());
    for bad in [
        ConvTiling { tm: 6, ..tiled },
        ConvTiling { depth: 0, ..tiled },
        ConvTiling { depth: 12, ..tiled },
        ConvTiling { depth: 16, ..tiled },
    ] {
        assert!(
            matches!(
                conv::conv2d(&p, &bad),
                Err(KernelError::InvalidParams { .. })
            ),
            "{bad:?}"
        );
    }
    // 20,000 input channels would need 20,000 loop iterations per invocation, above the budget:
    // refused, not silently truncated by lavapipe.
    let long = Conv2dParams::new(1, 20_000, (1, 1), 8, 1);
    assert!(matches!(
        conv::conv2d(&long, &t),
        Err(KernelError::LoopTooLong { .. })
    ));
    assert!(
        pool::max_pool2d(&Pool2dParams::new(1, 1, (8, 8), 2, 2, 2)).is_err(),
        "pad > k/2"
    );
    assert!(norm::batch_norm(1, 1, 1, 1, f32::NAN, Some(Activation::RELU), Elem::F32).is_err());
    assert!(softmax::softmax(0, 10, Elem::F32).is_err());
    assert!(elementwise::concat_channels(1, 8, 4, 60, 64, Elem::F32).is_err());
}

/// Sizes near `u32::MAX` (user-written sizes reach the generators unchecked) are errors, never
/// arithmetic-overflow panics.
#[test]
fn absurd_sizes_are_errors_not_overflow_panics() {
    let t = ConvTiling::default();
    for p in [
        Conv2dParams::new(1, 3, (8, 8), 24, 3).with_padding(u32::MAX / 2 + 1),
        Conv2dParams::new(1, 3, (8, 8), 24, 3).with_padding(1 << 30),
        Conv2dParams::new(1, 3, (u32::MAX, 8), 24, 3).with_padding(1),
        Conv2dParams::new(1, 3, (8, 8), 24, 3).with_output_slice(u32::MAX - 5, 30),
        Conv2dParams::new(1, 3, (8, 8), 24, u32::MAX),
    ] {
        assert!(conv::conv2d(&p, &t).is_err(), "{p:?}");
    }
    for p in [
        Pool2dParams::new(1, 1, (8, 8), 2, 2, u32::MAX / 2 + 1),
        Pool2dParams::new(1, 1, (8, 8), u32::MAX, 1, u32::MAX / 2),
        Pool2dParams::new(1, 1, (u32::MAX, 8), 3, 1, 1),
    ] {
        assert!(pool::max_pool2d(&p).is_err(), "{p:?}");
        assert!(pool::avg_pool2d(&p).is_err(), "{p:?}");
    }
    assert!(elementwise::concat_channels(1, 8, 4, u32::MAX - 2, 64, Elem::F32).is_err());
    assert!(elementwise::concat_channels(1, u32::MAX, 4, 8, 64, Elem::F32).is_err());
}

#[test]
fn snapshot_conv2d_3x3() {
    let p = Conv2dParams::new(1, 3, (5, 5), 4, 3)
        .with_padding(1)
        .with_bias(true)
        .with_activation(Some(Activation::RELU));
    let k = conv::conv2d(
        &p,
        &ConvTiling {
            tm: 2,
            tn: 2,
            wg_m: 4,
            wg_n: 2,
            split_target: 8192,
            subgroup: 0,
            shared: false,
            depth: 8,
        },
    )
    .expect("kernel");
    assert_eq!(k.workgroups, [4, 1, 1]);
    insta::assert_snapshot!("conv2d_3x3_s1_p1_bias_relu", k.wgsl);
}

#[test]
fn snapshot_max_pool() {
    let k = pool::max_pool2d(&Pool2dParams::new(1, 2, (5, 5), 3, 2, 1)).expect("kernel");
    insta::assert_snapshot!("max_pool2d_3_s2_p1", k.wgsl);
}
