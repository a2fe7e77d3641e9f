//! The reverse direction: tensors written as a `torch.save` archive, which `torch.load`
//! (with `weights_only=True`) reads back as an `OrderedDict` of f32 tensors.
//!
//! The pickle uses only what [`super::pickle`] reads — `collections.OrderedDict`,
//! `torch._utils._rebuild_tensor_v2` and `torch.FloatStorage` — so netc → `.pt` → netc is
//! a round trip of bits. Each tensor is contiguous in its own storage (`data/<i>`), stored
//! uncompressed at 64-byte alignment as torch.save does.

use crate::tensor::Tensor;
use std::io::{Cursor, Write};

/// The archive's top folder (torch.load accepts any name).
const ROOT: &str = "archive";

/// `torch.save(OrderedDict(tensors), path)`'s bytes.
pub fn to_bytes(tensors: &[(String, &Tensor)]) -> Result<Vec<u8>, zip::result::ZipError> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .with_alignment(64);
    zip.start_file(format!("{ROOT}/data.pkl"), opts)?;
    zip.write_all(&pickle(tensors))?;
    zip.start_file(format!("{ROOT}/byteorder"), opts)?;
    zip.write_all(b"little")?;
    for (i, (_, t)) in tensors.iter().enumerate() {
        zip.start_file(format!("{ROOT}/data/{i}"), opts)?;
        let bytes: Vec<u8> = t.data.iter().flat_map(|v| v.to_le_bytes()).collect();
        zip.write_all(&bytes)?;
    }
    zip.start_file(format!("{ROOT}/version"), opts)?;
    zip.write_all(b"3\n")?;
    Ok(zip.finish()?.into_inner())
}

/// Protocol-2 pickle of the `OrderedDict` of tensors whose storages are `data/<i>`.
fn pickle(tensors: &[(String, &Tensor)]) -> Vec<u8> {
    let mut p = vec![0x80, 2];
    global(&mut p, "collections", "OrderedDict");
    p.extend_from_slice(b")R(");
    for (i, (name, t)) in tensors.iter().enumerate() {
        string(&mut p, name);
        global(&mut p, "torch._utils", "_rebuild_tensor_v2");
        p.extend_from_slice(b"((");
        string(&mut p, "storage");
        global(&mut p, "torch", "FloatStorage");
        string(&mut p, &i.to_string());
        string(&mut p, "cpu");
        int(&mut p, t.data.len());
        p.extend_from_slice(b"tQ"); // TUPLE, BINPERSID
        int(&mut p, 0); // storage offset
        p.push(b'(');
        for &d in &t.dims {
            int(&mut p, d);
        }
        p.push(b't');
        p.push(b'(');
        let mut stride = 1;
        let mut strides = Vec::with_capacity(t.dims.len());
        for &d in t.dims.iter().rev() {
            strides.push(stride);
            stride *= d;
        }
        for s in strides.into_iter().rev() {
            int(&mut p, s);
        }
        p.push(b't');
        p.push(0x89); // requires_grad = False
        global(&mut p, "collections", "OrderedDict"); // backward hooks: OrderedDict()
        p.extend_from_slice(b")R");
        p.extend_from_slice(b"tR"); // the arguments' TUPLE, REDUCE
    }
    p.extend_from_slice(b"u."); // SETITEMS, STOP
    p
}

fn global(p: &mut Vec<u8>, module: &str, name: &str) {
    p.push(b'c');
    p.extend_from_slice(module.as_bytes());
    p.push(b'\n');
    p.extend_from_slice(name.as_bytes());
    p.push(b'\n');
}

fn string(p: &mut Vec<u8>, s: &str) {
    p.push(b'X');
    p.extend_from_slice(&(s.len() as u32).to_le_bytes());
    p.extend_from_slice(s.as_bytes());
}

/// BININT for what fits in an i32, LONG1 beyond.
fn int(p: &mut Vec<u8>, v: usize) {
    match i32::try_from(v) {
        Ok(v) => {
            p.push(b'J');
            p.extend_from_slice(&v.to_le_bytes());
        }
        Err(_) => {
            p.extend_from_slice(&[0x8a, 8]);
            p.extend_from_slice(&(v as i64).to_le_bytes());
        }
    }
}
