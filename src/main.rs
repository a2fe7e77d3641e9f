//! The `netc` command line. Each command lives in `src/cli/`; this file only parses
//! arguments and dispatches.

use clap::Parser;
use std::process::ExitCode;

mod cli;

fn main() -> ExitCode {
    restore_sigpipe();
    keep_large_blocks();
    let args = cli::Cli::parse();
    cli::run(args)
}

/// The data loader's workers allocate and free image-sized buffers (a decoded 500x375 photo
/// is 550 KiB) for every image. glibc serves blocks above 128 KiB with a fresh `mmap` each and
/// gives them back with `munmap`, so every image paid page faults on new zeroed pages: 40% of
/// `netc bench-data`'s time was in the kernel (4.2 s of system time for 2,560 images, 0.09 s
/// with this). Large blocks up to 64 MiB now come from the heap and are reused.
fn keep_large_blocks() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: called once at start-up, before any thread exists or allocates concurrently;
    // mallopt only changes glibc's allocation policy.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
    }
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
