//! The one test that tunes on the device: a tiny model's conv kernels are timed once, the choice
//! is cached in a temporary file and reused without timing, and `--no-tune` (tune = false)
//! keeps the defaults. The tuned plan computes what the default plan computes.

mod gpu_common;

use gpu_common::rt;
use netc::codegen::plan::{self, tile_requests};
use netc::codegen::tiling::{candidates, default_tiling};
use netc::diag::Sources;
use netc::runtime::tune::{TuneCache, Tuner, device_key, plan_options};

const MODEL: &str = r#"
model Tiny() {
  input x: [3, 8, 8]
  x = x |> conv(8, k = 3, pad = 1) |> relu
  return x |> global_avg_pool |> flatten |> linear(4)
}
"#;

#[test]
fn tuning_times_once_then_reads_the_cache() {
    let mut sources = Sources::new();
    let e = netc::pipeline::front_end_str(&mut sources, "tiny.net", MODEL, &[])
        .unwrap_or_else(|d| panic!("{}", sources.render(&d.0, false)));
    let g = e.graph;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("tune.json");

    let mut tuner = Tuner::new(rt(), TuneCache::load(&path));
    let opts = tuner.options(&g, 2).expect("tunes");
    let requests = tile_requests(&g, 2).expect("lowers");
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
    let opts2 = again.options(&g, 2).expect("from the cache");
    assert_eq!(again.measured, 0, "nothing is timed twice");
    assert_eq!(opts.tuned, opts2.tuned);

    // tune = false: the fixed defaults, no timing, no cache.
    let fixed = plan_options(rt(), &g, 2, false).expect("defaults");
    assert!(fixed.tuned.is_empty());
    // Both plans lower (and naga-validate).
    plan::lower(&g, 2, &fixed).expect("default plan");
    plan::lower(&g, 2, &opts).expect("tuned plan");
}
