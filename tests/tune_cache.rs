//! The tuning cache and tiling requests, without a device: the cache file round-trips, a
//! corrupt or foreign file is ignored with a warning (never a panic), and untuned lowering
//! uses the fixed defaults.

use netc::codegen::kernels::{Conv2dParams, ConvTiling};
use netc::codegen::plan::{Options, tile_requests};
use netc::codegen::tiling::{ConvKind, GPU_SPLIT_TARGET, TileRequest, candidates, default_tiling};
use netc::codegen::tune::TuneCache;
use netc::diag::Sources;

const TILE: ConvTiling = ConvTiling {
    tm: 12,
    tn: 5,
    wg_m: 3,
    wg_n: 1,
    split_target: 8192,
    subgroup: 0,
    shared: false,
    depth: 8,
};

fn request() -> TileRequest {
    TileRequest::new(
        ConvKind::GradInput,
        &Conv2dParams::new(8, 16, (32, 32), 32, 3).with_padding(1),
    )
}

#[test]
fn cache_round_trips_through_its_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sub").join("tune.json");
    let mut cache = TuneCache::load(&path);
    assert!(
        cache.is_empty() && cache.warning().is_none(),
        "a missing file is an empty cache"
    );
    let key = request().key();
    cache.insert("device A", &key, TILE);
    cache.insert("device B", &key, default_tiling(&request()));
    cache.save().expect("save creates the directory and writes");

    let back = TuneCache::load(&path);
    assert!(back.warning().is_none());
    assert_eq!(back.len(), 2);
    assert_eq!(back.get("device A", &key), Some(TILE));
    assert_eq!(back.get("device B", &key), Some(default_tiling(&request())));
    assert_eq!(back.get("device C", &key), None, "choices are per device");
}

#[test]
fn corrupt_or_foreign_cache_is_ignored_with_a_warning() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("tune.json");
    for text in [
        "{ not json",
        "",
        "[1, 2, 3]",
        r#"{"version": 999, "devices": {}}"#,
        r#"{"version": 4, "devices": {"d": {"k": {"tm": "x"}}}}"#,
    ] {
        std::fs::write(&path, text).expect("write");
        let mut cache = TuneCache::load(&path);
        assert!(cache.warning().is_some(), "{text:?} must be reported");
        assert!(cache.is_empty(), "{text:?} must be ignored");
        // The next save replaces the bad file with a valid one.
        cache.insert("d", "k", TILE);
        cache.save().expect("save over a corrupt file");
        let back = TuneCache::load(&path);
        assert!(back.warning().is_none());
        assert_eq!(back.get("d", "k"), Some(TILE));
    }
}

#[test]
fn request_keys_ignore_epilogue_options_and_name_the_kernel() {
    let p = Conv2dParams::new(8, 16, (32, 32), 32, 3).with_padding(1);
    let fused = p.with_bias(true).with_output_slice(8, 64);
    assert_eq!(
        TileRequest::new(ConvKind::Forward, &p).key(),
        TileRequest::new(ConvKind::Forward, &fused).key()
    );
    assert_ne!(
        TileRequest::new(ConvKind::Forward, &p).key(),
        TileRequest::new(ConvKind::GradWeight, &p).key()
    );
    assert_ne!(
        TileRequest::new(ConvKind::Forward, &p).key(),
        TileRequest::new(ConvKind::Forward, &p.with_stride(2)).key()
    );
}

#[test]
fn candidates_start_with_the_default_and_stay_few_and_valid() {
    for software in [true, false] {
        let c = candidates(&request(), software);
        assert_eq!(c[0], default_tiling(&request()));
        assert!(c.len() <= if software { 5 } else { 14 }, "{c:?}");
        // Kernels staged through workgroup memory are for GPUs only, where three blocks are
        // tried at two slice depths each.
        let shared = c.iter().filter(|t| t.shared).count();
        assert_eq!(shared, if software { 0 } else { 6 }, "{c:?}");
        for t in &c {
            assert!(t.tm * t.tn <= 256 && t.wg_m * t.wg_n <= 1024, "{t:?}");
        }
    }
}

#[test]
fn gpu_weight_gradients_also_try_the_gpu_split_target() {
    let p = Conv2dParams::new(8, 16, (32, 32), 32, 3).with_padding(1);
    let dw = TileRequest::new(ConvKind::GradWeight, &p);
    let c = candidates(&dw, false);
    assert_eq!(c.len(), 18, "{c:?}");
    // The default at both targets first, so the tuner always compares them.
    assert_eq!(c[0], default_tiling(&dw));
    assert_eq!(
        c[1],
        ConvTiling {
            split_target: GPU_SPLIT_TARGET,
            ..default_tiling(&dw)
        }
    );
    assert!(c[1..12].iter().all(|t| t.split_target == GPU_SPLIT_TARGET));
    // The staged kernels also at a quarter of it.
    assert!(
        c[12..]
            .iter()
            .all(|t| t.shared && t.split_target == GPU_SPLIT_TARGET / 4)
    );
    // Software devices, and the kernels that do not split, keep the default target.
    let software = candidates(&dw, true);
    let fwd = candidates(&TileRequest::new(ConvKind::Forward, &p), false);
    for t in software.iter().chain(&fwd) {
        assert_eq!(t.split_target, ConvTiling::default().split_target, "{t:?}");
    }
    assert!(fwd.len() <= 12);
}

