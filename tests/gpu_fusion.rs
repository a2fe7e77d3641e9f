//! Fusion on the GPU (lavapipe in CI): the plan of the fused graph computes what the plan
//! of the unfused graph computes — inference outputs, and a training step's loss and
//! updated parameters — for a small residual model with each fusable activation and for
//! ResNet, at batch 2; and it has fewer dispatches.

use crate::common;

use netc::codegen::plan::Options;
use netc::diag::Sources;
use netc::elab::Elaborated;
use netc::ir::Graph;
use netc::runtime::{Runtime, model::DeviceModel};
use netc::tensor::{Tensor, TensorMap};
use netc::{autodiff, params, pipeline};
use std::collections::HashMap;

const SMALL: &str = "
model Small(act = relu) {
  input x: [3, 8, 8]
  y = x |> conv(4, k = 3, pad = 1, bias = false) |> bn |> act
  z = y |> conv(4, k = 3, pad = 1, bias = false) |> bn
  return act(z + y) |> bn |> act |> global_avg_pool |> flatten |> linear(3)
}
train { optimizer = sgd(lr = 0.1, momentum = 0.9, weight_decay = 1e-4) }
";

/// Two residual blocks whose shortcuts add gradient parts: `s`'s gradient is the shortcut's
/// plus its batch norm's input gradient (pre-activation), `x1`'s the shortcut's plus a conv's
/// input gradient (post-activation); `fuse_grad_accumulation` folds the first add into
/// `batch_norm_grad_input` and the second into `conv2d_grad_input`.
const PRE_ACTIVATION: &str = "
model Residual() {
  input x: [3, 8, 8]
  s = x |> conv(4, k = 3, pad = 1, bias = false)
  y = s |> bn |> relu |> conv(4, k = 3, pad = 1, bias = false)
  x1 = y + s
  z = x1 |> conv(4, k = 3, pad = 1, bias = false) |> bn |> relu
  return (z + x1) |> bn |> relu |> global_avg_pool |> flatten |> linear(3)
}
train { optimizer = adamw(lr = 0.01, weight_decay = 1e-2) }
";

const BATCH: usize = 2;

fn runtime() -> Runtime {
    Runtime::open().unwrap_or_else(|e| panic!("GPU tests need an adapter: {e}"))
}

fn small(act: &str) -> Elaborated {
    let mut sources = Sources::new();
    pipeline::front_end_str(&mut sources, "small.net", SMALL, &[format!("act={act}")])
        .expect("small model")
}

/// Deterministic inputs in [-1, 1).
fn input(dims: Vec<usize>, seed: u64) -> Tensor {
    let mut s = seed;
    let n = dims.iter().product();
    let data = (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f64 / (1u64 << 24) as f64 * 2.0 - 1.0) as f32
        })
        .collect();
    Tensor::new(dims, data)
}

/// Running the unfused and the fused plan of `g` once each from the same state:
/// (outputs, parameters afterwards) of both, and both plans' dispatch counts.
struct Pair {
    outputs: [Vec<(String, Tensor)>; 2],
    params: [TensorMap; 2],
    dispatches: [usize; 2],
}

fn run_both(rt: &Runtime, g: &Graph, state: &TensorMap, inputs: &HashMap<String, Tensor>) -> Pair {
    let fused = pipeline::optimise(g).expect("passes");
    let mut outputs = [Vec::new(), Vec::new()];
    let mut params = [TensorMap::new(), TensorMap::new()];
    let mut dispatches = [0; 2];
    for (i, graph) in [g, &fused].into_iter().enumerate() {
        let p = netc::pipeline::plan(graph, BATCH, &Options::default()).expect("lowers");
        dispatches[i] = p.steps.len();
        let dm = DeviceModel::new(rt, p, state).expect("uploads");
        outputs[i] = dm.run(inputs).expect("runs");
        params[i] = dm.read_params().expect("reads back");
    }
    Pair {
        outputs,
        params,
        dispatches,
    }
}

