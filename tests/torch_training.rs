//! Training parity with PyTorch on the CPU reference: for each seed model, the
//! training graph built by autodiff gives PyTorch's loss and every parameter gradient
//! after one step, and PyTorch's parameters and BN running statistics after three
//! optimizer steps (SGD for the ResNets, AdamW for GoogleNet and DenseNet, as in the
//! seed), within 1e-6 relative error (`max |ours - theirs| / max |theirs|` per tensor).
//! Both sides compute in float64 (`tools/make_fixtures.py` runs PyTorch in float64 from
//! float32 parameters and inputs, and the reference interpreter runs the training graph
//! in f64 from the same values), so no value sits on the other side of a kink (a ReLU
//! input near zero, a max-pool near-tie) as f32 rounding can put it; the GPU's f32
//! training step is held to this reference in tests/gpu_training.rs and per kernel.
//!
//! A gradient that is zero in exact arithmetic — a conv bias right before batch norm —
//! is rounding noise on both sides, so each gradient's scale is floored at 1e-4 of the
//! model's largest gradient.

use crate::common;

use crate::common::{max_abs, rel_error, rel_error_floor};
use netc::diag::Sources;
use netc::tensor::Tensor;
use netc::{autodiff, pipeline, reference};
use std::collections::HashMap;
use std::path::Path;

/// `tol`: the bound on the relative error of the loss, each gradient and each tensor
/// after three steps. PyTorch float32's own error (`err32:*`) is printed alongside.
fn check(fixture: &str, stem: &str, overrides: &[&str], tol: f64) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let f = common::fixture64(fixture);
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    let prefixed = |p: &str| common::with_prefix(&f, p);
    let mut sources = Sources::new();
    let model = pipeline::front_end(
        &mut sources,
        &root.join(format!("models/{stem}.net")),
        &overrides,
    )
    .expect("model");
    let train = autodiff::build(&model.graph, &model.recipe.optimizer).expect("training graph");
    netc::ir::verify(&train.graph).expect("training graph verifies");

    let mut state = prefixed("param:");
    for (name, id) in train.graph.params() {
        state
            .entry(name)
            .or_insert_with(|| Tensor::zeros(train.graph.node(id).ty.dims.clone()));
    }
    let lr = model.recipe.optimizer.lr();
    let mut inputs = HashMap::from([
        ("x".to_string(), f["train.input"].clone()),
        ("labels".to_string(), f["train.labels"].clone()),
        ("lr".to_string(), Tensor::new(vec![], vec![lr])),
    ]);
    let mut worst = (0f64, String::new());
    for step in 1..=3 {
        inputs.insert(
            "step".to_string(),
            Tensor::new(vec![], vec![f64::from(step)]),
        );
        let (outputs, values) =
            reference::train_step(&train.graph, &mut state, &inputs).expect("step runs");
        if step == 1 {
            let loss = &outputs
                .iter()
                .find(|(n, _)| n == "loss")
                .expect("loss output")
                .1;
            let e = rel_error(loss, &f["train.loss"]);
            assert!(
                e < tol,
                "{stem}: loss {} vs PyTorch {} ({e:e})",
                loss.data[0],
                f["train.loss"].data[0]
            );
            let grads = prefixed("grad:");
            assert_eq!(
                grads.len(),
                train.grads.len(),
                "{stem}: one gradient per trainable parameter"
            );
            let floor = 1e-4 * grads.values().map(max_abs).fold(0f64, f64::max);
            let mut errs: Vec<(f64, f64, String)> = train
                .grads
                .iter()
                .map(|(name, id)| {
                    (
                        rel_error_floor(&values[id], &grads[name], floor),
                        f[&format!("err32:grad:{name}")].data[0],
                        name.clone(),
                    )
                })
                .collect();
            errs.sort_by(|a, b| b.0.total_cmp(&a.0));
            if std::env::var_os("NETC_GRAD_REPORT").is_some() {
                for (name, id) in &train.grads {
                    eprintln!(
                        "  {name}: {:e}",
                        rel_error_floor(&values[id], &grads[name], floor)
                    );
                }
            }
            for (e, e32, name) in errs.iter().take(6) {
                eprintln!("{stem}: grad {name}: ours {e:e}, pytorch f32 {e32:e}");
            }
            for (e, e32, name) in &errs {
                assert!(
                    *e < tol,
                    "{stem}: gradient of {name} differs from PyTorch by {e:e} (PyTorch f32: {e32:e})"
                );
                if *e > worst.0 {
                    worst = (*e, name.clone());
                }
            }
        }
    }
    for (name, want) in prefixed("step3:") {
        let e = rel_error(&state[&name], &want);
        let e32 = f[&format!("err32:step3:{name}")].data[0];
        assert!(
            e < tol,
            "{stem}: {name} after 3 steps differs from PyTorch by {e:e} (PyTorch f32: {e32:e})"
        );
    }
    eprintln!("{stem}: worst gradient error {:e} ({})", worst.0, worst.1);
}

#[test]
fn resnet_trains_like_pytorch() {
    check("resnet", "resnet", &[], 1e-6);
}

#[test]
fn preact_resnet_trains_like_pytorch() {
    check("preact_resnet", "preact_resnet", &[], 1e-6);
}

#[test]
fn googlenet_trains_like_pytorch() {
    check("googlenet", "googlenet", &[], 1e-6);
}

#[test]
fn densenet_trains_like_pytorch() {
    check("densenet", "densenet", &[], 1e-6);
}

#[test]
fn densenet_with_tanh_trains_like_pytorch() {
    check("densenet_tanh", "densenet", &["act=tanh"], 1e-6);
}
