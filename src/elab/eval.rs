//! The evaluator: runs a model's body at compile time and builds the IR graph.
//!
//! Plain values (ints, lists, ...) are computed directly; each op applied to tensors
//! adds nodes through [`Graph::add_op`], whose shape rule checks the operands on the
//! spot, so a mismatch is reported at the user's call with the chain of block calls
//! that led there. Layers are named as they are created (see [`Evaluator::layer_name`]).

use super::builtins::{self, ArgValue, OpKind, RecipeKind};
use super::program::Program;
use super::suggest;
use super::value::{Config, Func, Value};
use crate::diag::{Diagnostic, Span};
use crate::ir::{BlockCall, Graph, NodeId, Op, Site, TensorType, Window, size};
use crate::syntax::ast::{self, BinOp, Expr, ExprKind, Stmt, UnOp};
use std::collections::{HashMap, HashSet};

/// Built-in functions on plain values.
pub const BUILTIN_FUNCTIONS: [&str; 10] = [
    "len", "channels", "height", "width", "shape", "min", "max", "sum", "int", "float",
];

/// Bounds that keep a runaway program (or a fuzzer's) from hanging the compiler.
const MAX_STEPS: usize = 5_000_000;
const MAX_RANGE: i64 = 1_000_000;
const MAX_NODES: usize = 200_000;
const MAX_DEPTH: usize = 64;

type R<T> = Result<T, Diagnostic>;

/// What running a statement list did.
enum Flow {
    Next,
    Return(Value, Span),
}

/// One block (or model) invocation being evaluated.
struct Frame {
    block: String,
    /// The call that created this frame (`None` for the model).
    call: Option<Span>,
    /// Path prefix of every layer in this frame, e.g. `res_block.3`.
    scope: String,
    vars: HashMap<String, Value>,
    /// Per-stem counters for automatic layer names.
    counters: HashMap<String, usize>,
    /// Layer names already taken in this frame.
    taken: HashSet<String>,
}

impl Frame {
    fn new(block: &str, call: Option<Span>, scope: String) -> Frame {
        Frame {
            block: block.to_string(),
            call,
            scope,
            vars: HashMap::new(),
            counters: HashMap::new(),
            taken: HashSet::new(),
        }
    }
}

pub struct Evaluator<'p> {
    program: &'p Program,
    pub graph: Graph,
    frames: Vec<Frame>,
    steps: usize,
    /// Forward multiply-accumulates per example of the graph so far.
    macs: u64,
}

impl<'p> Evaluator<'p> {
    pub fn new(program: &'p Program, model_name: &str) -> Evaluator<'p> {
        Evaluator {
            program,
            graph: Graph::new(model_name),
            frames: Vec::new(),
            steps: 0,
            macs: 0,
        }
    }

    /// Evaluate an expression that may only use built-in names (a `--set` value or a
    /// model parameter's default).
    pub fn eval_const(&mut self, e: &Expr) -> R<Value> {
        self.frames.push(Frame::new("<const>", None, String::new()));
        let v = self.expr(e);
        self.frames.pop();
        v
    }

    /// Evaluate an expression with `vars` in scope (the train section sees the model's
    /// hyper-parameters).
    pub fn eval_with(&mut self, vars: &[(String, Value)], e: &Expr) -> R<Value> {
        let mut f = Frame::new("<train>", None, String::new());
        f.vars.extend(vars.iter().cloned());
        self.frames.push(f);
        let v = self.expr(e);
        self.frames.pop();
        v
    }

    /// Run the model body with its hyper-parameters bound; adds the output nodes.
    pub fn run_model(&mut self, model: &ast::Def, hparams: &[(String, Value)]) -> R<()> {
        let mut f = Frame::new(&model.name.name, None, String::new());
        f.vars.extend(hparams.iter().cloned());
        self.frames.push(f);
        let flow = self.stmts(&model.body)?;
        self.frames.pop();
        let (value, span) = match flow {
            Flow::Return(v, s) => (v, s),
            Flow::Next => {
                return Err(Diagnostic::error(format!(
                    "model `{}` does not return anything",
                    model.name.name
                ))
                .at(model.name.span, "this model has no `return`")
                .with_help("end the model with `return <logits>`"));
            }
        };
        if self.graph.inputs_of_model().is_empty() {
            return Err(Diagnostic::error(format!("model `{}` has no input", model.name.name))
                .at(model.name.span, "no `input` statement")
                .with_help("declare one, e.g. `input x: [3, 32, 32]` (channels, height, width; the batch is implicit)"));
        }
        let outs = match value {
            Value::Tensor(id) => vec![("logits".to_string(), id)],
            Value::List(items)
                if !items.is_empty() && items.iter().all(|v| matches!(v, Value::Tensor(_))) =>
            {
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| match v {
                        Value::Tensor(id) => (format!("output{i}"), *id),
                        _ => unreachable!("checked above"),
                    })
                    .collect()
            }
            other => {
                return Err(Diagnostic::error(format!(
                    "a model must return a tensor, not {} {}",
                    super::value::article(other.type_name()),
                    other.type_name()
                ))
                .at(span, format!("this returns {}", describe(&other))));
            }
        };
        for (name, id) in outs {
            let path = String::new();
            self.graph
                .add_op(
                    Op::Output { name },
                    &[id],
                    Site {
                        path,
                        scope: String::new(),
                        span,
                    },
                )
                .map_err(|e| Diagnostic::error(e.message).at(span, "returned here"))?;
        }
        Ok(())
    }

