//! `netc export`: ONNX models of the seed models and the test models run in onnxruntime
//! (the Python package, through tests/onnx_run.py) with outputs equal to the CPU
//! reference's within 1e-4 of max |ref|; bad input gets precise errors.

use crate::common::{self, netc, rel_error, stderr};
use netc::export::{self, Batch, ExportError};
use netc::predict::Normalize;
use netc::tensor::{Tensor, TensorMap};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const TOLERANCE: f64 = 1e-4;

/// A small model where each exportable op shows in the outputs: leaky_relu's negative side
/// survives the average pool, batch norm runs on random statistics (see [`randomise_bn`]),
/// and both the logits and their softmax are outputs.
const OPS_MODEL: &str = "
model OnnxOps(classes = 5) {
  input x: [3, 9, 9]
  a = x |> conv(4, k = 3, pad = 1) |> bn(eps = 1e-3) |> leaky_relu
  b = x |> conv(4, k = 1, bias = false) |> gelu
  c = x |> conv(4, k = [3, 1], stride = [1, 1], pad = [1, 0], groups = 1) |> tanh
  y = concat(a, b, c) |> avg_pool(3, stride = 2, pad = 1)
  z = y |> max_pool(3, stride = 1, pad = 1)
  s = relu(y + z)
  logits = s |> global_avg_pool |> flatten |> linear(classes) as head
  return [logits, logits |> softmax]
}
";

/// Windows that are not square in kernel, stride and padding, for conv and both pools:
/// ONNX's `kernel_shape`, `strides` and `pads` ([h, w] begins then ends) must carry each axis
/// on its own.
const NON_SQUARE_MODEL: &str = "
model OnnxNonSquare(classes = 3) {
  input x: [3, 11, 8]
  a = x |> conv(4, k = [1, 3], stride = [2, 1], pad = [0, 1]) |> relu
  b = a |> max_pool([3, 2], stride = [1, 2], pad = [1, 0])
  c = b |> avg_pool([2, 3], stride = [2, 1], pad = [0, 1])
  return c |> global_avg_pool |> flatten |> linear(classes)
}
";

/// Freshly initialised batch norms are nearly the identity (mean 0, variance 1, scale 1,
/// shift 0), which would hide a wrong eval-mode export: give them random statistics.
fn randomise_bn(g: &netc::ir::Graph, params: &mut TensorMap) {
    use netc::ir::{Op, ParamRole};
    for (i, (name, id)) in g.params().into_iter().enumerate() {
        let Op::Param { role } = g.node(id).op else {
            continue;
        };
        let t = params.get_mut(&name).expect("init makes every parameter");
        let r = random(t.dims.clone(), 100 + i as u64);
        t.data = match role {
            ParamRole::RunningVar | ParamRole::Gamma => {
                r.data.iter().map(|v| 1.0 + 0.5 * v).collect()
            }
            ParamRole::RunningMean | ParamRole::Beta => r.data.iter().map(|v| 0.3 * v).collect(),
            _ => continue,
        };
    }
}

/// A fresh scratch directory for one test.
pub(crate) fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("netc-onnx-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Deterministic inputs in [-1, 1) (an LCG: the test needs variety, not quality).
fn random(dims: Vec<usize>, seed: u64) -> Tensor {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let n = dims.iter().product();
    let data = (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect();
    Tensor::new(dims, data)
}

/// Run an exported model in onnxruntime on `x`; its outputs by name.
fn onnxruntime(model: &Path, x: &Tensor, dir: &Path) -> HashMap<String, Tensor> {
    let input = dir.join("input.f32");
    let bytes: Vec<u8> = x.data.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(&input, bytes).unwrap();
    let dims: Vec<String> = x.dims.iter().map(|d| d.to_string()).collect();
    let out = Command::new("python3")
        .arg(common::root().join("tests/onnx_run.py"))
        .arg(model)
        .arg(&input)
        .arg(dims.join(","))
        .arg(dir)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "onnxruntime failed on {} (pip install onnxruntime numpy): {}",
        model.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let (name, dims) = line.split_once(' ').expect("`NAME DIMS` lines");
            let dims: Vec<usize> = dims.split(',').map(|d| d.parse().unwrap()).collect();
            let raw = std::fs::read(dir.join(format!("{name}.f32"))).unwrap();
            let data = raw
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            (name.to_string(), Tensor::new(dims, data))
        })
        .collect()
}

