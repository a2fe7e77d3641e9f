//! Training steps on the GPU (lavapipe in CI): the compiled training graph — forward,
//! loss, backward and optimizer update in one submission — computes what the CPU
//! reference computes, is bit-for-bit deterministic, and learns a tiny task.

use crate::common::two_squares;
use netc::codegen::plan::Options;
use netc::diag::Sources;
use netc::runtime::{Runtime, model::DeviceModel};
use netc::tensor::{Tensor, TensorMap};
use netc::{autodiff, params, pipeline, reference};
use std::collections::HashMap;

const TINY: &str = "
model Tiny() {
  input x: [3, 8, 8]
  a = x |> conv(4, k = 3, pad = 1) |> bn |> relu |> max_pool(3, stride = 2, pad = 1)
  b = a |> conv(4, k = 1, bias = false) |> bn |> tanh
  return concat(a, b) |> avg_pool(2) |> global_avg_pool |> flatten |> linear(2)
}
train { optimizer = sgd(lr = 0.1, momentum = 0.9, weight_decay = 1e-4) }
";

fn runtime() -> Runtime {
    Runtime::open().unwrap_or_else(|e| panic!("GPU tests need an adapter: {e}"))
}

/// `max |ours - theirs| / max |theirs|`, the scale floored at 1e-3: a tensor that is
/// rounding noise around zero (the momentum of a conv bias feeding batch norm, whose
/// exact gradient is zero) is compared on that absolute scale instead of its own.
fn rel_error(ours: &Tensor, theirs: &Tensor) -> f64 {
    let scale = theirs
        .data
        .iter()
        .fold(1e-3f64, |m, &v| m.max(v.abs() as f64));
    ours.data
        .iter()
        .zip(&theirs.data)
        .fold(0f64, |m, (&a, &b)| m.max((a as f64 - b as f64).abs()))
        / scale
}

struct Setup {
    graph: netc::ir::Graph,
    state: TensorMap,
    inputs: HashMap<String, Tensor>,
}

/// Tall and wide conv and pooling windows, strides and paddings (the GPU kernels carry the
/// two axes apart).
const NON_SQUARE: &str = "
model NonSquare() {
  input x: [3, 8, 8]
  a = x |> conv(4, k = [3, 1], pad = [1, 0]) |> bn |> relu |> max_pool([1, 2])
  b = a |> conv(4, k = [1, 3], stride = [2, 1], pad = [0, 1], bias = false) |> bn |> tanh
  return b |> avg_pool([2, 1]) |> global_avg_pool |> flatten |> linear(2)
}
train { optimizer = sgd(lr = 0.1, momentum = 0.9, weight_decay = 1e-4) }
";

fn setup(batch: usize) -> Setup {
    setup_model(TINY, batch)
}

fn setup_model(source: &str, batch: usize) -> Setup {
    let mut sources = Sources::new();
    let m = pipeline::front_end_str(&mut sources, "tiny.net", source, &[]).expect("model");
    let t = autodiff::build(&m.graph, &m.recipe.optimizer).expect("training graph");
    let state = params::init(&t.graph, &m.recipe.init, 1);
    let (x, labels) = two_squares(batch);
    let inputs = HashMap::from([
        ("x".to_string(), x),
        ("labels".to_string(), labels),
        ("lr".to_string(), Tensor::new(vec![], vec![0.1])),
    ]);
    Setup {
        graph: t.graph,
        state,
        inputs,
    }
}

#[test]
fn a_gpu_training_step_equals_the_cpu_reference() {
    steps_equal_the_cpu_reference(&setup(6), 6);
}

#[test]
fn a_gpu_training_step_with_non_square_windows_equals_the_cpu_reference() {
    steps_equal_the_cpu_reference(&setup_model(NON_SQUARE, 5), 5);
}

