//! The compiler pipeline in one place: every stage, in order, and the only code that
//! sequences them. Commands and the trainer call the functions here and never chain stages
//! themselves.
//!
//! ```text
//! stage                   input → output                            printed by
//! front end               source text → ast::File → Program         --emit ast
//!   elab::elaborate       Program → Elaborated { Graph, Recipe }    --emit ir
//! STAGES (graph → graph; verified after each in debug and test builds):
//!   autodiff              forward Graph → training Graph            --train --emit ir
//!                         (training only: forward, loss, backward and optimizer updates)
//!   dead_code, mixed_precision, fuse_activation, fuse_activation_grad,
//!   fuse_grad_accumulation
//!                         Graph → Graph (the IR passes)             --emit ir-opt
//! plan (lowering; no device):
//!   ir::verify            Graph → Verified (every build)
//!   optimizer_fusion      Verified → Fusion (codegen::optim_fusion)
//!   lower                 Verified + Fusion → Plan (codegen::plan)  --emit wgsl
//!   memory_plan           Plan → Plan (codegen::memory)             --emit plan, -o DIR
//! on a device (training_step, inference):
//!   check_batch           the graph before the passes fits the device at the batch
//!   tune                  device + Verified → plan::Options (tilings, limits)
//!   DeviceModel::new      Plan + parameters → DeviceModel
//! ```
//!
//! Optimizer fusion is a step of lowering, not a graph stage: a fused update writes two
//! or three parameters, and the IR has no multi-output ops (ARCHITECTURE.md).

use crate::autodiff::{self, AutodiffError};
use crate::codegen::batch_limit::check_batch;
use crate::codegen::memory::{self, MemoryPlanning};
use crate::codegen::optim_fusion::{self, OptimizerLowering};
use crate::codegen::plan::{self, CodegenError, Options, Plan};
use crate::codegen::tune;
use crate::diag::{Diagnostic, Diagnostics, Sources};
use crate::elab::recipe::{Init, Optimizer};
use crate::elab::{self, Elaborated};
use crate::ir::{self, Graph, Precision, VerifyError};
use crate::passes::{self, dead_code, fuse_activation, fuse_activation_grad};
use crate::passes::{fuse_grad_accumulation, mixed_precision};
use crate::runtime::Runtime;
use crate::runtime::model::{DeviceModel, ModelError};
use crate::tensor::TensorMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// What the graph stages are asked for.
#[derive(Clone, Copy, Debug, Default)]
pub struct Config<'a> {
    /// `Some`: build the training step for this optimizer (autodiff); `None`: inference.
    pub train: Option<&'a Optimizer>,
    /// What the IR passes are asked for.
    pub passes: passes::Config,
}

/// A graph-to-graph stage.
pub type Stage = fn(&mut Graph, &Config) -> Result<(), PipelineError>;

/// The graph stages, in the order they run: autodiff, then the IR passes. `--emit ir`
/// prints the graph after the first [`BEFORE_PASSES`] of them, `--emit ir-opt` after all.
pub const STAGES: &[(&str, Stage)] = &[
    ("autodiff", |g, c| {
        if let Some(optimizer) = c.train {
            *g = autodiff::build(g, optimizer)?.graph;
        }
        Ok(())
    }),
    ("dead_code", |g, _| {
        dead_code::run(g);
        Ok(())
    }),
    ("mixed_precision", |g, c| {
        mixed_precision::run(g, &c.passes);
        Ok(())
    }),
    ("fuse_activation", |g, _| {
        fuse_activation::run(g);
        Ok(())
    }),
    ("fuse_activation_grad", |g, _| {
        fuse_activation_grad::run(g);
        Ok(())
    }),
    // After fuse_activation_grad, which adds `y` operands before any accumulation operand.
    ("fuse_grad_accumulation", |g, _| {
        fuse_grad_accumulation::run(g);
        Ok(())
    }),
];

/// How many of [`STAGES`] come before the IR passes (autodiff).
pub const BEFORE_PASSES: usize = 1;

