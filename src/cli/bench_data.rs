//! `netc bench-data FILE --data DIR [--eval] [--batches N]`: the data pipeline alone —
//! decode, the recipe's transforms, normalise, batch, on the loader's workers — timed
//! over the dataset, with no device: images/s, and the process's peak resident memory.

use super::data_args::DataArgs;
use super::{ModelArgs, report};
use netc::data::Split;
use netc::data::loader::{self, Pipeline};
use netc::diag::{Diagnostic, Diagnostics, Sources};
use netc::predict::Normalize;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The images: any dataset `netc train` reads.
    #[arg(long)]
    pub data: PathBuf,
    /// Time the recipe's `eval_transform` instead of its `augment`.
    #[arg(long)]
    pub eval: bool,
    /// Images per batch (default: the recipe's).
    #[arg(long, value_parser = super::values::positive_count)]
    pub batch: Option<usize>,
    /// Stop after this many batches (default: one pass over the data).
    #[arg(long, value_parser = super::values::positive_count)]
    pub batches: Option<usize>,
    /// Print one JSON object instead of a line.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub loading: DataArgs,
}

pub fn run(sources: &mut Sources, a: Args) -> Result<(), Diagnostics> {
    let e = netc::pipeline::front_end(sources, &a.model.file, &a.model.set)?;
    report(sources, &Diagnostics(e.warnings.clone()));
    let size = netc::train::preflight::image_size(&e.graph).map_err(Diagnostic::error)?;
    let batch = a.batch.unwrap_or(e.recipe.batch as usize);
    let opened = a
        .loading
        .open(&a.data, Split::Train, None)
        .map_err(Diagnostic::error)?;
    if !a.json {
        for line in opened.log_lines() {
            eprintln!("{line}");
        }
    }
    let data = opened.train;
    let transforms = if a.eval {
        &e.recipe.eval_transform
    } else {
        &e.recipe.augment
    };
    let norm = netc::train::preflight::recipe_normalize(&e.recipe)
        .map_err(Diagnostic::error)?
        .unwrap_or_else(Normalize::cifar10);
    let queue = a.loading.queue(batch, size).map_err(Diagnostic::error)?;
    let pipeline = Pipeline {
        source: &data,
        transforms,
        mean: &norm.mean,
        std: &norm.std,
        seed: e.recipe.seed,
        epoch: 0,
        size,
    };
    let indices: Vec<usize> = (0..data.len()).collect();
    let mut chunks: Vec<&[usize]> = indices.chunks(batch).collect();
    if let Some(n) = a.batches {
        // More batches than the data holds: go round again (the same images).
        chunks = chunks.iter().cycle().take(n).copied().collect();
    }
    let start = std::time::Instant::now();
    let mut images = 0usize;
    loader::stream(&pipeline, &chunks, 0, queue, |_, (x, _)| {
        images += x.dims[0];
        Ok::<bool, netc::data::DataError>(true)
    })
    .map_err(|err| Diagnostic::error(err.to_string()))?;
    let secs = start.elapsed().as_secs_f64();
    let rate = images as f64 / secs.max(1e-9);
    let peak = netc::data::peak_rss_bytes();
    if a.json {
        let j = serde_json::json!({
            "images": images, "seconds": secs, "images_per_s": rate,
            "workers": queue.workers, "queue_depth": queue.depth,
            "batch": batch, "height": size.0, "width": size.1,
            "source": data.describe(), "peak_rss_bytes": peak,
        });
        println!("{j}");
    } else {
        println!(
            "bench-data: {images} images ({h}x{w}, batches of {batch}) in {secs:.2} s: {rate:.0} images/s \
             ({} workers, queue of {}; data {}; peak resident memory {})",
            queue.workers,
            queue.depth,
            data.describe(),
            peak.map_or("unknown".into(), |b| format!(
                "{:.0} MiB",
                b as f64 / (1 << 20) as f64
            )),
            h = size.0,
            w = size.1,
        );
    }
    Ok(())
}
