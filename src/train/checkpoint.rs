//! Checkpoints: `NAME.safetensors` (parameters, BN running statistics, optimizer
//! state, under their IR names) and `NAME.json` beside it (the model source and its
//! hash, hyper-parameters, recipe, normalisation, classes, epoch, step, seed, metrics).
//! Both are written to a temporary file and renamed, so a crash mid-write never leaves
//! a corrupt checkpoint; the JSON goes last, so it only ever names complete weights.

use crate::elab::recipe::{Augment, Optimizer, Recipe, Schedule};
use crate::params;
use crate::predict::Normalize;
use crate::tensor::TensorMap;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One epoch's metrics (also a line of metrics.jsonl).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    pub epoch: u32,
    pub train_loss: f64,
    pub train_acc: f64,
    pub val_acc: f64,
    pub lr: f64,
    pub seconds: f64,
    pub images_per_s: f64,
}

/// Progress inside an interrupted epoch, so that a resumed run skips the batches
/// already done and finishes the epoch with the same sums.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartialEpoch {
    pub steps_done: u32,
    pub loss_sum: f64,
    pub correct: f64,
    pub seen: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Checkpoint {
    pub model_file: String,
    pub model_source: String,
    /// SHA-256 of `model_source`, hex.
    pub source_hash: String,
    pub hparams: Vec<(String, String)>,
    pub recipe: Recipe,
    pub normalize: Normalize,
    pub classes: Vec<String>,
    /// Where the training images came from (`--data`), and `--limit` if one was given.
    pub data: String,
    pub limit: Option<usize>,
    /// Completed epochs.
    pub epoch: u32,
    /// Completed optimizer steps.
    pub step: u64,
    /// Every random stream of the run derives from it and the epoch.
    pub seed: u64,
    pub history: Vec<EpochMetrics>,
    /// Set when the run was interrupted inside an epoch: how far that epoch got.
    #[serde(default)]
    pub partial: Option<PartialEpoch>,
    #[serde(skip)]
    pub params: TensorMap,
}

pub fn hash(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error(transparent)]
    Params(#[from] params::ParamsError),
    #[error("cannot read checkpoint `{path}`: {message}")]
    Read { path: String, message: String },
    #[error("cannot write checkpoint `{path}`: {message}")]
    Write { path: String, message: String },
}

impl Checkpoint {
    /// Write `dir/NAME.safetensors`, then `dir/NAME.json`, each atomically.
    pub fn save(&self, dir: &Path, name: &str) -> Result<(), CheckpointError> {
        params::save(&self.params, &dir.join(format!("{name}.safetensors")))?;
        let json = dir.join(format!("{name}.json"));
        let write = |e: String| CheckpointError::Write {
            path: json.display().to_string(),
            message: e,
        };
        let text = serde_json::to_string_pretty(self).map_err(|e| write(e.to_string()))?;
        let tmp = json.with_extension("json.tmp");
        std::fs::write(&tmp, text).map_err(|e| write(e.to_string()))?;
        std::fs::rename(&tmp, &json).map_err(|e| write(e.to_string()))
    }

    /// Read `dir/NAME.json` and its weights.
    pub fn load(dir: &Path, name: &str) -> Result<Checkpoint, CheckpointError> {
        let json = dir.join(format!("{name}.json"));
        let read = |e: String| CheckpointError::Read {
            path: json.display().to_string(),
            message: e,
        };
        let text = std::fs::read_to_string(&json).map_err(|e| read(e.to_string()))?;
        let mut c: Checkpoint = serde_json::from_str(&text).map_err(|e| read(e.to_string()))?;
        validate(&c).map_err(read)?;
        c.params = params::load(&dir.join(format!("{name}.safetensors")))?;
        Ok(c)
    }
}

// ---------------------------------------------------------------------------
// Validation on load. The sidecar is a text file beside the weights, and people edit
// it: its recipe and normalisation were checked when the run started (the `train`
// section's rules in `elab::recipe`, the `--mean`/`--std` rules), but a hand-edited
// `batch = 0` or a one-value `normalize.mean` would reach the trainer and `netc test`
// unchecked and panic there. `validate` restates the rules a recipe obeys, so a bad
// sidecar is an error that names the field.

/// Why `c` cannot be used, naming the field; `Ok` when every value is in range.
fn validate(c: &Checkpoint) -> Result<(), String> {
    let r = &c.recipe;
    let fail = |field: &str, must: &str| Err(format!("`{field}` must be {must}"));
    if r.batch == 0 {
        return fail("recipe.batch", "a positive int");
    }
    if r.epochs == 0 {
        return fail("recipe.epochs", "a positive int");
    }
    let positive = |x: f64| x.is_finite() && x > 0.0;
    let non_negative = |x: f64| x.is_finite() && x >= 0.0;
    let probability = |x: f64| (0.0..=1.0).contains(&x);
    match r.optimizer {
        Optimizer::Sgd {
            lr,
            momentum,
            weight_decay,
            ..
        } => {
            if !positive(lr) || !non_negative(momentum) || !non_negative(weight_decay) {
                return fail(
                    "recipe.optimizer",
                    "sgd with a positive lr, and a non-negative momentum and weight_decay",
                );
            }
        }
        Optimizer::Adam {
            lr,
            betas,
            eps,
            weight_decay,
        }
        | Optimizer::AdamW {
            lr,
            betas,
            eps,
            weight_decay,
        } => {
            let betas_ok = betas.iter().all(|&b| probability(b)) && betas[0] <= betas[1];
            if !positive(lr) || !positive(eps) || !non_negative(weight_decay) || !betas_ok {
                return fail(
                    "recipe.optimizer",
                    "adam or adamw with a positive lr and eps, betas 0 <= lo <= hi <= 1, and a non-negative weight_decay",
                );
            }
        }
    }
    match &r.schedule {
        Schedule::Constant => {}
        Schedule::MultiStep { gamma, .. } if positive(*gamma) => {}
        Schedule::Cosine { min_lr } if non_negative(*min_lr) => {}
        _ => {
            return fail(
                "recipe.schedule",
                "multistep with a positive gamma, or cosine with a non-negative min_lr",
            );
        }
    }
    for a in &r.augment {
        let ok = match a {
            Augment::Hflip { p } => probability(*p),
            Augment::RandomResizedCrop { size, scale, ratio } => {
                *size > 0
                    && scale[0] <= scale[1]
                    && scale.iter().all(|&s| probability(s))
                    && ratio[0] <= ratio[1]
                    && ratio.iter().all(|&x| positive(x))
            }
            Augment::RandomCrop { size, .. } => *size > 0,
        };
        if !ok {
            return fail("recipe.augment", "augmentations with in-range arguments");
        }
    }
    let n = &c.normalize;
    let finite = n.mean.iter().chain(&n.std).all(|x| x.is_finite());
    if n.mean.len() != 3 || n.std.len() != 3 || !finite || n.std.iter().any(|&s| s <= 0.0) {
        return fail(
            "normalize",
            "three finite means and three positive standard deviations (R, G, B)",
        );
    }
    if c.classes.is_empty() {
        return fail("classes", "a non-empty list");
    }
    Ok(())
}
