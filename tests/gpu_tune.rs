//! Tuning on the device: a tiny model's conv kernels are timed once, the choice is cached in a
//! temporary file and reused without timing, and `--no-tune` (tune = false) keeps the defaults.
//! The tuned plan computes what the default plan computes. The tuner compiles every
//! candidate's pipeline in parallel before timing, and parallel compiles keep their errors
//! apart.

use crate::gpu_common::rt;
use netc::codegen::kernels::Elem;
use netc::codegen::kernels::{BindingKind, KernelSource};
use netc::codegen::plan::tile_requests;
use netc::codegen::tiling::{candidates, default_tiling};
use netc::codegen::tune::{ConvCase, TuneCache, Tuner, plan_options};
use netc::diag::Sources;
use netc::ir::Graph;
use netc::ops::activation::{self, Activation};
use netc::runtime::timing::device_key;
use netc::runtime::{Dispatch, Runtime};

const MODEL: &str = r#"
model Tiny() {
  input x: [3, 8, 8]
  x = x |> conv(8, k = 3, pad = 1) |> relu
  return x |> global_avg_pool |> flatten |> linear(4)
}
"#;

/// Two convs at shapes no other test here uses, so their kernels are new to any runtime.
const MODEL2: &str = r#"
model Two() {
  input x: [2, 6, 6]
  x = x |> conv(4, k = 3, pad = 1) |> relu |> conv(6, k = 3, stride = 2)
  return x |> global_avg_pool |> flatten |> linear(3)
}
"#;

fn graph(name: &str, text: &str) -> Graph {
    let mut sources = Sources::new();
    netc::pipeline::front_end_str(&mut sources, name, text, &[])
        .unwrap_or_else(|d| panic!("{}", sources.render(&d.0, false)))
        .graph
}

/// A private runtime, so pipelines compiled by tests running in parallel do not affect counts.
fn private_runtime() -> Runtime {
    Runtime::open().unwrap_or_else(|e| panic!("GPU tests need a wgpu adapter.\n{e}"))
}

#[test]
fn tuning_times_once_then_reads_the_cache() {
    let g = graph("tiny.net", MODEL);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("tune.json");

    let mut tuner = Tuner::new(rt(), TuneCache::load(&path));
    let opts = tuner
        .options(netc::ir::verify(&g).expect("verifies"), 2)
        .expect("tunes");
    let requests = tile_requests(netc::ir::verify(&g).expect("verifies"), 2).expect("lowers");
    assert_eq!(tuner.measured, requests.len(), "every kernel timed once");
    let software = rt().context().is_software();
    for r in &requests {
        let chosen = opts.tuned[&r.key()];
        assert!(
            candidates(r, software).contains(&chosen) || chosen == default_tiling(r),
            "{chosen:?} is not a candidate"
        );
    }
    tuner.save();

    let cache = TuneCache::load(&path);
    assert_eq!(cache.len(), requests.len());
    for r in &requests {
        assert_eq!(
            cache.get(&device_key(rt()), &r.key()),
            Some(opts.tuned[&r.key()])
        );
    }
    let mut again = Tuner::new(rt(), cache);
    let opts2 = again
        .options(netc::ir::verify(&g).expect("verifies"), 2)
        .expect("from the cache");
    assert_eq!(again.measured, 0, "nothing is timed twice");
    assert_eq!(opts.tuned, opts2.tuned);

    // tune = false: the fixed defaults, no timing, no cache.
    let fixed =
        plan_options(rt(), netc::ir::verify(&g).expect("verifies"), 2, false).expect("defaults");
    assert!(fixed.tuned.is_empty());
    // Both plans lower (and naga-validate).
    netc::pipeline::plan(&g, 2, &fixed).expect("default plan");
    netc::pipeline::plan(&g, 2, &opts).expect("tuned plan");
}

#[test]
fn tuning_compiles_every_candidate_before_timing() {
    let rt = private_runtime();
    let g = graph("two.net", MODEL2);
    let requests = tile_requests(netc::ir::verify(&g).expect("verifies"), 2).expect("lowers");
    assert!(requests.len() >= 2, "{requests:?}");
    let software = rt.context().is_software();
    // Every kernel of every candidate that can be generated and dispatched here.
    let mut wanted: Vec<KernelSource> = Vec::new();
    for r in &requests {
        let case = ConvCase {
            kind: r.kind,
            params: r.params,
        };
        for t in candidates(r, software) {
            if let Ok((ks, _)) = case.kernels(&t) {
                wanted.extend(ks.into_iter().filter(|k| rt.check_kernel(k).is_ok()));
            }
        }
    }
    assert!(!wanted.is_empty());

    let mut tuner = Tuner::new(&rt, TuneCache::default());
    assert_eq!(rt.cached_pipelines(), 0);
    let compiled = tuner.precompile(&requests);
    assert!(compiled > 0 && compiled <= wanted.len(), "{compiled}");
    assert_eq!(
        rt.cached_pipelines(),
        compiled,
        "every precompiled kernel is cached"
    );
    for k in &wanted {
        assert!(rt.has_pipeline(k), "`{}` was not precompiled", k.name);
    }
    assert_eq!(tuner.precompile(&requests), 0, "nothing is compiled twice");

    // Tuning then finds every pipeline compiled: the timing loop compiles nothing new, and the
    // choices are what they always were, one candidate per request.
    let opts = tuner
        .options(netc::ir::verify(&g).expect("verifies"), 2)
        .expect("tunes");
    assert_eq!(rt.cached_pipelines(), compiled, "timing compiled nothing");
    assert_eq!(tuner.measured, requests.len(), "every kernel timed once");
    assert_eq!(opts.tuned.len(), requests.len());
    for r in &requests {
        let chosen = opts.tuned[&r.key()];
        assert!(
            candidates(r, software).contains(&chosen) || chosen == default_tiling(r),
            "{chosen:?} is not a candidate"
        );
    }
    netc::pipeline::plan(&g, 2, &opts).expect("tuned plan");

    // Requests whose choice is cached are not precompiled, even on a runtime that has
    // compiled nothing.
    let fresh = private_runtime();
    let mut cache = TuneCache::default();
    for r in &requests {
        cache.insert(&device_key(&fresh), &r.key(), opts.tuned[&r.key()]);
    }
    assert_eq!(Tuner::new(&fresh, cache).precompile(&requests), 0);
    assert_eq!(fresh.cached_pipelines(), 0);
}

