//! The training loop: epochs of shuffled, augmented batches through the compiled
//! training step on the device, validation every epoch, checkpoints (best and last,
//! written atomically), metrics.jsonl and TensorBoard events.
//!
//! Each epoch ends with, in this order: `best` (if the epoch improved on it), `last`, then
//! metrics.jsonl rewritten from `last`'s history, then the epoch's TensorBoard scalars. A
//! run stopped between any two of them resumes from `last` and redoes only what `last` does
//! not record; `best` written ahead of `last` is rewritten with the same weights, and
//! metrics.jsonl is rewritten from the resumed checkpoint's history before the first step.
//!
//! Divergence is caught where it is cheap to look: every loss read back (every
//! `--log-every` steps) and every parameter and optimizer-state value, read back in one
//! copy at each of those reads and before each checkpoint. A non-finite value stops the run
//! with an error naming the step; no checkpoint is written with it.
//!
//! Everything random is keyed by the recipe's seed and the epoch — the split, the
//! shuffle, every image's augmentation — and the device step is deterministic, so a
//! run resumed from its last checkpoint produces the same metrics as one that never
//! stopped.

use super::checkpoint::{self, Checkpoint, EpochMetrics, PartialEpoch};
use super::preflight;
use super::schedule::learning_rate;
use super::tensorboard::EventWriter;
use crate::autodiff;
use crate::codegen::batch_limit::check_batch;
use crate::codegen::plan::{self, Options};
use crate::codegen::tune;
use crate::data::Source;
use crate::data::loader::{self, Pipeline, Queue};
use crate::elab::Elaborated;
use crate::predict::{self, Normalize, Predictor};
use crate::runtime::Runtime;
use crate::runtime::model::DeviceModel;
use crate::tensor::{Tensor, TensorMap};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// What to train and where to write it.
pub struct TrainConfig {
    pub model: Elaborated,
    /// The model's source text and file name, stored in every checkpoint.
    pub source: String,
    pub source_name: String,
    /// The training images (all of them, or the part `split` carves the validation
    /// images out of, when `val` is None).
    pub data: Source,
    /// The dataset's own validation images (`DIR/val`, `val.csv`), if it has them.
    pub val: Option<Source>,
    /// The loader's worker threads and queue depth (`--workers`, `--max-memory`).
    pub queue: Queue,
    /// Images left out as unreadable (`--skip-bad-images`) and images converted to RGB,
    /// reported in metrics.jsonl.
    pub bad_images: u64,
    pub converted_images: u64,
    /// `--data` as given, and `--limit`: recorded in checkpoints for resume and test.
    pub data_source: String,
    pub limit: Option<usize>,
    pub out: PathBuf,
    pub quiet: bool,
    /// Set by Ctrl-C: finish the step, save a resumable checkpoint, stop.
    pub interrupt: Arc<AtomicBool>,
    /// Continue from this checkpoint (its epoch is complete).
    pub resume: Option<Checkpoint>,
    /// Read the step metrics (loss, correct count) back from the device every this many
    /// steps (and at the end of each epoch); between reads they stay on the device.
    pub log_every: usize,
    /// Choose conv tilings by timing them on the device (cached on disk); false keeps the
    /// fixed defaults (`--no-tune`). Either way the run computes the same values up to float
    /// summation order.
    pub tune: bool,
}

/// The largest `--log-every`: the device log holds one entry per step.
pub const MAX_LOG_EVERY: usize = 1 << 16;

/// How a run ended.
#[derive(Debug)]
pub enum Outcome {
    Finished { best_val_acc: f64, epochs: u32 },
    Interrupted { epoch: u32 },
    EarlyStopped { best_val_acc: f64, epoch: u32 },
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("{0}")]
    Setup(String),
    #[error("{what} (epoch {epoch}); stopped without writing a checkpoint. {last_good}")]
    NonFinite {
        /// "the loss became NaN at step 7" or "`x` became inf (element 3) by step 50".
        what: String,
        /// The step that showed it: a loss is checked step by step, parameters at reads.
        step: u64,
        epoch: u32,
        /// Names the last checkpoint written (which exists and is finite), or says none was.
        last_good: String,
    },
    #[error("cannot write to `{path}`: {message}")]
    Io { path: String, message: String },
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
}

