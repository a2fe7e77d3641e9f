//! The `netc` command line. Each command lives in `src/cli/`; this file only parses
//! arguments and dispatches.

use clap::Parser;
use std::process::ExitCode;

mod cli;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    cli::run(args)
}
