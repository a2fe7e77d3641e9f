//! One test per class of user mistake. Each runs `netc check` on files written to a
//! temporary folder and asserts: exit code 1 (never a panic), and a rendered diagnostic
//! that names the file, the line and column, shows the source line with a caret under
//! the right column, and says what is wrong (and how to fix it, where there is a help).
//! The CLI's stderr must equal the library's `Sources::render(.., false)` of the same
//! diagnostics.

use crate::common;

use std::collections::HashMap;

/// The outcome of `netc check` on the first of `files`.
struct Run {
    code: Option<i32>,
    /// What the CLI printed on stderr.
    text: String,
    /// Every file's text by name (plus `--set` strings, named as codespan shows them).
    files: HashMap<String, String>,
}

/// Write `files` (name, text) into a fresh folder and run `netc check` on the first.
fn run(files: &[(&str, &str)], sets: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
    }
    let main = files[0].0;
    let mut args = vec!["check", main];
    for s in sets {
        args.push("--set");
        args.push(s);
    }
    let out = common::netc(dir.path(), &args);
    let text = common::stderr(&out);
    assert!(
        !text.contains("panicked"),
        "netc panicked on {main}:\n{text}"
    );
    // The library renders the same diagnostics (with absolute file names).
    let (sources, r) = common::front_end(&dir.path().join(main), sets);
    let lib_text = match r {
        Ok(e) => sources.render(&e.warnings, false),
        Err(d) => sources.render(&d.0, false),
    };
    let prefix = format!("{}/", dir.path().display());
    assert_eq!(
        lib_text.replace(&prefix, ""),
        text,
        "CLI and library render differently"
    );
    let mut map: HashMap<String, String> = files
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    for s in sets {
        map.insert(format!("--set {s}"), s.to_string());
    }
    Run {
        code: out.status.code(),
        text,
        files: map,
    }
}

/// `netc check` on `files` must fail with exit code 1 and an error first.
fn fails(files: &[(&str, &str)], sets: &[&str]) -> Run {
    let r = run(files, sets);
    assert_eq!(r.code, Some(1), "expected exit code 1, got:\n{}", r.text);
    assert!(r.text.starts_with("error: "), "{}", r.text);
    r
}

fn fails1(src: &str) -> Run {
    fails(&[("main.net", src)], &[])
}

impl Run {
    /// The first line is `error: <message>` (or `warning: ...`).
    fn message(&self, m: &str) -> &Self {
        let first = self.text.lines().next().unwrap_or("");
        assert!(
            first == format!("error: {m}") || first == format!("warning: {m}"),
            "expected message `{m}`, got:\n{}",
            self.text
        );
        self
    }

    fn contains(&self, s: &str) -> &Self {
        assert!(self.text.contains(s), "expected `{s}` in:\n{}", self.text);
        self
    }

    fn help(&self, h: &str) -> &Self {
        self.contains(&format!("= help: {h}"))
    }

    fn note(&self, n: &str) -> &Self {
        self.contains(&format!("= {n}"))
    }

    fn no_help(&self) -> &Self {
        assert!(
            !self.text.contains("= help:"),
            "unexpected help:\n{}",
            self.text
        );
        self
    }

    /// The rendered rows that show `line` of `file`, with the marker rows below it.
    fn marker_rows(&self, file: &str, line: usize) -> (usize, Vec<Vec<char>>) {
        let src = self
            .files
            .get(file)
            .unwrap_or_else(|| panic!("no file {file}"));
        let text = src.lines().nth(line - 1).expect("line exists").trim_end();
        let rows: Vec<&str> = self.text.lines().collect();
        let want = format!("{line} │ {text}");
        let at = rows
            .iter()
            .position(|r| r.trim_start().trim_end() == want.trim_end())
            .unwrap_or_else(|| {
                panic!(
                    "source line {line} of {file} (`{text}`) is not shown:\n{}",
                    self.text
                )
            });
        let bar = rows[at].chars().position(|c| c == '│').unwrap();
        // Marker rows follow until the next source row or the end of the snippet.
        let markers = rows[at + 1..]
            .iter()
            .take_while(|r| {
                let t = r.trim_start();
                t.starts_with('│') || t.starts_with('·')
            })
            .map(|r| r.chars().collect())
            .collect();
        (bar, markers)
    }

    /// The primary position: `┌─ file:line:col`, the source line, and `^` under `col`.
    fn at(&self, file: &str, line: usize, col: usize) -> &Self {
        self.contains(&format!("┌─ {file}:{line}:{col}\n"));
        self.marked(file, line, col, '^')
    }

    /// A secondary label (`-` under `col` of `line`) saying `label`.
    fn secondary(&self, file: &str, line: usize, col: usize, label: &str) -> &Self {
        self.contains(label);
        self.marked(file, line, col, '-')
    }

