//! The built-in callables of the language and their signatures: tensor ops
//! (`conv`, `bn`, `relu`, ...) and recipe constructors (`sgd`, `multistep`, `hflip`, ...).
//!
//! Each signature is a table of [`ParamSpec`]s; [`bind`] matches a call's positional
//! and named arguments against it, fills defaults, converts and range-checks values,
//! and reports every mismatch at the argument's own span.

use super::value::{Func, Value};
use crate::diag::{Diagnostic, Span};
use crate::ops::activation;

/// A built-in tensor op as the language names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpKind {
    Conv,
    BatchNorm,
    /// Every activation of the table (`relu`, `gelu`, ...).
    Activation(activation::Activation),
    MaxPool,
    AvgPool,
    GlobalAvgPool,
    Flatten,
    Linear,
    Concat,
    Add,
    Softmax,
}

impl OpKind {
    /// Every op kind: conv and bn, the activation table, then the rest.
    pub fn all() -> impl Iterator<Item = OpKind> {
        [OpKind::Conv, OpKind::BatchNorm]
            .into_iter()
            .chain(activation::Activation::all().map(OpKind::Activation))
            .chain([
                OpKind::MaxPool,
                OpKind::AvgPool,
                OpKind::GlobalAvgPool,
                OpKind::Flatten,
                OpKind::Linear,
                OpKind::Concat,
                OpKind::Add,
                OpKind::Softmax,
            ])
    }

    /// The canonical name; also the stem of automatic layer names (`conv1`, `bn2`).
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Conv => "conv",
            OpKind::BatchNorm => "bn",
            OpKind::Activation(a) => a.name(),
            OpKind::MaxPool => "max_pool",
            OpKind::AvgPool => "avg_pool",
            OpKind::GlobalAvgPool => "global_avg_pool",
            OpKind::Flatten => "flatten",
            OpKind::Linear => "linear",
            OpKind::Concat => "concat",
            OpKind::Add => "add",
            OpKind::Softmax => "softmax",
        }
    }

    /// Look up a name, accepting PyTorch-style aliases (`conv2d`, `batch_norm`, ...).
    pub fn from_name(name: &str) -> Option<OpKind> {
        if let Some(a) = activation::Activation::from_name(name) {
            return Some(OpKind::Activation(a));
        }
        let alias = match name {
            "conv2d" => "conv",
            "batch_norm" | "batchnorm" => "bn",
            "max_pool2d" | "maxpool" => "max_pool",
            "avg_pool2d" | "avgpool" => "avg_pool",
            other => other,
        };
        OpKind::all().find(|k| k.name() == alias)
    }

    pub fn is_activation(self) -> bool {
        matches!(self, OpKind::Activation(_))
    }

    pub fn signature(self) -> &'static [ParamSpec] {
        use ArgTy::*;
        use DefaultArg::*;
        const X: ParamSpec = ParamSpec::new("x", Tensor, Required);
        match self {
            OpKind::Conv => {
                const {
                    &[
                        X,
                        ParamSpec::new("channels", PosInt, Required),
                        ParamSpec::new("k", PosPair, Required),
                        ParamSpec::new("stride", PosPair, Int(1)),
                        ParamSpec::new("pad", NonNegPair, Int(0)),
                        ParamSpec::new("groups", PosInt, Int(1)),
                        ParamSpec::new("bias", Bool, Flag(true)),
                    ]
                }
            }
            OpKind::BatchNorm => {
                const {
                    &[
                        X,
                        ParamSpec::new("eps", PosFloat, Float(1e-5)),
                        ParamSpec::new("momentum", Prob, Float(0.1)),
                    ]
                }
            }
            OpKind::MaxPool | OpKind::AvgPool => {
                const {
                    &[
                        X,
                        ParamSpec::new("k", PosPair, Required),
                        ParamSpec::new("stride", PosPair, SameAs("k")),
                        ParamSpec::new("pad", NonNegPair, Int(0)),
                    ]
                }
            }
            OpKind::Linear => {
                const {
                    &[
                        X,
                        ParamSpec::new("features", PosInt, Required),
                        ParamSpec::new("bias", Bool, Flag(true)),
                    ]
                }
            }
            OpKind::Concat => const { &[ParamSpec::new("xs", Tensors, Required)] },
            OpKind::Add => {
                const {
                    &[
                        ParamSpec::new("a", Tensor, Required),
                        ParamSpec::new("b", Tensor, Required),
                    ]
                }
            }
            OpKind::Activation(_) | OpKind::GlobalAvgPool | OpKind::Flatten | OpKind::Softmax => {
                &[X]
            }
        }
    }
}

