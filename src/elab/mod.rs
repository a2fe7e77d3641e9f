//! Stage 2 — elaboration: [`Program`] (AST + imports) → IR [`Graph`] + [`Recipe`].
//!
//! Input: a loaded program and the `--set name=value` overrides.
//! Output: [`Elaborated`]: the model's dataflow graph with every shape inferred, the
//! resolved hyper-parameters, the typed training recipe, and warnings.
//!
//! The model body runs at compile time: loops unroll, conditionals pick a branch,
//! blocks expand inline. Ops on tensors add IR nodes, and their shape rules run at
//! once, so input channel counts are never written by the user — they are read off
//! the incoming tensor — and any mismatch is reported at the call that caused it.
//!
//! Architecture invariants:
//! * Elaboration either fails with diagnostics or returns a graph that passes
//!   [`crate::ir::verify`].
//! * Layer and parameter names depend only on the program's structure (labels,
//!   block nesting and call order), never on evaluation details like node ids.

mod builtins;
mod eval;
pub mod program;
pub mod recipe;
pub mod source_file;
pub mod value;

pub use builtins::{OpKind, RecipeKind};
pub use eval::snake_case;
pub use program::{Program, load, load_str};
pub use recipe::Recipe;
pub use value::Value;

use crate::diag::{Diagnostic, Diagnostics, Sources, Span};
use crate::ir::{Graph, Op, verify};
use crate::syntax;

/// The result of elaboration.
#[derive(Debug)]
pub struct Elaborated {
    pub graph: Graph,
    /// The model's hyper-parameters after `--set`, in declaration order.
    pub hparams: Vec<(String, Value)>,
    pub recipe: Recipe,
    pub warnings: Vec<Diagnostic>,
}

/// Elaborate the program's model. `overrides` are `name=value` strings from `--set`.
pub fn elaborate(
    program: &Program,
    sources: &mut Sources,
    overrides: &[String],
) -> Result<Elaborated, Diagnostics> {
    let model = program.model()?;
    let mut ev = eval::Evaluator::new(program, &model.name.name);

    // Hyper-parameters: defaults, then overrides checked against them.
    let mut hparams: Vec<(String, Value, Option<Span>)> = Vec::new();
    for p in &model.params {
        let v = match &p.default {
            Some(d) => Some(ev.eval_const(d)?),
            None => None,
        };
        hparams.push((
            p.name.name.clone(),
            v.unwrap_or(Value::Bool(false)),
            p.default.as_ref().map(|d| d.span),
        ));
        if p.default.is_none()
            && !overrides
                .iter()
                .any(|o| o.split('=').next() == Some(&p.name.name))
        {
            return Err(Diagnostic::error(format!(
                "model parameter `{}` has no default",
                p.name.name
            ))
            .at(p.name.span, "no default value")
            .with_help(format!(
                "give it one here, or pass `--set {}=...`",
                p.name.name
            ))
            .into());
        }
    }
    for o in overrides {
        let id = sources.add(format!("--set {o}"), o.clone());
        let Some((name, value)) = o.split_once('=') else {
            return Err(
                Diagnostic::error(format!("`--set {o}` is not of the form name=value"))
                    .at(Span::new(id, 0, o.len()), "expected name=value")
                    .into(),
            );
        };
        let name_span = Span::new(id, 0, name.len());
        let name = name.trim();
        let Some(slot) = hparams.iter_mut().find(|(n, _, _)| n == name) else {
            let mut d = Diagnostic::error(format!(
                "model `{}` has no parameter `{name}`",
                model.name.name
            ))
            .at(name_span, "unknown parameter");
            let names: Vec<&str> = model.params.iter().map(|p| p.name.name.as_str()).collect();
            d = match suggest(name, names.iter().copied()) {
                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                None => d.with_help(format!("the parameters are: {}", names.join(", "))),
            };
            return Err(d.into());
        };
        // Pad with spaces so the value's spans line up with the whole `name=value` text.
        let padded = format!("{}{}", " ".repeat(o.len() - value.len()), value);
        let expr = syntax::parse_expr(&padded, id)?;
        let v = ev.eval_const(&expr)?;
        let has_default = slot.2.is_some();
        if has_default && !v.fits_type_of(&slot.1) {
            return Err(Diagnostic::error(format!(
                "`--set {name}` expects a value like the default {}, got {}",
                slot.1,
                eval::describe(&v)
            ))
            .at(expr.span, format!("expected {}", expected_like(&slot.1)))
            .into());
        }
        slot.1 = v;
    }
    let hparams: Vec<(String, Value)> = hparams.into_iter().map(|(n, v, _)| (n, v)).collect();

    ev.run_model(model, &hparams)?;
    let graph = std::mem::take(&mut ev.graph);
    if let Err(e) = verify(&graph) {
        // A verifier failure after elaboration is a compiler bug; report it as such.
        return Err(Diagnostic::error(format!("internal compiler error: {e}")).into());
    }

    let mut recipe = Recipe::default();
    if let Some(train) = &program.file.train {
        let mut seen: Vec<&str> = Vec::new();
        for s in &train.settings {
            if seen.contains(&s.key.name.as_str()) {
                return Err(Diagnostic::error(format!(
                    "training setting `{}` is given twice",
                    s.key.name
                ))
                .at(s.key.span, "repeated")
                .into());
            }
            seen.push(&s.key.name);
            let v = ev.eval_with(&hparams, &s.value)?;
            recipe::apply(&mut recipe, &s.key.name, s.key.span, v, s.value.span)?;
            if matches!(s.key.name.as_str(), "augment" | "eval_transform") {
                check_transform_size(&graph, &recipe, &s.key.name, s.value.span)?;
            }
        }
    }

    let warnings = unused_values(&graph);
    Ok(Elaborated {
        graph,
        hparams,
        recipe,
        warnings,
    })
}

