//! `fixpoint serve`: run the server.
//!
//! Settings come from, strongest first: command-line flags, environment
//! variables (`FIXPOINT_*`), the config file (`--config`, YAML), defaults.
//! The defaults run a complete server on a laptop: SQLite in `fixpoint-data/`,
//! the example `policies/` directory, listening on 127.0.0.1:8080.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

use super::Database;
use crate::server;
use crate::source::follow::GitSource;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// A YAML config file; flags and environment variables override it.
    #[arg(long, env = "FIXPOINT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080; port 0 picks a free one].
    #[arg(long, env = "FIXPOINT_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Policy directory to follow [default: policies].
    #[arg(long, env = "FIXPOINT_POLICY_DIR")]
    pub policies: Option<PathBuf>,
    /// Follow this git repository (path, file:// or git:// URL) instead of --policies.
    #[arg(long, env = "FIXPOINT_GIT_URL")]
    pub git_url: Option<String>,
    /// The branch to follow [default: main].
    #[arg(long, env = "FIXPOINT_GIT_BRANCH")]
    pub git_branch: Option<String>,
    /// The policy directory inside the repository [default: the root].
    #[arg(long, env = "FIXPOINT_GIT_PATH")]
    pub git_path: Option<PathBuf>,
    /// The token agents enroll with (unset: enrollment is closed).
    #[arg(long, env = "FIXPOINT_ENROLLMENT_TOKEN", hide_env_values = true)]
    pub enrollment_token: Option<String>,
    /// Fleet snapshot to plan instead of the agents' reports (docs/fleet-snapshot.md).
    #[arg(long, env = "FIXPOINT_FLEET")]
    pub fleet: Option<PathBuf>,
    /// How often the policy is re-read and the fleet replanned, e.g. 30s, 5m [default: 1m].
    #[arg(long, env = "FIXPOINT_RECONCILE_INTERVAL")]
    pub reconcile_interval: Option<String>,
    #[command(flatten)]
    pub database: Database,
}

/// The config file: the same settings, camelCase.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    policies: Option<PathBuf>,
    fleet: Option<PathBuf>,
    reconcile_interval: Option<String>,
    enrollment_token: Option<String>,
    git_url: Option<String>,
    git_branch: Option<String>,
    git_path: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
}

const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let file = match &args.config {
        Some(path) => read_config(path)?,
        None => FileConfig::default(),
    };
    let listen = match args.listen.or(file.listen) {
        Some(a) => a,
        None => DEFAULT_LISTEN.parse().context("the default address")?,
    };
    let interval_text = args
        .reconcile_interval
        .or(file.reconcile_interval)
        .unwrap_or_else(|| "1m".to_owned());
    let interval: fixpoint_core::policy::Duration = interval_text
        .parse()
        .map_err(|e| anyhow::anyhow!("invalid reconcile interval {interval_text:?}: {e}"))?;
    let seconds = u64::try_from(interval.as_secs()).unwrap_or(0);
    anyhow::ensure!(
        seconds >= 1,
        "the reconcile interval must be at least one second, not {interval_text:?}"
    );
    // A flag or variable wins; the file fills in what they leave at the default.
    let mut database = args.database;
    if database.database_url.is_none() {
        database.database_url = file.database_url;
    }
    if database.data_dir == Path::new(super::DEFAULT_DATA_DIR)
        && let Some(dir) = file.data_dir
    {
        database.data_dir = dir;
    }
    let git = args.git_url.or(file.git_url).map(|url| GitSource {
        url,
        branch: args
            .git_branch
            .or(file.git_branch)
            .unwrap_or_else(|| "main".to_owned()),
        path: args.git_path.or(file.git_path),
        mirror: database.data_dir.join("policy-mirror.git"),
    });
    let config = server::Config {
        git,
        listen,
        policies: args
            .policies
            .or(file.policies)
            .unwrap_or_else(|| PathBuf::from("policies")),
        fleet: args.fleet.or(file.fleet),
        reconcile_interval: Duration::from_secs(seconds),
        enrollment_token: args.enrollment_token.or(file.enrollment_token),
        staging: Some(database.data_dir.join("staging")),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let store = database.open().await?;
        server::run(config, store, shutdown_signal()).await
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Reads the config file with the policy loader's YAML reader, so a mistake is
/// reported with its line and column, and every unknown setting is named.
fn read_config(path: &Path) -> anyhow::Result<FileConfig> {
    use fixpoint_core::policy::{de, yaml};
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file {}", path.display()))?;
    let stream = yaml::parse_stream(&text, yaml::Limits::default());
    let at = |pos: yaml::Pos| format!("{}:{}:{}", path.display(), pos.line, pos.column);
    if let Some(issue) = stream.issues.first() {
        anyhow::bail!("{}: {}", at(issue.pos), issue.message);
    }
    let Some(node) = stream.documents.first() else {
        return Ok(FileConfig::default());
    };
    anyhow::ensure!(
        stream.documents.len() == 1,
        "{}: one YAML document expected, found {}",
        path.display(),
        stream.documents.len()
    );
    let unknown = de::UnknownFields::default();
    let config: FileConfig = de::from_node(node, &unknown)
        .map_err(|e| anyhow::anyhow!("{}: {e}", at(e.pos.unwrap_or(node.pos))))?;
    if let Some(e) = unknown.borrow().first() {
        anyhow::bail!("{}: {e}", at(e.pos.unwrap_or(node.pos)));
    }
    Ok(config)
}

/// Completes on SIGTERM (what Kubernetes and systemd send) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
