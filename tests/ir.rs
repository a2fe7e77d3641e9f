//! IR invariants: the verifier on the models and on hand-broken graphs, every op's
//! shape rule, parameter naming, and the dead-code pass.

use crate::common;

use netc::diag::Sources;
use netc::ir::{Activation, DType, Graph, NodeId, Op, ParamRole, Site, TensorType, Window, verify};
use std::collections::{HashMap, HashSet};

fn act(dims: &[usize]) -> TensorType {
    TensorType::activation(dims.to_vec())
}

fn par(dims: &[usize]) -> TensorType {
    TensorType::param(dims.to_vec())
}

fn win(k: [usize; 2], s: [usize; 2], p: [usize; 2]) -> Window {
    Window {
        kernel: k,
        stride: s,
        padding: p,
    }
}

fn conv(out: usize, w: Window, groups: usize, bias: bool) -> Op {
    Op::Conv2d {
        out_channels: out,
        window: w,
        groups,
        bias,
    }
}

fn site(path: &str) -> Site {
    Site {
        path: path.to_string(),
        ..Site::default()
    }
}

fn infer(op: &Op, xs: &[TensorType]) -> Result<TensorType, String> {
    let refs: Vec<&TensorType> = xs.iter().collect();
    op.infer(&refs).map_err(|e| e.message)
}

fn infer_err(op: &Op, xs: &[TensorType]) -> String {
    infer(op, xs).expect_err("the shape rule must reject these operands")
}

// ---------------------------------------------------------------------------
// The verifier on real graphs.

#[test]
fn verifier_accepts_every_model_and_test_input() {
    let files = common::MODELS
        .iter()
        .map(|m| common::model_path(m))
        .chain(common::in_files());
    for path in files {
        let e = common::elaborate(&path, &[]);
        verify(&e.graph).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
        // Elaborated graphs are built in topological order.
        let order = e.graph.topo_order().expect("acyclic");
        assert_eq!(order, e.graph.node_ids().collect::<Vec<_>>());
        let mut optimised = e.graph.clone();
        optimised = netc::pipeline::optimise(&optimised).unwrap();
        verify(&optimised).unwrap();
    }
}

/// input x [3,8,8] → conv(4, k=3, pad=1) → relu → output; returns the graph and the
/// ids (input, weight, bias, conv, relu, output).
fn small_graph() -> (Graph, [NodeId; 6]) {
    let mut g = Graph::new("Small");
    let x = g.add_leaf(Op::Input { name: "x".into() }, act(&[3, 8, 8]), site("x"));
    let w = g.add_leaf(
        Op::Param {
            role: ParamRole::Weight,
        },
        par(&[4, 3, 3, 3]),
        site("conv1"),
    );
    let b = g.add_leaf(
        Op::Param {
            role: ParamRole::Bias,
        },
        par(&[4]),
        site("conv1"),
    );
    let c = g
        .add_op(
            conv(4, win([3, 3], [1, 1], [1, 1]), 1, true),
            &[x, w, b],
            site("conv1"),
        )
        .unwrap();
    let r = g
        .add_op(Op::Activation(Activation::RELU), &[c], site("relu1"))
        .unwrap();
    let o = g
        .add_op(
            Op::Output {
                name: "logits".into(),
            },
            &[r],
            site(""),
        )
        .unwrap();
    (g, [x, w, b, c, r, o])
}

fn verify_err(g: &Graph) -> String {
    verify(g)
        .expect_err("the verifier must reject this graph")
        .to_string()
}

#[test]
fn verifier_accepts_the_hand_built_graph() {
    let (g, [_, _, _, c, r, o]) = small_graph();
    verify(&g).unwrap();
    assert_eq!(g.node(c).ty, act(&[4, 8, 8]));
    assert_eq!(g.node(r).ty, act(&[4, 8, 8]));
    assert_eq!(g.outputs(), vec![o]);
    assert_eq!(g.trainable_param_count(), 4 * 3 * 9 + 4);
    assert_eq!(g.macs(), 4 * 8 * 8 * 3 * 9);
    assert_eq!(
        g.params()
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>(),
        ["conv1.weight", "conv1.bias"]
    );
}