#[test]
fn cache_entries_without_a_split_target_or_shared_load_with_the_defaults() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("tune.json");
    let old =
        r#"{"version": 4, "devices": {"d": {"k": {"tm": 12, "tn": 5, "wg_m": 3, "wg_n": 1}}}}"#;
    std::fs::write(&path, old).expect("write");
    let cache = TuneCache::load(&path);
    assert!(cache.warning().is_none(), "{:?}", cache.warning());
    assert_eq!(cache.get("d", "k"), Some(TILE));
    assert_eq!(TILE.split_target, 8192);
    let entry = cache.get("d", "k").expect("entry");
    assert!(!entry.shared);
    assert_eq!(entry.depth, 8);
}

const MODEL: &str = r#"
model Tiny() {
  input x: [3, 8, 8]
  x = x |> conv(8, k = 3, pad = 1) |> relu |> conv(8, k = 3, stride = 2, pad = 1)
  return x |> global_avg_pool |> flatten |> linear(4)
}
"#;

#[test]
fn untuned_lowering_uses_the_defaults_and_requests_every_conv_kernel() {
    let mut sources = Sources::new();
    let e = netc::pipeline::front_end_str(&mut sources, "tiny.net", MODEL, &[])
        .unwrap_or_else(|d| panic!("{}", sources.render(&d.0, false)));
    let training = netc::autodiff::build(&e.graph, &e.recipe.optimizer).expect("autodiff");
    let requests =
        tile_requests(netc::ir::verify(&training.graph).expect("verifies"), 4).expect("lowers");
    let kinds: Vec<ConvKind> = requests.iter().map(|r| r.kind).collect();
    for kind in [ConvKind::Forward, ConvKind::GradInput, ConvKind::GradWeight] {
        assert!(kinds.contains(&kind), "{kind:?} missing from {kinds:?}");
    }
    // Two convs and a linear layer forward; keys are unique.
    let mut keys: Vec<String> = requests.iter().map(TileRequest::key).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), requests.len());

    let untuned = Options::default();
    for r in &requests {
        assert_eq!(untuned.tiling_for(r.kind, &r.params), default_tiling(r));
    }
    // A tuned entry changes exactly that kernel's tiling.
    let mut tuned = Options::default();
    tuned.tuned.insert(requests[0].key(), TILE);
    assert_eq!(
        tuned.tiling_for(requests[0].kind, &requests[0].params),
        TILE
    );
    let a = netc::pipeline::plan(&training.graph, 4, &untuned).expect("lowers");
    let b = netc::pipeline::plan(&training.graph, 4, &tuned).expect("lowers");
    assert_eq!(a.steps.len(), b.steps.len());
    assert_ne!(a.kernels, b.kernels);
}

#[test]
fn entries_no_candidate_matches_are_dropped_with_a_warning_naming_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("tune.json");
    let good = request();
    let other = TileRequest::new(
        ConvKind::Forward,
        &Conv2dParams::new(8, 16, (32, 32), 32, 3).with_padding(1),
    );
    let mut cache = TuneCache::load(&path);
    cache.insert("d", &good.key(), candidates(&good, true)[1]);
    // TILE is no candidate: 12 x 5 tiles in workgroups of 3, or out of range entirely.
    cache.insert("d", &other.key(), TILE);
    cache.save().expect("save");

    let mut back = TuneCache::load(&path);
    assert!(back.warning().is_none(), "the file itself is fine");
    assert_eq!(
        back.valid("d", &good, true),
        Some(candidates(&good, true)[1])
    );
    assert_eq!(back.valid("d", &other, true), None);
    assert_eq!(back.rejected().len(), 1);
    let why = &back.rejected()[0];
    assert!(why.contains(&path.display().to_string()), "{why}");
    assert!(why.contains(&other.key()) && why.contains("tm=12"), "{why}");
    // A GPU's candidates differ from a CPU driver's: the same entry is judged per device kind.
    let gpu_only = candidates(&good, false)
        .into_iter()
        .find(|t| t.shared)
        .expect("GPUs try shared-memory tilings");
    back.insert("d", &good.key(), gpu_only);
    assert_eq!(back.valid("d", &good, false), Some(gpu_only));
    assert_eq!(back.valid("d", &good, true), None, "not on a CPU driver");
    // The dropped entries are gone from the file after the next save.
    back.save().expect("save");
    let again = TuneCache::load(&path);
    assert_eq!(again.get("d", &other.key()), None);
    assert_eq!(again.get("d", &good.key()), None);
}
