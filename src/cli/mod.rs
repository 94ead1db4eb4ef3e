//! The admin CLI: one typed `Cli`, one module per subcommand.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod version;

/// Fixpoint: declarative patch management, reviewed in git.
#[derive(Debug, Parser)]
#[command(name = "fixpoint", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Compare and sort package versions under a platform's ordering rules.
    Version(version::VersionArgs),
}

/// Parses the command line and runs the chosen command; returns the process exit code.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Version(args) => version::run(args),
    }
}
