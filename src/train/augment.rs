//! The recipe's transform lists (`augment` for training, `eval_transform` for
//! validation and inference) applied with torchvision's semantics, deterministic from
//! the seed.
//!
//! Each image draws from its own ChaCha8 stream keyed by (seed, epoch, index), so a
//! batch is the same whichever worker prepares it and however batches are split.
//! Transforms apply in recipe order to a float CHW image in [0, 1]; normalisation
//! comes last (`data::loader`).

pub use crate::data::transform::{Image, hflip, resize_bilinear};
use crate::data::transform::{center_crop, crop, pad, resize};
use crate::elab::recipe::Augment;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The random stream of one image in one epoch.
pub fn image_rng(seed: u64, epoch: u32, index: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(((epoch as u64) << 32) | index as u64);
    rng
}

/// Apply `augments` in order (`normalize` is the loader's last step, not applied here).
pub fn augment(mut img: Image, augments: &[Augment], rng: &mut ChaCha8Rng) -> Image {
    for a in augments {
        img = match a {
            Augment::Hflip { p } => {
                if rng.random::<f64>() < *p {
                    hflip(&img)
                } else {
                    img
                }
            }
            Augment::RandomResizedCrop { size, scale, ratio } => {
                let (i, j, h, w) = resized_crop_params(img.h, img.w, *scale, *ratio, rng);
                resize(&crop(&img, i, j, h, w), *size as usize, *size as usize)
            }
            Augment::RandomCrop { size, padding } => {
                let p = *padding as usize;
                let mut padded = pad(&img, p, p, p, p);
                let size = *size as usize;
                // An image smaller than the crop is padded further, as torchvision's
                // `pad_if_needed=True` does (by the shortfall on both sides).
                let (dh, dw) = (size.saturating_sub(padded.h), size.saturating_sub(padded.w));
                if dh > 0 || dw > 0 {
                    padded = pad(&padded, dh, dh, dw, dw);
                }
                let i = rng.random_range(0..=padded.h - size);
                let j = rng.random_range(0..=padded.w - size);
                crop(&padded, i, j, size, size)
            }
            Augment::Resize { size } => {
                let (h, w) = crate::data::loader::resize_target(size, img.h, img.w);
                resize(&img, h, w)
            }
            Augment::CenterCrop { size: [h, w] } => center_crop(&img, *h as usize, *w as usize),
            Augment::Normalize { .. } => img,
        };
    }
    img
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
