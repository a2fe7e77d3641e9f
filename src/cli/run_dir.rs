//! How `netc train` claims its run directory (the rule is `train::run_dir`'s): the lock,
//! refusing a directory that holds another run, and what `--resume` accepts — the run's
//! own last checkpoint, with only `--epochs` changed.

use super::train::{Args, err};
use netc::diag::{Diagnostic, Diagnostics};
use netc::train::checkpoint::{self, Checkpoint};
use netc::train::run;
use netc::train::run_dir::{self, RunLock};
use std::path::Path;

/// Lock a run directory for this process, or say which process has it.
pub(super) fn lock_run(dir: &Path) -> Result<RunLock, Diagnostics> {
    RunLock::acquire(dir).map_err(|e| {
        let d = Diagnostic::error(e.to_string());
        match e {
            run_dir::RunDirError::Locked { .. } => d
                .with_help(
                    "wait for that run to finish, or train into another directory with `--out DIR`",
                )
                .into(),
            run_dir::RunDirError::Io { .. } => d.into(),
        }
    })
}

/// A new run may use `dir` only if it holds no run, or `--overwrite` says to delete it.
/// (Without results, what is there is what a run that never finished an epoch left —
/// config.json, TensorBoard steps — which nothing can resume; a new run replaces it.)
pub(super) fn refuse_existing_run(dir: &Path, overwrite: bool) -> Result<(), Diagnostics> {
    let found = run_dir::results(dir);
    if found.is_empty() || overwrite {
        return Ok(());
    }
    let names: Vec<String> = found
        .iter()
        .filter_map(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .collect();
    let shown = dir.display();
    Err(Diagnostic::error(format!("`{shown}` already holds a run ({}); a new run never overwrites one", names.join(", ")))
        .with_help(format!(
            "continue it with `netc train --resume {shown}`, start over with `--overwrite` (deletes its checkpoints, metrics and TensorBoard logs), or train into another directory with `--out DIR`"
        ))
        .into())
}

/// The run's last checkpoint, or why there is nothing to resume.
pub(super) fn load_resumable(dir: &Path) -> Result<Checkpoint, Diagnostics> {
    let has_last = checkpoint::path(dir, "last").exists() || dir.join("last.json").exists();
    if !has_last {
        let mut d = Diagnostic::error(format!(
            "`{}` holds no checkpoint to resume from (no last.safetensors)",
            dir.display()
        ));
        if run_dir::results(dir).is_empty() {
            d = d.with_help(format!(
                "start a run there with `netc train FILE --out {}`",
                dir.display()
            ));
        } else {
            d = d.with_help(format!(
                "its run stopped before writing `last`; start it again with `netc train FILE --out {} --overwrite`",
                dir.display()
            ));
        }
        return Err(d.into());
    }
    Checkpoint::load(dir, "last").map_err(|e| err(e.to_string()))
}

/// Flags that would change a resumed run, which must continue exactly as it would have.
pub(super) fn refuse_flags_on_resume(a: &Args) -> Result<(), Diagnostics> {
    let given: Vec<&str> = [
        (a.file.is_some(), "FILE"),
        (!a.set.is_empty(), "--set"),
        (a.data.is_some(), "--data"),
        (a.batch.is_some(), "--batch"),
        (a.lr.is_some(), "--lr"),
        (a.seed.is_some(), "--seed"),
        (a.val_size.is_some(), "--val-size"),
        (a.limit.is_some(), "--limit"),
        (a.out.is_some(), "--out"),
        (a.overwrite, "--overwrite"),
    ]
    .into_iter()
    .filter_map(|(present, name)| present.then_some(name))
    .collect();
    if given.is_empty() {
        return Ok(());
    }
    Err(Diagnostic::error(format!(
        "{} cannot be combined with --resume: a resumed run keeps the model, recipe and data in its checkpoint, so that it continues exactly as it would have",
        given.join(", ")
    ))
    .with_help("only --epochs may be given, to extend the run; to train differently, start a new run (`--out DIR`)")
    .into())
}

/// Resuming a run that has finished: nothing to train, but a run stopped after its last
/// checkpoint and before metrics.jsonl gets its metrics back.
pub(super) fn finished_already(c: &Checkpoint, dir: &Path) -> Result<(), Diagnostics> {
    run::write_metrics(dir, &c.history)
        .map_err(|e| err(format!("cannot write to `{}`: {e}", dir.display())))?;
    println!(
        "the run in {} has finished its {} epochs; nothing to train (extend it with `netc train --resume {} --epochs N`, N > {})",
        dir.display(),
        c.epoch,
        dir.display(),
        c.epoch
    );
    Ok(())
}

/// The total epochs of a resumed run: the recipe's, or `--epochs` to extend it.
pub(super) fn resumed_epochs(
    c: &Checkpoint,
    epochs: Option<u32>,
    dir: &Path,
) -> Result<u32, Diagnostics> {
    let total = epochs.unwrap_or(c.recipe.epochs);
    if total > c.epoch {
        return Ok(total);
    }
    Err(Diagnostic::error(format!(
        "--epochs {total} is not more than the {} epochs the run in `{}` has completed",
        c.epoch,
        dir.display()
    ))
    .with_help("on --resume, --epochs sets the new total: give a larger number to train further")
    .into())
}
