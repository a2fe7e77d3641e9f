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

/// One image transform of a recipe's `augment` (training) or `eval_transform` list,
/// applied in order with torchvision's semantics to a float CHW image in [0, 1].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum Augment {
    /// `RandomHorizontalFlip(p)`.
    Hflip { p: f64 },
    /// `RandomResizedCrop(size, scale, ratio)`, bilinear (antialiased when it shrinks).
    RandomResizedCrop {
        size: u32,
        scale: [f64; 2],
        ratio: [f64; 2],
    },
    /// `RandomCrop(size, padding)` with zero padding.
    RandomCrop { size: u32, padding: u32 },
    /// `Resize(size)`: the shorter side to `size` (`[size]`), or exactly `[h, w]`;
    /// bilinear with antialiasing (torchvision's default).
    Resize { size: Vec<u32> },
    /// `CenterCrop([h, w])` (zero padding where the image is smaller).
    CenterCrop { size: [u32; 2] },
    /// `Normalize(mean, std)`: replaces the statistics computed from the training data.
    /// Only as a list's last item.
    Normalize { mean: Vec<f32>, std: Vec<f32> },
}

/// A list of transforms, as in the recipe.
pub type Transforms = Vec<Augment>;

/// The (height, width) that `list` produces from an image of `input` (None: unknown,
/// e.g. of a dataset whose images differ); None when it depends on the input and the
/// input is not known. Randomness never changes the size.
pub fn output_size(list: &[Augment], input: Option<(u32, u32)>) -> Option<(u32, u32)> {
    let mut size = input;
    for a in list {
        size = match a {
            Augment::Hflip { .. } | Augment::Normalize { .. } => size,
            Augment::RandomResizedCrop { size: s, .. } => Some((*s, *s)),
            Augment::RandomCrop { size: s, .. } => Some((*s, *s)),
            Augment::CenterCrop { size: [h, w] } => Some((*h, *w)),
            Augment::Resize { size: s } => match s[..] {
                [h, w] => Some((h, w)),
                [short] => size.map(|(h, w)| resize_shorter(h, w, short)),
                _ => None,
            },
        };
    }
    size
}

/// torchvision's `_compute_resized_output_size` for an int size: the shorter side
/// becomes `short`, the longer keeps the aspect ratio (truncated).
pub fn resize_shorter(h: u32, w: u32, short: u32) -> (u32, u32) {
    let (s, l) = if h <= w { (h, w) } else { (w, h) };
    let long = (short as u64 * l as u64 / s.max(1) as u64) as u32;
    if h <= w { (short, long) } else { (long, short) }
}

/// The `normalize(...)` of a list, if it has one.
pub fn normalize_of(list: &[Augment]) -> Option<(&[f32], &[f32])> {
    list.iter().find_map(|a| match a {
        Augment::Normalize { mean, std } => Some((mean.as_slice(), std.as_slice())),
        _ => None,
    })
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
    /// The transforms of validation, `netc test`, `netc eval` and `netc infer`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub eval_transform: Vec<Augment>,
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
            eval_transform: Vec::new(),
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
pub const KEYS: [&str; 12] = [
    "optimizer",
    "schedule",
    "warmup_epochs",
    "augment",
    "eval_transform",
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
        "augment" | "eval_transform" => {
            let items = match &value {
                Value::List(items) => items,
                _ => return Err(expected("a list of transforms")),
            };
            let list = items
                .iter()
                .map(|v| transform(key, v, span))
                .collect::<Result<Vec<_>, _>>()?;
            if let Some(i) = list
                .iter()
                .position(|a| matches!(a, Augment::Normalize { .. }))
                && i + 1 != list.len()
            {
                return Err(Diagnostic::error(format!(
                    "`normalize(...)` must be the last item of `{key}`"
                ))
                .at(span, "in this list")
                .with_help("the other transforms work on pixels in [0, 1]; normalise last"));
            }
            if key == "augment" {
                recipe.augment = list;
            } else {
                recipe.eval_transform = list;
            }
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

/// One item of a transform list.
fn transform(key: &str, v: &Value, span: Span) -> Result<Augment, Diagnostic> {
    let ints = |c: &Config, k: &str| -> Vec<u32> {
        match c.get(k) {
            Some(Value::Int(i)) => vec![*i as u32],
            Some(Value::List(items)) => items
                .iter()
                .map(|x| x.as_f64().unwrap_or(0.0) as u32)
                .collect(),
            _ => Vec::new(),
        }
    };
    let floats = |c: &Config, k: &str| -> Vec<f32> {
        match c.get(k) {
            Some(Value::List(items)) => items
                .iter()
                .map(|x| x.as_f64().unwrap_or(0.0) as f32)
                .collect(),
            _ => Vec::new(),
        }
    };
    Ok(match v {
        Value::Config(c) if c.name == "hflip" => Augment::Hflip { p: f(c, "p") },
        Value::Config(c) if c.name == "random_resized_crop" => Augment::RandomResizedCrop {
            size: f(c, "size") as u32,
            scale: pair(c, "scale"),
            ratio: pair(c, "ratio"),
        },
        Value::Config(c) if c.name == "random_crop" => Augment::RandomCrop {
            size: f(c, "size") as u32,
            padding: f(c, "padding") as u32,
        },
        Value::Config(c) if c.name == "resize" => Augment::Resize {
            size: ints(c, "size"),
        },
        Value::Config(c) if c.name == "center_crop" => {
            let s = ints(c, "size");
            Augment::CenterCrop {
                size: [s[0], *s.get(1).unwrap_or(&s[0])],
            }
        }
        Value::Config(c) if c.name == "normalize" => {
            let (mean, std) = (floats(c, "mean"), floats(c, "std"));
            if mean.len() != 3 || std.len() != 3 {
                return Err(Diagnostic::error(format!(
                    "`normalize` takes three means and three standard deviations (R, G, B), got {} and {}",
                    mean.len(),
                    std.len()
                ))
                .at(span, "in this list"));
            }
            Augment::Normalize { mean, std }
        }
        other => {
            return Err(Diagnostic::error(format!(
                "`{key}` items must be hflip(...), random_resized_crop(...), random_crop(...), resize(...), center_crop(...) or normalize(...), got {}",
                describe(other)
            ))
            .at(span, "in this list"));
        }
    })
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
