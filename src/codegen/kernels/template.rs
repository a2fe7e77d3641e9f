//! A deliberately tiny template engine for the WGSL files in `shaders/`.
//!
//! Kernels are written as real WGSL files with `{{NAME}}` placeholders for compile-time
//! constants (shapes, strides, tile sizes), and two line-level block directives, each on a line
//! of its own:
//!
//! * `{{#if FLAG}}` … `{{/if}}` (or `{{#if !FLAG}}`) keeps or drops lines, e.g. a bias binding;
//! * `{{#for i in COUNT}}` … `{{/for}}` repeats lines for `i = 0..COUNT`, substituting `{{i}}`.
//!   This is how register tiles are unrolled: WGSL has no unroll pragma, and a shader compiler
//!   that does not fully unroll a `for` over a private array must keep that array in memory (on
//!   lavapipe every dynamically indexed private array becomes a per-lane stack slot, which made
//!   the conv inner loop ~10x slower). With `{{#for}}` every tile index is a literal.
//!
//! Keeping the shader text in `.wgsl` files (instead of building it with `format!` in Rust)
//! means a reviewer reads the kernel as one piece of WGSL and the Rust side only decides
//! *values*.
//!
//! The engine is strict so that templates and generators cannot drift apart: a placeholder with no
//! value, a value no placeholder uses, an unknown flag and an unbalanced block are all errors.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;

use super::KernelError;

/// Values, flags and loop counts for one rendering of a template.
#[derive(Debug, Default, Clone)]
pub struct Vars {
    values: BTreeMap<&'static str, String>,
    flags: BTreeMap<&'static str, bool>,
    counts: BTreeMap<&'static str, u32>,
}

impl Vars {
    /// An empty set of values.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `{{key}}` to the `Display` form of `value` (integers, pre-rendered snippets).
    pub fn set(mut self, key: &'static str, value: impl Display) -> Self {
        self.values.insert(key, value.to_string());
        self
    }

    /// Sets `{{key}}` to a WGSL `u32` literal (`12u`).
    pub fn u32(self, key: &'static str, value: u32) -> Self {
        self.set(key, format!("{value}u"))
    }

    /// Sets `{{key}}` to a WGSL `i32` literal (`-1i`).
    pub fn i32(self, key: &'static str, value: i32) -> Self {
        self.set(key, format!("{value}i"))
    }

    /// Sets `{{key}}` to a WGSL `f32` literal. Non-finite values cannot be written as WGSL
    /// literals and are rejected by the generators before they get here.
    pub fn f32(self, key: &'static str, value: f32) -> Self {
        self.set(key, wgsl_f32(value))
    }

    /// Sets `{{key}}` to `true`/`false` for use as a WGSL `bool` constant.
    pub fn bool(self, key: &'static str, value: bool) -> Self {
        self.set(key, value)
    }

    /// Sets the flag tested by `{{#if key}}` blocks.
    pub fn flag(mut self, key: &'static str, on: bool) -> Self {
        self.flags.insert(key, on);
        self
    }

    /// Sets the trip count of `{{#for _ in key}}` blocks.
    pub fn count(mut self, key: &'static str, n: u32) -> Self {
        self.counts.insert(key, n);
        self
    }
}

/// Formats an f32 as a WGSL literal that round-trips exactly (`{:?}` prints the shortest string
/// that parses back to the same f32) and always has a `.` or exponent so WGSL reads it as a float.
pub fn wgsl_f32(value: f32) -> String {
    let s = format!("{value:?}");
    if s.contains(['.', 'e', 'E']) {
        format!("{s}f")
    } else {
        format!("{s}.0f")
    }
}

/// A parsed template: lines and nested blocks.
enum Node<'t> {
    Line {
        line: usize,
        text: &'t str,
    },
    If {
        flag: &'t str,
        negate: bool,
        line: usize,
        body: Vec<Node<'t>>,
    },
    For {
        var: &'t str,
        count: &'t str,
        line: usize,
        body: Vec<Node<'t>>,
    },
}

/// Bookkeeping shared by the recursive renderer.
struct Ctx<'a> {
    name: &'a str,
    vars: &'a Vars,
    used_values: BTreeSet<String>,
    used_flags: BTreeSet<String>,
    used_counts: BTreeSet<String>,
}

