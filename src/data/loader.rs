//! The streaming loader: a pool of worker threads decodes, transforms and batches images
//! into a bounded queue of batches ahead of the consumer (the device step, validation,
//! `netc eval`, `netc bench-data`).
//!
//! Workers claim batches in order and may run at most `depth` batches ahead of the one
//! the consumer takes next, so at most `depth` batches exist at once (being built or
//! waiting) whatever the dataset's size: memory is bounded by the queue. The consumer
//! receives batches in order, and every image draws from its own random stream keyed by
//! (seed, epoch, image index) (`train::augment::image_rng`), so a batch is the same
//! whichever worker builds it and however many there are.

use super::transform::Image;
use super::{DataError, Raw, Source};
use crate::elab::recipe::{Augment, resize_shorter};
use crate::tensor::Tensor;
use crate::train::augment::{augment, head_from_bytes, image_rng};
use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex};

/// What every image of a batch goes through.
pub struct Pipeline<'a> {
    pub source: &'a Source,
    /// The recipe's `augment` (training) or `eval_transform` list.
    pub transforms: &'a [Augment],
    /// The normalisation applied last: `(x - mean) / std` per channel.
    pub mean: &'a [f32],
    pub std: &'a [f32],
    pub seed: u64,
    pub epoch: u32,
    /// The (height, width) the transforms must produce: the model's input.
    pub size: (usize, usize),
}

/// A batch: images `[n, 3, h, w]` and labels `[n]` (as f32, the device's label input).
pub type Batch = (Tensor, Tensor);

impl Pipeline<'_> {
    /// Image `i` of the source, transformed, as a float CHW image in [0, 1].
    pub fn transformed(&self, i: usize) -> Result<Image, DataError> {
        let mut rng = image_rng(self.seed, self.epoch, i);
        Ok(match self.source.image(i)? {
            Raw::Chw { c, h, w, bytes } => {
                augment(Image::from_u8(c, h, w, bytes), self.transforms, &mut rng)
            }
            Raw::Rgb(rgb) => {
                let (img, rest) = head_from_bytes(&rgb, self.transforms, &mut rng);
                augment(img, rest, &mut rng)
            }
        })
    }

    /// Image `i`, transformed and normalised, written to `out` (`3 * h * w` values).
    fn write(&self, i: usize, out: &mut [f32]) -> Result<(), DataError> {
        let img = self.transformed(i)?;
        if (img.h, img.w) != self.size || img.c * img.h * img.w != out.len() {
            return Err(DataError::Transformed {
                what: self.describe(i),
                got: (img.h, img.w),
                want: self.size,
            });
        }
        let plane = img.h * img.w;
        for (c, (dst, src)) in out
            .chunks_exact_mut(plane)
            .zip(img.data.chunks_exact(plane))
            .enumerate()
        {
            let (m, s) = (self.mean[c], self.std[c]);
            for (d, &v) in dst.iter_mut().zip(src) {
                *d = (v - m) / s;
            }
        }
        Ok(())
    }

    fn describe(&self, i: usize) -> String {
        match self.source {
            Source::Files(f) => format!("`{}`", f.paths[i].display()),
            Source::Decoded(_) => format!("image {i}"),
        }
    }

    /// The batch of images `indices`.
    pub fn batch(&self, indices: &[usize]) -> Result<Batch, DataError> {
        let (h, w) = self.size;
        let per = 3 * h * w;
        let mut data = vec![0f32; indices.len() * per];
        for (&i, out) in indices.iter().zip(data.chunks_exact_mut(per)) {
            self.write(i, out)?;
        }
        let labels = self.source.labels();
        Ok((
            Tensor::new(vec![indices.len(), 3, h, w], data),
            Tensor::new(
                vec![indices.len()],
                indices.iter().map(|&i| labels[i] as f32).collect(),
            ),
        ))
    }
}

/// The size `resize(size)` gives an `h` x `w` image.
pub fn resize_target(size: &[u32], h: usize, w: usize) -> (usize, usize) {
    match *size {
        [oh, ow] => (oh as usize, ow as usize),
        [short, ..] => {
            let (oh, ow) = resize_shorter(h as u32, w as u32, short);
            (oh as usize, ow as usize)
        }
        [] => (h, w),
    }
}

/// How many workers and how many batches may be ready ahead of the consumer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Queue {
    pub workers: usize,
    pub depth: usize,
}

impl Queue {
    /// `workers` threads (default: the cores) and a queue of twice as many batches, at
    /// most `max_bytes` of them (at least one) where a memory cap is given.
    pub fn new(workers: Option<usize>, batch_bytes: usize, max_bytes: Option<usize>) -> Queue {
        let workers = workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1);
        let mut depth = 2 * workers;
        if let Some(m) = max_bytes {
            depth = depth.min(m / batch_bytes.max(1)).max(1);
        }
        Queue { workers, depth }
    }
}

struct State {
    /// The next batch a worker will claim.
    next: usize,
    /// The next batch the consumer takes.
    taken: usize,
    ready: BTreeMap<usize, Result<Batch, DataError>>,
    stop: bool,
}

/// Build `batches[skip..]` on `queue.workers` threads and hand them to `consume` in
/// order; `consume` returns `Ok(false)` to stop early. A batch that fails (an image
/// that cannot be read or transformed) ends the stream with its error.
pub fn stream<E: From<DataError>>(
    pipeline: &Pipeline<'_>,
    batches: &[&[usize]],
    skip: usize,
    queue: Queue,
    mut consume: impl FnMut(usize, Batch) -> Result<bool, E>,
) -> Result<(), E> {
    let n = batches.len();
    let shared = (
        Mutex::new(State {
            next: skip,
            taken: skip,
            ready: BTreeMap::new(),
            stop: false,
        }),
        Condvar::new(),
    );
    let depth = queue.depth.max(1);
    std::thread::scope(|s| {
        for _ in 0..queue.workers.clamp(1, n.saturating_sub(skip).max(1)) {
            s.spawn(|| {
                let (lock, cv) = &shared;
                loop {
                    let k = {
                        let mut st = lock.lock().expect("no panics while held");
                        while !st.stop && st.next < n && st.next >= st.taken + depth {
                            st = cv.wait(st).expect("no panics while held");
                        }
                        if st.stop || st.next >= n {
                            return;
                        }
                        st.next += 1;
                        st.next - 1
                    };
                    let b = pipeline.batch(batches[k]);
                    let mut st = lock.lock().expect("no panics while held");
                    st.ready.insert(k, b);
                    cv.notify_all();
                }
            });
        }
        let (lock, cv) = &shared;
        let result = (|| {
            for k in skip..n {
                let b = {
                    let mut st = lock.lock().expect("no panics while held");
                    let b = loop {
                        if let Some(b) = st.ready.remove(&k) {
                            break b;
                        }
                        st = cv.wait(st).expect("no panics while held");
                    };
                    st.taken = k + 1;
                    cv.notify_all();
                    b
                };
                if !consume(k, b?)? {
                    break;
                }
            }
            Ok(())
        })();
        let mut st = lock.lock().expect("no panics while held");
        st.stop = true;
        st.ready.clear();
        cv.notify_all();
        drop(st);
        result
    })
}
