//! The four seed models end to end on the GPU (lavapipe in CI): the compiled plan's
//! logits equal PyTorch's (fixtures from `tools/make_fixtures.py`) within 1e-4
//! relative error (`max |ours - theirs| / max |theirs|`).
//!
//! There is no skipping: without a GPU adapter these tests fail and say how to get one.

use crate::common;

use crate::common::rel_error;
use netc::codegen::plan::Options;
use netc::diag::Sources;
use netc::pipeline;
use netc::runtime::{Runtime, model::DeviceModel};
use std::collections::HashMap;
use std::path::Path;

fn runtime() -> Runtime {
    Runtime::open().unwrap_or_else(|e| panic!("GPU tests need an adapter: {e}"))
}

fn check(stem: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let f = common::fixture(stem);
    let weights = common::with_prefix(&f, "param:");
    let mut sources = Sources::new();
    let model = pipeline::front_end(&mut sources, &root.join(format!("models/{stem}.net")), &[])
        .expect("model");
    let input = f["input"].clone();
    let plan =
        netc::pipeline::plan(&model.graph, input.dims[0], &Options::default()).expect("lowers");
    let rt = runtime();
    let dm = DeviceModel::new(&rt, plan, &weights).expect("uploads");
    let out = dm
        .run(&HashMap::from([("x".to_string(), input)]))
        .expect("runs");
    let err = rel_error(&out[0].1, &f["logits"]);
    assert!(
        err < 1e-4,
        "{stem}: GPU logits differ from PyTorch by {err:e}"
    );
}

#[test]
fn resnet_on_gpu_matches_pytorch() {
    check("resnet");
}

#[test]
fn preact_resnet_on_gpu_matches_pytorch() {
    check("preact_resnet");
}

#[test]
fn googlenet_on_gpu_matches_pytorch() {
    check("googlenet");
}

#[test]
fn densenet_on_gpu_matches_pytorch() {
    check("densenet");
}
