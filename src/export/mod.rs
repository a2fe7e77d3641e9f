//! Export of a model's inference graph to other formats (today: ONNX).
//!
//! The exported graph is the *unoptimised* forward graph ([`crate::elab::Elaborated`]'s),
//! so that every node maps to standard ONNX operators and parameters keep their netc names;
//! deployment runtimes fuse on their own.

pub mod onnx;
mod onnx_proto;

pub use onnx::{Batch, ExportError, Options, to_onnx};
