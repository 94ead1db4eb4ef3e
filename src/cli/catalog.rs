//! `fixpoint catalog sync|import|show|search|sources`: the patch catalog from the command line.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use fixpoint_core::catalog::Patch;
use fixpoint_core::policy::{self, CatalogSourceKind, SettingsSpec};
use fixpoint_core::rating::Severity;

use super::{Database, Format, Now};
use crate::store::{PatchQuery, SourceUpdate, Store};
use crate::sync::{self, FetchPolicy, Fetcher, Outcome, SyncOptions};

#[derive(Debug, clap::Args)]
pub struct CatalogArgs {
    #[command(subcommand)]
    command: CatalogCommand,
    #[command(flatten)]
    database: Database,
}

#[derive(Debug, clap::Subcommand)]
enum CatalogCommand {
    /// Fetch every catalog source configured in the policy's Settings and import what changed.
    Sync(SyncArgs),
    /// Import advisory files from disk as one source (offline and air-gapped use).
    Import(ImportArgs),
    /// Show one patch: CVEs, severity, what it fixes, its files and supersedence.
    Show(ShowArgs),
    /// Search patches by CVE, package, severity and release date.
    Search(SearchArgs),
    /// List the catalog sources and the state of their last sync.
    Sources(FormatArg),
}

#[derive(Debug, clap::Args)]
struct SyncArgs {
    /// Policy repository whose Settings name the sources.
    #[arg(long, env = "FIXPOINT_POLICY_DIR", default_value = "policies")]
    policy_dir: PathBuf,
    /// Sync only this source (repeatable).
    #[arg(long = "source", env = "FIXPOINT_SYNC_SOURCES", value_delimiter = ',')]
    sources: Vec<String>,
    /// Accept APT InRelease files past their Valid-Until. Only for offline copies
    /// whose age you know: it disables the protection against replayed, outdated metadata.
    #[arg(long, env = "FIXPOINT_ALLOW_STALE")]
    allow_stale: bool,
    #[command(flatten)]
    format: FormatArg,
    #[command(flatten)]
    now: Now,
}

#[derive(Debug, clap::Args)]
struct ImportArgs {
    /// The feed format of the files.
    #[arg(long, env = "FIXPOINT_IMPORT_KIND", value_parser = ["csaf", "osv", "cvrf"])]
    kind: String,
    /// The source name the advisories are recorded under; replaces that source's previous import.
    #[arg(long, env = "FIXPOINT_IMPORT_SOURCE")]
    source: String,
    /// Advisory files (JSON for CSAF and OSV, XML for CVRF; OSV also as .zip).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    #[command(flatten)]
    now: Now,
}

#[derive(Debug, clap::Args)]
struct ShowArgs {
    /// The patch id, e.g. `openssl/3.0.15-1~deb12u1`, `RHSA-2024:4546` or `KB5035845`.
    patch: String,
    #[command(flatten)]
    format: FormatArg,
}

#[derive(Debug, clap::Args)]
struct SearchArgs {
    /// Patches fixing this CVE.
    #[arg(long, env = "FIXPOINT_SEARCH_CVE")]
    cve: Option<String>,
    /// Patches for this source or binary package (exact name).
    #[arg(long, env = "FIXPOINT_SEARCH_PACKAGE")]
    package: Option<String>,
    /// Patches of this severity: critical, important, moderate, low, unrated.
    #[arg(long, env = "FIXPOINT_SEARCH_SEVERITY", value_parser = parse_severity)]
    severity: Option<Severity>,
    /// Released on or after this date (YYYY-MM-DD) or instant.
    #[arg(long, env = "FIXPOINT_SEARCH_SINCE", value_parser = parse_instant)]
    since: Option<jiff::Timestamp>,
    /// Released before this date (YYYY-MM-DD) or instant.
    #[arg(long, env = "FIXPOINT_SEARCH_UNTIL", value_parser = parse_instant)]
    until: Option<jiff::Timestamp>,
    /// At most this many patches.
    #[arg(long, env = "FIXPOINT_SEARCH_LIMIT", default_value_t = 100)]
    limit: u32,
    #[command(flatten)]
    format: FormatArg,
}

#[derive(Debug, Clone, clap::Args)]
struct FormatArg {
    /// Output format.
    #[arg(long, env = "FIXPOINT_FORMAT", value_enum, default_value_t = Format::Text)]
    format: Format,
}

fn parse_severity(s: &str) -> Result<Severity, String> {
    serde_json::from_value(serde_json::Value::String(s.to_ascii_lowercase())).map_err(|_| {
        format!("unknown severity `{s}`: expected critical, important, moderate, low or unrated")
    })
}

