//! Mixed-precision training steps on the GPU (lavapipe in CI, which has f16): activations and
//! their gradients stored as f16, everything computed in f32, dynamic loss scaling.
//!
//! The oracle is the CPU reference on the same mixed-precision graph: it rounds every f16
//! value to f16 as the device stores it (gradients as the device holds them, times the loss
//! scale), so GPU and reference differ only by the order of f32 sums and the f16 roundings
//! that order tips over. Tolerance: 1e-2 of each tensor's largest magnitude — an f16 holds
//! ~3 decimal digits, and an indexing or conversion bug errs by the values themselves.

use netc::codegen::kernels::Elem;
use netc::codegen::plan::{self, Options};
use netc::diag::Sources;
use netc::ir::{LOSS_SCALER, Precision};
use netc::ops::optim::loss_scale::GradScaler;
use netc::runtime::{Runtime, model::DeviceModel};
use netc::tensor::{Tensor, TensorMap};
use netc::{autodiff, params, pipeline, reference};
use std::collections::HashMap;

/// Every op family of the seed models, at odd and at vec4-friendly plane sizes: a 3-channel
/// 9x9 image (81 values per plane: one value per load), convs with and without bias and
/// padding, batch norm fused with relu and with tanh, max and average pools, concat, add,
/// global average pool and linear.
const ODD: &str = "
model Odd() {
  input x: [3, 9, 9]
  a = x |> conv(5, k = 3, pad = 1) |> bn |> relu
  b = a |> conv(3, k = 1, bias = false) |> bn |> tanh
  c = concat(a, b) |> max_pool(3, stride = 2, pad = 1)
  d = c |> conv(8, k = 3, pad = 1, bias = false) |> bn
  e = c |> conv(8, k = 1) |> bn
  f = relu(d + e) |> avg_pool(2)
  return f |> global_avg_pool |> flatten |> linear(3)
}
train { optimizer = sgd(lr = 0.05, momentum = 0.9, weight_decay = 1e-4) }
";

/// An 8x8 input: planes of 64 and 16 values, so the pointwise kernels read vec4 of f16.
/// AdamW normalises every gradient, so no conv here has a bias that batch norm cancels (its
/// exact gradient is zero, and AdamW would step along the rounding noise).
const EVEN: &str = "
model Even() {
  input x: [3, 8, 8]
  a = x |> conv(4, k = 3, pad = 1, bias = false) |> bn |> relu
  b = a |> conv(4, k = 3, pad = 1, bias = false) |> bn
  return relu(a + b) |> max_pool(2) |> global_avg_pool |> flatten |> linear(2)
}
train { optimizer = adamw(lr = 0.01) }
";

fn runtime() -> Runtime {
    Runtime::open().unwrap_or_else(|e| panic!("GPU tests need an adapter: {e}"))
}

/// `max |ours - theirs| / max |theirs|`, the scale floored at 1e-3 (as in gpu_training.rs: a
/// tensor of rounding noise around zero is compared on that absolute scale).
fn rel_error(ours: &Tensor, theirs: &Tensor) -> f64 {
    crate::common::rel_error_floor(ours, theirs, 1e-3)
}

struct Setup {
    /// The optimised mixed-precision training graph.
    graph: netc::ir::Graph,
    state: TensorMap,
    inputs: HashMap<String, Tensor>,
}

