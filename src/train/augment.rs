//! Training-time augmentation with torchvision's semantics, deterministic from the seed.
//!
//! Each image draws from its own ChaCha8 stream keyed by (seed, epoch, index), so a
//! batch is the same whichever thread prepares it and however batches are split.
//! Augmentations apply in recipe order to a float CHW image in [0, 1]; normalisation
//! comes last.

use crate::data::Dataset;
use crate::elab::recipe::Augment;
use crate::tensor::Tensor;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A float image, CHW, values in [0, 1].
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub data: Vec<f32>,
}

impl Image {
    pub fn from_u8(c: usize, h: usize, w: usize, bytes: &[u8]) -> Image {
        Image {
            c,
            h,
            w,
            data: bytes.iter().map(|&b| b as f32 / 255.0).collect(),
        }
    }

    fn at(&self, c: usize, y: usize, x: usize) -> f32 {
        self.data[(c * self.h + y) * self.w + x]
    }
}

/// The random stream of one image in one epoch.
pub fn image_rng(seed: u64, epoch: u32, index: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(((epoch as u64) << 32) | index as u64);
    rng
}

/// Apply `augments` in order.
pub fn augment(mut img: Image, augments: &[Augment], rng: &mut ChaCha8Rng) -> Image {
    for a in augments {
        img = match *a {
            Augment::Hflip { p } => {
                if rng.random::<f64>() < p {
                    hflip(&img)
                } else {
                    img
                }
            }
            Augment::RandomResizedCrop { size, scale, ratio } => {
                let (i, j, h, w) = resized_crop_params(img.h, img.w, scale, ratio, rng);
                resize_bilinear(&crop(&img, i, j, h, w), size as usize, size as usize)
            }
            Augment::RandomCrop { size, padding } => {
                let padded = pad(&img, padding as usize);
                let size = size as usize;
                let i = rng.random_range(0..=padded.h.saturating_sub(size));
                let j = rng.random_range(0..=padded.w.saturating_sub(size));
                crop(&padded, i, j, size.min(padded.h), size.min(padded.w))
            }
        };
    }
    img
}

pub fn hflip(img: &Image) -> Image {
    let mut out = img.clone();
    for c in 0..img.c {
        for y in 0..img.h {
            for x in 0..img.w {
                out.data[(c * img.h + y) * img.w + x] = img.at(c, y, img.w - 1 - x);
            }
        }
    }
    out
}

fn crop(img: &Image, i: usize, j: usize, h: usize, w: usize) -> Image {
    let mut data = Vec::with_capacity(img.c * h * w);
    for c in 0..img.c {
        for y in i..i + h {
            for x in j..j + w {
                data.push(img.at(c, y, x));
            }
        }
    }
    Image {
        c: img.c,
        h,
        w,
        data,
    }
}

fn pad(img: &Image, p: usize) -> Image {
    let (h, w) = (img.h + 2 * p, img.w + 2 * p);
    let mut data = vec![0.0; img.c * h * w];
    for c in 0..img.c {
        for y in 0..img.h {
            for x in 0..img.w {
                data[(c * h + y + p) * w + x + p] = img.at(c, y, x);
            }
        }
    }
    Image {
        c: img.c,
        h,
        w,
        data,
    }
}

/// torchvision's `RandomResizedCrop.get_params`: (top, left, height, width).
pub fn resized_crop_params(
    height: usize,
    width: usize,
    scale: [f64; 2],
    ratio: [f64; 2],
    rng: &mut ChaCha8Rng,
) -> (usize, usize, usize, usize) {
    let area = (height * width) as f64;
    let (log_lo, log_hi) = (ratio[0].ln(), ratio[1].ln());
    for _ in 0..10 {
        let target = area * rng.random_range(scale[0]..=scale[1]);
        let aspect = rng.random_range(log_lo..=log_hi).exp();
        let w = (target * aspect).sqrt().round() as usize;
        let h = (target / aspect).sqrt().round() as usize;
        if 0 < w && w <= width && 0 < h && h <= height {
            let i = rng.random_range(0..=height - h);
            let j = rng.random_range(0..=width - w);
            return (i, j, h, w);
        }
    }
    // Fallback: a central crop with the ratio clamped into range.
    let in_ratio = width as f64 / height as f64;
    let (h, w) = if in_ratio < ratio[0] {
        ((width as f64 / ratio[0]).round() as usize, width)
    } else if in_ratio > ratio[1] {
        (height, (height as f64 * ratio[1]).round() as usize)
    } else {
        (height, width)
    };
    ((height - h) / 2, (width - w) / 2, h, w)
}