    fn marked(&self, file: &str, line: usize, col: usize, mark: char) -> &Self {
        let (bar, rows) = self.marker_rows(file, line);
        let pos = bar + 2 + col - 1;
        assert!(
            rows.iter().any(|r| r.get(pos) == Some(&mark)),
            "no `{mark}` under {file}:{line}:{col}:\n{}",
            self.text
        );
        self
    }

    fn primary_label(&self, label: &str) -> &Self {
        assert!(
            self.text
                .lines()
                .any(|l| l.contains('^') && l.trim_end().ends_with(label)),
            "no primary label `{label}`:\n{}",
            self.text
        );
        self
    }
}

const OK_TAIL: &str = "  return x |> flatten\n}\n";

// ---------------------------------------------------------------------------
// Syntax.

#[test]
fn syntax_error_unclosed_call() {
    fails1("model M() {\n  input x: [3, 8, 8]\n  y = x |> conv(4, k = 3\n  return y\n}\n")
        .message("syntax error: expected `(`, `.`, `[`, `as` or an operator")
        .at("main.net", 4, 3)
        .primary_label("expected `(`, `.`, `[`, `as` or an operator here");
}

#[test]
fn syntax_error_misspelt_keyword() {
    fails1("modle M() {\n  input x: [3, 8, 8]\n  return x\n}\n")
        .message("syntax error: expected `use`, `block`, `model` or `train`")
        .at("main.net", 1, 1);
}

#[test]
fn syntax_error_missing_expression() {
    fails1("model M() {\n  input x: [3, 8, 8]\n  y = \n  return x\n}\n")
        .message("syntax error: expected an expression")
        .at("main.net", 4, 3);
}

#[test]
fn syntax_error_in_an_imported_file() {
    fails(
        &[
            (
                "main.net",
                "use \"lib/a.net\"\nmodel M() {\n  input x: [3, 8, 8]\n  return x\n}\n",
            ),
            ("lib/a.net", "block A(x) {\n  return x |>\n}\n"),
        ],
        &[],
    )
    .message("syntax error: expected `(`, `if`, `true` or `false`, a list, a name, a number, a prefix operator, a record or a string")
    .at("lib/a.net", 3, 1);
}

// ---------------------------------------------------------------------------
// Names.

#[test]
fn unknown_op_suggests_the_closest() {
    fails1(
        "model M() {\n  input x: [3, 8, 8]\n  return x |> conv(4, k = 3) |> rellu |> flatten\n}\n",
    )
    .message("unknown name `rellu`")
    .at("main.net", 3, 33)
    .primary_label("not defined here")
    .help("did you mean `relu`?");
}

#[test]
fn unknown_block_suggests_the_closest() {
    fails1(
        "block ConvBlock(x) { return x |> conv(4, k = 3) }\nmodel M() {\n  input x: [3, 8, 8]\n  return x |> ConvBlok |> flatten\n}\n",
    )
    .message("unknown name `ConvBlok`")
    .at("main.net", 4, 15)
    .help("did you mean `ConvBlock`?");
}

#[test]
fn unknown_variable_suggests_a_transposition() {
    fails1("model M(width = 8) {\n  input x: [3, 8, 8]\n  return x |> conv(widht, k = 3) |> flatten\n}\n")
        .message("unknown name `widht`")
        .at("main.net", 3, 20)
        .help("did you mean `width`?");
}

#[test]
fn unknown_name_far_from_everything_has_no_help() {
    fails1("model M() {\n  input x: [3, 8, 8]\n  return x |> zzzzqqq |> flatten\n}\n")
        .message("unknown name `zzzzqqq`")
        .at("main.net", 3, 15)
        .no_help();
}

#[test]
fn unknown_named_parameter_of_an_op() {
    fails1("model M() {\n  input x: [3, 8, 8]\n  return x |> conv(4, k = 3, strid = 2) |> flatten\n}\n")
        .message("`conv` has no parameter `strid`")
        .at("main.net", 3, 30)
        .primary_label("unknown parameter")
        .help("did you mean `stride`? signature: conv(x, channels, k, stride = 1, pad = 0, groups = 1, bias = true)");
}

#[test]
fn unknown_named_parameter_of_a_block() {
    fails1(
        "block B(x, width = 4) {\n  return x |> conv(width, k = 1)\n}\nmodel M() {\n  input x: [3, 8, 8]\n  return x |> B(widht = 2) |> flatten\n}\n",
    )
    .message("block `B` has no parameter `widht`")
    .at("main.net", 6, 17)
    .secondary("main.net", 1, 7, "defined here")
    .help("did you mean `width`?");
}

// ---------------------------------------------------------------------------
// Arguments.

