//! Datasets: labelled images decoded once into memory.
//!
//! Two on-disk forms are read:
//! * an image-folder tree `DIR/<class>/*.jpg|jpeg|png`, classes in sorted order;
//! * the official CIFAR-10 binary release (`cifar-10-batches-bin`: `data_batch_1..5.bin`,
//!   `test_batch.bin`, `batches.meta.txt`; records of 1 label byte + 3072 pixel bytes).
//!
//! Every problem — a missing directory, an empty class folder, an unreadable image,
//! an image of the wrong size, a truncated `.bin` file — is an error naming the file,
//! raised before any work starts.

mod cifar_bin;
mod folder;

use std::path::{Path, PathBuf};

/// CIFAR-10's class names in label order.
pub const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// Images as CHW `u8` planes, one after another, with their labels.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    pub classes: Vec<String>,
    /// (channels, height, width) of every image.
    pub shape: (usize, usize, usize),
    /// `len() * c * h * w` bytes, CHW per image.
    pub pixels: Vec<u8>,
    pub labels: Vec<u32>,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn image_len(&self) -> usize {
        self.shape.0 * self.shape.1 * self.shape.2
    }

    /// The CHW bytes of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_len();
        &self.pixels[i * n..(i + 1) * n]
    }

    /// A dataset of the images at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        let mut pixels = Vec::with_capacity(indices.len() * self.image_len());
        for &i in indices {
            pixels.extend_from_slice(self.image(i));
        }
        Dataset {
            classes: self.classes.clone(),
            shape: self.shape,
            pixels,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
        }
    }

    /// Per-channel mean and standard deviation of the pixels scaled to [0, 1]
    /// (population std, like numpy's `std` in the seed).
    pub fn channel_stats(&self) -> (Vec<f32>, Vec<f32>) {
        let (c, h, w) = self.shape;
        let plane = h * w;
        let mut sum = vec![0f64; c];
        let mut sq = vec![0f64; c];
        for img in self.pixels.chunks(self.image_len()) {
            for ch in 0..c {
                for &p in &img[ch * plane..(ch + 1) * plane] {
                    let v = p as f64 / 255.0;
                    sum[ch] += v;
                    sq[ch] += v * v;
                }
            }
        }
        let n = (self.len() * plane).max(1) as f64;
        let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
        let std = sq
            .iter()
            .zip(&mean)
            .map(|(s, m)| ((s / n - m * m).max(0.0)).sqrt() as f32)
            .collect();
        (mean.into_iter().map(|m| m as f32).collect(), std)
    }

    /// Images `indices` as a normalised f32 NCHW batch: `(p / 255 - mean) / std`.
    pub fn batch(&self, indices: &[usize], mean: &[f32], std: &[f32]) -> crate::tensor::Tensor {
        let (c, h, w) = self.shape;
        let plane = h * w;
        let mut data = Vec::with_capacity(indices.len() * self.image_len());
        for &i in indices {
            let img = self.image(i);
            for ch in 0..c {
                let (m, s) = (mean[ch], std[ch]);
                data.extend(
                    img[ch * plane..(ch + 1) * plane]
                        .iter()
                        .map(|&p| (p as f32 / 255.0 - m) / s),
                );
            }
        }
        crate::tensor::Tensor::new(vec![indices.len(), c, h, w], data)
    }
}

/// Why a dataset could not be read. Each names the offending path.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("dataset directory `{0}` does not exist")]
    Missing(PathBuf),
    #[error("`{path}`: {message}")]
    Io { path: PathBuf, message: String },
    #[error(
        "`{0}` has no class folders (expected DIR/<class>/*.jpg|png) and no CIFAR-10 .bin files"
    )]
    NoClasses(PathBuf),
    #[error("class folder `{0}` has no images (.jpg, .jpeg or .png)")]
    EmptyClass(PathBuf),
    #[error("cannot decode image `{path}`: {message}")]
    Decode { path: PathBuf, message: String },
    #[error("image `{path}` is {got_w}x{got_h}, but the other images are {want_w}x{want_h}")]
    Size {
        path: PathBuf,
        got_w: u32,
        got_h: u32,
        want_w: u32,
        want_h: u32,
    },
    #[error(
        "`{path}` is truncated: {len} bytes is not a whole number of {record}-byte CIFAR-10 records"
    )]
    Truncated {
        path: PathBuf,
        len: usize,
        record: usize,
    },
    #[error("`{path}` has label {label}, but there are only {classes} classes")]
    Label {
        path: PathBuf,
        label: u8,
        classes: usize,
    },
}

/// Which split of a CIFAR-10 binary release to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
}

/// Load a dataset from `dir`: a CIFAR-10 binary release if it holds `.bin` batches
/// (the `split` picks the files), else an image-folder tree.
pub fn load(dir: &Path, split: Split) -> Result<Dataset, DataError> {
    if !dir.is_dir() {
        return Err(DataError::Missing(dir.to_path_buf()));
    }
    if cifar_bin::is_cifar_bin(dir) {
        cifar_bin::load(dir, split)
    } else {
        folder::load(dir)
    }
}
