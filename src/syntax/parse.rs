//! Source text → AST, with pest doing the tokenising and a Pratt parser giving
//! operators their precedence.
//!
//! Precedence, loosest first: `|>`, `||`, `&&`, comparisons, `..`, `+ -`, `* / %`,
//! prefix `- !`, then postfix calls, indexing, fields and `as` labels.
//! A syntax error becomes one [`Diagnostic`] that points at the offending position and
//! says, in words, what was expected there.

use super::ast::*;
use super::nesting;
use crate::diag::{Diagnostic, FileId, Span};
use pest::Parser;
use pest::iterators::{Pair, Pairs};
use pest::pratt_parser::{Assoc, Op, PrattParser};
use std::sync::LazyLock;

#[derive(pest_derive::Parser)]
#[grammar = "grammar/net.pest"]
struct NetParser;

static PRATT: LazyLock<PrattParser<Rule>> = LazyLock::new(|| {
    PrattParser::new()
        .op(Op::infix(Rule::pipe, Assoc::Left))
        .op(Op::infix(Rule::or, Assoc::Left))
        .op(Op::infix(Rule::and, Assoc::Left))
        .op(Op::infix(Rule::eq, Assoc::Left)
            | Op::infix(Rule::ne, Assoc::Left)
            | Op::infix(Rule::lt, Assoc::Left)
            | Op::infix(Rule::le, Assoc::Left)
            | Op::infix(Rule::gt, Assoc::Left)
            | Op::infix(Rule::ge, Assoc::Left))
        .op(Op::infix(Rule::range, Assoc::Left))
        .op(Op::infix(Rule::add, Assoc::Left) | Op::infix(Rule::sub, Assoc::Left))
        .op(Op::infix(Rule::mul, Assoc::Left)
            | Op::infix(Rule::div, Assoc::Left)
            | Op::infix(Rule::rem, Assoc::Left))
        .op(Op::prefix(Rule::neg) | Op::prefix(Rule::not))
        .op(Op::postfix(Rule::call_args)
            | Op::postfix(Rule::index)
            | Op::postfix(Rule::field)
            | Op::postfix(Rule::label))
});

/// Parse a whole `.net` file.
pub fn parse_file(src: &str, file: FileId) -> Result<File, Diagnostic> {
    nesting::check(src, file)?;
    with_parser_stack(|| {
        let mut pairs = NetParser::parse(Rule::file, src).map_err(|e| syntax_error(e, file))?;
        let b = Builder { file };
        Ok(b.file(pairs.next().expect("the file rule always yields one pair")))
    })
}

/// Parse a stand-alone expression, e.g. the value of `--set name=value`.
pub fn parse_expr(src: &str, file: FileId) -> Result<Expr, Diagnostic> {
    nesting::check(src, file)?;
    with_parser_stack(|| {
        let mut pairs =
            NetParser::parse(Rule::lone_expr, src).map_err(|e| syntax_error(e, file))?;
        let b = Builder { file };
        let lone = pairs.next().expect("lone_expr yields one pair");
        Ok(b.expr(lone.into_inner().next().expect("lone_expr holds an expr")))
    })
}

/// Runs `f` with room for the parser's recursion, which [`nesting::check`] bounds to
/// [`nesting::MAX_NESTING`] levels: on the heap when the current thread (a test harness
/// thread has 2 MiB) has less left.
fn with_parser_stack<T>(f: impl FnOnce() -> T) -> T {
    stacker::maybe_grow(8 << 20, 16 << 20, f)
}

fn is_keyword(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::kw_use
            | Rule::kw_block
            | Rule::kw_model
            | Rule::kw_train
            | Rule::kw_input
            | Rule::kw_for
            | Rule::kw_in
            | Rule::kw_if
            | Rule::kw_else
            | Rule::kw_return
            | Rule::kw_as
            | Rule::EOI
    )
}

