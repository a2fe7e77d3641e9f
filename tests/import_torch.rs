//! `netc import`: PyTorch state dicts of the four seed models, written by
//! `tools/make_import_fixtures.py` as `.safetensors`, `.pt` and a Lightning-style `.ckpt`,
//! imported and run by the CPU reference: the logits equal PyTorch's within 1e-4 (relative,
//! as in tests/torch_parity.rs). And the round trip netc → PyTorch layout → netc is
//! bit-identical for every seed model, through `.pt` and through safetensors.

use crate::common::{elaborate, fixture, model_path, netc, rel_error, root, stderr, stdout};
use netc::elab::Elaborated;
use netc::import::{self, map_file::MapFile, torch_write};
use netc::tensor::{Tensor, TensorMap};
use netc::{params, reference};
use std::collections::HashMap;
use std::path::PathBuf;

pub fn fixture_path(file: &str) -> PathBuf {
    root().join("tests/fixtures/import").join(file)
}

/// The `--set` overrides a fixture was made with (small widths).
pub fn overrides(model: &str) -> Vec<String> {
    std::fs::read_to_string(fixture_path(&format!("{model}.set")))
        .expect("fixture .set file; regenerate with tools/make_import_fixtures.py")
        .lines()
        .map(str::to_string)
        .collect()
}

pub fn model(stem: &str) -> Elaborated {
    let sets = overrides(stem);
    let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
    elaborate(&model_path(stem), &sets)
}

fn import_file(e: &Elaborated, file: &str, map: Option<&str>) -> TensorMap {
    let pins = map.map_or_else(MapFile::default, |m| {
        MapFile::load(&fixture_path(m)).expect("map file")
    });
    let sd = import::read(&fixture_path(file)).unwrap_or_else(|err| panic!("{file}: {err}"));
    let (w, _) =
        import::import(&e.graph, &sd, &pins, file).unwrap_or_else(|err| panic!("{file}: {err}"));
    params::check_against(&e.graph, &w, file).expect("every parameter imported");
    w
}

fn assert_logits(e: &Elaborated, stem: &str, w: &TensorMap, what: &str) {
    let f = fixture(&format!("import/{stem}.logits"));
    let inputs = HashMap::from([("x".to_string(), f["input"].clone())]);
    let out = reference::run(&e.graph, w, &inputs).expect("reference runs");
    let err = rel_error(&out[0].1, &f["logits"]);
    assert!(
        err < 1e-4,
        "{what}: logits differ from PyTorch's by {err:e} (relative)"
    );
}

fn check_formats(stem: &str) {
    let e = model(stem);
    for ext in ["safetensors", "pt", "ckpt"] {
        let file = format!("{stem}.{ext}");
        // Shapes cannot tell GoogleNet's 1x1 branch from its pool branch where both have one
        // width, and safetensors does not keep the definition order: the map pins them.
        let map = (stem == "googlenet" && ext == "safetensors").then_some("googlenet.map.json");
        let w = import_file(&e, &file, map);
        assert_logits(&e, stem, &w, &file);
    }
}

#[test]
fn resnet_imports_from_every_format() {
    check_formats("resnet");
}

#[test]
fn preact_resnet_imports_from_every_format() {
    check_formats("preact_resnet");
}

#[test]
fn densenet_imports_from_every_format() {
    check_formats("densenet");
}

#[test]
fn googlenet_imports_from_every_format() {
    check_formats("googlenet");
}

#[test]
fn googlenet_safetensors_without_a_map_is_undecided_and_names_the_tensors() {
    let e = model("googlenet");
    let sd = import::read(&fixture_path("googlenet.safetensors")).expect("reads");
    let err = import::import(&e.graph, &sd, &MapFile::default(), "googlenet.safetensors")
        .expect_err("ambiguous")
        .to_string();
    assert!(err.contains("cannot decide"), "{err}");
    assert!(err.contains("inception_blocks.5.conv_1x1.0"), "{err}");
    assert!(err.contains("inception_blocks.5.max_pool.1"), "{err}");
    assert!(err.contains("--map"), "{err}");
}

