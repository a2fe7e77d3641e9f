//! Runtime behaviour: limit errors name the size and the limit, mismatched dispatches and invalid
//! shaders are errors (not panics), the pipeline cache reuses pipelines, buffers round-trip, and
//! a missing adapter produces an actionable message.
//!
//! There is no skipping: without a GPU adapter these tests fail and say how to get one.

use crate::gpu_common::{rt, upload};
use netc::codegen::kernels::Elem;
use netc::codegen::kernels::{BindingKind, KernelSource};
use netc::ops::activation::{self, Activation};
use netc::runtime::{Dispatch, GpuError, Runtime};

#[test]
fn adapter_is_described() {
    let ctx = rt().context();
    assert!(!ctx.adapter_info().name.is_empty());
    assert!(ctx.limits().max_storage_buffer_binding_size >= 128 << 20);
    eprintln!("adapter: {}", ctx.describe());
}

#[test]
fn upload_and_read_round_trip() {
    let data: Vec<f32> = (0..1234).map(|i| i as f32 * 0.5 - 3.0).collect();
    let b = upload(&data);
    assert_eq!(rt().read(&b).expect("read"), data);
    rt().write(&b, &vec![1.0; 1234]).expect("write");
    assert_eq!(rt().read(&b).expect("read"), vec![1.0; 1234]);
    assert!(matches!(
        rt().write(&b, &[1.0]),
        Err(GpuError::LengthMismatch { .. })
    ));
    let empty = rt().create_buffer(0).expect("empty");
    assert!(rt().read(&empty).expect("read").is_empty());
}

#[test]
fn buffer_over_the_binding_limit_is_an_error_naming_size_and_limit() {
    let limit = rt().context().limits().max_storage_buffer_binding_size;
    let len = (limit / 4 + 1) as usize;
    let err = rt().create_buffer(len).expect_err("must not allocate");
    let msg = err.to_string();
    assert!(matches!(err, GpuError::BufferTooLarge { .. }), "{msg}");
    assert!(msg.contains(&(len as u64 * 4).to_string()), "{msg}");
    assert!(msg.contains(&limit.to_string()), "{msg}");
    assert!(msg.contains("max_storage_buffer_binding_size"), "{msg}");
}

#[test]
fn wrong_buffer_count_is_an_error() {
    let k = activation::kernel::activation(16, Activation::RELU, Elem::F32).expect("kernel");
    let x = upload(&[0.0; 16]);
    let err = rt()
        .run(&[Dispatch::new(&k, &[&x])])
        .expect_err("one buffer missing");
    assert!(
        matches!(
            err,
            GpuError::BindingCount {
                expected: 2,
                got: 1,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn invalid_shader_is_an_error_not_a_panic() {
    let k = KernelSource {
        name: "broken".into(),
        wgsl: "@compute @workgroup_size(1) fn main() { let x: f32 = undefined_thing; }".into(),
        entry: "main",
        workgroups: [1, 1, 1],
        workgroup_size: [1, 1, 1],
        bindings: vec![BindingKind::ReadWrite],
    };
    let y = upload(&[0.0]);
    let err = rt()
        .run(&[Dispatch::new(&k, &[&y])])
        .expect_err("must fail");
    assert!(matches!(err, GpuError::Wgpu { .. }), "{err}");
    assert!(err.to_string().contains("broken"), "{err}");
    // The runtime is still usable afterwards.
    let ok = activation::kernel::activation(4, Activation::RELU, Elem::F32).expect("kernel");
    let (x, y) = (upload(&[-1.0, 2.0, -3.0, 4.0]), upload(&[0.0; 4]));
    let got = rt()
        .run_and_read(&[Dispatch::new(&ok, &[&x, &y])], &[&y])
        .expect("run");
    assert_eq!(got[0], vec![0.0, 2.0, 0.0, 4.0]);
}

#[test]
fn too_many_workgroups_is_an_error_naming_the_limit() {
    let mut k = activation::kernel::activation(16, Activation::RELU, Elem::F32).expect("kernel");
    let limit = rt().context().limits().max_compute_workgroups_per_dimension;
    k.workgroups = [limit + 1, 1, 1];
    let (x, y) = (upload(&[0.0; 16]), upload(&[0.0; 16]));
    let err = rt()
        .run(&[Dispatch::new(&k, &[&x, &y])])
        .expect_err("must fail");
    assert!(
        err.to_string()
            .contains("max_compute_workgroups_per_dimension"),
        "{err}"
    );
}

#[test]
fn pipeline_cache_reuses_identical_kernels() {
    // A private runtime, so kernels compiled by tests running in parallel do not affect counts.
    let rt = Runtime::open().unwrap_or_else(|e| panic!("GPU tests need a wgpu adapter.\n{e}"));
    let k1 = activation::kernel::activation(777, Activation::TANH, Elem::F32).expect("kernel");
    let k2 = activation::kernel::activation(777, Activation::TANH, Elem::F32).expect("kernel");
    assert_eq!(
        k1, k2,
        "generation is deterministic, so the cache key is stable"
    );
    let (x, y) = (
        rt.upload(&[0.5; 777]).expect("x"),
        rt.upload(&[0.0; 777]).expect("y"),
    );
    rt.run(&[Dispatch::new(&k1, &[&x, &y])]).expect("run");
    assert_eq!(rt.cached_pipelines(), 1);
    rt.run(&[Dispatch::new(&k2, &[&x, &y]), Dispatch::new(&k1, &[&x, &y])])
        .expect("run");
    assert_eq!(rt.cached_pipelines(), 1);
    let k3 = activation::kernel::activation(777, Activation::RELU, Elem::F32).expect("kernel");
    rt.run(&[Dispatch::new(&k3, &[&x, &y])]).expect("run");
    assert_eq!(rt.cached_pipelines(), 2);
}

#[test]
fn no_adapter_message_says_how_to_fix_it() {
    let msg = GpuError::NoAdapter {
        detail: "no suitable adapter".into(),
    }
    .to_string();
    for needle in [
        "Vulkan",
        "Metal",
        "DX12",
        "apt-get install",
        "mesa-vulkan-drivers",
    ] {
        assert!(msg.contains(needle), "{needle} missing from: {msg}");
    }
}
