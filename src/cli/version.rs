//! `fixpoint version compare|sort`.

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct VersionArgs {}

pub fn run(_args: VersionArgs) -> ExitCode {
    ExitCode::FAILURE
}
