//! The tuning cache: tilings measured on devices, kept in `tune.json` between runs.
//!
//! Keys are a device's identity (adapter, backend, driver: [`super::tune::DeviceFacts::key`])
//! and a kernel's shape ([`TileRequest::key`]); a choice is reused only where the tuner could
//! have made it ([`tiling::check_cached`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::kernels::ConvTiling;
use super::tiling::{self, TileRequest};

/// Version of the cache file, raised when its format changes or when the kernel a tiling
/// selects changes (cached choices were timed on other code); a file with another version is
/// ignored. 2: row tilings select the row kernel for the weight gradient too. 3: row tilings
/// also select row kernels for strided convs (forward, and the input gradient per phase). 4:
/// GPUs also try the kernels staged through workgroup memory (`ConvTiling::shared`, with its
/// slice `depth`).
const CACHE_VERSION: u32 = 4;

#[derive(serde::Serialize, serde::Deserialize)]
struct CacheFile {
    version: u32,
    /// `device key` → (`request key` → tiling).
    devices: BTreeMap<String, BTreeMap<String, ConvTiling>>,
}

/// Tilings measured on devices, persisted as JSON.
///
/// A missing file is an empty cache; an unreadable or corrupt one is ignored with a warning
/// (printed to stderr and kept in [`TuneCache::warning`]) and replaced on the next save, and
/// so is each well-formed entry whose tiling the tuner could not have chosen
/// ([`TuneCache::valid`]): a cache only ever saves time, so it must never stop a run.
#[derive(Debug, Default)]
pub struct TuneCache {
    path: Option<PathBuf>,
    devices: BTreeMap<String, BTreeMap<String, ConvTiling>>,
    warning: Option<String>,
    /// Entries dropped by [`TuneCache::valid`].
    rejected: Vec<String>,
    dirty: bool,
}

impl TuneCache {
    /// `$NETC_CACHE_DIR/tune.json`, else `$XDG_CACHE_HOME/netc/tune.json`, else
    /// `$HOME/.cache/netc/tune.json`; `None` when none of these is set.
    pub fn default_path() -> Option<PathBuf> {
        let var = |name| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        var("NETC_CACHE_DIR")
            .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("netc")))
            .or_else(|| var("HOME").map(|d| d.join(".cache").join("netc")))
            .map(|d| d.join("tune.json"))
    }

    /// The cache at [`TuneCache::default_path`] (in memory only when there is no such path).
    pub fn load_default() -> Self {
        match Self::default_path() {
            Some(path) => Self::load(&path),
            None => Self::default(),
        }
    }

    /// A cache backed by `path`, read now if it exists.
    pub fn load(path: &Path) -> Self {
        let mut cache = Self {
            path: Some(path.to_path_buf()),
            ..Self::default()
        };
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return cache,
            Err(e) => {
                cache.warn(format!("cannot read {}: {e}", path.display()));
                return cache;
            }
        };
        match serde_json::from_str::<CacheFile>(&text) {
            Ok(f) if f.version == CACHE_VERSION => cache.devices = f.devices,
            Ok(f) => cache.warn(format!(
                "{} has format version {}, expected {CACHE_VERSION}",
                path.display(),
                f.version
            )),
            Err(e) => cache.warn(format!(
                "{} is not a valid tuning cache: {e}",
                path.display()
            )),
        }
        cache
    }

    fn warn(&mut self, message: String) {
        eprintln!("warning: ignoring the tuning cache: {message}");
        self.warning = Some(message);
    }

    /// Why the file was ignored, if it was.
    pub fn warning(&self) -> Option<&str> {
        self.warning.as_deref()
    }

    /// Where the cache is saved (`None`: memory only).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Number of cached choices over all devices.
    pub fn len(&self) -> usize {
        self.devices.values().map(BTreeMap::len).sum()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The cached tiling for `request` (a [`TileRequest::key`]) on `device`, as stored.
    pub fn get(&self, device: &str, request: &str) -> Option<ConvTiling> {
        self.devices.get(device)?.get(request).copied()
    }

    /// The cached tiling for `request` on `device` if it is one the tuner could have chosen
    /// there ([`tiling::check_cached`]); an entry that is not (a hand-edited or foreign
    /// file: its kernel would fail to generate or to run) is dropped with a warning naming
    /// the cache file, so the kernel is timed again and the entry replaced on save.
    /// `software`: the device is a CPU driver ([`tiling::candidates`] differ).
    pub fn valid(
        &mut self,
        device: &str,
        request: &TileRequest,
        software: bool,
    ) -> Option<ConvTiling> {
        let key = request.key();
        let tiling = self.get(device, &key)?;
        match tiling::check_cached(request, &tiling, software) {
            Ok(()) => Some(tiling),
            Err(why) => {
                let place = self
                    .path
                    .as_ref()
                    .map_or_else(|| "memory".to_string(), |p| p.display().to_string());
                let message = format!("entry `{key}` in {place}: {why}");
                eprintln!("warning: ignoring a tuning cache {message}; timing the kernel again");
                self.rejected.push(message);
                if let Some(entries) = self.devices.get_mut(device) {
                    entries.remove(&key);
                }
                self.dirty = true;
                None
            }
        }
    }

    /// Entries [`TuneCache::valid`] dropped, each with why.
    pub fn rejected(&self) -> &[String] {
        &self.rejected
    }

    /// Records a choice (saved by [`TuneCache::save`]).
    pub fn insert(&mut self, device: &str, request: &str, tiling: ConvTiling) {
        self.devices
            .entry(device.to_string())
            .or_default()
            .insert(request.to_string(), tiling);
        self.dirty = true;
    }

    /// Writes the cache if anything changed: to a temporary file first, then renamed over the
    /// old one, so a crash or a concurrent reader never sees half a file.
    pub fn save(&mut self) -> std::io::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        if !self.dirty {
            return Ok(());
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = CacheFile {
            version: CACHE_VERSION,
            devices: self.devices.clone(),
        };
        let text = serde_json::to_string_pretty(&file).map_err(std::io::Error::other)?;
        let tmp = path.with_extension(format!("json.{}.tmp", std::process::id()));
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, path)?;
        self.dirty = false;
        Ok(())
    }
}