/// A recipe constructor, used in `train { ... }`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecipeKind {
    Sgd,
    Adam,
    AdamW,
    Constant,
    MultiStep,
    Cosine,
    HFlip,
    RandomResizedCrop,
    RandomCrop,
    Resize,
    CenterCrop,
    Normalize,
    KaimingNormal,
    KaimingUniform,
}

impl RecipeKind {
    pub const ALL: [RecipeKind; 14] = [
        RecipeKind::Sgd,
        RecipeKind::Adam,
        RecipeKind::AdamW,
        RecipeKind::Constant,
        RecipeKind::MultiStep,
        RecipeKind::Cosine,
        RecipeKind::HFlip,
        RecipeKind::RandomResizedCrop,
        RecipeKind::RandomCrop,
        RecipeKind::Resize,
        RecipeKind::CenterCrop,
        RecipeKind::Normalize,
        RecipeKind::KaimingNormal,
        RecipeKind::KaimingUniform,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RecipeKind::Sgd => "sgd",
            RecipeKind::Adam => "adam",
            RecipeKind::AdamW => "adamw",
            RecipeKind::Constant => "constant",
            RecipeKind::MultiStep => "multistep",
            RecipeKind::Cosine => "cosine",
            RecipeKind::HFlip => "hflip",
            RecipeKind::RandomResizedCrop => "random_resized_crop",
            RecipeKind::RandomCrop => "random_crop",
            RecipeKind::Resize => "resize",
            RecipeKind::CenterCrop => "center_crop",
            RecipeKind::Normalize => "normalize",
            RecipeKind::KaimingNormal => "kaiming_normal",
            RecipeKind::KaimingUniform => "kaiming_uniform",
        }
    }

    pub fn from_name(name: &str) -> Option<RecipeKind> {
        RecipeKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Parameters and defaults follow the PyTorch / torchvision API of the same name.
    pub fn signature(self) -> &'static [ParamSpec] {
        use ArgTy::*;
        use DefaultArg::*;
        match self {
            RecipeKind::Sgd => {
                const {
                    &[
                        ParamSpec::new("lr", PosFloat, Required),
                        ParamSpec::new("momentum", NonNegFloat, Float(0.0)),
                        ParamSpec::new("weight_decay", NonNegFloat, Float(0.0)),
                        ParamSpec::new("nesterov", Bool, Flag(false)),
                    ]
                }
            }
            RecipeKind::Adam => {
                const {
                    &[
                        ParamSpec::new("lr", PosFloat, Float(1e-3)),
                        ParamSpec::new("betas", ProbPair, FloatPair(0.9, 0.999)),
                        ParamSpec::new("eps", PosFloat, Float(1e-8)),
                        ParamSpec::new("weight_decay", NonNegFloat, Float(0.0)),
                    ]
                }
            }
            RecipeKind::AdamW => {
                const {
                    &[
                        ParamSpec::new("lr", PosFloat, Float(1e-3)),
                        ParamSpec::new("betas", ProbPair, FloatPair(0.9, 0.999)),
                        ParamSpec::new("eps", PosFloat, Float(1e-8)),
                        ParamSpec::new("weight_decay", NonNegFloat, Float(1e-2)),
                    ]
                }
            }
            RecipeKind::Constant => &[],
            RecipeKind::MultiStep => {
                const {
                    &[
                        ParamSpec::new("milestones", PosIntList, Required),
                        ParamSpec::new("gamma", PosFloat, Float(0.1)),
                    ]
                }
            }
            RecipeKind::Cosine => const { &[ParamSpec::new("min_lr", NonNegFloat, Float(0.0))] },
            RecipeKind::HFlip => const { &[ParamSpec::new("p", Prob, Float(0.5))] },
            RecipeKind::RandomResizedCrop => {
                const {
                    &[
                        ParamSpec::new("size", PosInt, Int(32)),
                        ParamSpec::new("scale", ProbPair, FloatPair(0.08, 1.0)),
                        ParamSpec::new("ratio", PosFloatPair, FloatPair(0.75, 4.0 / 3.0)),
                    ]
                }
            }
            RecipeKind::RandomCrop => {
                const {
                    &[
                        ParamSpec::new("size", PosInt, Int(32)),
                        ParamSpec::new("padding", NonNegInt, Int(0)),
                    ]
                }
            }
            RecipeKind::Resize => const { &[ParamSpec::new("size", PosIntOrPair, Required)] },
            RecipeKind::CenterCrop => const { &[ParamSpec::new("size", PosPair, Required)] },
            RecipeKind::Normalize => {
                const {
                    &[
                        ParamSpec::new("mean", ProbList, Required),
                        ParamSpec::new("std", PosFloatList, Required),
                    ]
                }
            }
            RecipeKind::KaimingNormal | RecipeKind::KaimingUniform => {
                const {
                    &[
                        ParamSpec::new("mode", Choice(&["fan_in", "fan_out"]), Str("fan_in")),
                        ParamSpec::new(
                            "nonlinearity",
                            Activation,
                            Op(OpKind::Activation(activation::Activation::RELU)),
                        ),
                    ]
                }
            }
        }
    }
}

