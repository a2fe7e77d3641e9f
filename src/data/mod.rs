//! Datasets: labelled images, of any sizes, decoded in memory or streamed from disk.
//!
//! The on-disk forms read (`open`):
//! * the official CIFAR-10 binary release (`cifar-10-batches-bin`: `data_batch_1..5.bin`,
//!   `test_batch.bin`, `batches.meta.txt`; records of 1 label byte + 3072 pixel bytes),
//!   decoded into memory;
//! * file lists `DIR/train.csv` (and `DIR/val.csv`) of `path,label`;
//! * image-folder trees `DIR/<class>/*.jpg|jpeg|png|webp` of any sizes, or
//!   `DIR/train/<class>/...` with `DIR/val/<class>/...` (a split given with the data).
//!
//! Image files are listed here and decoded by `scan` (every file once, before training:
//! bad files are named up front), then by the `loader`'s workers batch by batch, with
//! the recipe's transforms (`transform`, `train::augment`). Every problem — a missing
//! directory, an empty class folder, an unreadable image, a truncated `.bin` file — is
//! an error naming the file, raised before the first step.

mod cifar_bin;
pub mod file_list;
pub mod folder;
pub mod loader;
pub mod scan;
pub mod source;
pub mod transform;

pub use source::{FileSet, Raw, Rgb8, Source};

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
        mean_and_std(&sum, &sq, self.len() * plane)
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
    #[error("class folder `{0}` has no images (.jpg, .jpeg, .png or .webp)")]
    EmptyClass(PathBuf),
    #[error("`{path}`: class `{class}` is not one of the training data's classes")]
    UnknownClass { path: PathBuf, class: String },
    #[error(
        "{what}: the transforms made a {}x{} image, but the model takes {}x{}",
        got.0, got.1, want.0, want.1
    )]
    Transformed {
        what: String,
        got: (usize, usize),
        want: (usize, usize),
    },
    #[error("no image of the dataset could be read (the first was `{0}`)")]
    NoImages(PathBuf),
    #[error("cannot decode image `{path}`: {message}")]
    Decode { path: PathBuf, message: String },
    #[error(
        "the images under `{0}` differ in size; give the recipe a resize or crop that makes them one size"
    )]
    Mixed(PathBuf),
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

/// The process's peak resident memory (`VmHWM` in /proc/self/status), where the
/// system reports it.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// A dataset as found on disk: the training (or test) images, and a validation set
/// where the data brings its own split.
pub struct Splits {
    pub train: Source,
    pub val: Option<Source>,
}

/// Open the dataset at `dir` (see the module's list of forms). With `Split::Test`, the
/// held-out part: CIFAR-10's `test_batch.bin`, `val.csv`, or `DIR/val` (labelled by the
/// training part's classes where there is one); a plain folder tree is itself the test
/// set.
pub fn open(dir: &Path, split: Split) -> Result<Splits, DataError> {
    if !dir.is_dir() {
        return Err(DataError::Missing(dir.to_path_buf()));
    }
    if cifar_bin::is_cifar_bin(dir) {
        return Ok(Splits {
            train: Source::Decoded(cifar_bin::load(dir, split)?),
            val: None,
        });
    }
    let (train_csv, val_csv) = (dir.join("train.csv"), dir.join("val.csv"));
    if train_csv.is_file() || val_csv.is_file() {
        let classes = file_list::classes(if train_csv.is_file() {
            &train_csv
        } else {
            &val_csv
        })?;
        let val = || -> Result<Option<Source>, DataError> {
            Ok(match val_csv.is_file() {
                true => Some(Source::Files(file_list::list(&val_csv, &classes)?)),
                false => None,
            })
        };
        return Ok(match split {
            Split::Train => Splits {
                train: Source::Files(file_list::list(&train_csv, &classes)?),
                val: val()?,
            },
            Split::Test => Splits {
                train: val()?.ok_or_else(|| DataError::Missing(val_csv.clone()))?,
                val: None,
            },
        });
    }
    let (train_dir, val_dir) = (dir.join("train"), dir.join("val"));
    if train_dir.is_dir() && val_dir.is_dir() {
        let train = folder::list(&train_dir, None)?;
        let val = folder::list(&val_dir, Some(&train.classes))?;
        return Ok(match split {
            Split::Train => Splits {
                train: Source::Files(train),
                val: Some(Source::Files(val)),
            },
            Split::Test => Splits {
                train: Source::Files(val),
                val: None,
            },
        });
    }
    Ok(Splits {
        train: Source::Files(folder::list(dir, None)?),
        val: None,
    })
}

/// Load a dataset from `dir` into memory, whatever its size: a CIFAR-10 binary release,
/// or an image-folder tree whose images share one size (`open` and `scan` take any).
pub fn load(dir: &Path, split: Split) -> Result<Dataset, DataError> {
    let splits = open(dir, split)?;
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    match scan::scan_source(splits.train, workers, scan::CachePolicy::Always, false)?.source {
        Source::Decoded(d) => Ok(d),
        Source::Files(f) => Err(DataError::Mixed(
            f.paths.first().cloned().unwrap_or_default(),
        )),
    }
}

/// Per-channel mean and population standard deviation from sums of values and of their
/// squares over `count` values per channel (as f32, the trainer's normalisation).
pub(crate) fn mean_and_std(sum: &[f64], sq: &[f64], count: usize) -> (Vec<f32>, Vec<f32>) {
    let n = count.max(1) as f64;
    let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
    let std = sq
        .iter()
        .zip(&mean)
        .map(|(s, m)| ((s / n - m * m).max(0.0)).sqrt() as f32)
        .collect();
    (mean.into_iter().map(|m| m as f32).collect(), std)
}