/// A transform list whose output size is fixed (it ends in a crop or an exact resize)
/// must produce the model's image input: a mismatch is an error at the list, found
/// before any image is read. Lists whose size follows the data are checked against the
/// dataset by `train::preflight`.
fn check_transform_size(
    graph: &Graph,
    recipe: &Recipe,
    key: &str,
    span: Span,
) -> Result<(), Diagnostic> {
    let list = if key == "augment" {
        &recipe.augment
    } else {
        &recipe.eval_transform
    };
    let inputs = graph.inputs_of_model();
    let Some((_, h, w)) = inputs.first().and_then(|&i| graph.node(i).ty.chw()) else {
        return Ok(());
    };
    match recipe::output_size(list, None) {
        Some((oh, ow)) if (oh as usize, ow as usize) != (h, w) => Err(Diagnostic::error(
            format!(
                "`{key}` produces {oh}x{ow} images, but the model's input is {h}x{w}"
            ),
        )
        .at(span, format!("these transforms end at {oh}x{ow}"))
        .with_help(format!(
            "end the list with a transform of size {h}x{w}, e.g. `center_crop({h})` or `resize([{h}, {w}])`"
        ))),
        _ => Ok(()),
    }
}

/// A warning for each computed value nobody uses (reported once per dead chain: only
/// the values with no users at all, not everything feeding them).
fn unused_values(g: &Graph) -> Vec<Diagnostic> {
    g.node_ids()
        .filter(|&id| !matches!(g.node(id).op, Op::Param { .. } | Op::Output { .. }))
        .filter(|&id| g.users(id).is_empty())
        .map(|id| {
            let n = g.node(id);
            let what = match &n.op {
                Op::Input { name } => format!("input `{name}` is never used"),
                op => format!("the result of `{}` is never used", op.name()),
            };
            Diagnostic::warning(what)
                .at(n.span, "unused value")
                .with_help("remove it, or use it (e.g. return it or add it to another tensor)")
        })
        .collect()
}

/// The candidate closest to `name` by edit distance, if it is close enough to be a typo.
pub fn suggest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, c)| (*d, *c))
        .map(|(_, c)| c)
}

/// Edit distance counting a swap of two adjacent characters as one edit (`widht` →
/// `width`), the commonest typo (optimal string alignment distance).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut before: Vec<usize> = Vec::new();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, &ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
            if i > 0 && j > 0 && ca == b[j - 1] && a[i - 1] == cb {
                cur[j + 1] = cur[j + 1].min(before[j - 1] + 1);
            }
        }
        before = std::mem::replace(&mut prev, cur);
    }
    prev[b.len()]
}

/// What a `--set` value must be, judged by the default it replaces.
fn expected_like(default: &Value) -> String {
    match default {
        Value::Func(value::Func::Op(op)) if op.is_activation() => builtins::activation_kind(),
        other => format!(
            "{} {}",
            value::article(other.type_name()),
            other.type_name()
        ),
    }
}
