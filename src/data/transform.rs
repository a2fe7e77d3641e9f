//! The deterministic image transforms, with torchvision's semantics on float tensors
//! (`ToTensor()` first, so pixels are `u8 / 255` in f32): resizing (bilinear, with
//! antialiasing when it shrinks, as `F.resize(..., antialias=True)`), cropping and
//! padding. The random transforms (`train::augment`) are built from these.
//!
//! `resize` reproduces ATen's `_upsample_bilinear2d_aa` step by step in f32: a triangle
//! filter whose support widens by the downscale factor, weights normalised per output
//! pixel, width first and then height, an unchanged axis skipped. Where neither axis
//! shrinks that filter is exactly bilinear interpolation with half-pixel centres, and
//! the seed's `resize_bilinear` (f64, two-dimensional) is used, so CIFAR-10's
//! augmentation is bit for bit what it was. tests/transforms.rs compares both with
//! torchvision's output.

/// A float image, CHW, values in [0, 1].
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub data: Vec<f32>,
}

/// `b / 255` for every byte, as `ToTensor` computes it (f32 division).
fn unit_lut() -> [f32; 256] {
    let mut lut = [0f32; 256];
    for (i, v) in lut.iter_mut().enumerate() {
        *v = i as f32 / 255.0;
    }
    lut
}

impl Image {
    /// From CHW bytes.
    pub fn from_u8(c: usize, h: usize, w: usize, bytes: &[u8]) -> Image {
        Image {
            c,
            h,
            w,
            data: bytes.iter().map(|&b| b as f32 / 255.0).collect(),
        }
    }

    /// From interleaved RGB bytes (HWC, as decoders write them).
    pub fn from_rgb8(h: usize, w: usize, rgb: &[u8]) -> Image {
        let lut = unit_lut();
        let plane = h * w;
        let mut data = vec![0f32; 3 * plane];
        for (i, px) in rgb.chunks_exact(3).enumerate() {
            data[i] = lut[px[0] as usize];
            data[plane + i] = lut[px[1] as usize];
            data[2 * plane + i] = lut[px[2] as usize];
        }
        Image { c: 3, h, w, data }
    }

    pub fn at(&self, c: usize, y: usize, x: usize) -> f32 {
        self.data[(c * self.h + y) * self.w + x]
    }
}

/// The filter taps of one output pixel along one axis.
struct Taps {
    start: usize,
    weights: Vec<f32>,
}

/// ATen's `_compute_weights_aa` for the bilinear (triangle) filter, in f32.
fn taps(input: usize, output: usize) -> Vec<Taps> {
    let scale = input as f32 / output as f32;
    let support = if scale >= 1.0 { scale } else { 1.0 };
    let invscale = if scale >= 1.0 { 1.0 / scale } else { 1.0 };
    (0..output)
        .map(|i| {
            let center = scale * (i as f32 + 0.5);
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64).min(input as i64) as usize;
            let mut weights: Vec<f32> = (xmin..xmax)
                .map(|j| {
                    let x = ((j - xmin) as f32 + xmin as f32 - center + 0.5) * invscale;
                    let x = x.abs();
                    if x < 1.0 { 1.0 - x } else { 0.0 }
                })
                .collect();
            let total: f32 = weights.iter().sum();
            if total != 0.0 {
                for w in &mut weights {
                    *w /= total;
                }
            }
            Taps {
                start: xmin,
                weights,
            }
        })
        .collect()
}

fn dot(src: &[f32], t: &Taps, stride: usize) -> f32 {
    let mut acc = src[t.start * stride] * t.weights[0];
    for (k, &w) in t.weights.iter().enumerate().skip(1) {
        acc += src[(t.start + k) * stride] * w;
    }
    acc
}

/// Resize to `out_h` x `out_w`: torchvision's bilinear resize with antialiasing.
pub fn resize(img: &Image, out_h: usize, out_w: usize) -> Image {
    if out_h >= img.h && out_w >= img.w {
        // No axis shrinks: the antialiasing filter is plain bilinear interpolation.
        return resize_bilinear(img, out_h, out_w);
    }
    let mut cur = img.clone();
    if out_w != img.w {
        let t = taps(img.w, out_w);
        let mut data = Vec::with_capacity(cur.c * cur.h * out_w);
        for row in cur.data.chunks_exact(cur.w) {
            data.extend(t.iter().map(|t| dot(row, t, 1)));
        }
        cur = Image {
            c: cur.c,
            h: cur.h,
            w: out_w,
            data,
        };
    }
    if out_h != img.h {
        let t = taps(img.h, out_h);
        cur = Image {
            c: cur.c,
            h: out_h,
            w: cur.w,
            data: height_pass(&cur.data, cur.h * cur.w, cur.w, &t),
        };
    }
    cur
}

