//! The training graph as a whole: it verifies for every seed model and survives the
//! optimisation passes intact; `--train --emit ir` shows it; a step is deterministic;
//! and a tiny model learns a tiny task on the CPU reference.

use crate::common::two_squares;
use netc::diag::Sources;
use netc::elab::recipe::Optimizer;
use netc::ir::{Op, TrainOp};
use netc::tensor::{Tensor, TensorMap};
use netc::{autodiff, params, pipeline, reference};
use std::collections::HashMap;
use std::path::Path;

fn model(stem: &str) -> netc::elab::Elaborated {
    let mut sources = Sources::new();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("models/{stem}.net"));
    pipeline::front_end(&mut sources, &path, &[]).expect("model")
}

#[test]
fn every_seed_model_has_a_verified_training_graph() {
    for stem in ["resnet", "preact_resnet", "googlenet", "densenet"] {
        let m = model(stem);
        let t = autodiff::build(&m.graph, &m.recipe.optimizer).expect("builds");
        netc::ir::verify(&t.graph).unwrap_or_else(|e| panic!("{stem}: {e}"));
        let trainable = m
            .graph
            .params()
            .iter()
            .filter(
                |(_, id)| matches!(m.graph.node(*id).op, Op::Param { role } if role.trainable()),
            )
            .count();
        assert_eq!(
            t.grads.len(),
            trainable,
            "{stem}: one gradient per trainable parameter"
        );
        let assigns = t
            .graph
            .node_ids()
            .filter(|&id| matches!(t.graph.node(id).op, Op::Train(TrainOp::Assign)))
            .count();
        let state_per_param = if matches!(m.recipe.optimizer, Optimizer::Sgd { .. }) {
            2
        } else {
            3
        };
        let bn = m
            .graph
            .node_ids()
            .filter(|&id| matches!(m.graph.node(id).op, Op::BatchNorm { .. }))
            .count();
        assert_eq!(
            assigns,
            trainable * state_per_param + 2 * bn,
            "{stem}: every parameter, state and running statistic is updated"
        );
        let mut optimised = t.graph.clone();
        optimised = netc::pipeline::optimise(&optimised).expect("passes keep the IR valid");
        // Fusion folds activations, some of their gradients and gradient accumulations
        // (each `add` into the op that then accumulates) into other ops; nothing else may go.
        let kept = |g: &netc::ir::Graph| {
            g.node_ids()
                .filter(|&id| {
                    !matches!(
                        g.node(id).op,
                        Op::Activation(_)
                            | Op::Train(
                                TrainOp::ActivationGrad(_) | TrainOp::ActivationGradFromOutput(_)
                            )
                    )
                })
                .count()
        };
        let accumulating = optimised
            .node_ids()
            .filter(
                |&id| matches!(&optimised.node(id).op, Op::Train(op) if op.accumulator().is_some()),
            )
            .count();
        assert!(
            accumulating > 0,
            "{stem}: no gradient accumulation was folded"
        );
        assert_eq!(
            kept(&optimised) + accumulating,
            kept(&t.graph),
            "{stem}: passes must not drop the backward pass or the updates"
        );
    }
}

#[test]
fn compile_train_emits_the_training_graph() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_netc"))
        .args(["compile", "models/resnet.net", "--train", "--emit", "ir"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for needle in [
        "input \"labels\"",
        "softmax_cross_entropy(",
        "output \"loss\"",
        "output \"correct\"",
        "conv2d_grad_input",
        "conv2d_grad_weight",
        "batch_stats",
        "sgd_step",
        "assign(",
        "param \"conv1.weight.momentum_buffer\"",
    ] {
        assert!(
            text.contains(needle),
            "missing `{needle}` in the training IR"
        );
    }
}

const TINY: &str = "
model Tiny() {
  input x: [3, 8, 8]
  return x |> conv(4, k = 3, pad = 1) |> bn |> relu |> max_pool(2) |> global_avg_pool |> flatten |> linear(2)
}
train { optimizer = sgd(lr = 0.1, momentum = 0.9) }
";

fn train(steps: usize) -> (TensorMap, Vec<f32>) {
    let mut sources = Sources::new();
    let m = pipeline::front_end_str(&mut sources, "tiny.net", TINY, &[]).expect("tiny model");
    let t = autodiff::build(&m.graph, &m.recipe.optimizer).expect("builds");
    let mut state = params::init(&t.graph, &m.recipe.init, 1);
    let (x, labels) = two_squares(16);
    let mut accuracy = Vec::new();
    for _ in 0..steps {
        let inputs = HashMap::from([
            ("x".to_string(), x.clone()),
            ("labels".to_string(), labels.clone()),
            ("lr".to_string(), Tensor::new(vec![], vec![0.1])),
        ]);
        let (outputs, _) = reference::train_step(&t.graph, &mut state, &inputs).expect("step");
        let correct = outputs.iter().find(|(n, _)| n == "correct").unwrap().1.data[0];
        accuracy.push(correct / 16.0);
    }
    (state, accuracy)
}

#[test]
fn a_tiny_model_learns_two_squares() {
    let (_, accuracy) = train(40);
    assert_eq!(
        *accuracy.last().unwrap(),
        1.0,
        "train accuracy by step: {accuracy:?}"
    );
}

#[test]
fn training_steps_are_deterministic() {
    let (a, _) = train(20);
    let (b, _) = train(20);
    for (name, t) in &a {
        assert!(
            t.data
                .iter()
                .zip(&b[name].data)
                .all(|(x, y)| x.to_bits() == y.to_bits()),
            "{name} differs between runs"
        );
    }
}