impl Ctx<'_> {
    fn err(&self, line: usize, message: String) -> KernelError {
        KernelError::Template {
            template: self.name.to_string(),
            line,
            message,
        }
    }
}

fn parse<'t>(ctx: &Ctx<'_>, text: &'t str) -> Result<Vec<Node<'t>>, KernelError> {
    // Stack of open blocks; the bottom entry collects the top-level nodes.
    let mut stack: Vec<(Node<'t>, Vec<Node<'t>>)> = Vec::new();
    let mut top = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        let directive = |prefix: &str| {
            trimmed
                .strip_prefix(prefix)
                .and_then(|r| r.strip_suffix("}}"))
                .map(str::trim)
        };
        if let Some(flag) = directive("{{#if ") {
            let (flag, negate) = flag.strip_prefix('!').map_or((flag, false), |f| (f, true));
            stack.push((
                Node::If {
                    flag,
                    negate,
                    line,
                    body: Vec::new(),
                },
                Vec::new(),
            ));
        } else if let Some(spec) = directive("{{#for ") {
            let (var, count) = spec.split_once(" in ").ok_or_else(|| {
                ctx.err(
                    line,
                    format!("expected `{{{{#for VAR in COUNT}}}}`, got `{trimmed}`"),
                )
            })?;
            stack.push((
                Node::For {
                    var: var.trim(),
                    count: count.trim(),
                    line,
                    body: Vec::new(),
                },
                Vec::new(),
            ));
        } else if trimmed == "{{/if}}" || trimmed == "{{/for}}" {
            let (mut node, body) = stack
                .pop()
                .ok_or_else(|| ctx.err(line, format!("`{trimmed}` closes nothing")))?;
            match (&mut node, trimmed) {
                (Node::If { body: b, .. }, "{{/if}}") | (Node::For { body: b, .. }, "{{/for}}") => {
                    *b = body
                }
                _ => return Err(ctx.err(line, format!("`{trimmed}` closes the wrong block"))),
            }
            match stack.last_mut() {
                Some((_, parent)) => parent.push(node),
                None => top.push(node),
            }
        } else {
            let node = Node::Line { line, text: raw };
            match stack.last_mut() {
                Some((_, parent)) => parent.push(node),
                None => top.push(node),
            }
        }
    }
    if let Some((Node::If { line, .. } | Node::For { line, .. }, _)) = stack.last() {
        return Err(ctx.err(*line, "block is never closed".to_string()));
    }
    Ok(top)
}

fn emit(
    ctx: &mut Ctx<'_>,
    nodes: &[Node<'_>],
    scope: &mut Vec<(String, u32)>,
    out: &mut String,
) -> Result<(), KernelError> {
    for node in nodes {
        match node {
            Node::Line { line, text } => {
                let mut rest = *text;
                while let Some(start) = rest.find("{{") {
                    out.push_str(&rest[..start]);
                    let after = &rest[start + 2..];
                    let end = after
                        .find("}}")
                        .ok_or_else(|| ctx.err(*line, "unterminated `{{`".to_string()))?;
                    let key = after[..end].trim();
                    if let Some((_, i)) = scope.iter().rev().find(|(v, _)| v == key) {
                        out.push_str(&i.to_string());
                    } else {
                        let value = ctx.vars.values.get(key).ok_or_else(|| {
                            ctx.err(*line, format!("placeholder `{key}` has no value"))
                        })?;
                        out.push_str(value);
                        ctx.used_values.insert(key.to_string());
                    }
                    rest = &after[end + 2..];
                }
                out.push_str(rest);
                out.push('\n');
            }
            Node::If {
                flag,
                negate,
                line,
                body,
            } => {
                let value = *ctx
                    .vars
                    .flags
                    .get(flag)
                    .ok_or_else(|| ctx.err(*line, format!("flag `{flag}` has no value")))?;
                ctx.used_flags.insert(flag.to_string());
                if value != *negate {
                    emit(ctx, body, scope, out)?;
                } else {
                    mark_used(ctx, body);
                }
            }
            Node::For {
                var,
                count,
                line,
                body,
            } => {
                let n = *ctx
                    .vars
                    .counts
                    .get(count)
                    .ok_or_else(|| ctx.err(*line, format!("count `{count}` has no value")))?;
                ctx.used_counts.insert(count.to_string());
                if n == 0 {
                    mark_used(ctx, body);
                }
                for i in 0..n {
                    scope.push((var.to_string(), i));
                    emit(ctx, body, scope, out)?;
                    scope.pop();
                }
            }
        }
    }
    Ok(())
}

/// Marks what a skipped block references as used, so a value needed only by the other branch
/// of an `{{#if}}` is not reported as unused.
fn mark_used(ctx: &mut Ctx<'_>, nodes: &[Node<'_>]) {
    for node in nodes {
        match node {
            Node::Line { text, .. } => {
                let mut rest = *text;
                while let Some(start) = rest.find("{{") {
                    let after = &rest[start + 2..];
                    let Some(end) = after.find("}}") else { break };
                    ctx.used_values.insert(after[..end].trim().to_string());
                    rest = &after[end + 2..];
                }
            }
            Node::If { flag, body, .. } => {
                ctx.used_flags.insert(flag.to_string());
                mark_used(ctx, body);
            }
            Node::For { count, body, .. } => {
                ctx.used_counts.insert(count.to_string());
                mark_used(ctx, body);
            }
        }
    }
}