/// `max |fused - unfused| / max |unfused|`, the scale floored at 1e-3 (a momentum buffer
/// of exact-zero gradient is rounding noise).
fn rel(fused: &Tensor, unfused: &Tensor) -> f64 {
    common::rel_error_floor(fused, unfused, 1e-3)
}

fn check(what: &str, pair: &Pair) {
    assert!(
        pair.dispatches[1] < pair.dispatches[0],
        "{what}: fusion saved no dispatch ({:?})",
        pair.dispatches
    );
    for ((name, u), (_, f)) in pair.outputs[0].iter().zip(&pair.outputs[1]) {
        let e = rel(f, u);
        assert!(e <= 1e-5, "{what}: output {name} differs by {e:e}");
    }
    for (name, u) in &pair.params[0] {
        let e = rel(&pair.params[1][name], u);
        assert!(e <= 1e-5, "{what}: {name} differs by {e:e} after the step");
    }
}

fn inference(rt: &Runtime, what: &str, e: &Elaborated) {
    let state = params::init(&e.graph, &e.recipe.init, 2);
    let inputs = HashMap::from([(
        "x".to_string(),
        input(
            std::iter::once(BATCH)
                .chain(e.graph.node(e.graph.inputs_of_model()[0]).ty.dims.clone())
                .collect(),
            7,
        ),
    )]);
    check(
        &format!("{what} inference"),
        &run_both(rt, &e.graph, &state, &inputs),
    );
}

fn training_step(rt: &Runtime, what: &str, e: &Elaborated) {
    let t = autodiff::build(&e.graph, &e.recipe.optimizer).expect("training graph");
    let state = params::init(&t.graph, &e.recipe.init, 2);
    let x_dims = std::iter::once(BATCH)
        .chain(e.graph.node(e.graph.inputs_of_model()[0]).ty.dims.clone())
        .collect();
    let mut inputs = HashMap::from([
        ("x".to_string(), input(x_dims, 9)),
        (
            "labels".to_string(),
            Tensor::new(vec![BATCH], vec![1.0, 0.0]),
        ),
        ("lr".to_string(), Tensor::new(vec![], vec![0.05])),
    ]);
    if t.graph
        .inputs_of_model()
        .iter()
        .any(|&i| matches!(&t.graph.node(i).op, netc::ir::Op::Input { name } if name == "step"))
    {
        inputs.insert("step".to_string(), Tensor::new(vec![], vec![1.0]));
    }
    check(
        &format!("{what} training step"),
        &run_both(rt, &t.graph, &state, &inputs),
    );
}

#[test]
fn fused_plans_equal_unfused_plans_for_a_small_model() {
    let rt = runtime();
    for a in netc::ops::activation::Activation::all() {
        let act = a.name();
        let e = small(act);
        inference(&rt, act, &e);
        // An activation whose derivative needs its input (gelu) fuses for inference only.
        if a.derivative_from_output() {
            training_step(&rt, act, &e);
        }
    }
}

#[test]
fn fused_plans_equal_unfused_plans_for_resnet() {
    let rt = runtime();
    let e = common::elaborate(&common::model_path("resnet"), &[]);
    inference(&rt, "resnet", &e);
    training_step(&rt, "resnet", &e);
}

#[test]
fn fused_gradient_accumulations_equal_the_unfused_adds() {
    let rt = runtime();
    let mut sources = Sources::new();
    let e = pipeline::front_end_str(&mut sources, "preact.net", PRE_ACTIVATION, &[])
        .expect("pre-activation model");
    let t = autodiff::build(&e.graph, &e.recipe.optimizer).expect("training graph");
    let fused = pipeline::optimise(&t.graph).expect("passes");
    let accumulating: Vec<&str> = fused
        .node_ids()
        .filter_map(|id| match &fused.node(id).op {
            netc::ir::Op::Train(op) if op.accumulator().is_some() => Some(op.name()),
            _ => None,
        })
        .collect();
    assert!(
        accumulating.contains(&"batch_norm_grad_input")
            && accumulating.contains(&"conv2d_grad_input"),
        "both kinds of accumulating op: {accumulating:?}"
    );
    training_step(&rt, "pre-activation block", &e);
}
