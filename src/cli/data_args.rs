//! The data-loading flags shared by `netc train`, `test`, `eval` and `bench-data`
//! (`--workers`, `--cache`/`--no-cache`, `--max-memory`, `--skip-bad-images`), and
//! opening a dataset with them: list, limit, scan (bad files, RGB conversions, cache).

use netc::data::loader::Queue;
use netc::data::scan::{self, CachePolicy};
use netc::data::{self, Source, Split};
use std::path::{Path, PathBuf};

/// The decoded-cache budget when neither `--cache`, `--no-cache` nor `--max-memory` says
/// otherwise: datasets that decode to at most this are kept in memory.
pub const DEFAULT_CACHE_BUDGET: usize = 2 << 30;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct DataArgs {
    /// Loader threads that decode, transform and batch images (default: the cores).
    #[arg(long, value_parser = super::values::positive_count)]
    pub workers: Option<usize>,
    /// Keep every decoded image in memory, whatever the dataset's size (default: only
    /// datasets that decode to at most 2 GiB, or half of --max-memory).
    #[arg(long, conflicts_with = "no_cache")]
    pub cache: bool,
    /// Decode every batch from disk, even for a small dataset.
    #[arg(long)]
    pub no_cache: bool,
    /// Bound the data pipeline's memory: the decoded cache (half of it) and the queue of
    /// batches ahead of the device. Bytes, or with K, M or G (powers of 1024); also
    /// $NETC_MAX_MEMORY.
    #[arg(long, value_parser = parse_bytes, value_name = "BYTES")]
    pub max_memory: Option<usize>,
    /// Leave out images that cannot be read or decoded (logged and counted in
    /// metrics.jsonl) instead of stopping before the first step.
    #[arg(long)]
    pub skip_bad_images: bool,
}

/// `123`, `64K`, `512M`, `2G` (powers of 1024).
pub fn parse_bytes(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 1usize << 10),
        Some((i, 'm' | 'M')) => (&t[..i], 1 << 20),
        Some((i, 'g' | 'G')) => (&t[..i], 1 << 30),
        _ => (t, 1),
    };
    match num.trim().parse::<usize>() {
        Ok(n) if n > 0 => n
            .checked_mul(mult)
            .ok_or_else(|| format!("`{s}` is too large")),
        _ => Err(format!(
            "expected a positive size in bytes (e.g. 64M, 2G), got `{s}`"
        )),
    }
}

/// A dataset opened with these flags.
pub struct Opened {
    pub train: Source,
    pub val: Option<Source>,
    pub bad: Vec<(PathBuf, String)>,
    pub converted: usize,
}

impl DataArgs {
    /// `--max-memory`, else $NETC_MAX_MEMORY.
    pub fn max_memory(&self) -> Result<Option<usize>, String> {
        match (self.max_memory, std::env::var("NETC_MAX_MEMORY")) {
            (Some(m), _) => Ok(Some(m)),
            (None, Ok(v)) => parse_bytes(&v)
                .map(Some)
                .map_err(|e| format!("NETC_MAX_MEMORY: {e}")),
            (None, Err(_)) => Ok(None),
        }
    }

    fn policy(&self) -> Result<CachePolicy, String> {
        Ok(if self.cache {
            CachePolicy::Always
        } else if self.no_cache {
            CachePolicy::Never
        } else {
            CachePolicy::Auto {
                budget: self.max_memory()?.map_or(DEFAULT_CACHE_BUDGET, |m| m / 2),
            }
        })
    }

    /// The loader's queue for batches of `batch` images of `h` x `w`.
    pub fn queue(&self, batch: usize, (h, w): (usize, usize)) -> Result<Queue, String> {
        let bytes = batch * 3 * h * w * 4;
        // The queue may hold a quarter of the cap (the cache may hold half).
        Ok(Queue::new(
            self.workers,
            bytes,
            self.max_memory()?.map(|m| m / 4),
        ))
    }

    pub fn workers(&self) -> usize {
        self.workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    /// Open `dir` (`split` as `data::open`), keep `limit` images of each part spread
    /// evenly, and scan image files (every file decoded once, the cache filled).
    pub fn open(&self, dir: &Path, split: Split, limit: Option<usize>) -> Result<Opened, String> {
        let splits = data::open(dir, split).map_err(|e| e.to_string())?;
        let policy = self.policy()?;
        let mut bad = Vec::new();
        let mut converted = 0;
        let mut prepare = |s: Source| -> Result<Source, String> {
            let s = match limit.filter(|&l| l > 0 && l < s.len()) {
                Some(l) => s.subset(&(0..l).map(|i| i * s.len() / l).collect::<Vec<_>>()),
                None => s,
            };
            let scanned = scan::scan_source(s, self.workers(), policy, self.skip_bad_images)
                .map_err(|e| e.to_string())?;
            bad.extend(scanned.bad);
            converted += scanned.converted;
            Ok(scanned.source)
        };
        let train = prepare(splits.train)?;
        let val = splits.val.map(&mut prepare).transpose()?;
        Ok(Opened {
            train,
            val,
            bad,
            converted,
        })
    }
}

impl Opened {
    /// The lines the run's log gets: how the data is held, what was left out or converted.
    pub fn log_lines(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "data: {} images {}{}",
            self.train.len(),
            self.train.describe(),
            match &self.val {
                Some(v) => format!("; its own validation set of {} images", v.len()),
                None => String::new(),
            }
        )];
        for (path, message) in &self.bad {
            lines.push(format!(
                "data: skipped unreadable image `{}`: {message}",
                path.display()
            ));
        }
        if self.converted > 0 {
            lines.push(format!(
                "data: {} images converted to RGB (grayscale or with alpha)",
                self.converted
            ));
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn sizes_take_binary_suffixes() {
        assert_eq!(parse_bytes("123"), Ok(123));
        assert_eq!(parse_bytes("64K"), Ok(64 << 10));
        assert_eq!(parse_bytes("3m"), Ok(3 << 20));
        assert_eq!(parse_bytes("2G"), Ok(2 << 30));
        for bad in ["0", "", "M", "-1", "1.5G", "x"] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
    }
}
