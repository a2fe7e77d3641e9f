//! The shared harness of the op-family tests (`tests/ops/<family>.rs`): GPU kernels against
//! the CPU reference (with the tolerance of `gpu_common`), pointwise accuracy bounds, gradients
//! against central finite differences, and the PyTorch fixtures of `tests/ops/<family>/`.

use crate::gpu_common::{rt, upload};
use netc::codegen::kernels::KernelSource;
use netc::runtime::Dispatch;

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

/// Every parameter gradient of the training graph of `src` (a `.net` source whose model
/// takes `x` and ends in three logits) against central finite differences of the loss, in f64:
/// a step of 1e-5 is good to ~1e-9, so the bound is 1e-6 of the tensor's largest gradient. A
/// step crosses a kink (a ReLU input at zero, a max-pool tie) only if a value lies within ~1e-5
/// of it, and the inputs are spread so none does.
pub fn grad_check(src: &str) {
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

/// Runs `k` on `inputs` (uploaded in binding order) and reads back its output of `out_len`
/// values (the last binding).
pub fn run_kernel(k: &KernelSource, inputs: &[&[f32]], out_len: usize) -> Vec<f32> {
    let mut bufs: Vec<_> = inputs.iter().map(|x| upload(x)).collect();
    bufs.push(rt().create_buffer(out_len).expect("buffer"));
    let refs: Vec<_> = bufs.iter().collect();
    let out = refs[refs.len() - 1];
    rt().run_and_read(&[Dispatch::new(k, &refs)], &[out])
        .expect("run")
        .remove(0)
}

/// Asserts every `got[i]` is within `bound(x[i], want[i])` of `want[i]`, naming the worst.
pub fn assert_pointwise(
    what: &str,
    x: &[f32],
    got: &[f32],
    want: &[f64],
    bound: impl Fn(f64, f64) -> f64,
) {
    let (mut worst, mut at) = (0.0f64, 0usize);
    for (i, (&g, &r)) in got.iter().zip(want).enumerate() {
        let b = bound(f64::from(x[i]), r);
        let err = (f64::from(g) - r).abs();
        let ratio = if b == 0.0 {
            if err == 0.0 { 0.0 } else { f64::INFINITY }
        } else {
            err / b
        };
        if ratio.is_nan() || ratio > worst {
            (worst, at) = (ratio, i);
        }
    }
    assert!(
        worst <= 1.0,
        "{what}: error {worst:.3} x the bound at x = {} (gpu {:e}, reference {:e})",
        x[at],
        got[at],
        want[at]
    );
}

/// A family's PyTorch fixture, `tests/ops/<family>/fixtures.json` (written by
/// `tools/make_op_fixtures.py`).
pub fn fixture(family: &str) -> serde_json::Value {
    let path = crate::common::root().join(format!("tests/ops/{family}/fixtures.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run tools/make_op_fixtures.py)", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A JSON array of numbers as f64.
pub fn numbers(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|x| x.as_f64().expect("a number"))
        .collect()
}
