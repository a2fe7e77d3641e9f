//! The data pipeline end to end on generated images (no downloads): a folder of images of
//! random sizes between 20 and 300 pixels, PNG and JPEG, some grayscale, trains a 64x64
//! model on lavapipe (cached and streamed); file lists and a dataset's own validation
//! folder; a corrupt image stops the run before the first step, or is skipped and
//! counted; transforms that cannot make the model's input are refused at the recipe's
//! line; a dataset larger than a memory cap streams with bounded resident memory.

use super::cli_train::{metrics, netc, tempdir, text};
use rand::{RngExt, SeedableRng};
use std::path::Path;

const MODEL64: &str = "tests/train/small64.net";

/// `n` images per class for 3 classes under `dir/<class>/`, of random sizes in 20..=300,
/// PNG and JPEG, every fifth grayscale. The class sets the dominant colour.
fn image_folder(dir: &Path, n: usize, seed: u64) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    for (c, class) in ["red", "green", "blue"].iter().enumerate() {
        let cdir = dir.join(class);
        std::fs::create_dir_all(&cdir).unwrap();
        for i in 0..n {
            let (w, h) = (rng.random_range(20..=300u32), rng.random_range(20..=300u32));
            let ext = if i % 2 == 0 { "png" } else { "jpg" };
            let path = cdir.join(format!("{i:03}.{ext}"));
            let noise: u8 = rng.random_range(0..60);
            let img = image::RgbImage::from_fn(w, h, |x, y| {
                let mut p = [((x * 7 + y * 3) % 60) as u8 + noise; 3];
                p[c] = 200;
                image::Rgb(p)
            });
            if i % 5 == 4 {
                image::DynamicImage::ImageRgb8(img)
                    .to_luma8()
                    .save(&path)
                    .unwrap();
            } else {
                img.save(&path).unwrap();
            }
        }
    }
}

fn train_on(data: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "train",
        MODEL64,
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    netc(&args)
}