#[test]
fn cli_imports_a_lightning_checkpoint_and_shows_the_mapping() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("w.safetensors");
    let mut args: Vec<String> = vec!["import".into(), model_path("resnet").display().to_string()];
    for s in overrides("resnet") {
        args.extend(["--set".into(), s]);
    }
    args.extend([
        "--from".into(),
        fixture_path("resnet.ckpt").display().to_string(),
        "-o".into(),
        out.display().to_string(),
        "--show-mapping".into(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = netc(dir.path(), &args);
    assert!(o.status.success(), "netc import failed: {}", stderr(&o));
    let text = stdout(&o);
    // A Lightning key, its netc name, and the ignored BN counter, on their table lines.
    assert!(
        text.lines()
            .any(|l| l.starts_with("model.blocks.1.downsample.weight")
                && l.contains("res_block.1.downsample.weight")
                && l.contains("structure")),
        "{text}"
    );
    assert!(
        text.lines().any(
            |l| l.starts_with("model.input_net.1.num_batches_tracked") && l.contains("ignored")
        ),
        "{text}"
    );
    assert!(text.contains("wrote 41 tensors"), "{text}");
    let e = model("resnet");
    let w = params::load(&out).expect("written weights load");
    assert_logits(&e, "resnet", &w, "netc import resnet.ckpt (CLI)");
}

/// netc → PyTorch names and layout (`.pt` and safetensors) → netc, bit for bit.
fn round_trip(stem: &str) {
    let e = model(stem);
    let original = params::init(&e.graph, &e.recipe.init, 1234);
    // PyTorch's names for netc's parameters, from importing the fixture.
    let sd = import::read(&fixture_path(&format!("{stem}.pt"))).expect("reads");
    let (_, mapping) = import::import(&e.graph, &sd, &MapFile::default(), stem).expect("imports");
    let torch_named: Vec<(String, &Tensor)> = mapping
        .0
        .iter()
        .filter_map(|r| r.netc.as_ref().map(|n| (r.torch.clone(), &original[n])))
        .collect();
    assert_eq!(torch_named.len(), original.len());
    let dir = tempfile::tempdir().expect("temp dir");

    let pt = dir.path().join(format!("{stem}.pt"));
    std::fs::write(&pt, torch_write::to_bytes(&torch_named).expect("writes")).expect("saved");
    let as_map: TensorMap = torch_named
        .iter()
        .map(|(k, t)| (k.clone(), (*t).clone()))
        .collect();
    let st = dir.path().join(format!("{stem}.safetensors"));
    std::fs::write(&st, params::to_bytes(&as_map).expect("serialises")).expect("saved");

    for file in [pt, st] {
        let sd = import::read(&file).expect("reads back");
        let pins = if stem == "googlenet" && file.extension().is_some_and(|x| x == "safetensors") {
            MapFile::load(&fixture_path("googlenet.map.json")).expect("map")
        } else {
            MapFile::default()
        };
        let (back, _) = import::import(&e.graph, &sd, &pins, stem).expect("imports back");
        assert_eq!(back.len(), original.len());
        for (name, t) in &original {
            let b = &back[name];
            assert_eq!(b.dims, t.dims, "{stem} {name}");
            let same = b
                .data
                .iter()
                .zip(&t.data)
                .all(|(x, y)| x.to_bits() == y.to_bits());
            assert!(
                same,
                "{stem}: `{name}` changed in the round trip through {}",
                file.display()
            );
        }
    }
}

#[test]
fn resnet_round_trip_is_bit_identical() {
    round_trip("resnet");
}

#[test]
fn preact_resnet_round_trip_is_bit_identical() {
    round_trip("preact_resnet");
}

#[test]
fn densenet_round_trip_is_bit_identical() {
    round_trip("densenet");
}

#[test]
fn googlenet_round_trip_is_bit_identical() {
    round_trip("googlenet");
}

#[test]
fn cli_export_state_dict_under_pytorch_names_imports_back_bit_identical() {
    let dir = tempfile::tempdir().expect("temp dir");
    let model_file = model_path("resnet").display().to_string();
    let mut sets: Vec<String> = Vec::new();
    for s in overrides("resnet") {
        sets.extend(["--set".into(), s]);
    }
    let theirs = fixture_path("resnet.pt").display().to_string();
    let run = |extra: &[&str]| {
        let mut args: Vec<&str> = vec![extra[0], &model_file];
        args.extend(sets.iter().map(String::as_str));
        args.extend(&extra[1..]);
        let o = netc(dir.path(), &args);
        assert!(o.status.success(), "netc {extra:?}: {}", stderr(&o));
        stdout(&o)
    };
    run(&["init", "-o", "w.safetensors", "--seed", "5"]);
    let said = run(&[
        "export",
        "--weights",
        "w.safetensors",
        "--format",
        "state-dict",
        "--names-from",
        &theirs,
        "-o",
        "sd.pt",
    ]);
    assert!(said.contains("41 tensors under PyTorch's names"), "{said}");
    let sd = import::read(&dir.path().join("sd.pt")).expect("reads");
    assert!(
        sd.tensors
            .iter()
            .any(|t| t.name == "blocks.1.downsample.weight")
    );
    run(&["import", "--from", "sd.pt", "-o", "back.safetensors"]);
    let (w, back) = (
        params::load(&dir.path().join("w.safetensors")).expect("loads"),
        params::load(&dir.path().join("back.safetensors")).expect("loads"),
    );
    assert_eq!(w, back, "netc -> .pt -> netc changed the weights");
}
