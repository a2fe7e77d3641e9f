//! Checks that a dataset and a recipe can train a model at all, made before anything is
//! compiled or written: a label the classifier has no logit for would index past the
//! logits on the device (garbage loss, no error), and a validation split that swallows
//! the data would leave nothing to train on or nothing to choose the best checkpoint by.
//! The recipe's transform lists must produce the model's input size from these images
//! (a list that ends in a fixed size was checked at the recipe's line already).

use crate::data::Source;
use crate::elab::recipe::{Augment, Recipe, normalize_of, output_size};
use crate::ir::Graph;
use crate::predict::Normalize;

/// Why the data cannot train `model` with `recipe`, as a message for the user. `val` is
/// the dataset's own validation set, if it has one (then `val_size` is not used).
pub fn check(
    data: &Source,
    val: Option<&Source>,
    recipe: &Recipe,
    model: &Graph,
) -> Result<(), String> {
    let Some(&output) = model.outputs().first() else {
        return Err("the model has no output to train".into());
    };
    let size = image_size(model)?;
    check_size("augment", &recipe.augment, data, size)?;
    check_size(
        "eval_transform",
        &recipe.eval_transform,
        val.unwrap_or(data),
        size,
    )?;
    recipe_normalize(recipe)?;
    let logits = model.node(output).ty.numel();
    if let Some(v) = val {
        if v.is_empty() {
            return Err("the dataset's validation set has no images".into());
        }
        check_labels(v.classes(), v.labels(), logits)?;
        let mut r = recipe.clone();
        // Its own validation set: every training image trains.
        r.val_size = 1;
        return check_counts(data.classes(), data.labels(), &r, logits, data.len() + 1);
    }
    check_counts(data.classes(), data.labels(), recipe, logits, data.len())
}

/// The (height, width) of the model's image input.
pub fn image_size(model: &Graph) -> Result<(usize, usize), String> {
    let inputs = model.inputs_of_model();
    match inputs.first().and_then(|&i| model.node(i).ty.chw()) {
        Some((3, h, w)) => Ok((h, w)),
        Some((c, _, _)) => Err(format!(
            "the model's input has {c} channels; netc's data pipeline makes RGB images (3 channels)"
        )),
        None => Err("the model needs one image input [3, H, W] to train on images".into()),
    }
}

fn check_size(
    key: &str,
    list: &[Augment],
    data: &Source,
    (h, w): (usize, usize),
) -> Result<(), String> {
    match output_size(list, data.uniform_size()) {
        Some((oh, ow)) if (oh as usize, ow as usize) == (h, w) => Ok(()),
        Some((oh, ow)) => Err(format!(
            "the recipe's `{key}` makes {oh}x{ow} images from this data's {}, but the model's input is {h}x{w}; \
             end `{key}` with e.g. `center_crop({h})` or `resize([{h}, {w}])`",
            describe_size(data)
        )),
        None => Err(format!(
            "the images of this data differ in size, and the recipe's `{key}` does not make them one size; \
             the model takes {h}x{w}: add e.g. `{key} = [resize({h}), center_crop({h})]`"
        )),
    }
}

fn describe_size(data: &Source) -> String {
    match data.uniform_size() {
        Some((h, w)) => format!("{h}x{w} images"),
        None => "images".into(),
    }
}

/// The `normalize(...)` the recipe gives, which replaces the computed statistics; both
/// lists may give it, but then the same.
pub fn recipe_normalize(recipe: &Recipe) -> Result<Option<Normalize>, String> {
    let to = |(m, s): (&[f32], &[f32])| Normalize {
        mean: m.to_vec(),
        std: s.to_vec(),
    };
    match (
        normalize_of(&recipe.augment).map(to),
        normalize_of(&recipe.eval_transform).map(to),
    ) {
        (Some(a), Some(b)) if a != b => Err(
            "`augment` and `eval_transform` give different `normalize(...)` values; training and \
             inference must normalise alike: give it once, or the same in both"
                .into(),
        ),
        (a, b) => Ok(a.or(b)),
    }
}

fn check_labels(classes: &[String], labels: &[u32], logits: usize) -> Result<(), String> {
    if classes.len() > logits {
        let shown: Vec<&str> = classes.iter().take(12).map(String::as_str).collect();
        let more = if classes.len() > shown.len() {
            ", ..."
        } else {
            ""
        };
        return Err(format!(
            "the data has {} classes ({}{more}) but the model outputs {logits} logits; \
             make the last layer produce {} (e.g. `linear({})`, or `--set num_classes={}` if the model has that parameter)",
            classes.len(),
            shown.join(", "),
            classes.len(),
            classes.len(),
            classes.len()
        ));
    }
    if let Some(&label) = labels.iter().max()
        && label as usize >= logits
    {
        return Err(format!(
            "the data has label {label}, but the model outputs {logits} logits (labels 0 to {})",
            logits - 1
        ));
    }
    Ok(())
}

fn check_counts(
    classes: &[String],
    labels: &[u32],
    recipe: &Recipe,
    logits: usize,
    n: usize,
) -> Result<(), String> {
    check_labels(classes, labels, logits)?;
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
    use crate::data::Dataset;
    use crate::elab::recipe::Recipe;

    fn check(d: &Dataset, r: &Recipe, logits: usize) -> Result<(), String> {
        super::check_counts(&d.classes, &d.labels, r, logits, d.len())
    }

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
