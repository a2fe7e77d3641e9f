//! The four seed models through the CLI: parameter and MAC counts, the JSON summary's
//! shape, the training recipes, and `--set` overrides.

use crate::common;

use crate::common::{netc, root, stderr, stdout};
use serde_json::Value as Json;

/// `netc summary models/<stem>.net --format json [--set ...]`, parsed.
fn summary(stem: &str, sets: &[&str]) -> Json {
    let file = format!("models/{stem}.net");
    let mut args = vec!["summary", file.as_str(), "--format", "json"];
    for s in sets {
        args.push("--set");
        args.push(s);
    }
    let out = netc(&root(), &args);
    assert!(
        out.status.success(),
        "netc {args:?} failed ({:?}):\n{}",
        out.status.code(),
        stderr(&out)
    );
    assert!(
        stderr(&out).is_empty(),
        "the seed models compile without warnings, got:\n{}",
        stderr(&out)
    );
    serde_json::from_str(&stdout(&out)).expect("summary --format json prints JSON")
}

fn int(j: &Json, key: &str) -> u64 {
    j[key]
        .as_u64()
        .unwrap_or_else(|| panic!("`{key}` is not an unsigned int in {j}"))
}

fn check_counts(stem: &str, model: &str, params: u64, macs: u64) -> Json {
    let j = summary(stem, &[]);
    assert_eq!(j["model"], model);
    assert_eq!(int(&j, "params"), params, "{stem}: trainable parameters");
    assert_eq!(int(&j, "macs"), macs, "{stem}: MACs per example");
    j
}

#[test]
fn googlenet_counts() {
    check_counts("googlenet", "GoogleNet", 260_650, 79_643_904);
}

#[test]
fn resnet_counts() {
    check_counts("resnet", "ResNet", 272_378, 40_813_184);
}

#[test]
fn preact_resnet_counts() {
    check_counts("preact_resnet", "ResNetPreAct", 272_250, 40_813_184);
}

#[test]
fn densenet_counts() {
    check_counts("densenet", "DenseNet", 239_146, 72_279_856);
}

#[test]
fn summary_json_has_the_documented_fields() {
    for stem in common::MODELS {
        let j = summary(stem, &[]);
        for key in [
            "model", "params", "buffers", "macs", "layers", "hparams", "recipe",
        ] {
            assert!(j.get(key).is_some(), "{stem}: summary has no `{key}`: {j}");
        }
        let layers = j["layers"].as_array().expect("layers is a list");
        assert!(!layers.is_empty(), "{stem}: no layers");
        for l in layers {
            for key in ["name", "type", "output", "params", "macs"] {
                assert!(l.get(key).is_some(), "{stem}: layer without `{key}`: {l}");
            }
            assert!(
                l["output"].as_str().is_some_and(|s| s.starts_with("[N,")),
                "{stem}: layer output is batched: {l}"
            );
        }
        // The rows partition the model: their parameters and MACs add up to the totals.
        let sum = |k: &str| layers.iter().map(|l| l[k].as_u64().unwrap()).sum::<u64>();
        assert_eq!(
            sum("params"),
            int(&j, "params"),
            "{stem}: layer params add up"
        );
        assert_eq!(sum("macs"), int(&j, "macs"), "{stem}: layer MACs add up");
        // Every model ends in a 10-way classifier.
        assert_eq!(layers.last().unwrap()["output"], "[N,10]", "{stem}");
        assert_eq!(j["hparams"]["num_classes"], 10, "{stem}");
    }
}

