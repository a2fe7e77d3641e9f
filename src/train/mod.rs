//! The trainer: the loop ([`run`]; one epoch's steps in `epoch`), augmentation, learning-rate schedules, checkpoints,
//! the run-directory rule ([`run_dir`]), the synthetic dataset and TensorBoard event files.

pub mod augment;
pub mod checkpoint;
mod epoch;
pub mod preflight;
pub mod report;
pub mod run;
pub mod run_dir;
pub mod schedule;
pub mod synthetic;
pub mod tensorboard;