/// Children of a pair without the keyword tokens.
fn children(pair: Pair<'_, Rule>) -> impl Iterator<Item = Pair<'_, Rule>> {
    pair.into_inner().filter(|p| !is_keyword(p.as_rule()))
}

struct Builder {
    file: FileId,
}

impl Builder {
    fn span(&self, pair: &Pair<'_, Rule>) -> Span {
        let s = pair.as_span();
        Span::new(self.file, s.start(), s.end())
    }

    fn ident(&self, pair: Pair<'_, Rule>) -> Ident {
        debug_assert_eq!(pair.as_rule(), Rule::ident);
        Ident {
            name: pair.as_str().to_string(),
            span: self.span(&pair),
        }
    }

    fn file(&self, pair: Pair<'_, Rule>) -> File {
        let mut file = File::default();
        for item in children(pair) {
            let span = self.span(&item);
            match item.as_rule() {
                Rule::use_item => {
                    let s = children(item).next().expect("use has a string");
                    file.uses.push(Use {
                        path: unquote(s.as_str()),
                        span,
                    });
                }
                Rule::block_def => file.blocks.push(self.def(item, DefKind::Block)),
                Rule::model_def => file.models.push(self.def(item, DefKind::Model)),
                Rule::train_def => {
                    // A second `train` section is reported by the elaborator; keep the first.
                    let settings = children(item)
                        .map(|s| {
                            let mut it = children(s);
                            Setting {
                                key: self.ident(it.next().expect("setting key")),
                                value: self.expr(it.next().expect("setting value")),
                            }
                        })
                        .collect();
                    if file.train.is_none() {
                        file.train = Some(Train { settings, span });
                    }
                }
                r => unreachable!("unexpected item {r:?}"),
            }
        }
        file
    }

    fn def(&self, pair: Pair<'_, Rule>, kind: DefKind) -> Def {
        let span = self.span(&pair);
        let mut it = children(pair);
        let name = self.ident(it.next().expect("def name"));
        let params = children(it.next().expect("def params"))
            .map(|p| {
                let mut it = children(p);
                Param {
                    name: self.ident(it.next().expect("param name")),
                    default: it.next().map(|e| self.expr(e)),
                }
            })
            .collect();
        let body = self.body(it.next().expect("def body"));
        Def {
            kind,
            name,
            params,
            body,
            span,
        }
    }

    fn body(&self, pair: Pair<'_, Rule>) -> Vec<Stmt> {
        children(pair).map(|s| self.stmt(s)).collect()
    }

    fn stmt(&self, pair: Pair<'_, Rule>) -> Stmt {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        let mut it = children(pair);
        match rule {
            // pest's pair for a statement that ends in an expression also covers the
            // whitespace after it; end these spans at the expression instead.
            Rule::input_stmt => {
                let name = self.ident(it.next().expect("input name"));
                let shape = self.expr(it.next().expect("input shape"));
                Stmt::Input {
                    span: Span::new(self.file, span.start, shape.span.end),
                    name,
                    shape,
                }
            }
            Rule::assign_stmt => Stmt::Assign {
                name: self.ident(it.next().expect("assign name")),
                value: self.expr(it.next().expect("assign value")),
            },
            Rule::for_stmt => Stmt::For {
                var: self.ident(it.next().expect("for var")),
                iter: self.expr(it.next().expect("for iter")),
                body: self.body(it.next().expect("for body")),
                span,
            },
            Rule::if_stmt => {
                let cond = self.expr(it.next().expect("if cond"));
                let then = self.body(it.next().expect("if body"));
                let otherwise = match it.next() {
                    None => Vec::new(),
                    Some(p) if p.as_rule() == Rule::if_stmt => vec![self.stmt(p)],
                    Some(p) => self.body(p),
                };
                Stmt::If {
                    cond,
                    then,
                    otherwise,
                    span,
                }
            }
            Rule::return_stmt => {
                let value = self.expr(it.next().expect("return value"));
                Stmt::Return {
                    span: Span::new(self.file, span.start, value.span.end),
                    value,
                }
            }
            r => unreachable!("unexpected statement {r:?}"),
        }
    }

    fn expr(&self, pair: Pair<'_, Rule>) -> Expr {
        debug_assert_eq!(pair.as_rule(), Rule::expr);
        self.pratt(pair.into_inner())
    }

    fn pratt(&self, pairs: Pairs<'_, Rule>) -> Expr {
        PRATT
            .map_primary(|p| self.primary(p))
            .map_prefix(|op, rhs| {
                let span = self.span(&op).to(rhs.span);
                let op = match op.as_rule() {
                    Rule::neg => UnOp::Neg,
                    _ => UnOp::Not,
                };
                Expr {
                    kind: ExprKind::Unary(op, Box::new(rhs)),
                    span,
                }
            })
            .map_postfix(|lhs, op| {
                let span = lhs.span.to(self.span(&op));
                let kind = match op.as_rule() {
                    Rule::call_args => ExprKind::Call {
                        callee: Box::new(lhs),
                        args: children(op).map(|a| self.arg(a)).collect(),
                    },
                    Rule::index => ExprKind::Index(
                        Box::new(lhs),
                        Box::new(self.expr(children(op).next().expect("index expr"))),
                    ),
                    Rule::field => ExprKind::Field(
                        Box::new(lhs),
                        self.ident(children(op).next().expect("field name")),
                    ),
                    Rule::label => ExprKind::Label(
                        Box::new(lhs),
                        self.ident(children(op).next().expect("label name")),
                    ),
                    r => unreachable!("unexpected postfix {r:?}"),
                };
                Expr { kind, span }
            })
            .map_infix(|lhs, op, rhs| {
                let span = lhs.span.to(rhs.span);
                let bin = match op.as_rule() {
                    Rule::pipe => {
                        return Expr {
                            kind: ExprKind::Pipe(Box::new(lhs), Box::new(rhs)),
                            span,
                        };
                    }
                    Rule::or => BinOp::Or,
                    Rule::and => BinOp::And,
                    Rule::eq => BinOp::Eq,
                    Rule::ne => BinOp::Ne,
                    Rule::lt => BinOp::Lt,
                    Rule::le => BinOp::Le,
                    Rule::gt => BinOp::Gt,
                    Rule::ge => BinOp::Ge,
                    Rule::range => BinOp::Range,
                    Rule::add => BinOp::Add,
                    Rule::sub => BinOp::Sub,
                    Rule::mul => BinOp::Mul,
                    Rule::div => BinOp::Div,
                    Rule::rem => BinOp::Rem,
                    r => unreachable!("unexpected infix {r:?}"),
                };
                Expr {
                    kind: ExprKind::Binary(bin, Box::new(lhs), Box::new(rhs)),
                    span,
                }
            })
            .parse(pairs)
    }

    fn arg(&self, pair: Pair<'_, Rule>) -> Arg {
        let mut parts: Vec<_> = children(pair).collect();
        let value = self.expr(parts.pop().expect("arg value"));
        let name = parts.pop().map(|p| self.ident(p));
        Arg { name, value }
    }

    fn primary(&self, pair: Pair<'_, Rule>) -> Expr {
        let span = self.span(&pair);
        let kind = match pair.as_rule() {
            Rule::int => match pair.as_str().parse::<i64>() {
                Ok(v) => ExprKind::Int(v),
                // Out-of-range literals become floats; the elaborator rejects them where an int is needed.
                Err(_) => ExprKind::Float(pair.as_str().parse().unwrap_or(f64::INFINITY)),
            },
            Rule::float => ExprKind::Float(pair.as_str().parse().unwrap_or(f64::NAN)),
            Rule::bool => ExprKind::Bool(pair.as_str() == "true"),
            Rule::string => ExprKind::Str(unquote(pair.as_str())),
            Rule::ident => ExprKind::Var(pair.as_str().to_string()),
            Rule::paren => return self.expr(children(pair).next().expect("paren expr")),
            Rule::list => ExprKind::List(children(pair).map(|e| self.expr(e)).collect()),
            Rule::record => ExprKind::Record(
                children(pair)
                    .map(|entry| {
                        let mut it = children(entry);
                        let key = self.ident(it.next().expect("entry key"));
                        (key, self.expr(it.next().expect("entry value")))
                    })
                    .collect(),
            ),
            Rule::if_expr => {
                let mut it = children(pair);
                let cond = self.expr(it.next().expect("if cond"));
                let then = self.expr(it.next().expect("if then"));
                let other = it.next().expect("if else");
                let other = if other.as_rule() == Rule::if_expr {
                    self.primary(other)
                } else {
                    self.expr(other)
                };
                ExprKind::If(Box::new(cond), Box::new(then), Box::new(other))
            }
            r => unreachable!("unexpected primary {r:?}"),
        };
        Expr { kind, span }
    }
}

fn unquote(s: &str) -> String {
    s.trim_start_matches('"').trim_end_matches('"').to_string()
}

/// Turn pest's error into a diagnostic that names what was expected in words.
fn syntax_error(err: pest::error::Error<Rule>, file: FileId) -> Diagnostic {
    use pest::error::{ErrorVariant, InputLocation};
    let (start, end) = match err.location {
        InputLocation::Pos(p) => (p, p),
        InputLocation::Span((s, e)) => (s, e),
    };
    let span = Span::new(file, start, end.max(start));
    let (message, label) = match &err.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            let mut words: Vec<&str> = positives.iter().map(|r| describe(*r)).collect();
            words.sort_unstable();
            words.dedup();
            let expected = match words.len() {
                0 => "something else".to_string(),
                1 => words[0].to_string(),
                n => format!("{} or {}", words[..n - 1].join(", "), words[n - 1]),
            };
            (
                format!("syntax error: expected {expected}"),
                format!("expected {expected} here"),
            )
        }
        ErrorVariant::CustomError { message } => {
            (format!("syntax error: {message}"), message.clone())
        }
    };
    Diagnostic::error(message).at(span, label)
}

