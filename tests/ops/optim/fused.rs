//! Fused optimizer updates on the GPU (lavapipe in CI): lowering each parameter's update as
//! one in-place dispatch (`sgd_update`, `adam_update`, `adamw_update`) leaves every
//! parameter, running statistic and optimizer state bit-identical to the unfused lowering
//! (one dispatch per optimizer op plus end-of-step copies) on drivers that do not contract
//! multiply-adds (lavapipe), and within 1e-6 of it on those that do, for every optimizer
//! autodiff writes, and both equal the CPU reference.

use crate::common::two_squares;
use netc::codegen::optim_fusion::OptimizerLowering;
use netc::codegen::plan::{Options, Plan};
use netc::diag::Sources;
use netc::runtime::{Runtime, model::DeviceModel};
use netc::tensor::{Tensor, TensorMap};
use netc::{autodiff, params, pipeline, reference};
use std::collections::HashMap;

const BATCH: usize = 6;
const STEPS: usize = 4;

/// Convs, batch norm and a linear layer with a bias. No conv bias feeds batch norm: its
/// exact gradient is zero, so its computed gradient is rounding noise that Adam turns
/// into full steps of either sign, and the CPU comparison would measure that noise.
fn model(optimizer: &str) -> String {
    format!(
        "
model Tiny() {{
  input x: [3, 8, 8]
  a = x |> conv(4, k = 3, pad = 1, bias = false) |> bn |> relu |> max_pool(3, stride = 2, pad = 1)
  b = a |> conv(4, k = 1, bias = false) |> bn |> tanh
  return concat(a, b) |> global_avg_pool |> flatten |> linear(2)
}}
train {{ optimizer = {optimizer} }}
"
    )
}

/// `max |ours - theirs| / max(max |theirs|, 1e-3)`: the largest error on the tensor's scale
/// (floored, so a tensor of rounding noise around zero is compared absolutely).
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

/// Run `STEPS` training steps of `plan` from `state`; the state after them.
fn train(
    rt: &Runtime,
    plan: Plan,
    state: &TensorMap,
    inputs: &[HashMap<String, Tensor>],
) -> TensorMap {
    let dm = DeviceModel::new(rt, plan, state).expect("uploads");
    for step in inputs {
        dm.run(step).expect("gpu step");
    }
    dm.read_params().expect("read back")
}

