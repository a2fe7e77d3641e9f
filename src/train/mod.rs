//! The trainer: the loop ([`run`]), augmentation, learning-rate schedules, checkpoints,
//! the synthetic dataset and TensorBoard event files.

pub mod augment;
pub mod checkpoint;
pub mod report;
pub mod run;
pub mod schedule;
pub mod synthetic;
pub mod tensorboard;