#[test]
fn resnet_rows_are_top_level_blocks() {
    let j = summary("resnet", &[]);
    let names: Vec<&str> = j["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "x",
            "conv1",
            "bn1",
            "relu1",
            "res_block.0",
            "res_block.1",
            "res_block.2",
            "res_block.3",
            "res_block.4",
            "res_block.5",
            "res_block.6",
            "res_block.7",
            "res_block.8",
            "global_avg_pool1",
            "flatten1",
            "linear1"
        ]
    );
    let rows = j["layers"].as_array().unwrap();
    assert_eq!(rows[0]["type"], "input");
    assert_eq!(rows[0]["output"], "[N,3,32,32]");
    assert_eq!(rows[1]["type"], "conv2d");
    assert_eq!(rows[1]["params"], 3 * 16 * 9);
    assert_eq!(rows[4]["type"], "ResBlock");
    assert_eq!(rows[4]["output"], "[N,16,32,32]");
    assert_eq!(rows[7]["output"], "[N,32,16,16]");
    assert_eq!(rows[10]["output"], "[N,64,8,8]");
    assert_eq!(rows[15]["type"], "linear");
    assert_eq!(rows[15]["params"], 64 * 10 + 10);
}

#[test]
fn resnet_recipe() {
    let r = summary("resnet", &[])["recipe"].clone();
    let opt = &r["optimizer"];
    assert_eq!(opt["name"], "sgd");
    assert_eq!(opt["lr"], 0.1);
    assert_eq!(opt["momentum"], 0.9);
    assert_eq!(opt["weight_decay"], 1e-4);
    assert_eq!(opt["nesterov"], false);
    assert_eq!(r["schedule"]["name"], "multistep");
    assert_eq!(r["schedule"]["milestones"], serde_json::json!([100, 150]));
    assert_eq!(r["schedule"]["gamma"], 0.1);
    assert_eq!(r["epochs"], 180);
    assert_eq!(r["batch"], 128);
    assert_eq!(r["val_size"], 5000);
    assert_eq!(r["seed"], 42);
    assert_eq!(r["init"]["name"], "kaiming_normal");
    assert_eq!(r["init"]["mode"], "fan_out");
    assert_eq!(r["init"]["nonlinearity"], "relu");
    let aug = r["augment"].as_array().unwrap();
    assert_eq!(aug.len(), 2);
    assert_eq!(aug[0]["name"], "hflip");
    assert_eq!(aug[0]["p"], 0.5);
    assert_eq!(aug[1]["name"], "random_resized_crop");
    assert_eq!(aug[1]["size"], 32);
    assert_eq!(aug[1]["scale"], serde_json::json!([0.8, 1.0]));
    assert_eq!(aug[1]["ratio"], serde_json::json!([0.9, 1.1]));
}

#[test]
fn preact_resnet_recipe_is_resnets() {
    assert_eq!(
        summary("preact_resnet", &[])["recipe"],
        summary("resnet", &[])["recipe"]
    );
}

#[test]
fn googlenet_and_densenet_recipes() {
    for stem in ["googlenet", "densenet"] {
        let r = summary(stem, &[])["recipe"].clone();
        let opt = &r["optimizer"];
        assert_eq!(opt["name"], "adamw", "{stem}");
        assert_eq!(opt["lr"], 1e-3, "{stem}");
        assert_eq!(opt["weight_decay"], 1e-4, "{stem}");
        assert_eq!(opt["betas"], serde_json::json!([0.9, 0.999]), "{stem}");
        assert_eq!(opt["eps"], 1e-8, "{stem}");
        assert_eq!(r["init"]["mode"], "fan_in", "{stem}");
        assert_eq!(r["epochs"], 180, "{stem}");
    }
}

/// Trainable parameters of resnet.net for widths `c` (3 blocks per group), by hand:
/// stem conv (no bias) + BN; per block two 3x3 convs (no bias) + two BNs, and a 1x1
/// projection with bias in the first block of every later group; a linear head.
fn resnet_params(c: [u64; 3]) -> u64 {
    let bn = |w: u64| 2 * w;
    let mut total = 3 * c[0] * 9 + bn(c[0]);
    let mut c_in = c[0];
    for (g, &w) in c.iter().enumerate() {
        for b in 0..3 {
            total += c_in * w * 9 + bn(w) + w * w * 9 + bn(w);
            if g > 0 && b == 0 {
                total += c_in * w + w;
            }
            c_in = w;
        }
    }
    total + c[2] * 10 + 10
}