fn parse_instant(s: &str) -> Result<jiff::Timestamp, String> {
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Ok(t);
    }
    s.parse::<jiff::civil::Date>()
        .ok()
        .and_then(|d| d.to_zoned_datetime(jiff::tz::TimeZone::UTC).ok())
        .map(|z| z.timestamp())
        .ok_or_else(|| format!("invalid date `{s}`: expected YYYY-MM-DD or an RFC 3339 instant"))
}

pub fn run(args: CatalogArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let store = args.database.open().await?;
        let code = match args.command {
            CatalogCommand::Sync(a) => sync_command(&store, a).await,
            CatalogCommand::Import(a) => import(&store, a).await,
            CatalogCommand::Show(a) => show(&store, a).await,
            CatalogCommand::Search(a) => search(&store, a).await,
            CatalogCommand::Sources(a) => sources(&store, a).await,
        };
        store.close().await;
        code
    })
}

/// The Settings of a policy repository; a repository with errors is refused.
fn settings(dir: &std::path::Path, now: jiff::Timestamp) -> anyhow::Result<SettingsSpec> {
    let files = super::read_tree(dir)?;
    let inputs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|f| (f.display.as_str(), f.bytes.as_slice()))
        .collect();
    let checked = policy::check(inputs, now);
    if checked.has_errors() {
        for d in checked.diagnostics.iter().filter(|d| d.is_error()) {
            eprintln!("{d}");
        }
        anyhow::bail!(
            "the policy in {} has errors; run `fixpoint validate {}`",
            dir.display(),
            dir.display()
        );
    }
    Ok(checked.set.settings())
}

