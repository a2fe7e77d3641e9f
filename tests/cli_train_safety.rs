//! `netc train` never loses a run, never calls a broken model a success, and holds data
//! and command-line values to the rules a recipe meets (issue 17): the run-directory rule
//! and its lock, the non-finite guard (and `infer`/`test` refusing non-finite weights),
//! data that cannot fit the model, and CLI values. Runs are tiny: 60 synthetic images,
//! batches of 4.

use crate::cli_train::{MODEL, metrics, netc, tempdir, text};
use netc::train::checkpoint::Checkpoint;
use std::path::{Path, PathBuf};
use std::process::Output;

/// A tiny run of `model` into `out`: 40 training images, 20 held out, batches of 4;
/// `extra` may replace `--limit` or `--val-size`.
fn tiny(model: &str, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "train",
        model,
        "--data",
        "synthetic",
        "--batch",
        "4",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ];
    for (flag, value) in [("--limit", "60"), ("--val-size", "20")] {
        if !extra.contains(&flag) {
            args.extend([flag, value]);
        }
    }
    args.extend_from_slice(extra);
    netc(&args)
}

fn fails_with(o: &Output, needles: &[&str]) {
    let t = text(o);
    assert_ne!(o.status.code(), Some(0), "expected a failure: {t}");
    assert!(!t.contains("panicked"), "{t}");
    for n in needles {
        assert!(t.contains(n), "`{n}` missing from: {t}");
    }
}

fn event_files(run: &Path) -> usize {
    std::fs::read_dir(run.join("tensorboard")).map_or(0, |d| d.count())
}

#[test]
fn a_new_run_refuses_a_directory_holding_a_run_and_overwrite_replaces_it() {
    let run = tempdir("existing");
    let o = tiny(MODEL, &run, &["--epochs", "1"]);
    assert!(o.status.success(), "{}", text(&o));
    let before = std::fs::read(run.join("last.safetensors")).unwrap();

    // Training the same model into the same directory again is refused, and says how to
    // continue or replace the run; nothing of the run changes.
    let o = tiny(MODEL, &run, &["--epochs", "1"]);
    fails_with(&o, &["already holds a run", "--resume", "--overwrite"]);
    assert_eq!(std::fs::read(run.join("last.safetensors")).unwrap(), before);
    assert_eq!(metrics(&run).len(), 1);
    assert_eq!(event_files(&run), 1);

    // --overwrite (alias --force) replaces it cleanly: no stale metrics line, no second
    // TensorBoard file.
    for flag in ["--overwrite", "--force"] {
        let o = tiny(MODEL, &run, &["--epochs", "2", flag]);
        assert!(o.status.success(), "{flag}: {}", text(&o));
        assert_eq!(metrics(&run).len(), 2, "{flag}");
        assert_eq!(event_files(&run), 1, "{flag}");
    }
}

#[test]
fn of_two_runs_started_together_on_one_directory_exactly_one_trains() {
    let run = tempdir("together");
    let start = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_netc"))
            .env("NETC_TUNE", "0")
            .args(["train", MODEL, "--data", "synthetic", "--limit", "60"])
            .args([
                "--val-size",
                "20",
                "--batch",
                "4",
                "--epochs",
                "1",
                "--quiet",
            ])
            .arg("--out")
            .arg(&run)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (start(), start());
    let outputs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
    let won: Vec<&Output> = outputs.iter().filter(|o| o.status.success()).collect();
    assert_eq!(
        won.len(),
        1,
        "{}\n---\n{}",
        text(&outputs[0]),
        text(&outputs[1])
    );
    // The other met the lock, or (if the first had finished already) its finished run.
    let lost = outputs.iter().find(|o| !o.status.success()).unwrap();
    let t = text(lost);
    assert!(
        t.contains("in use by another netc process") || t.contains("already holds a run"),
        "{t}"
    );
    assert_eq!(metrics(&run).len(), 1);
}

