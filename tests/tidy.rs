//! Repository hygiene, checked by `cargo test`: every Rust and WGSL file opens with a `//!`
//! comment that says what it is for (WGSL treats `//!` as an ordinary comment).
//!
//! Checked: `src/**/*.rs`, `src/**/*.wgsl` (op families' templates), `shaders/**/*.wgsl`,
//! `tests/*.rs` and `examples/*.rs`.

use std::path::{Path, PathBuf};

/// Files under `dir` with extension `ext`, recursing into subdirectories when `recursive`.
fn collect(dir: &Path, ext: &str, recursive: bool, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if recursive {
                collect(&path, ext, recursive, out);
            }
        } else if path.extension().and_then(|e| e.to_str()) == Some(ext) {
            out.push(path);
        }
    }
}

#[test]
fn every_source_file_starts_with_a_module_doc() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for (dir, ext, recursive) in [
        ("src", "rs", true),
        ("src", "wgsl", true),
        ("shaders", "wgsl", true),
        ("tests", "rs", false),
        ("examples", "rs", false),
    ] {
        let before = files.len();
        collect(&root.join(dir), ext, recursive, &mut files);
        assert!(files.len() > before, "no .{ext} files found in {dir}/");
    }
    assert!(files.len() > 50, "only {} files found", files.len());
    let mut missing: Vec<_> = files
        .iter()
        .filter(|f| !std::fs::read_to_string(f).expect("read").starts_with("//!"))
        .map(|f| f.strip_prefix(root).unwrap_or(f).display().to_string())
        .collect();
    missing.sort();
    assert!(
        missing.is_empty(),
        "files without a leading `//!` doc comment:\n  {}",
        missing.join("\n  ")
    );
}

/// Whether ARCHITECTURE.md names `file` (a path relative to the repository root, with `/`):
/// by its whole path, or on one line by its folder (`src/x/`) and its file name in backticks;
/// a folder's `mod.rs` is named by the folder.
fn code_map_names(map: &str, file: &str) -> bool {
    if map.contains(file) {
        return true;
    }
    let (folder, name) = file.rsplit_once('/').map_or(("", file), |(d, n)| (d, n));
    let folder = format!("{folder}/");
    (name == "mod.rs" && map.contains(&folder))
        || map
            .lines()
            .any(|line| line.contains(&folder) && line.contains(&format!("`{name}`")))
}

/// rust-analyzer's rule: the architecture document's code map names every source file, so a
/// newcomer can find where a file belongs and the map cannot drift silently.
#[test]
fn architecture_code_map_names_every_source_file() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let map = std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let mut files = Vec::new();
    collect(&root.join("src"), "rs", true, &mut files);
    assert!(files.len() > 50, "only {} files found", files.len());
    let mut missing: Vec<_> = files
        .iter()
        .map(|f| {
            f.strip_prefix(root)
                .unwrap_or(f)
                .to_string_lossy()
                .replace('\\', "/")
        })
        .filter(|f| !code_map_names(&map, f))
        .collect();
    missing.sort();
    assert!(
        missing.is_empty(),
        "source files ARCHITECTURE.md's code map does not name:\n  {}",
        missing.join("\n  ")
    );
}
