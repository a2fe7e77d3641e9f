//! Helpers shared by the integration tests (each test file includes this module).
#![allow(dead_code)]

use netc::diag::{Diagnostics, Sources};
use netc::elab::Elaborated;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The four seed models, by file stem.
pub const MODELS: [&str; 4] = ["googlenet", "resnet", "preact_resnet", "densenet"];

/// The package root (the directory holding Cargo.toml).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `models/<stem>.net`, absolute.
pub fn model_path(stem: &str) -> PathBuf {
    root().join("models").join(format!("{stem}.net"))
}

/// Every `tests/in/*.net` file (not the libraries under `tests/in/lib/`), sorted.
pub fn in_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("tests/in"))
        .expect("tests/in exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "net"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "tests/in has no .net files");
    files
}

/// Every `.net` source the tests know: the models, their libraries, tests/in and its libraries.
pub fn all_sources() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = MODELS.iter().map(|m| model_path(m)).collect();
    for dir in ["models/lib", "tests/in/lib"] {
        let mut libs: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
            .expect("library folder exists")
            .map(|e| e.expect("readable entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "net"))
            .collect();
        libs.sort();
        out.extend(libs);
    }
    out.extend(in_files());
    out
}

/// Run the front end on a file; keep the sources for rendering diagnostics.
pub fn front_end(path: &Path, overrides: &[&str]) -> (Sources, Result<Elaborated, Diagnostics>) {
    let mut sources = Sources::new();
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    let r = netc::pipeline::front_end(&mut sources, path, &overrides);
    (sources, r)
}

/// Run the front end on a file that must compile; panics with the rendered diagnostics if not.
pub fn elaborate(path: &Path, overrides: &[&str]) -> Elaborated {
    let (sources, r) = front_end(path, overrides);
    match r {
        Ok(e) => e,
        Err(d) => panic!(
            "{} does not compile:\n{}",
            path.display(),
            sources.render(&d.0, false)
        ),
    }
}

/// Run the `netc` binary in `cwd`.
pub fn netc(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_netc"))
        // Tests never time kernels or write the user's tuning cache (tests/gpu_tune.rs does).
        .env("NETC_TUNE", "0")
        .current_dir(cwd)
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("the netc binary runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Largest absolute value of a tensor.
pub fn max_abs(t: &netc::tensor::Tensor) -> f64 {
    t.data.iter().fold(0f64, |m, &v| m.max(v.abs() as f64))
}

/// Relative error used by every parity test: `max |ours - theirs| / max |theirs|` over
/// the tensor (an elementwise ratio would blow up on values near zero).
pub fn rel_error(ours: &netc::tensor::Tensor, theirs: &netc::tensor::Tensor) -> f64 {
    rel_error_floor(ours, theirs, 1e-12)
}

/// [`rel_error`] with the scale `max |theirs|` floored at `floor`.
pub fn rel_error_floor(
    ours: &netc::tensor::Tensor,
    theirs: &netc::tensor::Tensor,
    floor: f64,
) -> f64 {
    assert_eq!(ours.dims, theirs.dims, "shapes differ");
    let diff = ours
        .data
        .iter()
        .zip(&theirs.data)
        .fold(0f64, |m, (&a, &b)| m.max((a as f64 - b as f64).abs()));
    diff / max_abs(theirs).max(floor)
}

/// Two classes of 8x8 images: a bright square top-left, or bottom-right, on noise.
pub fn two_squares(n: usize) -> (netc::tensor::Tensor, netc::tensor::Tensor) {
    let mut data = Vec::with_capacity(n * 3 * 64);
    let mut labels = Vec::with_capacity(n);
    let mut seed = 12345u64;
    let mut noise = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.4
    };
    for i in 0..n {
        let class = i % 2;
        labels.push(class as f32);
        for _ in 0..3 {
            for y in 0..8 {
                for x in 0..8 {
                    let inside = if class == 0 {
                        y < 4 && x < 4
                    } else {
                        y >= 4 && x >= 4
                    };
                    data.push(if inside { 1.0 } else { 0.0 } + noise());
                }
            }
        }
    }
    (
        netc::tensor::Tensor::new(vec![n, 3, 8, 8], data),
        netc::tensor::Tensor::new(vec![n], labels),
    )
}

/// A PyTorch fixture from tests/fixtures (written by tools/make_fixtures.py).
pub fn fixture(name: &str) -> netc::tensor::TensorMap {
    let path = root().join(format!("tests/fixtures/{name}.safetensors"));
    netc::params::load(&path)
        .unwrap_or_else(|e| panic!("{e}; regenerate with `python3 tools/make_fixtures.py`"))
}

/// The tensors of `f` whose keys start with `prefix`, with the prefix removed.
pub fn with_prefix(f: &netc::tensor::TensorMap, prefix: &str) -> netc::tensor::TensorMap {
    f.iter()
        .filter_map(|(k, v)| k.strip_prefix(prefix).map(|n| (n.to_string(), v.clone())))
        .collect()
}