/// The height pass over `planes` (each `plane_len` values, rows of `w`): output row `i` is
/// the sum of `taps[i]`'s source rows, each times its weight, in tap order. Row by row, so
/// the inner loops run along contiguous rows (and vectorise), while each pixel sees the same
/// operations in the same order as [`dot`] down its column.
fn height_pass(planes: &[f32], plane_len: usize, w: usize, taps: &[Taps]) -> Vec<f32> {
    let out_plane = taps.len() * w;
    let mut out = vec![0f32; planes.len() / plane_len * out_plane];
    for (plane, dst_plane) in planes
        .chunks_exact(plane_len)
        .zip(out.chunks_exact_mut(out_plane))
    {
        for (tap, dst) in taps.iter().zip(dst_plane.chunks_exact_mut(w)) {
            let row = |k: usize| &plane[(tap.start + k) * w..(tap.start + k + 1) * w];
            for (d, &v) in dst.iter_mut().zip(row(0)) {
                *d = v * tap.weights[0];
            }
            for (k, &wt) in tap.weights.iter().enumerate().skip(1) {
                for (d, &v) in dst.iter_mut().zip(row(k)) {
                    *d += v * wt;
                }
            }
        }
    }
    out
}

/// A window of an image: `h` x `w` pixels with the top-left corner at (`top`, `left`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub top: usize,
    pub left: usize,
    pub h: usize,
    pub w: usize,
}

impl Region {
    /// The whole of an `h` x `w` image.
    pub fn all(h: usize, w: usize) -> Region {
        Region {
            top: 0,
            left: 0,
            h,
            w,
        }
    }
}

/// [`resize`] of an interleaved RGB image, without first building the full-size float
/// image when the width shrinks (the common case of a photo made small): the width
/// pass reads the bytes through `ToTensor`'s `b / 255`, so the result is the same as
/// `resize(&Image::from_rgb8(..), ..)`, bit for bit.
pub fn resize_rgb8(h: usize, w: usize, rgb: &[u8], out_h: usize, out_w: usize) -> Image {
    resize_rgb8_region(h, w, rgb, out_h, out_w, Region::all(out_h, out_w))
}

/// The `region` of [`resize_rgb8`]'s result, computing only that region: `resize(256)`
/// then `center_crop(224)` of a 500x375 photo needs 224 of the 341 resized columns, and
/// only the source rows the kept output rows read. Every kept pixel goes through the same
/// operations in the same order as in the full resize, so the result is
/// `crop(&resize_rgb8(..), ..)`, bit for bit. `region` must lie inside `out_h` x `out_w`.
pub fn resize_rgb8_region(
    h: usize,
    w: usize,
    rgb: &[u8],
    out_h: usize,
    out_w: usize,
    region: Region,
) -> Image {
    if out_w >= w {
        let full = resize(&Image::from_rgb8(h, w, rgb), out_h, out_w);
        if region == Region::all(out_h, out_w) {
            return full;
        }
        return crop(&full, region.top, region.left, region.h, region.w);
    }
    let lut = unit_lut();
    let columns = &taps(w, out_w)[region.left..region.left + region.w];
    // The height pass's taps of the kept rows, and the source rows they read.
    let mut rows_taps: Option<Vec<Taps>> = (out_h != h).then(|| {
        let mut t = taps(h, out_h);
        t.truncate(region.top + region.h);
        t.split_off(region.top)
    });
    let (first, last) = match &rows_taps {
        Some(t) => (
            t.iter().map(|t| t.start).min().unwrap_or(0),
            t.iter()
                .map(|t| t.start + t.weights.len())
                .max()
                .unwrap_or(0),
        ),
        None => (region.top, region.top + region.h),
    };
    let (rows, out_w) = (last - first, region.w);
    let plane = rows * out_w;
    let mut data = vec![0f32; 3 * plane];
    for y in first..last {
        let row = &rgb[y * w * 3..(y + 1) * w * 3];
        let at = (y - first) * out_w;
        for (x, tap) in columns.iter().enumerate() {
            // The three channels of a pixel together: one pass over the taps' bytes, each
            // channel's sum in tap order, as `dot` would take it.
            let px = &row[tap.start * 3..(tap.start + tap.weights.len()) * 3];
            let w0 = tap.weights[0];
            let mut acc = [0, 1, 2].map(|c| lut[px[c] as usize] * w0);
            for (p, &wt) in px.chunks_exact(3).zip(&tap.weights).skip(1) {
                for c in 0..3 {
                    acc[c] += lut[p[c] as usize] * wt;
                }
            }
            for (c, v) in acc.into_iter().enumerate() {
                data[c * plane + at + x] = v;
            }
        }
    }
    let narrow = Image {
        c: 3,
        h: rows,
        w: out_w,
        data,
    };
    let Some(rows_taps) = rows_taps.as_mut() else {
        return narrow;
    };
    // The height pass of `resize` (the width already matches, so only it runs), over the
    // rows read above.
    for tap in rows_taps.iter_mut() {
        tap.start -= first;
    }
    Image {
        c: 3,
        h: region.h,
        w: out_w,
        data: height_pass(&narrow.data, plane, out_w, rows_taps),
    }
}

