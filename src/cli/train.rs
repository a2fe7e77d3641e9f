//! `netc train FILE [--data DIR|synthetic] [--epochs N] [--batch N] [--lr X] [--seed N]
//! [--val-size N] [--set k=v]... [--out runs/NAME] [--overwrite] [--limit N] [--quiet]`,
//! `netc train --resume runs/NAME [--epochs N]` and `netc test runs/NAME [--data DIR]`.
//!
//! The run directory follows `train::run_dir`'s rule (claimed in `cli::run_dir`): a new
//! run refuses a directory that holds a run unless `--overwrite` is given, and every run
//! locks its directory.

use super::data_args::{DataArgs, Opened};
use super::run_dir::{
    finished_already, load_resumable, lock_run, refuse_existing_run, refuse_flags_on_resume,
    resumed_epochs,
};
use super::values::{positive_count, positive_number};
use super::{open_runtime, report};
use netc::data::{Source, Split};
use netc::diag::{Diagnostic, Diagnostics, Sources};
use netc::predict::{self, Predictor};
use netc::train::checkpoint::Checkpoint;
use netc::train::run::{self, Outcome, TrainConfig};
use netc::train::run_dir;
use netc::{pipeline, train};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The model file (not needed with --resume).
    #[arg(required_unless_present = "resume")]
    pub file: Option<PathBuf>,
    /// Override a model hyper-parameter.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,
    /// Training images: an image-folder tree, a CIFAR-10 binary release, or `synthetic`.
    /// Defaults to $NETC_DATA, then ./data.
    #[arg(long)]
    pub data: Option<String>,
    /// Epochs to train; with --resume, the new total, which extends a run.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub epochs: Option<u32>,
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch: Option<u32>,
    /// Base learning rate (replaces the recipe optimizer's); positive.
    #[arg(long, value_parser = positive_number, allow_negative_numbers = true)]
    pub lr: Option<f64>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// Images held out for validation (replaces the recipe's `val_size`).
    #[arg(long)]
    pub val_size: Option<u32>,
    /// Use only this many images, spread evenly over the dataset.
    #[arg(long, value_parser = positive_count)]
    pub limit: Option<usize>,
    /// Run directory (default runs/<model name>). It must not hold a run already, unless
    /// --overwrite is given.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Delete the run already in the output directory (its checkpoints, metrics and
    /// TensorBoard logs, nothing else) and start a new one there.
    #[arg(long, alias = "force")]
    pub overwrite: bool,
    /// Continue the run in this directory from its last checkpoint, with its own model,
    /// recipe and data; only --epochs may change (to extend it).
    #[arg(long, value_name = "RUN_DIR")]
    pub resume: Option<PathBuf>,
    /// No progress bar or per-epoch lines.
    #[arg(long)]
    pub quiet: bool,
    /// Read the loss and accuracy back from the device every N steps (and at the end of
    /// each epoch); between reads they stay on the device (Lightning's log_every_n_steps).
    #[arg(long, value_name = "N", default_value_t = 50,
          value_parser = clap::value_parser!(u32).range(1..=run::MAX_LOG_EVERY as i64))]
    pub log_every: u32,
    /// Keep the fixed default conv tilings instead of timing candidates on the device (the
    /// choice is cached per device in `$XDG_CACHE_HOME/netc/tune.json`); also `NETC_TUNE=0`.
    #[arg(long)]
    pub no_tune: bool,
    /// `f32`, or `mixed`: activations and their gradients in f16 with dynamic loss scaling,
    /// master weights, batch-norm statistics and optimizer state in f32 (replaces the
    /// recipe's `precision`).
    #[arg(long, value_parser = super::parse_precision)]
    pub precision: Option<netc::ir::Precision>,
    #[command(flatten)]
    pub loading: DataArgs,
}

#[derive(clap::Args, Debug)]
pub struct TestArgs {
    /// A run directory written by `netc train`.
    pub run: PathBuf,
    /// Evaluate on this dataset instead of the run's held-out validation split.
    #[arg(long)]
    pub data: Option<String>,
    #[arg(long, default_value_t = 128, value_parser = positive_count)]
    pub batch: usize,
    #[command(flatten)]
    pub loading: DataArgs,
}