/// The model's one input: its name and per-example dims.
fn the_input(g: &netc::ir::Graph) -> (String, Vec<usize>) {
    let inputs = g.inputs_of_model();
    assert_eq!(inputs.len(), 1, "test models have one input");
    let node = g.node(inputs[0]);
    let netc::ir::Op::Input { name } = &node.op else {
        unreachable!("inputs_of_model returns Input nodes")
    };
    (name.clone(), node.ty.dims.clone())
}

/// Compare onnxruntime's outputs with the reference's on `x`, every output.
fn assert_matches_reference(
    what: &str,
    g: &netc::ir::Graph,
    params: &TensorMap,
    onnx: &HashMap<String, Tensor>,
    x: Tensor,
) {
    let (name, _) = the_input(g);
    let reference = netc::reference::run(g, params, &HashMap::from([(name, x)])).unwrap();
    assert_eq!(
        onnx.len(),
        reference.len(),
        "{what}: outputs {:?}",
        onnx.keys()
    );
    for (name, want) in &reference {
        let got = onnx
            .get(name)
            .unwrap_or_else(|| panic!("{what}: onnxruntime has no output `{name}`"));
        let err = rel_error(got, want);
        assert!(
            err < TOLERANCE,
            "{what}: output `{name}` differs by {err:e}"
        );
    }
}

/// Initialise a model's weights, save them and export them with `netc export ARGS`.
fn init_and_export(
    model: &Path,
    dir: &Path,
    args: &[&str],
) -> (netc::elab::Elaborated, TensorMap, PathBuf) {
    let e = common::elaborate(model, &[]);
    let mut params = netc::params::init(&e.graph, &e.recipe.init, 7);
    randomise_bn(&e.graph, &mut params);
    let weights = dir.join("w.safetensors");
    netc::params::save(&params, &weights).unwrap();
    let onnx = dir.join("model.onnx");
    let mut all = vec![
        "export",
        model.to_str().unwrap(),
        "--weights",
        weights.to_str().unwrap(),
        "-o",
        onnx.to_str().unwrap(),
    ];
    all.extend(args);
    let o = netc(dir, &all);
    assert!(o.status.success(), "netc export failed: {}", stderr(&o));
    (e, params, onnx)
}

