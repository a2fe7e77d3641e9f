//! Property tests that feed the front end broken input: random text, token soup,
//! mutations of every known model file, and random `--set` strings. The front end
//! must never panic; every error must render; every success must be a verified graph
//! that the passes, printers and summary handle; and any text that parses must print
//! back to the same tree.

use crate::common;

use netc::diag::{FileId, Sources};
use netc::syntax::{parse_file, print::print_file};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};
use std::path::PathBuf;
use std::sync::LazyLock;

/// (file name for import resolution, text) of every model and tests/in file.
static SEEDS: LazyLock<Vec<(String, String)>> = LazyLock::new(|| {
    common::MODELS
        .iter()
        .map(|m| common::model_path(m))
        .chain(common::in_files())
        .map(|p: PathBuf| {
            let text = std::fs::read_to_string(&p).unwrap();
            // A name beside the original, so `use` paths resolve the same way.
            let name = p.with_file_name("fuzzed.net");
            (name.display().to_string(), text)
        })
        .collect()
});

/// `cases` per property, or `$FUZZ_CASES` for a longer hunt
/// (`FUZZ_CASES=100000 cargo test --release --test fuzz`).
fn config(cases: u32) -> Config {
    Config {
        cases: std::env::var("FUZZ_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(cases),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..Config::default()
    }
}

/// Run the whole front end on `text` and check everything that must hold of its result.
fn front_end_never_panics(name: &str, text: &str, overrides: &[String]) {
    let mut sources = Sources::new();
    match netc::pipeline::front_end_str(&mut sources, name, text, overrides) {
        Ok(e) => {
            netc::ir::verify(&e.graph).expect("an elaborated graph verifies");
            let _ = netc::ir::print::print_graph(&e.graph);
            let _ = netc::ir::dot::to_dot(&e.graph);
            let s = netc::summary::Summary::new(&e);
            let _ = s.to_table();
            serde_json::to_string(&s).expect("a summary serialises");
            let _ = sources.render(&e.warnings, false);
            netc::pipeline::optimise(&e.graph).expect("the passes keep the graph valid");
        }
        Err(d) => {
            assert!(!d.0.is_empty(), "an error without diagnostics");
            assert!(d.has_errors(), "failed with warnings only: {d:?}");
            let text = sources.render(&d.0, false);
            assert!(text.starts_with("error: "), "{text}");
            let _ = sources.render(&d.0, true);
            for diag in &d.0 {
                assert!(
                    !diag.message.contains("internal compiler error"),
                    "internal compiler error on\n{text}"
                );
            }
        }
    }
}

/// If `text` parses, its printed form parses to the same tree.
fn round_trip_if_it_parses(text: &str) {
    if let Ok(ast) = parse_file(text, FileId(0)) {
        let printed = print_file(&ast);
        let again = parse_file(&printed, FileId(0))
            .unwrap_or_else(|d| panic!("printed AST does not parse: {}\n{printed}", d.message));
        assert_eq!(
            print_file(&again),
            printed,
            "print(parse(print(ast))) != print(ast)"
        );
    }
}

/// Tokens that mutations insert and token soup is made of: every keyword and operator,
/// names the elaborator knows, and numbers at the edges.
const TOKENS: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    ";",
    "=",
    "|>",
    "..",
    ".",
    "+",
    "-",
    "*",
    "/",
    "%",
    "!",
    "&&",
    "||",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "as",
    "if",
    "else",
    "for",
    "in",
    "return",
    "input",
    "model",
    "block",
    "use",
    "train",
    "true",
    "false",
    "x",
    "y",
    "i",
    "act",
    "conv",
    "bn",
    "relu",
    "gelu",
    "tanh",
    "leaky_relu",
    "max_pool",
    "avg_pool",
    "global_avg_pool",
    "flatten",
    "linear",
    "concat",
    "add",
    "softmax",
    "len",
    "channels",
    "height",
    "width",
    "shape",
    "min",
    "max",
    "sum",
    "int",
    "float",
    "sgd",
    "adamw",
    "multistep",
    "hflip",
    "kaiming_normal",
    "k",
    "stride",
    "pad",
    "groups",
    "bias",
    "epochs",
    "optimizer",
    "0",
    "1",
    "2",
    "3",
    "16",
    "-1",
    "0.5",
    "1e-4",
    "1e400",
    "\"s\"",
    "\"\"",
    "9223372036854775807",
    "99999999999999999999",
    "[3, 8, 8]",
    "x |> conv(4, k = 3)",
    "\"lib/common.net\"",
    "\"fuzzed.net\"",
    "\n",
    "//",
    "/*",
    "*/",
];

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => proptest::sample::select(TOKENS).prop_map(str::to_string),
        1 => "[a-zA-Z_][a-zA-Z0-9_]{0,5}",
        1 => "\\PC{1,3}",
    ]
}

