//! `netc train` and `netc test` end to end on lavapipe with a small model on the
//! synthetic dataset: a short run trains, checkpoints and logs; a resumed run gives the
//! same metrics as an uninterrupted one; TensorBoard's own reader reads the events;
//! bad data and a diverging loss stop with clear errors. The helpers here serve the other
//! `cli_train_*` modules too.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const MODEL: &str = "tests/train/small.net";

pub fn netc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_netc"))
        // Tests never time kernels or write the user's tuning cache (tests/gpu_tune.rs does).
        .env("NETC_TUNE", "0")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("netc runs")
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("netc-train-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// metrics.jsonl without the wall-clock fields, which differ from run to run.
pub fn metrics(run: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .expect("metrics.jsonl")
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            let o = v.as_object_mut().unwrap();
            o.remove("seconds");
            o.remove("images_per_s");
            v
        })
        .collect()
}

pub fn train(out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "train",
        MODEL,
        "--data",
        "synthetic",
        "--limit",
        "600",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    netc(&args)
}

#[test]
fn a_short_run_trains_checkpoints_logs_resumes_and_tests() {
    let full = tempdir("full");
    let o = train(&full, &[]);
    assert!(o.status.success(), "{}", text(&o));
    for f in [
        "best.safetensors",
        "last.safetensors",
        "config.json",
        "metrics.jsonl",
    ] {
        assert!(full.join(f).is_file(), "{f} missing");
    }
    let m = metrics(&full);
    assert_eq!(m.len(), 2);
    assert!(
        m[1]["val_acc"].as_f64().unwrap() > 0.2,
        "the small model learns the synthetic classes: {m:?}"
    );
    // Milestone 1 (as in MultiStepLR: after one epoch) lowers the second epoch's rate.
    assert!((m[1]["lr"].as_f64().unwrap() - 0.01).abs() < 1e-9, "{m:?}");

    // A run of one epoch extended to two with `--resume --epochs 2` gives the metrics of
    // the two-epoch run, and reading the step metrics back from the device every 4 steps
    // instead of once an epoch changes nothing.
    let part = tempdir("part");
    let o = train(&part, &["--epochs", "1", "--log-every", "4"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = netc(&["train", "--resume", part.to_str().unwrap(), "--quiet"]);
    assert!(
        o.status.success()
            && text(&o).contains("nothing to train")
            && text(&o).contains("--epochs N"),
        "a finished run says how to extend it: {}",
        text(&o)
    );
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
        "a resumed run must match an uninterrupted one"
    );

    // `netc test` evaluates the best checkpoint on the held-out split.
    let o = netc(&["test", full.to_str().unwrap()]);
    let t = text(&o);
    assert!(
        o.status.success() && t.contains("test accuracy") && t.contains("validation split"),
        "{t}"
    );

    // `netc report` tabulates the runs and draws their curves.
    let report = tempdir("report");
    let o = netc(&[
        "report",
        full.to_str().unwrap(),
        part.to_str().unwrap(),
        "--out",
        report.to_str().unwrap(),
    ]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(
        t.contains("| Model | Val Accuracy | Test Accuracy | Parameters |")
            && t.contains("| Small |"),
        "{t}"
    );
    for f in ["report.md", "curves.svg", "curves.png"] {
        assert!(
            std::fs::metadata(report.join(f))
                .map(|m| m.len() > 100)
                .unwrap_or(false),
            "{f} missing or empty"
        );
    }

    // TensorBoard's own reader reads the event file.
    let events: Vec<PathBuf> = std::fs::read_dir(full.join("tensorboard"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(events.len(), 1);
    let py = Command::new("python3")
        .args([
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/tensorboard_read.py")
                .to_str()
                .unwrap(),
            events[0].to_str().unwrap(),
        ])
        .output()
        .expect("python3 runs");
    let out = text(&py);
    assert!(
        py.status.success(),
        "TensorBoard's reader failed (pip install tensorboard): {out}"
    );
    for tag in ["train_loss", "train_acc", "val_acc", "lr"] {
        assert!(
            out.lines().any(|l| l.starts_with(&format!("{tag} "))),
            "no `{tag}` scalars in: {out}"
        );
    }
    assert_eq!(out.lines().filter(|l| l.starts_with("val_acc ")).count(), 2);
}

#[test]
fn a_diverging_loss_stops_the_run_naming_the_step() {
    let out = tempdir("nan");
    let o = train(&out, &["--lr", "1e30", "--epochs", "1"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("became") && t.contains(" step "), "{t}");
    assert!(t.contains("No checkpoint had been written yet"), "{t}");
    assert!(!out.join("last.safetensors").exists() && !out.join("best.safetensors").exists());
    assert!(!t.contains("panicked"), "{t}");
}

#[test]
fn bad_training_data_is_reported_before_training() {
    let dir = tempdir("bad");
    std::fs::create_dir_all(dir.join("cat")).unwrap();
    std::fs::write(dir.join("cat/0.png"), b"not a png").unwrap();
    let o = netc(&[
        "train",
        MODEL,
        "--data",
        dir.to_str().unwrap(),
        "--quiet",
        "--out",
        dir.join("run").to_str().unwrap(),
    ]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("cannot decode image") && t.contains("0.png"),
        "{t}"
    );
    assert!(!dir.join("run").exists(), "a refused run leaves no trace");

    // No --data, no $NETC_DATA, no ./data: say where to get a dataset.
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join(MODEL);
    let o = Command::new(env!("CARGO_BIN_EXE_netc"))
        // Tests never time kernels or write the user's tuning cache (tests/gpu_tune.rs does).
        .env("NETC_TUNE", "0")
        .args(["train", model.to_str().unwrap(), "--quiet"])
        .current_dir(&dir)
        .env_remove("NETC_DATA")
        .output()
        .unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("no training data")
            && t.contains("--data synthetic")
            && t.contains("cifar-10-batches-bin"),
        "{t}"
    );
}