/// A fixed-batch export at batch 2 equals the reference.
pub(crate) fn check_fixed_batch(model: &Path, tag: &str) {
    let dir = scratch(tag);
    let (e, params, onnx) = init_and_export(model, &dir, &["--batch", "2"]);
    let (_, dims) = the_input(&e.graph);
    let x = random([vec![2], dims].concat(), 1);
    let outputs = onnxruntime(&onnx, &x, &dir);
    assert_matches_reference(tag, &e.graph, &params, &outputs, x);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn seed_models_match_the_reference_at_batch_2() {
    for m in common::MODELS {
        check_fixed_batch(&common::model_path(m), m);
    }
}

#[test]
fn every_activation_pool_softmax_and_several_outputs_match_the_reference() {
    let dir = scratch("ops-model");
    let model = dir.join("onnx_ops.net");
    std::fs::write(&model, OPS_MODEL).unwrap();
    check_fixed_batch(&model, "ops");
    // pipes_funcs: every activation, grouped and strided convs, a rectangular input, padded
    // avg_pool, three outputs; labels_concat: concats of several inputs, max_pool, add.
    for m in ["pipes_funcs", "labels_concat"] {
        check_fixed_batch(&common::root().join(format!("tests/in/{m}.net")), m);
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn non_square_windows_match_the_reference() {
    let dir = scratch("non-square-model");
    let model = dir.join("onnx_non_square.net");
    std::fs::write(&model, NON_SQUARE_MODEL).unwrap();
    check_fixed_batch(&model, "non-square");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_dynamic_batch_model_runs_at_two_batch_sizes() {
    let dir = scratch("dynamic");
    // `--batch dynamic` is the default.
    let (e, params, onnx) = init_and_export(&common::model_path("resnet"), &dir, &[]);
    let (_, dims) = the_input(&e.graph);
    for n in [1, 3] {
        let x = random([vec![n], dims.clone()].concat(), n as u64);
        let outputs = onnxruntime(&onnx, &x, &dir);
        assert_eq!(outputs["logits"].dims, [n, 10]);
        assert_matches_reference(&format!("batch {n}"), &e.graph, &params, &outputs, x);
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn with_normalize_prepends_the_checkpoints_normalisation() {
    use netc::train::checkpoint::{self, Checkpoint};
    let dir = scratch("normalize");
    let model = common::model_path("resnet");
    let e = common::elaborate(&model, &[]);
    let params = netc::params::init(&e.graph, &e.recipe.init, 3);
    let source = std::fs::read_to_string(&model).unwrap();
    let normalize = Normalize {
        mean: vec![0.4, 0.5, 0.6],
        std: vec![0.2, 0.25, 0.3],
    };
    let c = Checkpoint {
        model_file: model.display().to_string(),
        source_hash: checkpoint::hash(&source),
        model_source: source,
        hparams: Vec::new(),
        recipe: e.recipe.clone(),
        normalize: normalize.clone(),
        classes: (0..10).map(|i| format!("class {i}")).collect(),
        data: "synthetic".into(),
        limit: None,
        epoch: 1,
        step: 1,
        seed: 3,
        history: Vec::new(),
        partial: None,
        params: params.clone(),
    };
    c.save(&dir, "best").unwrap();
    let weights = dir.join("best.safetensors");
    let onnx = dir.join("model.onnx");
    let o = netc(
        &dir,
        &[
            "export",
            model.to_str().unwrap(),
            "--weights",
            weights.to_str().unwrap(),
            "-o",
            onnx.to_str().unwrap(),
            "--with-normalize",
        ],
    );
    assert!(o.status.success(), "netc export failed: {}", stderr(&o));
    // The exported model takes raw [0, 1] pixels; the reference takes normalised ones.
    let raw = random(vec![2, 3, 32, 32], 5);
    let raw = Tensor::new(raw.dims, raw.data.iter().map(|v| (v + 1.0) / 2.0).collect());
    let plane = 32 * 32;
    let normalised = Tensor::new(
        raw.dims.clone(),
        raw.data
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let ch = (i / plane) % 3;
                (v - normalize.mean[ch]) / normalize.std[ch]
            })
            .collect(),
    );
    let outputs = onnxruntime(&onnx, &raw, &dir);
    assert_matches_reference("with normalize", &e.graph, &params, &outputs, normalised);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn with_normalize_needs_weights_that_hold_a_normalisation() {
    let dir = scratch("no-normalize");
    let model = common::model_path("resnet");
    let e = common::elaborate(&model, &[]);
    let weights = dir.join("w.safetensors");
    netc::params::save(&netc::params::init(&e.graph, &e.recipe.init, 1), &weights).unwrap();
    let o = netc(
        &dir,
        &[
            "export",
            model.to_str().unwrap(),
            "--weights",
            "w.safetensors",
            "-o",
            "m.onnx",
            "--with-normalize",
        ],
    );
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("`w.safetensors` holds no normalisation"),
        "unexpected error: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(!dir.join("m.onnx").exists());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_training_graph_is_refused_naming_its_first_training_op() {
    let mut sources = netc::diag::Sources::new();
    let compiled =
        netc::pipeline::compile(&mut sources, &common::model_path("resnet"), &[], true).unwrap();
    let g = &compiled.elaborated.graph;
    let params = netc::params::init(g, &compiled.elaborated.recipe.init, 1);
    let opts = export::Options {
        batch: Batch::Dynamic,
        normalize: None,
    };
    let err = export::to_onnx(g, &params, &opts).unwrap_err();
    let ExportError::Unsupported { op, .. } = &err else {
        panic!("expected an unsupported-op error, got {err}");
    };
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("cannot export op `{op}`")),
        "{text}"
    );
    assert!(text.contains("training graphs"), "{text}");
}

#[test]
fn missing_or_misshapen_weights_are_named() {
    let e = common::elaborate(&common::model_path("resnet"), &[]);
    let mut params = netc::params::init(&e.graph, &e.recipe.init, 1);
    let opts = export::Options {
        batch: Batch::Fixed(2),
        normalize: None,
    };
    let name = "conv1.weight".to_string();
    let w = params.remove(&name).expect("resnet has conv1.weight");
    assert_eq!(
        export::to_onnx(&e.graph, &params, &opts),
        Err(ExportError::MissingParam(name.clone()))
    );
    params.insert(name.clone(), Tensor::new(vec![w.data.len()], w.data));
    let err = export::to_onnx(&e.graph, &params, &opts).unwrap_err();
    assert!(
        matches!(&err, ExportError::ParamShape { name: n, .. } if *n == name),
        "{err}"
    );

    // On the command line: a weights file that does not exist.
    let dir = scratch("missing-weights");
    let o = netc(
        &dir,
        &[
            "export",
            common::model_path("resnet").to_str().unwrap(),
            "--weights",
            "nowhere.safetensors",
            "-o",
            "m.onnx",
        ],
    );
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("nowhere.safetensors"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}
