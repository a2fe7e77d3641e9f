//! The one IR: a typed dataflow graph of tensor operations.
//!
//! # Shape of the IR
//! A model is a [`Graph`]: a petgraph `StableGraph` whose nodes are [`Op`]s and whose
//! edges carry the [`TensorType`] of the value they transport. Every node produces one
//! value. Parameters and BN running statistics are explicit [`Op::Param`] leaves, named
//! after the source structure (`res_block.3.conv1.weight`); these names are the
//! checkpoint keys, so the elaborator keeps them stable and readable.
//!
//! # Where things live
//! * [`ops`] — every op: PyTorch-equivalent semantics, operands, shape rule, MACs.
//! * [`types`] — tensor types with a symbolic batch dimension.
//! * [`size`] — the bound on tensor sizes, checked wherever a type is made.
//! * [`graph`] — the graph and its typed handles.
//! * [`verify`] — the invariants every pass must preserve.
//! * [`print`] and [`dot`] — the text and Graphviz forms.
//!
//! # Architecture invariant
//! Shape rules exist once, in [`Op::infer`]. The elaborator calls it while building
//! (so errors point at the user's source), and the verifier calls it again over the
//! finished graph (so no later pass can leave an ill-typed node behind).

pub mod dot;
pub mod graph;
pub mod ops;
pub mod print;
pub mod size;
pub mod train_ops;
pub mod types;
pub mod verify;

pub use graph::{BlockCall, Edge, Graph, Node, NodeId, Site};
pub use ops::{Activation, Op, ParamRole, ShapeError, Window};
pub use train_ops::TrainOp;
pub use types::{DType, Precision, TensorType};

/// The checkpoint name of the state a mixed-precision step keeps beside its parameters:
/// dynamic loss scaling's `[scale, clean steps, found-non-finite flag, skipped steps]`
/// (`ops::optim::loss_scale`).
pub const LOSS_SCALER: &str = "loss_scaler";
pub use verify::{Verified, VerifyError, verify};
