//! Tests by op family, one file per `src/ops/<family>/`: each iterates its family's table, so a
//! new member (an activation added to `src/ops/activation/table.rs`) is tested with no new test.
//! `harness` holds what the families share.

mod activation;
pub mod harness;
