//! netc — a declarative model-graph compiler for convolutional networks.
//!
//! The pipeline, one module per stage (see ARCHITECTURE.md):
//! `syntax` (text → AST) → `elab` (AST → IR graph with shapes) → `ir` passes →
//! code generation and runtime (later stages). [`pipeline`] strings the stages
//! together; [`diag`] is the diagnostics every stage reports through.

// A `Diagnostic` is large (spans, labels, notes) and travels in `Err`; errors are the
// cold path of a compiler, so boxing it everywhere would buy nothing measurable.
#![allow(clippy::result_large_err)]

pub mod atomic_file;
pub mod autodiff;
pub mod codegen;
pub mod data;
pub mod diag;
pub mod elab;
pub mod export;
pub mod import;
pub mod ir;
pub mod ops;
pub mod params;
pub mod passes;
pub mod pipeline;
pub mod predict;
pub mod reference;
pub mod runtime;
pub mod summary;
pub mod syntax;
pub mod tensor;
pub mod train;
