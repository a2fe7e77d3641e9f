//! Kernel timing and conv autotuning.
//!
//! [`time_dispatches`] measures a list of dispatches on the device (one submission per sample,
//! after a warm-up that compiles the pipelines). [`ConvCase`] is one conv kernel — forward,
//! input gradient or weight gradient — at one shape, with the buffers it needs, so that a
//! benchmark (`examples/conv_roofline.rs`) and the tuner time exactly the same work.
//!
//! Autotuning ([`Tuner`]) times a few [`ConvTiling`] candidates per conv kernel and shape on the
//! device once and caches the winner on disk ([`TuneCache`]), keyed by adapter, driver and the
//! kernel's shape key.
//!
//! Determinism: for a given tiling every kernel is bit-for-bit reproducible (no atomics, fixed
//! sum order), and the tuner affects results only through the tiling it picks. The forward conv
//! sums over (ci, ky, kx) in the same order in every tiling and both kernels (generic and
//! row-vectorised), so its results never depend on the tiling (a test checks this bitwise). The
//! input gradient's row kernel visits the taps in the opposite order to the generic kernel, and
//! the weight gradient's split into partial sums depends on how many tiles there are and on
//! the tiling's split target, so for those two a different tiling can change results at
//! rounding level (within the 1e-5 tests).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::error::GpuError;
use super::exec::{Dispatch, GpuBuffer, Runtime};
use crate::codegen::kernels::train::conv_grad;
use crate::codegen::kernels::{Conv2dParams, ConvTiling, KernelError, KernelSource, conv};
use crate::codegen::plan::{CodegenError, Options, tile_requests};
use crate::codegen::tiling::{self, ConvKind, TileRequest, candidates, default_tiling};
use crate::ir::Verified;

