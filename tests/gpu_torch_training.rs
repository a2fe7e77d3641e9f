//! The four seed models' training steps on the GPU (lavapipe in CI) against PyTorch's
//! float64 results (tools/make_fixtures.py): the first step's loss within 1e-4, and
//! every parameter and BN running statistic after three optimizer steps within 1e-3
//! relative, or twice PyTorch float32's own error where that is larger (the first
//! layers, where batch-norm backward cancels: ResNet's `conv1.weight` strays 2.8e-3 on
//! the GPU and about as much in PyTorch float32).
//!
//! The exact comparison is tests/torch_training.rs: the reference interpreter in f64
//! matches these fixtures to ~1e-11. The GPU computes in f32, and two models have
//! values that f32 rounding puts on the other side of a kink: DenseNet (ReLU) has a
//! ReLU input within 1e-6 of zero, GoogleNet max-pool near-ties, which move a few
//! tensors by up to 1.4e-2 (DenseNet, `dense_block.0.dense_layer.4.bn1.bias`) and
//! 1.6e-2 (GoogleNet, `inception.4.b1x1.bn1.bias`) after three AdamW steps (AdamW turns
//! a near-zero gradient of the other sign into a full step). Those two get 2e-2; the
//! same DenseNet with tanh, which has no kink, meets the common bound. Measured on
//! lavapipe; the worst tensor of each model is printed (`--nocapture`). On an NVIDIA H100
//! (same plan, the driver's own f32 division and square root) GoogleNet's
//! `inception.3.b5x5.conv1.weight` strayed 2.02e-2, where lavapipe strays 1.3e-2 and
//! PyTorch float32 itself 1.0e-2; dozens of GoogleNet's tensors sit near 1e-2 in PyTorch
//! float32 too, so GoogleNet gets 3e-2.

use crate::common;

use crate::common::rel_error;
use netc::codegen::plan::Options;
use netc::diag::Sources;
use netc::runtime::{Runtime, model::DeviceModel};
use netc::tensor::Tensor;
use netc::{autodiff, pipeline};
use std::collections::HashMap;
use std::path::Path;

fn check(fixture: &str, stem: &str, overrides: &[&str], tol: f64) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let f = common::fixture(fixture);
    let prefixed = |p: &str| common::with_prefix(&f, p);
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    let mut sources = Sources::new();
    let model = pipeline::front_end(
        &mut sources,
        &root.join(format!("models/{stem}.net")),
        &overrides,
    )
    .expect("model");
    let train = autodiff::build(&model.graph, &model.recipe.optimizer).expect("training graph");
    let mut state = prefixed("param:");
    for (name, id) in train.graph.params() {
        state
            .entry(name)
            .or_insert_with(|| Tensor::zeros(train.graph.node(id).ty.dims.clone()));
    }
    let x = f["train.input"].clone();
    let batch = x.dims[0];
    let rt = Runtime::open().unwrap_or_else(|e| panic!("GPU tests need an adapter: {e}"));
    let plan = netc::pipeline::plan(&train.graph, batch, &Options::default())
        .expect("training graph lowers");
    let dm = DeviceModel::new(&rt, plan, &state).expect("uploads");
    let lr = model.recipe.optimizer.lr() as f32;
    for step in 1..=3 {
        let inputs = HashMap::from([
            ("x".to_string(), x.clone()),
            ("labels".to_string(), f["train.labels"].clone()),
            ("lr".to_string(), Tensor::new(vec![], vec![lr])),
            ("step".to_string(), Tensor::new(vec![], vec![step as f32])),
        ]);
        let out = dm.run(&inputs).expect("step runs");
        if step == 1 {
            let loss = &out.iter().find(|(n, _)| n == "loss").expect("loss").1;
            let e = rel_error(&Tensor::new(vec![], loss.data.clone()), &f["train.loss"]);
            assert!(
                e < 1e-4,
                "{stem}: GPU loss {} vs PyTorch {}",
                loss.data[0],
                f["train.loss"].data[0]
            );
        }
    }
    let after = dm.read_params().expect("read back");
    // A conv bias that feeds batch norm has an exactly-zero gradient; under AdamW its
    // three steps follow the sign of rounding noise, on the GPU as in PyTorch float32.
    let g = &model.graph;
    let noise_only: Vec<String> = g
        .node_ids()
        .filter(|&id| matches!(g.node(id).op, netc::ir::Op::Conv2d { bias: true, .. }))
        .filter(|&id| {
            g.users(id)
                .iter()
                .all(|&u| matches!(g.node(u).op, netc::ir::Op::BatchNorm { .. }))
        })
        .filter_map(|id| g.param_name(g.inputs(id)[2]))
        .collect();
    let adam = !matches!(
        model.recipe.optimizer,
        netc::elab::recipe::Optimizer::Sgd { .. }
    );
    let mut worst = (0f64, String::new());
    for (name, want) in prefixed("step3:") {
        if adam && noise_only.iter().any(|n| name.starts_with(n.as_str())) {
            continue;
        }
        let e = rel_error(&after[&name], &want);
        let e32 = f[&format!("err32:step3:{name}")].data[0] as f64;
        assert!(
            e < tol.max(2.0 * e32),
            "{stem}: {name} after 3 GPU steps differs from PyTorch by {e:e}"
        );
        if e > worst.0 {
            worst = (e, name);
        }
    }
    eprintln!(
        "{stem}: worst error after 3 GPU steps {:e} ({})",
        worst.0, worst.1
    );
}

#[test]
fn resnet_trains_on_the_gpu_like_pytorch() {
    check("resnet", "resnet", &[], 1e-3);
}

#[test]
fn preact_resnet_trains_on_the_gpu_like_pytorch() {
    check("preact_resnet", "preact_resnet", &[], 1e-3);
}

#[test]
fn googlenet_trains_on_the_gpu_like_pytorch() {
    check("googlenet", "googlenet", &[], 3e-2);
}

#[test]
fn densenet_trains_on_the_gpu_like_pytorch() {
    check("densenet", "densenet", &[], 2e-2);
}

#[test]
fn densenet_with_tanh_trains_on_the_gpu_like_pytorch() {
    check("densenet_tanh", "densenet", &["act=tanh"], 1e-3);
}
