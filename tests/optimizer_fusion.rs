//! Which optimizer updates lowering fuses into one in-place dispatch, and how the plan
//! shows it (no GPU needed; tests/ops/optim/fused.rs runs the fused updates):
//! * every trainable parameter of a training plan gets one `sgd_update` dispatch, which
//!   replaces its `sgd_buffer`, `sgd_step` and two end-of-step copies;
//! * an update whose new value is used elsewhere keeps the general path, alone;
//! * `netc compile --emit plan` shows the fused dispatches, and `--no-optimizer-fusion`
//!   turns the fusion off.

use crate::common;

use netc::codegen::optim_fusion::OptimizerLowering;
use netc::codegen::plan::{self, Options, Plan};
use netc::diag::Sources;
use netc::ir::{Graph, Op, Site, TrainOp};
use netc::{autodiff, pipeline};

fn small_training_graph() -> (Graph, usize) {
    let path = common::root().join("tests/train/small.net");
    let mut sources = Sources::new();
    let m = pipeline::front_end(&mut sources, &path, &[]).expect("small model");
    let t = autodiff::build(&m.graph, &m.recipe.optimizer).expect("training graph");
    let trainable = t.grads.len();
    (pipeline::optimise(&t.graph).expect("passes"), trainable)
}

/// Lowered with room for one parameter per fused update (4 bindings: `lr` and a
/// parameter's gradient, value and momentum), so each update is its own dispatch.
fn lower(g: &Graph, optimizer: OptimizerLowering) -> Plan {
    lower_binding(g, optimizer, 4)
}

fn lower_binding(g: &Graph, optimizer: OptimizerLowering, max_storage_buffers: u32) -> Plan {
    let opts = Options {
        optimizer,
        max_storage_buffers,
        ..Options::default()
    };
    netc::pipeline::plan(g, 2, &opts).expect("lowers")
}

/// Parameters updated by the fused `sgd_update_x{count}_{elements}` dispatches of `p`.
fn parameters_updated(p: &Plan) -> usize {
    p.steps
        .iter()
        .filter_map(|s| p.kernels[s.kernel].name.strip_prefix("sgd_update_x"))
        .map(|rest| {
            rest.split('_')
                .next()
                .and_then(|n| n.parse::<usize>().ok())
                .expect("count")
        })
        .sum()
}

#[test]
fn a_device_with_more_bindings_batches_the_updates() {
    let (g, trainable) = small_training_graph();
    let one_each = lower(&g, OptimizerLowering::Fused);
    let batched = lower_binding(&g, OptimizerLowering::Fused, 64);
    assert_eq!(parameters_updated(&one_each), trainable);
    assert_eq!(parameters_updated(&batched), trainable);
    // 64 bindings hold `lr` and 21 parameters; a dispatch takes at most 16.
    let most = plan::MAX_PARAMS_PER_UPDATE as usize;
    assert_eq!(
        dispatches(&batched, "sgd_update_").len(),
        trainable.div_ceil(most)
    );
    assert_eq!(
        one_each.steps.len() - batched.steps.len(),
        trainable - trainable.div_ceil(most)
    );
}

/// Dispatches of `p` whose kernel name starts with `prefix`, by layer.
fn dispatches(p: &Plan, prefix: &str) -> Vec<String> {
    p.steps
        .iter()
        .filter(|s| p.kernels[s.kernel].name.starts_with(prefix))
        .map(|s| s.layer.clone())
        .collect()
}

#[test]
fn each_parameter_update_is_one_dispatch() {
    let (g, trainable) = small_training_graph();
    let fused = lower(&g, OptimizerLowering::Fused);
    let unfused = lower(&g, OptimizerLowering::Unfused);
    assert_eq!(dispatches(&fused, "sgd_update_").len(), trainable);
    assert!(dispatches(&fused, "sgd_buffer_").is_empty());
    assert!(dispatches(&fused, "sgd_step_").is_empty());
    assert_eq!(dispatches(&unfused, "sgd_buffer_").len(), trainable);
    assert!(dispatches(&unfused, "sgd_update_").is_empty());
    // Per parameter: buffer, step and two copies become one dispatch; the two new values
    // need no buffers. Likewise each batch norm's two running statistics: two updates and
    // two copies become one `running_update_pair`.
    let norms = dispatches(&fused, "running_update_pair").len();
    assert!(norms > 0, "the graph has batch norms");
    assert_eq!(
        unfused.steps.len() - fused.steps.len(),
        3 * trainable + 3 * norms
    );
    let naive = |p: &Plan| p.memory.as_ref().expect("planned").logical.len();
    assert_eq!(naive(&unfused) - naive(&fused), 2 * trainable + 2 * norms);
    // The fused updates are the step's last dispatches: every other read of a parameter,
    // its momentum buffer or a running statistic comes before them.
    let last = &fused.steps[fused.steps.len() - trainable - norms..];
    assert!(last.iter().all(|s| {
        let name = &fused.kernels[s.kernel].name;
        name.starts_with("sgd_update_") || name.starts_with("running_update_pair")
    }));
}

#[test]
fn an_update_whose_new_value_is_used_elsewhere_is_not_fused() {
    let (mut g, trainable) = small_training_graph();
    // Read one parameter's new momentum buffer as an output: its update must write a
    // buffer the output can read after the step, so it keeps the general path.
    let new_buf = g
        .node_ids()
        .find(|&id| matches!(g.node(id).op, Op::Train(TrainOp::SgdBuffer { .. })))
        .expect("an SGD update");
    let layer = g.node(new_buf).path.clone();
    let site = Site {
        path: layer.clone(),
        ..Site::default()
    };
    g.add_op(
        Op::Output {
            name: "new_buf".into(),
        },
        &[new_buf],
        site,
    )
    .expect("an output of the new buffer");
    let p = lower(&g, OptimizerLowering::Fused);
    assert_eq!(dispatches(&p, "sgd_buffer_"), std::slice::from_ref(&layer));
    assert_eq!(dispatches(&p, "sgd_step_"), std::slice::from_ref(&layer));
    let fused = dispatches(&p, "sgd_update_");
    assert_eq!(fused.len(), trainable - 1);
    assert!(!fused.contains(&layer), "{layer} is fused: {fused:?}");
}

#[test]
fn the_plan_shows_fused_updates_unless_turned_off() {
    let small = common::root().join("tests/train/small.net");
    let small = small.to_str().expect("utf-8 path");
    let plan = |extra: &[&str]| {
        let mut args = vec![
            "compile", small, "--train", "--emit", "plan", "--batch", "2",
        ];
        args.extend_from_slice(extra);
        let o = common::netc(&common::root(), &args);
        assert!(o.status.success(), "{}", common::stderr(&o));
        common::stdout(&o)
    };
    // "plan: batch 2, B buffers (P parameters), K kernels, D dispatches, ..."
    let count = |text: &str| -> usize {
        let header = text.lines().next().unwrap_or_default();
        let before = header.split(" dispatches").next().expect("a header");
        before
            .rsplit(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no dispatch count in `{header}`"))
    };
    let fused = plan(&[]);
    let unfused = plan(&["--no-optimizer-fusion"]);
    assert!(fused.contains(" sgd_update_"), "{fused}");
    assert!(!fused.contains(" sgd_step_"), "{fused}");
    assert!(unfused.contains(" sgd_step_") && !unfused.contains(" sgd_update_"));
    assert!(count(&fused) < count(&unfused), "{fused}\n{unfused}");
}
