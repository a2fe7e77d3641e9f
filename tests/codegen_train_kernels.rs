//! Every training kernel, of every family, over many shapes without a device: each validates
//! with naga, binds as it declares, stays within the workgroup limits, and refuses bad
//! parameters with an error. The kernels' results on the GPU are tested with their families
//! in `tests/ops/` (and the bias gradient in `gpu_bias_grad.rs`).

use netc::codegen::kernels::Elem;
use netc::codegen::kernels::{BindingKind, KernelSource, MAX_WORKGROUPS_PER_DIM, validate_wgsl};
use netc::ops::activation::{self, Activation};
use netc::ops::elementwise::grad_kernel as slice;
use netc::ops::loss::train_kernel as loss;
use netc::ops::norm::train_kernel as norm_train;
use netc::ops::optim::kernel as optim;
use netc::ops::pool::{Pool2dParams, grad_kernel as pool_grad};

// ---- device-free: naga validation over many shapes ----

fn all_train_kernels() -> Vec<KernelSource> {
    let mut out = Vec::new();
    let shapes = [
        [1u32, 1, 1, 1],
        [2, 3, 5, 5],
        [128, 64, 32, 32],
        [130, 2, 32, 32],
        [1, 184, 4, 4],
        [7, 5, 3, 11],
        [2048, 1, 1, 1],
    ];
    for [n, c, h, w] in shapes {
        for r in [
            norm_train::batch_stats(n, c, h, w).expect("stats"),
            norm_train::bn_grad_gamma(n, c, h, w, 1e-5, None, Elem::F32).expect("dgamma"),
        ] {
            out.push(r.partial);
            out.push(r.finish);
        }
        out.push(norm_train::batch_norm_train(n, c, h, w, 1e-5, None, Elem::F32).expect("bn"));
        out.push(norm_train::bn_grad_input(n, c, h, w, 1e-3, None, false, Elem::F32).expect("dx"));
        out.push(pool_grad::global_avg_pool_grad(n, c, h, w, Elem::F32).expect("gap"));
        out.push(slice::channel_slice(n, c + 3, h * w, 2, c, Elem::F32).expect("slice"));
        for row in 0..3 {
            out.push(norm_train::running_update(c, 0.1, row).expect("running"));
        }
    }
    for act in Activation::all() {
        for len in [1u64, 1000, 128 * 64 * 32 * 32] {
            out.push(activation::kernel::activation_grad(len, act, Elem::F32).expect("act"));
        }
    }
    for (k, s, p) in [
        (3, 1, 1),
        (3, 2, 1),
        (2, 2, 0),
        (5, 1, 2),
        (1, 1, 0),
        (3, 3, 0),
    ] {
        for (n, c, hw) in [(1, 1, 5), (2, 24, 9), (128, 64, 32)] {
            let params = Pool2dParams::new(n, c, (hw, hw), k, s, p);
            let max = pool_grad::max_pool2d_grad(&params).expect("max");
            out.push(max.argmax);
            out.push(max.gather);
            out.push(pool_grad::avg_pool2d_grad(&params).expect("avg"));
        }
    }
    for (n, k) in [(1, 1), (1, 10), (128, 10), (2048, 10), (256, 1000), (37, 3)] {
        out.push(loss::softmax_cross_entropy(n, k, Elem::F32).expect("loss"));
        out.push(loss::softmax_cross_entropy_grad(n, k, Elem::F32, false).expect("dloss"));
        out.push(loss::correct_count(n, k, Elem::F32).expect("count"));
    }
    for len in [1u64, 1000, 23_000_000] {
        out.push(optim::sgd_buffer(len, 0.9, 5e-4).expect("buf"));
        for nesterov in [false, true] {
            out.push(optim::sgd_step(len, 0.9, 5e-4, nesterov).expect("sgd"));
        }
        for square in [false, true] {
            out.push(optim::adam_moment(len, 0.999, square, 0.01).expect("moment"));
        }
        out.push(optim::adam_step(len, 0.9, 0.999, 1e-8, 0.01).expect("adam"));
        out.push(optim::adam_step(len, 0.3, 0.4, 1e-8, 0.0).expect("adam"));
    }
    out
}

#[test]
fn every_train_kernel_validates_with_naga() {
    let kernels = all_train_kernels();
    assert!(kernels.len() > 150, "grid shrank: {}", kernels.len());
    for k in &kernels {
        if let Err(e) = validate_wgsl(&k.wgsl) {
            panic!("kernel `{}` is invalid WGSL:\n{e}", k.name);
        }
        assert!(k.bindings.len() <= 8, "{}: more than 8 bindings", k.name);
        for i in 0..k.bindings.len() {
            assert!(k.wgsl.contains(&format!("@binding({i})")), "{}", k.name);
        }
        assert!(!k.wgsl.contains(&format!("@binding({})", k.bindings.len())));
        assert_eq!(
            k.bindings.last(),
            Some(&BindingKind::ReadWrite),
            "{}",
            k.name
        );
        assert_eq!(k.wgsl.matches("read_write>").count(), 1, "{}", k.name);
        assert!(
            k.workgroups
                .iter()
                .all(|&n| (1..=MAX_WORKGROUPS_PER_DIM).contains(&n)),
            "{}: {:?}",
            k.name,
            k.workgroups
        );
        assert!(k.invocations_per_workgroup() <= 256, "{}", k.name);
        assert!(k.wgsl.starts_with("//!"), "{}", k.name);
    }
}

#[test]
fn bad_parameters_are_errors() {
    assert!(norm_train::batch_stats(0, 1, 1, 1).is_err());
    assert!(norm_train::batch_stats(u32::MAX, u32::MAX, 2, 2).is_err());
    assert!(norm_train::running_update(3, 0.1, 3).is_err());
    assert!(norm_train::bn_grad_input(1, 1, 1, 1, f32::INFINITY, None, false, Elem::F32).is_err());
    assert!(slice::channel_slice(1, 8, 4, 6, 3, Elem::F32).is_err());
    assert!(slice::channel_slice(1, 8, 4, u32::MAX, 3, Elem::F32).is_err());
    assert!(activation::kernel::activation_grad(0, Activation::RELU, Elem::F32).is_err());
    assert!(pool_grad::max_pool2d_grad(&Pool2dParams::new(1, 1, (8, 8), 2, 2, 2)).is_err());
    assert!(pool_grad::avg_pool2d_grad(&Pool2dParams::new(1, 1, (u32::MAX, 8), 3, 1, 1)).is_err());
    assert!(loss::softmax_cross_entropy(0, 10, Elem::F32).is_err());
    // 20,000 classes: 40,000 loop iterations per row, above the budget.
    assert!(loss::softmax_cross_entropy(1, 20_000, Elem::F32).is_err());
    assert!(optim::adam_step(4, 1.0, 0.999, 1e-8, 0.0).is_err());
    assert!(optim::sgd_buffer(4, f32::NAN, 0.0).is_err());
}
