//! `fixpoint plan`: the reconcile engine from the command line.
//!
//! - `fixpoint plan --repo PATH --from REV --to REV --fleet SNAPSHOT`: evaluates
//!   both revisions of a policy repository against the same catalog and fleet
//!   and prints what would change, as Markdown for a pull-request comment or
//!   as JSON.
//! - `fixpoint plan --policies DIR --fleet SNAPSHOT`: the whole plan of one
//!   policy directory, as text or JSON.
//!
//! The catalog is the one in the database (`fixpoint catalog sync`), or
//! `--catalog FILE`: a JSON array of advisories (the catalog model's form).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use fixpoint_core::catalog::{Advisory, Catalog};
use fixpoint_core::fleet::Fleet;
use fixpoint_core::plan::{self, diff, render};
use fixpoint_core::policy::{self, Level};

use super::{Database, Format, Now};
use crate::source::{self, PolicyFile};

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// The policy repository (a git working tree or bare repository) for `--from`/`--to`.
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// The revision before the change (a branch, tag, commit, `HEAD~1`...).
    #[arg(long, requires = "to")]
    pub from: Option<String>,
    /// The revision after the change.
    #[arg(long, requires = "from")]
    pub to: Option<String>,
    /// The policy directory inside the repository, for `--from`/`--to`.
    #[arg(long, default_value = "policies")]
    pub path: PathBuf,
    /// Plan one policy directory instead of comparing two revisions.
    #[arg(long, conflicts_with_all = ["from", "to"])]
    pub policies: Option<PathBuf>,
    /// The fleet: a snapshot file (docs/fleet-snapshot.md).
    #[arg(long, env = "FIXPOINT_FLEET")]
    pub fleet: PathBuf,
    /// Read the catalog from this JSON file (an array of advisories) instead of the database.
    #[arg(long)]
    pub catalog: Option<PathBuf>,
    /// `text` (Markdown for a comparison), or `json`.
    #[arg(long, env = "FIXPOINT_FORMAT", value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// At most this many groups of changes in the Markdown (all of them in JSON).
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    #[command(flatten)]
    pub now: Now,
    #[command(flatten)]
    pub database: Database,
}

pub fn run(args: PlanArgs) -> anyhow::Result<ExitCode> {
    let now = args.now.resolve();
    let fleet_bytes = std::fs::read(&args.fleet)
        .with_context(|| format!("cannot read the fleet snapshot {}", args.fleet.display()))?;
    let fleet = Fleet::from_snapshot(&fleet_bytes)
        .with_context(|| format!("fleet snapshot {}", args.fleet.display()))?;
    let catalog = load_catalog(&args)?;
    let mut out = std::io::stdout().lock();
    if let (Some(from), Some(to)) = (&args.from, &args.to) {
        let subdir = Some(args.path.as_path()).filter(|p| !p.as_os_str().is_empty());
        let old = source::read_tree_at(&args.repo, from, subdir)?;
        let new = source::read_tree_at(&args.repo, to, subdir)?;
        let Some(before) = checked(&old.files, now, &format!("{from} ({})", short(&old.commit)))
        else {
            return Ok(ExitCode::from(1));
        };
        let Some(after) = checked(&new.files, now, &format!("{to} ({})", short(&new.commit)))
        else {
            return Ok(ExitCode::from(1));
        };
        let mut planner = plan::Planner::new(&before, &catalog);
        let plan_before = planner.plan(&fleet, now);
        let mut planner = plan::Planner::new(&after, &catalog);
        let plan_after = planner.plan(&fleet, now);
        let d = diff::diff(&plan_before, &plan_after);
        match args.format {
            Format::Json => {
                let report = serde_json::json!({
                    "from": {"rev": from, "commit": old.commit},
                    "to": {"rev": to, "commit": new.commit, "summary": new.summary, "author": new.author},
                    "now": now,
                    "diff": d,
                });
                serde_json::to_writer_pretty(&mut out, &report)?;
                writeln!(out)?;
            }
            Format::Text => {
                let title = format!(
                    "`{}` → `{}` ({})",
                    short(&old.commit),
                    short(&new.commit),
                    new.summary.replace('`', "'")
                );
                let mut md = diff::markdown(&d, &title, args.limit);
                md.push_str(&format!(
                    "\n<sub>{} machines, {} patches in the catalog, evaluated at {now}.</sub>\n",
                    fleet.machines().len(),
                    catalog.len()
                ));
                out.write_all(md.as_bytes())?;
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let dir = args
        .policies
        .clone()
        .unwrap_or_else(|| PathBuf::from("policies"));
    let files = source::dir::read_tree(&dir)?;
    let Some(set) = checked(&files, now, &dir.display().to_string()) else {
        return Ok(ExitCode::from(1));
    };
    let p = plan::compute(&set, &catalog, &fleet, now);
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &p)?;
            writeln!(out)?;
        }
        Format::Text => out.write_all(render::text(&p).as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Loads and validates policy files; prints the problems and returns `None`
/// when there is an error: a revision that would not be applied is not planned.
fn checked(files: &[PolicyFile], now: jiff::Timestamp, what: &str) -> Option<policy::PolicySet> {
    let c = crate::source::check(files, now);
    let errors = c.count(Level::Error);
    if errors > 0 {
        eprintln!("{what}: the policy has {errors} error(s); it would not be applied:");
        for d in c.diagnostics.iter().filter(|d| d.is_error()) {
            eprintln!("{d}");
        }
        return None;
    }
    Some(c.set)
}

fn load_catalog(args: &PlanArgs) -> anyhow::Result<Catalog> {
    if let Some(path) = &args.catalog {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read the catalog {}", path.display()))?;
        let advisories: Vec<Advisory> = serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: expected a JSON array of advisories", path.display()))?;
        return Ok(Catalog::from_advisories(advisories));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let store = args.database.open().await?;
        let catalog = store.catalog().await?;
        store.close().await;
        Ok(catalog)
    })
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}
