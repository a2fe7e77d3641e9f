//! End-to-end commands that touch images and the GPU: `netc init`, `netc eval` (image
//! folders and the CIFAR-10 binary format, checked image by image against the CPU
//! reference), `netc infer`, and the error when no adapter exists.
//!
//! Images come from a few files of ../shared/data/cifar10/train copied to a temporary
//! folder at run time, or are generated here; none are committed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn netc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_netc"))
        // Tests never time kernels or write the user's tuning cache (tests/gpu_tune.rs does).
        .env("NETC_TUNE", "0")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("netc runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("netc-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `per_class` real CIFAR-10 images per class, copied into a fresh folder tree.
fn cifar_subset(name: &str, per_class: usize) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/cifar10/train");
    assert!(
        src.is_dir(),
        "the CIFAR-10 images are expected at {}",
        src.display()
    );
    let dst = tempdir(name);
    let mut classes: Vec<_> = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    classes.sort();
    for class in classes {
        let out = dst.join(class.file_name().unwrap());
        std::fs::create_dir_all(&out).unwrap();
        let mut files: Vec<_> = std::fs::read_dir(&class)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for f in files.into_iter().take(per_class) {
            std::fs::copy(&f, out.join(f.file_name().unwrap())).unwrap();
        }
    }
    dst
}

fn init_weights(model: &str, dir: &Path) -> String {
    let w = dir.join("weights.safetensors");
    let o = netc(&["init", model, "-o", w.to_str().unwrap(), "--seed", "7"]);
    assert!(o.status.success(), "{}", text(&o));
    w.to_str().unwrap().to_string()
}

#[test]
fn eval_on_image_folder_agrees_with_cpu_reference() {
    let data = cifar_subset("eval-folder", 2);
    let w = init_weights("models/resnet.net", &tempdir("eval-weights"));
    let o = netc(&[
        "eval",
        "models/resnet.net",
        "--weights",
        &w,
        "--data",
        data.to_str().unwrap(),
        "--batch",
        "8",
        "--compare-cpu",
    ]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("20 images, 10 classes"), "{t}");
    assert!(t.contains("top-1 accuracy"), "{t}");
    assert!(t.contains("same prediction for 20/20 images"), "{t}");
    assert!(t.contains("confusion matrix"), "{t}");
}

#[test]
fn eval_reads_the_cifar10_binary_release() {
    let dir = tempdir("eval-bin");
    // 12 records of label + 3072 pixel bytes, with a deterministic pattern.
    let mut bytes = Vec::new();
    for i in 0..12u32 {
        bytes.push((i % 10) as u8);
        bytes.extend((0..3072u32).map(|j| ((i * 31 + j * 7) % 256) as u8));
    }
    std::fs::write(dir.join("test_batch.bin"), &bytes).unwrap();
    std::fs::write(
        dir.join("batches.meta.txt"),
        "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n",
    )
    .unwrap();
    let w = init_weights("models/densenet.net", &dir);
    let o = netc(&[
        "eval",
        "models/densenet.net",
        "--weights",
        &w,
        "--data",
        dir.to_str().unwrap(),
        "--batch",
        "5",
        "--compare-cpu",
    ]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("12 images"), "{t}");
    assert!(t.contains("same prediction for 12/12 images"), "{t}");

    // A truncated file is an error that names it.
    std::fs::write(dir.join("test_batch.bin"), &bytes[..3073 * 2 + 100]).unwrap();
    let o = netc(&[
        "eval",
        "models/densenet.net",
        "--weights",
        &w,
        "--data",
        dir.to_str().unwrap(),
        "--device",
        "cpu",
    ]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("test_batch.bin") && t.contains("truncated"),
        "{t}"
    );
    assert!(!t.contains("panicked"), "{t}");
}

#[test]
fn infer_prints_top_classes() {
    let data = cifar_subset("infer", 1);
    let w = init_weights("models/googlenet.net", &data);
    let cat = data.join("cat/0000.jpg");
    let ship = data.join("ship/0000.jpg");
    let o = netc(&[
        "infer",
        "models/googlenet.net",
        "--weights",
        &w,
        cat.to_str().unwrap(),
        ship.to_str().unwrap(),
        "--top",
        "2",
    ]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    let stdout = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{t}");
    assert!(
        lines[0].contains("cat/0000.jpg:") && lines[0].contains('%'),
        "{t}"
    );
}

#[test]
fn commands_without_an_adapter_explain_how_to_get_one() {
    let dir = tempdir("noadapter");
    let w = init_weights("models/resnet.net", &dir);
    // No Metal on Linux: wgpu finds no adapter at all.
    let data = cifar_subset("noadapter-data", 1);
    let o = Command::new(env!("CARGO_BIN_EXE_netc"))
        // Tests never time kernels or write the user's tuning cache (tests/gpu_tune.rs does).
        .env("NETC_TUNE", "0")
        .args([
            "eval",
            "models/resnet.net",
            "--weights",
            &w,
            "--data",
            data.to_str().unwrap(),
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("WGPU_BACKEND", "metal")
        .output()
        .unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("no GPU adapter found") && t.contains("mesa-vulkan-drivers"),
        "{t}"
    );
    assert!(!t.contains("panicked"), "{t}");
}

#[test]
fn bad_datasets_are_errors_naming_the_file() {
    let dir = tempdir("baddata");
    let w = init_weights("models/resnet.net", &dir);
    let eval = |data: &Path| {
        netc(&[
            "eval",
            "models/resnet.net",
            "--weights",
            &w,
            "--data",
            data.to_str().unwrap(),
            "--device",
            "cpu",
        ])
    };

    let missing = dir.join("nope");
    let t = text(&eval(&missing));
    assert!(t.contains("does not exist") && t.contains("nope"), "{t}");

    let empty = dir.join("empty");
    std::fs::create_dir_all(empty.join("cat")).unwrap();
    let t = text(&eval(&empty));
    assert!(t.contains("has no images") && t.contains("cat"), "{t}");

    let broken = dir.join("broken");
    std::fs::create_dir_all(broken.join("cat")).unwrap();
    std::fs::write(broken.join("cat/0.jpg"), b"not a jpeg").unwrap();
    let t = text(&eval(&broken));
    assert!(
        t.contains("cannot decode image") && t.contains("0.jpg"),
        "{t}"
    );

    let sizes = dir.join("sizes");
    std::fs::create_dir_all(sizes.join("a")).unwrap();
    image::RgbImage::new(32, 32)
        .save(sizes.join("a/0.png"))
        .unwrap();
    image::RgbImage::new(16, 16)
        .save(sizes.join("a/1.png"))
        .unwrap();
    let t = text(&eval(&sizes));
    assert!(t.contains("1.png") && t.contains("16x16"), "{t}");
}

#[test]
fn a_batch_too_large_for_the_device_says_the_largest_that_fits() {
    let data = cifar_subset("bigbatch", 1);
    let w = init_weights("models/resnet.net", &data);
    let o = netc(&[
        "eval",
        "models/resnet.net",
        "--weights",
        &w,
        "--data",
        data.to_str().unwrap(),
        "--batch",
        "100000",
    ]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("batch 100000 is too large") && t.contains("the largest batch that fits is"),
        "{t}"
    );
    assert!(
        t.contains("conv1") && t.contains("max_storage_buffer_binding_size"),
        "{t}"
    );
}