#[test]
fn verifier_rejects_a_wrongly_typed_edge() {
    let (mut g, [x, ..]) = small_graph();
    // The input now claims another type than its outgoing edge carries.
    g.node_mut(x).ty = act(&[3, 4, 4]);
    let e = verify_err(&g);
    assert!(
        e.contains("%3 (conv2d): edge from %0 is typed [N,3,8,8] but the producer makes [N,3,4,4]"),
        "{e}"
    );
}

#[test]
fn verifier_rejects_a_node_typed_against_its_rule() {
    let (mut g, [_, _, _, _, r, o]) = small_graph();
    g.remove(o);
    g.node_mut(r).ty = act(&[5, 8, 8]);
    let o = g
        .add_op(
            Op::Output {
                name: "logits".into(),
            },
            &[r],
            site(""),
        )
        .unwrap();
    let _ = o;
    let e = verify_err(&g);
    assert!(
        e.contains("typed [N,5,8,8] but its operands give [N,4,8,8]"),
        "{e}"
    );
}

#[test]
fn verifier_rejects_a_missing_operand() {
    let (mut g, [_, _, b, _, _, _]) = small_graph();
    g.remove(b);
    let e = verify_err(&g);
    assert!(e.contains("(conv2d): expects 3 operands, has 2"), "{e}");
}

#[test]
fn verifier_rejects_operand_slots_with_a_gap() {
    let (mut g, [x, _, _, _, r, _]) = small_graph();
    g.connect(x, r, 2);
    let e = verify_err(&g);
    assert!(e.contains("operand slots are not 0..n"), "{e}");
}

#[test]
fn verifier_rejects_an_extra_operand() {
    let (mut g, [x, _, _, _, r, _]) = small_graph();
    g.connect(x, r, 1);
    let e = verify_err(&g);
    assert!(e.contains("(relu): expects 1 operands, has 2"), "{e}");
}

#[test]
fn verifier_rejects_a_leaf_with_operands() {
    let (mut g, [x, w, _, _, _, _]) = small_graph();
    g.connect(x, w, 0);
    let e = verify_err(&g);
    assert!(e.contains("(param): expects 0 operands, has 1"), "{e}");
}

#[test]
fn verifier_rejects_a_duplicate_parameter_name() {
    let (mut g, _) = small_graph();
    let x2 = g.inputs_of_model()[0];
    let w = g.add_leaf(
        Op::Param {
            role: ParamRole::Weight,
        },
        par(&[4, 3, 1, 1]),
        site("conv1"),
    );
    let c = g
        .add_op(
            conv(4, win([1, 1], [1, 1], [0, 0]), 1, false),
            &[x2, w],
            site("conv1"),
        )
        .unwrap();
    g.add_op(Op::Output { name: "aux".into() }, &[c], site(""))
        .unwrap();
    let e = verify_err(&g);
    assert!(e.contains("duplicate parameter name `conv1.weight`"), "{e}");
}

#[test]
fn verifier_rejects_an_unnamed_parameter() {
    let (mut g, [x, ..]) = small_graph();
    let w = g.add_leaf(
        Op::Param {
            role: ParamRole::Weight,
        },
        par(&[2, 3]),
        site(""),
    );
    let f = g.add_op(Op::Flatten, &[x], site("flatten1")).unwrap();
    let _ = (w, f);
    let e = verify_err(&g);
    assert!(e.contains("parameter without a name"), "{e}");
}

#[test]
fn verifier_rejects_duplicate_inputs() {
    let (mut g, _) = small_graph();
    g.add_leaf(Op::Input { name: "x".into() }, act(&[1]), site("x"));
    let e = verify_err(&g);
    assert!(e.contains("duplicate input name `x`"), "{e}");
}

