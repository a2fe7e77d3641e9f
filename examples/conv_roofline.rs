//! Conv kernel throughput against the reference GEMM, in one process on one device.
//!
//! ```text
//! cargo run --release --example conv_roofline -- [--batch 32] [--reps 3] [--samples 3]
//!     [--tiling TMxTN/WGMxWGN[/SPLIT]] [--tuned] [--no-tune] [--only fwd|dx|dw]
//! ```
//!
//! Times the reference GEMM (1024^3, `src/ops/linear/gemm_reference.wgsl`, the fastest plain
//! WGSL GEMM on lavapipe) before and after the conv kernels, then netc's conv forward, input
//! gradient and weight gradient on the seed models' shapes, and prints GFLOP/s and the ratio
//! to the GEMM. Absolute figures vary ~8x between lavapipe machines, so only the ratio is
//! comparable across sessions. By default each kernel uses the fixed default tiling;
//! `--tiling` forces one tiling for all (SPLIT: the weight gradient's split target, 8192 by
//! default), `--tuned` uses the autotuner's cached (or freshly measured) choice per kernel.

use netc::codegen::kernels::{Conv2dParams, ConvTiling};
use netc::codegen::tiling::{ConvKind, TileRequest, default_tiling};
use netc::codegen::tune::{ConvCase, TuneCache, Tuner};
use netc::ops::linear::gemm::gemm_reference;
use netc::runtime::timing::time_dispatches;
use netc::runtime::{Dispatch, Runtime};

struct Args {
    batch: u32,
    reps: usize,
    samples: usize,
    tiling: Option<ConvTiling>,
    tuned: bool,
    only: Option<ConvKind>,
}