#[test]
fn wrong_argument_type() {
    fails1("model M() {\n  input x: [3, 8, 8]\n  return conv(x, 1.5, k = 3) |> flatten\n}\n")
        .message("argument `channels` of `conv` must be a positive int, got 1.5 (float)")
        .at("main.net", 3, 18)
        .primary_label("expected a positive int");
}

#[test]
fn wrong_argument_type_tensor_expected() {
    fails1("model M() {\n  input x: [3, 8, 8]\n  y = relu(3)\n  return x |> flatten\n}\n")
        .message("argument `x` of `relu` must be a tensor, got 3 (int)")
        .at("main.net", 3, 12);
}

#[test]
fn missing_required_argument_of_an_op() {
    fails1("model M() {\n  input x: [3, 8, 8]\n  return x |> conv(4) |> flatten\n}\n")
        .message("missing argument `k` of `conv`")
        .at("main.net", 3, 15)
        .primary_label("`k` (a positive int or a pair [h, w] of them) is required")
        .help("signature: conv(x, channels, k, stride = 1, pad = 0, groups = 1, bias = true)");
}

#[test]
fn missing_required_argument_of_a_block() {
    fails1(
        "block B(x, width) {\n  return x |> conv(width, k = 1)\n}\nmodel M() {\n  input x: [3, 8, 8]\n  return x |> B |> flatten\n}\n",
    )
    .message("missing argument `width` of `B`")
    .at("main.net", 6, 15)
    .secondary("main.net", 1, 12, "parameter declared here");
}

#[test]
fn too_many_arguments() {
    fails1("model M() {\n  input x: [3, 8, 8]\n  return x |> relu(1) |> flatten\n}\n")
        .message("too many arguments to `relu`")
        .at("main.net", 3, 20)
        .help("signature: relu(x)");
}

#[test]
fn argument_given_twice() {
    fails1("model M() {\n  input x: [3, 8, 8]\n  return x |> conv(4, 3, k = 3) |> flatten\n}\n")
        .message("argument `k` of `conv` is given twice")
        .at("main.net", 3, 30);
}

// ---------------------------------------------------------------------------
// `--set`.

const SET_MODEL: &str = "model M(width = 8, act = relu, widths = [4, 8]) {\n  input x: [3, 8, 8]\n  return x |> conv(width, k = 1) |> act |> flatten\n}\n";

#[test]
fn set_of_an_unknown_name() {
    fails(&[("main.net", SET_MODEL)], &["widht=4"])
        .message("model `M` has no parameter `widht`")
        .at("--set widht=4", 1, 1)
        .primary_label("unknown parameter")
        .help("did you mean `width`?");
    fails(&[("main.net", SET_MODEL)], &["depth=4"])
        .message("model `M` has no parameter `depth`")
        .help("the parameters are: width, act, widths");
}

#[test]
fn set_of_a_value_of_the_wrong_type() {
    fails(&[("main.net", SET_MODEL)], &["width=1.5"])
        .message("`--set width` expects a value like the default 8, got 1.5 (float)")
        .at("--set width=1.5", 1, 7)
        .primary_label("expected an int");
    fails(&[("main.net", SET_MODEL)], &["act=3"])
        .message("`--set act` expects a value like the default relu, got 3 (int)")
        .at("--set act=3", 1, 5);
    fails(&[("main.net", SET_MODEL)], &["widths=[1, true]"])
        .message("`--set widths` expects a value like the default [4, 8], got [1, true] (list)")
        .at("--set widths=[1, true]", 1, 8);
    fails(&[("main.net", SET_MODEL)], &["act=softmax"])
        .message("`--set act` expects a value like the default relu, got the function `softmax`");
}

#[test]
fn set_that_is_not_name_value() {
    fails(&[("main.net", SET_MODEL)], &["width"])
        .message("`--set width` is not of the form name=value")
        .at("--set width", 1, 1)
        .primary_label("expected name=value");
}

#[test]
fn set_with_a_syntax_error_in_the_value() {
    fails(&[("main.net", SET_MODEL)], &["widths=[1, 2"])
        .message("syntax error: expected `(`, `.`, `[`, `as` or an operator")
        .at("--set widths=[1, 2", 1, 13);
}

#[test]
fn set_with_a_value_that_names_a_variable() {
    // `--set` values may only use built-in names.
    fails(&[("main.net", SET_MODEL)], &["width=widths"])
        .message("unknown name `widths`")
        .at("--set width=widths", 1, 7);
}

#[test]
fn set_value_rejected_where_it_is_used() {
    // The value has the right type but is invalid for the op that receives it.
    fails(&[("main.net", SET_MODEL)], &["width=0"])
        .message("argument `channels` of `conv` must be a positive int, got 0 (int)")
        .at("main.net", 3, 20);
}