/// A name or number for [`Mutation::ReplaceWord`].
fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (0i64..70).prop_map(|v| v.to_string()),
        1 => proptest::sample::select(&["-1", "0.5", "1e-4", "1e400", "9223372036854775807", "true", "false"][..])
            .prop_map(str::to_string),
        4 => proptest::sample::select(WORDS).prop_map(str::to_string),
    ]
}

const WORDS: &[&str] = &[
    "x",
    "y",
    "i",
    "g",
    "b",
    "act",
    "conv",
    "bn",
    "relu",
    "gelu",
    "tanh",
    "leaky_relu",
    "max_pool",
    "avg_pool",
    "global_avg_pool",
    "flatten",
    "linear",
    "concat",
    "add",
    "softmax",
    "len",
    "channels",
    "height",
    "width",
    "shape",
    "min",
    "max",
    "sum",
    "int",
    "float",
    "k",
    "stride",
    "pad",
    "groups",
    "bias",
    "c_hidden",
    "num_blocks",
    "num_classes",
    "subsample",
    "growth",
    "bn_size",
    "out",
    "red",
    "b1",
    "b3",
    "b5",
    "pool",
    "c_out",
    "s",
    "shortcut",
    "ResBlock",
    "PreActBlock",
    "ConvBnAct",
    "Inception",
    "DenseLayer",
    "Transition",
    "epochs",
    "batch",
    "seed",
    "sgd",
    "adam",
    "adamw",
    "cosine",
    "constant",
    "multistep",
    "hflip",
    "random_crop",
    "kaiming_uniform",
    "lr",
    "momentum",
    "milestones",
    "p",
    "size",
    "mode",
];