#[test]
fn a_locked_run_directory_is_refused_even_on_resume_and_a_dead_holder_blocks_nothing() {
    let run = tempdir("locked");
    let o = tiny(MODEL, &run, &["--epochs", "1"]);
    assert!(o.status.success(), "{}", text(&o));
    // The finished run left its .lock file behind (with its pid); it blocks nothing.
    assert!(run.join(".lock").is_file());

    let lock = netc::train::run_dir::RunLock::acquire(&run).unwrap();
    let pid = format!("pid {}", std::process::id());
    let o = netc(&["train", "--resume", run.to_str().unwrap(), "--epochs", "2"]);
    fails_with(&o, &["in use by another netc process", &pid]);
    let o = tiny(MODEL, &run, &["--overwrite"]);
    fails_with(&o, &["in use by another netc process", &pid]);
    assert_eq!(metrics(&run).len(), 1, "the refused runs changed nothing");

    drop(lock);
    let o = netc(&[
        "train",
        "--resume",
        run.to_str().unwrap(),
        "--epochs",
        "2",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(metrics(&run).len(), 2);
}

/// tests/train/small.net with its learning rate multiplied by 1e32 after epoch 1.
fn diverging_model(dir: &Path) -> PathBuf {
    let src = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(MODEL)).unwrap();
    let src = src.replace("gamma = 0.1", "gamma = 1e32");
    assert!(src.contains("1e32"));
    let path = dir.join("diverging.net");
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(&path, src).unwrap();
    path
}

#[test]
fn a_diverging_run_writes_no_non_finite_checkpoint_and_names_the_last_good_one() {
    let dir = tempdir("diverge");
    let model = diverging_model(&dir);
    let run = dir.join("run");
    let o = tiny(model.to_str().unwrap(), &run, &[]);
    let last = run.join("last.safetensors");
    fails_with(
        &o,
        &[
            "(epoch 2)",
            "stopped without writing a checkpoint",
            &format!(
                "The last good checkpoint is `{}` (after epoch 1)",
                last.display()
            ),
        ],
    );
    // It exists, holds epoch 1, and is finite (`load` refuses anything else).
    let c = Checkpoint::load(&run, "last").unwrap();
    assert_eq!(c.epoch, 1);
    assert_eq!(metrics(&run).len(), 1);
}

#[test]
fn parameters_that_overflow_stop_the_run_even_while_the_loss_is_finite() {
    let run = tempdir("overflow");
    let o = tiny(MODEL, &run, &["--epochs", "1"]);
    assert!(o.status.success(), "{}", text(&o));
    // The classifier's biases at -f32::MAX shift every logit alike, so the loss stays
    // finite; the next SGD update (momentum buffer near f32::MAX) takes them to -inf.
    let mut c = Checkpoint::load(&run, "last").unwrap();
    for (name, value) in [
        ("linear1.bias", -f32::MAX),
        ("linear1.bias.momentum_buffer", f32::MAX),
    ] {
        let t = c.params.get_mut(name).unwrap();
        t.data.iter_mut().for_each(|v| *v = value);
    }
    c.save(&run, "last").unwrap();
    let o = netc(&[
        "train",
        "--resume",
        run.to_str().unwrap(),
        "--epochs",
        "2",
        "--log-every",
        "1",
        "--quiet",
    ]);
    fails_with(
        &o,
        &[
            "`linear1.bias` became -inf (element 0) by step 11 (epoch 2)",
            "stopped without writing a checkpoint",
            "(after epoch 1)",
        ],
    );
    assert_eq!(Checkpoint::load(&run, "last").unwrap().epoch, 1);
    assert_eq!(metrics(&run).len(), 1);
}

/// A 32x32 PNG.
fn png(path: &Path, shade: u8) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::RgbImage::from_fn(32, 32, |x, y| {
        image::Rgb([shade, (x * 8) as u8, (y * 8) as u8])
    })
    .save(path)
    .unwrap();
}

#[test]
fn infer_and_test_refuse_non_finite_weights_naming_the_tensor() {
    let dir = tempdir("nan-weights");
    let run = dir.join("run");
    let o = tiny(MODEL, &run, &["--epochs", "1"]);
    assert!(o.status.success(), "{}", text(&o));
    // Poison one value of the best checkpoint, as a diverged run of an older netc left it.
    let mut c = Checkpoint::load(&run, "best").unwrap();
    let t = c
        .params
        .get_mut("linear1.weight")
        .expect("the classifier's weight");
    t.data[3] = f32::NAN;
    let weights = dir.join("nan.safetensors");
    netc::params::save(&c.params, &weights).unwrap();
    c.save(&run, "best").unwrap();

    let image = dir.join("img.png");
    png(&image, 200);
    let o = netc(&[
        "infer",
        MODEL,
        "--weights",
        weights.to_str().unwrap(),
        image.to_str().unwrap(),
    ]);
    fails_with(&o, &["`linear1.weight` holds NaN", "non-finite"]);
    let o = netc(&["test", run.to_str().unwrap()]);
    fails_with(&o, &["`linear1.weight` holds NaN"]);
}

