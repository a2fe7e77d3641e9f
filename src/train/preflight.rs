//! Checks that a dataset and a recipe can train a model at all, made before anything is
//! compiled or written: a label the classifier has no logit for would index past the
//! logits on the device (garbage loss, no error), and a validation split that swallows
//! the data would leave nothing to train on or nothing to choose the best checkpoint by.

use crate::data::Dataset;
use crate::elab::recipe::Recipe;
use crate::ir::Graph;

/// Why the data cannot train `model` with `recipe`, as a message for the user.
pub fn check(data: &Dataset, recipe: &Recipe, model: &Graph) -> Result<(), String> {
    let Some(&output) = model.outputs().first() else {
        return Err("the model has no output to train".into());
    };
    check_counts(data, recipe, model.node(output).ty.numel())
}

fn check_counts(data: &Dataset, recipe: &Recipe, logits: usize) -> Result<(), String> {
    if data.classes.len() > logits {
        let shown: Vec<&str> = data.classes.iter().take(12).map(String::as_str).collect();
        let more = if data.classes.len() > shown.len() {
            ", ..."
        } else {
            ""
        };
        return Err(format!(
            "the data has {} classes ({}{more}) but the model outputs {logits} logits; \
             make the last layer produce {} (e.g. `linear({})`, or `--set num_classes={}` if the model has that parameter)",
            data.classes.len(),
            shown.join(", "),
            data.classes.len(),
            data.classes.len(),
            data.classes.len()
        ));
    }
    if let Some(&label) = data.labels.iter().max()
        && label as usize >= logits
    {
        return Err(format!(
            "the data has label {label}, but the model outputs {logits} logits (labels 0 to {})",
            logits - 1
        ));
    }
    let n = data.len();
    let val = recipe.val_size as usize;
    if val == 0 {
        return Err(
            "`val_size = 0` holds out no images: netc validates every epoch and keeps the \
             checkpoint with the best validation accuracy; set `val_size` (in the recipe, or \
             with --val-size) to at least 1"
                .into(),
        );
    }
    if val >= n {
        return Err(format!(
            "`val_size = {val}` holds out at least every one of the {n} images; \
             lower it (in the recipe, or with --val-size) below {n} minus one batch of {}",
            recipe.batch
        ));
    }
    let train = n - val;
    if train < recipe.batch as usize {
        return Err(format!(
            "{train} training images (of {n}, with `val_size = {val}` held out) are fewer than one \
             batch of {}; lower --batch or --val-size, or use more data",
            recipe.batch
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_counts as check;
    use crate::data::Dataset;
    use crate::elab::recipe::Recipe;

    fn data(classes: usize, n: usize) -> Dataset {
        Dataset {
            classes: (0..classes).map(|c| format!("c{c}")).collect(),
            shape: (3, 1, 1),
            pixels: vec![0; 3 * n],
            labels: (0..n).map(|i| (i % classes) as u32).collect(),
        }
    }

    fn recipe(val_size: u32, batch: u32) -> Recipe {
        Recipe {
            val_size,
            batch,
            ..Recipe::default()
        }
    }

    #[test]
    fn more_classes_than_logits_is_refused() {
        let e = check(&data(11, 100), &recipe(10, 10), 10).unwrap_err();
        assert!(e.contains("11 classes") && e.contains("10 logits"), "{e}");
        assert!(check(&data(10, 100), &recipe(10, 10), 10).is_ok());
    }

    #[test]
    fn a_label_past_the_logits_is_refused() {
        let mut d = data(10, 100);
        d.labels[3] = 15;
        let e = check(&d, &recipe(10, 10), 10).unwrap_err();
        assert!(e.contains("label 15"), "{e}");
    }

    #[test]
    fn validation_splits_that_leave_no_training_batch_or_no_validation_are_refused() {
        let d = data(10, 100);
        assert!(
            check(&d, &recipe(0, 10), 10)
                .unwrap_err()
                .contains("val_size = 0")
        );
        assert!(
            check(&d, &recipe(100, 10), 10)
                .unwrap_err()
                .contains("val_size = 100")
        );
        assert!(
            check(&d, &recipe(95, 10), 10)
                .unwrap_err()
                .contains("fewer than one batch")
        );
        assert!(check(&d, &recipe(90, 10), 10).is_ok());
    }
}
