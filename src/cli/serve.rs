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
use crate::console::{ConsoleAuth, TrustedHeader};
use crate::server;
use crate::source::follow::{self, GitAuth, GitSource, Secret, TokenSource};

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
    /// Follow this git repository (https://, http://, ssh://, user@host:path, git://,
    /// file:// or a path) instead of --policies.
    #[arg(long, env = "FIXPOINT_GIT_URL")]
    pub git_url: Option<String>,
    /// The branch to follow [default: main].
    #[arg(long, env = "FIXPOINT_GIT_BRANCH")]
    pub git_branch: Option<String>,
    /// The policy directory inside the repository [default: the root].
    #[arg(long, env = "FIXPOINT_GIT_PATH")]
    pub git_path: Option<PathBuf>,
    #[command(flatten)]
    pub git_auth: GitAuthArgs,
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
    pub console: ConsoleArgs,
    #[command(flatten)]
    pub database: Database,
}

/// Who may read the console and its JSON API (separate from the agents'
/// credentials). Without any of these the console is closed.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConsoleArgs {
    /// A bearer token that opens the console.
    #[arg(long, env = "FIXPOINT_CONSOLE_TOKEN", hide_env_values = true)]
    pub console_token: Option<String>,
    /// A file holding the console's bearer token, read at each request.
    #[arg(
        long,
        env = "FIXPOINT_CONSOLE_TOKEN_FILE",
        conflicts_with = "console_token"
    )]
    pub console_token_file: Option<PathBuf>,
    /// A user name for basic authentication (with --console-password-file).
    #[arg(long, env = "FIXPOINT_CONSOLE_USER")]
    pub console_user: Option<String>,
    /// A file holding the --console-user's password.
    #[arg(long, env = "FIXPOINT_CONSOLE_PASSWORD_FILE")]
    pub console_password_file: Option<PathBuf>,
    /// Trust the user name in this header, set by an authenticating proxy such as
    /// oauth2-proxy (e.g. X-Forwarded-User). Only safe when nothing but the proxy
    /// reaches the server.
    #[arg(long, env = "FIXPOINT_CONSOLE_AUTH_HEADER")]
    pub console_auth_header: Option<String>,
    /// The proxy's header with the user's groups, comma-separated (e.g. X-Forwarded-Groups).
    #[arg(
        long,
        env = "FIXPOINT_CONSOLE_GROUPS_HEADER",
        requires = "console_auth_header"
    )]
    pub console_groups_header: Option<String>,
    /// Users the proxy header lets in (comma-separated or repeated).
    #[arg(long, env = "FIXPOINT_CONSOLE_ALLOW_USERS", value_delimiter = ',')]
    pub console_allow_users: Vec<String>,
    /// Groups the proxy header lets in (comma-separated or repeated).
    #[arg(long, env = "FIXPOINT_CONSOLE_ALLOW_GROUPS", value_delimiter = ',')]
    pub console_allow_groups: Vec<String>,
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
    // Credentials and signatures for `gitUrl`: see `GitAuthArgs`.
    git_token: Option<String>,
    git_token_file: Option<PathBuf>,
    git_username: Option<String>,
    git_ssh_key: Option<PathBuf>,
    git_ssh_key_passphrase: Option<String>,
    git_known_hosts: Option<PathBuf>,
    git_allowed_signers: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    console_token: Option<String>,
    console_token_file: Option<PathBuf>,
    console_user: Option<String>,
    console_password_file: Option<PathBuf>,
    console_auth_header: Option<String>,
    console_groups_header: Option<String>,
    #[serde(default)]
    console_allow_users: Vec<String>,
    #[serde(default)]
    console_allow_groups: Vec<String>,
}

const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut file = match &args.config {
        Some(path) => read_config(path)?,
        None => FileConfig::default(),
    };
    let console = console_auth(args.console, &mut file)?;
    let git_url = args.git_url.or(file.git_url.take());
    let (auth, allowed_signers) = git_credentials(args.git_auth, &mut file, git_url.is_some())?;
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
    let git = git_url.map(|url| GitSource {
        url,
        branch: args
            .git_branch
            .or(file.git_branch)
            .unwrap_or_else(|| "main".to_owned()),
        path: args.git_path.or(file.git_path),
        mirror: database.data_dir.join("policy-mirror.git"),
        auth,
        allowed_signers,
    });
    if let Some(git) = &git {
        check_git_source(git)?;
    }
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
        console,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(async move {
        let store = database.open().await?;
        server::run(config, store, shutdown_signal()).await
    });
    // A planning pass abandoned at shutdown may still be running on a blocking thread
    // (minutes for a million machines): its result is not wanted, so do not wait for it.
    runtime.shutdown_timeout(Duration::from_secs(1));
    result?;
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
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file {}", path.display()))?;
    fixpoint_core::policy::de::from_config_text(&text).map_err(|e| match e.pos {
        Some(pos) => anyhow::anyhow!("{}:{}:{}: {e}", path.display(), pos.line, pos.column),
        None => anyhow::anyhow!("{}: {e}", path.display()),
    })
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