#[test]
fn model_parameter_without_default() {
    let src =
        "model M(width) {\n  input x: [3, 8, 8]\n  return x |> conv(width, k = 1) |> flatten\n}\n";
    fails(&[("main.net", src)], &[])
        .message("model parameter `width` has no default")
        .at("main.net", 1, 9)
        .help("give it one here, or pass `--set width=...`");
    let ok = run(&[("main.net", src)], &["width=2"]);
    assert_eq!(ok.code, Some(0), "{}", ok.text);
}

// ---------------------------------------------------------------------------
// Shapes.

#[test]
fn add_of_different_shapes() {
    fails1("model M() {\n  input x: [3, 8, 8]\n  a = x |> conv(4, k = 3)\n  b = x |> conv(4, k = 1)\n  return a + b |> flatten\n}\n")
        .message("shape error in `add`: add of different shapes: [N,4,6,6] + [N,4,8,8]")
        .at("main.net", 5, 10)
        .help("a residual connection needs a projection (e.g. a 1x1 conv with stride) when the shapes differ");
}

#[test]
fn concat_of_different_spatial_sizes() {
    fails1("model M() {\n  input x: [3, 8, 8]\n  a = x |> conv(4, k = 3)\n  return concat(x, x, a) |> flatten\n}\n")
        .message("shape error in `concat`: concat of different spatial sizes: input 0 is [N,3,8,8], input 2 is [N,4,6,6]")
        .at("main.net", 4, 10)
        .help("concat joins channels; every input needs the same height and width");
}

#[test]
fn linear_on_an_unflattened_tensor() {
    fails1("model M() {\n  input x: [3, 8, 8]\n  return x |> linear(10)\n}\n")
        .message("shape error in `linear`: linear expects a flat input [N,features], got [N,3,8,8]")
        .at("main.net", 3, 15)
        .help("insert `flatten` (or `global_avg_pool |> flatten`) before `linear`");
}

#[test]
fn conv_on_a_flat_tensor() {
    fails1("model M() {\n  input x: [3, 8, 8]\n  return x |> flatten |> conv(4, k = 1)\n}\n")
        .message("shape error in `conv`: conv2d expects an image tensor [N,C,H,W], got [N,192]")
        .at("main.net", 3, 26)
        .help("image ops need 4-D input; did a `flatten` or `linear` come too early?");
}

#[test]
fn pooling_window_that_does_not_fit() {
    fails1("model M() {\n  input x: [3, 8, 8]\n  return x |> max_pool(16) |> flatten\n}\n")
        .message("shape error in `max_pool`: max_pool2d window (k=16x16 s=16x16 p=0x0) does not fit the 8x8 input")
        .at("main.net", 3, 15);
    fails1("model M() {\n  input x: [3, 8, 8]\n  return x |> conv(4, k = [3, 9]) |> flatten\n}\n")
        .message(
            "shape error in `conv`: conv2d window (k=3x9 s=1x1 p=0x0) does not fit the 8x8 input",
        )
        .at("main.net", 3, 15);
}

#[test]
fn pooling_padding_more_than_half_the_kernel() {
    fails1("model M() {\n  input x: [3, 8, 8]\n  return x |> avg_pool(2, pad = 2) |> flatten\n}\n")
        .message("shape error in `avg_pool`: avg_pool2d padding 2 is more than half the kernel 2")
        .at("main.net", 3, 15)
        .help("PyTorch requires pad <= k / 2 for pooling");
}

#[test]
fn groups_that_do_not_divide_the_channels() {
    fails1("model M() {\n  input x: [3, 8, 8]\n  return x |> conv(4, k = 1, groups = 2) |> flatten\n}\n")
        .message("shape error in `conv`: conv2d groups = 2 must divide both the input channels (3) and the output channels (4)")
        .at("main.net", 3, 15);
}

#[test]
fn image_builtins_on_a_flat_tensor() {
    fails1("model M() {\n  input x: [3, 8, 8]\n  y = x |> flatten\n  return y |> linear(channels(y))\n}\n")
        .message("`channels` expects an image tensor [N,C,H,W], got 1 per-example dimension(s)")
        .at("main.net", 4, 31);
}

// ---------------------------------------------------------------------------
// Sizes.

#[test]
fn zero_output_channels() {
    fails1("model M() {\n  input x: [3, 8, 8]\n  return x |> conv(0, k = 3) |> flatten\n}\n")
        .message("argument `channels` of `conv` must be a positive int, got 0 (int)")
        .at("main.net", 3, 20);
}

#[test]
fn zero_kernel() {
    fails1("model M() {\n  input x: [3, 8, 8]\n  return x |> conv(4, k = 0) |> flatten\n}\n")
        .message(
            "argument `k` of `conv` must be a positive int or a pair [h, w] of them, got 0 (int)",
        )
        .at("main.net", 3, 27);
}