#[test]
fn parallel_compiles_keep_their_errors_apart() {
    let rt = private_runtime();
    let broken = |i: usize| KernelSource {
        name: format!("broken_{i}"),
        wgsl: format!("@compute @workgroup_size(1) fn main() {{ let x: f32 = undefined_{i}; }}"),
        entry: "main",
        workgroups: [1, 1, 1],
        workgroup_size: [1, 1, 1],
        bindings: vec![BindingKind::ReadWrite],
    };
    // Valid and broken kernels interleaved, so threads compile both kinds at the same time.
    let kernels: Vec<KernelSource> = (0..12)
        .map(|i| {
            if i % 3 == 1 {
                broken(i)
            } else {
                activation::kernel::activation(100 + i as u64, Activation::RELU, Elem::F32)
                    .expect("kernel")
            }
        })
        .collect();
    let results = rt.prepare_all(&kernels);
    assert_eq!(results.len(), kernels.len());
    for (k, r) in kernels.iter().zip(&results) {
        if k.name.starts_with("broken") {
            let err = r.as_ref().expect_err("a broken kernel fails");
            assert!(err.to_string().contains(&k.name), "{} got: {err}", k.name);
            assert!(!rt.has_pipeline(k));
        } else {
            assert!(r.is_ok(), "{} got another kernel's error: {r:?}", k.name);
            assert!(rt.has_pipeline(k));
        }
    }
    assert_eq!(rt.cached_pipelines(), 8);
    // No error escaped to the uncaptured handler: the next run succeeds.
    let ok = &kernels[0];
    let n = 100;
    let (x, y) = (
        rt.upload(&vec![-1.0; n]).expect("x"),
        rt.upload(&vec![5.0; n]).expect("y"),
    );
    let got = rt
        .run_and_read(&[Dispatch::new(ok, &[&x, &y])], &[&y])
        .expect("run after failed compiles");
    assert_eq!(got[0], vec![0.0; n]);
}

#[test]
fn bench_ignores_out_of_range_cache_entries_naming_the_cache() {
    // A well-formed cache whose tilings no kernel can use (a hand-edited or foreign file):
    // `netc bench` once failed with kernel errors that never mentioned the cache.
    let g = graph("tiny.net", MODEL);
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("tiny.net"), MODEL).expect("write");
    let path = dir.path().join("cache").join("tune.json");
    let requests = tile_requests(netc::ir::verify(&g).expect("verifies"), 2).expect("lowers");
    let bad = netc::codegen::kernels::ConvTiling {
        tm: 100_000,
        wg_m: 4096,
        ..default_tiling(&requests[0])
    };
    let mut cache = TuneCache::load(&path);
    for r in &requests {
        cache.insert(&device_key(rt()), &r.key(), bad);
    }
    cache.save().expect("save");

    let o = std::process::Command::new(env!("CARGO_BIN_EXE_netc"))
        .args(["bench", "tiny.net", "--batch", "2", "--steps", "1"])
        .current_dir(dir.path())
        .env("NETC_TUNE", "1")
        .env("NETC_CACHE_DIR", dir.path().join("cache"))
        .env("NO_COLOR", "1")
        .output()
        .expect("netc runs");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert_eq!(
        err.matches("warning: ignoring a tuning cache entry")
            .count(),
        requests.len(),
        "one warning per bad entry:\n{err}"
    );
    assert!(
        err.contains(&path.display().to_string()),
        "names the file:\n{err}"
    );
    assert!(err.contains("tm=100000"), "says what is wrong:\n{err}");
    // The kernels were timed again and the bad entries replaced.
    let software = rt().context().is_software();
    let mut back = TuneCache::load(&path);
    for r in &requests {
        assert!(
            back.valid(&device_key(rt()), r, software).is_some(),
            "{}",
            r.key()
        );
    }
    assert!(back.rejected().is_empty());
}
