//! Conv autotuning: which [`ConvTiling`] each conv kernel of a graph gets on one device.
//!
//! [`Tuner`] times a few [`ConvTiling`] candidates ([`candidates`]) per conv kernel and
//! shape on the device once and caches the winner on disk ([`TuneCache`]), keyed by adapter,
//! driver and the kernel's shape key. [`ConvCase`] is one conv kernel — forward, input
//! gradient or weight gradient — at one shape, described as [`TimedWork`] (kernels and the
//! buffers they bind), so that a benchmark (`examples/conv_roofline.rs`) and the tuner time
//! exactly the same work.
//!
//! The device is a [`TuningDevice`]: its facts, compiling, and timing of [`TimedWork`]. The
//! runtime implements it (`runtime::timing`), so code generation decides what to time and the
//! runtime only runs kernels; it never sees the graph.
//!
//! Determinism: for a given tiling every kernel is bit-for-bit reproducible (no atomics, fixed
//! sum order), and the tuner affects results only through the tiling it picks. The forward conv
//! sums over (ci, ky, kx) in the same order in every tiling and both kernels (generic and
//! row-vectorised), so its results never depend on the tiling (a test checks this bitwise). The
//! input gradient's row kernel visits the taps in the opposite order to the generic kernel, and
//! the weight gradient's split into partial sums depends on how many tiles there are and on
//! the tiling's split target, so for those two a different tiling can change results at
//! rounding level (within the 1e-5 tests).

use std::time::Instant;

use super::kernels::{Conv2dParams, ConvTiling, KernelError, KernelSource};
use super::plan::{CodegenError, Options, tile_requests};
use super::tiling::{ConvKind, TileRequest, candidates, default_tiling};
pub use super::tune_cache::TuneCache;
use crate::ir::Verified;
use crate::ops::conv;

/// What a device tells the tuner and the lowering about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceFacts {
    /// The cache key of the device: adapter name, backend and driver (a driver update can
    /// change which tiling wins).
    pub key: String,
    /// A CPU driver (lavapipe): [`candidates`] differ.
    pub software: bool,
    /// A CPU driver's fixed subgroup size ([`Options::subgroup_size`]).
    pub subgroup_size: Option<u32>,
    /// Storage buffers one kernel may bind ([`Options::max_storage_buffers`]).
    pub max_storage_buffers: u32,
}

/// A device the tuner can compile and time kernels on.
pub trait TuningDevice {
    /// Why a timing failed on the device.
    type Error: std::fmt::Display;

    /// The device's facts.
    fn facts(&self) -> DeviceFacts;

    /// True when `kernel` passes the device's checks and is not compiled yet.
    fn needs_compiling(&self, kernel: &KernelSource) -> bool;

    /// Compiles `kernels`, in parallel where it can; failures are left for the timing to meet.
    fn compile_all(&self, kernels: &[KernelSource]);

    /// Seconds per execution of `work`: the median of `samples` submissions of `reps`
    /// back-to-back copies each, after one untimed run that compiles the pipelines.
    fn time(&self, work: &TimedWork, reps: usize, samples: usize) -> Result<f64, Self::Error>;
}

/// One buffer of [`TimedWork`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimedBuffer {
    /// `len` 32-bit words of deterministic pseudo-random values in [-1, 1) from `seed` (the
    /// values do not affect timing, but denormals or NaNs could).
    Filled { len: usize, seed: u32 },
    /// `len` words the kernels write.
    Zeroed { len: usize },
}

/// Kernels to time, the buffers they bind, and which buffers each kernel binds, in dispatch
/// order.
#[derive(Debug, Clone)]
pub struct TimedWork {
    pub kernels: Vec<KernelSource>,
    pub buffers: Vec<TimedBuffer>,
    /// For each kernel, the indices into `buffers` of its bindings.
    pub bindings: Vec<Vec<usize>>,
}