#[test]
fn negative_stride_and_padding() {
    fails1("model M() {\n  input x: [3, 8, 8]\n  return x |> conv(4, k = 3, stride = [1, -1]) |> flatten\n}\n")
        .message("argument `stride` of `conv` must be a positive int or a pair [h, w] of them, got [1, -1] (list)")
        .at("main.net", 3, 39);
    fails1("model M() {\n  input x: [3, 8, 8]\n  return x |> conv(4, k = 3, pad = -1) |> flatten\n}\n")
        .message("argument `pad` of `conv` must be a non-negative int or a pair [h, w] of them, got -1 (int)")
        .at("main.net", 3, 36);
}

#[test]
fn zero_or_negative_input_dimension() {
    fails1("model M() {\n  input x: [3, 0, 8]\n  return x |> flatten\n}\n")
        .message("input dimensions must be positive ints, got 0 (int)")
        .at("main.net", 2, 12)
        .primary_label("invalid dimension");
    fails1("model M() {\n  input x: [3, -8, 8]\n  return x |> flatten\n}\n")
        .message("input dimensions must be positive ints, got -8 (int)")
        .at("main.net", 2, 12);
    fails1("model M() {\n  input x: 3\n  return x |> flatten\n}\n")
        .message("an input's shape is a list of dimensions, got 3 (int)")
        .at("main.net", 2, 12);
}

#[test]
fn huge_sizes_are_errors_not_crashes() {
    // Sizes whose products overflow must be reported, not crash the compiler.
    for (body, what) in [
        (
            "input x: [4611686018427387904, 4, 4]\n  return x |> flatten",
            "flatten",
        ),
        (
            "input x: [3, 8, 8]\n  return x |> conv(3, k = 3, pad = 9223372036854775807) |> flatten",
            "padding",
        ),
        (
            "input x: [3, 8, 8]\n  return x |> conv(9223372036854775807, k = 3, pad = 1) |> global_avg_pool |> flatten",
            "channels",
        ),
        (
            "input x: [3000000, 3000000, 3000000]\n  return x |> flatten |> linear(3000000)",
            "linear",
        ),
    ] {
        let r = run(
            &[("main.net", &format!("model M() {{\n  {body}\n}}\n"))],
            &[],
        );
        assert!(
            r.code == Some(1) || r.code == Some(0),
            "{what}: exit code {:?}:\n{}",
            r.code,
            r.text
        );
        if r.code == Some(1) {
            assert!(r.text.starts_with("error: "), "{what}: {}", r.text);
            assert!(r.text.contains("main.net:"), "{what}: {}", r.text);
        }
    }
}

// ---------------------------------------------------------------------------
// Blocks and imports.

#[test]
fn error_inside_a_block_shows_the_call_site() {
    fails1(
        "block Head(x, classes) {\n  return x |> linear(classes)\n}\nmodel M() {\n  input x: [3, 8, 8]\n  return x |> Head(10)\n}\n",
    )
    .message("shape error in `linear`: linear expects a flat input [N,features], got [N,3,8,8]")
    .at("main.net", 2, 15)
    .secondary("main.net", 6, 15, "in this call to `Head`");
}

#[test]
fn error_two_blocks_deep_shows_both_call_sites() {
    fails(
        &[
            (
                "main.net",
                "use \"lib/blocks.net\"\nmodel M() {\n  input x: [3, 8, 8]\n  return x |> Outer(5) |> flatten\n}\n",
            ),
            (
                "lib/blocks.net",
                "block Inner(x, c) {\n  return x |> conv(c, k = 1, groups = 2)\n}\nblock Outer(x, c) {\n  y = x |> conv(4, k = 1)\n  return y |> Inner(c)\n}\n",
            ),
        ],
        &[],
    )
    .message("shape error in `conv`: conv2d groups = 2 must divide both the input channels (4) and the output channels (5)")
    .at("lib/blocks.net", 2, 15)
    .secondary("lib/blocks.net", 6, 15, "in this call to `Inner`")
    .secondary("main.net", 4, 15, "in this call to `Outer`");
}

#[test]
fn recursion_between_blocks() {
    fails1(
        "block A(x) { return x |> B }\nblock B(x) { return x |> relu |> A }\nmodel M() {\n  input x: [3, 8, 8]\n  return x |> A |> flatten\n}\n",
    )
    .message("recursive block `A`")
    .at("main.net", 2, 34)
    .primary_label("this call recurses")
    .secondary("main.net", 1, 7, "defined here")
    .secondary("main.net", 1, 26, "in this call to `B`")
    .secondary("main.net", 5, 15, "in this call to `A`")
    .note("call chain: A → B → A")
    .help("blocks are expanded at compile time, so they cannot call themselves; use a `for` loop");
}

