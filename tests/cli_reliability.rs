//! Inputs a careless or hostile user can give the CLI that once crashed or hung it
//! (issue 17): sizes past what a kernel can index, deeply nested and very long
//! expressions, imports of things that are not files, deep models compiled for training,
//! and hand-edited checkpoint sidecars. Each must end promptly with exit 0 or with
//! exit 1 and a diagnostic — never a panic, an abort or a hang.

use crate::common;

use netc::diag::Sources;
use netc::train::checkpoint::Checkpoint;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `netc args` in `cwd`, killed (and the test failed) if it runs past `limit`.
fn netc_within(cwd: &Path, args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_netc"))
        .env("NETC_TUNE", "0")
        .env("NO_COLOR", "1")
        .env_remove("RUST_BACKTRACE")
        .current_dir(cwd)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the netc binary runs");
    // Drain both pipes while waiting: a diagnostic quoting a long line fills a pipe's
    // buffer, and a child blocked writing it would look like a hang.
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("stdout")));
    let err = drain(Box::new(child.stderr.take().expect("stderr")));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("netc {args:?} still ran after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    }
}

/// The run ended with exit 1 and an error diagnostic naming `file`, not a crash.
fn assert_diagnosed(o: &Output, file: &str, message: &str) {
    let err = common::stderr(o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "exit status {:?}:\n{err}",
        o.status
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains(message), "expected {message:?} in:\n{err}");
    assert!(err.contains(file), "expected {file:?} in:\n{err}");
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write");
}

/// A model whose one `line` (the third line of the file) is under test.
fn model_with(line: &str) -> String {
    format!("model M() {{\n  input x: [3, 8, 8]\n  {line}\n}}\n")
}

const QUICK: Duration = Duration::from_secs(60);

#[test]
fn sizes_past_the_kernel_limit_are_diagnosed_at_the_call_by_init() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (line, what) in [
        (
            "return x |> conv(1000000000, k = 3) |> flatten",
            "the weight [1000000000,3,3,3] would hold 27000000000 elements",
        ),
        (
            "return x |> flatten |> linear(10000000000)",
            "the weight [10000000000,192] would hold 1920000000000 elements",
        ),
        (
            "return x |> conv(4, k = 3, pad = 1000000000) |> flatten",
            "the output [N,4,2000000006,2000000006] would hold 16000000096000000144 elements per example",
        ),
        (
            "return x |> conv(1000000000000000000, k = 3) |> flatten",
            "would hold more than 2^64 elements",
        ),
    ] {
        write(dir.path(), "m.net", &model_with(line));
        for args in [
            &["check", "m.net"][..],
            &["init", "m.net", "-o", "w.safetensors"][..],
        ] {
            let o = netc_within(dir.path(), args, QUICK);
            assert_diagnosed(&o, "m.net:3:", what);
            assert_diagnosed(&o, "m.net:3:", "tensor too large");
            assert_diagnosed(&o, "m.net:3:", "the limit is 2147483647");
        }
        assert!(
            !dir.path().join("w.safetensors").exists(),
            "{line}: no weights written"
        );
    }
    // An input too large is reported where it is declared.
    write(
        dir.path(),
        "m.net",
        "model M() {\n  input x: [100000, 100000, 3]\n  return x |> flatten\n}\n",
    );
    let o = netc_within(dir.path(), &["check", "m.net"], QUICK);
    assert_diagnosed(
        &o,
        "m.net:2:",
        "tensor too large: input `x` [N,100000,100000,3]",
    );
}

#[test]
fn a_mac_count_past_u64_is_a_diagnostic_not_a_saturated_count() {
    // Each conv is within the tensor limit (a 46340 x 46340 plane, a 46340 x 46339 x 46339
    // weight reduction per output), about 2^62 MACs; five of them pass 2^64.
    let layer = "x = x |> conv(1, k = 46339, pad = 23169, bias = false)";
    let text = format!(
        "model M() {{\n  input x: [1, 46340, 46340]\n{}\n  return x |> flatten\n}}\n",
        vec![format!("  {layer}"); 5].join("\n")
    );
    let dir = tempfile::tempdir().expect("temp dir");
    write(dir.path(), "m.net", &text);
    let o = netc_within(dir.path(), &["check", "m.net"], QUICK);
    assert_diagnosed(
        &o,
        "m.net:",
        "the model's multiply-accumulates per example overflow a 64-bit count",
    );
    assert!(!common::stderr(&o).contains("18,446,744,073,709,551,615"));
}