pub(super) fn err(message: impl Into<String>) -> Diagnostics {
    Diagnostic::error(message.into()).into()
}

/// Resolve `--data`: explicit, then $NETC_DATA, then ./data.
fn data_source(given: Option<&str>) -> Result<String, Diagnostics> {
    if let Some(d) = given {
        return Ok(d.to_string());
    }
    if let Ok(d) = std::env::var("NETC_DATA") {
        return Ok(d);
    }
    if Path::new("data").is_dir() {
        return Ok("data".into());
    }
    Err(Diagnostic::error("no training data: pass --data DIR, set NETC_DATA, or put a dataset in ./data")
        .with_note("DIR is an image-folder tree (DIR/<class>/*.jpg|png) or the CIFAR-10 binary release (`cifar-10-batches-bin`, from https://www.cs.toronto.edu/~kriz/cifar.html)")
        .with_help("to try netc without downloading anything, use `--data synthetic`")
        .into())
}

fn load_data(
    source: &str,
    limit: Option<usize>,
    seed: u64,
    split: Split,
    loading: &DataArgs,
) -> Result<Opened, Diagnostics> {
    if source == "synthetic" {
        let mut d = train::synthetic::generate(200, seed);
        if let Some(limit) = limit.filter(|&l| l > 0 && l < d.len()) {
            let indices: Vec<usize> = (0..limit).map(|i| i * d.len() / limit).collect();
            d = d.subset(&indices);
        }
        return Ok(Opened {
            train: Source::Decoded(d),
            val: None,
            bad: Vec::new(),
            converted: 0,
        });
    }
    loading.open(Path::new(source), split, limit).map_err(err)
}

