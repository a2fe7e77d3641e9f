//! netc's deterministic transforms against torchvision's, pixel by pixel: resize
//! (bilinear, antialiased when shrinking; both the float path and the path that reads
//! decoded bytes), center_crop, the resampling of random_resized_crop, and a
//! `resize` + `center_crop` list run through `train::augment`. The fixture is written
//! by tools/make_transform_fixtures.py (torchvision.transforms.v2.functional on float
//! tensors in [0, 1]). Tolerance: 2e-6 absolute per pixel (f32 rounding; the fixture
//! holds 6 decimals).

use netc::data::transform::{Image, center_crop, crop, resize, resize_rgb8};
use netc::elab::recipe::Augment;
use netc::train::augment::{augment, image_rng};
use serde_json::Value;

const TOLERANCE: f32 = 2e-6;

fn fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/transforms.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("JSON")
}

fn ints(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

#[test]
fn transforms_match_torchvision_pixel_by_pixel() {
    let f = fixture();
    let cases = f["cases"].as_array().unwrap();
    assert!(cases.len() >= 20);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let input = &f["inputs"][case["input"].as_str().unwrap()];
        let (h, w) = (
            input["h"].as_u64().unwrap() as usize,
            input["w"].as_u64().unwrap() as usize,
        );
        let rgb: Vec<u8> = ints(&input["rgb"]).into_iter().map(|b| b as u8).collect();
        let img = Image::from_rgb8(h, w, &rgb);
        let mut outs: Vec<Image> = Vec::new();
        let ops = case["ops"].as_array().unwrap();
        let list: Option<Vec<Augment>> = ops
            .iter()
            .map(|op| {
                if let Some(s) = op.get("resize") {
                    Some(Augment::Resize {
                        size: ints(s).into_iter().map(|x| x as u32).collect(),
                    })
                } else if let Some(s) = op.get("center_crop") {
                    let s = ints(s);
                    Some(Augment::CenterCrop {
                        size: [s[0] as u32, s[1] as u32],
                    })
                } else {
                    None
                }
            })
            .collect();
        match list {
            Some(list) => {
                outs.push(augment(img.clone(), &list, &mut image_rng(0, 0, 0)));
                if let (1, Augment::Resize { .. }) = (list.len(), &list[0]) {
                    let (oh, ow) = (case["h"].as_u64().unwrap(), case["w"].as_u64().unwrap());
                    outs.push(resize(&img, oh as usize, ow as usize));
                    outs.push(resize_rgb8(h, w, &rgb, oh as usize, ow as usize));
                }
                if let (1, Augment::CenterCrop { size }) = (list.len(), &list[0]) {
                    outs.push(center_crop(&img, size[0] as usize, size[1] as usize));
                }
            }
            None => {
                let p = ints(&ops[0]["resized_crop"]);
                outs.push(resize(&crop(&img, p[0], p[1], p[2], p[3]), p[4], p[4]));
            }
        }
        let want: Vec<f32> = case["output"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect();
        for out in outs {
            assert_eq!(
                (out.h, out.w),
                (
                    case["h"].as_u64().unwrap() as usize,
                    case["w"].as_u64().unwrap() as usize
                ),
                "{name}: size"
            );
            assert_eq!(out.data.len(), want.len(), "{name}");
            let worst = out
                .data
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(
                worst <= TOLERANCE,
                "{name}: max |netc - torchvision| = {worst:e}"
            );
        }
    }
}