/// One edit of a source text. Positions are taken modulo the text's length.
#[derive(Clone, Debug)]
enum Mutation {
    DeleteBytes(usize, usize),
    InsertToken(usize, String),
    ReplaceBytes(usize, usize, String),
    DuplicateBytes(usize, usize),
    DeleteToken(usize),
    ReplaceToken(usize, String),
    DuplicateToken(usize),
    /// Replace a word (name or number) with another word: keeps the syntax valid
    /// more often, so the edit reaches the elaborator.
    ReplaceWord(usize, String),
    SwapLines(usize, usize),
    DeleteLine(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let pos = any::<usize>();
    let len = 1usize..24;
    prop_oneof![
        8 => (pos, word()).prop_map(|(p, w)| Mutation::ReplaceWord(p, w)),
        1 => (pos, len.clone()).prop_map(|(p, n)| Mutation::DeleteBytes(p, n)),
        1 => (pos, token()).prop_map(|(p, t)| Mutation::InsertToken(p, t)),
        1 => (pos, len.clone(), token()).prop_map(|(p, n, t)| Mutation::ReplaceBytes(p, n, t)),
        1 => (pos, len).prop_map(|(p, n)| Mutation::DuplicateBytes(p, n)),
        1 => pos.prop_map(Mutation::DeleteToken),
        1 => (pos, token()).prop_map(|(p, t)| Mutation::ReplaceToken(p, t)),
        1 => pos.prop_map(Mutation::DuplicateToken),
        1 => (pos, pos).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        1 => pos.prop_map(Mutation::DeleteLine),
    ]
}

/// The largest char boundary at or before `i`.
fn floor(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Byte ranges of the tokens of `s`: runs of word characters, or single other
/// non-space characters.
fn tokens(s: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut it = s.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        if c.is_whitespace() {
            continue;
        }
        let mut end = i + c.len_utf8();
        if c.is_alphanumeric() || c == '_' {
            while let Some(&(j, d)) = it.peek() {
                if !(d.is_alphanumeric() || d == '_' || d == '.') {
                    break;
                }
                end = j + d.len_utf8();
                it.next();
            }
        }
        out.push((i, end));
    }
    out
}

fn apply(text: &str, m: &Mutation) -> String {
    let n = text.len().max(1);
    let range = |p: usize, len: usize| {
        let a = floor(text, p % n);
        (a, floor(text, a + len))
    };
    let splice = |a: usize, b: usize, with: &str| format!("{}{with}{}", &text[..a], &text[b..]);
    let toks = tokens(text);
    let tok = |p: usize| toks.get(p % toks.len().max(1)).copied();
    match m {
        Mutation::DeleteBytes(p, len) => {
            let (a, b) = range(*p, *len);
            splice(a, b, "")
        }
        Mutation::InsertToken(p, t) => {
            let a = floor(text, p % (n + 1));
            splice(a, a, &format!(" {t} "))
        }
        Mutation::ReplaceBytes(p, len, t) => {
            let (a, b) = range(*p, *len);
            splice(a, b, t)
        }
        Mutation::DuplicateBytes(p, len) => {
            let (a, b) = range(*p, *len);
            splice(b, b, &text[a..b])
        }
        Mutation::DeleteToken(p) => match tok(*p) {
            Some((a, b)) => splice(a, b, ""),
            None => text.to_string(),
        },
        Mutation::ReplaceToken(p, t) => match tok(*p) {
            Some((a, b)) => splice(a, b, t),
            None => text.to_string(),
        },
        Mutation::DuplicateToken(p) => match tok(*p) {
            Some((a, b)) => splice(b, b, &format!(" {}", &text[a..b])),
            None => text.to_string(),
        },
        Mutation::ReplaceWord(p, w) => {
            let words: Vec<(usize, usize)> = toks
                .iter()
                .copied()
                .filter(|&(a, _)| text[a..].starts_with(|c: char| c.is_alphanumeric() || c == '_'))
                .collect();
            match words.get(p % words.len().max(1)) {
                Some(&(a, b)) => splice(a, b, w),
                None => text.to_string(),
            }
        }
        Mutation::SwapLines(i, j) => {
            let mut lines: Vec<&str> = text.lines().collect();
            if !lines.is_empty() {
                let len = lines.len();
                lines.swap(i % len, j % len);
            }
            lines.join("\n")
        }
        Mutation::DeleteLine(i) => {
            let mut lines: Vec<&str> = text.lines().collect();
            if !lines.is_empty() {
                let len = lines.len();
                lines.remove(i % len);
            }
            lines.join("\n")
        }
    }
}

proptest! {
    #![proptest_config(config(512))]

    /// Arbitrary printable text, alone and inside a model body.
    #[test]
    fn random_text(s in "\\PC{0,200}", inside in any::<bool>()) {
        let text = if inside {
            format!("model M(a = 3) {{\n  input x: [3, 8, 8]\n  {s}\n  return x |> flatten\n}}\n")
        } else {
            s
        };
        let name = common::root().join("models/fuzzed.net").display().to_string();
        front_end_never_panics(&name, &text, &[]);
        round_trip_if_it_parses(&text);
    }

    /// Sequences of language tokens, so that more of them get past the parser.
    #[test]
    fn token_soup(
        toks in proptest::collection::vec(token(), 0..40),
        wrap in 0u8..3,
    ) {
        let soup = toks.join(" ");
        let text = match wrap {
            0 => soup,
            1 => format!("model M(a = 3, act = relu) {{\n  input x: [3, 8, 8]\n  {soup}\n  return x |> flatten\n}}\n"),
            _ => format!("model M() {{\n  input x: [3, 8, 8]\n  return x |> flatten\n}}\ntrain {{\n  {soup}\n}}\n"),
        };
        let name = common::root().join("models/fuzzed.net").display().to_string();
        front_end_never_panics(&name, &text, &[]);
        round_trip_if_it_parses(&text);
    }

    /// Every model and tests/in file with a few random edits.
    #[test]
    fn mutated_models(
        seed in 0usize..64,
        edits in proptest::collection::vec(mutation(), 1..4),
    ) {
        let (name, original) = &SEEDS[seed % SEEDS.len()];
        let mut text = original.clone();
        for m in &edits {
            text = apply(&text, m);
        }
        front_end_never_panics(name, &text, &[]);
        round_trip_if_it_parses(&text);
    }
}

/// A `--set` value: token soup, arbitrary text, or a plausible value.
fn set_value() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => proptest::collection::vec(token(), 0..6).prop_map(|t| t.join(" ")),
        1 => "\\PC{0,20}",
        4 => proptest::collection::vec(-3i64..70, 0..5)
            .prop_map(|v| format!("{v:?}")),
        2 => (-3i64..70).prop_map(|v| v.to_string()),
        2 => expr_text(),
        2 => proptest::sample::select(&["relu", "gelu", "tanh", "leaky_relu", "softmax", "conv", "1.5", "true", "\"s\"", "{a: 1}"][..])
            .prop_map(str::to_string),
    ]
}