/// Bilinear resize with half-pixel centres (PyTorch's `align_corners=False`).
pub fn resize_bilinear(img: &Image, out_h: usize, out_w: usize) -> Image {
    if img.h == out_h && img.w == out_w {
        return img.clone();
    }
    let (sy, sx) = (img.h as f64 / out_h as f64, img.w as f64 / out_w as f64);
    let mut data = Vec::with_capacity(img.c * out_h * out_w);
    for c in 0..img.c {
        for oy in 0..out_h {
            let fy = ((oy as f64 + 0.5) * sy - 0.5).max(0.0);
            let y0 = (fy.floor() as usize).min(img.h - 1);
            let y1 = (y0 + 1).min(img.h - 1);
            let ly = fy - y0 as f64;
            for ox in 0..out_w {
                let fx = ((ox as f64 + 0.5) * sx - 0.5).max(0.0);
                let x0 = (fx.floor() as usize).min(img.w - 1);
                let x1 = (x0 + 1).min(img.w - 1);
                let lx = fx - x0 as f64;
                let top = img.at(c, y0, x0) as f64 * (1.0 - lx) + img.at(c, y0, x1) as f64 * lx;
                let bottom = img.at(c, y1, x0) as f64 * (1.0 - lx) + img.at(c, y1, x1) as f64 * lx;
                data.push((top * (1.0 - ly) + bottom * ly) as f32);
            }
        }
    }
    Image {
        c: img.c,
        h: out_h,
        w: out_w,
        data,
    }
}

/// A normalised training batch: images `indices` of `data`, augmented for `epoch`.
/// Prepared on every core; the result does not depend on the number of threads.
pub fn batch(
    data: &Dataset,
    indices: &[usize],
    augments: &[Augment],
    mean: &[f32],
    std: &[f32],
    seed: u64,
    epoch: u32,
) -> Tensor {
    let (c, h, w) = data.shape;
    let one = |&i: &usize| {
        let img = Image::from_u8(c, h, w, data.image(i));
        let mut rng = image_rng(seed, epoch, i);
        let img = augment(img, augments, &mut rng);
        let plane = img.h * img.w;
        img.data
            .iter()
            .enumerate()
            .map(|(k, &v)| (v - mean[k / plane]) / std[k / plane])
            .collect::<Vec<f32>>()
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(indices.len().max(1));
    let chunk = indices.len().div_ceil(threads).max(1);
    let parts: Vec<Vec<f32>> = std::thread::scope(|s| {
        let handles: Vec<_> = indices
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().flat_map(one).collect::<Vec<f32>>()))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("augmentation threads do not panic"))
            .collect()
    });
    let data: Vec<f32> = parts.concat();
    let out_hw = data.len() / (indices.len().max(1) * c);
    let side = (out_hw as f64).sqrt() as usize;
    Tensor::new(vec![indices.len(), c, side, out_hw / side.max(1)], data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(h: usize, w: usize) -> Image {
        Image {
            c: 1,
            h,
            w,
            data: (0..h * w).map(|i| i as f32).collect(),
        }
    }

    #[test]
    fn hflip_mirrors_rows() {
        let f = hflip(&ramp(2, 3));
        assert_eq!(f.data, vec![2.0, 1.0, 0.0, 5.0, 4.0, 3.0]);
    }

    #[test]
    fn bilinear_identity_and_upsampling_match_pytorch() {
        let img = ramp(2, 2);
        assert_eq!(resize_bilinear(&img, 2, 2), img);
        // F.interpolate([[0,1],[2,3]], size=4, mode='bilinear', align_corners=False)[0]
        let up = resize_bilinear(&img, 4, 4);
        assert_eq!(&up.data[..4], &[0.0, 0.25, 0.75, 1.0]);
        assert_eq!(&up.data[4..8], &[0.5, 0.75, 1.25, 1.5]);
    }

    #[test]
    fn resized_crops_respect_scale_and_ratio() {
        let mut rng = image_rng(42, 0, 0);
        for _ in 0..1000 {
            let (i, j, h, w) = resized_crop_params(32, 32, [0.8, 1.0], [0.9, 1.1], &mut rng);
            assert!(i + h <= 32 && j + w <= 32);
            let area = (h * w) as f64 / 1024.0;
            assert!((0.7..=1.0).contains(&area), "area {area}");
        }
    }

    #[test]
    fn augmentation_is_deterministic_per_image() {
        let a = [
            Augment::Hflip { p: 0.5 },
            Augment::RandomResizedCrop {
                size: 32,
                scale: [0.8, 1.0],
                ratio: [0.9, 1.1],
            },
            Augment::RandomCrop {
                size: 32,
                padding: 4,
            },
        ];
        let img = Image {
            c: 3,
            h: 32,
            w: 32,
            data: (0..3072).map(|i| (i % 255) as f32 / 255.0).collect(),
        };
        let x = augment(img.clone(), &a, &mut image_rng(7, 3, 11));
        let y = augment(img, &a, &mut image_rng(7, 3, 11));
        assert_eq!(x, y);
        assert_eq!((x.h, x.w), (32, 32));
    }
}
