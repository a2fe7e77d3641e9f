//! Stage 1 — syntax: `.net` source text → [`ast::File`].
//!
//! Input: the text of one file and its [`FileId`](crate::diag::FileId).
//! Output: an AST whose every node has a span, or one syntax-error diagnostic.
//!
//! Architecture invariant: parsing resolves nothing. Names, imports, types and
//! shapes are the elaborator's business; the parser only decides structure.
//! The grammar lives in `grammar/net.pest`.

pub mod ast;
pub mod nesting;
mod parse;
pub mod print;

pub use parse::{parse_expr, parse_file};