pub fn run(sources: &mut Sources, a: Args) -> Result<(), Diagnostics> {
    // Resuming: lock the run, then read where it stopped.
    let (resume, lock) = match &a.resume {
        Some(dir) => {
            refuse_flags_on_resume(&a)?;
            if !dir.is_dir() {
                return Err(err(format!(
                    "there is no run directory `{}`",
                    dir.display()
                )));
            }
            // Locked before reading, so that no other process writes a newer checkpoint
            // between reading this one and continuing from it.
            let lock = lock_run(dir)?;
            (Some(load_resumable(dir)?), Some(lock))
        }
        None => (None, None),
    };
    // The model: from the file, or from the checkpoint's own copy of the source.
    let (source_name, source, overrides) = match (&resume, &a.file) {
        (Some(c), _) => (
            c.model_file.clone(),
            c.model_source.clone(),
            c.hparams.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        ),
        (None, Some(f)) => {
            let text = std::fs::read_to_string(f)
                .map_err(|e| err(format!("cannot read `{}`: {e}", f.display())))?;
            (f.display().to_string(), text, a.set.clone())
        }
        (None, None) => unreachable!("clap requires FILE without --resume"),
    };
    if let (Some(c), Some(p)) = (&resume, a.precision)
        && p != c.recipe.precision
    {
        return Err(err(format!(
            "the run was trained in {} precision; --precision {p} cannot change it on --resume",
            c.recipe.precision
        )));
    }
    if let (Some(c), Some(dir), None) = (&resume, &a.resume, a.epochs)
        && c.epoch >= c.recipe.epochs
    {
        return finished_already(c, dir);
    }
    let mut model = pipeline::front_end_str(sources, &source_name, &source, &overrides)?;
    report(sources, &Diagnostics(model.warnings.clone()));
    match &resume {
        Some(c) => {
            model.recipe = c.recipe.clone();
            model.recipe.epochs = resumed_epochs(c, a.epochs, a.resume.as_deref().unwrap())?;
        }
        None => {
            let r = &mut model.recipe;
            if let Some(p) = a.precision {
                r.precision = p;
            }
            if let Some(e) = a.epochs {
                r.epochs = e;
            }
            if let Some(b) = a.batch {
                r.batch = b;
            }
            if let Some(s) = a.seed {
                r.seed = s;
            }
            if let Some(v) = a.val_size {
                r.val_size = v;
            }
            if let Some(lr) = a.lr {
                set_lr(&mut r.optimizer, lr);
            }
        }
    }
    let out = match (&a.resume, &a.out) {
        (Some(dir), _) => dir.clone(),
        (None, Some(o)) => o.clone(),
        (None, None) => PathBuf::from("runs").join(netc::elab::snake_case(&model.graph.name)),
    };
    // A new run: refuse an existing run before the (possibly slow) data loading...
    if resume.is_none() {
        refuse_existing_run(&out, a.overwrite)?;
    }
    let data_src = match &resume {
        Some(c) => c.data.clone(),
        None => data_source(a.data.as_deref())?,
    };
    let limit = resume.as_ref().map_or(a.limit, |c| c.limit);
    let opened = load_data(
        &data_src,
        limit,
        model.recipe.seed,
        Split::Train,
        &a.loading,
    )?;
    // ... and check that the data fits before the directory is created, so that a mistake
    // leaves no trace.
    train::preflight::check(
        &opened.train,
        opened.val.as_ref(),
        &model.recipe,
        &model.graph,
    )
    .map_err(err)?;
    let size = train::preflight::image_size(&model.graph).map_err(err)?;
    let queue = a
        .loading
        .queue(model.recipe.batch as usize, size)
        .map_err(err)?;
    // Then lock the directory and, under the lock, look again and clear what may go.
    let _lock = match lock {
        Some(l) => l,
        None => {
            let l = lock_run(&out)?;
            refuse_existing_run(&out, a.overwrite)?;
            run_dir::clear(&out).map_err(|e| err(e.to_string()))?;
            l
        }
    };
    let config = serde_json::json!({
        "model": model.graph.name, "file": source_name, "hparams": model.hparams.iter().map(|(k, v)| (k.clone(), v.to_string())).collect::<std::collections::BTreeMap<_, _>>(),
        "recipe": model.recipe, "data": data_src, "images": opened.train.len(), "classes": opened.train.classes(), "limit": limit, "out": out,
        "validation_images": opened.val.as_ref().map(Source::len), "bad_images": opened.bad.len(), "converted_images": opened.converted,
        "resumed_from_epoch": resume.as_ref().map(|c| c.epoch),
        // For `netc report`'s list of the commands behind its rows.
        "command": std::env::args().collect::<Vec<_>>().join(" "),
    });
    let config = serde_json::to_string_pretty(&config).expect("config serialises");
    if !a.quiet {
        println!("{config}");
        for line in opened.log_lines() {
            println!("{line}");
        }
        println!(
            "data: {} loader workers, up to {} batches ahead of the device",
            queue.workers, queue.depth
        );
    }
    netc::atomic_file::write(&out.join("config.json"), config.as_bytes())
        .map_err(|e| err(format!("cannot write to `{}`: {e}", out.display())))?;

    let interrupt = Arc::new(AtomicBool::new(false));
    let flag = interrupt.clone();
    // A second Ctrl-C while saving falls through to the default (ends the process).
    let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));
    let runtime = open_runtime()?;
    if !a.quiet {
        eprintln!("device: {}", runtime.context().describe());
    }
    let cfg = TrainConfig {
        model,
        source,
        source_name,
        data: opened.train,
        val: opened.val,
        queue,
        bad_images: opened.bad.len() as u64,
        converted_images: opened.converted as u64,
        data_source: data_src,
        limit,
        out: out.clone(),
        quiet: a.quiet,
        interrupt,
        resume,
        log_every: a.log_every as usize,
        tune: super::tune_enabled(a.no_tune),
    };
    let outcome = run::train(&runtime, cfg).map_err(|e| err(e.to_string()))?;
    if !a.quiet
        && let Some(peak) = netc::data::peak_rss_bytes()
    {
        println!(
            "peak resident memory {:.0} MiB",
            peak as f64 / (1 << 20) as f64
        );
    }
    match outcome {
        Outcome::Finished {
            best_val_acc,
            epochs,
        } => println!(
            "finished {epochs} epochs: best val acc {:.2}% — checkpoints in {}",
            100.0 * best_val_acc,
            out.display()
        ),
        Outcome::EarlyStopped {
            best_val_acc,
            epoch,
        } => println!(
            "early stop after epoch {epoch}: best val acc {:.2}% — checkpoints in {}",
            100.0 * best_val_acc,
            out.display()
        ),
        Outcome::Interrupted { epoch } => println!(
            "interrupted in epoch {}; resume with `netc train --resume {}`",
            epoch + 1,
            out.display()
        ),
    }
    Ok(())
}