/// What kind of value an argument accepts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ArgTy {
    Tensor,
    /// Two or more tensors, given as several arguments or as one list.
    Tensors,
    PosInt,
    NonNegInt,
    /// A positive int or a pair `[h, w]` of them.
    PosPair,
    /// A non-negative int or a pair of them.
    NonNegPair,
    /// A positive int, or a pair `[h, w]` of them, kept as given (`resize`'s size:
    /// the shorter side, or both).
    PosIntOrPair,
    /// A non-empty list of floats in [0, 1].
    ProbList,
    /// A non-empty list of positive floats.
    PosFloatList,
    PosFloat,
    NonNegFloat,
    /// A float in [0, 1].
    Prob,
    /// Two floats in [0, 1], the first no larger than the second.
    ProbPair,
    /// Two positive floats, the first no larger than the second.
    PosFloatPair,
    PosIntList,
    Bool,
    Choice(&'static [&'static str]),
    /// An activation function of the table (`relu`, `gelu`, ...).
    Activation,
}

impl ArgTy {
    fn describe(self) -> String {
        match self {
            ArgTy::Tensor => "a tensor".into(),
            ArgTy::Tensors => "two or more tensors".into(),
            ArgTy::PosInt => "a positive int".into(),
            ArgTy::NonNegInt => "a non-negative int".into(),
            ArgTy::PosPair => "a positive int or a pair [h, w] of them".into(),
            ArgTy::PosIntOrPair => "a positive int or a pair [h, w] of them".into(),
            ArgTy::ProbList => "a list of floats in [0, 1]".into(),
            ArgTy::PosFloatList => "a list of positive floats".into(),
            ArgTy::NonNegPair => "a non-negative int or a pair [h, w] of them".into(),
            ArgTy::PosFloat => "a positive number".into(),
            ArgTy::NonNegFloat => "a non-negative number".into(),
            ArgTy::Prob => "a number between 0 and 1".into(),
            ArgTy::ProbPair => "a pair [lo, hi] with 0 <= lo <= hi <= 1".into(),
            ArgTy::PosFloatPair => "a pair [lo, hi] with 0 < lo <= hi".into(),
            ArgTy::PosIntList => "a list of positive ints".into(),
            ArgTy::Bool => "`true` or `false`".into(),
            ArgTy::Choice(cs) => format!(
                "one of {}",
                cs.iter()
                    .map(|c| format!("\"{c}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            ArgTy::Activation => activation_kind(),
        }
    }
}

/// How diagnostics name the activations: `an activation (relu, leaky_relu, ...)`.
pub fn activation_kind() -> String {
    format!("an activation ({})", activation::Activation::names())
}

/// A parameter's default.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DefaultArg {
    Required,
    Int(i64),
    Float(f64),
    Flag(bool),
    Str(&'static str),
    FloatPair(f64, f64),
    Op(OpKind),
    /// The value of an earlier parameter (pooling's stride defaults to its kernel).
    SameAs(&'static str),
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ParamSpec {
    pub name: &'static str,
    pub ty: ArgTy,
    pub default: DefaultArg,
}

impl ParamSpec {
    pub const fn new(name: &'static str, ty: ArgTy, default: DefaultArg) -> ParamSpec {
        ParamSpec { name, ty, default }
    }
}

/// One evaluated call argument.
#[derive(Clone, Debug)]
pub struct ArgValue {
    pub name: Option<(String, Span)>,
    pub value: Value,
    pub span: Span,
}

/// Match `args` against `specs`: positional first, then by name; fill defaults;
/// convert (int → float, int → pair) and range-check. Returns one value per spec.
pub fn bind(
    callee: &str,
    specs: &[ParamSpec],
    args: Vec<ArgValue>,
    call: Span,
) -> Result<Vec<Value>, Diagnostic> {
    let mut slots: Vec<Option<(Value, Span)>> = vec![None; specs.len()];
    let variadic = specs.len() == 1 && specs[0].ty == ArgTy::Tensors;
    if variadic {
        return bind_variadic(callee, args, call);
    }
    let mut next_positional = 0;
    for arg in args {
        let idx = match &arg.name {
            None => {
                if next_positional >= specs.len() {
                    return Err(
                        Diagnostic::error(format!("too many arguments to `{callee}`"))
                            .at(
                                arg.span,
                                format!("`{callee}` takes at most {} argument(s)", specs.len()),
                            )
                            .with_help(signature_help(callee, specs)),
                    );
                }
                next_positional += 1;
                next_positional - 1
            }
            Some((name, span)) => match specs.iter().position(|s| s.name == name) {
                Some(i) => i,
                None => {
                    let names: Vec<&str> = specs.iter().map(|s| s.name).collect();
                    let mut d = Diagnostic::error(format!("`{callee}` has no parameter `{name}`"))
                        .at(*span, "unknown parameter");
                    d = match super::suggest(name, names.iter().copied()) {
                        Some(s) => d.with_help(format!(
                            "did you mean `{s}`? {}",
                            signature_help(callee, specs)
                        )),
                        None => d.with_help(signature_help(callee, specs)),
                    };
                    return Err(d);
                }
            },
        };
        if slots[idx].is_some() {
            return Err(Diagnostic::error(format!(
                "argument `{}` of `{callee}` is given twice",
                specs[idx].name
            ))
            .at(arg.span, "given again here"));
        }
        slots[idx] = Some((arg.value, arg.span));
    }
    let mut out: Vec<Value> = Vec::with_capacity(specs.len());
    for (i, spec) in specs.iter().enumerate() {
        let value = match slots[i].take() {
            Some((v, span)) => convert(callee, spec, v, span)?,
            None => match spec.default {
                DefaultArg::Required => {
                    return Err(Diagnostic::error(format!(
                        "missing argument `{}` of `{callee}`",
                        spec.name
                    ))
                    .at(
                        call,
                        format!("`{}` ({}) is required", spec.name, spec.ty.describe()),
                    )
                    .with_help(signature_help(callee, specs)));
                }
                DefaultArg::Int(v) => convert(callee, spec, Value::Int(v), call)?,
                DefaultArg::Float(v) => Value::Float(v),
                DefaultArg::Flag(b) => Value::Bool(b),
                DefaultArg::Str(s) => Value::Str(s.to_string()),
                DefaultArg::FloatPair(a, b) => Value::List(vec![Value::Float(a), Value::Float(b)]),
                DefaultArg::Op(op) => Value::Func(Func::Op(op)),
                DefaultArg::SameAs(other) => {
                    let j = specs
                        .iter()
                        .position(|s| s.name == other)
                        .expect("SameAs names an earlier spec");
                    out[j].clone()
                }
            },
        };
        out.push(value);
    }
    Ok(out)
}

fn bind_variadic(callee: &str, args: Vec<ArgValue>, call: Span) -> Result<Vec<Value>, Diagnostic> {
    if let Some(a) = args.iter().find(|a| a.name.is_some()) {
        return Err(Diagnostic::error(format!(
            "`{callee}` takes only tensors, no named arguments"
        ))
        .at(a.span, "named argument"));
    }
    let mut tensors = Vec::new();
    let single_list = args.len() == 1 && matches!(args[0].value, Value::List(_));
    for a in args {
        let items = match (single_list, a.value) {
            (true, Value::List(items)) => items,
            (_, v) => vec![v],
        };
        for v in items {
            if !matches!(v, Value::Tensor(_)) {
                return Err(Diagnostic::error(format!(
                    "`{callee}` expects tensors, got {} {}",
                    super::value::article(v.type_name()),
                    v.type_name()
                ))
                .at(
                    a.span,
                    format!(
                        "this is {} {}",
                        super::value::article(v.type_name()),
                        v.type_name()
                    ),
                ));
            }
            tensors.push(v);
        }
    }
    if tensors.len() < 2 {
        return Err(Diagnostic::error(format!(
            "`{callee}` needs at least two tensors, got {}",
            tensors.len()
        ))
        .at(call, "too few inputs"));
    }
    Ok(vec![Value::List(tensors)])
}

/// `conv(x, channels, k, stride = 1, pad = 0, groups = 1, bias = true)`.
pub fn signature_help(callee: &str, specs: &[ParamSpec]) -> String {
    let params: Vec<String> = specs
        .iter()
        .map(|s| match s.default {
            DefaultArg::Required => s.name.to_string(),
            DefaultArg::Int(v) => format!("{} = {v}", s.name),
            DefaultArg::Float(v) => format!("{} = {v:?}", s.name),
            DefaultArg::Flag(v) => format!("{} = {v}", s.name),
            DefaultArg::Str(v) => format!("{} = \"{v}\"", s.name),
            DefaultArg::FloatPair(a, b) => format!("{} = [{a:?}, {b:?}]", s.name),
            DefaultArg::Op(op) => format!("{} = {}", s.name, op.name()),
            DefaultArg::SameAs(o) => format!("{} = {o}", s.name),
        })
        .collect();
    format!("signature: {callee}({})", params.join(", "))
}

fn convert(callee: &str, spec: &ParamSpec, v: Value, span: Span) -> Result<Value, Diagnostic> {
    let bad = |v: &Value| {
        Diagnostic::error(format!(
            "argument `{}` of `{callee}` must be {}, got {}",
            spec.name,
            spec.ty.describe(),
            describe_value(v)
        ))
        .at(span, format!("expected {}", spec.ty.describe()))
    };
    let num = |v: &Value| v.as_f64();
    let ok = match spec.ty {
        ArgTy::Tensor => matches!(v, Value::Tensor(_)),
        ArgTy::Tensors => unreachable!("variadic arguments are bound by bind_variadic"),
        ArgTy::PosInt => matches!(v, Value::Int(i) if i > 0),
        ArgTy::NonNegInt => matches!(v, Value::Int(i) if i >= 0),
        ArgTy::PosPair | ArgTy::NonNegPair => {
            let min = if spec.ty == ArgTy::PosPair { 1 } else { 0 };
            let pair = match &v {
                Value::Int(i) => Some(vec![Value::Int(*i), Value::Int(*i)]),
                Value::List(items)
                    if items.len() == 2 && items.iter().all(|x| matches!(x, Value::Int(_))) =>
                {
                    Some(items.clone())
                }
                _ => None,
            };
            match pair {
                Some(p) if p.iter().all(|x| matches!(x, Value::Int(i) if *i >= min)) => {
                    return Ok(Value::List(p));
                }
                _ => false,
            }
        }
        ArgTy::PosIntOrPair => match &v {
            Value::Int(i) => *i > 0,
            Value::List(items) => {
                items.len() == 2 && items.iter().all(|x| matches!(x, Value::Int(i) if *i > 0))
            }
            _ => false,
        },
        ArgTy::ProbList | ArgTy::PosFloatList => match &v {
            Value::List(items) if !items.is_empty() => {
                let xs: Vec<Option<f64>> = items.iter().map(num).collect();
                if xs.iter().all(|x| match (x, spec.ty) {
                    (Some(x), ArgTy::ProbList) => (0.0..=1.0).contains(x),
                    (Some(x), _) => *x > 0.0 && x.is_finite(),
                    (None, _) => false,
                }) {
                    return Ok(Value::List(
                        xs.into_iter()
                            .map(|x| Value::Float(x.unwrap_or(0.0)))
                            .collect(),
                    ));
                }
                false
            }
            _ => false,
        },
        ArgTy::PosFloat | ArgTy::NonNegFloat | ArgTy::Prob => match num(&v) {
            Some(x) if x.is_finite() => {
                let in_range = match spec.ty {
                    ArgTy::PosFloat => x > 0.0,
                    ArgTy::NonNegFloat => x >= 0.0,
                    _ => (0.0..=1.0).contains(&x),
                };
                if in_range {
                    return Ok(Value::Float(x));
                }
                false
            }
            _ => false,
        },
        ArgTy::ProbPair | ArgTy::PosFloatPair => match &v {
            Value::List(items) if items.len() == 2 => match (num(&items[0]), num(&items[1])) {
                (Some(a), Some(b)) if a <= b && b.is_finite() => {
                    let in_range = if spec.ty == ArgTy::ProbPair {
                        a >= 0.0 && b <= 1.0
                    } else {
                        a > 0.0
                    };
                    if in_range {
                        return Ok(Value::List(vec![Value::Float(a), Value::Float(b)]));
                    }
                    false
                }
                _ => false,
            },
            _ => false,
        },
        ArgTy::PosIntList => {
            matches!(&v, Value::List(items) if items.iter().all(|x| matches!(x, Value::Int(i) if *i > 0)))
        }
        ArgTy::Bool => matches!(v, Value::Bool(_)),
        ArgTy::Choice(cs) => matches!(&v, Value::Str(s) if cs.contains(&s.as_str())),
        ArgTy::Activation => matches!(&v, Value::Func(Func::Op(op)) if op.is_activation()),
    };
    if ok { Ok(v) } else { Err(bad(&v)) }
}

fn describe_value(v: &Value) -> String {
    match v {
        Value::Tensor(_) | Value::Func(_) | Value::Config(_) => {
            format!("{} {}", super::value::article(v.type_name()), v.type_name())
        }
        _ => format!("{} ({})", v, v.type_name()),
    }
}