#[test]
fn data_that_cannot_fit_the_model_is_refused_before_anything_is_written() {
    let dir = tempdir("misfit");
    // Eleven class folders for a 10-way classifier.
    let folders = dir.join("folders");
    for c in 0..11 {
        for i in 0..2 {
            png(
                &folders.join(format!("class{c:02}/{i}.png")),
                (c * 20) as u8,
            );
        }
    }
    let run = dir.join("run");
    let o = netc(&[
        "train",
        MODEL,
        "--data",
        folders.to_str().unwrap(),
        "--val-size",
        "2",
        "--batch",
        "4",
        "--quiet",
        "--out",
        run.to_str().unwrap(),
    ]);
    fails_with(&o, &["11 classes", "10 logits", "linear(11)"]);
    assert!(!run.join("config.json").exists() && !run.join("tensorboard").exists());

    // A CIFAR-10 binary release whose labels go up to 15 (16 class names).
    let cifar = dir.join("cifar");
    std::fs::create_dir_all(&cifar).unwrap();
    let names: Vec<String> = (0..16).map(|c| format!("c{c}")).collect();
    std::fs::write(cifar.join("batches.meta.txt"), names.join("\n")).unwrap();
    for b in 1..=5 {
        let mut bytes = Vec::new();
        for label in 0..16u8 {
            bytes.push(label);
            bytes.extend(std::iter::repeat_n(label * 10, 3 * 32 * 32));
        }
        std::fs::write(cifar.join(format!("data_batch_{b}.bin")), bytes).unwrap();
    }
    let o = netc(&[
        "train",
        MODEL,
        "--data",
        cifar.to_str().unwrap(),
        "--val-size",
        "8",
        "--batch",
        "4",
        "--quiet",
        "--out",
        run.to_str().unwrap(),
    ]);
    fails_with(&o, &["16 classes", "10 logits"]);

    // A validation split of all the data, or of none, is an error, not half or 0.00%.
    let o = tiny(MODEL, &run, &["--val-size", "60"]);
    fails_with(&o, &["val_size = 60", "60 images"]);
    let o = tiny(MODEL, &run, &["--val-size", "0"]);
    fails_with(&o, &["val_size = 0"]);
    assert!(!run.join("config.json").exists());
}

#[test]
fn command_line_values_are_held_to_the_recipe_rules() {
    let run = tempdir("values");
    for lr in ["-0.1", "0", "nan"] {
        let o = tiny(MODEL, &run, &["--lr", lr]);
        fails_with(&o, &["--lr", "positive"]);
    }
    let o = tiny(MODEL, &run, &["--limit", "0"]);
    fails_with(&o, &["--limit", "at least 1"]);
    assert!(!run.exists(), "refused values create nothing");

    // --resume keeps the run's own recipe and data, and --epochs extends it.
    let o = tiny(MODEL, &run, &["--epochs", "1"]);
    assert!(o.status.success(), "{}", text(&o));
    let resume = ["train", "--resume", run.to_str().unwrap(), "--quiet"];
    for flag in [["--lr", "0.5"], ["--batch", "8"], ["--data", "synthetic"]] {
        let o = netc(&[&resume[..], &flag[..]].concat());
        fails_with(&o, &[flag[0], "cannot be combined with --resume"]);
    }
    let o = netc(&[&resume[..], &["--epochs", "1"]].concat());
    fails_with(&o, &["--epochs 1 is not more than the 1 epochs"]);
    let o = netc(&[&resume[..], &["--epochs", "2"]].concat());
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(metrics(&run).len(), 2);

    // infer: normalisation values must be finite (a mean in [0, 1]), --top at least 1.
    let image = run.join("img.png");
    png(&image, 100);
    let weights = run.join("best.safetensors");
    let infer = |extra: &[&str]| {
        let mut args = vec![
            "infer",
            MODEL,
            "--weights",
            weights.to_str().unwrap(),
            image.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        netc(&args)
    };
    let o = infer(&["--mean", "nan,0.5,0.5"]);
    fails_with(&o, &["--mean", "mean NaN"]);
    let o = infer(&["--std", "0.2,inf,0.2"]);
    fails_with(&o, &["--std", "std inf"]);
    let o = infer(&["--top", "0"]);
    fails_with(&o, &["--top", "at least 1"]);
    let o = infer(&["--top", "2"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(text(&o).matches('%').count(), 2, "{}", text(&o));
}