fn parse_tiling(s: &str) -> Option<ConvTiling> {
    let (t, w) = s.split_once('/')?;
    let (w, split) = w.split_once('/').map_or((w, None), |(w, s)| (w, Some(s)));
    let (tm, tn) = t.split_once('x')?;
    let (wg_m, wg_n) = w.split_once('x')?;
    let default = ConvTiling::default();
    Some(ConvTiling {
        tm: tm.parse().ok()?,
        tn: tn.parse().ok()?,
        wg_m: wg_m.parse().ok()?,
        wg_n: wg_n.parse().ok()?,
        split_target: split.map_or(Some(default.split_target), |s| s.parse().ok())?,
        subgroup: 0,
        shared: false,
        depth: 8,
    })
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        batch: 32,
        reps: 3,
        samples: 3,
        tiling: None,
        tuned: false,
        only: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--batch" => a.batch = value()?.parse().map_err(|e| format!("--batch: {e}"))?,
            "--reps" => a.reps = value()?.parse().map_err(|e| format!("--reps: {e}"))?,
            "--samples" => a.samples = value()?.parse().map_err(|e| format!("--samples: {e}"))?,
            "--tiling" => {
                let v = value()?;
                a.tiling = Some(
                    parse_tiling(&v)
                        .ok_or(format!("--tiling {v}: want 8x8/8x1 or 8x8/8x1/131072"))?,
                )
            }
            "--tuned" => a.tuned = true,
            "--no-tune" => a.tuned = false,
            "--only" => {
                a.only = Some(match value()?.as_str() {
                    "fwd" => ConvKind::Forward,
                    "dx" => ConvKind::GradInput,
                    "dw" => ConvKind::GradWeight,
                    other => return Err(format!("--only {other}: want fwd, dx or dw")),
                })
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

/// GFLOP/s of the reference GEMM, the best of two register tiles.
fn gemm_gflops(rt: &Runtime, samples: usize) -> f64 {
    let n = 1024u32;
    let mut best = 0.0f64;
    for (tile, wg) in [((16, 4), (8, 8)), ((8, 2), (8, 8))] {
        let k = gemm_reference((n, n, n), tile, wg).expect("reference GEMM");
        let len = (n * n) as usize;
        let a = rt.upload(&vec![0.5; len]).expect("upload");
        let b = rt.upload(&vec![0.25; len]).expect("upload");
        let c = rt.create_buffer(len).expect("buffer");
        let d = [Dispatch::new(&k, &[&a, &b, &c])];
        let s = time_dispatches(rt, &d, 3, samples).expect("GEMM runs");
        best = best.max(2.0 * f64::from(n).powi(3) / s / 1e9);
    }
    best
}

/// The seed models' conv shapes: ResNet's 3x3 convs in its three stages (and a stride-2
/// downsampling conv), GoogleNet's and DenseNet's 1x1 convs, a DenseNet 3x3 growth conv.
fn shapes(batch: u32) -> Vec<(&'static str, Conv2dParams)> {
    vec![
        (
            "resnet 3x3 16@32x32",
            Conv2dParams::new(batch, 16, (32, 32), 16, 3).with_padding(1),
        ),
        (
            "resnet 3x3 32@16x16",
            Conv2dParams::new(batch, 32, (16, 16), 32, 3).with_padding(1),
        ),
        (
            "resnet 3x3 64@8x8",
            Conv2dParams::new(batch, 64, (8, 8), 64, 3).with_padding(1),
        ),
        (
            "resnet 3x3 s2 16->32",
            Conv2dParams::new(batch, 16, (32, 32), 32, 3)
                .with_stride(2)
                .with_padding(1),
        ),
        (
            "googlenet 1x1 64->32@32x32",
            Conv2dParams::new(batch, 64, (32, 32), 32, 1),
        ),
        (
            "densenet 1x1 96->64@16x16",
            Conv2dParams::new(batch, 96, (16, 16), 64, 1),
        ),
        (
            "densenet 3x3 64->16@16x16",
            Conv2dParams::new(batch, 64, (16, 16), 16, 3).with_padding(1),
        ),
    ]
}

fn main() {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("conv_roofline: {e}");
            std::process::exit(2);
        }
    };
    let rt = Runtime::open().unwrap_or_else(|e| {
        eprintln!("conv_roofline: {e}");
        std::process::exit(1);
    });
    println!("device: {}", rt.context().describe());
    let gemm_before = gemm_gflops(&rt, a.samples);
    println!("reference GEMM 1024^3: {gemm_before:.2} GFLOP/s");

    let mut tuner = a.tuned.then(|| Tuner::new(&rt, TuneCache::load_default()));
    let kinds = [ConvKind::Forward, ConvKind::GradInput, ConvKind::GradWeight];
    let mut rows = Vec::new();
    for (label, p) in shapes(a.batch) {
        for kind in kinds {
            if a.only.is_some_and(|o| o != kind) {
                continue;
            }
            let request = TileRequest::new(kind, &p);
            let tiling = match (&a.tiling, &mut tuner) {
                (Some(t), _) => *t,
                (None, Some(tuner)) => tuner.choose(&request),
                (None, None) => default_tiling(&request),
            }
            .with_subgroup(rt.context().subgroup_size());
            let case = ConvCase { kind, params: p };
            match case.time(&rt, &tiling, a.reps, a.samples) {
                Ok(s) => {
                    let gf = case.flops() / s / 1e9;
                    rows.push((kind, gf));
                    // Only the weight gradient splits; show its target where not the default.
                    let split = if kind == ConvKind::GradWeight
                        && tiling.split_target != ConvTiling::default().split_target
                    {
                        format!(" split {}", tiling.split_target)
                    } else {
                        String::new()
                    };
                    println!(
                        "{:<3} {label:<28} {:>2}x{:<2}/{:>2}x{:<2} {:>8.2} ms {:>7.2} GFLOP/s{split}",
                        kind.name(),
                        tiling.tm,
                        tiling.tn,
                        tiling.wg_m,
                        tiling.wg_n,
                        s * 1e3,
                        gf
                    );
                }
                Err(e) => println!("{:<3} {label:<28} failed: {e}", kind.name()),
            }
        }
    }
    if let Some(t) = &mut tuner {
        t.save();
    }
    let gemm_after = gemm_gflops(&rt, a.samples);
    let gemm = 0.5 * (gemm_before + gemm_after);
    println!("reference GEMM 1024^3: {gemm_after:.2} GFLOP/s (mean of both: {gemm:.2})");
    for kind in kinds {
        let v: Vec<f64> = rows.iter().filter(|r| r.0 == kind).map(|r| r.1).collect();
        if v.is_empty() {
            continue;
        }
        // Geometric mean: every shape counts the same however long it runs.
        let geo = (v.iter().map(|x| x.ln()).sum::<f64>() / v.len() as f64).exp();
        let min = v.iter().copied().fold(f64::INFINITY, f64::min);
        println!(
            "{:<3} geomean {geo:.2} GFLOP/s = {:.0}% of GEMM (worst shape {:.0}%)",
            kind.name(),
            100.0 * geo / gemm,
            100.0 * min / gemm
        );
    }
}
