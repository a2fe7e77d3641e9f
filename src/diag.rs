//! Diagnostics: source files, spans, and the error type every stage returns.
//!
//! Every AST and IR node carries a [`Span`] (file + byte range), so a mistake found
//! in any stage — a syntax error, an unknown parameter, a shape mismatch deep inside
//! a block — is reported against the user's own line with a caret under it.
//! [`Diagnostic`] is the one error type of the front end; [`Sources`] owns the text
//! of every loaded file and renders diagnostics with `codespan-reporting`.

use codespan_reporting::diagnostic::{Diagnostic as CsDiagnostic, Label, LabelStyle, Severity};
use codespan_reporting::files::SimpleFiles;
use codespan_reporting::term::{self, termcolor};
use std::fmt;

/// Index of a file in [`Sources`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FileId(pub usize);

/// A byte range in one source file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub file: FileId,
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(file: FileId, start: usize, end: usize) -> Span {
        Span { file, start, end }
    }

    /// The smallest span covering both (same file assumed; `self`'s file wins).
    pub fn to(self, other: Span) -> Span {
        Span {
            file: self.file,
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
}

/// One message for the user: a primary span, optional secondary spans, notes and a hint.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    pub level: Level,
    pub message: String,
    /// Where the problem is; `None` for problems with no source position (e.g. a CLI flag).
    pub primary: Option<(Span, String)>,
    /// Related places, e.g. the block call that led here.
    pub secondary: Vec<(Span, String)>,
    pub notes: Vec<String>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            level: Level::Error,
            message: message.into(),
            primary: None,
            secondary: Vec::new(),
            notes: Vec::new(),
            help: None,
        }
    }

    pub fn warning(message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            level: Level::Warning,
            ..Diagnostic::error(message)
        }
    }

    /// Attach the primary span with a short label shown under the caret.
    pub fn at(mut self, span: Span, label: impl Into<String>) -> Diagnostic {
        self.primary = Some((span, label.into()));
        self
    }

    pub fn with_secondary(mut self, span: Span, label: impl Into<String>) -> Diagnostic {
        self.secondary.push((span, label.into()));
        self
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.level == Level::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for Diagnostic {}

/// A list of diagnostics from one run of the front end (errors and warnings).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Diagnostics(vec![d])
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{}", d.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// The text of every file the front end has read, indexed by [`FileId`].
#[derive(Default)]
pub struct Sources {
    files: SimpleFiles<String, String>,
    names: Vec<String>,
}

impl Sources {
    pub fn new() -> Sources {
        Sources::default()
    }

    pub fn add(&mut self, name: impl Into<String>, text: impl Into<String>) -> FileId {
        let name = name.into();
        self.names.push(name.clone());
        FileId(self.files.add(name, text.into()))
    }

    pub fn text(&self, id: FileId) -> &str {
        self.files
            .get(id.0)
            .map(|f| f.source().as_str())
            .unwrap_or("")
    }

    pub fn name(&self, id: FileId) -> &str {
        self.names
            .get(id.0)
            .map(String::as_str)
            .unwrap_or("<unknown>")
    }

    /// 1-based line and column of a byte offset.
    pub fn line_col(&self, id: FileId, offset: usize) -> (usize, usize) {
        let text = self.text(id);
        let offset = offset.min(text.len());
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let col = before.rfind('\n').map_or(offset, |p| offset - p - 1) + 1;
        (line, col)
    }

    /// Render diagnostics as text (with colour when `color` is set).
    pub fn render(&self, diags: &[Diagnostic], color: bool) -> String {
        let mut buf = if color {
            termcolor::Buffer::ansi()
        } else {
            termcolor::Buffer::no_color()
        };
        let config = term::Config::default();
        for d in diags {
            let cs = self.to_codespan(d);
            // Rendering only fails on spans outside a file; fall back to the bare message.
            if term::emit_to_write_style(&mut buf, &config, &self.files, &cs).is_err() {
                use std::io::Write;
                let _ = writeln!(buf, "error: {}", d.message);
            }
        }
        String::from_utf8_lossy(buf.as_slice()).into_owned()
    }

    fn to_codespan(&self, d: &Diagnostic) -> CsDiagnostic<usize> {
        let severity = match d.level {
            Level::Error => Severity::Error,
            Level::Warning => Severity::Warning,
        };
        let clamp = |s: &Span| {
            let len = self.text(s.file).len();
            let start = s.start.min(len);
            start..s.end.clamp(start, len)
        };
        let mut labels = Vec::new();
        if let Some((span, msg)) = &d.primary {
            labels
                .push(Label::new(LabelStyle::Primary, span.file.0, clamp(span)).with_message(msg));
        }
        for (span, msg) in &d.secondary {
            labels.push(
                Label::new(LabelStyle::Secondary, span.file.0, clamp(span)).with_message(msg),
            );
        }
        let mut notes = d.notes.clone();
        if let Some(h) = &d.help {
            notes.push(format!("help: {h}"));
        }
        CsDiagnostic::new(severity)
            .with_message(&d.message)
            .with_labels(labels)
            .with_notes(notes)
    }
}