proptest! {
    #![proptest_config(config(256))]

    /// Random `--set` strings on the ResNet: a name (real, misspelt, empty or arbitrary),
    /// maybe an `=`, and a value.
    #[test]
    fn random_overrides(
        sets in proptest::collection::vec(
            (
                prop_oneof![
                    6 => proptest::sample::select(&["num_classes", "c_hidden", "num_blocks", "act", " act "][..])
                        .prop_map(str::to_string),
                    1 => proptest::sample::select(&["nope", "", "actt", "c_hiden"][..]).prop_map(str::to_string),
                    1 => "\\PC{0,8}",
                ],
                prop_oneof![6 => Just("="), 1 => Just(""), 1 => Just("=="), 1 => Just(" = ")],
                set_value(),
            ),
            1..4,
        ),
    ) {
        let overrides: Vec<String> = sets.into_iter().map(|(n, eq, v)| format!("{n}{eq}{v}")).collect();
        let path = common::model_path("resnet");
        let text = std::fs::read_to_string(&path).unwrap();
        front_end_never_panics(&path.display().to_string(), &text, &overrides);
    }
}

#[test]
fn mutations_are_applied() {
    // The mutation helpers themselves: positions wrap, boundaries stay on chars.
    let t = "a → b(c)\nsecond line";
    assert_eq!(apply(t, &Mutation::DeleteToken(0)), " → b(c)\nsecond line");
    assert_eq!(
        apply(t, &Mutation::SwapLines(0, 1)),
        "second line\na → b(c)"
    );
    assert_eq!(apply(t, &Mutation::DeleteLine(1)), "a → b(c)");
    for p in 0..t.len() + 3 {
        for n in 1..6 {
            let _ = apply(t, &Mutation::DeleteBytes(p, n));
            let _ = apply(t, &Mutation::DuplicateBytes(p, n));
            let _ = apply(t, &Mutation::ReplaceBytes(p, n, "x".into()));
            let _ = apply(t, &Mutation::InsertToken(p, "y".into()));
        }
    }
    assert_eq!(apply("", &Mutation::ReplaceToken(3, "z".into())), "");
}

// ---------------------------------------------------------------------------
// Random well-formed programs: syntactically valid text built from the language's
// expressions and statements, so that most cases exercise the elaborator.