/// Why a timing could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum TimingError {
    #[error(transparent)]
    Kernel(#[from] KernelError),
    #[error(transparent)]
    Gpu(#[from] GpuError),
}

/// Seconds per execution of `dispatches`: the median of `samples` submissions of `reps`
/// back-to-back copies each (one submission amortises the ~100 µs submit cost the way a real
/// plan does), after one untimed run that compiles the pipelines.
pub fn time_dispatches(
    rt: &Runtime,
    dispatches: &[Dispatch<'_>],
    reps: usize,
    samples: usize,
) -> Result<f64, GpuError> {
    let reps = reps.max(1);
    let batch: Vec<Dispatch<'_>> = (0..reps).flat_map(|_| dispatches.iter().cloned()).collect();
    // Pipelines and bind groups are made once, as a model does; only submissions are timed,
    // after one untimed submission (the driver's first use of a pipeline costs extra).
    let batch = rt.record(&batch)?;
    rt.run_recorded(&batch, &[])?;
    let mut times = Vec::with_capacity(samples.max(1));
    for _ in 0..samples.max(1) {
        let t = Instant::now();
        rt.run_recorded(&batch, &[])?;
        times.push(t.elapsed().as_secs_f64() / reps as f64);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// Deterministic pseudo-random contents in [-1, 1) (the values do not affect timing, but
/// denormals or NaNs could).
fn filler(len: usize, seed: u32) -> Vec<f32> {
    (0..len as u32)
        .map(|i| {
            let h = i
                .wrapping_mul(2_654_435_761)
                .wrapping_add(seed.wrapping_mul(40_503));
            (h >> 8) as f32 / (1u32 << 23) as f32 - 1.0
        })
        .collect()
}

/// One conv kernel at one shape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConvCase {
    /// Forward, input gradient or weight gradient.
    pub kind: ConvKind,
    /// The forward conv's parameters.
    pub params: Conv2dParams,
}

impl ConvCase {
    /// The kernels of this case with `tiling`, in dispatch order (the weight gradient has a
    /// partial pass and a finish pass), and the scratch length the first needs.
    pub fn kernels(&self, tiling: &ConvTiling) -> Result<(Vec<KernelSource>, u64), KernelError> {
        Ok(match self.kind {
            ConvKind::Forward => (vec![conv::conv2d(&self.params, tiling)?], 0),
            ConvKind::GradInput => (conv_grad::conv2d_grad_input(&self.params, tiling)?, 0),
            ConvKind::GradWeight => {
                let r = conv_grad::conv2d_grad_weight(&self.params, tiling)?;
                (vec![r.partial, r.finish], r.scratch_len)
            }
        })
    }

    /// Floating-point operations of one execution (2 per multiply-accumulate; the same count
    /// for all three kernels).
    pub fn flops(&self) -> f64 {
        2.0 * self.params.macs() as f64
    }

    /// Seconds per execution with `tiling` (see [`time_dispatches`]).
    pub fn time(
        &self,
        rt: &Runtime,
        tiling: &ConvTiling,
        reps: usize,
        samples: usize,
    ) -> Result<f64, TimingError> {
        let (kernels, scratch) = self.kernels(tiling)?;
        let p = &self.params;
        let (x, w, y) = (
            p.input_len() as usize,
            p.weight_len() as usize,
            p.output_len() as usize,
        );
        let up = |len: usize, seed: u32| rt.upload(&filler(len, seed));
        let owned: Vec<GpuBuffer> = match self.kind {
            // x, w, y
            ConvKind::Forward => vec![up(x, 1)?, up(w, 2)?, rt.create_buffer(y)?],
            // dy, w, dx
            ConvKind::GradInput => vec![up(y, 1)?, up(w, 2)?, rt.create_buffer(x)?],
            // x, dy, scratch, dw
            ConvKind::GradWeight => vec![
                up(x, 1)?,
                up(y, 2)?,
                rt.create_buffer(scratch as usize)?,
                rt.create_buffer(w)?,
            ],
        };
        let refs: Vec<&GpuBuffer> = owned.iter().collect();
        // The input gradient may be one kernel per stride phase, all with the same bindings.
        let binds: Vec<Vec<&GpuBuffer>> = match self.kind {
            ConvKind::Forward | ConvKind::GradInput => vec![refs.clone(); kernels.len()],
            ConvKind::GradWeight => vec![refs[..3].to_vec(), refs[2..].to_vec()],
        };
        let dispatches: Vec<Dispatch<'_>> = kernels
            .iter()
            .zip(&binds)
            .map(|(k, b)| Dispatch::new(k, b))
            .collect();
        Ok(time_dispatches(rt, &dispatches, reps, samples)?)
    }
}

/// Version of the cache file, raised when its format changes or when the kernel a tiling
/// selects changes (cached choices were timed on other code); a file with another version is
/// ignored. 2: row tilings select the row kernel for the weight gradient too. 3: row tilings
/// also select row kernels for strided convs (forward, and the input gradient per phase). 4:
/// GPUs also try the kernels staged through workgroup memory (`ConvTiling::shared`, with its
/// slice `depth`).
const CACHE_VERSION: u32 = 4;

#[derive(serde::Serialize, serde::Deserialize)]
struct CacheFile {
    version: u32,
    /// `device key` → (`request key` → tiling).
    devices: BTreeMap<String, BTreeMap<String, ConvTiling>>,
}

/// Tilings measured on devices, persisted as JSON.
///
/// A missing file is an empty cache; an unreadable or corrupt one is ignored with a warning
/// (printed to stderr and kept in [`TuneCache::warning`]) and replaced on the next save, and
/// so is each well-formed entry whose tiling the tuner could not have chosen
/// ([`TuneCache::valid`]): a cache only ever saves time, so it must never stop a run.
#[derive(Debug, Default)]
pub struct TuneCache {
    path: Option<PathBuf>,
    devices: BTreeMap<String, BTreeMap<String, ConvTiling>>,
    warning: Option<String>,
    /// Entries dropped by [`TuneCache::valid`].
    rejected: Vec<String>,
    dirty: bool,
}

impl TuneCache {
    /// `$NETC_CACHE_DIR/tune.json`, else `$XDG_CACHE_HOME/netc/tune.json`, else
    /// `$HOME/.cache/netc/tune.json`; `None` when none of these is set.
    pub fn default_path() -> Option<PathBuf> {
        let var = |name| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        var("NETC_CACHE_DIR")
            .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("netc")))
            .or_else(|| var("HOME").map(|d| d.join(".cache").join("netc")))
            .map(|d| d.join("tune.json"))
    }

    /// The cache at [`TuneCache::default_path`] (in memory only when there is no such path).
    pub fn load_default() -> Self {
        match Self::default_path() {
            Some(path) => Self::load(&path),
            None => Self::default(),
        }
    }

    /// A cache backed by `path`, read now if it exists.
    pub fn load(path: &Path) -> Self {
        let mut cache = Self {
            path: Some(path.to_path_buf()),
            ..Self::default()
        };
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return cache,
            Err(e) => {
                cache.warn(format!("cannot read {}: {e}", path.display()));
                return cache;
            }
        };
        match serde_json::from_str::<CacheFile>(&text) {
            Ok(f) if f.version == CACHE_VERSION => cache.devices = f.devices,
            Ok(f) => cache.warn(format!(
                "{} has format version {}, expected {CACHE_VERSION}",
                path.display(),
                f.version
            )),
            Err(e) => cache.warn(format!(
                "{} is not a valid tuning cache: {e}",
                path.display()
            )),
        }
        cache
    }

    fn warn(&mut self, message: String) {
        eprintln!("warning: ignoring the tuning cache: {message}");
        self.warning = Some(message);
    }

    /// Why the file was ignored, if it was.
    pub fn warning(&self) -> Option<&str> {
        self.warning.as_deref()
    }

    /// Where the cache is saved (`None`: memory only).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Number of cached choices over all devices.
    pub fn len(&self) -> usize {
        self.devices.values().map(BTreeMap::len).sum()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The cached tiling for `request` (a [`TileRequest::key`]) on `device`, as stored.
    pub fn get(&self, device: &str, request: &str) -> Option<ConvTiling> {
        self.devices.get(device)?.get(request).copied()
    }

    /// The cached tiling for `request` on `device` if it is one the tuner could have chosen
    /// there ([`tiling::check_cached`]); an entry that is not (a hand-edited or foreign
    /// file: its kernel would fail to generate or to run) is dropped with a warning naming
    /// the cache file, so the kernel is timed again and the entry replaced on save.
    /// `software`: the device is a CPU driver ([`candidates`] differ).
    pub fn valid(
        &mut self,
        device: &str,
        request: &TileRequest,
        software: bool,
    ) -> Option<ConvTiling> {
        let key = request.key();
        let tiling = self.get(device, &key)?;
        match tiling::check_cached(request, &tiling, software) {
            Ok(()) => Some(tiling),
            Err(why) => {
                let place = self
                    .path
                    .as_ref()
                    .map_or_else(|| "memory".to_string(), |p| p.display().to_string());
                let message = format!("entry `{key}` in {place}: {why}");
                eprintln!("warning: ignoring a tuning cache {message}; timing the kernel again");
                self.rejected.push(message);
                if let Some(entries) = self.devices.get_mut(device) {
                    entries.remove(&key);
                }
                self.dirty = true;
                None
            }
        }
    }

    /// Entries [`TuneCache::valid`] dropped, each with why.
    pub fn rejected(&self) -> &[String] {
        &self.rejected
    }

    /// Records a choice (saved by [`TuneCache::save`]).
    pub fn insert(&mut self, device: &str, request: &str, tiling: ConvTiling) {
        self.devices
            .entry(device.to_string())
            .or_default()
            .insert(request.to_string(), tiling);
        self.dirty = true;
    }

    /// Writes the cache if anything changed: to a temporary file first, then renamed over the
    /// old one, so a crash or a concurrent reader never sees half a file.
    pub fn save(&mut self) -> std::io::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        if !self.dirty {
            return Ok(());
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = CacheFile {
            version: CACHE_VERSION,
            devices: self.devices.clone(),
        };
        let text = serde_json::to_string_pretty(&file).map_err(std::io::Error::other)?;
        let tmp = path.with_extension(format!("json.{}.tmp", std::process::id()));
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, path)?;
        self.dirty = false;
        Ok(())
    }
}

