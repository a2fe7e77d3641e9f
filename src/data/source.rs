//! A dataset as the loader reads it: either decoded in memory with one image size (the
//! CIFAR-10 binary release, synthetic data, and any image set that was cached and
//! turned out uniform — exactly the seed's in-memory `Dataset`), or a list of image
//! files of any sizes, decoded on demand (optionally cached decoded, when small).

use super::{DataError, Dataset};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A decoded image: interleaved RGB bytes, `h * w * 3`.
#[derive(Clone, Debug, PartialEq)]
pub struct Rgb8 {
    pub h: usize,
    pub w: usize,
    pub data: Vec<u8>,
}

/// Image files with their labels.
#[derive(Clone, Debug)]
pub struct FileSet {
    pub classes: Vec<String>,
    pub paths: Vec<PathBuf>,
    pub labels: Vec<u32>,
    /// Every image decoded, in `paths` order (`--cache`, or automatic under the budget).
    pub cache: Option<Vec<Arc<Rgb8>>>,
    /// The one size of every image, where the scan found them all alike.
    pub uniform: Option<(u32, u32)>,
}

/// Labelled images, decoded or on disk.
#[derive(Clone, Debug)]
pub enum Source {
    Decoded(Dataset),
    Files(FileSet),
}

/// One image as the loader gets it.
pub enum Raw<'a> {
    /// CHW bytes of a decoded dataset.
    Chw {
        c: usize,
        h: usize,
        w: usize,
        bytes: &'a [u8],
    },
    /// A decoded file (read now, or from the cache).
    Rgb(Arc<Rgb8>),
}

impl Source {
    pub fn len(&self) -> usize {
        self.labels().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn labels(&self) -> &[u32] {
        match self {
            Source::Decoded(d) => &d.labels,
            Source::Files(f) => &f.labels,
        }
    }

    pub fn classes(&self) -> &[String] {
        match self {
            Source::Decoded(d) => &d.classes,
            Source::Files(f) => &f.classes,
        }
    }

    /// The (height, width) of every image, where they all share one.
    pub fn uniform_size(&self) -> Option<(u32, u32)> {
        match self {
            Source::Decoded(d) => Some((d.shape.1 as u32, d.shape.2 as u32)),
            Source::Files(f) => f.uniform,
        }
    }

    /// "in memory" or "streamed from disk", for the run's log.
    pub fn describe(&self) -> &'static str {
        match self {
            Source::Decoded(_) => "decoded in memory",
            Source::Files(f) if f.cache.is_some() => "cached decoded in memory",
            Source::Files(_) => "streamed from disk (decoded per batch by the workers)",
        }
    }

    /// Image `i`, decoding its file if it is not in memory.
    pub fn image(&self, i: usize) -> Result<Raw<'_>, DataError> {
        match self {
            Source::Decoded(d) => Ok(Raw::Chw {
                c: d.shape.0,
                h: d.shape.1,
                w: d.shape.2,
                bytes: d.image(i),
            }),
            Source::Files(f) => match &f.cache {
                Some(c) => Ok(Raw::Rgb(c[i].clone())),
                None => Ok(Raw::Rgb(Arc::new(decode(&f.paths[i])?.0))),
            },
        }
    }

    /// The images at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> Source {
        match self {
            Source::Decoded(d) => Source::Decoded(d.subset(indices)),
            Source::Files(f) => Source::Files(FileSet {
                classes: f.classes.clone(),
                paths: indices.iter().map(|&i| f.paths[i].clone()).collect(),
                labels: indices.iter().map(|&i| f.labels[i]).collect(),
                cache: f
                    .cache
                    .as_ref()
                    .map(|c| indices.iter().map(|&i| c[i].clone()).collect()),
                uniform: f.uniform,
            }),
        }
    }

    /// Per-channel mean and population standard deviation of the pixels in [0, 1], over
    /// at most `sample` images spread evenly (all of a decoded dataset: the seed's
    /// statistics exactly).
    pub fn channel_stats(&self, sample: usize) -> Result<(Vec<f32>, Vec<f32>), DataError> {
        let f = match self {
            Source::Decoded(d) => return Ok(d.channel_stats()),
            Source::Files(f) => f,
        };
        let n = f.labels.len();
        let take = sample.clamp(1, n.max(1));
        let mut sum = [0f64; 3];
        let mut sq = [0f64; 3];
        let mut count = 0usize;
        for k in 0..take.min(n) {
            let img = match self.image(k * n / take)? {
                Raw::Rgb(img) => img,
                Raw::Chw { .. } => unreachable!("files decode to RGB"),
            };
            for px in img.data.chunks_exact(3) {
                for c in 0..3 {
                    let v = px[c] as f64 / 255.0;
                    sum[c] += v;
                    sq[c] += v * v;
                }
            }
            count += img.h * img.w;
        }
        Ok(super::mean_and_std(&sum, &sq, count))
    }
}

/// Whether the decoder's image was not RGB already (grayscale, RGBA, 16-bit, ...).
pub type Converted = bool;

/// Decode one image file to RGB bytes; grayscale and alpha images are converted.
pub fn decode(path: &Path) -> Result<(Rgb8, Converted), DataError> {
    let bad = |message: String| DataError::Decode {
        path: path.to_path_buf(),
        message,
    };
    let reader = image::ImageReader::open(path)
        .map_err(|e| DataError::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?
        .with_guessed_format()
        .map_err(|e| bad(e.to_string()))?;
    let img = reader.decode().map_err(|e| bad(e.to_string()))?;
    let converted = !matches!(img, image::DynamicImage::ImageRgb8(_));
    let rgb = img.into_rgb8();
    let (w, h) = rgb.dimensions();
    Ok((
        Rgb8 {
            h: h as usize,
            w: w as usize,
            data: rgb.into_raw(),
        },
        converted,
    ))
}
