//! The AST's text form (`netc compile --emit ast`): canonical `.net` source.
//!
//! The printer writes every construct in one canonical layout and adds the
//! parentheses that precedence requires, so `parse(print(ast))` gives back the same
//! tree (spans aside). A property test holds it to that.

use super::ast::*;
use std::fmt::Write;

/// Print a whole file as canonical source.
pub fn print_file(file: &File) -> String {
    let mut p = Printer::default();
    for u in &file.uses {
        // Verbatim: the grammar has no escapes, so `{:?}` would double backslashes.
        let _ = writeln!(p.out, "use \"{}\"", u.path);
    }
    if !file.uses.is_empty() {
        p.out.push('\n');
    }
    for def in file.models.iter().chain(&file.blocks) {
        p.def(def);
        p.out.push('\n');
    }
    if let Some(train) = &file.train {
        p.out.push_str("train {\n");
        for s in &train.settings {
            let _ = writeln!(p.out, "  {} = {}", s.key.name, expr_to_string(&s.value));
        }
        p.out.push_str("}\n");
    }
    p.out
}

/// Print one expression as canonical source.
pub fn expr_to_string(e: &Expr) -> String {
    let mut s = String::new();
    write_expr(&mut s, e, 0);
    s
}

#[derive(Default)]
struct Printer {
    out: String,
    indent: usize,
}

impl Printer {
    fn line(&mut self, text: &str) {
        for _ in 0..self.indent {
            self.out.push_str("  ");
        }
        self.out.push_str(text);
        self.out.push('\n');
    }

    fn def(&mut self, def: &Def) {
        let kw = match def.kind {
            DefKind::Block => "block",
            DefKind::Model => "model",
        };
        let params: Vec<String> = def
            .params
            .iter()
            .map(|p| match &p.default {
                Some(d) => format!("{} = {}", p.name.name, expr_to_string(d)),
                None => p.name.name.clone(),
            })
            .collect();
        self.line(&format!("{kw} {}({}) {{", def.name.name, params.join(", ")));
        self.stmts(&def.body);
        self.line("}");
    }

    fn stmts(&mut self, stmts: &[Stmt]) {
        self.indent += 1;
        for s in stmts {
            self.stmt(s);
        }
        self.indent -= 1;
    }

    /// The end of an `if` statement: an `else if` chain stays flat, as it was written
    /// (nested blocks would nest deeper than the parser's limit on a long chain).
    fn else_branch(&mut self, otherwise: &[Stmt]) {
        match otherwise {
            [] => self.line("}"),
            [
                Stmt::If {
                    cond,
                    then,
                    otherwise,
                    ..
                },
            ] => {
                self.line(&format!("}} else if {} {{", expr_to_string(cond)));
                self.stmts(then);
                self.else_branch(otherwise);
            }
            _ => {
                self.line("} else {");
                self.stmts(otherwise);
                self.line("}");
            }
        }
    }

    fn stmt(&mut self, stmt: &Stmt) {
        match stmt {
            Stmt::Input { name, shape, .. } => {
                self.line(&format!("input {}: {}", name.name, expr_to_string(shape)))
            }
            Stmt::Assign { name, value } => {
                self.line(&format!("{} = {}", name.name, expr_to_string(value)))
            }
            Stmt::For {
                var, iter, body, ..
            } => {
                self.line(&format!("for {} in {} {{", var.name, expr_to_string(iter)));
                self.stmts(body);
                self.line("}");
            }
            Stmt::If {
                cond,
                then,
                otherwise,
                ..
            } => {
                self.line(&format!("if {} {{", expr_to_string(cond)));
                self.stmts(then);
                self.else_branch(otherwise);
            }
            Stmt::Return { value, .. } => self.line(&format!("return {}", expr_to_string(value))),
        }
    }
}

/// Binding strength of an operator; higher binds tighter (matches parse.rs).
fn prec(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Pipe(..) => 1,
        ExprKind::Binary(op, ..) => match op {
            BinOp::Or => 2,
            BinOp::And => 3,
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => 4,
            BinOp::Range => 5,
            BinOp::Add | BinOp::Sub => 6,
            BinOp::Mul | BinOp::Div | BinOp::Rem => 7,
        },
        ExprKind::Unary(..) => 8,
        // `if` has no closing token of its own at the end, so it is wrapped whenever nested.
        ExprKind::If(..) => 0,
        _ => 9,
    }
}

/// Write `e`, parenthesised if it binds looser than `min`.
fn write_expr(s: &mut String, e: &Expr, min: u8) {
    // Postfix chains (`x[0][0]...`) recurse once per link; see [`Expr`].
    deep(|| write_expr_at(s, e, min))
}

