//! The abstract syntax tree of a `.net` file.
//!
//! The AST is a faithful, unevaluated picture of the source: nothing is resolved
//! or checked here. Every node carries the [`Span`] it was parsed from; the
//! elaborator copies those spans into the IR so later errors point at the user's text.

use crate::diag::Span;

/// A name with its position.
#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// One parsed `.net` file.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct File {
    pub uses: Vec<Use>,
    pub blocks: Vec<Def>,
    pub models: Vec<Def>,
    pub train: Option<Train>,
}

/// `use "path/to/lib.net"`: brings every block of that file into scope.
#[derive(Clone, Debug, PartialEq)]
pub struct Use {
    pub path: String,
    pub span: Span,
}

/// Whether a definition is a reusable `block` or the file's `model`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefKind {
    Block,
    Model,
}

/// `block Name(params) { body }` or `model Name(params) { body }`.
#[derive(Clone, Debug, PartialEq)]
pub struct Def {
    pub kind: DefKind,
    pub name: Ident,
    pub params: Vec<Param>,
    pub body: Vec<Stmt>,
    pub span: Span,
}

/// A parameter, with an optional default value.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub name: Ident,
    pub default: Option<Expr>,
}

/// `train { key = value ... }`: the file's training recipe.
#[derive(Clone, Debug, PartialEq)]
pub struct Train {
    pub settings: Vec<Setting>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Setting {
    pub key: Ident,
    pub value: Expr,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Stmt {
    /// `input x: [3, 32, 32]` — a model input; the batch dimension is implicit.
    Input {
        name: Ident,
        shape: Expr,
        span: Span,
    },
    /// `name = expr`; assignments inside `for` and `if` write to the enclosing block's scope.
    Assign { name: Ident, value: Expr },
    /// `for var in iterable { body }` over a range or a list.
    For {
        var: Ident,
        iter: Expr,
        body: Vec<Stmt>,
        span: Span,
    },
    /// `if cond { then } else { otherwise }`.
    If {
        cond: Expr,
        then: Vec<Stmt>,
        otherwise: Vec<Stmt>,
        span: Span,
    },
    /// `return expr`.
    Return { value: Expr, span: Span },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Range,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Or => "||",
            BinOp::And => "&&",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Range => "..",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    Neg,
    Not,
}

/// A call argument, positional or named (`k = 3`).
#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Expr,
}

/// An expression. Brackets and prefix operators nest at most
/// [`MAX_NESTING`](super::nesting::MAX_NESTING) deep, but a flat chain (`a + a + ...`,
/// `x |> f |> ...`, `x[0][0]...`) is a tree as deep as the chain is long, so the walks
/// every value makes — clone, compare, debug print and drop — grow the stack on the heap
/// ([`deep`]) instead of overflowing it on a long chain.
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

/// Runs one level of a recursive walk over an AST, on a fresh heap-allocated stack
/// segment when the current one is nearly used up.
pub fn deep<T>(f: impl FnOnce() -> T) -> T {
    stacker::maybe_grow(64 * 1024, 1 << 20, f)
}

impl Clone for Expr {
    fn clone(&self) -> Expr {
        deep(|| Expr {
            kind: self.kind.clone(),
            span: self.span,
        })
    }
}

impl PartialEq for Expr {
    fn eq(&self, other: &Expr) -> bool {
        deep(|| self.span == other.span && self.kind == other.kind)
    }
}

impl std::fmt::Debug for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        deep(|| {
            f.debug_struct("Expr")
                .field("kind", &self.kind)
                .field("span", &self.span)
                .finish()
        })
    }
}

impl Drop for Expr {
    fn drop(&mut self) {
        let leaf = matches!(
            self.kind,
            ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Bool(_)
        );
        if !leaf {
            let kind = std::mem::replace(&mut self.kind, ExprKind::Bool(false));
            deep(move || drop(kind));
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    Var(String),
    List(Vec<Expr>),
    Record(Vec<(Ident, Expr)>),
    Unary(UnOp, Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `lhs |> rhs`: `rhs(lhs)`, or `f(lhs, args...)` when `rhs` is the call `f(args...)`.
    Pipe(Box<Expr>, Box<Expr>),
    Call {
        callee: Box<Expr>,
        args: Vec<Arg>,
    },
    Index(Box<Expr>, Box<Expr>),
    Field(Box<Expr>, Ident),
    If(Box<Expr>, Box<Expr>, Box<Expr>),
    /// `call as name`: names the call's parameters `name.*` instead of an automatic name.
    Label(Box<Expr>, Ident),
}
