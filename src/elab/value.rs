//! The values the elaborator computes with: numbers, lists, records, tensors, functions.
//!
//! A `.net` program runs at compile time. Its values are either plain data
//! (hyper-parameters, loop counters) or [`Value::Tensor`] handles to IR nodes; calling
//! an op on tensors adds nodes to the graph. Functions are first-class so that
//! `act = relu` can be passed around and applied (`x |> act`).

use super::builtins::{OpKind, RecipeKind};
use crate::ir::NodeId;
use std::fmt;

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    List(Vec<Value>),
    /// `{ key: value, ... }` in source order.
    Record(Vec<(String, Value)>),
    /// A tensor: a node of the graph being built.
    Tensor(NodeId),
    Func(Func),
    /// The result of a recipe constructor such as `sgd(lr = 0.1)`: its name and its
    /// arguments, every default filled in.
    Config(Config),
}

/// Something callable.
#[derive(Clone, Debug, PartialEq)]
pub enum Func {
    /// A built-in tensor op (`conv`, `relu`, ...).
    Op(OpKind),
    /// A user-defined block, by name.
    Block(String),
    /// A recipe constructor (`sgd`, `multistep`, `hflip`, ...).
    Recipe(RecipeKind),
    /// A built-in function on plain values (`len`, `channels`, `min`, ...).
    Builtin(&'static str),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub name: &'static str,
    pub args: Vec<(&'static str, Value)>,
}

impl Config {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.args.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
}

impl Value {
    /// The type's name as diagnostics spell it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Bool(_) => "bool",
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Record(_) => "record",
            Value::Tensor(_) => "tensor",
            Value::Func(_) => "function",
            Value::Config(_) => "recipe item",
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// Whether a `--set` value of this kind may replace `default`: same type, ints
    /// where floats are expected, and lists element by element.
    pub fn fits_type_of(&self, default: &Value) -> bool {
        match (self, default) {
            (Value::Int(_), Value::Float(_)) => true,
            (Value::List(a), Value::List(b)) => match b.first() {
                Some(proto) => a.iter().all(|v| v.fits_type_of(proto)),
                None => true,
            },
            (Value::Func(Func::Op(a)), Value::Func(Func::Op(b))) => {
                a.is_activation() == b.is_activation()
            }
            (a, b) => std::mem::discriminant(a) == std::mem::discriminant(b),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x:?}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Str(s) => write!(f, "\"{s}\""),
            Value::List(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Value::Record(entries) => {
                f.write_str("{")?;
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, " {k}: {v}")?;
                }
                f.write_str(" }")
            }
            Value::Tensor(id) => write!(f, "tensor {id}"),
            Value::Func(func) => match func {
                Func::Op(op) => f.write_str(op.name()),
                Func::Block(name) => f.write_str(name),
                Func::Recipe(r) => f.write_str(r.name()),
                Func::Builtin(name) => f.write_str(name),
            },
            Value::Config(c) => {
                write!(f, "{}(", c.name)?;
                for (i, (k, v)) in c.args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k} = {v}")?;
                }
                f.write_str(")")
            }
        }
    }
}

/// `a` or `an`, for a type name in a message ("an int", "a float").
pub fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}
