//! Lowered plans executed on the GPU against netc's CPU reference interpreter
//! (`netc::reference::run`), with the runtime driven directly (one buffer per plan buffer, one
//! submission for all dispatches): small models that exercise every op, every activation, grouped
//! and strided convs, convs written in place into a concat, concat copies (including one operand
//! used twice) and residual adds. The seed models end to end are `gpu_models.rs`' job.
//!
//! There is no skipping: without a GPU adapter these tests fail and say how to get one.

use crate::gpu_common::{Lcg, assert_close, rt};
use netc::codegen::plan::{BufferRole, Options, Plan};
use netc::diag::Sources;
use netc::ir::{Graph, Op, ParamRole};
use netc::reference;
use netc::runtime::{Dispatch, GpuBuffer};
use netc::tensor::{Tensor, TensorMap};
use std::collections::HashMap;

fn graph(name: &str, src: &str) -> Graph {
    let mut sources = Sources::new();
    match netc::pipeline::front_end_str(&mut sources, name, src, &[]) {
        Ok(e) => e.graph,
        Err(d) => panic!("{}", sources.render(&d.0, false)),
    }
}

/// Deterministic parameters; running variances stay positive and away from zero.
fn params(g: &Graph, seed: u64) -> TensorMap {
    let mut rng = Lcg::new(seed);
    g.params()
        .into_iter()
        .map(|(name, id)| {
            let node = g.node(id);
            let n = node.ty.numel();
            let data = match node.op {
                Op::Param {
                    role: ParamRole::RunningVar,
                } => rng.vec_in(n, 0.2, 2.0),
                Op::Param {
                    role: ParamRole::Gamma,
                } => rng.vec_in(n, 0.5, 1.5),
                _ => rng.vec(n),
            };
            (name, Tensor::new(node.ty.dims.clone(), data))
        })
        .collect()
}

/// Runs `plan` on the GPU with every buffer uploaded (parameters and inputs) or zeroed
/// (intermediates), in one submission; returns the outputs by name.
fn run_plan(plan: &Plan, params: &TensorMap, inputs: &HashMap<String, Tensor>) -> Vec<Vec<f32>> {
    let rt = rt();
    let buffers: Vec<GpuBuffer> = plan
        .buffers
        .iter()
        .map(|b| {
            let data = match &b.role {
                BufferRole::Param(name) => &params[name].data,
                BufferRole::Input(name) => &inputs[name].data,
                BufferRole::Activation | BufferRole::Log(_) => {
                    return rt.create_buffer(b.len).expect("buffer");
                }
            };
            assert_eq!(data.len(), b.len, "{}: length", b.name);
            rt.upload(data).expect("upload")
        })
        .collect();
    let dispatches: Vec<Dispatch> = plan
        .steps
        .iter()
        .map(|s| {
            let bufs: Vec<&GpuBuffer> = s.buffers.iter().map(|b| &buffers[b.0]).collect();
            Dispatch::new(&plan.kernels[s.kernel], &bufs)
        })
        .collect();
    let outs: Vec<&GpuBuffer> = plan.outputs.iter().map(|(_, b, _)| &buffers[b.0]).collect();
    rt.run_and_read(&dispatches, &outs).expect("run")
}

fn check(name: &str, src: &str, batch: usize, seed: u64) {
    let g = graph(name, src);
    let plan =
        netc::pipeline::plan(&g, batch, &Options::default()).unwrap_or_else(|e| panic!("{e}"));
    let params = params(&g, seed);
    let mut inputs = HashMap::new();
    let mut rng = Lcg::new(seed + 1);
    for id in g.inputs_of_model() {
        let node = g.node(id);
        let Op::Input { name } = &node.op else {
            unreachable!()
        };
        let dims: Vec<usize> = std::iter::once(batch).chain(node.ty.dims.clone()).collect();
        let n = dims.iter().product();
        inputs.insert(name.clone(), Tensor::new(dims, rng.vec_in(n, -2.0, 2.0)));
    }
    let want = reference::run(&g, &params, &inputs).expect("reference");
    let got = run_plan(&plan, &params, &inputs);
    assert_eq!(got.len(), want.len());
    for ((wname, w), g) in want.iter().zip(&got) {
        assert_close(&format!("{name}: output {wname}"), g, &w.data);
    }
}

