//! `fixpoint validate DIR`: load and check a policy repository, print every
//! problem as `path:line:column: level: message` (or JSON), exit 1 on errors.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use fixpoint_core::policy::{self, Diagnostic, Level};

use super::{Format, Now};

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
    let inputs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|f| (f.display.as_str(), f.bytes.as_slice()))
        .collect();
    let mut checked = policy::check(inputs, now);
    for f in &files {
        if let Some(problem) = &f.problem {
            checked.diagnostics.push(Diagnostic::new(
                &f.display,
                policy::yaml::Pos { line: 1, column: 1 },
                Level::Error,
                "unreadable",
                problem.clone(),
            ));
        }
    }
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

/// A policy file as read from disk.
#[derive(Debug)]
pub struct PolicyFile {
    /// The path shown in diagnostics: the directory argument joined with the file's relative path.
    pub display: String,
    pub bytes: Vec<u8>,
    /// Why the file could not be read, if it could not.
    pub problem: Option<String>,
}

/// Reads every `.yaml`/`.yml` file below `dir`, in path order. Hidden directories
/// (`.git`) are skipped; symbolic links are followed, and a loop is reported, not
/// followed forever. Each file is read up to one byte past the size limit, so a
/// huge file costs no more than that.
pub fn read_tree(dir: &Path) -> anyhow::Result<Vec<PolicyFile>> {
    let meta = std::fs::metadata(dir)
        .with_context(|| format!("cannot read policy directory {}", dir.display()))?;
    if !meta.is_dir() {
        anyhow::bail!("{} is not a directory", dir.display());
    }
    let mut files = Vec::new();
    let walker = walkdir::WalkDir::new(dir)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
    for entry in walker {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                let display = e
                    .path()
                    .map_or_else(|| dir.display().to_string(), |p| p.display().to_string());
                let problem = if e.loop_ancestor().is_some() {
                    "symbolic link loop; not followed".to_owned()
                } else {
                    format!(
                        "cannot read: {}",
                        e.io_error()
                            .map_or_else(|| e.to_string(), ToString::to_string)
                    )
                };
                files.push(PolicyFile {
                    display,
                    bytes: Vec::new(),
                    problem: Some(problem),
                });
                continue;
            }
        };
        let path = entry.path();
        let is_yaml = path.extension().is_some_and(|x| x == "yaml" || x == "yml");
        if !is_yaml || entry.file_type().is_dir() {
            continue;
        }
        let display = path.display().to_string();
        if !entry.file_type().is_file() {
            files.push(PolicyFile {
                display,
                bytes: Vec::new(),
                problem: Some("not a regular file".into()),
            });
            continue;
        }
        let limit = u64::try_from(policy::load::MAX_FILE_BYTES)
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        let mut bytes = Vec::new();
        match std::fs::File::open(path).and_then(|f| f.take(limit).read_to_end(&mut bytes)) {
            Ok(_) => files.push(PolicyFile {
                display,
                bytes,
                problem: None,
            }),
            Err(e) => files.push(PolicyFile {
                display,
                bytes: Vec::new(),
                problem: Some(format!("cannot read: {e}")),
            }),
        }
    }
    Ok(files)
}