#[test]
fn resnet_param_formula_matches_default() {
    assert_eq!(resnet_params([16, 32, 64]), 272_378);
}

#[test]
fn set_widths_changes_the_parameter_count() {
    let j = summary("resnet", &["c_hidden=[32,64,128]"]);
    assert_eq!(int(&j, "params"), resnet_params([32, 64, 128]));
    assert_eq!(j["hparams"]["c_hidden"], serde_json::json!([32, 64, 128]));
    // Every conv's MACs scale with c_in * c_out, so doubling every width quadruples them
    // (the 3-channel stem and the head scale only 2x, hence "about").
    let macs = int(&j, "macs");
    assert!(macs > 3 * 40_813_184 && macs < 4 * 40_813_184, "{macs}");
}

#[test]
fn set_activation() {
    let j = summary("resnet", &["act=gelu"]);
    assert_eq!(int(&j, "params"), 272_378, "activations have no parameters");
    assert_eq!(j["hparams"]["act"], "gelu");
    // The recipe follows the hyper-parameter (init = kaiming_normal(nonlinearity = act)).
    assert_eq!(j["recipe"]["init"]["nonlinearity"], "gelu");
    let types: Vec<&str> = j["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["type"].as_str().unwrap())
        .collect();
    assert!(types.contains(&"gelu"), "{types:?}");
    assert!(!types.contains(&"relu"), "{types:?}");
}

#[test]
fn several_sets_combine() {
    let j = summary(
        "densenet",
        &["growth_rate=8", "num_layers=[2, 2]", "num_classes=100"],
    );
    assert_eq!(j["hparams"]["growth_rate"], 8);
    assert_eq!(j["hparams"]["num_classes"], 100);
    assert_eq!(
        j["layers"].as_array().unwrap().last().unwrap()["output"],
        "[N,100]"
    );
    assert!(int(&j, "params") < 239_146);
}

#[test]
fn set_of_an_int_where_a_float_is_expected_and_spaces() {
    // `--set` values are expressions; whitespace around them is fine.
    let j = summary("googlenet", &["num_classes= 2 * 50"]);
    assert_eq!(j["hparams"]["num_classes"], 100);
}

#[test]
fn table_format_and_other_commands() {
    let r = root();
    let out = netc(&r, &["summary", "models/resnet.net"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = stdout(&out);
    assert!(table.starts_with("Model: ResNet\n"), "{table}");
    assert!(table.contains("Trainable params:  272,378"), "{table}");
    assert!(table.contains("MACs per example:  40,813,184"), "{table}");
    assert!(table.contains("res_block.3"), "{table}");

    let out = netc(&r, &["check", "models/densenet.net"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "models/densenet.net: ok — model DenseNet, 239,146 trainable parameters, 72,279,856 MACs per example\n"
    );

    for emit in ["ast", "ir", "ir-opt"] {
        let out = netc(&r, &["compile", "models/googlenet.net", "--emit", emit]);
        assert!(out.status.success(), "--emit {emit}: {}", stderr(&out));
        assert!(!stdout(&out).is_empty());
    }

    let out = netc(&r, &["graph", "models/resnet.net"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("digraph \"ResNet\" {"));
}

#[test]
fn graph_writes_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let dot = dir.path().join("resnet.dot");
    let out = netc(
        &root(),
        &["graph", "models/resnet.net", "-o", dot.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
    let text = std::fs::read_to_string(&dot).unwrap();
    assert!(text.contains("cluster_res_block.3"), "{text}");
}

#[test]
fn models_compile_from_another_directory() {
    // `use` paths are relative to the importing file, not to the working directory.
    let dir = tempfile::tempdir().unwrap();
    let path = common::model_path("googlenet");
    let out = netc(dir.path(), &["check", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
}