#[test]
fn deep_nesting_is_a_diagnostic_at_the_parser() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (expr, what) in [
        (
            format!("{}1", "-".repeat(50_000)),
            "prefix operators nested more than 256 deep",
        ),
        (
            format!("{}true", "!".repeat(50_000)),
            "prefix operators nested more than 256 deep",
        ),
        (
            format!("{}1{}", "(".repeat(50_000), ")".repeat(50_000)),
            "brackets nested more than 256 deep",
        ),
        (
            format!("{}1{}", "[".repeat(50_000), "]".repeat(50_000)),
            "brackets nested more than 256 deep",
        ),
    ] {
        write(
            dir.path(),
            "m.net",
            &model_with(&format!("y = {expr}\n  return x |> flatten")),
        );
        for args in [
            &["check", "m.net"][..],
            &["compile", "m.net", "--emit", "ast"][..],
        ] {
            let o = netc_within(dir.path(), args, QUICK);
            assert_diagnosed(&o, "m.net:3:", what);
        }
    }
    // Up to the limit, nesting compiles and prints back.
    let deep = format!("{}1{}", "(-".repeat(128), ")".repeat(128));
    write(
        dir.path(),
        "m.net",
        &model_with(&format!("y = {deep}\n  return x |> flatten")),
    );
    let o = netc_within(dir.path(), &["compile", "m.net", "--emit", "ast"], QUICK);
    assert!(o.status.success(), "{}", common::stderr(&o));
}

#[test]
fn long_flat_chains_check_and_print() {
    // A 200,000-term sum and a 20,000-op pipe are trees as deep as they are long.
    let sum = vec!["1"; 200_000].join(" + ");
    let pipe = " |> relu".repeat(20_000);
    let text = format!(
        "model M() {{\n  input x: [3, 8, 8]\n  n = {sum}\n  y = x{pipe}\n  return y |> flatten |> linear(n % 7 + 1)\n}}\n"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    write(dir.path(), "m.net", &text);
    let o = netc_within(dir.path(), &["check", "m.net"], QUICK);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let o = netc_within(dir.path(), &["compile", "m.net", "--emit", "ast"], QUICK);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let printed = common::stdout(&o);
    assert!(
        printed.contains(&format!("n = {sum}\n")),
        "the sum prints back whole"
    );
    assert!(
        printed.contains(&format!("y = x{pipe}\n")),
        "the pipe prints back whole"
    );
    // 200,000 mod 7 = 3: the sum was evaluated, not just parsed.
    let o = netc_within(dir.path(), &["summary", "m.net", "--format", "json"], QUICK);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let s: serde_json::Value = serde_json::from_str(&common::stdout(&o)).expect("json");
    assert_eq!(s["params"], 192 * 4 + 4, "linear(4) on 192 features");
}

#[test]
fn imports_of_devices_fifos_and_huge_files_are_refused_promptly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let fifo = dir.path().join("pipe.net");
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success(), "mkfifo");
    std::fs::create_dir(dir.path().join("lib")).expect("a directory");
    let huge = dir.path().join("huge.net");
    std::fs::File::create(&huge)
        .and_then(|f| f.set_len(17 << 20))
        .expect("a sparse 17 MiB file");
    for (path, why) in [
        ("/dev/zero", "not a regular file (a character device)"),
        ("pipe.net", "not a regular file (a FIFO)"),
        ("huge.net", "larger than the 16 MiB limit"),
        ("lib", "not a regular file (a directory)"),
    ] {
        write(
            dir.path(),
            "m.net",
            &format!("use \"{path}\"\n{}", model_with("return x |> flatten")),
        );
        let o = netc_within(dir.path(), &["check", "m.net"], QUICK);
        assert_diagnosed(&o, "m.net:1:", why);
        // The root file is read the same way.
        let o = netc_within(dir.path(), &["check", path], QUICK);
        assert_eq!(o.status.code(), Some(1), "{path}: {}", common::stderr(&o));
        assert!(
            common::stderr(&o).contains(why),
            "{path}: {}",
            common::stderr(&o)
        );
    }
}