/// Why a timing could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum TimingError<E: std::fmt::Display> {
    #[error(transparent)]
    Kernel(#[from] KernelError),
    #[error("{0}")]
    Device(E),
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
            ConvKind::Forward => (vec![conv::kernel::conv2d(&self.params, tiling)?], 0),
            ConvKind::GradInput => (
                conv::grad_kernel::conv2d_grad_input(&self.params, tiling)?,
                0,
            ),
            ConvKind::GradWeight => {
                let r = conv::grad_kernel::conv2d_grad_weight(&self.params, tiling)?;
                (vec![r.partial, r.finish], r.scratch_len)
            }
        })
    }

    /// Floating-point operations of one execution (2 per multiply-accumulate; the same count
    /// for all three kernels).
    pub fn flops(&self) -> f64 {
        2.0 * self.params.macs() as f64
    }

    /// The kernels of this case with `tiling` and the buffers they bind.
    pub fn work(&self, tiling: &ConvTiling) -> Result<TimedWork, KernelError> {
        let (kernels, scratch) = self.kernels(tiling)?;
        let p = &self.params;
        let (x, w, y) = (
            p.input_len() as usize,
            p.weight_len() as usize,
            p.output_len() as usize,
        );
        let filled = |len, seed| TimedBuffer::Filled { len, seed };
        let zeroed = |len| TimedBuffer::Zeroed { len };
        let buffers = match self.kind {
            // x, w, y
            ConvKind::Forward => vec![filled(x, 1), filled(w, 2), zeroed(y)],
            // dy, w, dx
            ConvKind::GradInput => vec![filled(y, 1), filled(w, 2), zeroed(x)],
            // x, dy, scratch, dw
            ConvKind::GradWeight => {
                vec![
                    filled(x, 1),
                    filled(y, 2),
                    zeroed(scratch as usize),
                    zeroed(w),
                ]
            }
        };
        // The input gradient may be one kernel per stride phase, all with the same bindings.
        let bindings = match self.kind {
            ConvKind::Forward | ConvKind::GradInput => vec![vec![0, 1, 2]; kernels.len()],
            ConvKind::GradWeight => vec![vec![0, 1, 2], vec![2, 3]],
        };
        Ok(TimedWork {
            kernels,
            buffers,
            bindings,
        })
    }

    /// Seconds per execution with `tiling` (see [`TuningDevice::time`]).
    pub fn time<D: TuningDevice>(
        &self,
        device: &D,
        tiling: &ConvTiling,
        reps: usize,
        samples: usize,
    ) -> Result<f64, TimingError<D::Error>> {
        let work = self.work(tiling)?;
        device
            .time(&work, reps, samples)
            .map_err(TimingError::Device)
    }
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
pub struct Tuner<'a, D: TuningDevice> {
    device: &'a D,
    facts: DeviceFacts,
    cache: TuneCache,
    /// Kernels measured (not found in the cache) so far.
    pub measured: usize,
    /// Pipelines compiled by [`Tuner::precompile`] so far.
    pub precompiled: usize,
    /// Seconds spent in [`Tuner::precompile`] so far.
    pub precompile_s: f64,
}

impl<'a, D: TuningDevice> Tuner<'a, D> {
    /// A tuner for `device` using `cache`.
    pub fn new(device: &'a D, cache: TuneCache) -> Self {
        Self {
            device,
            facts: device.facts(),
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
        candidates(request, self.facts.software)
            .into_iter()
            .map(|t| t.with_subgroup(self.facts.subgroup_size))
            .collect()
    }

    /// The cached tiling for `request`, or the fastest candidate, measured now and cached.
    /// Falls back to the default when no candidate runs.
    pub fn choose(&mut self, request: &TileRequest) -> ConvTiling {
        let key = request.key();
        if let Some(t) = self
            .cache
            .valid(&self.facts.key, request, self.facts.software)
        {
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
            if let Ok(s) = case.time(self.device, &t, 1, 1)
                && best.is_none_or(|(b, _)| s < b)
            {
                best = Some((s, t));
            }
        }
        self.measured += 1;
        // The choice, like the cache, leaves out the device's subgroup size: lowering adds it.
        let chosen = best.map_or_else(|| default_tiling(request), |(_, t)| t.with_subgroup(None));
        self.cache.insert(&self.facts.key, &key, chosen);
        chosen
    }

    /// Compiles, on all cores ([`TuningDevice::compile_all`]), the pipelines that timing
    /// `requests` will need: the kernels of every candidate of every request the cache does
    /// not know, except those already compiled, so that [`Tuner::choose`] finds them compiled
    /// and its serial loop only times. Returns how many kernels it compiled.
    ///
    /// Failures are ignored here: a candidate that cannot be generated is left out, and one
    /// that exceeds the device's limits or fails to compile is skipped again when timed, as
    /// without precompiling. The pipelines of candidates that lose stay cached (a few hundred
    /// at most for a big model).
    pub fn precompile(&mut self, requests: &[TileRequest]) -> usize {
        let start = Instant::now();
        let mut kernels: Vec<KernelSource> = Vec::new();
        for r in requests {
            if self
                .cache
                .valid(&self.facts.key, r, self.facts.software)
                .is_some()
            {
                continue;
            }
            let case = ConvCase {
                kind: r.kind,
                params: r.params,
            };
            for t in self.candidates(r) {
                if let Ok((ks, _)) = case.kernels(&t) {
                    kernels.extend(ks.into_iter().filter(|k| self.device.needs_compiling(k)));
                }
            }
        }
        // Identical kernels (shared finish passes, equal candidates) compile once.
        kernels.sort_by(|a, b| (&a.wgsl, a.entry).cmp(&(&b.wgsl, b.entry)));
        kernels.dedup_by(|a, b| a.wgsl == b.wgsl && a.entry == b.entry);
        // Biggest first, so no thread is left with a big kernel at the end.
        kernels.sort_by_key(|k| std::cmp::Reverse(k.wgsl.len()));
        // Errors are reported (or the candidate skipped) by the timing loop.
        self.device.compile_all(&kernels);
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

/// Lowering options for `g` at `batch` on `device`: tuned through the on-disk cache when
/// `tune` is true (timing only kernels the cache does not know, and saying so on stderr), the
/// fixed defaults otherwise (`--no-tune`).
pub fn plan_options<D: TuningDevice>(
    device: &D,
    g: Verified<'_>,
    batch: usize,
    tune: bool,
) -> Result<Options, CodegenError> {
    let facts = device.facts();
    // Kernels may bind as many buffers as this device allows (batched optimizer updates).
    let device_opts = |opts: Options| Options {
        max_storage_buffers: facts.max_storage_buffers,
        subgroup_size: facts.subgroup_size,
        ..opts
    };
    if !tune {
        return Ok(device_opts(Options::default()));
    }
    let start = Instant::now();
    let mut tuner = Tuner::new(device, TuneCache::load_default());
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
