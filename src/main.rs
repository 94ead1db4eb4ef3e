//! `fixpoint`: the server and admin CLI. This file is a shim; the commands live in `cli`.

fn main() -> std::process::ExitCode {
    fixpoint::cli::run()
}