async fn sync_command(store: &Store, args: SyncArgs) -> anyhow::Result<ExitCode> {
    let now = args.now.resolve();
    let settings = settings(&args.policy_dir, now)?;
    if settings.catalog.sources.is_empty() {
        anyhow::bail!(
            "the Settings in {} name no catalog sources",
            args.policy_dir.display()
        );
    }
    let fetcher = Fetcher::new(settings.proxy.as_ref(), FetchPolicy::default())?;
    let options = SyncOptions {
        allow_stale: args.allow_stale,
        only: args.sources,
    };
    let bar = if std::io::stderr().is_terminal() && args.format.format == Format::Text {
        let bar = indicatif::ProgressBar::new(settings.catalog.sources.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(bar)
    } else {
        None
    };
    let reports = sync::sync_all(&settings, store, &fetcher, &options, now, |r| {
        if let Some(bar) = &bar {
            bar.set_message(r.name.clone());
            bar.inc(1);
        }
    })
    .await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let failed = reports
        .iter()
        .any(|r| matches!(r.outcome, Outcome::Failed { .. }));
    let mut out = std::io::stdout().lock();
    match args.format.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &reports)?;
            writeln!(out)?;
        }
        Format::Text => {
            for r in &reports {
                let what = match &r.outcome {
                    Outcome::Imported { stats, warnings } => format!(
                        "imported {} advisories, {} patches touched{}",
                        stats.advisories,
                        stats.patches_touched,
                        if warnings.is_empty() {
                            String::new()
                        } else {
                            format!(", {} records skipped", warnings.len())
                        }
                    ),
                    Outcome::Unchanged => "unchanged".to_owned(),
                    Outcome::Failed { error } => format!("FAILED: {error}"),
                };
                writeln!(
                    out,
                    "{:<24} {:<5} {:>6} ms  {what}",
                    r.name, r.kind, r.millis
                )?;
                if let Outcome::Imported { warnings, .. } = &r.outcome {
                    for w in warnings.iter().take(20) {
                        writeln!(out, "    skipped: {w}")?;
                    }
                }
            }
            writeln!(out, "catalog: {} patches", store.patch_count().await?)?;
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

async fn import(store: &Store, args: ImportArgs) -> anyhow::Result<ExitCode> {
    let now = args.now.resolve();
    let kind = match args.kind.as_str() {
        "csaf" => CatalogSourceKind::Csaf,
        "osv" => CatalogSourceKind::Osv,
        _ => CatalogSourceKind::Cvrf,
    };
    let mut advisories = Vec::new();
    let mut warnings = Vec::new();
    for file in &args.files {
        let bytes = tokio::fs::read(file)
            .await
            .with_context(|| format!("cannot read {}", file.display()))?;
        let (mut a, mut w) =
            sync::parse_document(kind, &args.source, &file.display().to_string(), &bytes)?;
        advisories.append(&mut a);
        warnings.append(&mut w);
    }
    let update = SourceUpdate {
        name: args.source.clone(),
        kind: args.kind.clone(),
        location: args
            .files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(" "),
        ..SourceUpdate::default()
    };
    let stats = store.replace_source(&update, &advisories, now).await?;
    for w in &warnings {
        eprintln!("skipped: {w}");
    }
    println!(
        "{}: imported {} advisories from {} files, {} patches touched",
        args.source,
        stats.advisories,
        args.files.len(),
        stats.patches_touched
    );
    Ok(ExitCode::SUCCESS)
}

async fn show(store: &Store, args: ShowArgs) -> anyhow::Result<ExitCode> {
    let Some(patch) = store.patch_with_supersedence(&args.patch).await? else {
        eprintln!("no patch `{}` in the catalog", args.patch);
        return Ok(ExitCode::from(1));
    };
    let mut out = std::io::stdout().lock();
    match args.format.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &patch)?;
            writeln!(out)?;
        }
        Format::Text => write_patch(&mut out, &patch)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn write_patch(out: &mut impl Write, p: &Patch) -> std::io::Result<()> {
    writeln!(out, "{}", p.id)?;
    if let Some(title) = &p.title {
        writeln!(out, "  title:          {title}")?;
    }
    writeln!(out, "  vendor:         {}", p.vendor)?;
    writeln!(out, "  product:        {}", p.product)?;
    writeln!(out, "  classification: {}", text(&p.classification))?;
    writeln!(out, "  severity:       {}", text(&p.severity))?;
    if let Some(r) = p.released {
        writeln!(out, "  released:       {r}")?;
    }
    for v in &p.vulnerabilities {
        let score = v
            .best_score()
            .map(|s| format!(" CVSS {s:.1}"))
            .unwrap_or_default();
        let kev = if v.known_exploited {
            " known exploited"
        } else {
            ""
        };
        writeln!(out, "  fixes:          {}{score}{kev}", v.id)?;
    }
    for f in &p.fixes {
        writeln!(
            out,
            "  package:        {} {} {} >= {}{}",
            f.platform,
            text(&f.kind),
            f.package,
            f.fixed.as_deref().unwrap_or("(no fixed version)"),
            f.arch
                .as_deref()
                .map(|a| format!(" [{a}]"))
                .unwrap_or_default()
        )?;
    }
    for f in &p.files {
        writeln!(
            out,
            "  file:           {}{}{}",
            f.url,
            f.size.map(|s| format!(" ({s} bytes)")).unwrap_or_default(),
            f.sha256
                .as_deref()
                .map(|h| format!(" sha256:{h}"))
                .unwrap_or_default()
        )?;
    }
    for r in &p.references {
        writeln!(out, "  reference:      {r}")?;
    }
    for s in &p.supersedes {
        writeln!(out, "  supersedes:     {s}")?;
    }
    for s in &p.superseded_by {
        writeln!(out, "  superseded by:  {s}")?;
    }
    for a in &p.advisories {
        writeln!(
            out,
            "  advisory:       {} ({}){}",
            a.id,
            a.source,
            a.url
                .as_deref()
                .map(|u| format!(" {u}"))
                .unwrap_or_default()
        )?;
    }
    Ok(())
}

fn text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

async fn search(store: &Store, args: SearchArgs) -> anyhow::Result<ExitCode> {
    let query = PatchQuery {
        cve: args.cve,
        package: args.package,
        severity: args.severity,
        released_after: args.since,
        released_before: args.until,
        limit: Some(args.limit),
    };
    let patches = store.search(&query).await?;
    let mut out = std::io::stdout().lock();
    match args.format.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &patches)?;
            writeln!(out)?;
        }
        Format::Text => {
            for p in &patches {
                let cves: Vec<&str> = p.cves().collect();
                writeln!(
                    out,
                    "{:<48} {:<10} {:<10} {}",
                    p.id.0,
                    text(&p.severity),
                    p.released
                        .map(|r| r.strftime("%Y-%m-%d").to_string())
                        .unwrap_or_default(),
                    cves.join(" ")
                )?;
            }
        }
    }
    Ok(if patches.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

async fn sources(store: &Store, args: FormatArg) -> anyhow::Result<ExitCode> {
    let sources = store.sources().await?;
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &sources)?;
            writeln!(out)?;
        }
        Format::Text => {
            for s in &sources {
                writeln!(
                    out,
                    "{:<24} {:<5} {:>7} advisories  last success {}{}",
                    s.name,
                    s.kind,
                    s.advisories,
                    s.last_success_at
                        .map(|t| t.to_string())
                        .unwrap_or_else(|| "never".into()),
                    s.last_error
                        .as_deref()
                        .map(|e| format!("  last error: {e}"))
                        .unwrap_or_default()
                )?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
