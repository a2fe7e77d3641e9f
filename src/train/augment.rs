//! The recipe's transform lists (`augment` for training, `eval_transform` for
//! validation and inference) applied with torchvision's semantics, deterministic from
//! the seed.
//!
//! Each image draws from its own ChaCha8 stream keyed by (seed, epoch, index), so a
//! batch is the same whichever worker prepares it and however batches are split.
//! Transforms apply in recipe order to a float CHW image in [0, 1]; normalisation
//! comes last (`data::loader`).

use crate::data::source::Rgb8;
pub use crate::data::transform::{Image, hflip, resize_bilinear};
use crate::data::transform::{
    center_crop, center_region, crop, crop_rgb8, pad, resize, resize_rgb8, resize_rgb8_region,
};
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

/// The head of `augments` applied to a decoded image's bytes, where reading them directly
/// saves work, and the rest of the list for [`augment`]: a leading `resize` (with the
/// `center_crop` after it, computing only the kept window) or `random_resized_crop` (the
/// window's bytes, not the whole photo, become floats). Bit for bit what [`augment`] gives
/// `Image::from_rgb8(..)` with the same stream.
pub fn head_from_bytes<'a>(
    rgb: &Rgb8,
    augments: &'a [Augment],
    rng: &mut ChaCha8Rng,
) -> (Image, &'a [Augment]) {
    let (h, w, bytes) = (rgb.h, rgb.w, &rgb.data[..]);
    match augments {
        [Augment::Resize { size }, rest @ ..] => {
            let (oh, ow) = crate::data::loader::resize_target(size, h, w);
            match rest {
                // A crop inside the resized image (a larger one pads: the general path).
                [Augment::CenterCrop { size: [ch, cw] }, after @ ..]
                    if (*ch as usize) <= oh && (*cw as usize) <= ow =>
                {
                    let region = center_region(oh, ow, *ch as usize, *cw as usize);
                    (resize_rgb8_region(h, w, bytes, oh, ow, region), after)
                }
                _ => (resize_rgb8(h, w, bytes, oh, ow), rest),
            }
        }
        [Augment::RandomResizedCrop { size, scale, ratio }, rest @ ..] => {
            let (i, j, ch, cw) = resized_crop_params(h, w, *scale, *ratio, rng);
            let window = crop_rgb8(w, bytes, i, j, ch, cw);
            let size = *size as usize;
            (resize_rgb8(ch, cw, &window, size, size), rest)
        }
        _ => (Image::from_rgb8(h, w, bytes), augments),
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
    fn reading_the_bytes_first_changes_no_bit() {
        let (h, w) = (37, 50);
        let rgb = Rgb8 {
            h,
            w,
            data: (0..h * w * 3).map(|i| (i * 29 % 251) as u8).collect(),
        };
        let rrc = |size| Augment::RandomResizedCrop {
            size,
            scale: [0.08, 1.0],
            ratio: [0.75, 4.0 / 3.0],
        };
        let lists = [
            vec![
                Augment::Resize { size: vec![24] },
                Augment::CenterCrop { size: [20, 20] },
            ],
            vec![
                Augment::Resize { size: vec![30, 40] },
                Augment::CenterCrop { size: [9, 33] },
            ],
            // A crop larger than the resized image pads: the general path.
            vec![
                Augment::Resize { size: vec![16] },
                Augment::CenterCrop { size: [20, 20] },
            ],
            vec![
                Augment::Resize { size: vec![60] },
                Augment::Hflip { p: 0.5 },
            ],
            vec![rrc(16), Augment::Hflip { p: 0.5 }],
            vec![rrc(64)],
            vec![Augment::Hflip { p: 0.5 }, rrc(16)],
        ];
        for list in &lists {
            for index in 0..20 {
                let mut rng = image_rng(7, 1, index);
                let (img, rest) = head_from_bytes(&rgb, list, &mut rng);
                let fused = augment(img, rest, &mut rng);
                let mut rng = image_rng(7, 1, index);
                let plain = augment(Image::from_rgb8(h, w, &rgb.data), list, &mut rng);
                assert_eq!(fused, plain, "{list:?}, image {index}");
            }
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
