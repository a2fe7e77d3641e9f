//! A bound on nesting, checked on the raw text before pest sees it.
//!
//! pest's generated parser, and its Pratt parser for prefix operators, recurse once per
//! level of nesting, so a file of 50,000 `(` or 50,000 prefix `-` would overflow the
//! stack inside the parser, where no diagnostic can be made. This scan finds the three
//! ways the grammar nests — brackets (`(`, `[`, `{`), runs of prefix operators (`- - !x`),
//! and `else if` chains — and reports the first place that goes deeper than
//! [`MAX_NESTING`], at the user's text. Long flat chains (`a + b + ...`, `x |> f |> ...`)
//! do not nest in the grammar and are not limited here; the stages after parsing walk
//! them without deep recursion.

use crate::diag::{Diagnostic, FileId, Span};

/// The deepest nesting of any one kind the parser accepts. Far beyond any model a person
/// writes (the seed's models nest 6 deep), and shallow enough that the parser's recursion
/// stays within a few MiB of stack.
pub const MAX_NESTING: usize = 256;

/// Fails with a diagnostic at the first bracket, prefix operator or `else if` that nests
/// deeper than [`MAX_NESTING`].
pub fn check(src: &str, file: FileId) -> Result<(), Diagnostic> {
    let bytes = src.as_bytes();
    let too_deep = |at: usize, len: usize, what: &str| {
        Diagnostic::error(format!("{what} nested more than {MAX_NESTING} deep"))
            .at(Span::new(file, at, at + len), "too deep here")
            .with_help("split the expression into steps with names (`y = ...`)")
    };
    // Open brackets, and for each bracket depth the length of the `else if` chain there.
    let mut depth = 0usize;
    let mut chains: Vec<usize> = vec![0];
    // After a `}`: the next token decides whether an `else if` chain goes on.
    let mut after_close = false;
    let mut prev_word_else = false;
    let mut prefix_run = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        // Whitespace and comments separate tokens without ending a run or a chain.
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if bytes[i..].starts_with(b"//") {
            i += bytes[i..]
                .iter()
                .position(|&b| b == b'\n')
                .unwrap_or(bytes.len() - i);
            continue;
        }
        if bytes[i..].starts_with(b"/*") {
            i += 2 + find(&bytes[i + 2..], b"*/").map_or(bytes.len() - i - 2, |p| p + 2);
            continue;
        }
        let start = i;
        let is_word = c.is_ascii_alphanumeric() || c == b'_';
        let len = if is_word {
            bytes[i..]
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
                .count()
        } else if c == b'"' {
            // Strings have no escapes and end at the line (grammar: `string`).
            1 + bytes[i + 1..]
                .iter()
                .position(|&b| b == b'"' || b == b'\n')
                .map_or(bytes.len() - i - 1, |p| p + 1)
        } else {
            // One byte, or one whole UTF-8 character (only ever inside a syntax error).
            src[i..].chars().next().map_or(1, char::len_utf8)
        };
        i += len;
        let word = &src[start..start + len];
        if after_close && word != "else" {
            chains[depth] = 0;
        }
        after_close = false;
        // `!=` is an operator, not a prefix `!`.
        let prefix = c == b'-' || (c == b'!' && bytes.get(i) != Some(&b'='));
        prefix_run = if prefix { prefix_run + 1 } else { 0 };
        if prefix_run > MAX_NESTING {
            return Err(too_deep(start, len, "prefix operators"));
        }
        if word == "if" && prev_word_else {
            chains[depth] += 1;
            if chains[depth] > MAX_NESTING {
                return Err(too_deep(start, len, "`else if` chain"));
            }
        }
        prev_word_else = word == "else";
        match c {
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(too_deep(start, len, "brackets"));
                }
                if chains.len() <= depth {
                    chains.push(0);
                }
                chains[depth] = 0;
            }
            // An unbalanced closer is pest's to report.
            b')' | b']' | b'}' => {
                depth = depth.saturating_sub(1);
                after_close = c == b'}';
            }
            _ => {}
        }
    }
    Ok(())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(src: &str) -> Option<String> {
        check(src, FileId(0)).err().map(|d| d.message)
    }

    #[test]
    fn accepts_what_models_write() {
        for src in [
            "model M() { x = -(-a) + !b != c; return [[1], {a: (2)}] }",
            "x = if a { 1 } else if b { 2 } else { 3 }",
            "// ((((( in a comment\n/* [[[[ */ s = \"((((\"",
        ] {
            assert_eq!(message(src), None, "{src}");
        }
        // Exactly the limit of each kind is accepted.
        let n = MAX_NESTING;
        assert_eq!(
            message(&format!("{}x{}", "(".repeat(n), ")".repeat(n))),
            None
        );
        assert_eq!(message(&format!("{}x", "- ".repeat(n))), None);
    }

    #[test]
    fn reports_each_kind_one_past_the_limit() {
        let n = MAX_NESTING + 1;
        let parens = format!("{}x{}", "(".repeat(n), ")".repeat(n));
        assert_eq!(
            message(&parens).as_deref(),
            Some("brackets nested more than 256 deep")
        );
        let prefix = format!("y = {}x", "-!".repeat(n / 2 + 1));
        assert_eq!(
            message(&prefix).as_deref(),
            Some("prefix operators nested more than 256 deep")
        );
        let chain = format!(
            "x = if a {{ 1 }}{} else {{ 2 }}",
            " else if a { 1 }".repeat(n)
        );
        assert_eq!(
            message(&chain).as_deref(),
            Some("`else if` chain nested more than 256 deep")
        );
    }

    #[test]
    fn separate_chains_and_runs_do_not_add_up() {
        let n = MAX_NESTING;
        let chain = format!("if a {{ }}{}\n", " else if a { }".repeat(n - 1));
        assert_eq!(message(&chain.repeat(3)), None, "three chains of {n}");
        let runs = format!("{}x + ", "-".repeat(n)).repeat(3);
        assert_eq!(message(&runs), None, "three runs of {n}");
    }
}