// ---- Credentials and signed commits for the followed git repository ----
//
// Kept in one block: the flags (`GitAuthArgs`), how they and the config file's keys make a
// `GitAuth`, and the start-up checks.

/// The console's authentication from flags, then the config file.
fn console_auth(args: ConsoleArgs, file: &mut FileConfig) -> anyhow::Result<ConsoleAuth> {
    let token = match (args.console_token, args.console_token_file) {
        (Some(v), _) => Some(server::Secret::Value(v)),
        (None, Some(p)) => Some(server::Secret::File(p)),
        (None, None) => file
            .console_token
            .take()
            .map(server::Secret::Value)
            .or(file.console_token_file.take().map(server::Secret::File)),
    };
    let user = args.console_user.or(file.console_user.take());
    let password = args
        .console_password_file
        .or(file.console_password_file.take());
    let basic = match (user, password) {
        (Some(u), Some(p)) => Some((u, server::Secret::File(p))),
        (None, None) => None,
        (Some(_), None) => anyhow::bail!(
            "--console-user needs --console-password-file (consolePasswordFile in the config)"
        ),
        (None, Some(_)) => anyhow::bail!(
            "--console-password-file needs --console-user (consoleUser in the config)"
        ),
    };
    let header = args.console_auth_header.or(file.console_auth_header.take());
    let allow_users = if args.console_allow_users.is_empty() {
        std::mem::take(&mut file.console_allow_users)
    } else {
        args.console_allow_users
    };
    let allow_groups = if args.console_allow_groups.is_empty() {
        std::mem::take(&mut file.console_allow_groups)
    } else {
        args.console_allow_groups
    };
    let trusted = match header {
        Some(user) => {
            anyhow::ensure!(
                !allow_users.is_empty() || !allow_groups.is_empty(),
                "--console-auth-header needs an allow-list: --console-allow-users or --console-allow-groups"
            );
            Some(TrustedHeader {
                user,
                groups: args
                    .console_groups_header
                    .or(file.console_groups_header.take()),
                allow_users,
                allow_groups,
            })
        }
        None => {
            anyhow::ensure!(
                allow_users.is_empty() && allow_groups.is_empty(),
                "--console-allow-users and --console-allow-groups need --console-auth-header"
            );
            None
        }
    };
    let auth = ConsoleAuth {
        token,
        basic,
        trusted,
    };
    if !auth.is_configured() {
        tracing::warn!(
            "no console authentication is configured: the console and its API answer 401 \
             (see --console-token-file, --console-user, --console-auth-header)"
        );
    }
    Ok(auth)
}

/// How to reach the followed git repository (`--git-url`) and which of its commits to trust.
#[derive(Debug, clap::Args)]
pub struct GitAuthArgs {
    /// A token for an https:// (or http://) repository, sent as the password of HTTP basic
    /// authentication. Prefer --git-token-file, or the environment variable over the flag.
    #[arg(long, env = "FIXPOINT_GIT_TOKEN", hide_env_values = true)]
    pub git_token: Option<String>,
    /// A file holding the token (e.g. a mounted Kubernetes Secret), read again before every
    /// fetch so a rotated token is picked up.
    #[arg(long, env = "FIXPOINT_GIT_TOKEN_FILE")]
    pub git_token_file: Option<PathBuf>,
    /// The user name sent with the token [default: x-access-token, which GitHub accepts;
    /// GitLab wants oauth2].
    #[arg(long, env = "FIXPOINT_GIT_USERNAME")]
    pub git_username: Option<String>,
    /// An SSH private key for an ssh:// or user@host:path repository (the user comes from
    /// the URL, `git` when it names none). Needs --git-known-hosts.
    #[arg(long, env = "FIXPOINT_GIT_SSH_KEY")]
    pub git_ssh_key: Option<PathBuf>,
    /// The passphrase of an encrypted --git-ssh-key. Prefer the environment variable.
    #[arg(long, env = "FIXPOINT_GIT_SSH_KEY_PASSPHRASE", hide_env_values = true)]
    pub git_ssh_key_passphrase: Option<String>,
    /// An OpenSSH known_hosts file listing the SSH server's host key; any other host key is
    /// refused (e.g. `ssh-keyscan -p PORT HOST`, checked against the server's fingerprint).
    #[arg(long, env = "FIXPOINT_GIT_KNOWN_HOSTS")]
    pub git_known_hosts: Option<PathBuf>,
    /// Follow only commits with an SSH signature by a key of this OpenSSH allowed_signers
    /// file (`git -c gpg.format=ssh commit -S`); an unsigned or badly signed commit fails the
    /// pass and the last good revision stays in force.
    #[arg(long, env = "FIXPOINT_GIT_ALLOWED_SIGNERS")]
    pub git_allowed_signers: Option<PathBuf>,
}