#[test]
fn a_block_calling_itself() {
    fails1("block A(x) {\n  return x |> A\n}\nmodel M() {\n  input x: [3, 8, 8]\n  return x |> A |> flatten\n}\n")
        .message("recursive block `A`")
        .at("main.net", 2, 15)
        .note("call chain: A → A");
}

#[test]
fn a_block_named_like_the_model_is_not_recursion() {
    let r = run(
        &[(
            "main.net",
            "block Net(x) { return x |> relu }\nmodel Net() {\n  input x: [3, 8, 8]\n  return x |> Net |> flatten\n}\n",
        )],
        &[],
    );
    assert_eq!(r.code, Some(0), "{}", r.text);
}

#[test]
fn cyclic_imports() {
    fails(
        &[
            (
                "main.net",
                "use \"lib/a.net\"\nmodel M() {\n  input x: [3, 8, 8]\n  return x |> flatten\n}\n",
            ),
            ("lib/a.net", "use \"b.net\"\nblock A(x) { return x }\n"),
            (
                "lib/b.net",
                "// b imports a back\nuse \"a.net\"\nblock B(x) { return x }\n",
            ),
        ],
        &[],
    )
    .message("import cycle")
    .at("lib/b.net", 2, 1)
    .primary_label("this import leads back to a file being imported")
    .note("cycle: lib/a.net → lib/b.net → lib/a.net");
}

#[test]
fn a_file_importing_itself() {
    fails1("use \"main.net\"\nmodel M() {\n  input x: [3, 8, 8]\n  return x |> flatten\n}\n")
        .message("import cycle")
        .at("main.net", 1, 1)
        .note("cycle: main.net → main.net");
}

#[test]
fn diamond_imports_are_not_cycles() {
    let r = run(
        &[
            (
                "main.net",
                "use \"lib/a.net\"\nuse \"lib/b.net\"\nmodel M() {\n  input x: [3, 8, 8]\n  return x |> A |> B |> C |> flatten\n}\n",
            ),
            ("lib/a.net", "use \"c.net\"\nblock A(x) { return x |> C }\n"),
            (
                "lib/b.net",
                "use \"./c.net\"\nblock B(x) { return x |> C }\n",
            ),
            ("lib/c.net", "block C(x) { return x |> relu }\n"),
        ],
        &[],
    );
    assert_eq!(r.code, Some(0), "{}", r.text);
}

#[test]
fn missing_import() {
    fails1(
        "use \"lib/nothere.net\"\nmodel M() {\n  input x: [3, 8, 8]\n  return x |> flatten\n}\n",
    )
    .message("cannot import `lib/nothere.net`: No such file or directory (os error 2)")
    .at("main.net", 1, 1)
    .primary_label("imported here")
    .note("looked for lib/nothere.net")
    .help("`use` paths are relative to the file that contains them");
}

#[test]
fn block_defined_twice_across_files() {
    fails(
        &[
            ("main.net", "use \"lib.net\"\nblock A(x) { return x }\nmodel M() {\n  input x: [3, 8, 8]\n  return x |> A |> flatten\n}\n"),
            ("lib.net", "block A(x) { return x |> relu }\n"),
        ],
        &[],
    )
    .message("block `A` is defined twice")
    .at("lib.net", 1, 7)
    .secondary("main.net", 2, 7, "first definition");
}

#[test]
fn block_named_like_a_builtin() {
    fails1(
        "block conv(x) { return x }\nmodel M() {\n  input x: [3, 8, 8]\n  return x |> flatten\n}\n",
    )
    .message("block `conv` has the name of a built-in")
    .at("main.net", 1, 7);
}

#[test]
fn input_inside_a_block() {
    fails1("block B(x) {\n  input y: [3]\n  return x\n}\nmodel M() {\n  input x: [3, 8, 8]\n  return x |> B |> flatten\n}\n")
        .message("`input` is only allowed in a model")
        .at("main.net", 2, 3)
        .secondary("main.net", 7, 15, "in this call to `B`")
        .help("pass tensors to a block as arguments");
}

#[test]
fn block_without_return() {
    fails1("block B(x) {\n  y = x\n}\nmodel M() {\n  input x: [3, 8, 8]\n  return x |> B |> flatten\n}\n")
        .message("block `B` ended without `return`")
        .at("main.net", 6, 15)
        .secondary("main.net", 1, 7, "block defined here");
}

// ---------------------------------------------------------------------------
// Warnings.

#[test]
fn unused_tensor_is_a_warning() {
    let r = run(
        &[(
            "main.net",
            "model M() {\n  input x: [3, 8, 8]\n  y = x |> conv(4, k = 3)\n  return x |> flatten\n}\n",
        )],
        &[],
    );
    assert_eq!(r.code, Some(0), "a warning is not an error:\n{}", r.text);
    r.message("the result of `conv2d` is never used")
        .at("main.net", 3, 12)
        .primary_label("unused value")
        .help("remove it, or use it (e.g. return it or add it to another tensor)");
    assert!(!r.text.contains("error"), "{}", r.text);
}

