//! Activation fusion (`passes::fuse_activation`) changes how a model runs, never what it
//! computes: on the CPU reference, the fused graph of every seed model gives the unfused
//! graph's inference outputs, and one training step gives its loss, gradients and updated
//! parameters (with activation gradients folded into batch norm's backward too). Also: what
//! is fused and what is deliberately not (gelu with a gradient, a value with other uses).

use crate::common;

use netc::ir::{Activation, Graph, Op, TrainOp};
use netc::tensor::{Tensor, TensorMap};
use netc::{autodiff, params, pipeline, reference};
use std::collections::HashMap;

/// A deterministic stream of values in [-1, 1).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f64 / (1u64 << 24) as f64 * 2.0 - 1.0) as f32
    }

    fn tensor(&mut self, dims: Vec<usize>) -> Tensor {
        let n = dims.iter().product();
        Tensor::new(dims, (0..n).map(|_| self.next()).collect())
    }
}

/// The recipe's initial parameters, with batch norm's affine parameters and running
/// statistics moved off their (1, 0) defaults, so eval-mode BN is not an identity and
/// a fused activation sees negative values.
fn parameters(g: &Graph, e: &netc::elab::Elaborated, rng: &mut Lcg) -> TensorMap {
    let mut p = params::init(g, &e.recipe.init, 3);
    for (name, t) in p.iter_mut() {
        let jitter = |t: &mut Tensor, base: f32, spread: f32, rng: &mut Lcg| {
            for v in &mut t.data {
                *v = base + spread * rng.next();
            }
        };
        let bn = g
            .params()
            .into_iter()
            .find(|(n, _)| n == name)
            .is_some_and(|(_, id)| {
                g.users(id).iter().any(|&u| {
                    matches!(
                        g.node(u).op,
                        Op::BatchNorm { .. } | Op::Train(TrainOp::BatchNormTrain { .. })
                    )
                })
            });
        if !bn {
            continue;
        }
        if name.ends_with("running_var") || name.ends_with(".weight") {
            jitter(t, 1.0, 0.5, rng);
        } else {
            jitter(t, 0.0, 0.3, rng);
        }
    }
    p
}

/// Nodes of `g` carrying a fused activation.
fn fused_ops(g: &Graph) -> usize {
    g.node_ids()
        .filter(|&id| {
            matches!(
                g.node(id).op,
                Op::BatchNorm { act: Some(_), .. }
                    | Op::Add { act: Some(_) }
                    | Op::Train(TrainOp::BatchNormTrain { act: Some(_), .. })
            )
        })
        .count()
}

fn count(g: &Graph, f: impl Fn(&Op) -> bool) -> usize {
    g.node_ids().filter(|&id| f(&g.node(id).op)).count()
}

fn assert_close(what: &str, fused: &Tensor, unfused: &Tensor, tol: f64) {
    let e = common::rel_error(fused, unfused);
    assert!(e <= tol, "{what}: fused differs from unfused by {e:e}");
}

#[test]
fn fused_inference_equals_unfused_on_every_seed_model() {
    for stem in common::MODELS {
        let e = common::elaborate(&common::model_path(stem), &[]);
        let fused = pipeline::optimise(&e.graph).expect("passes");
        let n = fused_ops(&fused);
        assert!(n > 0, "{stem}: nothing was fused");
        assert_eq!(
            fused.node_count() + n,
            e.graph.node_count(),
            "{stem}: each fusion removes exactly one activation node"
        );
        let mut rng = Lcg(11);
        let p = parameters(&e.graph, &e, &mut rng);
        let x = rng.tensor(vec![2, 3, 32, 32]);
        let inputs = HashMap::from([("x".to_string(), x)]);
        let want = reference::run(&e.graph, &p, &inputs).expect("unfused runs");
        let got = reference::run(&fused, &p, &inputs).expect("fused runs");
        assert_eq!(got.len(), want.len());
        for ((name, g), (_, w)) in got.iter().zip(&want) {
            assert_close(&format!("{stem} output {name}"), g, w, 1e-6);
        }
    }
}

/// One reference training step of the unfused and the fused graph of `model`; compares
/// outputs, every parameter's gradient and every updated parameter and state.
fn check_training_step(what: &str, e: &netc::elab::Elaborated, x_dims: Vec<usize>) -> usize {
    let t = autodiff::build(&e.graph, &e.recipe.optimizer).expect("training graph");
    let fused = pipeline::optimise(&t.graph).expect("passes");
    let mut rng = Lcg(5);
    let state = parameters(&t.graph, e, &mut rng);
    let batch = x_dims[0];
    let classes = e.graph.node(e.graph.outputs()[0]).ty.dims[0];
    let labels = Tensor::new(
        vec![batch],
        (0..batch).map(|i| (i * 7 % classes) as f32).collect(),
    );
    let inputs = HashMap::from([
        ("x".to_string(), rng.tensor(x_dims)),
        ("labels".to_string(), labels),
        ("lr".to_string(), Tensor::new(vec![], vec![0.05])),
        ("step".to_string(), Tensor::new(vec![], vec![1.0])),
    ]);
    let inputs: HashMap<String, Tensor> = inputs
        .into_iter()
        .filter(|(name, _)| {
            t.graph
                .inputs_of_model()
                .iter()
                .any(|&i| matches!(&t.graph.node(i).op, Op::Input { name: n } if n == name))
        })
        .collect();
    let (mut s_unfused, mut s_fused) = (state.clone(), state);
    let (out_u, val_u) =
        reference::train_step(&t.graph, &mut s_unfused, &inputs).expect("unfused step");
    let (out_f, val_f) = reference::train_step(&fused, &mut s_fused, &inputs).expect("fused step");
    for ((name, f), (_, u)) in out_f.iter().zip(&out_u) {
        assert_close(&format!("{what} output {name}"), f, u, 1e-5);
    }
    // Fusion removes only activation nodes, so the gradient nodes keep their ids.
    for (name, id) in &t.grads {
        let f = val_f
            .get(id)
            .unwrap_or_else(|| panic!("{what}: gradient of {name} left the fused graph"));
        assert_close(&format!("{what} gradient of {name}"), f, &val_u[id], 1e-5);
    }
    assert_eq!(s_fused.len(), s_unfused.len());
    for (name, u) in &s_unfused {
        assert_close(&format!("{what} updated {name}"), &s_fused[name], u, 1e-5);
    }
    fused_ops(&fused)
}