#[test]
fn verifier_rejects_a_graph_without_output() {
    let (mut g, [.., o]) = small_graph();
    g.remove(o);
    assert_eq!(verify_err(&g), "IR verifier: graph: no output");
}

#[test]
fn verifier_rejects_an_output_with_users() {
    let (mut g, [.., o]) = small_graph();
    g.add_op(Op::Activation(Activation::TANH), &[o], site("tanh1"))
        .unwrap();
    let e = verify_err(&g);
    assert!(e.contains("an output has users"), "{e}");
}

#[test]
fn verifier_rejects_a_cycle() {
    let (mut g, [_, _, _, c, r, _]) = small_graph();
    // relu feeds back into the conv's input slot.
    g.connect(r, c, 3);
    let e = verify_err(&g);
    assert!(e.contains("cycle"), "{e}");
}

// ---------------------------------------------------------------------------
// Shape rules.

#[test]
fn window_output_size_is_pytorchs_floor_formula() {
    // floor((in + 2p - k) / s) + 1
    let cases = [
        (32, 3, 1, 1, Some(32)),
        (32, 3, 2, 1, Some(16)),
        (32, 5, 1, 0, Some(28)),
        (7, 2, 2, 0, Some(3)),
        (8, 8, 1, 0, Some(1)),
        (8, 9, 1, 0, None),
        (8, 9, 1, 1, Some(2)),
        (1, 3, 1, 1, Some(1)),
    ];
    for (input, k, s, p, want) in cases {
        let w = win([k, k], [s, s], [p, p]);
        assert_eq!(w.out_dim(0, input), want, "in={input} k={k} s={s} p={p}");
    }
    assert_eq!(win([0, 1], [1, 1], [0, 0]).out_dim(0, 4), None);
    assert_eq!(win([1, 1], [0, 1], [0, 0]).out_dim(0, 4), None);
    // Huge sizes do not overflow.
    assert!(win([1, 1], [1, 1], [usize::MAX, 0]).out_dim(0, 4).is_some());
}

#[test]
fn conv_shapes() {
    let x = act(&[3, 32, 32]);
    let op = conv(16, win([3, 3], [1, 1], [1, 1]), 1, true);
    assert_eq!(
        infer(&op, &[x.clone(), par(&[16, 3, 3, 3]), par(&[16])]),
        Ok(act(&[16, 32, 32]))
    );
    let op = conv(8, win([3, 1], [2, 1], [0, 0]), 1, false);
    assert_eq!(
        infer(&op, &[x.clone(), par(&[8, 3, 3, 1])]),
        Ok(act(&[8, 15, 32]))
    );
    let op = conv(32, win([1, 1], [2, 2], [0, 0]), 1, true);
    assert_eq!(
        infer(&op, &[act(&[16, 32, 32]), par(&[32, 16, 1, 1]), par(&[32])]),
        Ok(act(&[32, 16, 16]))
    );
    // Grouped: the weight has Cin / groups input channels.
    let op = conv(8, win([3, 3], [1, 1], [1, 1]), 4, false);
    assert_eq!(
        infer(&op, &[act(&[4, 6, 6]), par(&[8, 1, 3, 3])]),
        Ok(act(&[8, 6, 6]))
    );
    assert_eq!(
        op.param_shapes(&act(&[4, 6, 6])).unwrap(),
        vec![(ParamRole::Weight, vec![8, 1, 3, 3])]
    );
    // Rejections.
    let op = conv(16, win([3, 3], [1, 1], [1, 1]), 1, true);
    assert!(
        infer_err(&op, &[x.clone(), par(&[16, 4, 3, 3]), par(&[16])])
            .contains("conv2d weight should be [16,3,3,3], got [16,4,3,3]")
    );
    assert!(
        infer_err(&op, &[x.clone(), par(&[16, 3, 3, 3]), par(&[15])])
            .contains("conv2d bias should be [16], got [15]")
    );
    assert!(
        infer_err(&op, &[x.clone(), par(&[16, 3, 3, 3])])
            .contains("conv2d takes 3 operand(s), got 2")
    );
    assert!(
        infer_err(&op, &[act(&[48]), par(&[16, 3, 3, 3]), par(&[16])])
            .contains("expects an image tensor [N,C,H,W], got [N,48]")
    );
    assert!(
        infer_err(&op, &[par(&[3, 8, 8]), par(&[16, 3, 3, 3]), par(&[16])])
            .contains("expects a batched f32 activation")
    );
    let op = conv(6, win([1, 1], [1, 1], [0, 0]), 4, false);
    assert!(infer_err(&op, &[act(&[4, 6, 6]), par(&[6, 1, 1, 1])]).contains("groups = 4"));
    let op = conv(4, win([9, 9], [1, 1], [0, 0]), 1, false);
    assert!(
        infer_err(&op, &[act(&[3, 8, 8]), par(&[4, 3, 9, 9])])
            .contains("window (k=9x9 s=1x1 p=0x0) does not fit the 8x8 input")
    );
}

