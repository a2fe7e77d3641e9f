//! `netc import` on bad input: truncated files, wrong shapes, missing and extra tensors,
//! pickles that would run code. Each is a clear error naming what is wrong; none panics.

use crate::common::{model_path, netc, stderr};
use crate::import_torch::{fixture_path, model, overrides};
use netc::import::pickle::{self, PickleError};
use netc::import::{self, ImportError, map_file::MapFile, torch_write};
use netc::tensor::Tensor;
use std::io::Write;
use std::path::Path;

fn import_bytes(dir: &Path, name: &str, bytes: &[u8]) -> Result<usize, Box<ImportError>> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("written");
    let e = model("resnet");
    let sd = import::read(&path)?;
    Ok(import::import(&e.graph, &sd, &MapFile::default(), name)?
        .0
        .len())
}

/// A torch.save-style archive around `pkl`, with no storages.
fn archive(pkl: &[u8]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file("archive/data.pkl", opts).expect("entry");
    zip.write_all(pkl).expect("written");
    zip.finish().expect("finished").into_inner()
}

#[test]
fn truncated_files_are_format_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    for file in ["resnet.pt", "resnet.ckpt", "resnet.safetensors"] {
        let bytes = std::fs::read(fixture_path(file)).expect("fixture");
        for cut in [bytes.len() / 2, bytes.len() - 10, 7] {
            let err = import_bytes(dir.path(), file, &bytes[..cut]).expect_err("truncated");
            let msg = err.to_string();
            assert!(
                matches!(*err, ImportError::Format { .. }),
                "{file} cut at {cut}: {msg}"
            );
            assert!(
                msg.contains(file) && msg.contains("truncated"),
                "{file} cut at {cut}: {msg}"
            );
        }
    }
}

#[test]
fn every_prefix_of_a_pickle_is_an_error_not_a_panic() {
    let mut zip =
        zip::ZipArchive::new(std::fs::File::open(fixture_path("resnet.ckpt")).expect("fixture"))
            .expect("zip");
    let name = (0..zip.len())
        .map(|i| {
            zip.by_index(i)
                .expect("entry")
                .name()
                .expect("utf-8 name")
                .to_string()
        })
        .find(|n| n.ends_with("data.pkl"))
        .expect("data.pkl");
    let mut pkl = Vec::new();
    std::io::Read::read_to_end(&mut zip.by_name(&name).expect("entry"), &mut pkl).expect("read");
    assert!(pickle::load(&pkl).is_ok());
    for cut in 0..pkl.len() {
        assert!(pickle::load(&pkl[..cut]).is_err(), "prefix of {cut} bytes");
    }
}

#[test]
fn a_pickle_that_calls_os_system_is_refused_by_name() {
    // `os.system("echo pwned")` — what a malicious checkpoint does on torch.load.
    let evil = b"\x80\x02cos\nsystem\nX\x0a\x00\x00\x00echo pwnedq\x00\x85R.";
    let err = pickle::load(evil).expect_err("refused");
    assert_eq!(err, PickleError::ForbiddenGlobal("os.system".into()));
    let dir = tempfile::tempdir().expect("temp dir");
    let msg = import_bytes(dir.path(), "evil.pt", &archive(evil))
        .expect_err("refused")
        .to_string();
    assert!(
        msg.contains("evil.pt") && msg.contains("`os.system`") && msg.contains("could run code"),
        "{msg}"
    );
    // The protocol-4 spelling (STACK_GLOBAL) and builtins are refused too.
    let stack_global = b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93X\x01\x00\x00\x001\x85R.";
    assert_eq!(
        pickle::load(stack_global).expect_err("refused"),
        PickleError::ForbiddenGlobal("builtins.eval".into())
    );
}

#[test]
fn object_building_opcodes_are_refused() {
    // INST: `os system` with a MARKed argument list; OBJ: a class from the stack.
    let inst = b"(X\x02\x00\x00\x00lsios\nsystem\n.";
    assert!(matches!(
        pickle::load(inst).expect_err("refused"),
        PickleError::ForbiddenOpcode { name: "INST", .. }
    ));
    let obj = b"\x80\x02(ccollections\nOrderedDict\no.";
    assert!(matches!(
        pickle::load(obj).expect_err("refused"),
        PickleError::ForbiddenOpcode { name: "OBJ", .. }
    ));
    let newobj = b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n)\x81.";
    assert!(matches!(
        pickle::load(newobj).expect_err("refused"),
        PickleError::ForbiddenOpcode { name: "NEWOBJ", .. }
    ));
}

#[test]
fn the_legacy_format_is_explained() {
    let dir = tempfile::tempdir().expect("temp dir");
    let legacy = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.";
    let msg = import_bytes(dir.path(), "old.pt", legacy)
        .expect_err("refused")
        .to_string();
    assert!(msg.contains("legacy"), "{msg}");
}

#[test]
fn a_tensor_of_the_wrong_shape_is_named_with_its_netc_parameter() {
    // The fixture has widths [8, 16, 32]; the default model [16, 32, 64].
    let e = netc::pipeline::front_end(&mut netc::diag::Sources::new(), &model_path("resnet"), &[])
        .expect("elaborates");
    let sd = import::read(&fixture_path("resnet.pt")).expect("reads");
    let msg = import::import(&e.graph, &sd, &MapFile::default(), "resnet.pt")
        .expect_err("shapes differ")
        .to_string();
    assert_eq!(
        msg,
        "`resnet.pt`: PyTorch tensor `input_net.0.weight` has shape [8, 3, 3, 3], but the netc parameter it would be, `conv1.weight`, has shape [16, 3, 3, 3]"
    );
}

