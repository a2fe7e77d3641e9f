//! The official CIFAR-10 binary release: 3073-byte records (label, then 1024 bytes
//! each of R, G and B, row-major), class names in `batches.meta.txt`.

use super::{DataError, Dataset, Split};
use std::path::Path;

const RECORD: usize = 1 + 3 * 32 * 32;

pub fn is_cifar_bin(dir: &Path) -> bool {
    dir.join("data_batch_1.bin").is_file() || dir.join("test_batch.bin").is_file()
}

pub fn load(dir: &Path, split: Split) -> Result<Dataset, DataError> {
    let files: Vec<String> = match split {
        Split::Train => (1..=5).map(|i| format!("data_batch_{i}.bin")).collect(),
        Split::Test => vec!["test_batch.bin".to_string()],
    };
    let meta = dir.join("batches.meta.txt");
    let classes: Vec<String> = match std::fs::read_to_string(&meta) {
        Ok(text) => text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect(),
        // The release always has it; fall back to CIFAR-10's documented order.
        Err(_) => super::CIFAR10_CLASSES.map(String::from).to_vec(),
    };
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for name in files {
        let path = dir.join(&name);
        let bytes = std::fs::read(&path).map_err(|e| DataError::Io {
            path: path.clone(),
            message: e.to_string(),
        })?;
        if bytes.is_empty() || bytes.len() % RECORD != 0 {
            return Err(DataError::Truncated {
                path,
                len: bytes.len(),
                record: RECORD,
            });
        }
        for rec in bytes.chunks_exact(RECORD) {
            if rec[0] as usize >= classes.len() {
                return Err(DataError::Label {
                    path,
                    label: rec[0],
                    classes: classes.len(),
                });
            }
            labels.push(rec[0] as u32);
            pixels.extend_from_slice(&rec[1..]);
        }
    }
    Ok(Dataset {
        classes,
        shape: (3, 32, 32),
        pixels,
        labels,
    })
}
