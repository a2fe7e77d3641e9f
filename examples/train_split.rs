//! The data exactly as `netc train` sees it — decoded images, the train/validation split
//! of the recipe's seed, and the normalisation statistics of the training part — written
//! as one safetensors file, so that `bench/torch_train.py` trains PyTorch on the same
//! pixels (netc's JPEG decoder, not PIL's) and the same split.
//!
//! `cargo run --release --example train_split -- DATA --val-size 5000 --seed 42 [--limit N] -o split.safetensors`
//!
//! The file holds `train.x`, `val.x` (u8, [N, C, H, W]), `train.y`, `val.y` (i64 labels),
//! `train.index`, `val.index` (i64, the images' positions in the dataset) and `mean`, `std`
//! (f32 per channel); its metadata names the classes and the data directory.

use clap::Parser;
use netc::data::{self, Dataset, Split};
use safetensors::Dtype;
use safetensors::tensor::TensorView;
use std::collections::HashMap;
use std::path::PathBuf;

#[derive(Parser)]
struct Args {
    /// An image-folder tree or the CIFAR-10 binary release (as `netc train --data`).
    data: PathBuf,
    #[arg(long)]
    val_size: usize,
    #[arg(long)]
    seed: u64,
    /// As `netc train --limit`: N images spread evenly over the dataset.
    #[arg(long)]
    limit: Option<usize>,
    #[arg(short, long)]
    output: PathBuf,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = Args::parse();
    let mut d = data::load(&a.data, Split::Train)?;
    // `netc train --limit`'s rule (src/cli/train.rs `load_data`).
    if let Some(limit) = a.limit.filter(|&l| l > 0 && l < d.len()) {
        let indices: Vec<usize> = (0..limit).map(|i| i * d.len() / limit).collect();
        d = d.subset(&indices);
    }
    if a.val_size == 0 || a.val_size >= d.len() {
        return Err(format!(
            "--val-size {} leaves no training or no validation images of {}",
            a.val_size,
            d.len()
        )
        .into());
    }
    let (train, val) = netc::train::run::split(d.len(), a.val_size, a.seed);
    let (mean, std) = d.subset(&train).channel_stats();
    let (c, h, w) = d.shape;
    let mut owned: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, idx) in [("train", &train), ("val", &val)] {
        let part: Dataset = d.subset(idx);
        owned.push((
            format!("{name}.x"),
            Dtype::U8,
            vec![idx.len(), c, h, w],
            part.pixels.clone(),
        ));
        let y: Vec<u8> = part
            .labels
            .iter()
            .flat_map(|&l| i64::from(l).to_le_bytes())
            .collect();
        owned.push((format!("{name}.y"), Dtype::I64, vec![idx.len()], y));
        let ix: Vec<u8> = idx.iter().flat_map(|&i| (i as i64).to_le_bytes()).collect();
        owned.push((format!("{name}.index"), Dtype::I64, vec![idx.len()], ix));
    }
    for (name, v) in [("mean", &mean), ("std", &std)] {
        owned.push((
            name.into(),
            Dtype::F32,
            vec![v.len()],
            v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        ));
    }
    let views: Vec<(String, TensorView<'_>)> = owned
        .iter()
        .map(|(n, dt, shape, b)| {
            (
                n.clone(),
                TensorView::new(*dt, shape.clone(), b).expect("bytes match shape"),
            )
        })
        .collect();
    let metadata = HashMap::from([
        ("classes".to_string(), serde_json::to_string(&d.classes)?),
        ("data".to_string(), a.data.display().to_string()),
        ("images".to_string(), d.len().to_string()),
    ]);
    std::fs::write(&a.output, safetensors::serialize(views, Some(metadata))?)?;
    println!(
        "wrote {}: {} training and {} validation images, mean {mean:?}, std {std:?}",
        a.output.display(),
        train.len(),
        val.len()
    );
    Ok(())
}