/// Fused and unfused lowering of `optimizer`'s training step: the fused plan uses
/// `fused_kernel` (one dispatch per trainable parameter) and ends bit-identical to the
/// unfused one after `STEPS` steps, and both match the CPU reference.
fn fused_equals_unfused(optimizer: &str, fused_kernel: &str, lr: f32) {
    let mut sources = Sources::new();
    let m = pipeline::front_end_str(&mut sources, "tiny.net", &model(optimizer), &[])
        .expect("tiny model");
    let t = autodiff::build(&m.graph, &m.recipe.optimizer).expect("training graph");
    let graph = pipeline::optimise(&t.graph).expect("passes");
    let state = params::init(&graph, &m.recipe.init, 7);
    let (x, labels) = two_squares(BATCH);
    let inputs: Vec<HashMap<String, Tensor>> = (1..=STEPS)
        .map(|step| {
            HashMap::from([
                ("x".to_string(), x.clone()),
                ("labels".to_string(), labels.clone()),
                ("lr".to_string(), Tensor::new(vec![], vec![lr])),
                ("step".to_string(), Tensor::new(vec![], vec![step as f32])),
            ])
        })
        .collect();

    // 6 bindings hold one parameter's update (Adam: `lr`, `step`, gradient, value, two
    // moments), 32 (lavapipe's limit) hold a batch of them.
    let lower = |optimizer, max_storage_buffers| {
        let opts = Options {
            optimizer,
            max_storage_buffers,
            ..Options::default()
        };
        netc::pipeline::plan(&graph, BATCH, &opts).expect("lowers")
    };
    let (fused, batched, unfused) = (
        lower(OptimizerLowering::Fused, 6),
        lower(OptimizerLowering::Fused, 32),
        lower(OptimizerLowering::Unfused, 6),
    );
    let trainable = t.grads.len();
    let uses = |p: &Plan, prefix: &str| {
        p.steps
            .iter()
            .filter(|s| p.kernels[s.kernel].name.starts_with(prefix))
            .count()
    };
    assert_eq!(
        uses(&fused, fused_kernel),
        trainable,
        "one update per parameter"
    );
    assert_eq!(uses(&unfused, fused_kernel), 0);
    assert!(
        uses(&batched, fused_kernel) < trainable,
        "32 bindings batch several parameters per dispatch"
    );

    let per_param = if fused_kernel.starts_with("sgd") {
        3
    } else {
        5
    };
    // Each batch norm's two running-statistic updates and their copies become one dispatch.
    let norms = uses(&fused, "running_update_pair");
    assert!(norms > 0, "the model's batch norms keep running statistics");
    assert_eq!(uses(&unfused, "running_update_pair"), 0);
    assert_eq!(
        unfused.steps.len() - fused.steps.len(),
        per_param * trainable + 3 * norms,
        "each fused update replaces {} dispatches, each running pair 4",
        per_param + 1
    );

    let rt = Runtime::open().unwrap_or_else(|e| panic!("GPU tests need an adapter: {e}"));
    let a = train(&rt, fused, &state, &inputs);
    let b = train(&rt, unfused, &state, &inputs);
    let c = train(&rt, batched, &state, &inputs);
    let mut cpu = state.clone();
    for step in &inputs {
        reference::train_step(&graph, &mut cpu, step).expect("cpu step");
    }
    assert_eq!(a.len(), cpu.len());
    assert_eq!(b.len(), cpu.len());
    // Vulkan lets a driver contract `a * b + c` into one fma wherever it sees both in one
    // kernel; the unfused lowering rounds every product to memory first. NVIDIA's compiler
    // contracts (on an H200 up to 62 elements of a tensor differed after 4 steps, by at most
    // 1.2e-7 of its scale); lavapipe does not, so there the fused kernels must match bit for
    // bit, which also pins their order of operations.
    let bit_exact = rt.context().is_software();
    for (label, ours) in [("fused", &a), ("batched", &c)] {
        for (name, t) in ours {
            let differ = t
                .data
                .iter()
                .zip(&b[name].data)
                .filter(|(x, y)| x.to_bits() != y.to_bits())
                .count();
            if bit_exact {
                assert_eq!(
                    differ, 0,
                    "{optimizer}: {name} after {STEPS} steps: {differ} elements of the {label} update differ from the unfused one"
                );
            } else {
                let e = rel_error(t, &b[name]);
                if differ > 0 {
                    eprintln!("{optimizer}: {name}: {label} vs unfused: {differ} elements, {e:e}");
                }
                assert!(
                    e < 1e-6,
                    "{optimizer}: {name} after {STEPS} steps: the {label} update differs from the unfused one by {e:e} ({differ} elements)"
                );
            }
        }
    }
    for (name, want) in &cpu {
        let e = rel_error(&a[name], want);
        assert!(
            e < 1e-5,
            "{optimizer}: {name} after {STEPS} steps differs from the CPU reference by {e:e}"
        );
    }
}

#[test]
fn sgd_with_momentum_and_weight_decay() {
    fused_equals_unfused(
        "sgd(lr = 0.1, momentum = 0.9, weight_decay = 1e-2)",
        "sgd_update_",
        0.1,
    );
}

#[test]
fn sgd_nesterov() {
    fused_equals_unfused(
        "sgd(lr = 0.1, momentum = 0.9, weight_decay = 5e-4, nesterov = true)",
        "sgd_update_nesterov_",
        0.1,
    );
}

#[test]
fn plain_sgd() {
    fused_equals_unfused("sgd(lr = 0.05)", "sgd_update_", 0.05);
}

#[test]
fn adam_with_l2_weight_decay() {
    fused_equals_unfused("adam(lr = 1e-3, weight_decay = 1e-2)", "adam_update_", 1e-3);
}

#[test]
fn adamw() {
    fused_equals_unfused(
        "adamw(lr = 1e-3, betas = [0.8, 0.99], weight_decay = 5e-2)",
        "adamw_update_",
        1e-3,
    );
}