/// The cache key of a device: adapter name, backend and driver (a driver update can change
/// which tiling wins).
pub fn device_key(rt: &Runtime) -> String {
    let i = rt.context().adapter_info();
    format!(
        "{} [{:?}] {} {}",
        i.name, i.backend, i.driver, i.driver_info
    )
}

/// Seconds of timing per kernel after which the remaining candidates are skipped.
const TUNE_BUDGET_S: f64 = 3.0;

/// Chooses tilings by timing candidates on a device, through a [`TuneCache`].
///
/// Each uncached kernel is timed once per candidate ([`candidates`]: at most six, and no more
/// once two are measured and [`TUNE_BUDGET_S`] seconds are spent): one untimed run that
/// compiles it (unless [`Tuner::precompile`] already did, on all cores, as
/// [`Tuner::options`] does), one timed run. Tuning a model costs one to a few minutes on lavapipe, once per
/// device and batch size, and nothing afterwards.
pub struct Tuner<'a> {
    rt: &'a Runtime,
    cache: TuneCache,
    device: String,
    /// Kernels measured (not found in the cache) so far.
    pub measured: usize,
    /// Pipelines compiled by [`Tuner::precompile`] so far.
    pub precompiled: usize,
    /// Seconds spent in [`Tuner::precompile`] so far.
    pub precompile_s: f64,
}