/// Bilinear resize with half-pixel centres (PyTorch's `align_corners=False`), in f64.
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

/// The window of `h` x `w` pixels at (`i`, `j`); it must lie inside the image.
pub fn crop(img: &Image, i: usize, j: usize, h: usize, w: usize) -> Image {
    let mut data = Vec::with_capacity(img.c * h * w);
    for c in 0..img.c {
        for y in i..i + h {
            let row = (c * img.h + y) * img.w;
            data.extend_from_slice(&img.data[row + j..row + j + w]);
        }
    }
    Image {
        c: img.c,
        h,
        w,
        data,
    }
}

/// Zero padding: `top`, `bottom` rows and `left`, `right` columns.
pub fn pad(img: &Image, top: usize, bottom: usize, left: usize, right: usize) -> Image {
    let (h, w) = (img.h + top + bottom, img.w + left + right);
    let mut data = vec![0.0; img.c * h * w];
    for c in 0..img.c {
        for y in 0..img.h {
            let src = (c * img.h + y) * img.w;
            let dst = (c * h + y + top) * w + left;
            data[dst..dst + img.w].copy_from_slice(&img.data[src..src + img.w]);
        }
    }
    Image {
        c: img.c,
        h,
        w,
        data,
    }
}

/// torchvision's `center_crop`: the window at `round((H - h) / 2)` (Python's round,
/// half to even), after zero padding an image smaller than the crop.
pub fn center_crop(img: &Image, h: usize, w: usize) -> Image {
    let mut img = std::borrow::Cow::Borrowed(img);
    if h > img.h || w > img.w {
        let (dw, dh) = (w.saturating_sub(img.w), h.saturating_sub(img.h));
        img = std::borrow::Cow::Owned(pad(&img, dh / 2, dh.div_ceil(2), dw / 2, dw.div_ceil(2)));
        if img.h == h && img.w == w {
            return img.into_owned();
        }
    }
    let r = center_region(img.h, img.w, h, w);
    crop(&img, r.top, r.left, h, w)
}

/// The window [`center_crop`] keeps of an image at least `h` x `w`: at
/// `round((H - h) / 2)`, Python's round (half to even).
pub fn center_region(img_h: usize, img_w: usize, h: usize, w: usize) -> Region {
    Region {
        top: ((img_h - h) as f64 / 2.0).round_ties_even() as usize,
        left: ((img_w - w) as f64 / 2.0).round_ties_even() as usize,
        h,
        w,
    }
}

/// The `h` x `w` window at (`i`, `j`) of an interleaved RGB image, as bytes.
pub fn crop_rgb8(w: usize, rgb: &[u8], i: usize, j: usize, h: usize, cw: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(h * cw * 3);
    for y in i..i + h {
        out.extend_from_slice(&rgb[(y * w + j) * 3..(y * w + j + cw) * 3]);
    }
    out
}

