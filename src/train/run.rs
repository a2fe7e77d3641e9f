//! The training loop: the data prepared ([`prepare`]: checks, split, normalisation), the
//! step and the validator compiled ([`compile`], through `crate::pipeline`), then epochs of
//! shuffled, augmented batches through the step on the device ([`super::epoch`]),
//! validation every epoch ([`validate`]), checkpoints (best and last, written atomically),
//! metrics.jsonl and TensorBoard events ([`Record::end_epoch`]).
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
use super::epoch::{self, EpochSums};
use super::preflight;
use super::tensorboard::EventWriter;
use crate::data::Source;
use crate::data::loader::Queue;
use crate::elab::Elaborated;
use crate::pipeline::{self, Target, Weights};
use crate::predict::{self, Normalize, Predictor};
use crate::runtime::Runtime;
use crate::runtime::model::DeviceModel;
use crate::tensor::TensorMap;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
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

pub(super) fn setup<E: std::fmt::Display>(e: E) -> TrainError {
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
pub(super) fn last_good(checkpoint: &Option<(PathBuf, u32)>) -> String {
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
pub(super) fn non_finite_param(params: &TensorMap, step: u64) -> Option<String> {
    crate::params::first_non_finite(params)
        .map(|(name, i, v)| format!("`{name}` became {v} (element {i}) by step {step}"))
}

/// How many images of an image-file dataset the normalisation statistics are computed
/// from (spread evenly over the training images); a decoded dataset uses all.
pub const STATS_SAMPLE: usize = 1000;

pub fn train(runtime: &Runtime, cfg: TrainConfig) -> Result<Outcome, TrainError> {
    let recipe = &cfg.model.recipe;
    let data = prepare(&cfg)?;
    let log_every = cfg.log_every.clamp(1, MAX_LOG_EVERY);
    let (step_model, mut validator) = compile(runtime, &cfg, &data, log_every)?;
    let mut record = open_record(&cfg)?;
    let start_epoch = cfg.resume.as_ref().map_or(0, |c| c.epoch);
    let mut partial = cfg.resume.as_ref().and_then(|c| c.partial.clone());
    for epoch in start_epoch..recipe.epochs {
        let started = std::time::Instant::now();
        // A resumed epoch starts where the interrupted one stopped, with its sums.
        let done = partial.take().unwrap_or(PartialEpoch {
            steps_done: 0,
            loss_sum: 0.0,
            correct: 0.0,
            seen: 0,
            skipped: 0,
        });
        let steps = epoch::Steps {
            cfg: &cfg,
            data: &data,
            model: &step_model,
            log_every,
            last_saved: &record.last_saved,
        };
        let ran = steps.run(epoch, done, started, &mut record.events)?;
        let EpochSums {
            loss_sum,
            correct,
            seen,
            skipped,
        } = ran.sums;
        let step = epoch as u64 * data.steps_per_epoch as u64 + ran.steps_done as u64;
        let params = step_model.read_params().map_err(setup)?;
        if let Some(what) = non_finite_param(&params, step) {
            return Err(TrainError::NonFinite {
                what,
                step,
                epoch: epoch + 1,
                last_good: last_good(&record.last_saved),
            });
        }
        if cfg.interrupt.load(Ordering::SeqCst) && ran.steps_done < data.steps_per_epoch {
            // Save exactly where this epoch stopped; `--resume` continues from here.
            let p = PartialEpoch {
                steps_done: ran.steps_done,
                loss_sum,
                correct,
                seen,
                skipped,
            };
            checkpoint_of(&cfg, &data, params, epoch, step, &record.history, Some(p))
                .save(&cfg.out, "last")
                .map_err(setup)?;
            if let Some(b) = &ran.bar {
                b.abandon_with_message("interrupted");
            }
            return Ok(Outcome::Interrupted { epoch });
        }
        let val_acc = validate(&mut validator, &params, &cfg, &data)?;
        let m = EpochMetrics {
            epoch: epoch + 1,
            train_loss: loss_sum / seen.max(1) as f64,
            train_acc: correct / seen.max(1) as f64,
            val_acc,
            lr: ran.lr,
            seconds: started.elapsed().as_secs_f64(),
            images_per_s: seen as f64 / started.elapsed().as_secs_f64().max(1e-9),
            skipped_steps: skipped,
            bad_images: cfg.bad_images,
            converted_images: cfg.converted_images,
        };
        let improved = record.end_epoch(&cfg, &data, m.clone(), params, step)?;
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
        match &ran.bar {
            Some(b) => b.finish_with_message(line),
            None if !cfg.quiet => println!("{line}"),
            None => {}
        }
        if cfg.interrupt.load(Ordering::SeqCst) && epoch + 1 < recipe.epochs {
            return Ok(Outcome::Interrupted { epoch: epoch + 1 });
        }
        if recipe.early_stopping > 0 && record.since_best >= recipe.early_stopping {
            return Ok(Outcome::EarlyStopped {
                best_val_acc: record.best,
                epoch: epoch + 1,
            });
        }
    }
    Ok(Outcome::Finished {
        best_val_acc: record.best,
        epochs: recipe.epochs,
    })
}

/// What a run's data gives it before its first step.
pub(super) struct Prepared {
    /// Indices into `TrainConfig::data` of the training images.
    pub train_idx: Vec<usize>,
    /// The validation images: the dataset's own, or the split carved out of `data`.
    pub val_data: Source,
    pub norm: Normalize,
    /// The model's input (height, width).
    pub input_size: (usize, usize),
    pub steps_per_epoch: u32,
}

/// The data and recipe checks, the validation split and the normalisation statistics.
fn prepare(cfg: &TrainConfig) -> Result<Prepared, TrainError> {
    let recipe = &cfg.model.recipe;
    preflight::check(&cfg.data, cfg.val.as_ref(), recipe, &cfg.model.graph)
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
    let norm = match preflight::recipe_normalize(recipe).map_err(TrainError::Setup)? {
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
    let steps_per_epoch = (train_idx.len() / recipe.batch as usize) as u32;
    Ok(Prepared {
        train_idx,
        val_data,
        norm,
        input_size,
        steps_per_epoch,
    })
}

/// The training step and the forward pass for validation, on the device. Mixed precision
/// is a property of the training step only: validation runs the f32 forward pass on the
/// f32 master weights.
fn compile<'r>(
    runtime: &'r Runtime,
    cfg: &TrainConfig,
    data: &Prepared,
    log_every: usize,
) -> Result<(DeviceModel<'r>, Predictor<'r>), TrainError> {
    let recipe = &cfg.model.recipe;
    let batch = recipe.batch as usize;
    let target = Target {
        log_capacity: log_every,
        ..Target::new(runtime, batch, Some(cfg.tune))
    };
    let weights = match &cfg.resume {
        Some(c) => Weights::Given(&c.params),
        None => Weights::Init(&recipe.init, recipe.seed),
    };
    let step_model = pipeline::training_step(
        &target,
        &cfg.model.graph,
        &recipe.optimizer,
        recipe.precision,
        weights,
    )
    .map_err(setup)?
    .model;
    let eval_batch = batch.min(data.val_data.len().max(1));
    // The validator's first weights never run: every validation loads the step's.
    let validator = Predictor::gpu_with(
        &Target::new(runtime, eval_batch, Some(cfg.tune)),
        &cfg.model.graph,
        Weights::Init(&recipe.init, recipe.seed),
    )
    .map_err(setup)?;
    Ok((step_model, validator))
}

/// Validation accuracy of `params` over the validation images.
fn validate(
    validator: &mut Predictor,
    params: &TensorMap,
    cfg: &TrainConfig,
    data: &Prepared,
) -> Result<f64, TrainError> {
    validator.load_params(params).map_err(setup)?;
    let val = predict::evaluate(
        validator,
        &data.val_data,
        &cfg.model.recipe.eval_transform,
        &data.norm,
        cfg.data.classes().len(),
        cfg.queue,
    )
    .map_err(setup)?;
    Ok(val.accuracy)
}

/// The checkpoint of `params` after `step` (`partial`: in the middle of `epoch`).
fn checkpoint_of(
    cfg: &TrainConfig,
    data: &Prepared,
    params: TensorMap,
    epoch: u32,
    step: u64,
    history: &[EpochMetrics],
    partial: Option<PartialEpoch>,
) -> Checkpoint {
    let recipe = &cfg.model.recipe;
    Checkpoint {
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
        normalize: data.norm.clone(),
        classes: cfg.data.classes().to_vec(),
        data: cfg.data_source.clone(),
        limit: cfg.limit,
        epoch,
        step,
        seed: recipe.seed,
        history: history.to_vec(),
        partial,
        params,
    }
}

/// What the run directory records so far, and the early-stopping state it implies.
struct Record {
    events: EventWriter,
    history: Vec<EpochMetrics>,
    /// The last checkpoint written and its epoch (named when a non-finite value stops the run).
    last_saved: Option<(PathBuf, u32)>,
    best: f64,
    /// Epochs since the best validation accuracy.
    since_best: u32,
}

/// The I/O error of writing into `out`.
fn io_error(out: &Path) -> impl Fn(std::io::Error) -> TrainError + '_ {
    move |e| TrainError::Io {
        path: out.display().to_string(),
        message: e.to_string(),
    }
}

/// Create the run directory's TensorBoard writer and take over the resumed checkpoint's
/// history.
fn open_record(cfg: &TrainConfig) -> Result<Record, TrainError> {
    let io = io_error(&cfg.out);
    std::fs::create_dir_all(&cfg.out).map_err(&io)?;
    let events = EventWriter::create(&cfg.out.join("tensorboard")).map_err(&io)?;
    let history: Vec<EpochMetrics> = cfg
        .resume
        .as_ref()
        .map(|c| c.history.clone())
        .unwrap_or_default();
    // A run stopped after its checkpoint but before metrics.jsonl, or one that wrote a
    // line for an epoch its checkpoint does not hold, is made consistent first.
    if cfg.resume.is_some() {
        write_metrics(&cfg.out, &history).map_err(&io)?;
    }
    let last_saved = cfg
        .resume
        .as_ref()
        .map(|c| (checkpoint::path(&cfg.out, "last"), c.epoch));
    let best = history
        .iter()
        .map(|m| m.val_acc)
        .fold(f64::NEG_INFINITY, f64::max);
    let since_best = history
        .iter()
        .rev()
        .take_while(|m| m.val_acc < best)
        .count() as u32;
    Ok(Record {
        events,
        history,
        last_saved,
        best,
        since_best,
    })
}

impl Record {
    /// Record a finished epoch, in the order the module doc gives: `best` (if it
    /// improved), `last`, metrics.jsonl, the TensorBoard scalars. Whether it improved.
    fn end_epoch(
        &mut self,
        cfg: &TrainConfig,
        data: &Prepared,
        m: EpochMetrics,
        params: TensorMap,
        step: u64,
    ) -> Result<bool, TrainError> {
        let io = io_error(&cfg.out);
        self.history.push(m.clone());
        let ckpt = checkpoint_of(cfg, data, params, m.epoch, step, &self.history, None);
        // `best` before `last`: a run stopped between them resumes from the previous `last`,
        // redoes this epoch and writes `best` again with the same weights. The other order
        // would resume past an improvement that `best` never received.
        let improved = m.val_acc > self.best;
        if improved {
            self.best = m.val_acc;
            self.since_best = 0;
            ckpt.save(&cfg.out, "best").map_err(setup)?;
        } else {
            self.since_best += 1;
        }
        ckpt.save(&cfg.out, "last").map_err(setup)?;
        self.last_saved = Some((checkpoint::path(&cfg.out, "last"), m.epoch));
        write_metrics(&cfg.out, &self.history).map_err(&io)?;
        let events = &mut self.events;
        events
            .scalar("train_acc", step, m.train_acc as f32)
            .map_err(&io)?;
        events
            .scalar("val_acc", step, m.val_acc as f32)
            .map_err(&io)?;
        events.scalar("lr", step, m.lr as f32).map_err(&io)?;
        events.flush().map_err(&io)?;
        Ok(improved)
    }
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
