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
    /// A file holding the enrollment token (a mounted Kubernetes Secret), read at each
    /// enrollment so a rotated token applies at once.
    #[arg(
        long,
        env = "FIXPOINT_ENROLLMENT_TOKEN_FILE",
        conflicts_with = "enrollment_token"
    )]
    pub enrollment_token_file: Option<PathBuf>,
    /// The secret that authenticates webhook deliveries (GitHub's HMAC secret, GitLab's
    /// token); unset: no webhook.
    #[arg(long, env = "FIXPOINT_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,
    /// A file holding the webhook secret.
    #[arg(
        long,
        env = "FIXPOINT_WEBHOOK_SECRET_FILE",
        conflicts_with = "webhook_secret"
    )]
    pub webhook_secret_file: Option<PathBuf>,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key); plain HTTP otherwise.
    #[arg(long, env = "FIXPOINT_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "FIXPOINT_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Sync the catalog sources of the policy's Settings on their intervals [default: true].
    #[arg(long, env = "FIXPOINT_CATALOG_SYNC", value_name = "BOOL")]
    pub catalog_sync: Option<bool>,
    /// Stage the files of patches that rings receive within this long, e.g. 48h [default: 48h].
    #[arg(long, env = "FIXPOINT_STAGING_HORIZON")]
    pub staging_horizon: Option<String>,
    /// Downloads into the staging store at once [default: 4].
    #[arg(long, env = "FIXPOINT_STAGING_CONCURRENCY")]
    pub staging_concurrency: Option<usize>,
    /// Bandwidth of all staging downloads together, in bytes a second [default: unlimited].
    #[arg(long, env = "FIXPOINT_STAGING_BANDWIDTH")]
    pub staging_bandwidth: Option<u64>,
    /// Staged files no patch needs are removed after this long [default: 7d].
    #[arg(long, env = "FIXPOINT_STAGING_RETENTION")]
    pub staging_retention: Option<String>,
    /// Agent requests handled at once; more are answered 503 with Retry-After [default: 512].
    #[arg(long, env = "FIXPOINT_MAX_AGENT_REQUESTS")]
    pub max_agent_requests: Option<usize>,
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
    enrollment_token_file: Option<PathBuf>,
    webhook_secret: Option<String>,
    webhook_secret_file: Option<PathBuf>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    catalog_sync: Option<bool>,
    staging_horizon: Option<String>,
    staging_concurrency: Option<usize>,
    staging_bandwidth: Option<u64>,
    staging_retention: Option<String>,
    max_agent_requests: Option<usize>,
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
    let interval = duration(
        "reconcile interval",
        args.reconcile_interval.or(file.reconcile_interval),
        "1m",
    )?;
    let staging_defaults = server::StagingConfig::default();
    let horizon = duration(
        "staging horizon",
        args.staging_horizon.or(file.staging_horizon),
        "48h",
    )?;
    let retention = duration(
        "staging retention",
        args.staging_retention.or(file.staging_retention),
        "7d",
    )?;
    let secret = |value: Option<String>,
                  path: Option<PathBuf>,
                  file_value: Option<String>,
                  file_path: Option<PathBuf>| {
        // The command line and environment, then the config file; a value before a file.
        match (value, path) {
            (Some(v), _) => Some(server::Secret::Value(v)),
            (None, Some(p)) => Some(server::Secret::File(p)),
            (None, None) => file_value
                .map(server::Secret::Value)
                .or(file_path.map(server::Secret::File)),
        }
    };
    let enrollment_token = secret(
        args.enrollment_token,
        args.enrollment_token_file,
        file.enrollment_token,
        file.enrollment_token_file,
    );
    let webhook_secret = secret(
        args.webhook_secret,
        args.webhook_secret_file,
        file.webhook_secret,
        file.webhook_secret_file,
    );
    let tls = match (
        args.tls_cert.or(file.tls_cert),
        args.tls_key.or(file.tls_key),
    ) {
        (Some(cert), Some(key)) => Some(server::TlsFiles { cert, key }),
        (None, None) => None,
        _ => anyhow::bail!("HTTPS needs both a certificate (tlsCert) and a key (tlsKey)"),
    };
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
        reconcile_interval: interval,
        enrollment_token,
        staging: server::StagingConfig {
            dir: Some(database.data_dir.join("staging")),
            horizon,
            concurrency: args
                .staging_concurrency
                .or(file.staging_concurrency)
                .unwrap_or(staging_defaults.concurrency)
                .max(1),
            bandwidth: args.staging_bandwidth.or(file.staging_bandwidth),
            retention,
            retry: staging_defaults.retry,
        },
        catalog_sync: args.catalog_sync.or(file.catalog_sync).unwrap_or(true),
        webhook_secret,
        tls,
        max_agent_requests: args
            .max_agent_requests
            .or(file.max_agent_requests)
            .unwrap_or(512)
            .max(1),
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

/// A duration setting (`30s`, `5m`, `48h`, `7d`), `default` when unset; at least a second.
fn duration(what: &str, text: Option<String>, default: &str) -> anyhow::Result<Duration> {
    let text = text.unwrap_or_else(|| default.to_owned());
    let parsed: fixpoint_core::policy::Duration = text
        .parse()
        .map_err(|e| anyhow::anyhow!("invalid {what} {text:?}: {e}"))?;
    let seconds = u64::try_from(parsed.as_secs()).unwrap_or(0);
    anyhow::ensure!(
        seconds >= 1,
        "the {what} must be at least one second, not {text:?}"
    );
    Ok(Duration::from_secs(seconds))
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
