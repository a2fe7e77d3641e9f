//! `netc bench FILE [--batch 128] [--steps N] [--mode infer] [--json] [--no-memory-plan] [--no-optimizer-fusion]`: compile a model,
//! run it on the device with random parameters and inputs, and report the median step
//! time, images/s, achieved GFLOP/s (from the IR's MAC count), kernels per step, planned
//! device memory (and what it would be with one buffer per value), compile time, and the
//! device.
//!
//! `--mode train` times the whole compiled training step (one submission): forward,
//! loss, backward and optimizer update, the loss and accuracy appended to the device
//! log and read back once after the timed steps, as `netc train` does.

mod profile;

use super::{ModelArgs, open_runtime};
use netc::codegen::batch_limit::check_batch;
use netc::codegen::memory::MemoryPlanning;
use netc::codegen::optim_fusion::OptimizerLowering;
use netc::codegen::plan::{self, Options};
use netc::codegen::tune;
use netc::diag::{Diagnostic, Diagnostics, Sources};
use netc::ir::Precision;
use netc::runtime::model::DeviceModel;
use netc::tensor::Tensor;
use netc::{params, pipeline};
use serde::Serialize;
use std::collections::HashMap;
use std::time::Instant;

/// Profiled steps per `--profile` run; each dispatch's median over them is reported.
const PROFILE_SAMPLES: usize = 5;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Infer,
    Train,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub model: ModelArgs,
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// Timed steps after the warm-up.
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    #[arg(long, value_enum, default_value_t = Mode::Infer)]
    pub mode: Mode,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Give every value its own buffer (no memory planning), for comparison.
    #[arg(long)]
    pub no_memory_plan: bool,
    /// Keep the fixed default conv tilings instead of timing candidates on the device (the
    /// choice is cached per device in `$XDG_CACHE_HOME/netc/tune.json`; tuning happens before
    /// the compile timer starts); also `NETC_TUNE=0`.
    #[arg(long)]
    pub no_tune: bool,
    /// Lower each optimizer op to its own dispatch (no fused updates), for comparison.
    #[arg(long)]
    pub no_optimizer_fusion: bool,
    /// Also time every dispatch with GPU timestamps and report where a step's time goes, by
    /// kernel family and by kernel (needs a device with timestamp queries inside passes).
    #[arg(long)]
    pub profile: bool,
    /// `f32`, or `mixed` (train mode: f16 activations and gradients with loss scaling);
    /// default: the recipe's `precision` in train mode, f32 for inference.
    #[arg(long, value_parser = super::parse_precision)]
    pub precision: Option<netc::ir::Precision>,
}

#[derive(Serialize)]
struct Report {
    model: String,
    mode: &'static str,
    batch: usize,
    steps: usize,
    median_ms: f64,
    images_per_s: f64,
    gflops: f64,
    kernels_per_step: usize,
    distinct_kernels: usize,
    /// Device memory of the plan as run: every buffer, after memory planning.
    planned_bytes: usize,
    /// Device memory with one buffer per value (equal to `planned_bytes` when
    /// memory planning is off).
    naive_bytes: usize,
    compile_ms: f64,
    device: String,
    driver: String,
    /// Whether conv tilings came from the tuner (false: `--no-tune` defaults).
    tuned: bool,
    /// `f32` or `mixed`.
    precision: String,
    /// With `--profile`: GPU time per step by kernel family and by kernel.
    #[serde(skip_serializing_if = "Option::is_none")]
    profile: Option<profile::Profile>,
}

