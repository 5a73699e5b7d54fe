//! The `jitgate` binary: command-line parsing and wiring only. Everything it does lives in the
//! workspace crates.

mod cli;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc serves Rust's allocations: under `benches/load` it cut the CPU per proxied request
/// against glibc's malloc (see benches/README.md). glibc's still serves C code (SQLite).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// glibc's malloc raises its mmap threshold adaptively: after the first argon2 password check
/// frees its 19 MiB buffer, later ones come from the heap and stay in the process when freed,
/// so RSS climbs in ~20 MiB steps with concurrent sign-ins (seen by `benches/soak`, up to
/// ~720 MiB). Pinning the threshold at 1 MiB makes every large buffer its own mapping,
/// returned to the system when freed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn return_large_buffers_to_the_system() {
    // SAFETY: mallopt only changes a malloc tunable; it is called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn return_large_buffers_to_the_system() {}

fn main() -> ExitCode {
    return_large_buffers_to_the_system();
    let args = cli::Args::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(error) => {
            // One line (plus causes) for the operator, never a panic trace.
            eprintln!("jitgate: {error:#}");
            ExitCode::FAILURE
        }
    }
}