#[test]
fn conv_macs() {
    let op = conv(16, win([3, 3], [1, 1], [1, 1]), 1, true);
    let (x, w, b) = (act(&[3, 32, 32]), par(&[16, 3, 3, 3]), par(&[16]));
    let out = infer(&op, &[x.clone(), w.clone(), b.clone()]).unwrap();
    assert_eq!(op.macs(&[&x, &w, &b], &out), 16 * 32 * 32 * 3 * 9);
    let op = Op::Linear {
        out_features: 10,
        bias: false,
    };
    let (x, w) = (act(&[64]), par(&[10, 64]));
    assert_eq!(op.macs(&[&x, &w], &act(&[10])), 640);
    assert_eq!(Op::Activation(Activation::RELU).macs(&[&x], &x), 0);
}

#[test]
fn pooling_shapes() {
    let x = act(&[8, 32, 32]);
    assert_eq!(
        infer(
            &Op::MaxPool2d(win([3, 3], [2, 2], [1, 1])),
            std::slice::from_ref(&x)
        ),
        Ok(act(&[8, 16, 16]))
    );
    assert_eq!(
        infer(
            &Op::AvgPool2d(win([2, 2], [2, 2], [0, 0])),
            std::slice::from_ref(&x)
        ),
        Ok(act(&[8, 16, 16]))
    );
    assert_eq!(
        infer(
            &Op::MaxPool2d(win([3, 3], [1, 1], [1, 1])),
            std::slice::from_ref(&x)
        ),
        Ok(act(&[8, 32, 32]))
    );
    assert_eq!(
        infer(
            &Op::AvgPool2d(win([2, 1], [2, 1], [1, 0])),
            &[act(&[8, 5, 6])]
        ),
        Ok(act(&[8, 3, 6]))
    );
    assert_eq!(
        infer(&Op::GlobalAvgPool, std::slice::from_ref(&x)),
        Ok(act(&[8, 1, 1]))
    );
    assert!(
        infer_err(
            &Op::MaxPool2d(win([2, 2], [2, 2], [2, 2])),
            std::slice::from_ref(&x)
        )
        .contains("max_pool2d padding 2 is more than half the kernel 2")
    );
    assert!(
        infer_err(
            &Op::AvgPool2d(win([64, 64], [1, 1], [0, 0])),
            std::slice::from_ref(&x)
        )
        .contains("does not fit the 32x32 input")
    );
    assert!(infer_err(&Op::GlobalAvgPool, &[act(&[10])]).contains("image tensor"));
    assert!(
        Op::MaxPool2d(win([2, 2], [2, 2], [0, 0]))
            .param_shapes(&x)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn concat_sums_channels() {
    let op = Op::Concat;
    assert_eq!(
        infer(&op, &[act(&[4, 8, 8]), act(&[6, 8, 8])]),
        Ok(act(&[10, 8, 8]))
    );
    assert_eq!(
        infer(
            &op,
            &[
                act(&[1, 2, 3]),
                act(&[2, 2, 3]),
                act(&[3, 2, 3]),
                act(&[4, 2, 3])
            ]
        ),
        Ok(act(&[10, 2, 3]))
    );
    assert!(
        infer_err(&op, &[act(&[4, 8, 8]), act(&[4, 8, 7])]).contains(
            "concat of different spatial sizes: input 0 is [N,4,8,8], input 1 is [N,4,8,7]"
        )
    );
    assert!(infer_err(&op, &[act(&[4, 8, 8])]).contains("concat needs at least two inputs, got 1"));
    assert!(infer_err(&op, &[act(&[4, 8, 8]), act(&[16])]).contains("image tensor"));
    assert_eq!(op.arity(), None);
}

#[test]
fn linear_flatten_softmax_shapes() {
    let op = Op::Linear {
        out_features: 10,
        bias: true,
    };
    assert_eq!(
        infer(&op, &[act(&[64]), par(&[10, 64]), par(&[10])]),
        Ok(act(&[10]))
    );
    assert!(
        infer_err(&op, &[act(&[64]), par(&[10, 32]), par(&[10])])
            .contains("linear weight should be [10,64], got [10,32]")
    );
    assert!(
        infer_err(&op, &[act(&[64, 1, 1]), par(&[10, 64]), par(&[10])])
            .contains("linear expects a flat input [N,features], got [N,64,1,1]")
    );
    assert_eq!(
        op.param_shapes(&act(&[64])).unwrap(),
        vec![
            (ParamRole::Weight, vec![10, 64]),
            (ParamRole::Bias, vec![10])
        ]
    );
    assert_eq!(infer(&Op::Flatten, &[act(&[64, 2, 3])]), Ok(act(&[384])));
    assert_eq!(infer(&Op::Flatten, &[act(&[5])]), Ok(act(&[5])));
    assert_eq!(infer(&Op::Softmax, &[act(&[10])]), Ok(act(&[10])));
    assert!(infer_err(&Op::Softmax, &[act(&[10, 2, 2])]).contains("softmax expects [N,K]"));
}

#[test]
fn elementwise_and_batch_norm_shapes() {
    let x = act(&[4, 8, 8]);
    assert_eq!(
        infer(&Op::Add { act: None }, &[x.clone(), x.clone()]),
        Ok(x.clone())
    );
    assert!(
        infer_err(&Op::Add { act: None }, &[x.clone(), act(&[4, 4, 4])])
            .contains("add of different shapes: [N,4,8,8] + [N,4,4,4]")
    );
    for a in Activation::all() {
        assert_eq!(
            infer(&Op::Activation(a), std::slice::from_ref(&x)),
            Ok(x.clone()),
            "{a:?}"
        );
    }
    let bn = Op::BatchNorm {
        eps: 1e-5,
        momentum: 0.1,
        act: None,
    };
    let c = par(&[4]);
    assert_eq!(
        infer(
            &bn,
            &[x.clone(), c.clone(), c.clone(), c.clone(), c.clone()]
        ),
        Ok(x.clone())
    );
    assert!(
        infer_err(
            &bn,
            &[x.clone(), c.clone(), c.clone(), par(&[5]), c.clone()]
        )
        .contains("batch_norm running_mean should be [4], got [5]")
    );
    let roles: Vec<ParamRole> = bn
        .param_shapes(&x)
        .unwrap()
        .into_iter()
        .map(|(r, _)| r)
        .collect();
    assert_eq!(
        roles,
        [
            ParamRole::Gamma,
            ParamRole::Beta,
            ParamRole::RunningMean,
            ParamRole::RunningVar
        ]
    );
    assert!(!ParamRole::RunningMean.trainable());
    assert!(ParamRole::Gamma.trainable());
    assert_eq!(ParamRole::Gamma.suffix(), "weight");
    assert_eq!(ParamRole::Beta.suffix(), "bias");
}

#[test]
fn loss_output_and_leaf_rules() {
    let labels = TensorType {
        dtype: DType::I32,
        batched: true,
        dims: vec![],
    };
    assert_eq!(
        infer(&Op::SoftmaxCrossEntropy, &[act(&[10]), labels.clone()]),
        Ok(TensorType::scalar())
    );
    assert!(
        infer_err(&Op::SoftmaxCrossEntropy, &[act(&[10]), act(&[])]).contains("labels [N] i32")
    );
    assert!(infer_err(&Op::SoftmaxCrossEntropy, &[act(&[10, 1]), labels]).contains("logits"));
    assert_eq!(
        infer(&Op::Output { name: "o".into() }, &[act(&[3])]),
        Ok(act(&[3]))
    );
    assert!(infer_err(&Op::Input { name: "x".into() }, &[]).contains("declared type"));
    assert!(
        infer_err(
            &Op::Param {
                role: ParamRole::Weight
            },
            &[]
        )
        .contains("declared type")
    );
    assert!(
        infer_err(&Op::Activation(Activation::RELU), &[par(&[3])])
            .contains("relu expects a batched f32 activation, got [3]")
    );
}

#[test]
fn tensor_types_print_with_the_batch() {
    assert_eq!(act(&[3, 32, 32]).to_string(), "[N,3,32,32]");
    assert_eq!(par(&[16, 3, 3, 3]).to_string(), "[16,3,3,3]");
    assert_eq!(TensorType::scalar().to_string(), "[]");
    let labels = TensorType {
        dtype: DType::I32,
        batched: true,
        dims: vec![],
    };
    assert_eq!(labels.to_string(), "[N] i32");
    assert_eq!(act(&[3, 4, 5]).numel(), 60);
    assert_eq!(act(&[3, 4, 5]).rank(), 4);
    assert_eq!(act(&[3, 4, 5]).chw(), Some((3, 4, 5)));
    assert_eq!(par(&[3, 4, 5]).chw(), None);
    assert_eq!(act(&[usize::MAX, 2]).numel(), usize::MAX, "saturates");
}

#[test]
fn op_display() {
    let op = conv(16, win([3, 3], [1, 1], [1, 1]), 1, false);
    assert_eq!(op.to_string(), "conv2d[16 k=3x3 s=1x1 p=1x1 no_bias]");
    let op = conv(8, win([1, 3], [2, 1], [0, 1]), 2, true);
    assert_eq!(op.to_string(), "conv2d[8 k=1x3 s=2x1 p=0x1 groups=2]");
    assert_eq!(
        Op::BatchNorm {
            eps: 1e-5,
            momentum: 0.1,
            act: None,
        }
        .to_string(),
        "batch_norm[eps=1e-5 momentum=0.1]"
    );
    assert_eq!(
        Op::BatchNorm {
            eps: 1e-5,
            momentum: 0.1,
            act: Some(Activation::RELU),
        }
        .to_string(),
        "batch_norm[eps=1e-5 momentum=0.1 act=relu]"
    );
    assert_eq!(Op::Add { act: None }.to_string(), "add");
    assert_eq!(
        Op::Add {
            act: Some(Activation::TANH)
        }
        .to_string(),
        "add[act=tanh]"
    );
    assert_eq!(
        Op::Linear {
            out_features: 10,
            bias: true
        }
        .to_string(),
        "linear[10]"
    );
    assert_eq!(Op::Activation(Activation::GELU).to_string(), "gelu");
    assert_eq!(Op::Input { name: "x".into() }.to_string(), "input \"x\"");
}

// ---------------------------------------------------------------------------
// Parameter names.

fn params_of(stem: &str) -> HashMap<String, TensorType> {
    let e = common::elaborate(&common::model_path(stem), &[]);
    let params = e.graph.params();
    let names: HashSet<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names.len(),
        params.len(),
        "{stem}: parameter names are unique"
    );
    params
        .iter()
        .map(|(n, id)| (n.clone(), e.graph.node(*id).ty.clone()))
        .collect()
}

#[test]
fn resnet_parameter_names() {
    let p = params_of("resnet");
    let shape = |n: &str| {
        p.get(n)
            .unwrap_or_else(|| panic!("no parameter `{n}`"))
            .to_string()
    };
    assert_eq!(shape("conv1.weight"), "[16,3,3,3]");
    assert!(!p.contains_key("conv1.bias"), "the stem conv has no bias");
    assert_eq!(shape("bn1.weight"), "[16]");
    assert_eq!(shape("bn1.running_var"), "[16]");
    assert_eq!(shape("res_block.0.conv1.weight"), "[16,16,3,3]");
    assert_eq!(shape("res_block.0.conv2.weight"), "[16,16,3,3]");
    assert_eq!(shape("res_block.0.bn2.bias"), "[16]");
    assert_eq!(shape("res_block.3.conv1.weight"), "[32,16,3,3]");
    assert_eq!(shape("res_block.3.downsample.weight"), "[32,16,1,1]");
    assert_eq!(shape("res_block.3.downsample.bias"), "[32]");
    assert_eq!(shape("res_block.6.downsample.weight"), "[64,32,1,1]");
    assert_eq!(shape("res_block.8.conv2.weight"), "[64,64,3,3]");
    assert_eq!(shape("linear1.weight"), "[10,64]");
    assert_eq!(shape("linear1.bias"), "[10]");
    for b in [0, 1, 2, 4, 5, 7, 8] {
        assert!(
            !p.contains_key(&format!("res_block.{b}.downsample.weight")),
            "block {b} has no projection"
        );
    }
    assert!(!p.contains_key("res_block.9.conv1.weight"));
    // stem conv + bn (5) + 9 blocks x (2 convs + 2 bns x 4) + 2 projections x 2 + linear (2)
    assert_eq!(p.len(), 5 + 9 * 10 + 2 * 2 + 2);
}

#[test]
fn other_models_parameter_names() {
    let p = params_of("preact_resnet");
    assert_eq!(
        p["pre_act_block.3.downsample.weight"].to_string(),
        "[32,16,1,1]"
    );
    assert!(!p.contains_key("pre_act_block.3.downsample.bias"));
    let p = params_of("googlenet");
    assert_eq!(p["stem.conv1.weight"].to_string(), "[64,3,3,3]");
    assert_eq!(
        p["inception.0.b1x1.conv1.weight"].to_string(),
        "[16,64,1,1]"
    );
    assert_eq!(
        p["inception.0.b3x3.conv1.weight"].to_string(),
        "[32,32,3,3]"
    );
    assert_eq!(p["inception.0.b5x5.conv1.weight"].to_string(), "[8,16,5,5]");
    assert_eq!(
        p["inception.0.pool_proj.conv1.weight"].to_string(),
        "[8,64,1,1]"
    );
    assert_eq!(
        p["inception.7.b1x1.conv1.weight"].to_string(),
        "[32,128,1,1]"
    );
    // Eight Inception blocks: 2 at 32x32, 4 at 16x16, 2 at 8x8.
    assert!(!p.contains_key("inception.8.b1x1.conv1.weight"));
    assert_eq!(p["linear1.weight"].to_string(), "[10,128]");
    let p = params_of("densenet");
    assert_eq!(
        p["dense_block.0.dense_layer.0.conv1.weight"].to_string(),
        "[32,32,1,1]"
    );
    assert_eq!(
        p["dense_block.0.dense_layer.5.conv2.weight"].to_string(),
        "[16,32,3,3]"
    );
    assert_eq!(p["transition.0.conv1.weight"].to_string(), "[64,128,1,1]");
    assert!(p.contains_key("dense_block.3.dense_layer.5.bn2.running_mean"));
    assert!(
        !p.contains_key("transition.3.conv1.weight"),
        "no transition after the last block"
    );
}

#[test]
fn parameter_counts_add_up() {
    for stem in common::MODELS {
        let e = common::elaborate(&common::model_path(stem), &[]);
        let g = &e.graph;
        let trainable: u64 = g
            .params()
            .iter()
            .filter(|(_, id)| matches!(g.node(*id).op, Op::Param { role } if role.trainable()))
            .map(|(_, id)| g.node(*id).ty.numel() as u64)
            .sum();
        assert_eq!(trainable, g.trainable_param_count(), "{stem}");
    }
}

#[test]
fn snake_case_block_names() {
    use netc::elab::snake_case;
    assert_eq!(snake_case("ResBlock"), "res_block");
    assert_eq!(snake_case("PreActBlock"), "pre_act_block");
    assert_eq!(snake_case("ConvBnAct"), "conv_bn_act");
    assert_eq!(snake_case("Block2D"), "block2_d");
    assert_eq!(snake_case("already_snake"), "already_snake");
}

// ---------------------------------------------------------------------------
// Passes.

#[test]
fn dead_code_removes_an_unused_branch() {
    let src = "model M() {\n  input x: [3, 8, 8]\n  unused = x |> conv(4, k = 3) as dead |> bn |> relu\n  return x |> conv(2, k = 1) as live |> flatten\n}\n";
    let mut sources = Sources::new();
    let e = netc::pipeline::front_end_str(&mut sources, "dead.net", src, &[]).unwrap();
    assert_eq!(e.warnings.len(), 1, "one warning for the dead chain");
    let before = e.graph.node_count();
    let mut g = e.graph.clone();
    g = netc::pipeline::optimise(&g).unwrap();
    verify(&g).unwrap();
    // conv (3 nodes with weight and bias) + bn (5 with its 4 parameters) + relu.
    assert_eq!(g.node_count(), before - 9);
    let names: Vec<String> = g.params().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["live.weight", "live.bias"]);
    let text = netc::ir::print::print_graph(&g);
    assert!(!text.contains("dead"), "{text}");
    assert!(!text.contains("relu"), "{text}");
    assert_eq!(g.outputs().len(), 1);
    assert_eq!(g.trainable_param_count(), 2 * 3 + 2);
    // Running the passes again changes nothing.
    let again = text.clone();
    g = netc::pipeline::optimise(&g).unwrap();
    assert_eq!(netc::ir::print::print_graph(&g), again);
}