pub fn run(sources: &mut Sources, a: Args) -> Result<(), Diagnostics> {
    if a.batch == 0 || a.steps == 0 {
        return Err(Diagnostic::error("--batch and --steps must be at least 1").into());
    }
    let start = Instant::now();
    let e = pipeline::front_end(sources, &a.model.file, &a.model.set)?;
    let runtime = open_runtime()?;
    let fail = |err: String| Diagnostics::from(Diagnostic::error(err));
    let train = a.mode == Mode::Train;
    // In train mode the measured graph is the whole step: forward, loss, backward, update.
    let graph = if train {
        netc::autodiff::build(&e.graph, &e.recipe.optimizer)
            .map_err(|x| fail(x.to_string()))?
            .graph
    } else {
        e.graph.clone()
    };
    let precision = match (train, a.precision) {
        (true, p) => p.unwrap_or(e.recipe.precision),
        (false, None | Some(Precision::F32)) => Precision::F32,
        (false, Some(Precision::Mixed)) => {
            return Err(fail(
                "--precision mixed is a training mode: add --mode train".into(),
            ));
        }
    };
    // Measure what training and inference run: the optimised (fused) graph.
    let graph = pipeline::optimise_for(&graph, precision).map_err(|x| fail(x.to_string()))?;
    check_batch(
        &graph,
        a.batch,
        runtime.context().limits().max_storage_buffer_binding_size,
    )
    .map_err(|x| fail(x.to_string()))?;
    let tune_start = Instant::now();
    let tuned_opts = tune::plan_options(&runtime, &graph, a.batch, super::tune_enabled(a.no_tune))
        .map_err(|x| fail(x.to_string()))?;
    // Tuning (a one-off per device, then a cache read) is not compile time.
    let tune_time = tune_start.elapsed();
    let tuned = !tuned_opts.tuned.is_empty();
    let opts = Options {
        // Warm-up, timed and profiled steps, all logged on the device (train mode only: a
        // forward graph has no scalar outputs).
        log_capacity: if train {
            a.steps + 2 + if a.profile { PROFILE_SAMPLES } else { 0 }
        } else {
            0
        },
        memory: if a.no_memory_plan {
            MemoryPlanning::Off
        } else {
            MemoryPlanning::Shared
        },
        optimizer: if a.no_optimizer_fusion {
            OptimizerLowering::Unfused
        } else {
            OptimizerLowering::Fused
        },
        ..tuned_opts
    };
    let plan = plan::lower(&graph, a.batch, &opts).map_err(|x| fail(x.to_string()))?;
    let compile_ms = (start.elapsed() - tune_time).as_secs_f64() * 1e3;
    let (kernels_per_step, distinct_kernels, planned_bytes, naive_bytes) = (
        plan.steps.len(),
        plan.kernels.len(),
        plan.total_bytes(),
        plan.naive_bytes(),
    );
    let weights = params::init(&graph, &e.recipe.init, e.recipe.seed);
    let dm = DeviceModel::new(&runtime, plan, &weights).map_err(|x| fail(x.to_string()))?;
    let input = e.graph.inputs_of_model()[0];
    let name = match &e.graph.node(input).op {
        netc::ir::Op::Input { name } => name.clone(),
        _ => unreachable!("inputs_of_model returns inputs"),
    };
    let numel = e.graph.node(input).ty.numel();
    let x = Tensor::new(
        std::iter::once(a.batch)
            .chain(e.graph.node(input).ty.dims.iter().copied())
            .collect(),
        (0..a.batch * numel)
            .map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0)
            .collect(),
    );
    let mut inputs = HashMap::from([(name, x)]);
    if train {
        let labels = (0..a.batch).map(|i| (i % 10) as f32).collect();
        inputs.insert("labels".into(), Tensor::new(vec![a.batch], labels));
        // A tiny rate keeps random data from diverging over the timed steps.
        inputs.insert("lr".into(), Tensor::new(vec![], vec![1e-4]));
        inputs.insert("step".into(), Tensor::new(vec![], vec![1.0]));
    }
    // Inference reads its logits back each run; a training step reads nothing.
    let run_once = || -> Result<(), Diagnostics> {
        if train {
            dm.step(&inputs).map_err(|x| fail(x.to_string()))
        } else {
            dm.run(&inputs).map(|_| ()).map_err(|x| fail(x.to_string()))
        }
    };
    // Warm-up: the first runs compile shaders in the driver.
    for _ in 0..2 {
        run_once()?;
    }
    let mut times = Vec::with_capacity(a.steps);
    for _ in 0..a.steps {
        let t = Instant::now();
        run_once()?;
        times.push(t.elapsed().as_secs_f64());
    }
    let profile = if a.profile {
        let mut samples = Vec::with_capacity(PROFILE_SAMPLES);
        for _ in 0..PROFILE_SAMPLES {
            samples.push(dm.profile(&inputs).map_err(|x| fail(x.to_string()))?);
        }
        Some(profile::Profile::from_samples(&samples))
    } else {
        None
    };
    if train {
        // The log proves the steps ran to the end (and frees nothing: it is read once).
        dm.read_logs().map_err(|x| fail(x.to_string()))?;
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let info = runtime.context().adapter_info();
    let r = Report {
        model: e.graph.name.clone(),
        mode: if train { "train" } else { "infer" },
        batch: a.batch,
        steps: a.steps,
        median_ms: median * 1e3,
        images_per_s: a.batch as f64 / median,
        // Training counts forward + backward as 3x the forward MACs (as bench/torch_ref.py).
        gflops: 2.0 * e.graph.macs() as f64 * a.batch as f64 * if train { 3.0 } else { 1.0 }
            / median
            / 1e9,
        kernels_per_step,
        distinct_kernels,
        planned_bytes,
        naive_bytes,
        compile_ms,
        device: format!("{} ({:?})", info.name, info.backend),
        driver: format!("{} {}", info.driver, info.driver_info),
        tuned,
        precision: precision.to_string(),
        profile,
    };
    if a.json {
        println!("{}", serde_json::to_string(&r).expect("report serialises"));
    } else {
        println!(
            "{} {}{} batch {}{}: median {:.2} ms/step, {:.0} images/s, {:.1} GFLOP/s; {} dispatches ({} kernels), {:.1} MiB planned ({:.1} MiB unplanned); compiled in {:.0} ms; {} — {}",
            r.model,
            r.mode,
            if precision == Precision::Mixed {
                " mixed"
            } else {
                ""
            },
            r.batch,
            if r.tuned { ", tuned" } else { "" },
            r.median_ms,
            r.images_per_s,
            r.gflops,
            r.kernels_per_step,
            r.distinct_kernels,
            r.planned_bytes as f64 / (1 << 20) as f64,
            r.naive_bytes as f64 / (1 << 20) as f64,
            r.compile_ms,
            r.device,
            r.driver
        );
        if let Some(p) = &r.profile {
            print!("{p}");
        }
    }
    Ok(())
}
