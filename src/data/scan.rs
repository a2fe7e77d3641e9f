//! The check of an image-file dataset before training: every file is decoded once (on
//! the worker pool), so a corrupt or unreadable image is reported with its path before
//! the first step — or, with `--skip-bad-images`, left out and counted. The same pass
//! counts images converted to RGB (grayscale, RGBA, ...), learns whether every image has
//! one size, and keeps the decoded images while they fit the cache budget: a dataset
//! that fits is cached (and, if its images share one size, becomes the in-memory
//! `Dataset` the CIFAR-10 path has always used), a larger one is streamed.

use super::source::{FileSet, Rgb8, Source, decode};
use super::{DataError, Dataset};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// What to do with the decoded images.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CachePolicy {
    /// Cache when the decoded images total at most this many bytes.
    Auto {
        budget: usize,
    },
    Always,
    Never,
}

/// The scanned dataset and what the scan found.
pub struct Scanned {
    pub source: Source,
    /// Files that could not be decoded (left out: `skip_bad` was set).
    pub bad: Vec<(PathBuf, String)>,
    /// Images converted to RGB.
    pub converted: usize,
}

/// [`scan`] for image files; a decoded dataset passes through.
pub fn scan_source(
    source: Source,
    workers: usize,
    cache: CachePolicy,
    skip_bad: bool,
) -> Result<Scanned, DataError> {
    match source {
        Source::Files(f) => scan(f, workers, cache, skip_bad),
        decoded => Ok(Scanned {
            source: decoded,
            bad: Vec::new(),
            converted: 0,
        }),
    }
}

/// Decode every file of `files` on `workers` threads.
pub fn scan(
    files: FileSet,
    workers: usize,
    cache: CachePolicy,
    skip_bad: bool,
) -> Result<Scanned, DataError> {
    let n = files.paths.len();
    let next = AtomicUsize::new(0);
    let cached_bytes = AtomicUsize::new(0);
    let keep = Mutex::new(cache != CachePolicy::Never);
    let budget = match cache {
        CachePolicy::Auto { budget } => budget,
        _ => usize::MAX,
    };
    type Slot = Option<Result<(Option<Arc<Rgb8>>, (usize, usize), bool), String>>;
    let slots: Vec<Mutex<Slot>> = (0..n).map(|_| Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..workers.clamp(1, n.max(1)) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let r = match decode(&files.paths[i]) {
                        Ok((img, converted)) => {
                            let size = (img.h, img.w);
                            let bytes = img.data.len();
                            let total = cached_bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
                            let mut keep = keep.lock().expect("no panics while held");
                            let was = *keep;
                            if total > budget {
                                // Over the budget: stream instead.
                                *keep = false;
                            }
                            let img = keep.then(|| Arc::new(img));
                            if was && !*keep {
                                // Free what was kept, once.
                                for slot in &slots {
                                    if let Some(Ok((img, _, _))) =
                                        &mut *slot.lock().expect("no panics while held")
                                    {
                                        *img = None;
                                    }
                                }
                            }
                            Ok((img, size, converted))
                        }
                        Err(e) => Err(e.to_string()),
                    };
                    *slots[i].lock().expect("no panics while held") = Some(r);
                }
            });
        }
    });
    let keep = *keep.lock().expect("no panics while held");
    let mut bad = Vec::new();
    let mut converted = 0;
    let mut kept = FileSet {
        classes: files.classes.clone(),
        paths: Vec::with_capacity(n),
        labels: Vec::with_capacity(n),
        cache: keep.then(Vec::new),
        uniform: None,
    };
    let mut sizes: Option<Option<(usize, usize)>> = None;
    for (i, slot) in slots.into_iter().enumerate() {
        match slot.into_inner().expect("no panics while held") {
            Some(Ok((img, size, conv))) => {
                converted += conv as usize;
                sizes = Some(match sizes {
                    None => Some(size),
                    Some(Some(s)) if s == size => Some(s),
                    Some(_) => None,
                });
                kept.paths.push(files.paths[i].clone());
                kept.labels.push(files.labels[i]);
                if let (Some(c), Some(img)) = (&mut kept.cache, img) {
                    c.push(img);
                }
            }
            Some(Err(message)) => {
                if !skip_bad {
                    let others = n - i - 1;
                    return Err(DataError::Decode {
                        path: files.paths[i].clone(),
                        message: format!(
                            "{message} (checked before training; pass --skip-bad-images to leave such files out{})",
                            if others > 0 {
                                format!(", {others} files after it not reported")
                            } else {
                                String::new()
                            }
                        ),
                    });
                }
                bad.push((files.paths[i].clone(), message));
            }
            None => unreachable!("every file is scanned"),
        }
    }
    if kept.paths.is_empty() {
        return Err(DataError::NoImages(
            files.paths.first().cloned().unwrap_or_default(),
        ));
    }
    kept.uniform = sizes.flatten().map(|(h, w)| (h as u32, w as u32));
    let source = match (&kept.cache, kept.uniform) {
        (Some(cache), Some((h, w))) => Source::Decoded(to_dataset(&kept, cache, h, w)),
        _ => Source::Files(kept),
    };
    Ok(Scanned {
        source,
        bad,
        converted,
    })
}

/// Cached images of one size as the seed's CHW `Dataset`.
fn to_dataset(f: &FileSet, cache: &[Arc<Rgb8>], h: u32, w: u32) -> Dataset {
    let plane = (h * w) as usize;
    let mut pixels = vec![0u8; cache.len() * 3 * plane];
    for (img, out) in cache.iter().zip(pixels.chunks_exact_mut(3 * plane)) {
        for (i, px) in img.data.chunks_exact(3).enumerate() {
            for c in 0..3 {
                out[c * plane + i] = px[c];
            }
        }
    }
    Dataset {
        classes: f.classes.clone(),
        shape: (3, h as usize, w as usize),
        pixels,
        labels: f.labels.clone(),
    }
}