fn setup<E: std::fmt::Display>(e: E) -> TrainError {
    TrainError::Setup(e.to_string())
}

/// Split `n` images into (train, validation) indices by `seed`: `val_size` of them
/// (at most all) for validation. The trainer refuses splits that leave no training batch
/// (`preflight::check`).
pub fn split(n: usize, val_size: usize, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let val = idx.split_off(n - val_size.min(n));
    (idx, val)
}

/// What the non-finite guard says about the last checkpoint written.
fn last_good(checkpoint: &Option<(PathBuf, u32)>) -> String {
    match checkpoint {
        Some((path, epoch)) => format!(
            "The last good checkpoint is `{}` (after epoch {epoch}).",
            path.display()
        ),
        None => "No checkpoint had been written yet.".into(),
    }
}

/// The guard over parameters and optimizer state after `step`: the first non-finite
/// value, described.
fn non_finite_param(params: &TensorMap, step: u64) -> Option<String> {
    crate::params::first_non_finite(params)
        .map(|(name, i, v)| format!("`{name}` became {v} (element {i}) by step {step}"))
}

/// How many images of an image-file dataset the normalisation statistics are computed
/// from (spread evenly over the training images); a decoded dataset uses all.
pub const STATS_SAMPLE: usize = 1000;

pub fn train(runtime: &Runtime, cfg: TrainConfig) -> Result<Outcome, TrainError> {
    let recipe = cfg.model.recipe.clone();
    let batch = recipe.batch as usize;
    preflight::check(&cfg.data, cfg.val.as_ref(), &recipe, &cfg.model.graph)
        .map_err(TrainError::Setup)?;
    let input_size = preflight::image_size(&cfg.model.graph).map_err(TrainError::Setup)?;
    // The validation images: the dataset's own, or a split carved out of the training
    // images by the seed (taken once, not per epoch).
    let (train_idx, val_data) = match &cfg.val {
        Some(v) => ((0..cfg.data.len()).collect::<Vec<_>>(), v.clone()),
        None => {
            let (t, v) = split(cfg.data.len(), recipe.val_size as usize, recipe.seed);
            let val = cfg.data.subset(&v);
            (t, val)
        }
    };
    let norm = match preflight::recipe_normalize(&recipe).map_err(TrainError::Setup)? {
        Some(n) => n,
        None => {
            let (mean, std) = cfg
                .data
                .subset(&train_idx)
                .channel_stats(STATS_SAMPLE)
                .map_err(setup)?;
            Normalize { mean, std }
        }
    };
    let steps_per_epoch = (train_idx.len() / batch) as u32;

    // The training step and the forward pass for validation, on the device.
    let training = autodiff::build(&cfg.model.graph, &recipe.optimizer).map_err(setup)?;
    let limit = runtime.context().limits().max_storage_buffer_binding_size;
    check_batch(&training.graph, batch, limit).map_err(setup)?;
    // Mixed precision is a property of the training step only: validation runs the f32
    // forward pass on the f32 master weights.
    let step_graph =
        crate::pipeline::optimise_for(&training.graph, recipe.precision).map_err(setup)?;
    let log_every = cfg.log_every.clamp(1, MAX_LOG_EVERY);
    let opts = Options {
        log_capacity: log_every,
        ..tune::plan_options(runtime, &step_graph, batch, cfg.tune).map_err(setup)?
    };
    let plan = plan::lower(&step_graph, batch, &opts).map_err(setup)?;
    let initial: TensorMap = match &cfg.resume {
        Some(c) => c.params.clone(),
        None => crate::params::init(&training.graph, &recipe.init, recipe.seed),
    };
    let step_model = DeviceModel::new(runtime, plan, &initial).map_err(setup)?;
    let eval_batch = batch.min(val_data.len().max(1));
    let eval_opts =
        tune::plan_options(runtime, &cfg.model.graph, eval_batch, cfg.tune).map_err(setup)?;
    let mut validator =
        Predictor::gpu_with(runtime, &cfg.model.graph, &initial, eval_batch, &eval_opts)
            .map_err(setup)?;

    std::fs::create_dir_all(&cfg.out).map_err(|e| TrainError::Io {
        path: cfg.out.display().to_string(),
        message: e.to_string(),
    })?;
    let io = |e: std::io::Error| TrainError::Io {
        path: cfg.out.display().to_string(),
        message: e.to_string(),
    };
    let mut events = EventWriter::create(&cfg.out.join("tensorboard")).map_err(io)?;
    let mut history: Vec<EpochMetrics> = cfg
        .resume
        .as_ref()
        .map(|c| c.history.clone())
        .unwrap_or_default();
    // A run stopped after its checkpoint but before metrics.jsonl, or one that wrote a
    // line for an epoch its checkpoint does not hold, is made consistent first.
    if cfg.resume.is_some() {
        write_metrics(&cfg.out, &history).map_err(io)?;
    }
    let mut last_saved: Option<(PathBuf, u32)> = cfg
        .resume
        .as_ref()
        .map(|c| (checkpoint::path(&cfg.out, "last"), c.epoch));
    let start_epoch = cfg.resume.as_ref().map_or(0, |c| c.epoch);
    let mut best = history
        .iter()
        .map(|m| m.val_acc)
        .fold(f64::NEG_INFINITY, f64::max);
    let mut since_best = history
        .iter()
        .rev()
        .take_while(|m| m.val_acc < best)
        .count() as u32;

    let mut partial = cfg.resume.as_ref().and_then(|c| c.partial.clone());
    let checkpoint_of = |params: TensorMap,
                         epoch: u32,
                         step: u64,
                         history: &[EpochMetrics],
                         partial: Option<PartialEpoch>| Checkpoint {
        model_source: cfg.source.clone(),
        model_file: cfg.source_name.clone(),
        source_hash: checkpoint::hash(&cfg.source),
        hparams: cfg
            .model
            .hparams
            .iter()
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect(),
        recipe: recipe.clone(),
        normalize: norm.clone(),
        classes: cfg.data.classes().to_vec(),
        data: cfg.data_source.clone(),
        limit: cfg.limit,
        epoch,
        step,
        seed: recipe.seed,
        history: history.to_vec(),
        partial,
        params,
    };
    for epoch in start_epoch..recipe.epochs {
        let started = std::time::Instant::now();
        let mut order = train_idx.clone();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(
            recipe.seed ^ ((epoch as u64 + 1) << 32),
        ));
        let bar = progress(cfg.quiet, steps_per_epoch as u64, epoch, recipe.epochs);
        // A resumed epoch starts where the interrupted one stopped, with its sums.
        let done = partial.take().unwrap_or(PartialEpoch {
            steps_done: 0,
            loss_sum: 0.0,
            correct: 0.0,
            seen: 0,
            skipped: 0,
        });
        let mut sums = EpochSums {
            loss_sum: done.loss_sum,
            correct: done.correct,
            seen: done.seen,
            skipped: done.skipped,
        };
        let mut steps_done = done.steps_done;
        let mut lr = 0.0;
        // Batches are decoded, augmented and batched by the loader's workers while the
        // device runs the previous step: the GPU does not wait for the CPU.
        let chunks: Vec<&[usize]> = order.chunks_exact(batch).collect();
        let pipeline = Pipeline {
            source: &cfg.data,
            transforms: &recipe.augment,
            mean: &norm.mean,
            std: &norm.std,
            seed: recipe.seed,
            epoch,
            size: input_size,
        };
        let mut unread_from: Option<u64> = None;
        let last_saved_now = &last_saved;
        // `check_params`: false where the epoch's end, which reads the parameters anyway,
        // follows.
        let mut read_metrics =
            |first: u64, sums: &mut EpochSums, check_params: bool| -> Result<(), TrainError> {
                let logs = step_model.read_logs().map_err(setup)?;
                let log = |name: &str| {
                    logs.iter()
                        .find(|(n, _)| n == name)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default()
                };
                let (losses, corrects) = (log("loss"), log("correct"));
                // A mixed-precision step reports whether loss scaling skipped its updates;
                // such a step changed no parameter, so a non-finite loss there (an f16
                // overflow in the forward pass) is not the end of the run, only a skip.
                let skipped = log(crate::codegen::SKIPPED);
                for (i, (&loss, &c)) in losses.iter().zip(&corrects).enumerate() {
                    let step = first + i as u64 + 1;
                    if skipped.get(i).is_some_and(|&s| s != 0.0) {
                        sums.skipped += 1;
                        if !loss.is_finite() {
                            continue;
                        }
                    }
                    if !loss.is_finite() {
                        return Err(TrainError::NonFinite {
                            what: format!("the loss became {loss} at step {step}"),
                            step,
                            epoch: epoch + 1,
                            last_good: last_good(last_saved_now),
                        });
                    }
                    sums.loss_sum += loss as f64 * batch as f64;
                    sums.correct += c as f64;
                    sums.seen += batch;
                    events.scalar("train_loss", step, loss).map_err(io)?;
                }
                if !check_params {
                    return Ok(());
                }
                // A finite loss does not mean finite weights (a huge learning rate can overflow
                // momentum buffers or BN statistics first): look at every value too.
                let params = step_model.read_params().map_err(setup)?;
                let last = first + losses.len() as u64;
                if let Some(what) = non_finite_param(&params, last) {
                    return Err(TrainError::NonFinite {
                        what,
                        step: last,
                        epoch: epoch + 1,
                        last_good: last_good(last_saved_now),
                    });
                }
                Ok(())
            };
        let skip = done.steps_done as usize;
        let run = loader::stream(&pipeline, &chunks, skip, cfg.queue, |s, (x, labels)| {
            let global = epoch as u64 * steps_per_epoch as u64 + s as u64;
            lr = learning_rate(&recipe, epoch, s as u32, steps_per_epoch);
            let inputs = HashMap::from([
                ("x".to_string(), x),
                ("labels".to_string(), labels),
                ("lr".to_string(), Tensor::new(vec![], vec![lr as f32])),
                (
                    "step".to_string(),
                    Tensor::new(vec![], vec![(global + 1) as f32]),
                ),
            ]);
            step_model.step(&inputs).map_err(setup)?;
            let first = *unread_from.get_or_insert(global);
            steps_done = s as u32 + 1;
            let interrupted = cfg.interrupt.load(Ordering::SeqCst);
            if global + 1 - first >= log_every as u64 || interrupted {
                let epoch_ends = interrupted || s + 1 == chunks.len();
                read_metrics(first, &mut sums, !epoch_ends)?;
                unread_from = None;
                if let Some(b) = &bar {
                    let rate = sums.seen as f64 / started.elapsed().as_secs_f64().max(1e-9);
                    b.set_message(format!(
                        "loss {:.4} acc {:.2}% {:.0} img/s",
                        sums.loss_sum / sums.seen.max(1) as f64,
                        100.0 * sums.correct / sums.seen.max(1) as f64,
                        rate
                    ));
                }
            }
            if let Some(b) = &bar {
                b.set_position(s as u64 + 1);
            }
            Ok(!interrupted)
        })
        .and_then(|()| match unread_from.take() {
            Some(first) => read_metrics(first, &mut sums, false),
            None => Ok(()),
        });
        if let Err(e) = run {
            if let Some(b) = &bar {
                b.abandon();
            }
            return Err(e);
        }
        let EpochSums {
            loss_sum,
            correct,
            seen,
            skipped,
        } = sums;
        let step = epoch as u64 * steps_per_epoch as u64 + steps_done as u64;
        let params = step_model.read_params().map_err(setup)?;
        if let Some(what) = non_finite_param(&params, step) {
            return Err(TrainError::NonFinite {
                what,
                step,
                epoch: epoch + 1,
                last_good: last_good(&last_saved),
            });
        }
        if cfg.interrupt.load(Ordering::SeqCst) && steps_done < steps_per_epoch {
            // Save exactly where this epoch stopped; `--resume` continues from here.
            let p = PartialEpoch {
                steps_done,
                loss_sum,
                correct,
                seen,
                skipped,
            };
            checkpoint_of(params, epoch, step, &history, Some(p))
                .save(&cfg.out, "last")
                .map_err(setup)?;
            if let Some(b) = &bar {
                b.abandon_with_message("interrupted");
            }
            return Ok(Outcome::Interrupted { epoch });
        }
        validator.load_params(&params).map_err(setup)?;
        let val = predict::evaluate(
            &validator,
            &val_data,
            &recipe.eval_transform,
            &norm,
            cfg.data.classes().len(),
            cfg.queue,
        )
        .map_err(setup)?;
        let m = EpochMetrics {
            epoch: epoch + 1,
            train_loss: loss_sum / seen.max(1) as f64,
            train_acc: correct / seen.max(1) as f64,
            val_acc: val.accuracy,
            lr,
            seconds: started.elapsed().as_secs_f64(),
            images_per_s: seen as f64 / started.elapsed().as_secs_f64().max(1e-9),
            skipped_steps: skipped,
            bad_images: cfg.bad_images,
            converted_images: cfg.converted_images,
        };
        history.push(m.clone());
        let ckpt = checkpoint_of(params, epoch + 1, step, &history, None);
        // `best` before `last`: a run stopped between them resumes from the previous `last`,
        // redoes this epoch and writes `best` again with the same weights. The other order
        // would resume past an improvement that `best` never received.
        let improved = m.val_acc > best;
        if improved {
            best = m.val_acc;
            since_best = 0;
            ckpt.save(&cfg.out, "best").map_err(setup)?;
        } else {
            since_best += 1;
        }
        ckpt.save(&cfg.out, "last").map_err(setup)?;
        last_saved = Some((checkpoint::path(&cfg.out, "last"), epoch + 1));
        write_metrics(&cfg.out, &history).map_err(io)?;
        events
            .scalar("train_acc", step, m.train_acc as f32)
            .map_err(io)?;
        events
            .scalar("val_acc", step, m.val_acc as f32)
            .map_err(io)?;
        events.scalar("lr", step, m.lr as f32).map_err(io)?;
        events.flush().map_err(io)?;
        let line = format!(
            "epoch {:>3}/{}: train loss {:.4}, train acc {:.2}%, val acc {:.2}%{}, lr {:.3e}, {:.0} img/s, {:.1} s{}",
            m.epoch,
            recipe.epochs,
            m.train_loss,
            100.0 * m.train_acc,
            100.0 * m.val_acc,
            if improved { " (best)" } else { "" },
            m.lr,
            m.images_per_s,
            m.seconds,
            match m.skipped_steps {
                0 => String::new(),
                n => format!(", {n} steps skipped by loss scaling"),
            }
        );
        match &bar {
            Some(b) => b.finish_with_message(line),
            None if !cfg.quiet => println!("{line}"),
            None => {}
        }
        if cfg.interrupt.load(Ordering::SeqCst) && epoch + 1 < recipe.epochs {
            return Ok(Outcome::Interrupted { epoch: epoch + 1 });
        }
        if recipe.early_stopping > 0 && since_best >= recipe.early_stopping {
            return Ok(Outcome::EarlyStopped {
                best_val_acc: best,
                epoch: epoch + 1,
            });
        }
    }
    Ok(Outcome::Finished {
        best_val_acc: best,
        epochs: recipe.epochs,
    })
}

