//! One epoch's steps: shuffled, augmented batches streamed by the loader through the
//! training step on the device, with the step metrics (loss, correct count) read back
//! every `--log-every` steps and checked there by the non-finite guard.

use super::checkpoint::PartialEpoch;
use super::run::{Prepared, TrainConfig, TrainError, last_good, non_finite_param, setup};
use super::schedule::learning_rate;
use super::tensorboard::EventWriter;
use crate::data::loader::{self, Pipeline};
use crate::runtime::model::DeviceModel;
use crate::tensor::Tensor;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

/// What the steps of an epoch run with.
pub(super) struct Steps<'a, 'r> {
    pub cfg: &'a TrainConfig,
    pub data: &'a Prepared,
    pub model: &'a DeviceModel<'r>,
    /// Read the device logs back every this many steps.
    pub log_every: usize,
    /// The last checkpoint written, named when a non-finite value stops the run.
    pub last_saved: &'a Option<(PathBuf, u32)>,
}

/// An epoch's running sums of the training metrics.
pub(super) struct EpochSums {
    /// Sum over images of the loss (each step's mean loss times the batch).
    pub loss_sum: f64,
    pub correct: f64,
    pub seen: usize,
    /// Steps whose updates loss scaling skipped.
    pub skipped: u64,
}

/// How an epoch's steps ended (all of them, or fewer after Ctrl-C).
pub(super) struct Ran {
    pub sums: EpochSums,
    pub steps_done: u32,
    /// The learning rate of the last step.
    pub lr: f64,
    /// The epoch's progress bar, finished by the caller.
    pub bar: Option<indicatif::ProgressBar>,
}

impl Steps<'_, '_> {
    /// Run `epoch`'s steps after the `done` ones (a resumed epoch), logging each step's
    /// loss to `events`.
    pub fn run(
        &self,
        epoch: u32,
        done: PartialEpoch,
        started: std::time::Instant,
        events: &mut EventWriter,
    ) -> Result<Ran, TrainError> {
        let (cfg, data) = (self.cfg, self.data);
        let recipe = &cfg.model.recipe;
        let batch = recipe.batch as usize;
        let steps_per_epoch = data.steps_per_epoch;
        let log_every = self.log_every;
        let step_model = self.model;
        let io = |e: std::io::Error| TrainError::Io {
            path: cfg.out.display().to_string(),
            message: e.to_string(),
        };
        let mut order = data.train_idx.clone();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(
            recipe.seed ^ ((epoch as u64 + 1) << 32),
        ));
        let bar = progress(cfg.quiet, steps_per_epoch as u64, epoch, recipe.epochs);
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
            mean: &data.norm.mean,
            std: &data.norm.std,
            seed: recipe.seed,
            epoch,
            size: data.input_size,
        };
        let mut unread_from: Option<u64> = None;
        let last_saved_now = self.last_saved;
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
            lr = learning_rate(recipe, epoch, s as u32, steps_per_epoch);
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
        Ok(Ran {
            sums,
            steps_done,
            lr,
            bar,
        })
    }
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
