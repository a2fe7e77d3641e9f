//! Loading a model file and everything it imports into one [`Program`].
//!
//! `use "path.net"` is resolved relative to the importing file. Imported files
//! contribute their blocks (their own models and recipes are ignored, so a model file
//! can serve as a library). Missing files, import cycles and paths that are not regular
//! files (or are larger than [`source_file::MAX_SOURCE_BYTES`]) are diagnostics at the
//! offending `use`; two blocks with one name are a diagnostic naming both.

use super::builtins::{OpKind, RecipeKind};
use super::eval::BUILTIN_FUNCTIONS;
use super::source_file;
use crate::diag::{Diagnostic, Diagnostics, FileId, Sources, Span};
use crate::syntax::{self, ast};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A root file and its imports, parsed, with the block table resolved.
#[derive(Debug)]
pub struct Program {
    pub root: FileId,
    /// The root file's AST.
    pub file: ast::File,
    /// Every block in scope, by name.
    pub blocks: HashMap<String, ast::Def>,
}

impl Program {
    /// The root file's model definition.
    pub fn model(&self) -> Result<&ast::Def, Diagnostic> {
        match self.file.models.as_slice() {
            [m] => Ok(m),
            [] => Err(Diagnostic::error("no `model` in this file").at(
                Span::new(self.root, 0, 0),
                "expected a `model Name(...) { ... }` definition",
            )
            .with_help("a `.net` file that is compiled or trained defines exactly one model; files with only blocks are libraries for `use`")),
            [first, second, ..] => Err(Diagnostic::error("more than one `model` in this file")
                .at(second.name.span, "second model")
                .with_secondary(first.name.span, "first model")
                .with_help("put each model in its own file; share blocks with `use`")),
        }
    }
}

/// Load `path` and its imports.
pub fn load(sources: &mut Sources, path: &Path) -> Result<Program, Diagnostics> {
    let text = source_file::read(path).map_err(|e| {
        Diagnostics::from(Diagnostic::error(format!(
            "cannot read `{}`: {e}",
            path.display()
        )))
    })?;
    load_str(sources, &path.display().to_string(), &text)
}

/// Load a model from text; `name` is its path, used to resolve imports and in messages.
pub fn load_str(sources: &mut Sources, name: &str, text: &str) -> Result<Program, Diagnostics> {
    let root = sources.add(name, text);
    let file = syntax::parse_file(text, root)?;
    let mut loader = Loader {
        sources,
        blocks: HashMap::new(),
        loaded: HashMap::new(),
        stack: vec![normalise(Path::new(name))],
    };
    loader.add_blocks(&file)?;
    let dir = Path::new(name)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    loader.imports(&file, &dir)?;
    Ok(Program {
        root,
        file,
        blocks: loader.blocks,
    })
}

struct Loader<'s> {
    sources: &'s mut Sources,
    blocks: HashMap<String, ast::Def>,
    /// Files already loaded (diamond imports load once).
    loaded: HashMap<PathBuf, ()>,
    /// The chain of files being imported, for cycle detection.
    stack: Vec<PathBuf>,
}

impl Loader<'_> {
    fn imports(&mut self, file: &ast::File, dir: &Path) -> Result<(), Diagnostics> {
        for u in &file.uses {
            let path = normalise(&dir.join(&u.path));
            if let Some(pos) = self.stack.iter().position(|p| *p == path) {
                let chain: Vec<String> = self.stack[pos..]
                    .iter()
                    .chain(std::iter::once(&path))
                    .map(|p| p.display().to_string())
                    .collect();
                return Err(Diagnostic::error("import cycle")
                    .at(u.span, "this import leads back to a file being imported")
                    .with_note(format!("cycle: {}", chain.join(" → ")))
                    .into());
            }
            if self.loaded.contains_key(&path) {
                continue;
            }
            let text = source_file::read(&path).map_err(|e| {
                Diagnostic::error(format!("cannot import `{}`: {e}", u.path))
                    .at(u.span, "imported here")
                    .with_note(format!("looked for {}", path.display()))
                    .with_help("`use` paths are relative to the file that contains them")
            })?;
            let id = self.sources.add(path.display().to_string(), text.clone());
            let imported = syntax::parse_file(&text, id)?;
            self.loaded.insert(path.clone(), ());
            self.add_blocks(&imported)?;
            self.stack.push(path.clone());
            let sub_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
            self.imports(&imported, &sub_dir)?;
            self.stack.pop();
        }
        Ok(())
    }

    fn add_blocks(&mut self, file: &ast::File) -> Result<(), Diagnostics> {
        for b in &file.blocks {
            let name = &b.name.name;
            if OpKind::from_name(name).is_some()
                || RecipeKind::from_name(name).is_some()
                || BUILTIN_FUNCTIONS.contains(&name.as_str())
            {
                return Err(Diagnostic::error(format!(
                    "block `{name}` has the name of a built-in"
                ))
                .at(b.name.span, "choose another name")
                .into());
            }
            if let Some(prev) = self.blocks.get(name) {
                return Err(
                    Diagnostic::error(format!("block `{name}` is defined twice"))
                        .at(b.name.span, "second definition")
                        .with_secondary(prev.name.span, "first definition")
                        .into(),
                );
            }
            self.blocks.insert(name.clone(), b.clone());
        }
        Ok(())
    }
}

/// Make `a/./b/../c` into `a/c` without touching the file system.
fn normalise(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                let at_root_or_up = matches!(
                    out.components().next_back(),
                    None | Some(std::path::Component::ParentDir)
                );
                if at_root_or_up {
                    out.push("..");
                } else {
                    out.pop();
                }
            }
            other => out.push(other),
        }
    }
    out
}