#[test]
fn fused_training_step_equals_unfused_on_every_seed_model() {
    for stem in common::MODELS {
        let e = common::elaborate(&common::model_path(stem), &[]);
        let fused = check_training_step(stem, &e, vec![2, 3, 32, 32]);
        assert!(fused > 0, "{stem}: nothing was fused in the training graph");
    }
}

const SMALL: &str = "
model Small(act = relu) {
  input x: [3, 8, 8]
  y = x |> conv(4, k = 3, pad = 1, bias = false) |> bn |> act
  z = y |> conv(4, k = 3, pad = 1, bias = false) |> bn
  return act(z + y) |> bn |> act |> global_avg_pool |> flatten |> linear(3)
}
train { optimizer = sgd(lr = 0.1, momentum = 0.9, weight_decay = 1e-4) }
";

fn small(act: &str) -> netc::elab::Elaborated {
    let mut sources = netc::diag::Sources::new();
    pipeline::front_end_str(&mut sources, "small.net", SMALL, &[format!("act={act}")])
        .expect("small model")
}

#[test]
fn every_activation_whose_gradient_reads_its_output_fuses_in_training() {
    for a in Activation::all().filter(|a| a.derivative_from_output()) {
        let act = a.name();
        let e = small(act);
        let fused = check_training_step(act, &e, vec![3, 3, 8, 8]);
        // bn1 + act, add + act, bn3 + act.
        assert_eq!(fused, 3, "{act}");
        let t = autodiff::build(&e.graph, &e.recipe.optimizer).expect("training graph");
        let g = pipeline::optimise(&t.graph).expect("passes");
        assert_eq!(count(&g, |op| matches!(op, Op::Activation(_))), 0, "{act}");
        assert_eq!(
            count(&g, |op| matches!(op, Op::Train(TrainOp::ActivationGrad(_)))),
            0,
            "{act}: every activation gradient now reads the fused output"
        );
        // bn1's and bn3's activation gradients fold into their batch norm's backward ops;
        // the residual add's also flows down the shortcut, so it stays a node.
        assert_eq!(
            count(&g, |op| matches!(
                op,
                Op::Train(TrainOp::ActivationGradFromOutput(_))
            )),
            1,
            "{act}"
        );
        assert_eq!(
            count(&g, |op| matches!(
                op,
                Op::Train(
                    TrainOp::BiasGrad { act_grad: Some(_) }
                        | TrainOp::BatchNormGradGamma {
                            act_grad: Some(_),
                            ..
                        }
                        | TrainOp::BatchNormGradInput {
                            act_grad: Some(_),
                            ..
                        }
                )
            )),
            6,
            "{act}: dbeta, dgamma and dx of bn1 and bn3"
        );
    }
}

#[test]
fn gelu_fuses_for_inference_but_not_where_its_gradient_needs_the_input() {
    // gelu, and every activation whose derivative is not a function of its output.
    for a in Activation::all().filter(|a| !a.derivative_from_output()) {
        let act = a.name();
        let e = small(act);
        let inference = pipeline::optimise(&e.graph).expect("passes");
        assert_eq!(fused_ops(&inference), 3, "{act}");
        let t = autodiff::build(&e.graph, &e.recipe.optimizer).expect("training graph");
        let g = pipeline::optimise(&t.graph).expect("passes");
        assert_eq!(
            fused_ops(&g),
            0,
            "{act}' is not a function of {act}'s output"
        );
        assert_eq!(
            count(&g, |op| *op == Op::Activation(a)),
            3,
            "the {act}s stay"
        );
        check_training_step(act, &e, vec![2, 3, 8, 8]);
    }
}

#[test]
fn an_activation_whose_input_has_another_use_is_not_fused() {
    // `y` is used by relu and by the residual add: fusing would lose the pre-activation value.
    let src = "
        model M() {
          input x: [2, 4, 4]
          y = x |> conv(2, k = 1) |> bn
          return (relu(y) + y) |> flatten
        }
    ";
    let mut sources = netc::diag::Sources::new();
    let e = pipeline::front_end_str(&mut sources, "m.net", src, &[]).expect("model");
    let g = pipeline::optimise(&e.graph).expect("passes");
    assert_eq!(fused_ops(&g), 0);
    assert_eq!(count(&g, |op| matches!(op, Op::Activation(_))), 1);
}

#[test]
fn emit_ir_opt_prints_the_fused_ops() {
    let out = common::netc(
        &common::root(),
        &[
            "compile",
            "models/resnet.net",
            "--train",
            "--emit",
            "ir-opt",
        ],
    );
    assert!(out.status.success(), "{}", common::stderr(&out));
    let text = common::stdout(&out);
    for needle in [
        "batch_norm_train[eps=1e-5 act=relu](",
        "add[act=relu](",
        "relu_grad_from_output(",
    ] {
        assert!(text.contains(needle), "ir-opt lacks `{needle}`");
    }
    assert!(!text.contains(" = relu("), "an unfused relu is left");
}
