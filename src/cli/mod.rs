//! Command-line interface: argument definitions and one module per command.
//!
//! Every command reports user mistakes as rendered diagnostics on stderr and exits
//! with code 1; it never panics on bad input.

mod bench;
mod bench_data;
mod check;
mod compile;
mod data_args;
mod eval;
mod export;
mod graph;
mod import;
mod infer;
mod init;
mod run_dir;
mod summary;
mod train;
mod values;

use clap::{Parser, Subcommand};
use netc::diag::{Diagnostics, Sources};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "netc",
    version,
    about = "netc — a declarative model-graph compiler for convolutional networks"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every command that reads a model.
#[derive(clap::Args, Debug)]
pub struct ModelArgs {
    /// The `.net` model file.
    pub file: PathBuf,
    /// Override a model hyper-parameter, e.g. `--set c_hidden=[32,64,128] --set act=gelu`.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,
}

/// Parses `--precision f32|mixed`.
pub fn parse_precision(s: &str) -> Result<netc::ir::Precision, String> {
    netc::ir::Precision::parse(s)
        .ok_or_else(|| format!("`{s}` is not a precision: use f32 or mixed"))
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Parse, elaborate and shape-check a model; print diagnostics.
    Check(check::Args),
    /// Print a layer table: output shapes, parameters, MACs, and the training recipe.
    Summary(summary::Args),
    /// Write the model graph as Graphviz DOT, with blocks as clusters.
    Graph(graph::Args),
    /// Compile a model and print a stage of the pipeline.
    Compile(compile::Args),
    /// Write freshly initialised parameters to a safetensors file.
    Init(init::Args),
    /// Classify images: the top classes with their probabilities.
    Infer(infer::Args),
    /// Top-1 accuracy and confusion matrix over a dataset.
    Eval(eval::Args),
    /// Write the inference graph with its weights as an ONNX model.
    Export(export::Args),
    /// Convert a PyTorch state dict (.safetensors, .pt, .ckpt) to the model's parameters.
    Import(import::Args),
    /// Measure step time, images/s and GFLOP/s on the device.
    Bench(bench::Args),
    /// Measure the data pipeline alone (decode, transforms, batching): images/s.
    BenchData(bench_data::Args),
    /// Train a model with the recipe in its file.
    Train(train::Args),
    /// Evaluate a run's best checkpoint.
    Test(train::TestArgs),
    /// Compare runs: accuracy table (text and Markdown) and training curves (SVG, PNG).
    Report(train::ReportArgs),
}

pub fn run(cli: Cli) -> ExitCode {
    let mut sources = Sources::new();
    let result = match cli.command {
        Command::Check(a) => check::run(&mut sources, a),
        Command::Summary(a) => summary::run(&mut sources, a),
        Command::Graph(a) => graph::run(&mut sources, a),
        Command::Compile(a) => compile::run(&mut sources, a),
        Command::Init(a) => init::run(&mut sources, a),
        Command::Infer(a) => infer::run(&mut sources, a),
        Command::Eval(a) => eval::run(&mut sources, a),
        Command::Export(a) => export::run(&mut sources, a),
        Command::Import(a) => import::run(&mut sources, a),
        Command::Bench(a) => bench::run(&mut sources, a),
        Command::BenchData(a) => bench_data::run(&mut sources, a),
        Command::Train(a) => train::run(&mut sources, a),
        Command::Test(a) => train::test(&mut sources, a),
        Command::Report(a) => train::report_runs(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(diags) => {
            report(&sources, &diags);
            ExitCode::FAILURE
        }
    }
}

/// Print diagnostics to stderr, coloured when stderr is a terminal.
pub fn report(sources: &Sources, diags: &Diagnostics) {
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    eprint!("{}", sources.render(&diags.0, color));
}

/// Write `text` to `path`, or report why not.
pub fn write_file(path: &std::path::Path, text: &str) -> Result<(), Diagnostics> {
    std::fs::write(path, text).map_err(|e| {
        netc::diag::Diagnostic::error(format!("cannot write `{}`: {e}", path.display())).into()
    })
}

/// Whether to tune conv tilings on the device: not with `--no-tune`, nor with `NETC_TUNE=0` in
/// the environment (how the test suite keeps `netc` from timing kernels and writing the cache).
pub fn tune_enabled(no_tune: bool) -> bool {
    !no_tune && std::env::var_os("NETC_TUNE").is_none_or(|v| v != "0")
}

/// Open the GPU, or explain how to get one.
pub fn open_runtime() -> Result<netc::runtime::Runtime, Diagnostics> {
    netc::runtime::Runtime::open().map_err(|e| netc::diag::Diagnostic::error(e.to_string()).into())
}

/// Elaborate a model and load its parameters, checking that they fit it.
pub fn model_with_weights(
    sources: &mut Sources,
    model: &ModelArgs,
    weights: &std::path::Path,
) -> Result<(netc::elab::Elaborated, netc::tensor::TensorMap), Diagnostics> {
    let e = netc::pipeline::front_end(sources, &model.file, &model.set)?;
    report(sources, &Diagnostics(e.warnings.clone()));
    let to_diag = |err: netc::params::ParamsError| {
        Diagnostics::from(netc::diag::Diagnostic::error(err.to_string()))
    };
    let w = netc::params::load(weights).map_err(to_diag)?;
    let shown = weights.display().to_string();
    netc::params::check_against(&e.graph, &w, &shown).map_err(to_diag)?;
    // NaN weights still produce confident-looking predictions (softmax of NaN logits).
    netc::params::check_finite(&w, &shown).map_err(to_diag)?;
    Ok((e, w))
}