#[test]
fn unused_input_is_a_warning() {
    let r = run(
        &[(
            "main.net",
            "model M() {\n  input x: [3, 8, 8]\n  input extra: [5]\n  return x |> flatten\n}\n",
        )],
        &[],
    );
    assert_eq!(r.code, Some(0), "{}", r.text);
    r.message("input `extra` is never used")
        .at("main.net", 3, 3);
}

#[test]
fn unused_branch_warns_once() {
    // Only the end of the dead chain is reported, not every node feeding it.
    let r = run(
        &[(
            "main.net",
            "model M() {\n  input x: [3, 8, 8]\n  y = x |> conv(4, k = 3) |> bn |> relu\n  return x |> flatten\n}\n",
        )],
        &[],
    );
    assert_eq!(r.code, Some(0));
    assert_eq!(r.text.matches("warning:").count(), 1, "{}", r.text);
    r.message("the result of `relu` is never used");
}

// ---------------------------------------------------------------------------
// Model structure.

#[test]
fn no_model_in_the_file() {
    fails1("block A(x) {\n  return x\n}\n")
        .message("no `model` in this file")
        .at("main.net", 1, 1)
        .help("a `.net` file that is compiled or trained defines exactly one model; files with only blocks are libraries for `use`");
}

#[test]
fn two_models() {
    fails1(&format!(
        "model M() {{\n  input x: [3, 8, 8]\n{OK_TAIL}model N() {{\n  input x: [3, 8, 8]\n{OK_TAIL}"
    ))
    .message("more than one `model` in this file")
    .at("main.net", 5, 7)
    .primary_label("second model")
    .secondary("main.net", 1, 7, "first model")
    .help("put each model in its own file; share blocks with `use`");
}

#[test]
fn model_without_return_or_input() {
    fails1("model M() {\n  input x: [3, 8, 8]\n  y = x\n}\n")
        .message("model `M` does not return anything")
        .at("main.net", 1, 7)
        .help("end the model with `return <logits>`");
    fails1("model M() {\n  return 3\n}\n")
        .message("model `M` has no input")
        .at("main.net", 1, 7);
    fails1("model M() {\n  input x: [3, 8, 8]\n  return 3\n}\n")
        .message("a model must return a tensor, not an int")
        .at("main.net", 3, 3)
        .primary_label("this returns 3 (int)");
}

#[test]
fn duplicate_input() {
    fails1("model M() {\n  input x: [3, 8, 8]\n  input x: [3, 8, 8]\n  return x |> flatten\n}\n")
        .message("input `x` is declared twice")
        .at("main.net", 3, 9);
}

#[test]
fn duplicate_layer_labels() {
    fails1("model M() {\n  input x: [3, 8, 8]\n  y = x |> conv(4, k = 3) as c\n  return y |> conv(4, k = 3) as c |> flatten\n}\n")
        .message("layer name `c` is already used in this block")
        .at("main.net", 4, 33)
        .primary_label("duplicate name");
}

#[test]
fn label_after_something_that_is_not_a_call() {
    fails1("model M() {\n  input x: [3, 8, 8]\n  y = x as z\n  return x |> flatten\n}\n")
        .message("`as` names a layer, so it must follow a call")
        .at("main.net", 3, 12)
        .help("write e.g. `conv(16, k = 1) as shortcut`");
}

// ---------------------------------------------------------------------------
// Values.

#[test]
fn value_errors() {
    let model = |line: &str| {
        format!("model M() {{\n  input x: [3, 8, 8]\n  {line}\n  return x |> flatten\n}}\n")
    };
    for (line, message, col) in [
        (
            "a = [1, 2][2]",
            "index 2 is out of range for a list of length 2",
            14,
        ),
        (
            "a = [1, 2][-3]",
            "index -3 is out of range for a list of length 2",
            14,
        ),
        ("a = 3[0]", "cannot index 3 (int)", 7),
        ("a = {k: 1}.j", "record has no field `j`", 14),
        ("a = {k: 1, k: 2}", "field `k` is given twice", 14),
        ("a = 1 / 0", "division by zero", 11),
        ("a = 1 % 0", "division by zero", 11),
        ("a = 9223372036854775807 + 1", "integer overflow", 7),
        (
            "a = 1 + \"s\"",
            "cannot apply `+` to 1 (int) and \"s\" (string)",
            7,
        ),
        ("a = -true", "cannot apply `-` to true (bool)", 7),
        (
            "a = 0..10000000",
            "range 0..10000000 has more than 1000000 elements",
            7,
        ),
        ("a = 3(1)", "3 (int) is not callable", 7),
        (
            "a = if 1 { 2 } else { 3 }",
            "a condition must be a bool, got 1 (int)",
            10,
        ),
        (
            "for i in 3 { }",
            "`for` needs a list or a range, got 3 (int)",
            12,
        ),
        ("a = len(3)", "`len` of 3 (int)", 11),
        ("a = min([])", "`min` of nothing", 7),
        (
            "a = int(\"s\")",
            "cannot convert \"s\" (string) to an int",
            11,
        ),
        (
            "a = concat(x)",
            "`concat` needs at least two tensors, got 1",
            7,
        ),
        (
            "a = concat(x, 1)",
            "`concat` expects tensors, got an int",
            17,
        ),
    ] {
        let src = model(line);
        let r = fails1(&src);
        r.message(message).at("main.net", 3, col);
    }
}

