//! A checkpoint is one atomic unit and metrics.jsonl follows it (issue 17, point 4): a run
//! whose Nth write fails (`NETC_FAIL_WRITE=N`, see src/atomic_file.rs), for every N the
//! run has, and is then resumed — or started again, where it stopped before its first
//! checkpoint — ends with exactly the checkpoints and metrics of a run that never failed.

use crate::cli_train::{MODEL, metrics, tempdir, text};
use netc::train::checkpoint::Checkpoint;
use std::path::Path;
use std::process::{Command, Output};

fn netc_failing_at(n: Option<usize>, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_netc"));
    c.env("NETC_TUNE", "0")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if let Some(n) = n {
        c.env("NETC_FAIL_WRITE", n.to_string());
    }
    c.output().expect("netc runs")
}

/// Two epochs of 10 steps (40 images, batches of 4), 20 images held out.
fn tiny(out: &Path, fail_at: Option<usize>, extra: &[&str]) -> Output {
    let mut args = vec![
        "train",
        MODEL,
        "--data",
        "synthetic",
        "--limit",
        "60",
        "--val-size",
        "20",
        "--batch",
        "4",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    netc_failing_at(fail_at, &args)
}

/// What a run's checkpoint must reproduce: everything but the wall-clock fields.
fn essence(run: &Path, name: &str) -> (u32, u64, Vec<serde_json::Value>, netc::tensor::TensorMap) {
    let c = Checkpoint::load(run, name).unwrap_or_else(|e| panic!("{name}: {e}"));
    let history = c
        .history
        .iter()
        .map(|m| {
            let mut v = serde_json::to_value(m).unwrap();
            let o = v.as_object_mut().unwrap();
            o.remove("seconds");
            o.remove("images_per_s");
            v
        })
        .collect();
    (c.epoch, c.step, history, c.params)
}

#[test]
fn a_failure_at_any_write_point_resumes_to_the_uninterrupted_run() {
    let reference = tempdir("faults-reference");
    let o = tiny(&reference, None, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let (want_metrics, want_last, want_best) = (
        metrics(&reference),
        essence(&reference, "last"),
        essence(&reference, "best"),
    );
    assert_eq!(want_metrics.len(), 2);

    let mut failed = 0;
    for n in 1..=64 {
        let run = tempdir(&format!("faults-{n}"));
        let o = tiny(&run, Some(n), &[]);
        if o.status.success() {
            break; // The run has fewer than n write points: each one has failed once.
        }
        failed += 1;
        let t = text(&o);
        assert!(
            t.contains(&format!("injected failure of write point {n} ")),
            "write {n}: {t}"
        );
        // Recover as a user would: resume from the last checkpoint, or start again (over
        // a `best` written before the first `last` failed).
        let o = if run.join("last.safetensors").exists() {
            netc_failing_at(
                None,
                &["train", "--resume", run.to_str().unwrap(), "--quiet"],
            )
        } else {
            tiny(&run, None, &["--overwrite"])
        };
        assert!(o.status.success(), "after write {n} failed: {}", text(&o));
        assert_eq!(
            metrics(&run),
            want_metrics,
            "metrics after write {n} failed"
        );
        assert!(
            essence(&run, "last") == want_last,
            "last after write {n} failed"
        );
        assert!(
            essence(&run, "best") == want_best,
            "best after write {n} failed"
        );
        let _ = std::fs::remove_dir_all(&run);
    }
    // config.json (two points: the temporary file, the rename), the event file, and per
    // epoch last and metrics.jsonl (two each), the events' flush, and best (two) when the
    // epoch improved on it.
    let mut best = f64::NEG_INFINITY;
    let improved = want_metrics
        .iter()
        .filter(|m| {
            let acc = m["val_acc"].as_f64().unwrap();
            let better = acc > best;
            best = best.max(acc);
            better
        })
        .count();
    assert_eq!(failed, 3 + 5 * want_metrics.len() + 2 * improved);
}