/// Source text of a random expression over the names a model body has in scope.
fn expr_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        3 => (-3i64..20).prop_map(|v| v.to_string()),
        1 => proptest::sample::select(&[
            "0.5", "1e-3", "1e400", "9223372036854775807", "true", "false", "\"s\"", "[3, 8, 8]",
            "[]", "{}", "{ k: 1, c: [1, 2] }", "0..3",
        ][..])
        .prop_map(str::to_string),
        4 => proptest::sample::select(&[
            "x", "y", "z", "a", "i", "act", "relu", "gelu", "conv", "bn", "flatten", "linear",
            "global_avg_pool", "max_pool", "concat", "len", "channels", "sum", "B", "sgd", "hflip",
        ][..])
        .prop_map(str::to_string),
    ];
    let binops = proptest::sample::select(
        &[
            "+", "-", "*", "/", "%", "..", "==", "!=", "<", ">=", "&&", "||",
        ][..],
    );
    let callees = proptest::sample::select(
        &[
            "conv",
            "bn",
            "relu",
            "max_pool",
            "avg_pool",
            "linear",
            "concat",
            "add",
            "flatten",
            "global_avg_pool",
            "softmax",
            "len",
            "channels",
            "width",
            "shape",
            "min",
            "max",
            "sum",
            "int",
            "float",
            "B",
            "C",
            "sgd",
            "multistep",
            "kaiming_normal",
            "act",
        ][..],
    );
    let arg_names = proptest::sample::select(
        &[
            "k", "stride", "pad", "groups", "bias", "c", "eps", "features", "lr", "xs", "nope",
        ][..],
    );
    leaf.prop_recursive(4, 40, 4, move |inner| {
        prop_oneof![
            3 => (inner.clone(), binops.clone(), inner.clone())
                .prop_map(|(a, o, b)| format!("{a} {o} {b}")),
            3 => (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} |> {b}")),
            4 => (
                callees.clone(),
                proptest::collection::vec(
                    (proptest::option::weighted(0.3, arg_names.clone()), inner.clone()),
                    0..4
                )
            )
                .prop_map(|(f, args)| {
                    let args: Vec<String> = args
                        .into_iter()
                        .map(|(n, v)| match n {
                            Some(n) => format!("{n} = {v}"),
                            None => v,
                        })
                        .collect();
                    format!("{f}({})", args.join(", "))
                }),
            1 => (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a}[{b}]")),
            1 => (inner.clone(), proptest::sample::select(&["k", "c", "b3"][..]))
                .prop_map(|(a, f)| format!("({a}).{f}")),
            1 => (inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(c, a, b)| format!("if {c} {{ {a} }} else {{ {b} }}")),
            1 => proptest::collection::vec(inner.clone(), 0..4)
                .prop_map(|v| format!("[{}]", v.join(", "))),
            1 => (proptest::sample::select(&["-", "!"][..]), inner.clone())
                .prop_map(|(o, a)| format!("{o}({a})")),
            1 => inner.clone().prop_map(|a| format!("({a})")),
            1 => (inner, proptest::sample::select(&["l1", "l2", "b"][..]))
                .prop_map(|(a, l)| format!("{a} as {l}")),
        ]
    })
}

fn stmt_text() -> impl Strategy<Value = String> {
    let name = proptest::sample::select(&["x", "y", "z", "a", "i"][..]);
    prop_oneof![
        4 => (name.clone(), expr_text()).prop_map(|(n, e)| format!("{n} = {e}")),
        1 => (name.clone(), expr_text(), name.clone(), expr_text())
            .prop_map(|(v, it, n, e)| format!("for {v} in {it} {{ {n} = {e} }}")),
        1 => (expr_text(), name, expr_text())
            .prop_map(|(c, n, e)| format!("if {c} {{ {n} = {e} }} else {{ }}")),
    ]
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn random_well_formed_programs(
        body in proptest::collection::vec(stmt_text(), 0..5),
        ret in prop_oneof![2 => Just("x |> flatten".to_string()), 1 => expr_text()],
        train in proptest::option::weighted(0.2, expr_text()),
    ) {
        let train = train
            .map(|e| format!("train {{\n  optimizer = {e}\n}}\n"))
            .unwrap_or_default();
        let text = format!(
            "block B(x, c = 4) {{\n  return x |> conv(c, k = 1) |> act\n}}\n\
             block C(x) {{\n  return x |> B(2) |> B\n}}\n\
             model M(a = 3, act = relu) {{\n  input x: [3, 8, 8]\n  y = x\n  z = 1\n  i = 0\n  {}\n  return {ret}\n}}\n{train}",
            body.join("\n  ")
        );
        let name = common::root().join("models/fuzzed.net").display().to_string();
        front_end_never_panics(&name, &text, &[]);
        round_trip_if_it_parses(&text);
    }
}