/// Three training steps of `s` at `batch` on the GPU match the CPU reference's, outputs and
/// state.
fn steps_equal_the_cpu_reference(s: &Setup, batch: usize) {
    let rt = runtime();
    let p =
        netc::pipeline::plan(&s.graph, batch, &Options::default()).expect("training graph lowers");
    let dm = DeviceModel::new(&rt, p, &s.state).expect("uploads");
    let mut cpu = s.state.clone();
    for step in 0..3 {
        let gpu_out = dm.run(&s.inputs).expect("gpu step");
        let (cpu_out, _) = reference::train_step(&s.graph, &mut cpu, &s.inputs).expect("cpu step");
        for ((name, g), (_, c)) in gpu_out.iter().zip(&cpu_out) {
            let e = rel_error(g, c);
            assert!(
                e < 1e-4,
                "step {step}: output {name}: GPU {:?} vs CPU {:?}",
                g.data,
                c.data
            );
        }
    }
    let gpu_state = dm.read_params().expect("read back");
    for (name, want) in &cpu {
        let e = rel_error(&gpu_state[name], want);
        assert!(
            e < 1e-4,
            "{name} after 3 steps: GPU differs from the CPU reference by {e:e}"
        );
    }
}

#[test]
fn gpu_training_is_bit_for_bit_deterministic() {
    let run = || {
        let s = setup(8);
        let rt = runtime();
        let p = netc::pipeline::plan(&s.graph, 8, &Options::default()).expect("lowers");
        let dm = DeviceModel::new(&rt, p, &s.state).expect("uploads");
        for _ in 0..20 {
            dm.run(&s.inputs).expect("step");
        }
        dm.read_params().expect("read back")
    };
    let (a, b) = (run(), run());
    for (name, t) in &a {
        assert!(
            t.data
                .iter()
                .zip(&b[name].data)
                .all(|(x, y)| x.to_bits() == y.to_bits()),
            "{name} differs between two runs"
        );
    }
}

#[test]
fn a_tiny_model_learns_two_squares_on_the_gpu() {
    let s = setup(16);
    let rt = runtime();
    let p = netc::pipeline::plan(&s.graph, 16, &Options::default()).expect("lowers");
    let dm = DeviceModel::new(&rt, p, &s.state).expect("uploads");
    let mut accuracy = Vec::new();
    for _ in 0..40 {
        let out = dm.run(&s.inputs).expect("step");
        accuracy.push(out.iter().find(|(n, _)| n == "correct").unwrap().1.data[0] / 16.0);
    }
    assert_eq!(
        *accuracy.last().unwrap(),
        1.0,
        "train accuracy by step: {accuracy:?}"
    );
}

/// With a device log, steps read nothing back: the metrics of several steps come back
/// in one read, equal to what reading every step returns, and the log empties.
#[test]
fn step_metrics_stay_on_the_device_until_read() {
    let s = setup(4);
    let rt = runtime();
    let every_step = DeviceModel::new(
        &rt,
        netc::pipeline::plan(&s.graph, 4, &Options::default()).expect("lowers"),
        &s.state,
    )
    .expect("uploads");
    let opts = Options {
        log_capacity: 3,
        ..Options::default()
    };
    let logged = DeviceModel::new(
        &rt,
        netc::pipeline::plan(&s.graph, 4, &opts).expect("lowers"),
        &s.state,
    )
    .expect("uploads");
    let mut want: Vec<(f32, f32)> = Vec::new();
    for _ in 0..3 {
        let out = every_step.run(&s.inputs).expect("step");
        let value = |n: &str| out.iter().find(|(k, _)| k == n).expect("output").1.data[0];
        want.push((value("loss"), value("correct")));
        logged.step(&s.inputs).expect("step");
    }
    let logs = logged.read_logs().expect("read");
    let log = |n: &str| logs.iter().find(|(k, _)| k == n).expect("a log").1.clone();
    assert_eq!(log("loss"), want.iter().map(|w| w.0).collect::<Vec<_>>());
    assert_eq!(log("correct"), want.iter().map(|w| w.1).collect::<Vec<_>>());
    let again = logged.read_logs().expect("read");
    assert!(again.iter().all(|(_, v)| v.is_empty()), "{again:?}");
    // A fourth unread step overflows a log of three: the read says so.
    for _ in 0..4 {
        logged.step(&s.inputs).expect("step");
    }
    let err = logged.read_logs().expect_err("overflow").to_string();
    assert!(err.contains("holds 3 entries and 4 runs"), "{err}");
}
