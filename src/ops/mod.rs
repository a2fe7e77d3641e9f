//! Op families: everything netc knows about one kind of op, in one folder.
//!
//! [`crate::ir::Op`] still lists every op (the one enum the graph, the passes and the lowering
//! match on), but a family's facts live in `src/ops/<family>/`, and the rest of the compiler asks
//! the family instead of keeping its own copy:
//!
//! | file | what it holds |
//! |---|---|
//! | `mod.rs` | the family's type (what the IR stores) and the table of its members |
//! | `table.rs` | one entry per member: every fact about it, in one place |
//! | `shape.rs` | the shape rules [`crate::ir::Op::infer`] delegates to |
//! | `reference.rs` | the CPU reference (f64), the oracle of every kernel and gradient |
//! | `autodiff.rs` | the backward rule `autodiff::rules` delegates to |
//! | `kernel.rs` and `*.wgsl` | the lowering: WGSL templates and the generators that render them (a family may keep its gradients' in `grad_kernel.rs`, or its training ops' in `train_kernel.rs`) |
//! | `onnx.rs` | the export to ONNX operators |
//!
//! Tests follow the same layout: `tests/ops/<family>.rs` checks every member of the table (CPU
//! reference against the GPU kernels, gradients against finite differences, PyTorch parity from
//! `tests/ops/<family>/` fixtures) by iterating the table, so a new member is tested without a
//! new test.
//!
//! **Adding a member** (e.g. an activation): add its entry to the family's `table.rs` (and the
//! functions the entry names, in the same folder), regenerate the family's PyTorch fixture
//! (`tools/make_op_fixtures.py`), and list it in README. Nothing outside the folder changes: the
//! elaborator's builtins, the fusion pass, ONNX export and the init gain all read the table.
//!
//! Families so far: [`activation`], [`pool`] (no table: its members are three ops, each with its
//! own window rule and kernel), [`conv`] (no table: one op and its two gradients, with three
//! kernel variants a tiling chooses between), [`norm`] (batch norm and its training ops; no
//! table either), [`elementwise`] (add, concat and its gradient), [`linear`] (linear and
//! flatten), [`loss`] (softmax, the cross-entropy loss, its gradient and the count of correct
//! predictions), [`optim`] (training ops only: instead of a backward rule, `updates.rs` adds
//! them to the training graph; the loss scaler's kernels are in `loss_scale.rs`).

pub mod activation;
pub mod conv;
pub mod elementwise;
pub mod linear;
pub mod loss;
pub mod norm;
pub mod optim;
pub mod pool;
