//! Checkpoints: one file, `NAME.safetensors`, holding the parameters, BN running
//! statistics and optimizer state under their IR names, and in its header metadata
//! (key `netc.checkpoint`) the JSON that describes them: the model source and its hash,
//! hyper-parameters, recipe, normalisation, classes, epoch, step, seed, metrics.
//!
//! One file is one atomic unit: it is written to a temporary file and renamed
//! (`atomic_file::write`), so a crash at any moment leaves either the previous checkpoint
//! or the new one, and weights are never labelled with another epoch's description. Any
//! safetensors reader loads the weights (`netc infer --weights runs/NAME/best.safetensors`).
//! Checkpoints of the older layout — the JSON beside the weights in `NAME.json` — still load.

use crate::elab::recipe::{Augment, Optimizer, Recipe, Schedule};
use crate::params;
use crate::predict::Normalize;
use crate::tensor::TensorMap;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

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
    /// Steps of the epoch whose updates dynamic loss scaling skipped (a gradient was inf or
    /// NaN at the scale of the time); always 0 in f32.
    #[serde(default)]
    pub skipped_steps: u64,
    /// Unreadable images left out of the data (`--skip-bad-images`); written when any.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub bad_images: u64,
    /// Images converted to RGB (grayscale, RGBA, ...); written when any.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub converted_images: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Progress inside an interrupted epoch, so that a resumed run skips the batches
/// already done and finishes the epoch with the same sums.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartialEpoch {
    pub steps_done: u32,
    pub loss_sum: f64,
    pub correct: f64,
    pub seen: usize,
    #[serde(default)]
    pub skipped: u64,
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

/// The safetensors metadata key of a checkpoint's description.
pub const METADATA_KEY: &str = "netc.checkpoint";

/// The file of checkpoint `name` in run directory `dir`.
pub fn path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.safetensors"))
}

impl Checkpoint {
    /// Write `dir/NAME.safetensors` atomically, weights and description together.
    pub fn save(&self, dir: &Path, name: &str) -> Result<(), CheckpointError> {
        let file = path(dir, name);
        let text = serde_json::to_string(self).map_err(|e| CheckpointError::Write {
            path: file.display().to_string(),
            message: e.to_string(),
        })?;
        let metadata = HashMap::from([(METADATA_KEY.to_string(), text)]);
        params::save_with(&self.params, Some(metadata), &file)?;
        // An older layout's sidecar would now describe other weights; the metadata wins on
        // load, so removing it is tidiness, not correctness.
        let _ = std::fs::remove_file(dir.join(format!("{name}.json")));
        Ok(())
    }

    /// Read `dir/NAME.safetensors` (or, for the older layout, its weights and
    /// `dir/NAME.json`). Weights holding NaN or infinity are refused, naming the tensor.
    pub fn load(dir: &Path, name: &str) -> Result<Checkpoint, CheckpointError> {
        let file = path(dir, name);
        let (tensors, metadata) = params::load_with(&file)?;
        let (text, described_by) = match metadata.get(METADATA_KEY) {
            Some(text) => (text.clone(), file.clone()),
            None => {
                let json = dir.join(format!("{name}.json"));
                let text = std::fs::read_to_string(&json).map_err(|e| CheckpointError::Read {
                    path: json.display().to_string(),
                    message: format!(
                        "{e} (and `{}` holds no checkpoint description)",
                        file.display()
                    ),
                })?;
                (text, json)
            }
        };
        let mut c: Checkpoint = serde_json::from_str(&text).map_err(|e| CheckpointError::Read {
            path: described_by.display().to_string(),
            message: e.to_string(),
        })?;
        validate(&c).map_err(|message| CheckpointError::Read {
            path: described_by.display().to_string(),
            message,
        })?;
        params::check_finite(&tensors, &file.display().to_string())?;
        c.params = tensors;
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
    for a in r.augment.iter().chain(&r.eval_transform) {
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
            Augment::Resize { size } => matches!(size.len(), 1 | 2) && size.iter().all(|&s| s > 0),
            Augment::CenterCrop { size } => size.iter().all(|&s| s > 0),
            Augment::Normalize { mean, std } => {
                mean.len() == 3
                    && std.len() == 3
                    && mean.iter().all(|m| m.is_finite())
                    && std.iter().all(|&s| s > 0.0 && s.is_finite())
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::Tensor;

    fn checkpoint(value: f32) -> Checkpoint {
        Checkpoint {
            model_file: "m.net".into(),
            model_source: "model M() {}".into(),
            source_hash: hash("model M() {}"),
            hparams: vec![],
            recipe: Recipe::default(),
            normalize: Normalize::cifar10(),
            classes: vec!["a".into(), "b".into()],
            data: "synthetic".into(),
            limit: None,
            epoch: 3,
            step: 30,
            seed: 42,
            history: vec![],
            partial: None,
            params: TensorMap::from([("w".to_string(), Tensor::new(vec![2], vec![1.0, value]))]),
        }
    }

    #[test]
    fn one_file_holds_weights_and_description() {
        let dir = tempfile::tempdir().unwrap();
        checkpoint(2.0).save(dir.path(), "last").unwrap();
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(names.len(), 1, "one file: {names:?}");
        let c = Checkpoint::load(dir.path(), "last").unwrap();
        assert_eq!(
            (c.epoch, c.step, c.params["w"].data.clone()),
            (3, 30, vec![1.0, 2.0])
        );
        // Plain safetensors readers see the weights.
        assert_eq!(params::load(&path(dir.path(), "last")).unwrap(), c.params);
    }

    #[test]
    fn the_older_two_file_layout_still_loads() {
        let dir = tempfile::tempdir().unwrap();
        let c = checkpoint(2.0);
        params::save(&c.params, &path(dir.path(), "best")).unwrap();
        std::fs::write(
            dir.path().join("best.json"),
            serde_json::to_string(&c).unwrap(),
        )
        .unwrap();
        let loaded = Checkpoint::load(dir.path(), "best").unwrap();
        assert_eq!((loaded.epoch, loaded.params), (3, c.params));
    }

    #[test]
    fn non_finite_weights_are_refused_naming_the_tensor() {
        let dir = tempfile::tempdir().unwrap();
        checkpoint(f32::INFINITY).save(dir.path(), "last").unwrap();
        let e = Checkpoint::load(dir.path(), "last")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`w` holds inf (element 1)"), "{e}");
    }
}