pub fn hflip(img: &Image) -> Image {
    let mut out = img.clone();
    for row in out.data.chunks_exact_mut(img.w) {
        row.reverse();
    }
    out
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
    fn downscaling_by_two_uses_atens_clipped_triangle_weights() {
        // Scale 2: support 2; output 0 is centred at 1 and its window is clipped at the
        // left edge (taps 0..3, weights 3/7, 3/7, 1/7), output 1 at 3 (taps 1..4).
        let img = Image {
            c: 1,
            h: 1,
            w: 4,
            data: vec![0.0, 8.0, 16.0, 24.0],
        };
        let out = resize(&img, 1, 2);
        assert!((out.data[0] - 40.0 / 7.0).abs() < 1e-5, "{:?}", out.data);
        assert!((out.data[1] - 128.0 / 7.0).abs() < 1e-5, "{:?}", out.data);
    }

    #[test]
    fn the_rgb8_path_is_bit_identical_to_converting_first() {
        let (h, w) = (13, 37);
        let rgb: Vec<u8> = (0..h * w * 3).map(|i| (i * 7 % 251) as u8).collect();
        for (oh, ow) in [(5, 9), (13, 20), (20, 9), (13, 37), (30, 40)] {
            let a = resize_rgb8(h, w, &rgb, oh, ow);
            let b = resize(&Image::from_rgb8(h, w, &rgb), oh, ow);
            assert_eq!(a, b, "{oh}x{ow}");
        }
    }

    #[test]
    fn a_region_of_the_rgb8_resize_is_that_crop_of_the_full_resize() {
        let (h, w) = (29, 41);
        let rgb: Vec<u8> = (0..h * w * 3).map(|i| (i * 13 % 253) as u8).collect();
        // Shrinking both axes, only the width, the width while the height grows, and
        // growing the width (the converting path).
        for (oh, ow) in [(17, 23), (29, 20), (40, 30), (20, 50)] {
            let full = resize_rgb8(h, w, &rgb, oh, ow);
            for (top, left, rh, rw) in [(0, 0, oh, ow), (3, 2, 10, 11), (oh - 5, ow - 7, 5, 7)] {
                let region = Region {
                    top,
                    left,
                    h: rh,
                    w: rw,
                };
                let want = crop(&full, top, left, rh, rw);
                let got = resize_rgb8_region(h, w, &rgb, oh, ow, region);
                assert_eq!(got, want, "{oh}x{ow} region {region:?}");
            }
        }
    }

    #[test]
    fn the_row_wise_height_pass_is_dot_down_each_column() {
        let (h, w) = (23, 6);
        let plane: Vec<f32> = (0..h * w).map(|i| (i * 37 % 101) as f32 / 101.0).collect();
        for out_h in [5, 11, 22, 40] {
            let t = taps(h, out_h);
            let want: Vec<f32> = t
                .iter()
                .flat_map(|tap| (0..w).map(|x| dot(&plane[x..], tap, w)).collect::<Vec<_>>())
                .collect();
            assert_eq!(height_pass(&plane, h * w, w, &t), want, "{h} -> {out_h}");
        }
    }

    #[test]
    fn a_byte_crop_converts_to_the_float_crop() {
        let (h, w) = (7, 9);
        let rgb: Vec<u8> = (0..h * w * 3).map(|i| (i * 31 % 256) as u8).collect();
        let bytes = crop_rgb8(w, &rgb, 2, 3, 4, 5);
        let want = crop(&Image::from_rgb8(h, w, &rgb), 2, 3, 4, 5);
        assert_eq!(Image::from_rgb8(4, 5, &bytes), want);
    }

    #[test]
    fn center_crop_rounds_half_to_even_and_pads_small_images() {
        let c = center_crop(&ramp(5, 5), 2, 2);
        // (5 - 2) / 2 = 1.5 rounds to 2.
        assert_eq!(c.data, vec![12.0, 13.0, 17.0, 18.0]);
        // torchvision pads [left, top, right, bottom] = [0, 0, 1, 1] here.
        let p = center_crop(&ramp(2, 2), 3, 3);
        assert_eq!(p.data, vec![0.0, 1.0, 0.0, 2.0, 3.0, 0.0, 0.0, 0.0, 0.0]);
    }
}
