//! Learning-rate schedules, stepped per epoch like PyTorch's `lr_scheduler`s, with an
//! optional linear warm-up over the first epochs (per step, so it is smooth).

use crate::elab::recipe::{Recipe, Schedule};

/// The learning rate for `step` of `steps_per_epoch` in `epoch` (both from 0).
pub fn learning_rate(recipe: &Recipe, epoch: u32, step: u32, steps_per_epoch: u32) -> f64 {
    let base = recipe.optimizer.lr();
    let lr = match &recipe.schedule {
        Schedule::Constant => base,
        // MultiStepLR: gamma^(number of milestones reached).
        Schedule::MultiStep { milestones, gamma } => {
            base * gamma.powi(milestones.iter().filter(|&&m| epoch >= m).count() as i32)
        }
        // CosineAnnealingLR with T_max = the run's epochs.
        Schedule::Cosine { min_lr } => {
            let t = epoch as f64 / recipe.epochs.max(1) as f64;
            min_lr + (base - min_lr) * (1.0 + (std::f64::consts::PI * t).cos()) / 2.0
        }
    };
    let warmup_steps = recipe.warmup_epochs as u64 * steps_per_epoch as u64;
    let global = epoch as u64 * steps_per_epoch as u64 + step as u64;
    if global < warmup_steps {
        lr * (global + 1) as f64 / warmup_steps as f64
    } else {
        lr
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elab::recipe::Optimizer;

    fn recipe(schedule: Schedule) -> Recipe {
        Recipe {
            optimizer: Optimizer::Sgd {
                lr: 0.1,
                momentum: 0.9,
                weight_decay: 1e-4,
                nesterov: false,
            },
            schedule,
            epochs: 180,
            ..Recipe::default()
        }
    }

    #[test]
    fn multistep_matches_the_seed() {
        let r = recipe(Schedule::MultiStep {
            milestones: vec![100, 150],
            gamma: 0.1,
        });
        let lr = |e| learning_rate(&r, e, 0, 10);
        assert_eq!(lr(0), 0.1);
        assert_eq!(lr(99), 0.1);
        assert!((lr(100) - 0.01).abs() < 1e-12);
        assert!((lr(150) - 0.001).abs() < 1e-12);
    }

    #[test]
    fn cosine_starts_at_lr_and_ends_at_min() {
        let r = recipe(Schedule::Cosine { min_lr: 0.0 });
        assert!((learning_rate(&r, 0, 0, 1) - 0.1).abs() < 1e-12);
        assert!((learning_rate(&r, 90, 0, 1) - 0.05).abs() < 1e-12);
    }

    #[test]
    fn warmup_ramps_linearly_per_step() {
        let r = Recipe {
            warmup_epochs: 1,
            ..recipe(Schedule::Constant)
        };
        assert!((learning_rate(&r, 0, 0, 4) - 0.025).abs() < 1e-12);
        assert!((learning_rate(&r, 0, 3, 4) - 0.1).abs() < 1e-12);
        assert_eq!(learning_rate(&r, 1, 0, 4), 0.1);
    }
}
