//! The admin CLI: one typed `Cli`, one module per subcommand. Every flag has an
//! environment variable; flags win over the environment, which wins over defaults.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod catalog;
mod generate;
mod plan;
mod serve;
mod simulate;
mod validate;
mod version;

pub use generate::{Drift, GENERATED_DIRS, GeneratedFile, OPENAPI_FILE, drift, generated_files};
pub use validate::{PolicyFile, read_tree};

/// Fixpoint: declarative patch management, reviewed in git.
#[derive(Debug, Parser)]
#[command(name = "fixpoint", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log format (levels with FIXPOINT_LOG, e.g. `debug` or `fixpoint=debug`).
    #[arg(long, env = "FIXPOINT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Human, global = true)]
    log_format: LogFormat,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check a policy repository and report every problem as path:line:column.
    Validate(validate::ValidateArgs),
    /// Compare and sort package versions under a platform's ordering rules.
    Version(version::VersionArgs),
    /// Write the files generated from the policy and protocol types: JSON Schemas (policies/schema/),
    /// CRDs (crds/) and the agent API's OpenAPI document (docs/openapi.json).
    Generate(generate::GenerateArgs),
    /// The patch catalog: sync vendor feeds, import advisories, show and search patches.
    Catalog(catalog::CatalogArgs),
    /// The plan: what each machine should install, when and why; or what a policy change alters.
    Plan(Box<plan::PlanArgs>),
    /// Run the server: follow the policy, reconcile, serve health, metrics and status.
    Serve(serve::ServeArgs),
    /// A fleet of virtual agents against real servers: enrollment, check-ins, a thundering
    /// herd, reports; throughput, latency percentiles, errors and the servers' memory.
    Simulate(simulate::SimulateArgs),
}

/// Output format of commands that print results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// For people (and, for diagnostics, for editors and CI annotations).
    Text,
    /// For scripts and bots.
    Json,
}

/// The data directory when none is given.
pub const DEFAULT_DATA_DIR: &str = "fixpoint-data";

/// Where Fixpoint keeps its state.
#[derive(Debug, Clone, clap::Args)]
pub struct Database {
    /// Data directory; the embedded SQLite database lives in it (fixpoint.db).
    #[arg(
        long,
        env = "FIXPOINT_DATA_DIR",
        default_value = DEFAULT_DATA_DIR,
        global = true
    )]
    pub data_dir: std::path::PathBuf,
    /// Database URL instead of the data directory's SQLite file: sqlite://PATH or
    /// postgres://USER@HOST:PORT/DB (for large fleets and several replicas).
    #[arg(long, env = "FIXPOINT_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
}

impl Database {
    pub async fn open(&self) -> anyhow::Result<crate::store::Store> {
        use anyhow::Context;
        Ok(match &self.database_url {
            Some(url) => crate::store::Store::open(url)
                .await
                .with_context(|| format!("opening {}", redact(url)))?,
            None => crate::store::Store::open_in_data_dir(&self.data_dir)
                .await
                .with_context(|| format!("opening the database in {}", self.data_dir.display()))?,
        })
    }
}

/// A database URL with its password replaced, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// How log lines look: readable on a terminal, JSON for log collectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FIXPOINT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,fixpoint=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
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
    init_logging(cli.log_format);
    let result = match cli.command {
        Command::Validate(args) => validate::run(args),
        Command::Version(args) => Ok(version::run(args)),
        Command::Generate(args) => generate::run(args),
        Command::Catalog(args) => catalog::run(args),
        Command::Plan(args) => plan::run(*args),
        Command::Serve(args) => serve::run(args),
        Command::Simulate(args) => simulate::run(args),
    };
    match result {
        Ok(code) => code,
        // Output piped into `head` and closed: not an error worth a message.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
