//! `netc report runs/*`: the seed's comparison table (model, validation accuracy, test
//! accuracy, parameters) as text and Markdown, and training curves (loss, accuracy and
//! learning rate against epoch) drawn to SVG and PNG with plotters.

use super::checkpoint::{Checkpoint, EpochMetrics};
use plotters::prelude::*;
use serde::{Deserialize, Serialize};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// What `netc test` leaves in a run directory.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TestResult {
    pub accuracy: f64,
    pub images: usize,
    pub data: String,
}

/// One run, summarised.
pub struct RunSummary {
    pub dir: PathBuf,
    pub model: String,
    pub best_val_acc: f64,
    pub test_acc: Option<f64>,
    pub params: u64,
    pub history: Vec<EpochMetrics>,
}

/// Read a run directory (its last checkpoint and, if present, `test.json`).
pub fn load(dir: &Path) -> Result<RunSummary, String> {
    let c = Checkpoint::load(dir, "last").map_err(|e| e.to_string())?;
    let model = std::fs::read_to_string(dir.join("config.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["model"].as_str().map(String::from))
        .unwrap_or_else(|| c.model_file.clone());
    let test_acc = std::fs::read_to_string(dir.join("test.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<TestResult>(&t).ok())
        .map(|t| t.accuracy);
    // Trainable tensors: everything but running statistics and optimizer state.
    let state = [
        "running_mean",
        "running_var",
        "momentum_buffer",
        "exp_avg",
        "exp_avg_sq",
    ];
    let params = c
        .params
        .iter()
        .filter(|(k, _)| !state.iter().any(|s| k.ends_with(s)))
        .map(|(_, t)| t.numel() as u64)
        .sum();
    Ok(RunSummary {
        dir: dir.to_path_buf(),
        model,
        best_val_acc: c.history.iter().map(|m| m.val_acc).fold(0.0, f64::max),
        test_acc,
        params,
        history: c.history,
    })
}

fn pct(v: Option<f64>) -> String {
    v.map_or("—".into(), |a| format!("{:.2}%", 100.0 * a))
}

/// The comparison table as aligned text and as Markdown.
pub fn tables(runs: &[RunSummary]) -> (String, String) {
    let mut text = format!(
        "{:<16} {:>12} {:>12} {:>12} {:>8}\n",
        "Model", "Val Accuracy", "Test Accuracy", "Parameters", "Epochs"
    );
    let mut md = String::from(
        "| Model | Val Accuracy | Test Accuracy | Parameters | Epochs |\n|---|---|---|---|---|\n",
    );
    for r in runs {
        let params = crate::summary::group(r.params);
        let _ = writeln!(
            text,
            "{:<16} {:>12} {:>12} {:>12} {:>8}",
            r.model,
            pct(Some(r.best_val_acc)),
            pct(r.test_acc),
            params,
            r.history.len()
        );
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} |",
            r.model,
            pct(Some(r.best_val_acc)),
            pct(r.test_acc),
            params,
            r.history.len()
        );
    }
    (text, md)
}

/// Draw loss, accuracy and learning rate against epoch for every run into `path`
/// (`.svg` or `.png`).
pub fn curves(runs: &[RunSummary], path: &Path) -> Result<(), String> {
    let font = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
    // Registering twice (SVG then PNG) is harmless; plotters keeps the first.
    let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, font);
    let size = (1200, 400);
    let svg = path.extension().is_some_and(|e| e == "svg");
    if svg {
        draw(SVGBackend::new(path, size).into_drawing_area(), runs)
    } else {
        draw(BitMapBackend::new(path, size).into_drawing_area(), runs)
    }
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    runs: &[RunSummary],
) -> Result<(), String> {
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| x.to_string();
    root.fill(&WHITE).map_err(e)?;
    let panels = root.split_evenly((1, 3));
    let epochs = runs
        .iter()
        .map(|r| r.history.len())
        .max()
        .unwrap_or(1)
        .max(2) as f64;
    type Series = fn(&EpochMetrics) -> f64;
    let specs: [(&str, Vec<(&str, Series)>); 3] = [
        ("train loss", vec![("", |m| m.train_loss)]),
        (
            "accuracy (val thick, train thin)",
            vec![("val", |m| m.val_acc), ("train", |m| m.train_acc)],
        ),
        ("learning rate", vec![("", |m| m.lr)]),
    ];
    for (panel, (title, series)) in panels.iter().zip(specs) {
        let top = runs
            .iter()
            .flat_map(|r| {
                r.history
                    .iter()
                    .flat_map(|m| series.iter().map(move |(_, f)| f(m)))
            })
            .fold(0f64, f64::max)
            .max(1e-9)
            * 1.05;
        let mut chart = ChartBuilder::on(panel)
            .caption(title, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(1f64..epochs, 0f64..top)
            .map_err(e)?;
        chart.configure_mesh().x_desc("epoch").draw().map_err(e)?;
        for (i, r) in runs.iter().enumerate() {
            let colour = Palette99::pick(i).to_rgba();
            for (k, (_, f)) in series.iter().enumerate() {
                let points: Vec<(f64, f64)> =
                    r.history.iter().map(|m| (m.epoch as f64, f(m))).collect();
                let style = ShapeStyle {
                    color: colour,
                    filled: false,
                    stroke_width: if k == 0 { 2 } else { 1 },
                };
                let s = chart
                    .draw_series(LineSeries::new(points, style))
                    .map_err(e)?;
                if k == 0 {
                    s.label(r.model.clone())
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], colour));
                }
            }
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(e)?;
    }
    root.present().map_err(e)
}