impl<'a> Tuner<'a> {
    /// A tuner for `rt`'s device using `cache`.
    pub fn new(rt: &'a Runtime, cache: TuneCache) -> Self {
        Self {
            rt,
            device: device_key(rt),
            cache,
            measured: 0,
            precompiled: 0,
            precompile_s: 0.0,
        }
    }

    /// The cache (for inspection).
    pub fn cache(&self) -> &TuneCache {
        &self.cache
    }

    /// The tilings to time for `request` on this device, with its subgroup size as
    /// [`Options::tiling_for`] will give them to the lowering.
    fn candidates(&self, request: &TileRequest) -> Vec<ConvTiling> {
        let ctx = self.rt.context();
        candidates(request, ctx.is_software())
            .into_iter()
            .map(|t| t.with_subgroup(ctx.subgroup_size()))
            .collect()
    }

    /// The cached tiling for `request`, or the fastest candidate, measured now and cached.
    /// Falls back to the default when no candidate runs.
    pub fn choose(&mut self, request: &TileRequest) -> ConvTiling {
        let key = request.key();
        let software = self.rt.context().is_software();
        if let Some(t) = self.cache.valid(&self.device, request, software) {
            return t;
        }
        let case = ConvCase {
            kind: request.kind,
            params: request.params,
        };
        let mut best: Option<(f64, ConvTiling)> = None;
        let start = Instant::now();
        for (i, t) in self.candidates(request).into_iter().enumerate() {
            // Bounded tuning: once two candidates are measured, a kernel whose candidates are
            // slow to compile and run (a big layer) gets no more than TUNE_BUDGET_S seconds.
            if i >= 2 && start.elapsed().as_secs_f64() > TUNE_BUDGET_S {
                break;
            }
            // A candidate that cannot be generated (grid too large) or run is just skipped.
            if let Ok(s) = case.time(self.rt, &t, 1, 1)
                && best.is_none_or(|(b, _)| s < b)
            {
                best = Some((s, t));
            }
        }
        self.measured += 1;
        // The choice, like the cache, leaves out the device's subgroup size: lowering adds it.
        let chosen = best.map_or_else(|| default_tiling(request), |(_, t)| t.with_subgroup(None));
        self.cache.insert(&self.device, &key, chosen);
        chosen
    }

