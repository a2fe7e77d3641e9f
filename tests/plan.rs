//! IR → kernel plan lowering (`netc::codegen::plan::lower`), device-free: the four seed models
//! lower with every kernel valid WGSL (naga) and every dispatch bound consistently; convs that
//! feed only a concat write straight into the concat buffer; a tiny model's plan text is pinned
//! with an insta snapshot (review with `cargo insta review`); and shapes the GPU backend does not
//! support are errors, not panics.

use netc::codegen::kernels::BindingKind;
use netc::codegen::memory::MemoryPlanning;
use netc::codegen::plan::{BufferRole, Options, Plan};
use netc::diag::Sources;
use netc::ir::{Graph, NodeId, Op};
use netc::pipeline;
use std::collections::{HashMap, HashSet};
use std::path::Path;

const MODELS: [&str; 4] = ["resnet", "preact_resnet", "densenet", "googlenet"];

/// A seed model after the front end and the IR passes (what `netc compile` lowers).
fn model(stem: &str) -> Graph {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut sources = Sources::new();
    match pipeline::compile(
        &mut sources,
        &root.join(format!("models/{stem}.net")),
        &[],
        false,
    ) {
        Ok(c) => c.optimised,
        Err(d) => panic!("{stem}: {}", sources.render(&d.0, false)),
    }
}

/// A model given as source text, straight from the front end.
fn model_str(src: &str) -> Graph {
    let mut sources = Sources::new();
    match pipeline::front_end_str(&mut sources, "tiny.net", src, &[]) {
        Ok(e) => e.graph,
        Err(d) => panic!("{}", sources.render(&d.0, false)),
    }
}

fn lower(g: &Graph, batch: usize) -> Plan {
    netc::pipeline::plan(g, batch, &Options::default())
        .unwrap_or_else(|e| panic!("{}: {e}", g.name))
}

/// Structural invariants of any plan (`lower` itself has validated every kernel with naga):
/// kernels exist and are unique; each step binds one
/// buffer per kernel binding, all in range, writes only intermediate buffers, and reads only
/// buffers that are inputs, parameters or already written by an earlier step.
fn check_plan(what: &str, p: &Plan) {
    assert!(!p.kernels.is_empty(), "{what}: no kernels");
    assert!(!p.steps.is_empty(), "{what}: no dispatches");
    let mut sources = HashSet::new();
    for k in &p.kernels {
        assert!(
            sources.insert(k.wgsl.as_str()),
            "{what}: kernel `{}` appears twice (kernels are deduplicated by source)",
            k.name
        );
    }
    let mut used = vec![false; p.kernels.len()];
    let mut ready: HashSet<usize> = p
        .buffers
        .iter()
        .enumerate()
        .filter(|(_, b)| matches!(b.role, BufferRole::Input(_) | BufferRole::Param(_)))
        .map(|(i, _)| i)
        .collect();
    for (i, s) in p.steps.iter().enumerate() {
        let k = &p.kernels[s.kernel];
        used[s.kernel] = true;
        assert_eq!(
            s.buffers.len(),
            k.bindings.len(),
            "{what}: step {i} ({}) binds {} buffers to kernel `{}` with {} bindings",
            s.layer,
            s.buffers.len(),
            k.name,
            k.bindings.len()
        );
        for (b, kind) in s.buffers.iter().zip(&k.bindings) {
            let desc = p
                .buffers
                .get(b.0)
                .unwrap_or_else(|| panic!("{what}: step {i} binds missing buffer b{}", b.0));
            assert!(desc.len > 0, "{what}: buffer {} is empty", desc.name);
            match kind {
                BindingKind::ReadOnly => assert!(
                    ready.contains(&b.0),
                    "{what}: step {i} ({}) reads b{} ({}) before anything wrote it",
                    s.layer,
                    b.0,
                    desc.name
                ),
                BindingKind::ReadWrite => assert_eq!(
                    desc.role,
                    BufferRole::Activation,
                    "{what}: step {i} ({}) writes {}",
                    s.layer,
                    desc.name
                ),
            }
        }
        let written = s.buffers.last().expect("at least the output").0;
        ready.insert(written);
    }
    assert!(
        used.iter().all(|&u| u),
        "{what}: a kernel no step uses was kept"
    );
    for (name, b, _) in &p.outputs {
        assert!(
            ready.contains(&b.0),
            "{what}: output {name} is never written"
        );
    }
    assert!(!p.inputs.is_empty(), "{what}: no inputs");
}

#[test]
fn all_four_models_lower() {
    for stem in MODELS {
        let g = model(stem);
        for batch in [1, 128] {
            let p = lower(&g, batch);
            check_plan(&format!("{stem} at batch {batch}"), &p);
            assert_eq!(p.batch, batch);
            assert_eq!(p.outputs.len(), 1, "{stem}: one output (the logits)");
            assert_eq!(
                p.outputs[0].2,
                vec![batch, 10],
                "{stem}: a batch of 10 logits"
            );
            // Every layer that computes something has a dispatch: all ops but the free ones.
            let computing = g
                .node_ids()
                .filter(|&id| {
                    !matches!(
                        g.node(id).op,
                        Op::Input { .. } | Op::Param { .. } | Op::Flatten | Op::Output { .. }
                    )
                })
                .count();
            let concat_operands: usize = concats(&g).map(|c| g.inputs(c).len()).sum();
            let concats = concats(&g).count();
            // Each concat is (operands - in place) dispatches instead of one.
            let in_place = in_place_convs(&g).len();
            assert_eq!(
                p.steps.len(),
                computing - concats + concat_operands - in_place,
                "{stem}: dispatch count"
            );
        }
    }
}

