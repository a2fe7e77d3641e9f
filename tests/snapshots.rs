//! Snapshot tests of the compiler's text outputs: the IR of the four models, the
//! canonical AST of one, the DOT of a small model, and the IR of every `tests/in` file.
//!
//! Update after an intended change with `INSTA_UPDATE=always cargo test --test snapshots`
//! (or `cargo insta review`), and review the diff.

use crate::common;

use netc::ir::print::print_graph;
use netc::syntax::print::print_file;

fn ir(stem: &str) -> String {
    print_graph(&common::elaborate(&common::model_path(stem), &[]).graph)
}

#[test]
fn ir_googlenet() {
    insta::assert_snapshot!(ir("googlenet"));
}

#[test]
fn ir_resnet() {
    insta::assert_snapshot!(ir("resnet"));
}

#[test]
fn ir_preact_resnet() {
    insta::assert_snapshot!(ir("preact_resnet"));
}

#[test]
fn ir_densenet() {
    insta::assert_snapshot!(ir("densenet"));
}

#[test]
fn ir_opt_differs_from_ir_only_by_fused_activations() {
    // The seed models have no dead code; the passes only fold activations into producers.
    for stem in common::MODELS {
        let mut sources = netc::diag::Sources::new();
        let c = netc::pipeline::compile(&mut sources, &common::model_path(stem), &[], false)
            .unwrap_or_else(|_| panic!("{stem} compiles"));
        let skeleton = |g: &netc::ir::Graph| -> Vec<(String, String)> {
            g.topo_order()
                .expect("acyclic")
                .into_iter()
                .filter(|&id| !matches!(g.node(id).op, netc::ir::Op::Activation(_)))
                .map(|id| (g.node(id).op.name().to_string(), g.node(id).path.clone()))
                .collect()
        };
        assert_eq!(
            skeleton(&c.optimised),
            skeleton(&c.elaborated.graph),
            "{stem}"
        );
        assert!(
            c.optimised.node_count() < c.elaborated.graph.node_count(),
            "{stem}: nothing fused"
        );
    }
}

/// `--emit ir-opt` of a small residual model, forward and training step: fused
/// `batch_norm[act=relu]`, `add[act=relu]`, and the gradients read off fused outputs.
#[test]
fn ir_opt_small_model_fused() {
    let src = r#"
        model Small() {
          input x: [3, 4, 4]
          y = x |> conv(2, k = 3, pad = 1, bias = false) |> bn |> relu
          z = y |> conv(2, k = 1, bias = false) |> bn
          return relu(z + y) |> global_avg_pool |> flatten |> linear(2)
        }
        train { optimizer = sgd(lr = 0.1) }
    "#;
    let mut sources = netc::diag::Sources::new();
    let e = netc::pipeline::front_end_str(&mut sources, "small.net", src, &[])
        .unwrap_or_else(|d| panic!("{}", sources.render(&d.0, false)));
    let inference = netc::pipeline::optimise(&e.graph).expect("passes");
    let t = netc::autodiff::build(&e.graph, &e.recipe.optimizer).expect("training graph");
    let training = netc::pipeline::optimise(&t.graph).expect("passes");
    insta::assert_snapshot!(format!(
        "{}\n{}",
        print_graph(&inference),
        print_graph(&training)
    ));
}

#[test]
fn ast_googlenet() {
    let mut sources = netc::diag::Sources::new();
    let program = netc::elab::load(&mut sources, &common::model_path("googlenet")).unwrap();
    insta::assert_snapshot!(print_file(&program.file));
}

#[test]
fn dot_small_model() {
    // Two levels of blocks, so the DOT has nested clusters.
    let src = r#"
        block Inner(x, c) { return x |> conv(c, k = 1) |> relu }
        block Outer(x) {
          a = x |> Inner(4) as left
          b = x |> Inner(4) as right
          return a + b
        }
        model Small() {
          input x: [2, 4, 4]
          return x |> Outer |> flatten |> linear(3, bias = false)
        }
    "#;
    let mut sources = netc::diag::Sources::new();
    let e = netc::pipeline::front_end_str(&mut sources, "small.net", src, &[])
        .unwrap_or_else(|d| panic!("{}", sources.render(&d.0, false)));
    insta::assert_snapshot!(netc::ir::dot::to_dot(&e.graph));
}

/// Every `tests/in/*.net` file, elaborated: its IR, hyper-parameters and recipe,
/// pinned in `tests/out/<file>.snap`.
#[test]
fn in_files() {
    for path in common::in_files() {
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let (sources, r) = common::front_end(&path, &[]);
        let e = r.unwrap_or_else(|d| {
            panic!(
                "{} does not compile:\n{}",
                path.display(),
                sources.render(&d.0, false)
            )
        });
        assert!(
            e.warnings.is_empty(),
            "{}: unexpected warnings:\n{}",
            path.display(),
            sources.render(&e.warnings, false)
        );
        let hparams: Vec<String> = e
            .hparams
            .iter()
            .map(|(k, v)| format!("{k} = {v}"))
            .collect();
        let text = format!(
            "{}\n// hyper-parameters: {}\n// recipe: {}\n",
            print_graph(&e.graph),
            hparams.join(", "),
            serde_json::to_string(&e.recipe).unwrap()
        );
        insta::with_settings!({
            snapshot_path => "out",
            prepend_module_to_snapshot => false,
            input_file => &path,
            omit_expression => true,
        }, {
            insta::assert_snapshot!(stem, text);
        });
    }
}