// ---------------------------------------------------------------------------
// The train section.

fn with_train(train: &str) -> String {
    format!("model M(act = relu) {{\n  input x: [3, 8, 8]\n{OK_TAIL}train {{\n  {train}\n}}\n")
}

#[test]
fn unknown_train_key() {
    fails1(&with_train("epoch = 3"))
        .message("unknown training setting `epoch`")
        .at("main.net", 6, 3)
        .primary_label("not a recipe key")
        .help("did you mean `epochs`?");
    fails1(&with_train("learning_rate = 3"))
        .message("unknown training setting `learning_rate`")
        .help("the keys are: optimizer, schedule, warmup_epochs, augment, eval_transform, init, epochs, batch, val_size, seed, early_stopping");
}

#[test]
fn invalid_train_values() {
    fails1(&with_train("epochs = -1"))
        .message("`epochs` must be a positive int, got -1 (int)")
        .at("main.net", 6, 12)
        .primary_label("expected a positive int");
    fails1(&with_train("optimizer = 3"))
        .message("`optimizer` must be an optimizer: sgd(...), adam(...) or adamw(...), got 3 (int)")
        .at("main.net", 6, 15);
    fails1(&with_train("optimizer = sgd(lr = -0.1)"))
        .message("argument `lr` of `sgd` must be a positive number, got -0.1 (float)")
        .at("main.net", 6, 24);
    fails1(&with_train("optimizer = sgd(momentum = 0.9)"))
        .message("missing argument `lr` of `sgd`")
        .at("main.net", 6, 15);
    fails1(&with_train("augment = [hflip(p = 2)]"))
        .message("argument `p` of `hflip` must be a number between 0 and 1, got 2 (int)")
        .at("main.net", 6, 24);
    fails1(&with_train("augment = [sgd(lr = 1)]"))
        .message("`augment` items must be hflip(...), random_resized_crop(...), random_crop(...), resize(...), center_crop(...) or normalize(...), got the recipe item `sgd(...)`")
        .at("main.net", 6, 13);
    fails1(&with_train("init = kaiming_normal(mode = \"fan_mid\")"))
        .message("argument `mode` of `kaiming_normal` must be one of \"fan_in\", \"fan_out\", got \"fan_mid\" (string)")
        .at("main.net", 6, 32);
    fails1(&with_train("init = kaiming_normal(nonlinearity = softmax)"))
        .message(&format!(
            "argument `nonlinearity` of `kaiming_normal` must be an activation ({}), got a function",
            netc::ops::activation::Activation::names()
        ))
        .at("main.net", 6, 40);
    fails1(&with_train("schedule = multistep(milestones = [0])"))
        .message(
            "argument `milestones` of `multistep` must be a list of positive ints, got [0] (list)",
        )
        .at("main.net", 6, 37);
    fails1(&with_train("batch = 1.5"))
        .message("`batch` must be a positive int, got 1.5 (float)")
        .at("main.net", 6, 11);
    fails1(&with_train("seed = 1\n  seed = 2"))
        .message("training setting `seed` is given twice")
        .at("main.net", 7, 3);
}

#[test]
fn train_section_sees_the_hyper_parameters() {
    let r = run(
        &[(
            "main.net",
            &with_train("init = kaiming_uniform(nonlinearity = act)"),
        )],
        &["act=tanh"],
    );
    assert_eq!(r.code, Some(0), "{}", r.text);
}

// ---------------------------------------------------------------------------
// Files.

#[test]
fn missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::netc(dir.path(), &["check", "nothere.net"]);
    assert_eq!(out.status.code(), Some(1));
    let text = common::stderr(&out);
    assert!(
        text.starts_with("error: cannot read `nothere.net`"),
        "{text}"
    );
}

#[test]
fn empty_file() {
    fails1("").message("no `model` in this file");
    fails1("// only a comment\n").message("no `model` in this file");
}
