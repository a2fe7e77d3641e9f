//! `--map names.json`: explicit PyTorch → netc names, for what structure cannot decide.
//!
//! The file is one JSON object. Each key is a PyTorch tensor (`"fc.weight"`) or module
//! (`"inception_blocks.3.conv_1x1.0"`, all its tensors by suffix); each value is the netc
//! parameter or layer it fills (`"linear.weight"`, `"inception.3.b1x1.conv"`), or `null` to
//! leave it out (a head the netc model does not have). Entries not named are matched by
//! structure as usual.
//!
//! ```json
//! { "inception_blocks.3.conv_1x1.0": "inception.3.b1x1.conv",
//!   "aux.weight": null }
//! ```

use super::ImportError;
use super::state_dict::SourceTensor;
use std::collections::HashSet;
use std::path::Path;

/// A parsed map file (empty when no `--map` was given).
#[derive(Clone, Debug, Default)]
pub struct MapFile {
    pub path: String,
    pub entries: Vec<(String, Option<String>)>,
}

impl MapFile {
    pub fn load(path: &Path) -> Result<MapFile, ImportError> {
        let shown = path.display().to_string();
        let fail = |message: String| ImportError::Map {
            path: shown.clone(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|source| ImportError::Read {
            path: shown.clone(),
            source,
        })?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| fail(format!("not JSON: {e}")))?;
        let serde_json::Value::Object(obj) = json else {
            return Err(fail(
                "must be one JSON object of \"pytorch name\": \"netc name\" (or null)".into(),
            ));
        };
        let mut entries = Vec::new();
        for (k, v) in obj {
            let v = match v {
                serde_json::Value::String(s) => Some(s),
                serde_json::Value::Null => None,
                other => {
                    return Err(fail(format!(
                        "the value of \"{k}\" is {other}; give a netc name or null"
                    )));
                }
            };
            entries.push((k, v));
        }
        Ok(MapFile {
            path: shown,
            entries,
        })
    }

    /// Expand module entries to tensors: (PyTorch tensor, netc parameter or `None`).
    pub fn resolve(
        &self,
        tensors: &[SourceTensor],
        params: &[(String, Vec<usize>)],
        file: &str,
    ) -> Result<Vec<(String, Option<String>)>, ImportError> {
        let fail = |message: String| ImportError::Map {
            path: self.path.clone(),
            message,
        };
        let netc: HashSet<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
        let mut out: Vec<(String, Option<String>)> = Vec::new();
        for (key, value) in &self.entries {
            let exact = tensors.iter().find(|t| &t.name == key);
            let members: Vec<&SourceTensor> = match exact {
                Some(t) => vec![t],
                // A module's tensors, but for BN's step counter, which is never imported.
                None => tensors
                    .iter()
                    .filter(|t| {
                        t.name
                            .rsplit_once('.')
                            .is_some_and(|(m, s)| m == key && s != "num_batches_tracked")
                    })
                    .collect(),
            };
            if members.is_empty() {
                return Err(fail(format!(
                    "\"{key}\" is neither a tensor nor a module of `{file}`"
                )));
            }
            for t in members {
                let target = match (value, exact.is_some()) {
                    (None, _) => None,
                    (Some(v), true) => Some(v.clone()),
                    (Some(v), false) => {
                        let suffix = t.name.rsplit_once('.').map_or("", |(_, s)| s);
                        Some(format!("{v}.{suffix}"))
                    }
                };
                if let Some(n) = &target {
                    if !netc.contains(n.as_str()) {
                        return Err(fail(format!(
                            "\"{key}\" maps `{}` to `{n}`, which is not a parameter of the model (`netc compile FILE --emit ir` lists them)",
                            t.name
                        )));
                    }
                    if let Some((other, _)) = out.iter().find(|(_, o)| o.as_ref() == Some(n)) {
                        return Err(fail(format!(
                            "both `{other}` and `{}` map to `{n}`",
                            t.name
                        )));
                    }
                }
                if out.iter().any(|(o, _)| o == &t.name) {
                    return Err(fail(format!("`{}` is mapped twice", t.name)));
                }
                out.push((t.name.clone(), target));
            }
        }
        Ok(out)
    }
}