/// Renders `text` (the template called `name`, for error messages) with `vars`.
pub fn render(name: &str, text: &str, vars: &Vars) -> Result<String, KernelError> {
    let mut ctx = Ctx {
        name,
        vars,
        used_values: BTreeSet::new(),
        used_flags: BTreeSet::new(),
        used_counts: BTreeSet::new(),
    };
    let nodes = parse(&ctx, text)?;
    let mut out = String::with_capacity(text.len() + 256);
    emit(&mut ctx, &nodes, &mut Vec::new(), &mut out)?;
    // Anything set but never referenced means the generator and template disagree.
    let unused = |keys: Vec<&&'static str>, used: &BTreeSet<String>, kind: &str| {
        keys.into_iter()
            .find(|k| !used.contains(**k))
            .map(|k| ctx.err(0, format!("{kind} `{k}` is not used by the template")))
    };
    if let Some(e) = unused(vars.values.keys().collect(), &ctx.used_values, "value")
        .or_else(|| unused(vars.flags.keys().collect(), &ctx.used_flags, "flag"))
        .or_else(|| unused(vars.counts.keys().collect(), &ctx.used_counts, "count"))
    {
        return Err(e);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_and_filters_blocks() {
        let t = "a = {{A}};\n{{#if B}}\nb;\n{{/if}}\n{{#if !B}}\nnot b;\n{{/if}}\n";
        let on = render("t", t, &Vars::new().u32("A", 3).flag("B", true)).unwrap();
        assert_eq!(on, "a = 3u;\nb;\n");
        let off = render("t", t, &Vars::new().u32("A", 3).flag("B", false)).unwrap();
        assert_eq!(off, "a = 3u;\nnot b;\n");
    }

    #[test]
    fn rejects_missing_and_unused_values() {
        assert!(render("t", "{{A}}", &Vars::new()).is_err());
        assert!(render("t", "x", &Vars::new().u32("A", 1)).is_err());
        assert!(render("t", "x", &Vars::new().flag("F", true)).is_err());
        assert!(render("t", "{{#if F}}\nx\n", &Vars::new().flag("F", true)).is_err());
        assert!(render("t", "{{/if}}\n", &Vars::new()).is_err());
        assert!(
            render(
                "t",
                "{{#for i in N}}\nx\n{{/if}}\n",
                &Vars::new().count("N", 1)
            )
            .is_err()
        );
        assert!(render("t", "x\n", &Vars::new().count("N", 1)).is_err());
    }

    #[test]
    fn unrolls_nested_for_blocks() {
        let t =
            "{{#for i in N}}\n{{#for j in M}}\nacc[{{i}}][{{j}}] += {{S}};\n{{/for}}\n{{/for}}\n";
        let out = render("t", t, &Vars::new().count("N", 2).count("M", 2).u32("S", 1)).unwrap();
        assert_eq!(
            out,
            "acc[0][0] += 1u;\nacc[0][1] += 1u;\nacc[1][0] += 1u;\nacc[1][1] += 1u;\n"
        );
    }

    #[test]
    fn float_literals_are_wgsl() {
        assert_eq!(wgsl_f32(1.0), "1.0f");
        assert_eq!(wgsl_f32(0.01), "0.01f");
        assert_eq!(wgsl_f32(1e-5), "1e-5f");
        assert_eq!(wgsl_f32(-3.0), "-3.0f");
    }
}
