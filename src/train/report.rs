//! `netc report runs/*`: the seed's comparison table (model, validation accuracy, test
//! accuracy, parameters) as text and Markdown, and training curves (loss, accuracy and
//! learning rate against epoch) drawn to SVG and PNG with plotters.
//!
//! A run directory is netc's (`netc train`: its `last` checkpoint, `config.json`,
//! `test.json`) or PyTorch's (`bench/torch_train.py`: `torch_run.json`, `metrics.jsonl` in
//! netc's fields, `test.json`), so the two frameworks' runs of one model sit side by side,
//! each row saying which framework, data, device and date it came from, and the commands
//! that made them listed under the table.

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
    /// `netc`, or `PyTorch <version>` for a `bench/torch_train.py` run.
    pub framework: String,
    /// The data directory (and `--limit`, where one was given).
    pub data: Option<String>,
    pub device: Option<String>,
    /// When the run last wrote its metrics (UTC, `YYYY-MM-DD`).
    pub date: Option<String>,
    pub command: Option<String>,
}

/// What `bench/torch_train.py` writes beside its `metrics.jsonl`.
pub const TORCH_RUN: &str = "torch_run.json";

fn json_file(path: &Path) -> Option<serde_json::Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

fn test_accuracy(dir: &Path) -> Option<f64> {
    std::fs::read_to_string(dir.join("test.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<TestResult>(&t).ok())
        .map(|t| t.accuracy)
}

/// `DIR` or `DIR (--limit N)`.
fn data_label(v: &serde_json::Value) -> Option<String> {
    let data = v["data"].as_str()?;
    Some(match v["limit"].as_u64() {
        Some(l) => format!("{data} (--limit {l})"),
        None => data.to_string(),
    })
}

/// The UTC date a file was last written.
fn modified_date(path: &Path) -> Option<String> {
    let t = std::fs::metadata(path).ok()?.modified().ok()?;
    let days = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs() / 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    Some(format!("{y:04}-{m:02}-{d:02}"))
}

/// A `bench/torch_train.py` run: `torch_run.json`, `metrics.jsonl`, `test.json`.
fn load_torch(dir: &Path) -> Result<RunSummary, String> {
    let info =
        json_file(&dir.join(TORCH_RUN)).ok_or_else(|| format!("`{TORCH_RUN}` is not JSON"))?;
    let text = std::fs::read_to_string(dir.join("metrics.jsonl"))
        .map_err(|e| format!("metrics.jsonl: {e}"))?;
    let history = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str::<EpochMetrics>(l)
                .map_err(|e| format!("metrics.jsonl line {}: {e}", i + 1))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let s = |k: &str| info[k].as_str().map(String::from);
    Ok(RunSummary {
        dir: dir.to_path_buf(),
        model: s("model").unwrap_or_else(|| "?".into()),
        best_val_acc: history.iter().map(|m| m.val_acc).fold(0.0, f64::max),
        test_acc: test_accuracy(dir),
        params: info["params"].as_u64().unwrap_or(0),
        history,
        framework: s("framework").unwrap_or_else(|| "PyTorch".into()),
        data: data_label(&info),
        device: s("device"),
        date: s("date"),
        command: s("command"),
    })
}

/// Read a run directory: netc's (its last checkpoint and, if present, `test.json`), or a
/// PyTorch run of `bench/torch_train.py`.
pub fn load(dir: &Path) -> Result<RunSummary, String> {
    if dir.join(TORCH_RUN).exists() {
        return load_torch(dir);
    }
    let c = Checkpoint::load(dir, "last").map_err(|e| e.to_string())?;
    let config = json_file(&dir.join("config.json")).unwrap_or_default();
    let model = config["model"]
        .as_str()
        .map(String::from)
        .unwrap_or_else(|| c.model_file.clone());
    let test_acc = test_accuracy(dir);
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
        framework: "netc".into(),
        data: data_label(&config),
        device: config["device"].as_str().map(String::from),
        date: modified_date(&dir.join("metrics.jsonl")),
        command: config["command"].as_str().map(String::from),
    })
}

fn pct(v: Option<f64>) -> String {
    v.map_or("—".into(), |a| format!("{:.2}%", 100.0 * a))
}

/// The comparison table as aligned text and as Markdown (with the runs' commands listed
/// under it). "Val Accuracy" is the best epoch's; "Test Accuracy" is `test.json`'s.
pub fn tables(runs: &[RunSummary]) -> (String, String) {
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "—".into());
    let mut text = format!(
        "{:<16} {:>12} {:>12} {:>12} {:>8}  {:<16} {:<12} {}\n",
        "Model",
        "Val Accuracy",
        "Test Accuracy",
        "Parameters",
        "Epochs",
        "Framework",
        "Date",
        "Device"
    );
    let mut md = String::from(
        "| Model | Val Accuracy | Test Accuracy | Parameters | Epochs | Framework | Data | Device | Date |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in runs {
        let params = crate::summary::group(r.params);
        let _ = writeln!(
            text,
            "{:<16} {:>12} {:>12} {:>12} {:>8}  {:<16} {:<12} {}",
            r.model,
            pct(Some(r.best_val_acc)),
            pct(r.test_acc),
            params,
            r.history.len(),
            r.framework,
            dash(&r.date),
            dash(&r.device)
        );
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.model,
            pct(Some(r.best_val_acc)),
            pct(r.test_acc),
            params,
            r.history.len(),
            r.framework,
            dash(&r.data),
            dash(&r.device),
            dash(&r.date)
        );
    }
    if runs.iter().any(|r| r.command.is_some()) {
        md.push_str("\nCommands:\n\n");
        for r in runs {
            let _ = writeln!(
                md,
                "- {} ({}): `{}`",
                r.model,
                r.framework,
                dash(&r.command)
            );
        }
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