/// A user-facing description of a grammar rule.
fn describe(rule: Rule) -> &'static str {
    match rule {
        Rule::EOI => "end of file",
        // pest reports the parent rule when many alternatives fail at one position.
        Rule::file => "`use`, `block`, `model` or `train`",
        Rule::use_item => "`use`",
        Rule::block_def => "`block`",
        Rule::model_def => "`model`",
        Rule::train_def => "`train`",
        Rule::setting => "a setting (`name = value`)",
        Rule::param | Rule::params => "a parameter",
        Rule::body => "`{`",
        Rule::input_stmt
        | Rule::for_stmt
        | Rule::if_stmt
        | Rule::return_stmt
        | Rule::assign_stmt => "a statement",
        Rule::expr | Rule::lone_expr => "an expression",
        Rule::pipe
        | Rule::or
        | Rule::and
        | Rule::eq
        | Rule::ne
        | Rule::le
        | Rule::ge
        | Rule::lt
        | Rule::gt
        | Rule::range
        | Rule::add
        | Rule::sub
        | Rule::mul
        | Rule::div
        | Rule::rem => "an operator",
        Rule::neg | Rule::not => "a prefix operator",
        Rule::call_args => "`(`",
        Rule::arg => "an argument",
        Rule::index => "`[`",
        Rule::field => "`.`",
        Rule::label | Rule::kw_as => "`as`",
        Rule::if_expr | Rule::kw_if => "`if`",
        Rule::paren => "`(`",
        Rule::list => "a list",
        Rule::record | Rule::entry => "a record",
        Rule::float | Rule::int => "a number",
        Rule::bool => "`true` or `false`",
        Rule::string => "a string",
        Rule::ident => "a name",
        Rule::keyword => "a keyword",
        Rule::kw_use => "`use`",
        Rule::kw_block => "`block`",
        Rule::kw_model => "`model`",
        Rule::kw_train => "`train`",
        Rule::kw_input => "`input`",
        Rule::kw_for => "`for`",
        Rule::kw_in => "`in`",
        Rule::kw_else => "`else`",
        Rule::kw_return => "`return`",
        _ => "a token",
    }
}
