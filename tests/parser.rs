//! Parser tests through `netc::syntax::{parse_file, parse_expr}`: precedence, pipes and
//! labels, comments, trailing commas, keywords versus identifiers, syntax errors, and
//! the printer round trip (`parse(print(ast)) == ast`, spans aside).

use crate::common;

use netc::diag::{FileId, Span};
use netc::syntax::ast::*;
use netc::syntax::print::{expr_to_string, print_file};
use netc::syntax::{parse_expr, parse_file};
use proptest::prelude::*;

const F: FileId = FileId(0);

fn expr(src: &str) -> Expr {
    parse_expr(src, F).unwrap_or_else(|d| panic!("`{src}` does not parse: {}", d.message))
}

fn file(src: &str) -> File {
    parse_file(src, F).unwrap_or_else(|d| panic!("does not parse: {}\n{src}", d.message))
}

/// A fully parenthesised, span-free picture of an expression, to test structure.
fn sexp(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Int(v) => v.to_string(),
        ExprKind::Float(v) => format!("{v:?}"),
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::Str(s) => format!("{s:?}"),
        ExprKind::Var(v) => v.clone(),
        ExprKind::List(items) => {
            format!("[{}]", items.iter().map(sexp).collect::<Vec<_>>().join(" "))
        }
        ExprKind::Record(entries) => format!(
            "{{{}}}",
            entries
                .iter()
                .map(|(k, v)| format!("{}:{}", k.name, sexp(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        ExprKind::Unary(op, x) => format!(
            "({} {})",
            match op {
                UnOp::Neg => "neg",
                UnOp::Not => "not",
            },
            sexp(x)
        ),
        ExprKind::Binary(op, a, b) => format!("({} {} {})", op.symbol(), sexp(a), sexp(b)),
        ExprKind::Pipe(a, b) => format!("(|> {} {})", sexp(a), sexp(b)),
        ExprKind::Call { callee, args } => {
            let mut s = format!("(call {}", sexp(callee));
            for a in args {
                s.push(' ');
                if let Some(n) = &a.name {
                    s.push_str(&n.name);
                    s.push('=');
                }
                s.push_str(&sexp(&a.value));
            }
            s.push(')');
            s
        }
        ExprKind::Index(a, i) => format!("(index {} {})", sexp(a), sexp(i)),
        ExprKind::Field(a, f) => format!("(. {} {})", sexp(a), f.name),
        ExprKind::If(c, a, b) => format!("(if {} {} {})", sexp(c), sexp(a), sexp(b)),
        ExprKind::Label(a, l) => format!("(as {} {})", sexp(a), l.name),
    }
}

fn s(src: &str) -> String {
    sexp(&expr(src))
}

// ---------------------------------------------------------------------------
// Span stripping, for comparing trees that were parsed from different text.

fn z() -> Span {
    Span::default()
}

fn strip_ident(i: &mut Ident) {
    i.span = z();
}

fn strip_expr(e: &mut Expr) {
    e.span = z();
    match &mut e.kind {
        ExprKind::Int(_)
        | ExprKind::Float(_)
        | ExprKind::Bool(_)
        | ExprKind::Str(_)
        | ExprKind::Var(_) => {}
        ExprKind::List(items) => items.iter_mut().for_each(strip_expr),
        ExprKind::Record(entries) => {
            for (k, v) in entries {
                strip_ident(k);
                strip_expr(v);
            }
        }
        ExprKind::Unary(_, x) => strip_expr(x),
        ExprKind::Binary(_, a, b) | ExprKind::Pipe(a, b) | ExprKind::Index(a, b) => {
            strip_expr(a);
            strip_expr(b);
        }
        ExprKind::Call { callee, args } => {
            strip_expr(callee);
            for a in args {
                if let Some(n) = &mut a.name {
                    strip_ident(n);
                }
                strip_expr(&mut a.value);
            }
        }
        ExprKind::Field(a, f) | ExprKind::Label(a, f) => {
            strip_expr(a);
            strip_ident(f);
        }
        ExprKind::If(c, a, b) => {
            strip_expr(c);
            strip_expr(a);
            strip_expr(b);
        }
    }
}

fn strip_stmts(stmts: &mut [Stmt]) {
    for st in stmts {
        match st {
            Stmt::Input { name, shape, span } => {
                strip_ident(name);
                strip_expr(shape);
                *span = z();
            }
            Stmt::Assign { name, value } => {
                strip_ident(name);
                strip_expr(value);
            }
            Stmt::For {
                var,
                iter,
                body,
                span,
            } => {
                strip_ident(var);
                strip_expr(iter);
                strip_stmts(body);
                *span = z();
            }
            Stmt::If {
                cond,
                then,
                otherwise,
                span,
            } => {
                strip_expr(cond);
                strip_stmts(then);
                strip_stmts(otherwise);
                *span = z();
            }
            Stmt::Return { value, span } => {
                strip_expr(value);
                *span = z();
            }
        }
    }
}

fn strip_file(mut f: File) -> File {
    for u in &mut f.uses {
        u.span = z();
    }
    for d in f.blocks.iter_mut().chain(f.models.iter_mut()) {
        d.span = z();
        strip_ident(&mut d.name);
        for p in &mut d.params {
            strip_ident(&mut p.name);
            if let Some(e) = &mut p.default {
                strip_expr(e);
            }
        }
        strip_stmts(&mut d.body);
    }
    if let Some(t) = &mut f.train {
        t.span = z();
        for st in &mut t.settings {
            strip_ident(&mut st.key);
            strip_expr(&mut st.value);
        }
    }
    f
}

fn stripped_expr(mut e: Expr) -> Expr {
    strip_expr(&mut e);
    e
}

// ---------------------------------------------------------------------------
// Precedence and associativity.

#[test]
fn arithmetic_precedence() {
    assert_eq!(s("1 + 2 * 3"), "(+ 1 (* 2 3))");
    assert_eq!(s("(1 + 2) * 3"), "(* (+ 1 2) 3)");
    assert_eq!(s("1 - 2 - 3"), "(- (- 1 2) 3)");
    assert_eq!(s("8 / 4 / 2"), "(/ (/ 8 4) 2)");
    assert_eq!(s("7 % 4 * 2 + 1"), "(+ (* (% 7 4) 2) 1)");
    assert_eq!(s("-2 * 3"), "(* (neg 2) 3)");
    assert_eq!(s("- -2"), "(neg (neg 2))");
    assert_eq!(s("-x[0]"), "(neg (index x 0))");
    assert_eq!(s("!a.b"), "(not (. a b))");
}

#[test]
fn logic_and_comparison_precedence() {
    assert_eq!(s("a && b || c"), "(|| (&& a b) c)");
    assert_eq!(s("a || b && c"), "(|| a (&& b c))");
    assert_eq!(s("!a && b"), "(&& (not a) b)");
    assert_eq!(s("g > 0 && b == 0"), "(&& (> g 0) (== b 0))");
    assert_eq!(s("1 + 1 == 2"), "(== (+ 1 1) 2)");
    assert_eq!(s("a <= b != c >= d"), "(>= (!= (<= a b) c) d)");
    assert_eq!(s("a < b"), "(< a b)");
}

#[test]
fn ranges() {
    assert_eq!(s("0..len(x)"), "(.. 0 (call len x))");
    assert_eq!(s("0..n - 1"), "(.. 0 (- n 1))");
    assert_eq!(s("a + 1..b * 2"), "(.. (+ a 1) (* b 2))");
    assert_eq!(s("1..2 == x"), "(== (.. 1 2) x)");
    // `0..5` is two ints, not the float `0.` followed by `.5`.
    assert_eq!(s("0..5"), "(.. 0 5)");
    assert_eq!(s("0.5..1.5"), "(.. 0.5 1.5)");
}

#[test]
fn pipes() {
    assert_eq!(s("a |> f(1) |> g"), "(|> (|> a (call f 1)) g)");
    assert_eq!(s("x |> conv(16, k = 3)"), "(|> x (call conv 16 k=3))");
    // The pipe binds loosest of all.
    assert_eq!(s("a + b |> f"), "(|> (+ a b) f)");
    assert_eq!(s("a |> f || b"), "(|> a (|| f b))");
    assert_eq!(s("x |> f(y |> g)"), "(|> x (call f (|> y g)))");
}

#[test]
fn labels() {
    assert_eq!(
        s("conv(x, 16, k = 1) as shortcut"),
        "(as (call conv x 16 k=1) shortcut)"
    );
    assert_eq!(
        s("x |> conv(4, k = 1) as a |> relu"),
        "(|> (|> x (as (call conv 4 k=1) a)) relu)"
    );
    assert_eq!(s("x |> Block as b"), "(|> x (as Block b))");
    // `as` is a postfix: it binds tighter than any operator.
    assert_eq!(s("a + f(x) as y"), "(+ a (as (call f x) y))");
    assert_eq!(s("f(x) as y[0]"), "(index (as (call f x) y) 0)");
}

#[test]
fn postfix_chains_and_literals() {
    assert_eq!(s("a.b.c"), "(. (. a b) c)");
    assert_eq!(s("f(1)(2)"), "(call (call f 1) 2)");
    assert_eq!(s("xs[0][-1]"), "(index (index xs 0) (neg 1))");
    assert_eq!(s("cfg.widths[i + 1]"), "(index (. cfg widths) (+ i 1))");
    assert_eq!(s("[1, 2.5, true, \"s\"]"), "[1 2.5 true \"s\"]");
    assert_eq!(s("{a: 1, b: {c: []}}"), "{a:1 b:{c:[]}}");
    assert_eq!(s("1e-4"), "0.0001");
    assert_eq!(s("2E3"), "2000.0");
    assert_eq!(s("1.5e+2"), "150.0");
    assert_eq!(s("f()"), "(call f)");
    assert_eq!(s("[]"), "[]");
    assert_eq!(s("{}"), "{}");
    // An int literal too large for i64 is kept as a float (the elaborator rejects it
    // where an int is needed).
    assert_eq!(s("99999999999999999999"), "1e20");
}

#[test]
fn if_expressions() {
    assert_eq!(s("if a { 1 } else { 2 }"), "(if a 1 2)");
    assert_eq!(
        s("if a { 1 } else if b { 2 } else { 3 }"),
        "(if a 1 (if b 2 3))"
    );
    assert_eq!(s("1 + if c { 2 } else { 3 }"), "(+ 1 (if c 2 3))");
    assert_eq!(
        s("if x > 0 && y { a |> f } else { b }"),
        "(if (&& (> x 0) y) (|> a f) b)"
    );
}

#[test]
fn named_arguments_are_not_comparisons() {
    assert_eq!(s("f(k = 3)"), "(call f k=3)");
    assert_eq!(s("f(k == 3)"), "(call f (== k 3))");
    assert_eq!(s("f(a, b = c == d)"), "(call f a b=(== c d))");
}

#[test]
fn spans_cover_the_source() {
    let src = "x |> conv(16, k = 3) as c1";
    let e = expr(src);
    assert_eq!((e.span.start, e.span.end), (0, src.len()));
    let ExprKind::Pipe(lhs, rhs) = &e.kind else {
        panic!("not a pipe: {}", sexp(&e))
    };
    assert_eq!(&src[lhs.span.start..lhs.span.end], "x");
    assert_eq!(&src[rhs.span.start..rhs.span.end], "conv(16, k = 3) as c1");
    let ExprKind::Label(call, name) = &rhs.kind else {
        panic!()
    };
    assert_eq!(&src[call.span.start..call.span.end], "conv(16, k = 3)");
    assert_eq!(&src[name.span.start..name.span.end], "c1");
}

// ---------------------------------------------------------------------------
// Files and statements.

#[test]
fn items_and_statements() {
    let f = file(
        r#"
        use "lib/a.net"
        use "b.net"
        block B(x, c = 4) { return x }
        model M(n = 3) {
          input x: [3, 8, 8]
          y = x
          for i in 0..n { y = B(y) }
          if n > 2 { y = y } else if n > 1 { y = y } else { y = y }
          return y
        }
        train { epochs = 3; batch = 2 }
    "#,
    );
    assert_eq!(
        f.uses.iter().map(|u| u.path.as_str()).collect::<Vec<_>>(),
        ["lib/a.net", "b.net"]
    );
    assert_eq!(f.blocks.len(), 1);
    assert_eq!(f.blocks[0].kind, DefKind::Block);
    assert_eq!(f.blocks[0].params.len(), 2);
    assert!(f.blocks[0].params[0].default.is_none());
    assert!(f.blocks[0].params[1].default.is_some());
    assert_eq!(f.models.len(), 1);
    let m = &f.models[0];
    assert_eq!(m.name.name, "M");
    assert_eq!(m.body.len(), 5);
    assert!(matches!(&m.body[0], Stmt::Input { name, .. } if name.name == "x"));
    assert!(matches!(&m.body[1], Stmt::Assign { name, .. } if name.name == "y"));
    assert!(
        matches!(&m.body[2], Stmt::For { var, body, .. } if var.name == "i" && body.len() == 1)
    );
    match &m.body[3] {
        Stmt::If { otherwise, .. } => {
            assert_eq!(otherwise.len(), 1);
            assert!(matches!(&otherwise[0], Stmt::If { otherwise, .. } if otherwise.len() == 1));
        }
        other => panic!("not an if: {other:?}"),
    }
    assert!(matches!(&m.body[4], Stmt::Return { .. }));
    let t = f.train.as_ref().unwrap();
    assert_eq!(t.settings.len(), 2);
    assert_eq!(t.settings[1].key.name, "batch");
}

#[test]
fn comments_are_whitespace() {
    let f = file(
        "// leading\nmodel /* inline */ M(/* none */) { // trailing\n  /* multi\n line */ return x // end\n}\n// last line without newline",
    );
    assert_eq!(f.models[0].name.name, "M");
    assert_eq!(f.models[0].body.len(), 1);
    assert_eq!(s("1 /* two */ + // three\n 2"), "(+ 1 2)");
}

#[test]
fn trailing_commas() {
    let f = file("model M(a = 1, b = [1, 2,], c = {x: 1,},) { return f(a, b = 2,) }");
    let m = &f.models[0];
    assert_eq!(m.params.len(), 3);
    assert_eq!(sexp(m.params[1].default.as_ref().unwrap()), "[1 2]");
    assert_eq!(sexp(m.params[2].default.as_ref().unwrap()), "{x:1}");
    let Stmt::Return { value, .. } = &m.body[0] else {
        panic!()
    };
    assert_eq!(sexp(value), "(call f a b=2)");
}

#[test]
fn semicolons_are_optional_separators() {
    let a = strip_file(file("model M() { a = 1; b = 2; return a }"));
    let b = strip_file(file("model M() {\n a = 1\n b = 2\n return a\n}"));
    let c = strip_file(file("model M() { a = 1 b = 2 return a }"));
    assert_eq!(a, b);
    assert_eq!(b, c);
}

#[test]
fn keywords_are_not_prefixes_of_identifiers() {
    let names = [
        "inputs",
        "input_size",
        "format",
        "iffy",
        "elsewhere",
        "returns",
        "usey",
        "blocks",
        "models",
        "trainer",
        "forest",
        "inner",
        "ask",
        "truely",
        "falsey",
        "_in",
        "as_",
    ];
    let body: Vec<String> = names.iter().map(|n| format!("{n} = 3")).collect();
    let f = file(&format!(
        "model M() {{ {} return inputs }}",
        body.join("\n")
    ));
    let got: Vec<&str> = f.models[0]
        .body
        .iter()
        .filter_map(|st| match st {
            Stmt::Assign { name, .. } => Some(name.name.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(got, names, "each `kw... = 3` is an assignment");
    assert!(matches!(
        &f.models[0].body[names.len()],
        Stmt::Return { .. }
    ));
    assert_eq!(s("inputs"), "inputs");
    assert_eq!(s("true_value"), "true_value");
    assert_eq!(s("falsehood"), "falsehood");
    assert_eq!(s("x |> f as assign"), "(|> x (as f assign))");
    // ...but the keywords themselves are not names.
    for kw in [
        "input", "for", "in", "if", "else", "return", "as", "use", "block", "model", "train",
    ] {
        assert!(
            parse_file(&format!("model M() {{ {kw} = 3 }}"), F).is_err(),
            "`{kw} = 3` must not parse as an assignment"
        );
    }
    assert!(parse_expr("true", F).is_ok());
    assert!(parse_expr("x as true", F).is_err());
}

// ---------------------------------------------------------------------------
// Syntax errors: one diagnostic, at the right place, saying what was expected.

fn syntax_error(src: &str) -> (usize, String, String) {
    let d = parse_file(src, F).expect_err("must be a syntax error");
    let (span, label) = d.primary.clone().expect("a syntax error has a position");
    assert!(d.message.starts_with("syntax error: "), "{}", d.message);
    assert!(span.start <= src.len());
    (span.start, d.message, label)
}

#[test]
fn syntax_errors_point_at_the_problem() {
    let src = "model M() {\n  y = conv(4, k = 3\n  return y\n}";
    let (at, msg, _) = syntax_error(src);
    assert_eq!(at, src.find("return").unwrap());
    assert!(msg.contains("an operator") || msg.contains("`)`"), "{msg}");

    let (at, msg, label) = syntax_error("model M() { x = }");
    assert_eq!(at, "model M() { x = ".len());
    assert!(msg.contains("an expression"), "{msg}");
    assert!(label.starts_with("expected "), "{label}");

    let (at, msg, _) = syntax_error("model M( { }");
    assert_eq!(at, "model M( ".len());
    assert!(
        msg.contains("a parameter") || msg.contains("a name"),
        "{msg}"
    );

    let (at, msg, _) = syntax_error("modle M() {}");
    assert_eq!(at, 0);
    assert!(msg.contains("`model`"), "{msg}");

    // An unterminated string or comment.
    let (at, _, _) = syntax_error("model M() { s = \"abc\n }");
    assert_eq!(at, "model M() { s = ".len());
    assert!(parse_file("model M() { } /* never closed", F).is_err());
    // Garbage after the last item.
    let (at, _, _) = syntax_error("model M() { return x } }");
    assert_eq!(at, "model M() { return x } ".len());
}

#[test]
fn parse_expr_rejects_trailing_input() {
    assert!(parse_expr("1 2", F).is_err());
    assert!(parse_expr("", F).is_err());
    assert!(parse_expr("[1, 2", F).is_err());
    assert!(parse_expr("a =", F).is_err());
    assert!(parse_expr("  [32, 64] ", F).is_ok());
}

// ---------------------------------------------------------------------------
// The printer round trip.

/// `print(parse(src))` re-parses to the same tree (spans aside) and prints identically.
fn assert_round_trip(name: &str, src: &str) {
    let first =
        parse_file(src, F).unwrap_or_else(|d| panic!("{name} does not parse: {}", d.message));
    let printed = print_file(&first);
    let second = parse_file(&printed, F).unwrap_or_else(|d| {
        panic!(
            "{name}: the printed AST does not parse: {}\n{printed}",
            d.message
        )
    });
    assert_eq!(
        strip_file(second.clone()),
        strip_file(first),
        "{name}: parse(print(ast)) != ast\n{printed}"
    );
    assert_eq!(
        print_file(&second),
        printed,
        "{name}: printing is not stable"
    );
}

#[test]
fn round_trip_every_known_file() {
    for path in common::all_sources() {
        let src = std::fs::read_to_string(&path).unwrap();
        assert_round_trip(&path.display().to_string(), &src);
    }
}

#[test]
fn round_trip_tricky_expressions() {
    for src in [
        "a - (b - c)",
        "(a |> f) |> g",
        "a |> (b |> g)",
        "-(-x)",
        "- -1",
        "-(1 + 2)",
        "(-x)[0]",
        "(-x).y",
        "!(a && b)",
        "(a || b) && c",
        "(1..2)..3",
        "1..(2..3)",
        "(if a { 1 } else { 2 }) + 1",
        "f(if a { 1 } else { 2 })",
        "[if a { 1 } else { 2 }, 3]",
        "{ k: if a { b } else { c } }",
        "(if a { f } else { g })(x)",
        "(a + b)(c)",
        "(a + b).c",
        "(a + b) as c",
        "x |> (f as g)",
        "x |> f(1) as g |> h",
        "(x |> f) as g",
        "1.0",
        "1e300",
        "0.1 + 0.2",
        "1.5.x",
        "1.x",
        "\"a b // not a comment\"",
        "f(a, k = b |> g, m = (c == d))",
    ] {
        let e = expr(src);
        let printed = expr_to_string(&e);
        let again = parse_expr(&printed, F).unwrap_or_else(|d| {
            panic!(
                "`{src}` printed as `{printed}`, which does not parse: {}",
                d.message
            )
        });
        assert_eq!(
            sexp(&again),
            sexp(&e),
            "`{src}` printed as `{printed}`, which parses differently"
        );
        assert_eq!(
            stripped_expr(again),
            stripped_expr(e),
            "`{src}` via `{printed}`"
        );
    }
}

#[test]
fn round_trip_use_paths_and_extreme_literals() {
    // A `use` path is printed as written (backslashes and all), and a float literal
    // too large for f64 still prints as a number.
    assert_round_trip(
        "use with backslash",
        "use \"lib\\\\x.net\"\nuse \"dir\\tab.net\"\n",
    );
    assert_round_trip(
        "huge literals",
        "model M() { a = 1e400; b = 123456789012345678901234567890; return a }",
    );
}

// A random expression tree of the shapes the parser produces.
fn arb_ident() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_]{0,6}".prop_filter("not a keyword", |s| {
        ![
            "block", "model", "train", "use", "for", "in", "if", "else", "return", "input", "true",
            "false", "as",
        ]
        .contains(&s.as_str())
    })
}

fn mk(kind: ExprKind) -> Expr {
    Expr {
        kind,
        span: Span::default(),
    }
}

fn id(name: String) -> Ident {
    Ident {
        name,
        span: Span::default(),
    }
}

fn arb_expr() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![
        (0i64..1_000_000).prop_map(|v| mk(ExprKind::Int(v))),
        (0.0f64..1e6).prop_map(|v| mk(ExprKind::Float(v))),
        prop_oneof![Just(1e-7), Just(1e300), Just(0.0), Just(2.5)]
            .prop_map(|v| mk(ExprKind::Float(v))),
        any::<bool>().prop_map(|b| mk(ExprKind::Bool(b))),
        "[a-z ./]{0,8}".prop_map(|s| mk(ExprKind::Str(s))),
        arb_ident().prop_map(|v| mk(ExprKind::Var(v))),
    ];
    leaf.prop_recursive(5, 48, 4, |inner| {
        let bin = prop_oneof![
            Just(BinOp::Or),
            Just(BinOp::And),
            Just(BinOp::Eq),
            Just(BinOp::Ne),
            Just(BinOp::Lt),
            Just(BinOp::Le),
            Just(BinOp::Gt),
            Just(BinOp::Ge),
            Just(BinOp::Range),
            Just(BinOp::Add),
            Just(BinOp::Sub),
            Just(BinOp::Mul),
            Just(BinOp::Div),
            Just(BinOp::Rem),
        ];
        let arg = (proptest::option::of(arb_ident()), inner.clone()).prop_map(|(n, v)| Arg {
            name: n.map(id),
            value: v,
        });
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(|v| mk(ExprKind::List(v))),
            proptest::collection::vec((arb_ident(), inner.clone()), 0..3).prop_map(|v| mk(
                ExprKind::Record(v.into_iter().map(|(k, e)| (id(k), e)).collect())
            )),
            (prop_oneof![Just(UnOp::Neg), Just(UnOp::Not)], inner.clone())
                .prop_map(|(op, e)| mk(ExprKind::Unary(op, Box::new(e)))),
            (bin, inner.clone(), inner.clone()).prop_map(|(op, a, b)| mk(ExprKind::Binary(
                op,
                Box::new(a),
                Box::new(b)
            ))),
            (inner.clone(), inner.clone())
                .prop_map(|(a, b)| mk(ExprKind::Pipe(Box::new(a), Box::new(b)))),
            (inner.clone(), proptest::collection::vec(arg, 0..3)).prop_map(|(c, args)| mk(
                ExprKind::Call {
                    callee: Box::new(c),
                    args
                }
            )),
            (inner.clone(), inner.clone())
                .prop_map(|(a, b)| mk(ExprKind::Index(Box::new(a), Box::new(b)))),
            (inner.clone(), arb_ident()).prop_map(|(a, f)| mk(ExprKind::Field(Box::new(a), id(f)))),
            (inner.clone(), inner.clone(), inner.clone()).prop_map(|(c, a, b)| mk(ExprKind::If(
                Box::new(c),
                Box::new(a),
                Box::new(b)
            ))),
            (inner, arb_ident()).prop_map(|(a, l)| mk(ExprKind::Label(Box::new(a), id(l)))),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Any tree the parser can produce prints to text that parses back to that tree.
    #[test]
    fn printed_expressions_parse_back(e in arb_expr()) {
        let printed = expr_to_string(&e);
        let again = parse_expr(&printed, F);
        prop_assert!(again.is_ok(), "`{}` does not parse: {:?}", printed, again.err().map(|d| d.message));
        let again = stripped_expr(again.unwrap());
        prop_assert_eq!(sexp(&again), sexp(&e), "printed as `{}`", printed);
        prop_assert_eq!(again, e);
    }
}