fn concats(g: &Graph) -> impl Iterator<Item = NodeId> + '_ {
    g.node_ids()
        .filter(|&id| matches!(g.node(id).op, Op::Concat))
}

/// Convs whose only use is one operand slot of one concat, with their concat.
fn in_place_convs(g: &Graph) -> HashMap<NodeId, NodeId> {
    let mut out = HashMap::new();
    for c in concats(g) {
        for p in g.inputs(c) {
            if matches!(g.node(p).op, Op::Conv2d { .. }) && g.users(p) == vec![c] {
                out.insert(p, c);
            }
        }
    }
    out
}

/// DenseNet's dense layers end in a conv feeding only the concat: those convs must write into
/// their channel slice of the concat buffer, so the plan copies only the other operands.
/// GoogleNet's branches end in conv → bn → act, so its concats have no such conv and every
/// operand is copied.
#[test]
fn convs_feeding_only_a_concat_write_into_it() {
    for (stem, expect_in_place) in [("densenet", true), ("googlenet", false)] {
        let g = model(stem);
        // Buffers are found by their value's name: one buffer per value, so no memory
        // planning (which names a shared buffer after its largest value).
        let opts = Options {
            memory: MemoryPlanning::Off,
            ..Options::default()
        };
        let p = netc::pipeline::plan(&g, 2, &opts).expect("lowers");
        let in_place = in_place_convs(&g);
        assert_eq!(
            !in_place.is_empty(),
            expect_in_place,
            "{stem}: {} convs feed only a concat",
            in_place.len()
        );
        let operands: usize = concats(&g).map(|c| g.inputs(c).len()).sum();
        let copies = p
            .steps
            .iter()
            .filter(|s| p.kernels[s.kernel].name.starts_with("concat_"))
            .count();
        assert_eq!(
            copies,
            operands - in_place.len(),
            "{stem}: {operands} concat operands, {} written in place",
            in_place.len()
        );
        if expect_in_place {
            assert!(copies < operands, "{stem}: every concat operand is copied");
        }
        // Each in-place conv's dispatch writes the concat's buffer itself.
        let buffer_of = |layer: &str| {
            let hits: Vec<_> = p.buffers.iter().filter(|b| b.name == layer).collect();
            assert_eq!(hits.len(), 1, "{stem}: buffers named {layer}: {hits:?}");
            hits[0].name.clone()
        };
        for (&conv, &cat) in &in_place {
            let conv_path = &g.node(conv).path;
            let step = p
                .steps
                .iter()
                .find(|s| &s.layer == conv_path)
                .unwrap_or_else(|| panic!("{stem}: no dispatch for {conv_path}"));
            let out = step.buffers.last().expect("output binding");
            assert_eq!(
                p.buffers[out.0].name,
                buffer_of(&g.node(cat).path),
                "{stem}: {conv_path} writes its own buffer, not its concat's"
            );
        }
    }
}

/// One of each op kind: a conv written into its concat in place, a pool copied into it, an
/// operand used twice (copied twice), a residual add, and the classifier head with softmax.
const TINY: &str = r#"
model Tiny(classes = 4) {
  input x: [3, 8, 8]
  x = x |> conv(8, k = 3, pad = 1, bias = false) as stem |> bn |> relu
  a = x |> conv(4, k = 1) as branch
  p = x |> max_pool(3, stride = 1, pad = 1) as pool
  y = concat(a, p) as cat
  y = y + (y |> conv(12, k = 3, pad = 1) as res |> tanh)
  z = concat(y, p, p) as cat2
  return z |> avg_pool(2) |> global_avg_pool |> flatten |> linear(classes) as head |> softmax
}
"#;

#[test]
fn tiny_model_plan_snapshot() {
    let g = model_str(TINY);
    let p = lower(&g, 2);
    check_plan("tiny", &p);
    insta::assert_snapshot!("tiny_plan_batch2", p.to_text());
}

/// Non-square windows lower like square ones: each kernel's name spells out the window where
/// its two axes differ.
#[test]
fn non_square_windows_lower() {
    let g = model_str(
        r#"
model Skinny() {
  input x: [3, 8, 8]
  x = x |> conv(8, k = [3, 1], stride = [1, 2], pad = [1, 0]) as skinny
  return x |> max_pool([1, 2]) as wide |> global_avg_pool |> flatten
}
"#,
    );
    let p = lower(&g, 1);
    check_plan("skinny", &p);
    let names: Vec<&str> = p.kernels.iter().map(|k| k.name.as_str()).collect();
    assert!(
        names.iter().any(|n| n.starts_with("conv2d_3x1_s1x2_p1x0_")),
        "{names:?}"
    );
    assert!(
        names.iter().any(|n| n.contains("1x2_s1x2_p0_")),
        "{names:?}"
    );
}

/// A padding the front end accepts (the IR's shape rule saturates) but no kernel can run is a
/// lowering error, not an arithmetic-overflow panic.
#[test]
fn absurd_padding_is_an_error_not_a_panic() {
    // The front end bounds each tensor per example (`pad = 3000000000` is "tensor too
    // large" at the call, tests/cli_reliability.rs); the batch can still take one past what
    // a kernel indexes: [8, 8190, 8190] is 536,606,400 elements per example, 4.3e9 at 8.
    let g = model_str(
        r#"
model Padded() {
  input x: [3, 8, 8]
  return x |> conv(8, k = 3, pad = 4092) as huge |> global_avg_pool |> flatten
}
"#,
    );
    let err = netc::pipeline::plan(&g, 8, &Options::default()).expect_err("must not lower");
    assert!(err.to_string().contains("huge"), "names the layer: {err}");
}