/// Why the pipeline stopped.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The model cannot be trained as it is (a user error).
    #[error(transparent)]
    Autodiff(#[from] AutodiffError),
    /// A stage left the graph ill-formed: a compiler bug.
    #[error("internal compiler error: stage `{stage}` broke the IR: {error}")]
    Stage {
        stage: &'static str,
        error: VerifyError,
    },
    /// The graph handed to lowering breaks an IR invariant: a compiler bug.
    #[error("internal compiler error: {0}")]
    Unverified(VerifyError),
    #[error(transparent)]
    Codegen(#[from] CodegenError),
    #[error(transparent)]
    Device(#[from] ModelError),
}

/// A model after the front end and the graph stages.
pub struct Compiled {
    /// The elaborated model (or, with `--train`, its training graph), before the IR passes
    /// (`--emit ir`).
    pub elaborated: Elaborated,
    /// The graph after every one of [`STAGES`] (`--emit ir-opt`).
    pub optimised: Graph,
}

/// Parse and elaborate a model file.
pub fn front_end(
    sources: &mut Sources,
    path: &Path,
    overrides: &[String],
) -> Result<Elaborated, Diagnostics> {
    let program = elab::load(sources, path)?;
    elab::elaborate(&program, sources, overrides)
}

/// Parse and elaborate model source text; `name` resolves imports and labels messages.
pub fn front_end_str(
    sources: &mut Sources,
    name: &str,
    text: &str,
    overrides: &[String],
) -> Result<Elaborated, Diagnostics> {
    let program = elab::load_str(sources, name, text)?;
    elab::elaborate(&program, sources, overrides)
}

/// The front end, then the graph stages; with `train`, the graph is the whole training
/// step built by autodiff for the recipe's optimizer.
pub fn compile(
    sources: &mut Sources,
    path: &Path,
    overrides: &[String],
    train: bool,
) -> Result<Compiled, Diagnostics> {
    compile_with(sources, path, overrides, train, None)
}

/// [`compile`], in `precision` (`None`: the recipe's) when `train` is set; an inference
/// graph is always f32 (mixed precision is a training mode).
pub fn compile_with(
    sources: &mut Sources,
    path: &Path,
    overrides: &[String],
    train: bool,
    precision: Option<Precision>,
) -> Result<Compiled, Diagnostics> {
    let mut elaborated = front_end(sources, path, overrides)?;
    let optimizer = elaborated.recipe.optimizer.clone();
    let config = Config {
        train: train.then_some(&optimizer),
        passes: passes::Config {
            precision: match train {
                true => precision.unwrap_or(elaborated.recipe.precision),
                false => Precision::F32,
            },
        },
    };
    let (before, after) = STAGES.split_at(BEFORE_PASSES);
    let diagnostic = |e: PipelineError| Diagnostic::error(e.to_string());
    run_stages(&mut elaborated.graph, before, &config).map_err(diagnostic)?;
    let mut optimised = elaborated.graph.clone();
    run_stages(&mut optimised, after, &config).map_err(diagnostic)?;
    Ok(Compiled {
        elaborated,
        optimised,
    })
}

/// Run `stages` over `graph` in order; debug and test builds verify the graph after each,
/// naming the stage that broke an invariant.
fn run_stages(
    graph: &mut Graph,
    stages: &[(&'static str, Stage)],
    config: &Config,
) -> Result<(), PipelineError> {
    for (stage, run) in stages {
        run(graph, config)?;
        if cfg!(debug_assertions) {
            ir::verify(graph).map_err(|error| PipelineError::Stage { stage, error })?;
        }
    }
    Ok(())
}

/// The graph after [`STAGES`] for inference (dead code removed, activations fused): what
/// every inference plan is lowered from, so that it runs the graph `--emit ir-opt` prints.
/// The CPU reference may run either form.
pub fn optimise(graph: &Graph) -> Result<Graph, PipelineError> {
    optimise_for(graph, Precision::F32)
}

/// [`optimise`] in `precision`: with `Mixed`, activations and their gradients are f16. A
/// training graph given here is optimised as it is (autodiff does not run again).
pub fn optimise_for(graph: &Graph, precision: Precision) -> Result<Graph, PipelineError> {
    let mut optimised = graph.clone();
    let config = Config {
        train: None,
        passes: passes::Config { precision },
    };
    run_stages(&mut optimised, &STAGES[BEFORE_PASSES..], &config)?;
    Ok(optimised)
}

/// Lowering, which knows no device: verify `graph` (in every build; lowering takes only a
/// [`ir::Verified`]), choose the fused optimizer updates, lower every op, plan memory.
pub fn plan(graph: &Graph, batch: usize, opts: &Options) -> Result<Plan, PipelineError> {
    let verified = ir::verify(graph).map_err(PipelineError::Unverified)?;
    let fusion = optim_fusion::run(verified, opts.optimizer);
    let lowered = plan::lower(verified, fusion, batch, opts)?;
    Ok(memory::run(lowered, opts.memory))
}

/// What a device model is built for, besides its graph.
pub struct Target<'r> {
    pub runtime: &'r Runtime,
    pub batch: usize,
    /// `None`: portable kernels (`Options::default`'s), as `netc infer` and `netc eval`
    /// run. `Some(tune)`: kernels fitted to the device (its binding limit and subgroup
    /// size), with tilings timed there (cached) when `tune` is set (`codegen::tune`).
    pub tune: Option<bool>,
    /// Scalar outputs logged on the device per run (`plan::Options::log_capacity`).
    pub log_capacity: usize,
    pub memory: MemoryPlanning,
    pub optimizer: OptimizerLowering,
}

impl<'r> Target<'r> {
    /// `batch` on `runtime` with default lowering: no device log, memory planned, optimizer
    /// updates fused.
    pub fn new(runtime: &'r Runtime, batch: usize, tune: Option<bool>) -> Target<'r> {
        Target {
            runtime,
            batch,
            tune,
            log_capacity: 0,
            memory: MemoryPlanning::default(),
            optimizer: OptimizerLowering::default(),
        }
    }
}

/// Where a device model's parameters start.
pub enum Weights<'a> {
    /// These values (a checkpoint's, a file's); extra entries are ignored.
    Given(&'a TensorMap),
    /// Fresh ones: `params::init` of the graph before the IR passes (for a training step,
    /// the training graph, so optimizer state is included) by this `init` and seed.
    Init(&'a Init, u64),
}

/// A plan on a device, and what building it cost.
pub struct OnDevice<'r> {
    pub model: DeviceModel<'r>,
    /// Whether any conv tiling came from the tuner (false: defaults).
    pub tuned: bool,
    /// From the graph to the plan, tuning excluded (`netc bench`'s compile time).
    pub compile_time: Duration,
}

/// The training step of `forward` for `optimizer` in `precision` on `target`: autodiff,
/// the batch check, the IR passes, tuning, lowering, and the device model.
pub fn training_step<'r>(
    target: &Target<'r>,
    forward: &Graph,
    optimizer: &Optimizer,
    precision: Precision,
    weights: Weights,
) -> Result<OnDevice<'r>, PipelineError> {
    let config = Config {
        train: Some(optimizer),
        passes: passes::Config { precision },
    };
    on_device(target, forward, &config, weights)
}

/// `graph`'s forward pass (f32) on `target`: the batch check, the IR passes, tuning,
/// lowering, and the device model.
pub fn inference<'r>(
    target: &Target<'r>,
    graph: &Graph,
    weights: Weights,
) -> Result<OnDevice<'r>, PipelineError> {
    on_device(target, graph, &Config::default(), weights)
}

