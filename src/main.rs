//! The `netc` command line. Each command lives in `src/cli/`; this file only parses
//! arguments and dispatches.

use clap::Parser;
use std::process::ExitCode;

mod cli;

fn main() -> ExitCode {
    restore_sigpipe();
    let args = cli::Cli::parse();
    cli::run(args)
}

/// Rust ignores SIGPIPE, so `netc summary ... | head` would panic in `println!` once
/// `head` exits. Restore the default, as command-line tools expect: the process ends
/// quietly when its reader goes away.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called once at start-up, before any thread exists; SIG_DFL is a valid handler.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