fn set_lr(o: &mut netc::elab::recipe::Optimizer, lr: f64) {
    use netc::elab::recipe::Optimizer;
    match o {
        Optimizer::Sgd { lr: l, .. }
        | Optimizer::Adam { lr: l, .. }
        | Optimizer::AdamW { lr: l, .. } => *l = lr,
    }
}

pub fn test(sources: &mut Sources, a: TestArgs) -> Result<(), Diagnostics> {
    let c = Checkpoint::load(&a.run, "best").map_err(|e| err(e.to_string()))?;
    let overrides: Vec<String> = c.hparams.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let model = pipeline::front_end_str(sources, &c.model_file, &c.model_source, &overrides)?;
    let (data, what) = match &a.data {
        Some(d) => (
            load_data(d, None, c.seed, Split::Test, &a.loading)?.train,
            d.clone(),
        ),
        None => {
            let all = load_data(&c.data, c.limit, c.seed, Split::Train, &a.loading)?;
            match all.val {
                Some(v) => (v, format!("the validation set of {}", c.data)),
                None => {
                    let (_, val) = run::split(all.train.len(), c.recipe.val_size as usize, c.seed);
                    (
                        all.train.subset(&val),
                        format!("the run's validation split of {}", c.data),
                    )
                }
            }
        }
    };
    let runtime = open_runtime()?;
    let fail = |e: predict::PredictError| err(e.to_string());
    let p = Predictor::gpu(
        &runtime,
        &model.graph,
        &c.params,
        a.batch.min(data.len().max(1)),
    )
    .map_err(fail)?;
    let classes = model.graph.node(model.graph.outputs()[0]).ty.numel();
    let size = train::preflight::image_size(&model.graph).map_err(err)?;
    let queue = a.loading.queue(p.batch(), size).map_err(err)?;
    let r = predict::evaluate(
        &p,
        &data,
        &c.recipe.eval_transform,
        &c.normalize,
        classes,
        queue,
    )
    .map_err(fail)?;
    println!(
        "{} (best checkpoint, epoch {}) on {what}: test accuracy {:.2}% ({}/{})",
        model.graph.name,
        c.epoch,
        100.0 * r.accuracy,
        r.correct,
        r.images
    );
    // Recorded for `netc report`.
    let result = train::report::TestResult {
        accuracy: r.accuracy,
        images: r.images,
        data: what,
    };
    netc::atomic_file::write(
        &a.run.join("test.json"),
        serde_json::to_string_pretty(&result)
            .expect("serialises")
            .as_bytes(),
    )
    .map_err(|e| err(format!("cannot write to `{}`: {e}", a.run.display())))?;
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// Run directories written by `netc train` or `bench/torch_train.py`.
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// Where to write `curves.svg`, `curves.png` and `report.md`.
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
    /// Print only the Markdown table (as written to `report.md`).
    #[arg(long)]
    pub markdown: bool,
}

pub fn report_runs(a: ReportArgs) -> Result<(), Diagnostics> {
    let runs = a
        .runs
        .iter()
        .map(|d| train::report::load(d).map_err(|e| err(format!("{}: {e}", d.display()))))
        .collect::<Result<Vec<_>, _>>()?;
    let (text, md) = train::report::tables(&runs);
    if a.markdown {
        print!("{md}");
    } else {
        print!("{text}\n{md}");
    }
    std::fs::create_dir_all(&a.out)
        .map_err(|e| err(format!("cannot create `{}`: {e}", a.out.display())))?;
    std::fs::write(a.out.join("report.md"), &md)
        .map_err(|e| err(format!("cannot write to `{}`: {e}", a.out.display())))?;
    for name in ["curves.svg", "curves.png"] {
        train::report::curves(&runs, &a.out.join(name))
            .map_err(|e| err(format!("cannot draw {name}: {e}")))?;
    }
    let wrote = format!(
        "wrote report.md, curves.svg and curves.png in {}",
        a.out.display()
    );
    // With --markdown, stdout is the table alone (to paste or redirect).
    if a.markdown {
        eprintln!("{wrote}");
    } else {
        println!("\n{wrote}");
    }
    Ok(())
}