#[test]
fn dead_code_keeps_everything_that_reaches_an_output() {
    let (mut g, _) = small_graph();
    let before = netc::ir::print::print_graph(&g);
    g = netc::pipeline::optimise(&g).unwrap();
    assert_eq!(netc::ir::print::print_graph(&g), before);
    // An unused input is removed too.
    let (mut g, _) = small_graph();
    g.add_leaf(
        Op::Input {
            name: "extra".into(),
        },
        act(&[1]),
        site("extra"),
    );
    g = netc::pipeline::optimise(&g).unwrap();
    assert_eq!(g.inputs_of_model().len(), 1);
}

#[test]
fn printed_ir_numbers_nodes_afresh() {
    let (mut g, [.., o]) = small_graph();
    let extra = g.add_leaf(
        Op::Input {
            name: "extra".into(),
        },
        act(&[1]),
        site("extra"),
    );
    let _ = (o, extra);
    g = netc::pipeline::optimise(&g).unwrap();
    let text = netc::ir::print::print_graph(&g);
    assert_eq!(
        text,
        "graph Small {  // 6 nodes, 112 trainable parameters, 6912 MACs per example\n  %0 = input \"x\" : [N,3,8,8]  # x\n  %1 = param \"conv1.weight\" : [4,3,3,3]\n  %2 = param \"conv1.bias\" : [4]\n  %3 = conv2d[4 k=3x3 s=1x1 p=1x1](%0, %1, %2) : [N,4,8,8]  # conv1\n  %4 = relu(%3) : [N,4,8,8]  # relu1\n  %5 = output \"logits\"(%4) : [N,4,8,8]\n}\n"
    );
}
