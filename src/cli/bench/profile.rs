//! `netc bench --profile`: where a step's GPU time goes.
//!
//! Each profiled run gives every dispatch's time (GPU timestamps between dispatches, so a
//! figure includes the barrier before its dispatch). Per dispatch the median over the runs is
//! kept; the report sums them by kernel family (the kernel name without its shape, so every
//! `batch_stats_partial_*` lands in one row) and lists the costliest kernels by full name.

use serde::Serialize;
use std::collections::HashMap;
use std::fmt;

/// Kernels listed by full name in a report.
const TOP_KERNELS: usize = 25;

/// GPU time of one group of dispatches in one step.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Row {
    /// Kernel family or kernel name.
    pub kernel: String,
    /// Dispatches per step in this group.
    pub dispatches: usize,
    /// Milliseconds per step.
    pub ms: f64,
}

/// Where one step's GPU time goes.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Profile {
    /// Sum of every dispatch's median time, in milliseconds.
    pub gpu_ms: f64,
    /// By kernel family, costliest first.
    pub families: Vec<Row>,
    /// The costliest kernels by full name.
    pub kernels: Vec<Row>,
}

/// The kernel name without its shape segments: `conv2d_3x3_s1_p1_g1_128x16x32x32_to16_rows`
/// becomes `conv2d_3x3_s1_p1_g1_rows`, `add_relu_2097152` becomes `add_relu`,
/// `sgd_update_x16_2320` becomes `sgd_update`.
pub fn family(name: &str) -> String {
    let is_shape = |seg: &str| {
        // `to16` (output channels) and `x4` (parameters in a batched update) are sizes too.
        let digits = seg.trim_start_matches("to").trim_start_matches('x');
        !digits.is_empty()
            && digits.starts_with(|c: char| c.is_ascii_digit())
            && (digits.chars().all(|c| c.is_ascii_digit()) || digits.matches('x').count() >= 2)
    };
    name.split('_')
        .filter(|seg| !is_shape(seg))
        .collect::<Vec<_>>()
        .join("_")
}

impl Profile {
    /// Builds a report from runs of the same plan: one `(kernel name, seconds)` per dispatch,
    /// in dispatch order, per run.
    pub fn from_samples(samples: &[Vec<(&str, f64)>]) -> Self {
        let Some(first) = samples.first() else {
            return Self {
                gpu_ms: 0.0,
                families: Vec::new(),
                kernels: Vec::new(),
            };
        };
        let medians: Vec<(&str, f64)> = first
            .iter()
            .enumerate()
            .map(|(i, &(name, _))| {
                let mut t: Vec<f64> = samples.iter().map(|s| s[i].1).collect();
                t.sort_by(f64::total_cmp);
                (name, t[t.len() / 2] * 1e3)
            })
            .collect();
        let group = |key: &dyn Fn(&str) -> String| {
            let mut rows: HashMap<String, Row> = HashMap::new();
            for &(name, ms) in &medians {
                let k = key(name);
                let row = rows.entry(k.clone()).or_insert(Row {
                    kernel: k,
                    dispatches: 0,
                    ms: 0.0,
                });
                row.dispatches += 1;
                row.ms += ms;
            }
            let mut rows: Vec<Row> = rows.into_values().collect();
            rows.sort_by(|a, b| b.ms.total_cmp(&a.ms).then(a.kernel.cmp(&b.kernel)));
            rows
        };
        let mut kernels = group(&|n| n.to_string());
        kernels.truncate(TOP_KERNELS);
        Self {
            gpu_ms: medians.iter().map(|(_, ms)| ms).sum(),
            families: group(&family),
            kernels,
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "GPU time per step: {:.3} ms (sum of dispatches)",
            self.gpu_ms
        )?;
        for (title, rows) in [
            ("by kernel family", &self.families),
            ("costliest kernels", &self.kernels),
        ] {
            writeln!(f, "{title}:")?;
            for r in rows {
                writeln!(
                    f,
                    "  {:>9.3} ms {:>5.1}% {:>5}x  {}",
                    r.ms,
                    100.0 * r.ms / self.gpu_ms.max(f64::MIN_POSITIVE),
                    r.dispatches,
                    r.kernel
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_drops_shape_segments() {
        assert_eq!(
            family("conv2d_3x3_s1_p1_g1_128x16x32x32_to16_rows"),
            "conv2d_3x3_s1_p1_g1_rows"
        );
        assert_eq!(family("add_relu_2097152"), "add_relu");
        assert_eq!(
            family("batch_stats_partial_128x16x32x32"),
            "batch_stats_partial"
        );
        assert_eq!(family("running_update_16_row0"), "running_update_row0");
        assert_eq!(family("sgd_update_x16_2320"), "sgd_update");
        assert_eq!(family("conv2d_3x3_s1_p1_g1"), "conv2d_3x3_s1_p1_g1");
    }

    #[test]
    fn medians_are_summed_by_family_and_kernel() {
        let run = |t: f64| {
            vec![
                ("add_relu_8", 1e-3 * t),
                ("add_relu_16", 2e-3),
                ("conv2d_3x3_s1_8x1x4x4_to2", 4e-3),
            ]
        };
        let p = Profile::from_samples(&[run(1.0), run(3.0), run(2.0)]);
        assert!((p.gpu_ms - 8.0).abs() < 1e-9);
        assert_eq!(p.families[0].kernel, "add_relu");
        assert_eq!(p.families[0].dispatches, 2);
        assert!((p.families[0].ms - 4.0).abs() < 1e-9);
        assert_eq!(p.kernels[0].kernel, "conv2d_3x3_s1_8x1x4x4_to2");
        assert_eq!(p.kernels.len(), 3);
    }
}
