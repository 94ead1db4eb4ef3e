//! `fixpoint`: the server and admin CLI. This file is a shim; the commands live in `cli`.

/// Under full check-ins (1,500 packages parsed per request) about a third of
/// the server's CPU went to glibc's malloc and free and to waiting on its arena
/// locks (`perf`, BENCHMARKS.md); mimalloc's per-thread heaps do not contend.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    fixpoint::cli::run()
}
