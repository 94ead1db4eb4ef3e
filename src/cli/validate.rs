//! `fixpoint validate DIR`: load and check a policy repository, print every
//! problem as `path:line:column: level: message` (or JSON), exit 1 on errors.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use fixpoint_core::policy::Level;

use super::{Format, Now};
pub use crate::source::PolicyFile;
pub use crate::source::dir::read_tree;

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Directory of the policy repository (every .yaml and .yml file below it is read).
    #[arg(env = "FIXPOINT_POLICY_DIR", default_value = "policies")]
    pub dir: PathBuf,
    /// Output format: `text` for people and CI annotations, `json` for bots.
    #[arg(long, env = "FIXPOINT_FORMAT", value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Treat warnings as errors (exit 1 when there is any).
    #[arg(long, env = "FIXPOINT_DENY_WARNINGS")]
    pub deny_warnings: bool,
    #[command(flatten)]
    pub now: Now,
}

pub fn run(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let files = read_tree(&args.dir)?;
    let now = args.now.resolve();
    let checked = crate::source::check(&files, now);
    let errors = checked.count(Level::Error);
    let warnings = checked.count(Level::Warning);
    let mut stdout = std::io::stdout().lock();
    match args.format {
        Format::Text => {
            for d in &checked.diagnostics {
                writeln!(stdout, "{d}")?;
            }
        }
        Format::Json => {
            let report = serde_json::json!({
                "directory": args.dir.display().to_string(),
                "files": files.len(),
                "documents": checked.set.len(),
                "errors": errors,
                "warnings": warnings,
                "diagnostics": checked.diagnostics,
            });
            serde_json::to_writer_pretty(&mut stdout, &report)?;
            writeln!(stdout)?;
        }
    }
    eprintln!(
        "{}: {} documents in {} files: {errors} error{}, {warnings} warning{}",
        args.dir.display(),
        checked.set.len(),
        files.len(),
        if errors == 1 { "" } else { "s" },
        if warnings == 1 { "" } else { "s" },
    );
    let failed = errors > 0 || (args.deny_warnings && warnings > 0);
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