/// The credentials and the allowed signers file, from flags and environment over the config
/// file. The token is one setting however it is given: a `--git-token-file` replaces a
/// `gitToken` of the config file rather than conflicting with it.
fn git_credentials(
    args: GitAuthArgs,
    file: &mut FileConfig,
    has_url: bool,
) -> anyhow::Result<(GitAuth, Option<PathBuf>)> {
    let (token, token_file) = if args.git_token.is_some() || args.git_token_file.is_some() {
        (args.git_token, args.git_token_file)
    } else {
        (file.git_token.take(), file.git_token_file.take())
    };
    let username = args.git_username.or(file.git_username.take());
    let ssh_key = args.git_ssh_key.or(file.git_ssh_key.take());
    let passphrase = args
        .git_ssh_key_passphrase
        .or(file.git_ssh_key_passphrase.take());
    let known_hosts = args.git_known_hosts.or(file.git_known_hosts.take());
    let allowed_signers = args.git_allowed_signers.or(file.git_allowed_signers.take());

    let given: Vec<&str> = [
        (token.is_some(), "--git-token"),
        (token_file.is_some(), "--git-token-file"),
        (username.is_some(), "--git-username"),
        (ssh_key.is_some(), "--git-ssh-key"),
        (passphrase.is_some(), "--git-ssh-key-passphrase"),
        (known_hosts.is_some(), "--git-known-hosts"),
        (allowed_signers.is_some(), "--git-allowed-signers"),
    ]
    .into_iter()
    .filter_map(|(set, name)| set.then_some(name))
    .collect();
    if !has_url {
        anyhow::ensure!(
            given.is_empty(),
            "{} set without --git-url: there is no git repository to use it for",
            given.join(", ")
        );
        return Ok((GitAuth::None, None));
    }
    let token = match (token, token_file) {
        (Some(_), Some(_)) => {
            anyhow::bail!("give the git token once: --git-token or --git-token-file, not both")
        }
        (Some(token), None) => {
            anyhow::ensure!(!token.trim().is_empty(), "the git token is empty");
            Some(TokenSource::Value(Secret::new(token.trim())))
        }
        (None, Some(path)) => Some(TokenSource::File(path)),
        (None, None) => None,
    };
    let auth = match (token, ssh_key) {
        (Some(_), Some(_)) => anyhow::bail!(
            "a git token (HTTPS) and an SSH key cannot both be set: the URL's transport uses one"
        ),
        (Some(token), None) => {
            anyhow::ensure!(
                passphrase.is_none() && known_hosts.is_none(),
                "--git-ssh-key-passphrase and --git-known-hosts are for SSH, not for a token"
            );
            GitAuth::Token {
                username: username.unwrap_or_else(|| follow::DEFAULT_TOKEN_USERNAME.to_owned()),
                token,
            }
        }
        (None, Some(key)) => {
            anyhow::ensure!(
                username.is_none(),
                "--git-username is the user sent with a token; for SSH put the user in the URL \
                 (ssh://user@host/path)"
            );
            let Some(known_hosts) = known_hosts else {
                anyhow::bail!(
                    "--git-ssh-key needs --git-known-hosts: the SSH server's host key is always \
                     checked"
                );
            };
            GitAuth::SshKey {
                key,
                passphrase: passphrase.map(Secret::new),
                known_hosts,
            }
        }
        (None, None) => {
            let stray: Vec<&str> = given
                .iter()
                .copied()
                .filter(|name| *name != "--git-allowed-signers")
                .collect();
            anyhow::ensure!(
                stray.is_empty(),
                "{} set without a credential (--git-token, --git-token-file or --git-ssh-key)",
                stray.join(", ")
            );
            GitAuth::None
        }
    };
    Ok((auth, allowed_signers))
}

/// Refuses credentials that do not fit the URL before the server starts, warns about a
/// token sent unencrypted, and sets libgit2's network timeouts while this is still the only
/// thread.
fn check_git_source(git: &GitSource) -> anyhow::Result<()> {
    git.check()?;
    if git.sends_token_in_clear() {
        tracing::warn!(
            "the git token is sent unencrypted over http://; use https:// outside a test setup"
        );
    }
    fixpoint_git_timeouts::set_once(follow::NETWORK_TIMEOUTS);
    Ok(())
}