// ---- Deep and huge programs ------------------------------------------------------------

/// Sizes at the edges of what a kernel can index (2^31 - 1 elements), and far past them.
fn size() -> impl Strategy<Value = u64> {
    prop_oneof![
        1u64..64,
        Just(46_340),
        Just(i32::MAX as u64),
        Just(1 << 31),
        Just(1_000_000_000),
        Just(10_000_000_000),
        Just(1_000_000_000_000_000_000),
        Just(i64::MAX as u64),
    ]
}

/// One line of a model that is deep (nesting around the parser's limit of 256 on both
/// sides), long (flat chains of tens of thousands of links) or huge (sizes past the
/// kernels' limit), with the `input` line it needs.
fn extreme_lines() -> impl Strategy<Value = (String, String)> {
    let input = |line: String| ("input x: [3, 8, 8]".to_string(), line);
    let depth = 0usize..600;
    prop_oneof![
        (
            depth.clone(),
            prop_oneof![Just(("(", ")")), Just(("[", "]")), Just(("-(", ")"))]
        )
            .prop_map(move |(d, (open, close))| input(format!(
                "y = {}1{}",
                open.repeat(d),
                close.repeat(d)
            ))),
        (
            depth.clone(),
            prop_oneof![Just("-"), Just("- "), Just("!"), Just("-!")]
        )
            .prop_map(move |(d, op)| input(format!("y = {}1", op.repeat(d)))),
        depth.prop_map(move |d| input(format!(
            "y = if i == 0 {{ 1 }}{} else {{ 3 }}",
            " else if i == 1 { 2 }".repeat(d)
        ))),
        (
            1usize..30_000,
            prop_oneof![
                Just(("1", " + 1")),
                Just(("1", " - 2 * 1")),
                Just(("true", " && true")),
                Just(("x", " |> relu")),
                Just(("[[1]]", "[0]")),
            ]
        )
            .prop_map(move |(n, (first, link))| input(format!("y = {first}{}", link.repeat(n)))),
        (size(), size(), size()).prop_map(move |(c, k, p)| input(format!(
            "y = x |> conv({c}, k = {k}, pad = {p}) |> flatten |> linear({c})"
        ))),
        (size(), size(), size()).prop_map(|(c, h, w)| (
            format!("input x: [{c}, {h}, {w}]"),
            "y = x |> conv(8, k = 3) |> global_avg_pool |> flatten".to_string()
        )),
    ]
}

proptest! {
    #![proptest_config(config(48))]

    /// The front end on deep, long and huge programs, on a test thread's 2 MiB stack: no
    /// panic, no stack overflow (which aborts the whole test binary), and a bounded time.
    #[test]
    fn deep_long_and_huge_programs((input, line) in extreme_lines()) {
        let text = format!("model M() {{\n  {input}\n  i = 0\n  {line}\n  return x |> flatten\n}}\n");
        let start = std::time::Instant::now();
        front_end_never_panics("extreme.net", &text, &[]);
        round_trip_if_it_parses(&text);
        let took = start.elapsed();
        // Generous, for noisy machines: a few seconds at most in a test build.
        prop_assert!(took.as_secs() < 60, "{} bytes took {took:?}", text.len());
    }
}
