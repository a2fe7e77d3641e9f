//! `netc summary FILE [--format table|json]`.

use super::{ModelArgs, report};
use netc::diag::{Diagnostics, Sources};
use netc::pipeline;
use netc::summary::Summary;

#[derive(clap::ValueEnum, Clone, Copy, Debug, Default)]
pub enum Format {
    #[default]
    Table,
    Json,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub fn run(sources: &mut Sources, a: Args) -> Result<(), Diagnostics> {
    let e = pipeline::front_end(sources, &a.model.file, &a.model.set)?;
    report(sources, &Diagnostics(e.warnings.clone()));
    let s = Summary::new(&e);
    match a.format {
        Format::Table => print!("{}", s.to_table()),
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&s).expect("summary serialises")
        ),
    }
    Ok(())
}
