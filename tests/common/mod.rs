//! Helpers shared by the integration test modules.

use netc::diag::{Diagnostics, Sources};
use netc::elab::Elaborated;
use netc::tensor::{Element, Tensor};
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
pub fn max_abs<T: Element>(t: &Tensor<T>) -> f64 {
    t.data.iter().fold(0f64, |m, &v| m.max(v.to_f64().abs()))
}

/// Relative error used by every parity test: `max |ours - theirs| / max |theirs|` over
/// the tensor (an elementwise ratio would blow up on values near zero).
pub fn rel_error<T: Element, U: Element>(ours: &Tensor<T>, theirs: &Tensor<U>) -> f64 {
    rel_error_floor(ours, theirs, 1e-12)
}

/// [`rel_error`] with the scale `max |theirs|` floored at `floor`.
pub fn rel_error_floor<T: Element, U: Element>(
    ours: &Tensor<T>,
    theirs: &Tensor<U>,
    floor: f64,
) -> f64 {
    assert_eq!(ours.dims, theirs.dims, "shapes differ");
    let diff = ours
        .data
        .iter()
        .zip(&theirs.data)
        .fold(0f64, |m, (&a, &b)| m.max((a.to_f64() - b.to_f64()).abs()));
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

/// A PyTorch fixture from tests/fixtures (written by tools/make_fixtures.py), every
/// tensor in f32 (float64 training results rounded).
pub fn fixture(name: &str) -> netc::tensor::TensorMap {
    netc::tensor::cast_map(&fixture64(name))
}

/// A PyTorch fixture with every tensor in f64: its float64 training results exact, its
/// float32 entries (parameters, inputs) widened exactly.
pub fn fixture64(name: &str) -> netc::tensor::TensorMap<f64> {
    use safetensors::Dtype;
    let path = root().join(format!("tests/fixtures/{name}.safetensors"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; regenerate with `python3 tools/make_fixtures.py`",
            path.display()
        )
    });
    let st = safetensors::SafeTensors::deserialize(&bytes).expect("a safetensors fixture");
    st.tensors()
        .into_iter()
        .map(|(key, view)| {
            let data: Vec<f64> = match view.dtype() {
                Dtype::F32 => view
                    .data()
                    .chunks_exact(4)
                    .map(|b| f64::from(f32::from_le_bytes(b.try_into().unwrap())))
                    .collect(),
                Dtype::F64 => view
                    .data()
                    .chunks_exact(8)
                    .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
                    .collect(),
                other => panic!("{key}: fixture tensors are F32 or F64, not {other}"),
            };
            (key, netc::tensor::Tensor::new(view.shape().to_vec(), data))
        })
        .collect()
}

/// The tensors of `f` whose keys start with `prefix`, with the prefix removed.
pub fn with_prefix<T: Element>(
    f: &netc::tensor::TensorMap<T>,
    prefix: &str,
) -> netc::tensor::TensorMap<T> {
    f.iter()
        .filter_map(|(k, v)| k.strip_prefix(prefix).map(|n| (n.to_string(), v.clone())))
        .collect()
}
