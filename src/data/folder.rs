//! Image-folder trees: `DIR/<class>/*.jpg|jpeg|png|webp`, classes in sorted order,
//! files in sorted order within a class. Listing reads no image; `data::scan` decodes.

use super::DataError;
use super::source::FileSet;
use std::path::{Path, PathBuf};

/// The file extensions read as images (any case).
pub const EXTENSIONS: [&str; 4] = ["jpg", "jpeg", "png", "webp"];

fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .is_some_and(|e| EXTENSIONS.contains(&e.as_str()))
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let rd = std::fs::read_dir(dir).map_err(|e| DataError::Io {
        path: dir.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut out: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    out.sort();
    Ok(out)
}

/// The class folders of `dir`, sorted.
fn class_dirs(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let dirs: Vec<PathBuf> = sorted_entries(dir)?
        .into_iter()
        .filter(|p| p.is_dir())
        .collect();
    if dirs.is_empty() {
        return Err(DataError::NoClasses(dir.to_path_buf()));
    }
    Ok(dirs)
}

fn name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Every image file of the tree at `dir`, labelled by `classes` if given (a validation
/// folder takes its training folder's classes: a class folder not among them is an
/// error), else by its own sorted class folders.
pub fn list(dir: &Path, classes: Option<&[String]>) -> Result<FileSet, DataError> {
    let dirs = class_dirs(dir)?;
    let classes: Vec<String> = match classes {
        Some(c) => c.to_vec(),
        None => dirs.iter().map(|d| name(d)).collect(),
    };
    let mut paths = Vec::new();
    let mut labels = Vec::new();
    for cdir in &dirs {
        let Some(label) = classes.iter().position(|c| *c == name(cdir)) else {
            return Err(DataError::UnknownClass {
                path: cdir.clone(),
                class: name(cdir),
            });
        };
        let images: Vec<PathBuf> = sorted_entries(cdir)?
            .into_iter()
            .filter(|p| is_image(p))
            .collect();
        if images.is_empty() {
            return Err(DataError::EmptyClass(cdir.clone()));
        }
        labels.extend(std::iter::repeat_n(label as u32, images.len()));
        paths.extend(images);
    }
    Ok(FileSet {
        classes,
        paths,
        labels,
        cache: None,
        uniform: None,
    })
}
