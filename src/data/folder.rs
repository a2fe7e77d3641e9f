//! Image-folder trees: `DIR/<class>/*.jpg|jpeg|png`, classes in sorted order,
//! files in sorted order within a class. Decoding runs on every core.

use super::{DataError, Dataset};
use std::path::{Path, PathBuf};

fn is_image(p: &Path) -> bool {
    matches!(
        p.extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("jpg" | "jpeg" | "png")
    )
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

pub fn load(dir: &Path) -> Result<Dataset, DataError> {
    let class_dirs: Vec<PathBuf> = sorted_entries(dir)?
        .into_iter()
        .filter(|p| p.is_dir())
        .collect();
    if class_dirs.is_empty() {
        return Err(DataError::NoClasses(dir.to_path_buf()));
    }
    let mut files: Vec<(PathBuf, u32)> = Vec::new();
    let mut classes = Vec::new();
    for (label, cdir) in class_dirs.iter().enumerate() {
        let images: Vec<PathBuf> = sorted_entries(cdir)?
            .into_iter()
            .filter(|p| is_image(p))
            .collect();
        if images.is_empty() {
            return Err(DataError::EmptyClass(cdir.clone()));
        }
        classes.push(
            cdir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        files.extend(images.into_iter().map(|p| (p, label as u32)));
    }
    let decoded = decode_all(&files)?;
    let (w, h) = decoded[0].1;
    let mut pixels = Vec::with_capacity(files.len() * 3 * (w * h) as usize);
    for ((path, _), (chw, size)) in files.iter().zip(&decoded) {
        if *size != (w, h) {
            return Err(DataError::Size {
                path: path.clone(),
                got_w: size.0,
                got_h: size.1,
                want_w: w,
                want_h: h,
            });
        }
        pixels.extend_from_slice(chw);
    }
    Ok(Dataset {
        classes,
        shape: (3, h as usize, w as usize),
        pixels,
        labels: files.iter().map(|(_, l)| *l).collect(),
    })
}

type Decoded = (Vec<u8>, (u32, u32));

/// Decode every file to CHW RGB bytes, in parallel, keeping the order.
fn decode_all(files: &[(PathBuf, u32)]) -> Result<Vec<Decoded>, DataError> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len().max(1));
    let chunk = files.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = files
            .chunks(chunk.max(1))
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|(p, _)| decode(p))
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        let mut out = Vec::with_capacity(files.len());
        for h in handles {
            out.extend(h.join().expect("decoder threads do not panic")?);
        }
        Ok(out)
    })
}

/// Decode one image to CHW RGB bytes.
pub fn decode(path: &Path) -> Result<Decoded, DataError> {
    let img = image::open(path).map_err(|e| DataError::Decode {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let rgb = img.to_rgb8();
    let (w, h) = rgb.dimensions();
    let plane = (w * h) as usize;
    let mut chw = vec![0u8; 3 * plane];
    for (i, px) in rgb.pixels().enumerate() {
        for c in 0..3 {
            chw[c * plane + i] = px[c];
        }
    }
    Ok((chw, (w, h)))
}
