//! `--precision mixed` and the recipe's `precision` key through the command line: a mixed
//! run trains, logs skipped steps, checkpoints the loss scaler and resumes to identical
//! metrics; the plan shows each value's dtype; bad values and a device without f16 get
//! errors that say what is wrong.

use crate::cli_train::{MODEL, metrics, netc, tempdir, text};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `netc` with extra environment variables (a wgpu backend).
fn netc_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_netc"));
    // Tests never time kernels or write the user's tuning cache (tests/gpu_tune.rs does).
    c.env("NETC_TUNE", "0")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("netc runs")
}

/// cli_train's short run, in mixed precision.
fn train(out: &Path, extra: &[&str]) -> Output {
    crate::cli_train::train(out, &[&["--precision", "mixed"], extra].concat())
}

/// The small model with `setting` added to its recipe, written as `dir/file`.
fn with_recipe_line(dir: &str, file: &str, setting: &str) -> PathBuf {
    let dir = tempdir(dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(file);
    let source = std::fs::read_to_string(MODEL)
        .unwrap()
        .replace("epochs    = 2", &format!("epochs    = 2\n  {setting}"));
    std::fs::write(&path, source).unwrap();
    path
}

#[test]
fn a_mixed_run_trains_logs_skipped_steps_checkpoints_the_scaler_and_resumes() {
    let full = tempdir("mixed-full");
    let o = train(&full, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let m = metrics(&full);
    assert_eq!(m.len(), 2, "{m:?}");
    assert!(
        m[1]["val_acc"].as_f64().unwrap() > 0.2,
        "the small model learns the synthetic classes in mixed precision too: {m:?}"
    );
    // 500 training images in batches of 50: ten steps an epoch, each counted.
    for e in &m {
        let skipped = e["skipped_steps"]
            .as_u64()
            .expect("skipped_steps is logged");
        assert!(skipped < 10, "every step skipped: {m:?}");
    }
    // The scaler's state is saved with the parameters: [scale, clean steps, flag, skipped].
    let w = netc::params::load(&full.join("last.safetensors")).expect("checkpoint loads");
    let scaler = &w[netc::ir::LOSS_SCALER].data;
    assert_eq!(scaler.len(), 4);
    let skipped: u64 = m.iter().map(|e| e["skipped_steps"].as_u64().unwrap()).sum();
    assert_eq!(scaler[3] as u64, skipped, "{scaler:?} vs {m:?}");
    assert!(scaler[0] >= 1.0 && scaler[0] <= 65536.0, "{scaler:?}");
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(full.join("config.json")).unwrap())
            .expect("config.json");
    assert_eq!(config["recipe"]["precision"], "mixed", "{config}");

    // Stopped after epoch 1 and resumed: the same metrics as the run that never stopped
    // (the scale and its clean-step count come back from the checkpoint).
    let part = tempdir("mixed-part");
    let o = train(&part, &["--epochs", "1"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = netc(&[
        "train",
        "--resume",
        part.to_str().unwrap(),
        "--epochs",
        "2",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        metrics(&part),
        m,
        "a resumed mixed run must match an uninterrupted one"
    );
    // The precision of a run is fixed.
    let o = netc(&[
        "train",
        "--resume",
        part.to_str().unwrap(),
        "--precision",
        "f32",
        "--quiet",
    ]);
    let t = text(&o);
    assert!(
        !o.status.success() && t.contains("cannot change it on --resume"),
        "{t}"
    );

    // The checkpoint evaluates like any other (in f32, on the master weights).
    let o = netc(&["test", full.to_str().unwrap()]);
    let t = text(&o);
    assert!(o.status.success() && t.contains("test accuracy"), "{t}");
}

#[test]
fn the_plan_of_a_mixed_step_shows_each_values_dtype() {
    let o = netc(&[
        "compile",
        MODEL,
        "--train",
        "--precision",
        "mixed",
        "--emit",
        "plan",
        "--batch",
        "4",
    ]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    let line = |name: &str| {
        t.lines()
            .find(|l| l.split_whitespace().nth(4) == Some(name))
            .unwrap_or_else(|| panic!("no buffer `{name}` in\n{t}"))
            .to_string()
    };
    assert!(line("x").contains(" f16 "), "{}", line("x"));
    assert!(
        line("conv1.weight").contains(" f32 "),
        "{}",
        line("conv1.weight")
    );
    assert!(
        line("loss_scaler").contains(" f32 "),
        "{}",
        line("loss_scaler")
    );
    assert!(
        t.contains("grads_finite") && t.contains("loss_scale_update"),
        "{t}"
    );
    // The IR says it too.
    let o = netc(&[
        "compile",
        MODEL,
        "--train",
        "--precision",
        "mixed",
        "--emit",
        "ir-opt",
    ]);
    let ir = text(&o);
    assert!(o.status.success() && ir.contains("f16"), "{ir}");
}

#[test]
fn bad_precisions_are_diagnosed() {
    let o = netc(&[
        "compile",
        MODEL,
        "--train",
        "--precision",
        "f16",
        "--emit",
        "plan",
    ]);
    let t = text(&o);
    assert!(!o.status.success() && t.contains("use f32 or mixed"), "{t}");
    let o = netc(&["compile", MODEL, "--precision", "mixed", "--emit", "plan"]);
    let t = text(&o);
    assert!(!o.status.success() && t.contains("--train"), "{t}");
    let file = with_recipe_line("mixed-recipe", "half.net", "precision = \"half\"");
    let o = netc(&["check", file.to_str().unwrap()]);
    let t = text(&o);
    assert!(
        !o.status.success() && t.contains("`precision` must be \"f32\" or \"mixed\""),
        "{t}"
    );
    assert!(
        t.contains("half.net:"),
        "the error points at the recipe line: {t}"
    );
}

/// wgpu's GL backend offers no f16: a mixed step there is refused before anything runs,
/// naming the missing feature.
#[test]
fn a_device_without_f16_names_the_missing_feature() {
    let o = netc_env(
        &[
            "bench",
            MODEL,
            "--mode",
            "train",
            "--precision",
            "mixed",
            "--batch",
            "2",
            "--steps",
            "1",
        ],
        &[("WGPU_BACKEND", "gl")],
    );
    let t = text(&o);
    assert!(!o.status.success() && t.contains("SHADER_F16"), "{t}");
}

#[test]
fn the_summary_shows_a_mixed_recipe() {
    let file = with_recipe_line("mixed-summary", "mixed.net", "precision = \"mixed\"");
    let o = netc(&["summary", file.to_str().unwrap()]);
    let t = text(&o);
    assert!(
        o.status.success() && t.contains("precision       mixed: f16 activations"),
        "{t}"
    );
}