fn write_expr_at(s: &mut String, e: &Expr, min: u8) {
    let p = prec(e);
    let wrap = p < min;
    if wrap {
        s.push('(');
    }
    match &e.kind {
        ExprKind::Int(v) => {
            let _ = write!(s, "{v}");
        }
        ExprKind::Float(v) => s.push_str(&float_literal(*v)),
        ExprKind::Bool(b) => {
            let _ = write!(s, "{b}");
        }
        ExprKind::Str(v) => {
            let _ = write!(s, "\"{v}\"");
        }
        ExprKind::Var(v) => s.push_str(v),
        ExprKind::List(items) => {
            s.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                write_expr(s, item, 1);
            }
            s.push(']');
        }
        ExprKind::Record(entries) => {
            s.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                let _ = write!(s, " {}: ", k.name);
                write_expr(s, v, 1);
            }
            s.push_str(if entries.is_empty() { "}" } else { " }" });
        }
        ExprKind::Unary(op, inner) => {
            s.push(match op {
                UnOp::Neg => '-',
                UnOp::Not => '!',
            });
            // `- -x` must not print as `--x`; always wrap a nested prefix or negative literal.
            let nested = matches!(inner.kind, ExprKind::Unary(..))
                || matches!(inner.kind, ExprKind::Int(v) if v < 0)
                || matches!(inner.kind, ExprKind::Float(v) if v < 0.0);
            write_expr(s, inner, if nested { 9 } else { 8 });
        }
        ExprKind::Binary(..) | ExprKind::Pipe(..) => write_chain(s, e, p),
        ExprKind::Call { callee, args } => {
            write_expr(s, callee, 9);
            s.push('(');
            for (i, a) in args.iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                if let Some(n) = &a.name {
                    let _ = write!(s, "{} = ", n.name);
                }
                write_expr(s, &a.value, 1);
            }
            s.push(')');
        }
        ExprKind::Index(base, idx) => {
            write_expr(s, base, 9);
            s.push('[');
            write_expr(s, idx, 1);
            s.push(']');
        }
        ExprKind::Field(base, name) => {
            write_expr(s, base, 9);
            let _ = write!(s, ".{}", name.name);
        }
        ExprKind::If(c, a, b) => {
            s.push_str("if ");
            write_expr(s, c, 1);
            s.push_str(" { ");
            write_expr(s, a, 1);
            // An `else if` chain stays flat, as it was written: braces and parentheses
            // around each link would nest past the parser's limit on a long chain.
            if matches!(b.kind, ExprKind::If(..)) {
                s.push_str(" } else ");
                write_expr(s, b, 0);
            } else {
                s.push_str(" } else { ");
                write_expr(s, b, 1);
                s.push_str(" }");
            }
        }
        ExprKind::Label(inner, name) => {
            write_expr(s, inner, 9);
            let _ = write!(s, " as {}", name.name);
        }
    }
    if wrap {
        s.push(')');
    }
}

/// A binary operator or pipe of precedence `p`, with the links of its left operand that
/// share that precedence: `a + b - c` is a left-deep tree as deep as the chain is long,
/// and since equal-precedence left operands need no parentheses, the whole chain is
/// written in a loop rather than by recursion.
fn write_chain(s: &mut String, e: &Expr, p: u8) {
    fn link(e: &Expr) -> Option<(&'static str, &Expr, &Expr)> {
        match &e.kind {
            ExprKind::Binary(op, l, r) => Some((op.symbol(), l, r)),
            ExprKind::Pipe(l, r) => Some(("|>", l, r)),
            _ => None,
        }
    }
    let mut rights = Vec::new();
    let mut left = e;
    while let Some((symbol, l, r)) = link(left) {
        rights.push((symbol, r));
        left = l;
        if prec(left) != p {
            break;
        }
    }
    // Left-associative: the right operands need a strictly tighter binding.
    write_expr(s, left, p);
    for (symbol, r) in rights.into_iter().rev() {
        let _ = write!(s, " {symbol} ");
        write_expr(s, r, p + 1);
    }
}

/// A float literal that reads back as the same float (and as a float, not an int).
fn float_literal(v: f64) -> String {
    if v == f64::INFINITY {
        // A literal too large for f64 (`1e400`) parses as infinity; print one back.
        return "1e999".to_string();
    }
    if !v.is_finite() {
        // Not expressible as a literal; the parser never produces these from source.
        return format!("{v}");
    }
    let s = format!("{v:?}");
    if s.contains('.') || s.contains('e') || s.contains('E') {
        s
    } else {
        format!("{s}.0")
    }
}
