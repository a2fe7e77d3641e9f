//! `.pt` and Lightning `.ckpt` files: the zip archives `torch.save` writes.
//!
//! An archive holds `<name>/data.pkl` (the pickled object, read by [`super::pickle`]),
//! `<name>/data/<key>` (each storage's raw little-endian bytes) and `<name>/byteorder`.
//! The object is either a state dict (`OrderedDict` of tensors), or a dict that holds one
//! under `"state_dict"` (Lightning's checkpoints, beside `"epoch"`, `"optimizer_states"`
//! and the like) or `"model_state_dict"` / `"model"` (common hand-written checkpoints).

use super::ImportError;
use super::pickle::{self, TensorRef, Value};
use super::state_dict::{SourceTensor, StateDict, to_f32};
use std::io::{Cursor, Read};

/// Keys under which checkpoints commonly keep the model's state dict.
const NESTED_KEYS: [&str; 3] = ["state_dict", "model_state_dict", "model"];

/// Read a `torch.save` archive's state dict.
pub fn read(bytes: &[u8], path: &str) -> Result<StateDict, ImportError> {
    let format = |message: String| ImportError::Format {
        path: path.into(),
        message,
    };
    if bytes.starts_with(&[0x80, 0x02, 0x8a, 0x0a]) {
        return Err(format(
            "this is PyTorch's legacy (pre-1.6) serialization, not a zip archive; load it in PyTorch and save it again with `torch.save(sd, path)`, or as safetensors".into(),
        ));
    }
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| {
        format(format!(
            "not a readable torch.save zip archive ({e}); is the file truncated?"
        ))
    })?;
    let pkl = (0..zip.len())
        .filter_map(|i| {
            zip.name_for_index(i)
                .and_then(|n| n.ok())
                .map(|n| n.into_owned())
        })
        .find(|n| n.ends_with("data.pkl") && n.matches('/').count() == 1)
        .ok_or_else(|| {
            format("the archive has no `<name>/data.pkl`: it was not written by torch.save".into())
        })?;
    let prefix = pkl.trim_end_matches("data.pkl").to_string();
    if let Ok(order) = entry(&mut zip, &format!("{prefix}byteorder"), path)
        && order.as_slice() != b"little"
    {
        return Err(format(format!(
            "the storages are {} endian; netc reads little-endian files",
            String::from_utf8_lossy(&order)
        )));
    }
    let root = pickle::load(&entry(&mut zip, &pkl, path)?).map_err(|e| ImportError::Pickle {
        path: path.into(),
        source: e,
    })?;
    let dict = state_dict_of(root).ok_or_else(|| {
        format(
            "the pickled object is neither a state dict (a dict of tensors) nor a checkpoint holding one under \"state_dict\", \"model_state_dict\" or \"model\"".into(),
        )
    })?;
    let mut tensors = Vec::new();
    for (key, value) in dict {
        let Value::Str(name) = key else {
            return Err(format("a state-dict key is not a string".into()));
        };
        let Value::Tensor(t) = value else {
            return Err(format(format!("`{name}` is not a tensor")));
        };
        let data = materialise(&mut zip, &prefix, &t, &name, path)?;
        tensors.push(SourceTensor {
            name,
            dims: t.size.clone(),
            data,
        });
    }
    Ok(StateDict {
        tensors,
        definition_order: true,
    })
}

/// The state dict in a pickled object: the object itself when every value is a tensor,
/// else the first of [`NESTED_KEYS`] that holds one.
fn state_dict_of(v: Value) -> Option<Vec<(Value, Value)>> {
    let Value::Dict(entries) = v else {
        return None;
    };
    if !entries.is_empty() && entries.iter().all(|(_, v)| matches!(v, Value::Tensor(_))) {
        return Some(entries);
    }
    for key in NESTED_KEYS {
        let found = entries
            .iter()
            .find(|(k, _)| matches!(k, Value::Str(s) if s == key))
            .and_then(|(_, v)| state_dict_of(v.clone()));
        if found.is_some() {
            return found;
        }
    }
    None
}

fn entry(
    zip: &mut zip::ZipArchive<Cursor<&[u8]>>,
    name: &str,
    path: &str,
) -> Result<Vec<u8>, ImportError> {
    let format = |message: String| ImportError::Format {
        path: path.into(),
        message,
    };
    let mut f = zip
        .by_name(name)
        .map_err(|e| format(format!("archive entry `{name}`: {e}")))?;
    let mut out = Vec::new();
    f.read_to_end(&mut out).map_err(|e| {
        format(format!(
            "archive entry `{name}` cannot be read ({e}); is the file truncated?"
        ))
    })?;
    Ok(out)
}

/// The tensor's elements in row-major order, following its strides into the storage.
fn materialise(
    zip: &mut zip::ZipArchive<Cursor<&[u8]>>,
    prefix: &str,
    t: &TensorRef,
    name: &str,
    path: &str,
) -> Result<Result<Vec<f32>, &'static str>, ImportError> {
    let bytes = entry(zip, &format!("{prefix}data/{}", t.key), path)?;
    let elem = t.dtype.size();
    let bad = |message: String| ImportError::Format {
        path: path.into(),
        message: format!("tensor `{name}`: {message}"),
    };
    let stored = bytes.len() / elem;
    if bytes.len() % elem != 0 || stored < t.storage_numel {
        return Err(bad(format!(
            "storage `data/{}` holds {} bytes, fewer than its {} {} elements (truncated?)",
            t.key,
            bytes.len(),
            t.storage_numel,
            t.dtype.name()
        )));
    }
    // The last element the view reaches must lie inside the storage.
    let numel: usize = t.size.iter().product();
    if numel > 0 {
        let last = t
            .size
            .iter()
            .zip(&t.stride)
            .try_fold(t.offset, |acc, (&s, &st)| {
                acc.checked_add((s - 1).checked_mul(st)?)
            });
        if last.is_none_or(|l| l >= stored) {
            return Err(bad(format!(
                "its view (offset {}, size {:?}, stride {:?}) reaches past its storage of {stored} elements",
                t.offset, t.size, t.stride
            )));
        }
    }
    let mut picked = Vec::with_capacity(numel * elem);
    let mut index = vec![0usize; t.size.len()];
    for _ in 0..numel {
        let at = t.offset
            + index
                .iter()
                .zip(&t.stride)
                .map(|(i, s)| i * s)
                .sum::<usize>();
        picked.extend_from_slice(&bytes[at * elem..(at + 1) * elem]);
        // Row-major increment of the multi-index.
        for d in (0..index.len()).rev() {
            index[d] += 1;
            if index[d] < t.size[d] {
                break;
            }
            index[d] = 0;
        }
    }
    Ok(to_f32(t.dtype, &picked))
}
