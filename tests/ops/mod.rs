//! Tests by op family, one file per `src/ops/<family>/`: a family with a table iterates it, so a
//! new member (an activation added to `src/ops/activation/table.rs`) is tested with no new test.
//! `harness` holds what the families share.

mod activation;
mod conv;
mod elementwise;
pub mod harness;
mod linear;
mod loss;
mod norm;
mod optim;
mod pool;