/// An epoch's running sums of the training metrics.
struct EpochSums {
    /// Sum over images of the loss (each step's mean loss times the batch).
    loss_sum: f64,
    correct: f64,
    seen: usize,
    /// Steps whose updates loss scaling skipped.
    skipped: u64,
}

/// A progress bar on a terminal; `None` (plain lines) otherwise or with `--quiet`.
fn progress(quiet: bool, steps: u64, epoch: u32, epochs: u32) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if quiet || !std::io::stdout().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(steps);
    let style = indicatif::ProgressStyle::with_template(&format!(
        "epoch {}/{epochs} [{{bar:30}}] {{pos}}/{{len}} {{msg}} eta {{eta}}",
        epoch + 1
    ))
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    Some(bar)
}

/// `dir/metrics.jsonl`: one line per completed epoch, rewritten whole (atomically) from a
/// checkpoint's history, so it never holds an epoch that checkpoint does not.
pub fn write_metrics(dir: &Path, history: &[EpochMetrics]) -> std::io::Result<()> {
    let mut text = String::new();
    for m in history {
        text.push_str(&serde_json::to_string(m).map_err(std::io::Error::other)?);
        text.push('\n');
    }
    crate::atomic_file::write(&dir.join("metrics.jsonl"), text.as_bytes())
}
