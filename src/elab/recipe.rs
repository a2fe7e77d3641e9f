//! The training recipe: the `train { ... }` section, checked and typed.
//!
//! Settings are evaluated like any expression (with the model's hyper-parameters in
//! scope, so `init = kaiming_normal(nonlinearity = act)` follows `--set act=gelu`), then
//! matched against the schema below. Unknown keys, wrong kinds of value and bad ranges
//! are diagnostics at the setting. Everything has a default, so a model file without a
//! `train` section is still a complete experiment.

use super::eval::describe;
use super::suggest;
use super::value::{Config, Value};
use crate::diag::{Diagnostic, Span};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum Optimizer {
    /// `torch.optim.SGD`.
    Sgd {
        lr: f64,
        momentum: f64,
        weight_decay: f64,
        nesterov: bool,
    },
    /// `torch.optim.Adam` (L2 weight decay added to the gradient).
    Adam {
        lr: f64,
        betas: [f64; 2],
        eps: f64,
        weight_decay: f64,
    },
    /// `torch.optim.AdamW` (decoupled weight decay).
    #[serde(rename = "adamw")]
    AdamW {
        lr: f64,
        betas: [f64; 2],
        eps: f64,
        weight_decay: f64,
    },
}

impl Optimizer {
    pub fn lr(&self) -> f64 {
        match self {
            Optimizer::Sgd { lr, .. }
            | Optimizer::Adam { lr, .. }
            | Optimizer::AdamW { lr, .. } => *lr,
        }
    }
}

/// Learning-rate schedule, stepped once per epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum Schedule {
    Constant,
    /// `MultiStepLR`: multiply by `gamma` at each milestone epoch.
    #[serde(rename = "multistep")]
    MultiStep {
        milestones: Vec<u32>,
        gamma: f64,
    },
    /// `CosineAnnealingLR` over the whole run, down to `min_lr`.
    Cosine {
        min_lr: f64,
    },
}

/// Training-time augmentation, applied in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum Augment {
    /// `RandomHorizontalFlip(p)`.
    Hflip { p: f64 },
    /// `RandomResizedCrop(size, scale, ratio)`, bilinear.
    RandomResizedCrop {
        size: u32,
        scale: [f64; 2],
        ratio: [f64; 2],
    },
    /// `RandomCrop(size, padding)` with zero padding.
    RandomCrop { size: u32, padding: u32 },
}

/// Initialisation of conv weights (BN: weight 1, bias 0; others: PyTorch defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Init {
    /// `kaiming_normal` or `kaiming_uniform`.
    pub name: String,
    /// `fan_in` or `fan_out`.
    pub mode: String,
    /// The activation whose gain is used (`relu`, `leaky_relu`, `tanh`, `gelu`).
    pub nonlinearity: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    pub optimizer: Optimizer,
    pub schedule: Schedule,
    pub warmup_epochs: u32,
    pub augment: Vec<Augment>,
    pub init: Init,
    pub epochs: u32,
    pub batch: u32,
    /// Images held out of the training data for validation.
    pub val_size: u32,
    pub seed: u64,
    /// Stop after this many epochs without a better validation accuracy; 0 = never.
    pub early_stopping: u32,
    /// How the training step stores its values (`"f32"` or `"mixed"`).
    #[serde(default)]
    pub precision: crate::ir::Precision,
}

impl Default for Recipe {
    fn default() -> Recipe {
        Recipe {
            optimizer: Optimizer::AdamW {
                lr: 1e-3,
                betas: [0.9, 0.999],
                eps: 1e-8,
                weight_decay: 1e-2,
            },
            schedule: Schedule::Constant,
            warmup_epochs: 0,
            augment: Vec::new(),
            init: Init {
                name: "kaiming_normal".into(),
                mode: "fan_in".into(),
                nonlinearity: "relu".into(),
            },
            epochs: 10,
            batch: 128,
            val_size: 5000,
            seed: 42,
            early_stopping: 0,
            precision: crate::ir::Precision::F32,
        }
    }
}

/// The keys a `train` section may set.
pub const KEYS: [&str; 11] = [
    "optimizer",
    "schedule",
    "warmup_epochs",
    "augment",
    "init",
    "epochs",
    "batch",
    "val_size",
    "seed",
    "early_stopping",
    "precision",
];