fn on_device<'r>(
    target: &Target<'r>,
    graph: &Graph,
    config: &Config,
    weights: Weights,
) -> Result<OnDevice<'r>, PipelineError> {
    let start = Instant::now();
    let (before, after) = STAGES.split_at(BEFORE_PASSES);
    let mut unoptimised = graph.clone();
    run_stages(&mut unoptimised, before, config)?;
    let limit = target
        .runtime
        .context()
        .limits()
        .max_storage_buffer_binding_size;
    check_batch(&unoptimised, target.batch, limit).map_err(ModelError::from)?;
    let mut optimised = unoptimised.clone();
    run_stages(&mut optimised, after, config)?;
    let tune_start = Instant::now();
    let device_opts = match target.tune {
        None => Options::default(),
        Some(tune) => {
            let verified = ir::verify(&optimised).map_err(PipelineError::Unverified)?;
            tune::plan_options(target.runtime, verified, target.batch, tune)?
        }
    };
    // Tuning (a one-off per device, then a cache read) is not compile time.
    let tune_time = tune_start.elapsed();
    let tuned = !device_opts.tuned.is_empty();
    let opts = Options {
        log_capacity: target.log_capacity,
        memory: target.memory,
        optimizer: target.optimizer,
        ..device_opts
    };
    let plan = plan(&optimised, target.batch, &opts)?;
    let compile_time = start.elapsed() - tune_time;
    let initial;
    let params = match weights {
        Weights::Given(p) => p,
        Weights::Init(init, seed) => {
            initial = crate::params::init(&unoptimised, init, seed);
            &initial
        }
    };
    let model = DeviceModel::new(target.runtime, plan, params)?;
    Ok(OnDevice {
        model,
        tuned,
        compile_time,
    })
}