#[test]
fn a_folder_of_mixed_sizes_and_formats_trains_cached_and_streamed_alike() {
    let data = tempdir("data-mixed");
    image_folder(&data, 12, 1);
    let cached = tempdir("data-mixed-cached");
    let o = train_on(&data, &cached, &["--workers", "2"]);
    let log = text(&o);
    assert!(o.status.success(), "{log}");
    assert!(
        log.contains("data: 36 images cached decoded in memory"),
        "{log}"
    );
    assert!(log.contains("images converted to RGB"), "{log}");
    let m = metrics(&cached);
    assert_eq!(m.len(), 1);
    assert!(m[0]["train_loss"].as_f64().unwrap().is_finite());
    // 36 images, 3 of every 15 grayscale: 6 PNG and 6 JPEG files written from gray images.
    assert_eq!(m[0]["converted_images"], 6, "{:?}", m[0]);
    // Streamed from disk with one worker: the same batches, so the same metrics.
    let streamed = tempdir("data-mixed-streamed");
    let o = train_on(&data, &streamed, &["--no-cache", "--workers", "1"]);
    let log = text(&o);
    assert!(o.status.success(), "{log}");
    assert!(log.contains("streamed from disk"), "{log}");
    assert_eq!(metrics(&streamed), m);
    // `netc test` prepares the validation images by the recipe's eval_transform.
    let o = netc(&["test", streamed.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("test accuracy"), "{}", text(&o));
    for d in [&data, &cached, &streamed] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn file_lists_and_a_datasets_own_validation_folder_give_the_split() {
    let root = tempdir("data-split");
    image_folder(&root.join("train"), 6, 2);
    image_folder(&root.join("val"), 2, 3);
    let out = tempdir("data-split-run");
    let o = train_on(&root, &out, &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("its own validation set of 6 images"),
        "{}",
        text(&o)
    );
    // The same images as file lists, paths relative to the list.
    let lists = tempdir("data-lists");
    std::fs::create_dir_all(&lists).unwrap();
    for (part, name) in [("train", "train.csv"), ("val", "val.csv")] {
        let mut csv = String::from("path,label\n");
        for class in ["blue", "green", "red"] {
            let mut files: Vec<_> = std::fs::read_dir(root.join(part).join(class))
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            files.sort();
            for f in files {
                csv.push_str(&format!("{},{class}\n", f.display()));
            }
        }
        std::fs::write(lists.join(name), csv).unwrap();
    }
    let out2 = tempdir("data-lists-run");
    let o = train_on(&lists, &out2, &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("data: 18 images") && text(&o).contains("validation set of 6"),
        "{}",
        text(&o)
    );
    // Classes sort alike (blue, green, red) in both forms, so the runs agree.
    assert_eq!(metrics(&out), metrics(&out2));
    for d in [&root, &out, &lists, &out2] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn a_corrupt_image_stops_the_run_before_the_first_step_or_is_skipped_and_counted() {
    let data = tempdir("data-bad");
    image_folder(&data, 6, 4);
    let bad = data.join("green").join("999.jpg");
    std::fs::write(&bad, b"\xff\xd8\xff this is not a JPEG").unwrap();
    let out = tempdir("data-bad-run");
    let o = train_on(&data, &out, &[]);
    assert!(!o.status.success());
    assert!(text(&o).contains("999.jpg"), "{}", text(&o));
    assert!(text(&o).contains("--skip-bad-images"), "{}", text(&o));
    assert!(!out.join("metrics.jsonl").exists());
    let o = train_on(&data, &out, &["--skip-bad-images", "--overwrite"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("skipped unreadable image"),
        "{}",
        text(&o)
    );
    assert_eq!(metrics(&out)[0]["bad_images"], 1);
    for d in [&data, &out] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn transforms_that_cannot_make_the_models_input_are_refused() {
    // A fixed size that is not the model's: at the recipe's line, with no data read.
    let dir = tempdir("data-badrecipe");
    std::fs::create_dir_all(&dir).unwrap();
    let src = std::fs::read_to_string(MODEL64)
        .unwrap()
        .replace("center_crop(64)", "center_crop(56)");
    let file = dir.join("m.net");
    std::fs::write(&file, src).unwrap();
    let o = netc(&["check", file.to_str().unwrap()]);
    let t = text(&o);
    assert!(!o.status.success(), "{t}");
    assert!(
        t.contains("`eval_transform` produces 56x56 images, but the model's input is 64x64"),
        "{t}"
    );
    assert!(t.contains("m.net:16"), "{t}");
    // Images of mixed sizes with no transform to one size: refused before training.
    let data = tempdir("data-badrecipe-images");
    image_folder(&data, 4, 5);
    let src = std::fs::read_to_string(MODEL64)
        .unwrap()
        .replace("eval_transform = [resize(72), center_crop(64)]", "");
    std::fs::write(&file, src).unwrap();
    let out = dir.join("run");
    let o = netc(&[
        "train",
        file.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let t = text(&o);
    assert!(!o.status.success(), "{t}");
    assert!(
        t.contains("differ in size") && t.contains("eval_transform"),
        "{t}"
    );
    assert!(!out.exists());
    for d in [&dir, &data] {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// `n` JPEGs of `side` x `side` under 3 class folders.
fn big_folder(dir: &Path, n: usize, side: u32) {
    for (c, class) in ["a", "b", "c"].iter().enumerate() {
        let cdir = dir.join(class);
        std::fs::create_dir_all(&cdir).unwrap();
        for i in 0..n / 3 {
            let img = image::RgbImage::from_fn(side, side, |x, y| {
                image::Rgb([(x % 256) as u8, (y % 256) as u8, (c * 80 + i % 50) as u8])
            });
            img.save(cdir.join(format!("{i:04}.jpg"))).unwrap();
        }
    }
}

fn peak_mib(log: &str) -> f64 {
    let at = log
        .find("peak resident memory ")
        .expect("peak memory reported");
    log[at + 21..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn a_dataset_larger_than_the_memory_cap_streams_with_bounded_resident_memory() {
    // 600 images of 400x400 decode to 288 MB, nine times the 32 MiB cap.
    let data = tempdir("data-big");
    big_folder(&data, 600, 400);
    let decoded_mib = 600.0 * 400.0 * 400.0 * 3.0 / (1 << 20) as f64;
    let bench = |extra: &[&str]| {
        let mut args = vec![
            "bench-data",
            MODEL64,
            "--data",
            data.to_str().unwrap(),
            "--eval",
            "--batch",
            "8",
        ];
        args.extend_from_slice(extra);
        let o = netc(&args);
        assert!(o.status.success(), "{}", text(&o));
        text(&o)
    };
    let capped = bench(&["--max-memory", "32M"]);
    assert!(capped.contains("streamed from disk"), "{capped}");
    assert!(capped.contains("bench-data: 600 images"), "{capped}");
    let peak = peak_mib(&capped);
    assert!(
        peak < decoded_mib / 3.0,
        "peak RSS {peak} MiB with a 32 MiB cap over {decoded_mib:.0} MiB of images"
    );
    // The same pipeline told to cache holds the decoded dataset: the check can tell.
    let cached = bench(&["--cache"]);
    assert!(cached.contains("decoded in memory"), "{cached}");
    assert!(peak_mib(&cached) > decoded_mib, "{cached}");
    // And training under the cap streams too (resident memory reported at the end).
    let out = tempdir("data-big-run");
    let o = train_on(
        &data,
        &out,
        &["--max-memory", "32M", "--limit", "120", "--val-size", "16"],
    );
    let log = text(&o);
    assert!(o.status.success(), "{log}");
    assert!(log.contains("streamed from disk"), "{log}");
    assert!(peak_mib(&log) > 0.0);
    for d in [&data, &out] {
        let _ = std::fs::remove_dir_all(d);
    }
}
