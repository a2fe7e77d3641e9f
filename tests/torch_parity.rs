//! Parity with PyTorch: the seed's four models, built in PyTorch by
//! `tools/make_fixtures.py`, evaluated on the same weights and inputs by netc's CPU
//! reference interpreter. Logits must agree within 1e-4 relative error.
//!
//! Relative error here is `max |ours - theirs| / max |theirs|` over the tensor: an
//! elementwise ratio would blow up on logits near zero.

use crate::common::{fixture, rel_error, with_prefix};
use netc::diag::Sources;
use netc::{params, pipeline, reference};
use std::collections::HashMap;
use std::path::Path;

fn check_logits(stem: &str) {
    let f = fixture(stem);
    let mut sources = Sources::new();
    let model_path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("models/{stem}.net"));
    let model = pipeline::front_end(&mut sources, &model_path, &[]).expect("model elaborates");
    let weights = with_prefix(&f, "param:");
    params::check_against(&model.graph, &weights, stem).expect("fixture covers every parameter");
    let inputs = HashMap::from([("x".to_string(), f["input"].clone())]);
    let outputs = reference::run(&model.graph, &weights, &inputs).expect("reference runs");
    let err = rel_error(&outputs[0].1, &f["logits"]);
    assert!(
        err < 1e-4,
        "{stem}: logits differ from PyTorch by {err:e} (relative)"
    );
}

#[test]
fn resnet_logits_match_pytorch() {
    check_logits("resnet");
}

#[test]
fn preact_resnet_logits_match_pytorch() {
    check_logits("preact_resnet");
}

#[test]
fn googlenet_logits_match_pytorch() {
    check_logits("googlenet");
}

#[test]
fn densenet_logits_match_pytorch() {
    check_logits("densenet");
}
