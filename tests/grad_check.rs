//! Gradients of the training graph against central finite differences of the loss,
//! on tiny models that each exercise a few ops (ReLU's kink is avoided where a step
//! could cross it). The reference interpreter stores f32,
//! so differences use a step of 1e-2 and the tolerance is loose (2e-2 relative to the
//! largest gradient of the tensor); a wrong rule is off by far more.

use netc::diag::Sources;
use netc::elab::recipe::Optimizer;
use netc::tensor::{Tensor, TensorMap};
use netc::{autodiff, params, pipeline, reference};
use std::collections::HashMap;

fn loss(g: &netc::ir::Graph, state: &TensorMap, inputs: &HashMap<String, Tensor>) -> f64 {
    let mut s = state.clone();
    let (outputs, _) = reference::train_step(g, &mut s, inputs).expect("runs");
    outputs.iter().find(|(n, _)| n == "loss").unwrap().1.data[0] as f64
}

fn check(src: &str) {
    let mut sources = Sources::new();
    let model = pipeline::front_end_str(&mut sources, "tiny.net", src, &[])
        .unwrap_or_else(|d| panic!("{}", sources.render(&d.0, false)));
    let sgd = Optimizer::Sgd {
        lr: 0.0,
        momentum: 0.0,
        weight_decay: 0.0,
        nesterov: false,
    };
    let train = autodiff::build(&model.graph, &sgd).expect("training graph");
    let mut state = params::init(&train.graph, &model.recipe.init, 3);
    // Non-trivial BN affine parameters.
    for (name, t) in state.iter_mut() {
        if name.ends_with("bn1.weight") || name.ends_with("bn2.weight") {
            t.data
                .iter_mut()
                .enumerate()
                .for_each(|(i, v)| *v = 0.7 + 0.1 * i as f32);
        }
    }
    let x_ty = &model.graph.node(model.graph.inputs_of_model()[0]).ty;
    let n = 3;
    let numel = x_ty.numel();
    let x = Tensor::new(
        std::iter::once(n)
            .chain(x_ty.dims.iter().copied())
            .collect(),
        (0..n * numel)
            .map(|i| ((i * 7919 % 101) as f32 / 50.0) - 1.0)
            .collect(),
    );
    let inputs = HashMap::from([
        ("x".to_string(), x),
        (
            "labels".to_string(),
            Tensor::new(vec![n], vec![0.0, 2.0, 1.0]),
        ),
        ("lr".to_string(), Tensor::new(vec![], vec![0.0])),
    ]);
    let mut s = state.clone();
    let (_, values) = reference::train_step(&train.graph, &mut s, &inputs).unwrap();
    for (name, gid) in &train.grads {
        let analytic = &values[gid];
        let scale = analytic
            .data
            .iter()
            .fold(1e-6f64, |m, &v| m.max(v.abs() as f64));
        for i in 0..analytic.numel().min(12) {
            let h = 3e-3f32;
            let mut plus = state.clone();
            plus.get_mut(name).unwrap().data[i] += h;
            let mut minus = state.clone();
            minus.get_mut(name).unwrap().data[i] -= h;
            let fd = (loss(&train.graph, &plus, &inputs) - loss(&train.graph, &minus, &inputs))
                / (2.0 * h as f64);
            let err = (fd - analytic.data[i] as f64).abs() / scale;
            assert!(
                err < 2e-2,
                "{name}[{i}]: analytic {} vs finite difference {fd} (error {err:e} of {scale:e})\n{src}",
                analytic.data[i]
            );
        }
    }
}

#[test]
fn conv_bn_relu_linear() {
    check(
        "model M() { input x: [2, 5, 5]\n return x |> conv(3, k = 3, pad = 1) |> bn |> relu |> flatten |> linear(3) }",
    );
}

#[test]
fn strided_conv_and_avg_pool() {
    check(
        "model M() { input x: [2, 6, 6]\n return x |> conv(4, k = 1, stride = 2, bias = false) |> avg_pool(2) |> flatten |> linear(3) }",
    );
}

// Max pooling's gradient is not checked here: a finite step moves the arg-max whenever
// two inputs of a window lie within the step, which random tiny models hit. Its rule is
// checked against PyTorch through GoogleNet (tests/torch_training.rs).
#[test]
fn grouped_conv_and_global_pool() {
    check(
        "model M() { input x: [4, 6, 6]\n y = x |> conv(4, k = 3, pad = 1, groups = 2) |> tanh\n return y |> global_avg_pool |> flatten |> linear(3) }",
    );
}

#[test]
fn concat_and_add_and_activations() {
    check(
        "model M() { input x: [2, 4, 4]\n a = x |> conv(2, k = 1) |> tanh\n b = x |> conv(2, k = 3, pad = 1) |> gelu\n c = concat(a, b, x)\n d = c |> conv(6, k = 1) |> leaky_relu\n return (d + c) |> global_avg_pool |> flatten |> linear(3) }",
    );
}

#[test]
fn dense_layer_with_transition() {
    check(
        "model M() { input x: [3, 4, 4]\n y = x |> bn |> relu |> conv(4, k = 1, bias = false) |> bn as bn2 |> relu |> conv(2, k = 3, pad = 1, bias = false)\n z = concat(y, x)\n t = z |> bn as bn3 |> relu |> conv(2, k = 1, bias = false) |> avg_pool(2)\n return t |> flatten |> linear(3) }",
    );
}

#[test]
fn smooth_dense_layer_with_transition() {
    check(
        "model M() { input x: [3, 4, 4]\n y = x |> bn |> tanh |> conv(4, k = 1, bias = false) |> bn as bn2 |> tanh |> conv(2, k = 3, pad = 1, bias = false)\n z = concat(y, x)\n t = z |> bn as bn3 |> tanh |> conv(2, k = 1, bias = false) |> avg_pool(2)\n return t |> flatten |> linear(3) }",
    );
}

#[test]
fn smooth_bn_concat() {
    check(
        "model M() { input x: [3, 4, 4]\n y = x |> bn |> tanh |> conv(2, k = 1, bias = false)\n z = concat(y, x)\n return z |> bn as bn2 |> tanh |> global_avg_pool |> flatten |> linear(3) }",
    );
}

#[test]
fn smooth_bn_twice_on_one_input() {
    check(
        "model M() { input x: [3, 4, 4]\n a = x |> conv(3, k = 1) \n y = a |> bn |> tanh\n z = a |> bn as bn2 |> tanh\n return (y + z) |> global_avg_pool |> flatten |> linear(3) }",
    );
}
