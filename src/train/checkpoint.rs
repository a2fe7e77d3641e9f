//! Checkpoints: `NAME.safetensors` (parameters, BN running statistics, optimizer
//! state, under their IR names) and `NAME.json` beside it (the model source and its
//! hash, hyper-parameters, recipe, normalisation, classes, epoch, step, seed, metrics).
//! Both are written to a temporary file and renamed, so a crash mid-write never leaves
//! a corrupt checkpoint; the JSON goes last, so it only ever names complete weights.

use crate::elab::recipe::Recipe;
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
    /// Steps of the epoch whose updates dynamic loss scaling skipped (a gradient was inf or
    /// NaN at the scale of the time); always 0 in f32.
    #[serde(default)]
    pub skipped_steps: u64,
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
        c.params = params::load(&dir.join(format!("{name}.safetensors")))?;
        Ok(c)
    }
}