/// A mixed-precision step of `source` at `batch` (3 channels, `hw` pixels square), with
/// deterministic data in `classes` classes.
fn setup(source: &str, batch: usize, hw: usize, classes: usize) -> Setup {
    let mut sources = Sources::new();
    let m = pipeline::front_end_str(&mut sources, "mixed.net", source, &[]).expect("model");
    let t = autodiff::build(&m.graph, &m.recipe.optimizer).expect("training graph");
    let graph = pipeline::optimise_for(&t.graph, Precision::Mixed).expect("passes");
    let state = params::init(&t.graph, &m.recipe.init, 7);
    let mut x = Vec::with_capacity(batch * 3 * hw * hw);
    let mut seed = 99u64;
    for _ in 0..batch * 3 * hw * hw {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        x.push(((seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 4.0);
    }
    let labels = (0..batch).map(|i| (i % classes) as f32).collect();
    let inputs = HashMap::from([
        ("x".to_string(), Tensor::new(vec![batch, 3, hw, hw], x)),
        ("labels".to_string(), Tensor::new(vec![batch], labels)),
        ("lr".to_string(), Tensor::new(vec![], vec![0.05])),
        ("step".to_string(), Tensor::new(vec![], vec![1.0])),
    ]);
    Setup {
        graph,
        state,
        inputs,
    }
}

fn check_against_reference(s: &Setup, batch: usize) {
    let rt = runtime();
    let p = netc::pipeline::plan(&s.graph, batch, &Options::default()).expect("mixed graph lowers");
    let f16_buffers = p.buffers.iter().filter(|b| b.elem == Elem::F16).count();
    assert!(
        f16_buffers > 10,
        "only {f16_buffers} f16 buffers:\n{}",
        p.to_text()
    );
    let dm = DeviceModel::new(&rt, p, &s.state).expect("uploads");
    // The reference holds the scaler's state too, for the scale its roundings model.
    let mut cpu = s.state.clone();
    cpu.insert(
        LOSS_SCALER.into(),
        Tensor::new(vec![4], GradScaler::default().initial_state()),
    );
    for step in 0..3 {
        let mut inputs = s.inputs.clone();
        inputs.insert("step".into(), Tensor::new(vec![], vec![step as f32 + 1.0]));
        let gpu_out = dm.run(&inputs).expect("gpu step");
        let (cpu_out, _) = reference::train_step(&s.graph, &mut cpu, &inputs).expect("cpu step");
        for (name, c) in &cpu_out {
            let g = &gpu_out.iter().find(|(n, _)| n == name).expect("output").1;
            let e = rel_error(g, c);
            assert!(
                e < 1e-2,
                "step {step}: {name}: GPU {:?} vs CPU {:?}",
                g.data,
                c.data
            );
        }
        let skipped = &gpu_out
            .iter()
            .find(|(n, _)| n == "skipped")
            .expect("skipped")
            .1;
        assert_eq!(skipped.data, vec![0.0], "step {step} was skipped");
    }
    let gpu_state = dm.read_params().expect("read back");
    for (name, want) in &s.state {
        let e = rel_error(&gpu_state[name], &cpu[name]);
        assert!(
            e < 1e-2,
            "{name} after 3 steps: GPU differs from the CPU reference by {e:e} (started at {:?}, GPU {:?}, CPU {:?})",
            &want.data[..want.data.len().min(4)],
            &gpu_state[name].data[..want.data.len().min(4)],
            &cpu[name].data[..want.data.len().min(4)]
        );
    }
    // Three clean steps: the scale is where it started, three clean steps counted.
    assert_eq!(gpu_state[LOSS_SCALER].data, vec![65536.0, 3.0, 0.0, 0.0]);
}

#[test]
fn mixed_steps_on_odd_shapes_equal_the_cpu_reference() {
    let s = setup(ODD, 5, 9, 3);
    check_against_reference(&s, 5);
}

#[test]
fn mixed_steps_with_vec4_planes_equal_the_cpu_reference() {
    let s = setup(EVEN, 4, 8, 2);
    check_against_reference(&s, 4);
}

/// Every value a mixed step stores is f16 or one that must stay f32 — parameters and
/// their gradients, statistics, optimizer state, the loss — and the f16 plan takes less
/// memory than the f32 one.
#[test]
fn a_mixed_plan_stores_activations_in_f16_and_state_in_f32() {
    let s = setup(ODD, 5, 9, 3);
    let mixed = netc::pipeline::plan(&s.graph, 5, &Options::default()).expect("lowers");
    for b in &mixed.buffers {
        if matches!(b.role, plan::BufferRole::Param(_)) {
            assert_eq!(b.elem, Elem::F32, "{} is a parameter or state", b.name);
        }
    }
    let x = mixed.inputs.iter().find(|(n, _)| n == "x").expect("x").1;
    assert_eq!(mixed.buffers[x.0].elem, Elem::F16);
    let mut sources = Sources::new();
    let m = pipeline::front_end_str(&mut sources, "mixed.net", ODD, &[]).expect("model");
    let t = autodiff::build(&m.graph, &m.recipe.optimizer).expect("training graph");
    let f32_graph = pipeline::optimise(&t.graph).expect("passes");
    let full = netc::pipeline::plan(&f32_graph, 5, &Options::default()).expect("lowers");
    assert!(
        mixed.total_bytes() < full.total_bytes(),
        "{} vs {}",
        mixed.total_bytes(),
        full.total_bytes()
    );
}

/// GradScaler's semantics, forced: a scale so large that the loss gradient overflows f16
/// makes every step non-finite until the scale has halved enough. Each skipped step leaves
/// every parameter and all optimizer state bit-identical, halves the scale and counts the
/// skip; the first clean step updates the parameters; after `growth_interval` clean steps
/// in a row the scale doubles.
#[test]
fn forced_overflow_skips_the_step_halves_the_scale_and_grows_back() {
    let s = setup(EVEN, 4, 8, 2);
    let rt = runtime();
    let scaler = GradScaler {
        init_scale: 2f32.powi(40),
        growth_interval: 3,
        ..GradScaler::default()
    };
    let opts = Options {
        grad_scaler: scaler,
        ..Options::default()
    };
    let dm = DeviceModel::new(
        &rt,
        netc::pipeline::plan(&s.graph, 4, &opts).expect("lowers"),
        &s.state,
    )
    .expect("uploads");
    let bits = |m: &TensorMap| -> Vec<(String, Vec<u32>)> {
        let mut v: Vec<_> = m
            .iter()
            .filter(|(n, _)| n.as_str() != LOSS_SCALER)
            .map(|(n, t)| (n.clone(), t.data.iter().map(|x| x.to_bits()).collect()))
            .collect();
        v.sort();
        v
    };
    let skipped_of = |out: &[(String, Tensor)]| {
        out.iter()
            .find(|(n, _)| n == "skipped")
            .expect("skipped")
            .1
            .data[0]
    };
    let mut before = dm.read_params().expect("read");
    let mut scale = scaler.init_scale;
    let mut skips = 0.0;
    loop {
        let out = dm.run(&s.inputs).expect("step");
        let after = dm.read_params().expect("read");
        let state = after[LOSS_SCALER].data.clone();
        if skipped_of(&out) == 0.0 {
            assert_ne!(
                bits(&before),
                bits(&after),
                "a clean step changes the parameters"
            );
            assert_eq!(state, vec![scale, 1.0, 0.0, skips], "the first clean step");
            break;
        }
        skips += 1.0;
        scale /= 2.0;
        assert!(skips <= 40.0, "the scale never came down: {state:?}");
        // Running batch-norm statistics move in every forward pass, skipped or not
        // (PyTorch's GradScaler skips only optimizer.step()); nothing else may.
        let moved: Vec<String> = bits(&before)
            .into_iter()
            .zip(bits(&after))
            .filter(|(b, a)| b != a && !b.0.contains("running"))
            .map(|(b, _)| b.0)
            .collect();
        assert!(moved.is_empty(), "a skipped step changed {moved:?}");
        assert_eq!(state, vec![scale, 0.0, 0.0, skips], "after skip {skips}");
        before = after;
    }
    assert!(
        skips >= 10.0,
        "2^40 should overflow for many steps, skipped {skips}"
    );
    // Two more clean steps complete the growth interval: the scale doubles.
    let mut clean = 1;
    while clean < 3 {
        let out = dm.run(&s.inputs).expect("step");
        if skipped_of(&out) != 0.0 {
            // Rare: the scale sat right at the edge; the test's premise is gone.
            panic!("a step overflowed again at scale {scale}");
        }
        clean += 1;
    }
    let state = dm.read_params().expect("read")[LOSS_SCALER].data.clone();
    assert_eq!(state, vec![scale * 2.0, 0.0, 0.0, skips]);
}