/// Apply one evaluated setting to the recipe.
pub fn apply(
    recipe: &mut Recipe,
    key: &str,
    key_span: Span,
    value: Value,
    span: Span,
) -> Result<(), Diagnostic> {
    let expected = |what: &str| {
        Diagnostic::error(format!("`{key}` must be {what}, got {}", describe(&value)))
            .at(span, format!("expected {what}"))
    };
    let count = |min: i64| match value {
        Value::Int(i) if i >= min && i <= u32::MAX as i64 => Ok(i as u32),
        _ => Err(expected(if min > 0 {
            "a positive int"
        } else {
            "a non-negative int"
        })),
    };
    match key {
        "optimizer" => {
            recipe.optimizer = match &value {
                Value::Config(c) if c.name == "sgd" => Optimizer::Sgd {
                    lr: f(c, "lr"),
                    momentum: f(c, "momentum"),
                    weight_decay: f(c, "weight_decay"),
                    nesterov: matches!(c.get("nesterov"), Some(Value::Bool(true))),
                },
                Value::Config(c) if c.name == "adam" => Optimizer::Adam {
                    lr: f(c, "lr"),
                    betas: pair(c, "betas"),
                    eps: f(c, "eps"),
                    weight_decay: f(c, "weight_decay"),
                },
                Value::Config(c) if c.name == "adamw" => Optimizer::AdamW {
                    lr: f(c, "lr"),
                    betas: pair(c, "betas"),
                    eps: f(c, "eps"),
                    weight_decay: f(c, "weight_decay"),
                },
                _ => return Err(expected("an optimizer: sgd(...), adam(...) or adamw(...)")),
            }
        }
        "schedule" => {
            recipe.schedule = match &value {
                Value::Config(c) if c.name == "constant" => Schedule::Constant,
                Value::Config(c) if c.name == "multistep" => Schedule::MultiStep {
                    milestones: match c.get("milestones") {
                        Some(Value::List(items)) => items
                            .iter()
                            .filter_map(|v| v.as_f64())
                            .map(|x| x as u32)
                            .collect(),
                        _ => Vec::new(),
                    },
                    gamma: f(c, "gamma"),
                },
                Value::Config(c) if c.name == "cosine" => Schedule::Cosine {
                    min_lr: f(c, "min_lr"),
                },
                Value::Func(super::value::Func::Recipe(k)) if k.name() == "constant" => {
                    Schedule::Constant
                }
                _ => {
                    return Err(expected(
                        "a schedule: constant(), multistep(...) or cosine(...)",
                    ));
                }
            }
        }
        "augment" => {
            let items = match &value {
                Value::List(items) => items,
                _ => return Err(expected("a list of augmentations")),
            };
            recipe.augment = items
                .iter()
                .map(|v| match v {
                    Value::Config(c) if c.name == "hflip" => Ok(Augment::Hflip { p: f(c, "p") }),
                    Value::Config(c) if c.name == "random_resized_crop" => Ok(Augment::RandomResizedCrop {
                        size: f(c, "size") as u32,
                        scale: pair(c, "scale"),
                        ratio: pair(c, "ratio"),
                    }),
                    Value::Config(c) if c.name == "random_crop" => Ok(Augment::RandomCrop { size: f(c, "size") as u32, padding: f(c, "padding") as u32 }),
                    other => Err(Diagnostic::error(format!("`augment` items must be hflip(...), random_resized_crop(...) or random_crop(...), got {}", describe(other)))
                        .at(span, "in this list")),
                })
                .collect::<Result<_, _>>()?;
        }
        "init" => {
            recipe.init = match &value {
                Value::Config(c) if c.name.starts_with("kaiming_") => Init {
                    name: c.name.to_string(),
                    mode: match c.get("mode") {
                        Some(Value::Str(s)) => s.clone(),
                        _ => "fan_in".into(),
                    },
                    nonlinearity: c
                        .get("nonlinearity")
                        .map(|v| v.to_string())
                        .unwrap_or_else(|| "relu".into()),
                },
                _ => {
                    return Err(expected(
                        "an initialiser: kaiming_normal(...) or kaiming_uniform(...)",
                    ));
                }
            }
        }
        "epochs" => recipe.epochs = count(1)?,
        "batch" => recipe.batch = count(1)?,
        "val_size" => recipe.val_size = count(0)?,
        "warmup_epochs" => recipe.warmup_epochs = count(0)?,
        "early_stopping" => recipe.early_stopping = count(0)?,
        "seed" => recipe.seed = count(0)? as u64,
        "precision" => {
            recipe.precision = match &value {
                Value::Str(s) => crate::ir::Precision::parse(s),
                _ => None,
            }
            .ok_or_else(|| expected("\"f32\" or \"mixed\""))?;
        }
        other => {
            let mut d = Diagnostic::error(format!("unknown training setting `{other}`"))
                .at(key_span, "not a recipe key");
            d = match suggest(other, KEYS.into_iter()) {
                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                None => d.with_help(format!("the keys are: {}", KEYS.join(", "))),
            };
            return Err(d);
        }
    }
    Ok(())
}

/// A numeric argument of a recipe item (bind() has converted and range-checked it).
fn f(c: &Config, key: &str) -> f64 {
    c.get(key).and_then(Value::as_f64).unwrap_or(0.0)
}

fn pair(c: &Config, key: &str) -> [f64; 2] {
    match c.get(key) {
        Some(Value::List(items)) if items.len() == 2 => [
            items[0].as_f64().unwrap_or(0.0),
            items[1].as_f64().unwrap_or(0.0),
        ],
        _ => [0.0, 0.0],
    }
}
