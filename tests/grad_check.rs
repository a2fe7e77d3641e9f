//! Gradients of the training graph against central finite differences of the loss,
//! in f64: the reference interpreter runs the whole training graph in double
//! precision, so a central difference with a step of 1e-5 is good to ~1e-9 and the
//! bound can be tight (1e-6 of the tensor's largest gradient) — a wrong rule is off by
//! far more. Every
//! element of every parameter gradient is checked on tiny models that together cover
//! every op with a gradient, max pooling included: a step of 1e-5 crosses a kink
//! (a ReLU input at zero, a max-pool tie) only if a value lies within ~1e-5 of it, and
//! the inputs here are spread so none does.

use netc::diag::Sources;
use netc::elab::recipe::Optimizer;
use netc::tensor::{Tensor, TensorMap, cast_map};
use netc::{autodiff, params, pipeline, reference};
use std::collections::HashMap;

type Inputs = HashMap<String, Tensor<f64>>;

fn loss(g: &netc::ir::Graph, state: &TensorMap<f64>, inputs: &Inputs) -> f64 {
    let mut s = state.clone();
    let (outputs, _) = reference::train_step(g, &mut s, inputs).expect("runs");
    outputs.iter().find(|(n, _)| n == "loss").unwrap().1.data[0]
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
    let mut state: TensorMap<f64> = cast_map(&params::init(&train.graph, &model.recipe.init, 3));
    // Non-trivial BN affine parameters.
    for (name, t) in state.iter_mut() {
        if name.ends_with("bn1.weight") || name.ends_with("bn2.weight") {
            t.data
                .iter_mut()
                .enumerate()
                .for_each(|(i, v)| *v = 0.7 + 0.1 * i as f64);
        }
    }
    let x_ty = &model.graph.node(model.graph.inputs_of_model()[0]).ty;
    let n = 3;
    let numel = x_ty.numel();
    // Distinct, irregularly spaced inputs: no two values in a pooling window tie.
    let x = Tensor::new(
        std::iter::once(n)
            .chain(x_ty.dims.iter().copied())
            .collect(),
        (0..n * numel)
            .map(|i| ((i * 7919 % 1009) as f64 / 500.0) - 1.0 + 1e-3 * (i as f64).sin())
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
    let largest = |t: &Tensor<f64>| t.data.iter().fold(0f64, |m, &v| m.max(v.abs()));
    // A gradient that is zero in exact arithmetic (a conv bias right before batch norm)
    // has finite differences of pure rounding noise (~1e-10): floor each tensor's scale
    // at 1e-4 of the model's largest gradient.
    let floor = 1e-4
        * train
            .grads
            .iter()
            .map(|(_, g)| largest(&values[g]))
            .fold(0f64, f64::max);
    let (mut checked, mut worst) = (0, 0f64);
    for (name, gid) in &train.grads {
        let analytic = &values[gid];
        let scale = largest(analytic).max(floor);
        for i in 0..analytic.numel() {
            let h = 1e-5;
            let mut plus = state.clone();
            plus.get_mut(name).unwrap().data[i] += h;
            let mut minus = state.clone();
            minus.get_mut(name).unwrap().data[i] -= h;
            let fd = (loss(&train.graph, &plus, &inputs) - loss(&train.graph, &minus, &inputs))
                / (2.0 * h);
            let err = (fd - analytic.data[i]).abs() / scale;
            assert!(
                err < 1e-6,
                "{name}[{i}]: analytic {} vs finite difference {fd} (error {err:e} of {scale:e})\n{src}",
                analytic.data[i]
            );
            checked += 1;
            worst = worst.max(err);
        }
    }
    assert!(checked > 0, "the model has parameters to check");
    eprintln!("{checked} derivatives checked, worst error {worst:.1e} of the scale");
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

#[test]
fn max_pool_overlapping_and_padded() {
    // GoogleNet's pools: 3x3 stride 1 pad 1 and 3x3 stride 2 pad 1 (overlapping windows,
    // so one input can be the arg-max of several outputs).
    check(
        "model M() { input x: [2, 6, 6]\n y = x |> conv(3, k = 3, pad = 1) |> max_pool(3, stride = 1, pad = 1)\n return y |> max_pool(3, stride = 2, pad = 1) |> flatten |> linear(3) }",
    );
}

#[test]
fn max_pool_after_relu_and_bn() {
    check(
        "model M() { input x: [2, 6, 6]\n y = x |> conv(4, k = 3, pad = 1) |> bn |> relu |> max_pool(2)\n return y |> conv(3, k = 1) |> global_avg_pool |> flatten |> linear(3) }",
    );
}
