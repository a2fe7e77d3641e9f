//! The integration tests, built as one test binary: one crate per file would link wgpu and
//! naga into ~30 binaries (~800 MB of disk, most of CI's build time). Each module is one
//! test file; run one with `cargo test --test integration <module>::`.

mod common;
mod gpu_common;

mod cli_data;
mod cli_gpu;
mod cli_mixed;
mod cli_reliability;
mod cli_train;
mod cli_train_faults;
mod cli_train_safety;
mod codegen_kernels;
mod codegen_train_kernels;
mod diagnostics;
mod fusion;
mod fuzz;
mod gpu_bias_grad;
mod gpu_fusion;
mod gpu_mixed_precision;
mod gpu_models;
mod gpu_plan;
mod gpu_runtime;
mod gpu_small_network;
mod gpu_torch_training;
mod gpu_training;
mod gpu_tune;
mod grad_check;
mod import_malformed;
mod import_torch;
mod ir;
mod memory_plan;
mod models;
mod onnx_export;
mod ops;
mod optimizer_fusion;
mod parser;
mod plan;
mod report_torch;
mod snapshots;
mod tidy;
mod torch_parity;
mod torch_training;
mod training_graph;
mod transforms;
mod tune_cache;