    /// Compiles, on all cores ([`Runtime::prepare_all`]), the pipelines that timing `requests`
    /// will need: the kernels of every candidate of every request the cache does not know,
    /// except those already compiled, so that [`Tuner::choose`] finds them in the runtime's
    /// pipeline cache and its serial loop only times. Returns how many kernels it compiled.
    ///
    /// Failures are ignored here: a candidate that cannot be generated is left out, and one
    /// that exceeds the device's limits or fails to compile is skipped again when timed, as
    /// without precompiling. The pipelines of candidates that lose stay cached (a few hundred
    /// at most for a big model).
    pub fn precompile(&mut self, requests: &[TileRequest]) -> usize {
        let start = Instant::now();
        let mut kernels: Vec<KernelSource> = Vec::new();
        let software = self.rt.context().is_software();
        for r in requests {
            if self.cache.valid(&self.device, r, software).is_some() {
                continue;
            }
            let case = ConvCase {
                kind: r.kind,
                params: r.params,
            };
            for t in self.candidates(r) {
                if let Ok((ks, _)) = case.kernels(&t) {
                    kernels.extend(
                        ks.into_iter().filter(|k| {
                            self.rt.check_kernel(k).is_ok() && !self.rt.has_pipeline(k)
                        }),
                    );
                }
            }
        }
        // Identical kernels (shared finish passes, equal candidates) compile once.
        kernels.sort_by(|a, b| (&a.wgsl, a.entry).cmp(&(&b.wgsl, b.entry)));
        kernels.dedup_by(|a, b| a.wgsl == b.wgsl && a.entry == b.entry);
        // Biggest first, so no thread is left with a big kernel at the end.
        kernels.sort_by_key(|k| std::cmp::Reverse(k.wgsl.len()));
        // Errors are reported (or the candidate skipped) by the timing loop.
        let _ = self.rt.prepare_all(&kernels);
        self.precompiled += kernels.len();
        self.precompile_s += start.elapsed().as_secs_f64();
        kernels.len()
    }

    /// Lowering options with a measured tiling for every conv kernel `g` needs at `batch`.
    ///
    /// First compiles every candidate's pipelines in parallel ([`Tuner::precompile`]), then
    /// times them one kernel at a time ([`Tuner::choose`]).
    pub fn options(&mut self, g: Verified<'_>, batch: usize) -> Result<Options, CodegenError> {
        let mut opts = Options::default();
        let requests = tile_requests(g, batch)?;
        self.precompile(&requests);
        for r in requests {
            let t = self.choose(&r);
            opts.tuned.insert(r.key(), t);
        }
        Ok(opts)
    }

    /// Saves new choices, warning (never failing) when the cache cannot be written.
    pub fn save(&mut self) {
        if let Err(e) = self.cache.save() {
            let path = self.cache.path().map(|p| p.display().to_string());
            eprintln!(
                "warning: could not save the tuning cache {}: {e}",
                path.unwrap_or_default()
            );
        }
    }
}

/// Lowering options for `g` at `batch` on `rt`'s device: tuned through the on-disk cache when
/// `tune` is true (timing only kernels the cache does not know, and saying so on stderr), the
/// fixed defaults otherwise (`--no-tune`).
pub fn plan_options(
    rt: &Runtime,
    g: Verified<'_>,
    batch: usize,
    tune: bool,
) -> Result<Options, CodegenError> {
    // Kernels may bind as many buffers as this device allows (batched optimizer updates).
    let device_opts = |opts: Options| Options {
        max_storage_buffers: rt.context().limits().max_storage_buffers_per_shader_stage,
        subgroup_size: rt.context().subgroup_size(),
        ..opts
    };
    if !tune {
        return Ok(device_opts(Options::default()));
    }
    let start = Instant::now();
    let mut tuner = Tuner::new(rt, TuneCache::load_default());
    let opts = tuner.options(g, batch)?;
    if tuner.measured > 0 {
        tuner.save();
        let place = tuner
            .cache()
            .path()
            .map_or_else(|| "memory only".to_string(), |p| p.display().to_string());
        let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        eprintln!(
            "tuned {} conv kernels in {:.1} s ({} pipelines compiled in {:.1} s on {threads} \
             threads; cached in {place}; --no-tune skips tuning)",
            tuner.measured,
            start.elapsed().as_secs_f64(),
            tuner.precompiled,
            tuner.precompile_s,
        );
    }
    Ok(device_opts(opts))
}