#[cfg(test)]
mod git_credentials_tests {
    use super::*;

    fn args() -> GitAuthArgs {
        GitAuthArgs {
            git_token: None,
            git_token_file: None,
            git_username: None,
            git_ssh_key: None,
            git_ssh_key_passphrase: None,
            git_known_hosts: None,
            git_allowed_signers: None,
        }
    }

    #[test]
    fn a_token_file_flag_replaces_the_config_files_token_instead_of_conflicting() {
        let mut file = FileConfig {
            git_token: Some("from-the-file".to_owned()),
            git_username: Some("oauth2".to_owned()),
            ..FileConfig::default()
        };
        let flags = GitAuthArgs {
            git_token_file: Some(PathBuf::from("/run/secrets/token")),
            ..args()
        };
        let (auth, signers) = git_credentials(flags, &mut file, true).expect("valid settings");
        assert_eq!(
            auth,
            GitAuth::Token {
                username: "oauth2".to_owned(),
                token: TokenSource::File(PathBuf::from("/run/secrets/token")),
            }
        );
        assert_eq!(signers, None);
    }

    #[test]
    fn a_token_without_a_user_name_is_sent_as_x_access_token() {
        let flags = GitAuthArgs {
            git_token: Some("t0ken\n".to_owned()),
            ..args()
        };
        let (auth, _) =
            git_credentials(flags, &mut FileConfig::default(), true).expect("valid settings");
        assert_eq!(
            auth,
            GitAuth::Token {
                username: "x-access-token".to_owned(),
                token: TokenSource::Value(Secret::new("t0ken")),
            }
        );
    }

    #[test]
    fn an_ssh_key_without_known_hosts_is_refused() {
        let flags = GitAuthArgs {
            git_ssh_key: Some(PathBuf::from("id_ed25519")),
            ..args()
        };
        let error = git_credentials(flags, &mut FileConfig::default(), true)
            .expect_err("the host key must be checkable");
        assert!(error.to_string().contains("--git-known-hosts"), "{error}");
    }

    #[test]
    fn a_token_and_an_ssh_key_together_are_refused() {
        let flags = GitAuthArgs {
            git_token: Some("t0ken".to_owned()),
            git_ssh_key: Some(PathBuf::from("id_ed25519")),
            git_known_hosts: Some(PathBuf::from("known_hosts")),
            ..args()
        };
        let error =
            git_credentials(flags, &mut FileConfig::default(), true).expect_err("one credential");
        assert!(error.to_string().contains("cannot both be set"), "{error}");
        assert!(!error.to_string().contains("t0ken"), "{error}");
    }

    #[test]
    fn git_settings_without_a_git_url_are_an_error_naming_them() {
        let mut file = FileConfig {
            git_allowed_signers: Some(PathBuf::from("allowed_signers")),
            ..FileConfig::default()
        };
        let flags = GitAuthArgs {
            git_token: Some("t0ken".to_owned()),
            ..args()
        };
        let error = git_credentials(flags, &mut file, false).expect_err("no repository");
        let message = error.to_string();
        assert!(
            message.starts_with("--git-token, --git-allowed-signers set without --git-url"),
            "{message}"
        );
    }

    #[test]
    fn the_config_file_takes_the_credentials_in_camel_case() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("fixpoint.yaml");
        std::fs::write(
            &path,
            "gitUrl: git@github.com:corp/policy.git\n\
             gitSshKey: /run/secrets/deploy-key\n\
             gitSshKeyPassphrase: correct horse\n\
             gitKnownHosts: /etc/fixpoint/known_hosts\n\
             gitAllowedSigners: /etc/fixpoint/allowed_signers\n",
        )
        .expect("write the config file");
        let mut file = read_config(&path).expect("every key is known");
        let (auth, signers) = git_credentials(args(), &mut file, true).expect("valid settings");
        assert_eq!(
            auth,
            GitAuth::SshKey {
                key: PathBuf::from("/run/secrets/deploy-key"),
                passphrase: Some(Secret::new("correct horse")),
                known_hosts: PathBuf::from("/etc/fixpoint/known_hosts"),
            }
        );
        assert_eq!(
            signers,
            Some(PathBuf::from("/etc/fixpoint/allowed_signers"))
        );
    }

    #[test]
    fn allowed_signers_alone_is_valid_for_an_anonymous_repository() {
        let flags = GitAuthArgs {
            git_allowed_signers: Some(PathBuf::from("allowed_signers")),
            ..args()
        };
        let (auth, signers) =
            git_credentials(flags, &mut FileConfig::default(), true).expect("valid settings");
        assert_eq!(auth, GitAuth::None);
        assert_eq!(signers, Some(PathBuf::from("allowed_signers")));
    }
}
