//! `--data synthetic`: a small, deterministic 10-class image set — coloured shapes on
//! noise — so training can be tried, demonstrated and tested with no download.
//! Class = (shape, colour family); position, size, colour shade and noise vary.

use crate::data::Dataset;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub const CLASSES: [&str; 10] = [
    "red_disc",
    "green_disc",
    "blue_square",
    "yellow_square",
    "cyan_cross",
    "magenta_cross",
    "white_ring",
    "orange_bar",
    "purple_triangle",
    "gray_stripes",
];

/// `per_class` 32x32 images of each class, from `seed`.
pub fn generate(per_class: usize, seed: u64) -> Dataset {
    let (h, w) = (32usize, 32usize);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut pixels = Vec::with_capacity(10 * per_class * 3 * h * w);
    let mut labels = Vec::with_capacity(10 * per_class);
    for i in 0..per_class * 10 {
        let class = i % 10;
        let colour: [f32; 3] = match class {
            0 => [0.9, 0.15, 0.1],
            1 => [0.1, 0.8, 0.2],
            2 => [0.15, 0.25, 0.9],
            3 => [0.9, 0.85, 0.1],
            4 => [0.1, 0.85, 0.85],
            5 => [0.85, 0.1, 0.8],
            6 => [0.95, 0.95, 0.95],
            7 => [0.95, 0.55, 0.1],
            8 => [0.55, 0.2, 0.8],
            _ => [0.6, 0.6, 0.6],
        };
        let shade: f32 = rng.random_range(0.75..1.0);
        let cx: f32 = rng.random_range(10.0..22.0);
        let cy: f32 = rng.random_range(10.0..22.0);
        let r: f32 = rng.random_range(5.0..9.0);
        let background: [f32; 3] = [
            rng.random_range(0.0..0.3),
            rng.random_range(0.0..0.3),
            rng.random_range(0.0..0.3),
        ];
        let mut img = vec![0u8; 3 * h * w];
        for y in 0..h {
            for x in 0..w {
                let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
                let d = (dx * dx + dy * dy).sqrt();
                let inside = match class {
                    0 | 1 => d < r,
                    2 | 3 => dx.abs() < r * 0.8 && dy.abs() < r * 0.8,
                    4 | 5 => {
                        (dx.abs() < r * 0.3 && dy.abs() < r) || (dy.abs() < r * 0.3 && dx.abs() < r)
                    }
                    6 => d < r && d > r * 0.6,
                    7 => dy.abs() < r * 0.35 && dx.abs() < r * 1.2,
                    8 => dy < r * 0.8 && dy > -r && dx.abs() < (dy + r) * 0.6,
                    _ => (x / 3) % 2 == 0,
                };
                for c in 0..3 {
                    let noise: f32 = rng.random_range(-0.08..0.08);
                    let v = if inside {
                        colour[c] * shade
                    } else {
                        background[c]
                    } + noise;
                    img[(c * h + y) * w + x] = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
                }
            }
        }
        pixels.extend_from_slice(&img);
        labels.push(class as u32);
    }
    Dataset {
        classes: CLASSES.map(String::from).to_vec(),
        shape: (3, h, w),
        pixels,
        labels,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn synthetic_data_is_deterministic_and_balanced() {
        let a = super::generate(3, 5);
        let b = super::generate(3, 5);
        assert_eq!(a, b);
        assert_eq!(a.len(), 30);
        assert_eq!(a.labels.iter().filter(|&&l| l == 7).count(), 3);
        assert_ne!(super::generate(3, 6).pixels, a.pixels);
    }
}
