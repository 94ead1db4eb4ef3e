//! The admin CLI: one typed `Cli`, one module per subcommand. Every flag has an
//! environment variable; flags win over the environment, which wins over defaults.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod generate;
mod validate;
mod version;

pub use generate::{Drift, GENERATED_DIRS, GeneratedFile, drift, generated_files};
pub use validate::{PolicyFile, read_tree};

/// Fixpoint: declarative patch management, reviewed in git.
#[derive(Debug, Parser)]
#[command(name = "fixpoint", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check a policy repository and report every problem as path:line:column.
    Validate(validate::ValidateArgs),
    /// Compare and sort package versions under a platform's ordering rules.
    Version(version::VersionArgs),
    /// Write the JSON Schemas (policies/schema/) and CRDs (crds/) generated from the policy types.
    Generate(generate::GenerateArgs),
}

/// The time commands evaluate policy at: now, unless pinned for reproducible output.
#[derive(Debug, Clone, clap::Args)]
pub struct Now {
    /// Evaluate as of this instant (RFC 3339, e.g. 2026-11-25T12:00:00Z) instead of now.
    #[arg(long = "now", env = "FIXPOINT_NOW", value_name = "INSTANT")]
    pub at: Option<jiff::Timestamp>,
}

impl Now {
    pub fn resolve(&self) -> jiff::Timestamp {
        self.at.unwrap_or_else(jiff::Timestamp::now)
    }
}

/// Parses the command line and runs the chosen command; returns the process exit code.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate(args) => validate::run(args),
        Command::Version(args) => Ok(version::run(args)),
        Command::Generate(args) => generate::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
