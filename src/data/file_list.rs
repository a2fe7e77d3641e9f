//! File lists: `train.csv` / `val.csv` of `path,label` rows (an optional `path,label`
//! header), paths relative to the list's folder. Labels are class names; classes are
//! sorted (numerically when every label is a number), and a validation list takes the
//! training list's classes.

use super::DataError;
use super::source::FileSet;
use std::path::Path;

fn rows(file: &Path) -> Result<Vec<(String, String)>, DataError> {
    let io = |message: String| DataError::Io {
        path: file.to_path_buf(),
        message,
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .trim(csv::Trim::All)
        .from_path(file)
        .map_err(|e| io(e.to_string()))?;
    let mut out = Vec::new();
    for (line, rec) in reader.records().enumerate() {
        let rec = rec.map_err(|e| io(e.to_string()))?;
        if line == 0 && rec.get(0) == Some("path") && rec.get(1) == Some("label") {
            continue;
        }
        match (rec.get(0), rec.get(1), rec.len()) {
            (Some(p), Some(l), 2) if !p.is_empty() && !l.is_empty() => {
                out.push((p.to_string(), l.to_string()))
            }
            _ => {
                return Err(io(format!(
                    "line {}: expected `path,label`, got {} field(s)",
                    line + 1,
                    rec.len()
                )));
            }
        }
    }
    if out.is_empty() {
        return Err(io("the list has no images".into()));
    }
    Ok(out)
}

/// The classes named in `file`, sorted.
pub fn classes(file: &Path) -> Result<Vec<String>, DataError> {
    let mut names: Vec<String> = rows(file)?.into_iter().map(|(_, l)| l).collect();
    names.sort();
    names.dedup();
    if names.iter().all(|n| n.parse::<u64>().is_ok()) {
        names.sort_by_key(|n| n.parse::<u64>().unwrap_or(0));
    }
    Ok(names)
}

/// The images of `file`, labelled by `classes`.
pub fn list(file: &Path, classes: &[String]) -> Result<FileSet, DataError> {
    let dir = file.parent().unwrap_or(Path::new("."));
    let mut paths = Vec::new();
    let mut labels = Vec::new();
    for (p, l) in rows(file)? {
        let Some(label) = classes.iter().position(|c| *c == l) else {
            return Err(DataError::UnknownClass {
                path: file.to_path_buf(),
                class: l,
            });
        };
        paths.push(dir.join(p));
        labels.push(label as u32);
    }
    Ok(FileSet {
        classes: classes.to_vec(),
        paths,
        labels,
        cache: None,
        uniform: None,
    })
}