#[test]
fn compiling_a_deep_model_for_training_takes_linear_time() {
    // Autodiff once looked up each gradient's parameter by formatting and scanning the names
    // of every parameter: quadratic in depth (16 s for 2,000 layers, minutes for 10,000;
    // about a minute for these 5,000 even in a release build). They now take about a
    // second in a test build; the bound is generous, for noisy machines, and fails only
    // when the work is quadratic again.
    let text = "model Deep(depth = 5000) {\n  input x: [3, 8, 8]\n  x = x |> conv(8, k = 3, pad = 1) |> bn |> relu\n  for i in 0..depth {\n    x = x |> conv(8, k = 3, pad = 1) |> bn |> relu\n  }\n  return x |> global_avg_pool |> flatten |> linear(10)\n}\n";
    let dir = tempfile::tempdir().expect("temp dir");
    write(dir.path(), "deep.net", text);
    let o = netc_within(
        dir.path(),
        &["compile", "deep.net", "--train", "--emit", "ir"],
        Duration::from_secs(45),
    );
    assert!(o.status.success(), "{}", common::stderr(&o));
    let ir = common::stdout(&o);
    // The default optimizer is AdamW: one step per trainable parameter (each layer's conv
    // weight and bias and bn gamma and beta, and the linear layer's two).
    assert_eq!(ir.matches("adam_step").count(), 4 * 5001 + 2);
}

/// A `best`/`last` checkpoint pair of tests/train/small.net in `dir`, with freshly
/// initialised weights, as a run would leave it.
fn save_checkpoint(dir: &Path) {
    let model = common::root().join("tests/train/small.net");
    let source = std::fs::read_to_string(&model).expect("model");
    let mut sources = Sources::new();
    let e = netc::pipeline::front_end_str(&mut sources, &model.display().to_string(), &source, &[])
        .expect("the small model compiles");
    let c = Checkpoint {
        model_file: model.display().to_string(),
        source_hash: netc::train::checkpoint::hash(&source),
        model_source: source,
        hparams: vec![],
        params: netc::params::init(&e.graph, &e.recipe.init, 1),
        recipe: e.recipe,
        normalize: netc::predict::Normalize::cifar10(),
        classes: (0..10).map(|i| format!("class{i}")).collect(),
        data: "synthetic".into(),
        limit: Some(200),
        epoch: 1,
        step: 4,
        seed: 1,
        history: vec![],
        partial: None,
    };
    std::fs::create_dir_all(dir).expect("run dir");
    // The older two-file layout, whose JSON sidecar people edit by hand: plain weights
    // beside `NAME.json` (a checkpoint written now keeps the description inside the
    // safetensors file, validated by the same code on load).
    for name in ["best", "last"] {
        netc::params::save(&c.params, &dir.join(format!("{name}.safetensors"))).expect("weights");
        std::fs::write(
            dir.join(format!("{name}.json")),
            serde_json::to_string(&c).expect("json"),
        )
        .expect("sidecar");
    }
}

#[test]
fn hand_edited_checkpoint_sidecars_are_refused_naming_the_field() {
    let run = tempfile::tempdir().expect("temp dir");
    for (edit, field) in [
        (
            &(|j: &mut serde_json::Value| j["recipe"]["batch"] = 0.into())
                as &dyn Fn(&mut serde_json::Value),
            "`recipe.batch` must be a positive int",
        ),
        (
            &|j: &mut serde_json::Value| j["normalize"]["mean"] = serde_json::json!([0.5]),
            "`normalize` must be three finite means",
        ),
        (
            &|j: &mut serde_json::Value| j["normalize"]["std"] = serde_json::json!([0.2, 0.0, 0.2]),
            "`normalize` must be three finite means",
        ),
        (
            &|j: &mut serde_json::Value| j["recipe"]["optimizer"]["lr"] = (-1.0).into(),
            "`recipe.optimizer` must be sgd with a positive lr",
        ),
    ] {
        save_checkpoint(run.path());
        for name in ["best", "last"] {
            let path = run.path().join(format!("{name}.json"));
            let mut j: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&path).expect("sidecar"))
                    .expect("json");
            edit(&mut j);
            std::fs::write(&path, j.to_string()).expect("write");
        }
        let dir = run.path().to_str().expect("utf-8 path");
        for args in [
            &["test", dir][..],
            &["train", "--resume", dir, "--quiet"][..],
        ] {
            let o = netc_within(run.path(), args, QUICK);
            let err = common::stderr(&o);
            assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
            assert!(!err.contains("panicked"), "{args:?}: {err}");
            assert!(err.contains(field), "{args:?}: expected {field:?} in {err}");
            assert!(
                err.contains(".json"),
                "{args:?}: the sidecar is named: {err}"
            );
        }
    }
}