/// The fixture's tensors under PyTorch's names, with `edit` applied, written as a `.pt`.
fn edited_pt(edit: impl FnOnce(&mut Vec<(String, Tensor)>)) -> Vec<u8> {
    let sd = import::read(&fixture_path("resnet.pt")).expect("reads");
    let mut tensors: Vec<(String, Tensor)> = sd
        .tensors
        .iter()
        .filter_map(|t| {
            t.data
                .clone()
                .ok()
                .map(|d| (t.name.clone(), Tensor::new(t.dims.clone(), d)))
        })
        .collect();
    edit(&mut tensors);
    let refs: Vec<(String, &Tensor)> = tensors.iter().map(|(k, t)| (k.clone(), t)).collect();
    torch_write::to_bytes(&refs).expect("writes")
}

#[test]
fn a_missing_tensor_is_named() {
    let bytes = edited_pt(|t| t.retain(|(k, _)| k != "output_net.2.bias"));
    let dir = tempfile::tempdir().expect("temp dir");
    let msg = import_bytes(dir.path(), "missing.pt", &bytes)
        .expect_err("missing")
        .to_string();
    assert!(
        msg.contains("no tensor for netc parameter `linear1.bias` [10]"),
        "{msg}"
    );
}

#[test]
fn an_extra_tensor_is_named() {
    let bytes = edited_pt(|t| t.push(("head.extra.weight".into(), Tensor::zeros(vec![10, 10]))));
    let dir = tempfile::tempdir().expect("temp dir");
    let msg = import_bytes(dir.path(), "extra.pt", &bytes)
        .expect_err("extra")
        .to_string();
    assert!(
        msg.contains("`head.extra.weight` [10, 10] is left over") && msg.contains("null"),
        "{msg}"
    );
    // ... and a map that gives it `null` imports the rest.
    let path = dir.path().join("extra.pt");
    let map = dir.path().join("names.json");
    std::fs::write(&map, r#"{"head.extra": null}"#).expect("written");
    let e = model("resnet");
    let sd = import::read(&path).expect("reads");
    let (w, mapping) = import::import(
        &e.graph,
        &sd,
        &MapFile::load(&map).expect("map"),
        "extra.pt",
    )
    .expect("imports");
    assert_eq!(w.len(), 41);
    assert!(
        mapping
            .0
            .iter()
            .any(|r| r.torch == "head.extra.weight" && r.netc.is_none())
    );
}

#[test]
fn bad_map_files_are_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let e = model("resnet");
    let sd = import::read(&fixture_path("resnet.pt")).expect("reads");
    for (text, expect) in [
        ("[1, 2]", "one JSON object"),
        (
            r#"{"nope.weight": "linear.weight"}"#,
            "neither a tensor nor a module",
        ),
        (
            r#"{"output_net.2.weight": "linear.wieght"}"#,
            "not a parameter of the model",
        ),
        (r#"{"output_net.2": 3}"#, "give a netc name or null"),
        ("{", "not JSON"),
    ] {
        let map = dir.path().join("names.json");
        std::fs::write(&map, text).expect("written");
        let msg = match MapFile::load(&map) {
            Ok(m) => import::import(&e.graph, &sd, &m, "resnet.pt").map(|_| ()),
            Err(err) => Err(err),
        }
        .expect_err(text)
        .to_string();
        assert!(
            msg.contains("names.json") && msg.contains(expect),
            "{text}: {msg}"
        );
    }
}

#[test]
fn cli_reports_bad_input_without_panicking() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bad = dir.path().join("bad.pt");
    std::fs::write(&bad, b"not a zip at all").expect("written");
    let mut args: Vec<String> = vec!["import".into(), model_path("resnet").display().to_string()];
    for s in overrides("resnet") {
        args.extend(["--set".into(), s]);
    }
    args.extend([
        "--from".into(),
        bad.display().to_string(),
        "-o".into(),
        "w.safetensors".into(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = netc(dir.path(), &args);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("bad.pt") && err.contains("zip"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!dir.path().join("w.safetensors").exists());
}

#[test]
fn deep_nesting_and_runaway_references_are_errors_not_crashes() {
    // 100,000 nested lists: 100,001 empty lists, then each APPENDed into the one below.
    let mut deep = vec![0x80, 2];
    deep.extend(std::iter::repeat_n(b']', 100_001));
    deep.extend(std::iter::repeat_n(b'a', 100_000));
    deep.push(b'.');
    let err = pickle::load(&deep)
        .map(|_| ())
        .expect_err("too deep")
        .to_string();
    assert!(err.contains("nest deeper"), "{err}");
    // A "billion laughs": a tuple of 1000 ints in memo 0, then again and again a tuple of
    // ten references to memo 0, stored back under 0 (each ten times the last).
    let mut laughs = vec![0x80, 2, b'('];
    for _ in 0..1000 {
        laughs.extend_from_slice(b"K\x01");
    }
    laughs.extend_from_slice(b"tq\x00");
    for _ in 0..20 {
        laughs.push(b'(');
        for _ in 0..10 {
            laughs.extend_from_slice(b"h\x00");
        }
        laughs.extend_from_slice(b"tq\x00");
    }
    laughs.push(b'.');
    let err = pickle::load(&laughs)
        .map(|_| ())
        .expect_err("runaway")
        .to_string();
    assert!(err.contains("refers to its own values"), "{err}");
}