    fn frame(&mut self) -> &mut Frame {
        self.frames
            .last_mut()
            .expect("evaluation always runs inside a frame")
    }

    fn tick(&mut self, span: Span) -> R<()> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(self
                .error(
                    format!("elaboration took more than {MAX_STEPS} steps"),
                    span,
                    "still evaluating here",
                )
                .with_help("is a loop or a list far larger than intended?"));
        }
        Ok(())
    }

    /// An error at `span`, with the chain of block calls that led here as secondary labels.
    fn error(&self, msg: impl Into<String>, span: Span, label: impl Into<String>) -> Diagnostic {
        let mut d = Diagnostic::error(msg).at(span, label);
        for f in self.frames.iter().rev() {
            if let Some(call) = f.call {
                d = d.with_secondary(call, format!("in this call to `{}`", f.block));
            }
        }
        d
    }

    /// Add the call chain to a diagnostic produced elsewhere (argument binding).
    fn with_stack(&self, mut d: Diagnostic) -> Diagnostic {
        for f in self.frames.iter().rev() {
            if let Some(call) = f.call {
                d = d.with_secondary(call, format!("in this call to `{}`", f.block));
            }
        }
        d
    }

    fn stmts(&mut self, stmts: &[Stmt]) -> R<Flow> {
        for s in stmts {
            if let Flow::Return(v, sp) = self.stmt(s)? {
                return Ok(Flow::Return(v, sp));
            }
        }
        Ok(Flow::Next)
    }

    fn stmt(&mut self, s: &Stmt) -> R<Flow> {
        match s {
            Stmt::Assign { name, value } => {
                self.tick(name.span)?;
                let v = self.expr(value)?;
                self.frame().vars.insert(name.name.clone(), v);
                Ok(Flow::Next)
            }
            Stmt::Input { name, shape, span } => self.input(name, shape, *span).map(|_| Flow::Next),
            Stmt::For {
                var,
                iter,
                body,
                span,
            } => {
                let items = match self.expr(iter)? {
                    Value::List(items) => items,
                    other => {
                        return Err(self.error(
                            format!("`for` needs a list or a range, got {}", describe(&other)),
                            iter.span,
                            "not iterable",
                        ));
                    }
                };
                for item in items {
                    self.tick(*span)?;
                    self.frame().vars.insert(var.name.clone(), item);
                    if let Flow::Return(v, sp) = self.stmts(body)? {
                        return Ok(Flow::Return(v, sp));
                    }
                }
                Ok(Flow::Next)
            }
            Stmt::If {
                cond,
                then,
                otherwise,
                ..
            } => {
                if self.condition(cond)? {
                    self.stmts(then)
                } else {
                    self.stmts(otherwise)
                }
            }
            Stmt::Return { value, span } => {
                let v = self.expr(value)?;
                Ok(Flow::Return(v, *span))
            }
        }
    }

    fn input(&mut self, name: &ast::Ident, shape: &Expr, span: Span) -> R<()> {
        if self.frames.len() != 1 {
            return Err(self
                .error("`input` is only allowed in a model", span, "inside a block")
                .with_help("pass tensors to a block as arguments"));
        }
        let dims = match self.expr(shape)? {
            Value::List(items) if !items.is_empty() => items
                .iter()
                .map(|v| match v {
                    Value::Int(i) if *i > 0 => Ok(*i as usize),
                    other => Err(self.error(
                        format!(
                            "input dimensions must be positive ints, got {}",
                            describe(other)
                        ),
                        shape.span,
                        "invalid dimension",
                    )),
                })
                .collect::<R<Vec<usize>>>()?,
            other => {
                return Err(self.error(
                    format!(
                        "an input's shape is a list of dimensions, got {}",
                        describe(&other)
                    ),
                    shape.span,
                    "expected e.g. [3, 32, 32]",
                ));
            }
        };
        let ty = TensorType::activation(dims);
        size::check(&format!("input `{}`", name.name), &ty).map_err(|e| {
            let d = self.error(e.message, shape.span, "declared here");
            match e.help {
                Some(h) => d.with_help(h),
                None => d,
            }
        })?;
        if self
            .graph
            .inputs_of_model()
            .iter()
            .any(|&i| matches!(&self.graph.node(i).op, Op::Input { name: n } if *n == name.name))
        {
            return Err(self.error(
                format!("input `{}` is declared twice", name.name),
                name.span,
                "second declaration",
            ));
        }
        let id = self.graph.add_leaf(
            Op::Input {
                name: name.name.clone(),
            },
            ty,
            Site {
                path: name.name.clone(),
                scope: String::new(),
                span,
            },
        );
        self.frame()
            .vars
            .insert(name.name.clone(), Value::Tensor(id));
        Ok(())
    }

    fn condition(&mut self, cond: &Expr) -> R<bool> {
        let v = self.expr(cond)?;
        self.truth(v, cond.span)
    }

    /// The value of a condition (written at `span`), which must be a bool.
    fn truth(&self, v: Value, span: Span) -> R<bool> {
        match v {
            Value::Bool(b) => Ok(b),
            other => Err(self.error(
                format!("a condition must be a bool, got {}", describe(&other)),
                span,
                "not a bool",
            )),
        }
    }

    pub fn expr(&mut self, e: &Expr) -> R<Value> {
        // Evaluation recurses once per level of nesting (`1 + 1 + ...`, `x |> f |> ...`,
        // `[[...]]`, block calls); grow the stack on the heap rather than overflow it.
        stacker::maybe_grow(64 * 1024, 4 * 1024 * 1024, || self.expr_inner(e))
    }

    fn expr_inner(&mut self, e: &Expr) -> R<Value> {
        self.tick(e.span)?;
        match &e.kind {
            ExprKind::Int(i) => Ok(Value::Int(*i)),
            ExprKind::Float(f) => Ok(Value::Float(*f)),
            ExprKind::Bool(b) => Ok(Value::Bool(*b)),
            ExprKind::Str(s) => Ok(Value::Str(s.clone())),
            ExprKind::Var(name) => self.lookup(name, e.span),
            ExprKind::List(items) => Ok(Value::List(
                items.iter().map(|i| self.expr(i)).collect::<R<_>>()?,
            )),
            ExprKind::Record(entries) => {
                let mut out: Vec<(String, Value)> = Vec::new();
                for (k, v) in entries {
                    if out.iter().any(|(name, _)| *name == k.name) {
                        return Err(self.error(
                            format!("field `{}` is given twice", k.name),
                            k.span,
                            "duplicate field",
                        ));
                    }
                    out.push((k.name.clone(), self.expr(v)?));
                }
                Ok(Value::Record(out))
            }
            ExprKind::Unary(op, inner) => {
                let v = self.expr(inner)?;
                match (op, v) {
                    (UnOp::Neg, Value::Int(i)) => i
                        .checked_neg()
                        .map(Value::Int)
                        .ok_or_else(|| self.error("integer overflow", e.span, "here")),
                    (UnOp::Neg, Value::Float(f)) => Ok(Value::Float(-f)),
                    (UnOp::Not, Value::Bool(b)) => Ok(Value::Bool(!b)),
                    (op, v) => Err(self.error(
                        format!(
                            "cannot apply `{}` to {}",
                            if *op == UnOp::Neg { "-" } else { "!" },
                            describe(&v)
                        ),
                        e.span,
                        "invalid operand",
                    )),
                }
            }
            ExprKind::Binary(..) | ExprKind::Pipe(..) => self.chain(e),
            ExprKind::Call { callee, args } => {
                let f = self.expr(callee)?;
                let argv = self.args(args)?;
                self.call(f, callee.span, argv, None, e.span)
            }
            ExprKind::Label(inner, name) => match &inner.kind {
                ExprKind::Call { callee, args } => {
                    let f = self.expr(callee)?;
                    let argv = self.args(args)?;
                    self.call(f, callee.span, argv, Some(name), e.span)
                }
                _ => Err(self
                    .error(
                        "`as` names a layer, so it must follow a call",
                        name.span,
                        "not after a call",
                    )
                    .with_help("write e.g. `conv(16, k = 1) as shortcut`")),
            },
            ExprKind::Index(base, idx) => {
                let b = self.expr(base)?;
                let i = self.expr(idx)?;
                match (&b, &i) {
                    (Value::List(items), Value::Int(k)) => {
                        let n = items.len() as i64;
                        let at = if *k < 0 { k + n } else { *k };
                        if at < 0 || at >= n {
                            return Err(self.error(
                                format!("index {k} is out of range for a list of length {n}"),
                                idx.span,
                                "out of range",
                            ));
                        }
                        Ok(items[at as usize].clone())
                    }
                    (Value::List(_), other) => Err(self.error(
                        format!("a list index must be an int, got {}", describe(other)),
                        idx.span,
                        "not an int",
                    )),
                    (other, _) => Err(self.error(
                        format!("cannot index {}", describe(other)),
                        base.span,
                        "not a list",
                    )),
                }
            }
            ExprKind::Field(base, name) => match self.expr(base)? {
                Value::Record(entries) => match entries.iter().find(|(k, _)| *k == name.name) {
                    Some((_, v)) => Ok(v.clone()),
                    None => {
                        let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
                        Err(self
                            .error(
                                format!("record has no field `{}`", name.name),
                                name.span,
                                "unknown field",
                            )
                            .with_note(format!("its fields are: {}", keys.join(", "))))
                    }
                },
                other => Err(self.error(
                    format!("cannot take field `{}` of {}", name.name, describe(&other)),
                    base.span,
                    "not a record",
                )),
            },
            ExprKind::If(c, a, b) => {
                if self.condition(c)? {
                    self.expr(a)
                } else {
                    self.expr(b)
                }
            }
        }
    }

    fn args(&mut self, args: &[ast::Arg]) -> R<Vec<ArgValue>> {
        args.iter()
            .map(|a| {
                Ok(ArgValue {
                    name: a.name.as_ref().map(|n| (n.name.clone(), n.span)),
                    value: self.expr(&a.value)?,
                    span: a.value.span,
                })
            })
            .collect()
    }

    fn lookup(&mut self, name: &str, span: Span) -> R<Value> {
        if let Some(v) = self.frames.last().and_then(|f| f.vars.get(name)) {
            return Ok(v.clone());
        }
        if self.program.blocks.contains_key(name) {
            return Ok(Value::Func(Func::Block(name.to_string())));
        }
        if let Some(op) = OpKind::from_name(name) {
            return Ok(Value::Func(Func::Op(op)));
        }
        if let Some(r) = RecipeKind::from_name(name) {
            return Ok(Value::Func(Func::Recipe(r)));
        }
        if let Some(b) = BUILTIN_FUNCTIONS.iter().find(|b| **b == name) {
            return Ok(Value::Func(Func::Builtin(b)));
        }
        let frame = self.frames.last().expect("inside a frame");
        let candidates: Vec<&str> = frame
            .vars
            .keys()
            .map(String::as_str)
            .chain(self.program.blocks.keys().map(String::as_str))
            .chain(OpKind::all().map(|o| o.name()))
            .chain(RecipeKind::ALL.iter().map(|r| r.name()))
            .chain(BUILTIN_FUNCTIONS)
            .collect();
        let mut d = self.error(format!("unknown name `{name}`"), span, "not defined here");
        if let Some(s) = suggest(name, candidates.into_iter()) {
            d = d.with_help(format!("did you mean `{s}`?"));
        }
        Err(d)
    }

    /// A left-deep chain of binary operators and pipes (`a + b + c`, `x |> f |> g`): as deep
    /// as the source is long (a 200,000-term sum is one), so it is evaluated in a loop from
    /// its innermost left operand outwards rather than by recursion. Every link still counts
    /// as a step, in the order recursion would take them.
    fn chain(&mut self, e: &Expr) -> R<Value> {
        let mut links = vec![e];
        let mut left = e;
        while let ExprKind::Binary(_, l, _) | ExprKind::Pipe(l, _) = &left.kind {
            left = l;
            if matches!(left.kind, ExprKind::Binary(..) | ExprKind::Pipe(..)) {
                self.tick(left.span)?;
                links.push(left);
            }
        }
        let mut acc = self.expr(left)?;
        for link in links.into_iter().rev() {
            acc = match &link.kind {
                ExprKind::Binary(op, l, r) => self.binary(*op, acc, l, r, link.span)?,
                ExprKind::Pipe(l, r) => self.pipe(acc, l, r)?,
                _ => unreachable!("links are binary operators and pipes"),
            };
        }
        Ok(acc)
    }

    /// `lhs |> rhs`, with `x` the value of `lhs`.
    fn pipe(&mut self, x: Value, lhs: &Expr, rhs: &Expr) -> R<Value> {
        let first = ArgValue {
            name: None,
            value: x,
            span: lhs.span,
        };
        let (callee, args, label) = match &rhs.kind {
            ExprKind::Call { callee, args } => (&**callee, args.as_slice(), None),
            ExprKind::Label(inner, name) => match &inner.kind {
                ExprKind::Call { callee, args } => (&**callee, args.as_slice(), Some(name)),
                _ => (&**inner, &[][..], Some(name)),
            },
            _ => (rhs, &[][..], None),
        };
        let f = self.expr(callee)?;
        let mut argv = vec![first];
        argv.extend(self.args(args)?);
        self.call(f, callee.span, argv, label, rhs.span)
    }

    /// `l op r`, with `a` the value of `l`.
    fn binary(&mut self, op: BinOp, a: Value, l: &Expr, r: &Expr, span: Span) -> R<Value> {
        // Short-circuit logic first.
        if matches!(op, BinOp::And | BinOp::Or) {
            let a = self.truth(a, l.span)?;
            if (op == BinOp::And && !a) || (op == BinOp::Or && a) {
                return Ok(Value::Bool(a));
            }
            return self.condition(r).map(Value::Bool);
        }
        let b = self.expr(r)?;
        let overflow = || self.error("integer overflow", span, "here");
        let mismatch = |this: &Self| {
            this.error(
                format!(
                    "cannot apply `{}` to {} and {}",
                    op.symbol(),
                    describe(&a),
                    describe(&b)
                ),
                span,
                "invalid operands",
            )
        };
        match op {
            BinOp::Eq => Ok(Value::Bool(values_equal(&a, &b))),
            BinOp::Ne => Ok(Value::Bool(!values_equal(&a, &b))),
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => match (a.as_f64(), b.as_f64()) {
                (Some(x), Some(y)) => Ok(Value::Bool(match op {
                    BinOp::Lt => x < y,
                    BinOp::Le => x <= y,
                    BinOp::Gt => x > y,
                    _ => x >= y,
                })),
                _ => Err(mismatch(self)),
            },
            BinOp::Range => match (&a, &b) {
                (Value::Int(x), Value::Int(y)) => {
                    if y.saturating_sub(*x) > MAX_RANGE {
                        return Err(self.error(
                            format!("range {x}..{y} has more than {MAX_RANGE} elements"),
                            span,
                            "too long",
                        ));
                    }
                    Ok(Value::List((*x..*y).map(Value::Int).collect()))
                }
                _ => Err(mismatch(self)),
            },
            BinOp::Add => match (&a, &b) {
                (Value::Int(x), Value::Int(y)) => {
                    x.checked_add(*y).map(Value::Int).ok_or_else(overflow)
                }
                (Value::Str(x), Value::Str(y)) => Ok(Value::Str(format!("{x}{y}"))),
                (Value::List(x), Value::List(y)) => {
                    Ok(Value::List(x.iter().chain(y).cloned().collect()))
                }
                (Value::Tensor(_), Value::Tensor(_)) => {
                    let args = vec![
                        ArgValue {
                            name: None,
                            value: a.clone(),
                            span: l.span,
                        },
                        ArgValue {
                            name: None,
                            value: b.clone(),
                            span: r.span,
                        },
                    ];
                    self.call_op(OpKind::Add, args, None, span)
                }
                _ => float_op(&a, &b, |x, y| x + y).ok_or_else(|| mismatch(self)),
            },
            BinOp::Sub => match (&a, &b) {
                (Value::Int(x), Value::Int(y)) => {
                    x.checked_sub(*y).map(Value::Int).ok_or_else(overflow)
                }
                _ => float_op(&a, &b, |x, y| x - y).ok_or_else(|| mismatch(self)),
            },
            BinOp::Mul => match (&a, &b) {
                (Value::Int(x), Value::Int(y)) => {
                    x.checked_mul(*y).map(Value::Int).ok_or_else(overflow)
                }
                _ => float_op(&a, &b, |x, y| x * y).ok_or_else(|| mismatch(self)),
            },
            BinOp::Div | BinOp::Rem => {
                if b.as_f64() == Some(0.0) {
                    return Err(self.error("division by zero", r.span, "this is zero"));
                }
                match (&a, &b) {
                    // Int / int is floored integer division, so `channels(x) / 2` stays an int.
                    (Value::Int(x), Value::Int(y)) => {
                        let v = if op == BinOp::Div {
                            x.checked_div_euclid(*y)
                        } else {
                            x.checked_rem_euclid(*y)
                        };
                        v.map(Value::Int).ok_or_else(overflow)
                    }
                    _ if op == BinOp::Div => {
                        float_op(&a, &b, |x, y| x / y).ok_or_else(|| mismatch(self))
                    }
                    _ => float_op(&a, &b, |x, y| x % y).ok_or_else(|| mismatch(self)),
                }
            }
            BinOp::And | BinOp::Or => unreachable!("handled above"),
        }
    }

    /// Call any callable value.
    fn call(
        &mut self,
        f: Value,
        callee_span: Span,
        args: Vec<ArgValue>,
        label: Option<&ast::Ident>,
        span: Span,
    ) -> R<Value> {
        match f {
            Value::Func(Func::Op(op)) => self.call_op(op, args, label, span),
            Value::Func(Func::Block(name)) => self.call_block(&name, args, label, span),
            Value::Func(Func::Recipe(kind)) => {
                if let Some(l) = label {
                    return Err(self.error(
                        "`as` names layers; a recipe item has none",
                        l.span,
                        "remove this",
                    ));
                }
                let values = builtins::bind(kind.name(), kind.signature(), args, span)
                    .map_err(|d| self.with_stack(d))?;
                Ok(Value::Config(Config {
                    name: kind.name(),
                    args: kind
                        .signature()
                        .iter()
                        .map(|s| s.name)
                        .zip(values)
                        .collect(),
                }))
            }
            Value::Func(Func::Builtin(name)) => {
                if let Some(l) = label {
                    return Err(self.error(
                        format!("`as` names layers; `{name}` makes none"),
                        l.span,
                        "remove this",
                    ));
                }
                self.call_builtin(name, args, span)
            }
            other => Err(self.error(
                format!("{} is not callable", describe(&other)),
                callee_span,
                "not a function, op or block",
            )),
        }
    }

    /// Pick the layer name for a new op or block call in the current frame: the label
    /// if given, else `stem` + the next free number (`conv1`, `conv2`, ... for ops;
    /// `res_block.0`, `res_block.1`, ... for blocks, like an `nn.Sequential`).
    fn layer_name(&mut self, stem: &str, label: Option<&ast::Ident>, block: bool) -> R<String> {
        if let Some(l) = label {
            if !self.frame().taken.insert(l.name.clone()) {
                return Err(self.error(
                    format!("layer name `{}` is already used in this block", l.name),
                    l.span,
                    "duplicate name",
                ));
            }
            return Ok(l.name.clone());
        }
        let frame = self.frame();
        loop {
            let counter = frame.counters.entry(stem.to_string()).or_insert(0);
            let name = if block {
                format!("{stem}.{}", *counter)
            } else {
                format!("{stem}{}", *counter + 1)
            };
            *counter += 1;
            if frame.taken.insert(name.clone()) {
                return Ok(name);
            }
        }
    }

    fn site(&mut self, layer: &str, span: Span) -> Site {
        let scope = self.frame().scope.clone();
        let path = if scope.is_empty() {
            layer.to_string()
        } else {
            format!("{scope}.{layer}")
        };
        Site { path, scope, span }
    }

    fn call_op(
        &mut self,
        kind: OpKind,
        args: Vec<ArgValue>,
        label: Option<&ast::Ident>,
        span: Span,
    ) -> R<Value> {
        let v = builtins::bind(kind.name(), kind.signature(), args, span)
            .map_err(|d| self.with_stack(d))?;
        if self.graph.node_count() > MAX_NODES {
            return Err(self.error(
                format!("the model has more than {MAX_NODES} nodes"),
                span,
                "while adding this",
            ));
        }
        let tensor = |v: &Value| match v {
            Value::Tensor(id) => *id,
            _ => unreachable!("bind checked the tensor argument"),
        };
        let pair = |v: &Value| match v {
            Value::List(p) => match (&p[0], &p[1]) {
                (Value::Int(a), Value::Int(b)) => [*a as usize, *b as usize],
                _ => unreachable!("bind checked the pair"),
            },
            _ => unreachable!("bind checked the pair"),
        };
        let int = |v: &Value| match v {
            Value::Int(i) => *i as usize,
            _ => unreachable!("bind checked the int"),
        };
        let flag = |v: &Value| matches!(v, Value::Bool(true));
        let float = |v: &Value| v.as_f64().unwrap_or(0.0) as f32;
        let (op, inputs): (Op, Vec<NodeId>) = match kind {
            OpKind::Conv => (
                Op::Conv2d {
                    out_channels: int(&v[1]),
                    window: Window {
                        kernel: pair(&v[2]),
                        stride: pair(&v[3]),
                        padding: pair(&v[4]),
                    },
                    groups: int(&v[5]),
                    bias: flag(&v[6]),
                },
                vec![tensor(&v[0])],
            ),
            OpKind::BatchNorm => (
                Op::BatchNorm {
                    eps: float(&v[1]),
                    momentum: float(&v[2]),
                    act: None,
                },
                vec![tensor(&v[0])],
            ),
            OpKind::Activation(a) => (Op::Activation(a), vec![tensor(&v[0])]),
            OpKind::MaxPool | OpKind::AvgPool => {
                let w = Window {
                    kernel: pair(&v[1]),
                    stride: pair(&v[2]),
                    padding: pair(&v[3]),
                };
                (
                    if kind == OpKind::MaxPool {
                        Op::MaxPool2d(w)
                    } else {
                        Op::AvgPool2d(w)
                    },
                    vec![tensor(&v[0])],
                )
            }
            OpKind::GlobalAvgPool => (Op::GlobalAvgPool, vec![tensor(&v[0])]),
            OpKind::Flatten => (Op::Flatten, vec![tensor(&v[0])]),
            OpKind::Softmax => (Op::Softmax, vec![tensor(&v[0])]),
            OpKind::Linear => (
                Op::Linear {
                    out_features: int(&v[1]),
                    bias: flag(&v[2]),
                },
                vec![tensor(&v[0])],
            ),
            OpKind::Add => (Op::Add { act: None }, vec![tensor(&v[0]), tensor(&v[1])]),
            OpKind::Concat => match &v[0] {
                Value::List(items) => (Op::Concat, items.iter().map(tensor).collect()),
                _ => unreachable!("bind_variadic returns a list"),
            },
        };
        let layer = self.layer_name(kind.name(), label, false)?;
        let site = self.site(&layer, span);
        let shape_error = |this: &Self, e: crate::ir::ShapeError| {
            let mut d = this.error(
                format!("shape error in `{}`: {}", kind.name(), e.message),
                span,
                e.message.clone(),
            );
            if let Some(h) = e.help {
                d = d.with_help(h);
            }
            d
        };
        let x_ty = self.graph.node(inputs[0]).ty.clone();
        let params = op.param_shapes(&x_ty).map_err(|e| shape_error(self, e))?;
        let mut all = inputs;
        for (role, dims) in params {
            let ty = TensorType::param(dims);
            size::check(&format!("the {}", role.suffix()), &ty)
                .map_err(|e| shape_error(self, e))?;
            all.push(self.graph.add_leaf(Op::Param { role }, ty, site.clone()));
        }
        let id = self
            .graph
            .add_op(op, &all, site)
            .map_err(|e| shape_error(self, e))?;
        // Each op's count fits a u64 (its tensors are bounded), the model's sum may not.
        self.macs = self
            .macs
            .checked_add(self.graph.node_macs(id))
            .ok_or_else(|| {
                self.error(
                    "the model's multiply-accumulates per example overflow a 64-bit count",
                    span,
                    "this layer takes the sum past 2^64",
                )
                .with_help("is a size far larger than intended?")
            })?;
        Ok(Value::Tensor(id))
    }

    fn call_block(
        &mut self,
        name: &str,
        args: Vec<ArgValue>,
        label: Option<&ast::Ident>,
        span: Span,
    ) -> R<Value> {
        let program = self.program;
        let def = program
            .blocks
            .get(name)
            .expect("Func::Block names a known block");
        // Only block frames count: the model's own frame carries the model's name.
        if let Some(pos) = self
            .frames
            .iter()
            .position(|f| f.call.is_some() && f.block == name)
        {
            let chain: Vec<&str> = self.frames[pos..]
                .iter()
                .map(|f| f.block.as_str())
                .chain([name])
                .collect();
            return Err(self.error(format!("recursive block `{name}`"), span, "this call recurses")
                .with_secondary(def.name.span, "defined here")
                .with_note(format!("call chain: {}", chain.join(" → ")))
                .with_help("blocks are expanded at compile time, so they cannot call themselves; use a `for` loop"));
        }
        if self.frames.len() > MAX_DEPTH {
            return Err(self.error(
                format!("blocks nested more than {MAX_DEPTH} deep"),
                span,
                "too deep",
            ));
        }
        // Bind arguments to parameters.
        let mut bound: Vec<Option<Value>> = vec![None; def.params.len()];
        let mut next = 0;
        for a in args {
            let idx = match &a.name {
                None => {
                    if next >= def.params.len() {
                        return Err(self
                            .error(
                                format!("too many arguments to `{name}`"),
                                a.span,
                                format!("`{name}` takes {} argument(s)", def.params.len()),
                            )
                            .with_secondary(def.name.span, "defined here"));
                    }
                    next += 1;
                    next - 1
                }
                Some((n, nspan)) => match def.params.iter().position(|p| p.name.name == *n) {
                    Some(i) => i,
                    None => {
                        let mut d = self
                            .error(
                                format!("block `{name}` has no parameter `{n}`"),
                                *nspan,
                                "unknown parameter",
                            )
                            .with_secondary(def.name.span, "defined here");
                        if let Some(s) = suggest(n, def.params.iter().map(|p| p.name.name.as_str()))
                        {
                            d = d.with_help(format!("did you mean `{s}`?"));
                        }
                        return Err(d);
                    }
                },
            };
            if bound[idx].is_some() {
                return Err(self.error(
                    format!(
                        "argument `{}` of `{name}` is given twice",
                        def.params[idx].name.name
                    ),
                    a.span,
                    "given again here",
                ));
            }
            bound[idx] = Some(a.value);
        }
        let layer = self.layer_name(&snake_case(name), label, true)?;
        let parent = self.frame().scope.clone();
        let scope = if parent.is_empty() {
            layer
        } else {
            format!("{parent}.{layer}")
        };
        self.graph.calls.push(BlockCall {
            path: scope.clone(),
            block: name.to_string(),
            span,
        });
        self.frames.push(Frame::new(name, Some(span), scope));
        // Defaults are evaluated in the callee, after the parameters before them.
        for (p, v) in def.params.iter().zip(bound) {
            let v = match (v, &p.default) {
                (Some(v), _) => v,
                (None, Some(d)) => self.expr(d)?,
                (None, None) => {
                    let d = self
                        .error(
                            format!("missing argument `{}` of `{name}`", p.name.name),
                            span,
                            format!("`{}` is required", p.name.name),
                        )
                        .with_secondary(p.name.span, "parameter declared here");
                    self.frames.pop();
                    return Err(d);
                }
            };
            self.frame().vars.insert(p.name.name.clone(), v);
        }
        let flow = self.stmts(&def.body);
        self.frames.pop();
        match flow? {
            Flow::Return(v, _) => Ok(v),
            Flow::Next => Err(self
                .error(
                    format!("block `{name}` ended without `return`"),
                    span,
                    "this call returns nothing",
                )
                .with_secondary(def.name.span, "block defined here")),
        }
    }

    fn call_builtin(&mut self, name: &'static str, args: Vec<ArgValue>, span: Span) -> R<Value> {
        if let Some(a) = args.iter().find(|a| a.name.is_some()) {
            return Err(self.error(
                format!("`{name}` takes no named arguments"),
                a.span,
                "named argument",
            ));
        }
        let vals: Vec<Value> = args.iter().map(|a| a.value.clone()).collect();
        let arg_span = |i: usize| args.get(i).map_or(span, |a| a.span);
        let want = |this: &Self, n: usize| {
            this.error(
                format!("`{name}` takes {n} argument(s), got {}", vals.len()),
                span,
                "wrong number of arguments",
            )
        };
        let tensor_dims = |this: &Self| -> R<Vec<usize>> {
            match vals.as_slice() {
                [Value::Tensor(id)] => Ok(this.graph.node(*id).ty.dims.clone()),
                [other] => Err(this.error(
                    format!("`{name}` expects a tensor, got {}", describe(other)),
                    arg_span(0),
                    "not a tensor",
                )),
                _ => Err(want(this, 1)),
            }
        };
        let image_dim = |this: &Self, axis: usize| -> R<Value> {
            let dims = tensor_dims(this)?;
            if dims.len() != 3 {
                return Err(this.error(format!("`{name}` expects an image tensor [N,C,H,W], got {} per-example dimension(s)", dims.len()), arg_span(0), "not an image"));
            }
            Ok(Value::Int(dims[axis] as i64))
        };
        // `min`, `max` and `sum` take several numbers or one list of numbers.
        let numbers = |this: &Self| -> R<Vec<Value>> {
            let items = match vals.as_slice() {
                [Value::List(items)] => items.clone(),
                many => many.to_vec(),
            };
            if items.is_empty() {
                return Err(this.error(format!("`{name}` of nothing"), span, "no values"));
            }
            if let Some(bad) = items.iter().find(|v| v.as_f64().is_none()) {
                return Err(this.error(
                    format!("`{name}` works on numbers, got {}", describe(bad)),
                    span,
                    "not a number",
                ));
            }
            Ok(items)
        };
        match name {
            "len" => match vals.as_slice() {
                [Value::List(items)] => Ok(Value::Int(items.len() as i64)),
                [Value::Record(entries)] => Ok(Value::Int(entries.len() as i64)),
                [Value::Str(s)] => Ok(Value::Int(s.chars().count() as i64)),
                [other] => Err(self.error(
                    format!("`len` of {}", describe(other)),
                    arg_span(0),
                    "has no length",
                )),
                _ => Err(want(self, 1)),
            },
            "channels" => image_dim(self, 0),
            "height" => image_dim(self, 1),
            "width" => image_dim(self, 2),
            "shape" => Ok(Value::List(
                tensor_dims(self)?
                    .into_iter()
                    .map(|d| Value::Int(d as i64))
                    .collect(),
            )),
            "min" | "max" => {
                let items = numbers(self)?;
                let pick = items.into_iter().reduce(|a, b| {
                    let (x, y) = (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
                    if (name == "min") == (y < x) { b } else { a }
                });
                Ok(pick.expect("numbers() is non-empty"))
            }
            "sum" => {
                let items = numbers(self)?;
                if items.iter().all(|v| matches!(v, Value::Int(_))) {
                    items
                        .iter()
                        .try_fold(0i64, |acc, v| match v {
                            Value::Int(i) => acc.checked_add(*i),
                            _ => None,
                        })
                        .map(Value::Int)
                        .ok_or_else(|| self.error("integer overflow", span, "here"))
                } else {
                    Ok(Value::Float(items.iter().filter_map(Value::as_f64).sum()))
                }
            }
            "int" => match vals.as_slice() {
                [Value::Int(i)] => Ok(Value::Int(*i)),
                [Value::Float(f)] if f.is_finite() && f.abs() < 9.0e18 => {
                    Ok(Value::Int(f.trunc() as i64))
                }
                [other] => Err(self.error(
                    format!("cannot convert {} to an int", describe(other)),
                    arg_span(0),
                    "not convertible",
                )),
                _ => Err(want(self, 1)),
            },
            "float" => match vals.as_slice() {
                [v] if v.as_f64().is_some() => Ok(Value::Float(v.as_f64().unwrap_or(0.0))),
                [other] => Err(self.error(
                    format!("cannot convert {} to a float", describe(other)),
                    arg_span(0),
                    "not convertible",
                )),
                _ => Err(want(self, 1)),
            },
            _ => unreachable!("every name in BUILTIN_FUNCTIONS is handled"),
        }
    }
}

fn float_op(a: &Value, b: &Value, f: impl Fn(f64, f64) -> f64) -> Option<Value> {
    match (a, b) {
        (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
            Some(Value::Float(f(a.as_f64()?, b.as_f64()?)))
        }
        _ => None,
    }
}

fn values_equal(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// A value as an error message shows it: data by value, tensors by their shape.
pub fn describe(v: &Value) -> String {
    match v {
        Value::Tensor(_) => "a tensor".to_string(),
        Value::Func(_) => format!("the function `{v}`"),
        Value::Config(c) => format!("the recipe item `{}(...)`", c.name),
        _ => format!("{v} ({})", v.type_name()),
    }
}

/// `ResBlock` → `res_block`, `DenseLayer` → `dense_layer`.
pub fn snake_case(name: &str) -> String {
    let mut out = String::new();
    let mut prev: Option<char> = None;
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            if prev.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit()) {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
        prev = Some(c);
    }
    out
}