#[test]
fn branches_concats_and_residuals() {
    // `branch` is written in place into `cat`; `pool` is copied into `cat` once and into `cat2`
    // twice; `y` is both added to and concatenated.
    check(
        "branches.net",
        r#"
model Branches(classes = 5) {
  input x: [3, 9, 9]
  x = x |> conv(8, k = 3, pad = 1, bias = false) as stem |> bn |> relu
  a = x |> conv(4, k = 1) as branch
  p = x |> max_pool(3, stride = 1, pad = 1) as pool
  y = concat(a, p) as cat
  y = y + (y |> conv(12, k = 3, pad = 1) as res |> tanh)
  z = concat(y, p, p) as cat2
  return z |> avg_pool(3, stride = 2, pad = 1) |> global_avg_pool |> flatten |> linear(classes) |> softmax
}
"#,
        3,
        1,
    );
}

#[test]
fn every_activation_grouped_and_strided_convs() {
    check(
        "acts.net",
        r#"
model Acts(classes = 7) {
  input x: [4, 11, 7]
  x = x |> conv(8, k = 5, pad = 2) |> bn |> gelu
  x = x |> conv(8, k = 3, stride = 2, pad = 1, groups = 4, bias = false) |> bn |> leaky_relu
  x = x |> conv(16, k = 1, stride = 2) |> tanh
  x = concat(x |> conv(8, k = 3, pad = 1, groups = 8), x |> relu)
  return x |> global_avg_pool |> flatten |> linear(classes)
}
"#,
        2,
        2,
    );
}

#[test]
fn dense_and_inception_blocks() {
    // DenseNet's layer (new features first, in place) and GoogleNet's four-branch inception.
    check(
        "blocks.net",
        r#"
model Blocks(classes = 3) {
  input x: [3, 8, 8]
  x = x |> conv(8, k = 3, pad = 1)
  for l in 0..3 {
    y = x |> bn |> relu |> conv(8, k = 1, bias = false) |> bn |> relu |> conv(4, k = 3, pad = 1, bias = false)
    x = concat(y, x)
  }
  x = concat(
    x |> conv(4, k = 1) |> bn |> relu,
    x |> conv(4, k = 1) |> bn |> relu |> conv(6, k = 3, pad = 1) |> bn |> relu,
    x |> conv(2, k = 1) |> bn |> relu |> conv(3, k = 5, pad = 2) |> bn |> relu,
    x |> max_pool(3, stride = 1, pad = 1) |> conv(3, k = 1) |> bn |> relu
  )
  return x |> max_pool(3, stride = 2, pad = 1) |> global_avg_pool |> flatten |> linear(classes)
}
"#,
        4,
        3,
    );
}

#[test]
fn non_square_windows() {
    // Tall, wide and mixed windows, strides and paddings, in convs (one written in place
    // into a concat) and both pools.
    check(
        "non_square.net",
        r#"
model NonSquare(classes = 3) {
  input x: [3, 9, 8]
  x = x |> conv(6, k = [3, 1], pad = [1, 0]) as tall |> relu
  a = x |> conv(4, k = [1, 3], stride = [1, 2], pad = [0, 1]) as wide
  b = x |> max_pool([1, 2]) |> conv(4, k = 1)
  y = concat(a, b) |> avg_pool([3, 2], stride = [2, 1], pad = [1, 0])
  return y |> global_avg_pool |> flatten |> linear(classes)
}
"#,
        2,
        21,
    );
}
