//! Following a remote git repository: a bare mirror in the data directory, fetched on every
//! pass, read at the branch's commit.
//!
//! ```text
//!  remote ──fetch──▶ mirror ──▶ signature check ──▶ read_tree_at(commit) ──▶ policy files
//!    credentials,     refs/remotes/origin/BRANCH:   allowed_signers, before
//!    host key check,  force-pushes followed, a      any file is read
//!    timeouts         deleted branch pruned
//! ```
//!
//! Transports ([`Transport`]): local paths and `file://`, `git://`, `http://` and `https://`
//! (HTTPS with the system's OpenSSL and CA store; `SSL_CERT_FILE`/`SSL_CERT_DIR` point it
//! elsewhere), and SSH (`ssh://user@host:port/path` or `user@host:path`).
//!
//! Credentials ([`GitAuth`]) are offered only when the server asks for them:
//! - a token is sent as the password of HTTP basic authentication, with a configurable user
//!   name (`x-access-token` by default, which GitHub accepts; GitLab takes `oauth2`). A token
//!   file is read again before every fetch, so a rotated secret (a Kubernetes Secret volume is
//!   updated in place) is used without a restart. The token never appears in logs or errors:
//!   [`Secret`] does not print it, and every error message is scrubbed of it.
//! - an SSH key is offered by libssh2, and only to a server whose host key the configured
//!   known_hosts file lists (module `known_hosts`): an unknown or changed host key is refused
//!   before authentication, with both fingerprints in the error.
//!
//! A refused credential is not retried: libgit2 would ask again and again, so the second
//! request for the same kind of credential ends the fetch with a message saying which was
//! refused. libgit2's network timeouts ([`NETWORK_TIMEOUTS`]) make a remote that stops
//! answering a failed pass instead of a fetch that never returns.
//!
//! With an allowed signers file (module `signers`), the fetched commit must carry a valid SSH
//! signature by one of its keys; otherwise the fetch fails naming the commit and the reason,
//! and the server keeps serving its last good revision (a failed fetch is a failed pass).

mod known_hosts;
mod signers;

use std::cell::RefCell;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use fixpoint_git_timeouts::Timeouts;
use git2::{
    AutotagOption, CertificateCheckStatus, Cred, CredentialType, FetchOptions, FetchPrune,
    ProxyOptions, RemoteCallbacks,
};

use self::known_hosts::KnownHosts;
use self::signers::AllowedSigners;
use super::{Revision, read_tree_at};

/// How long a fetch waits for the network. Generous for a git server that is slow to start
/// sending a large pack, short enough that a hung remote fails the pass within minutes rather
/// than never.
pub const NETWORK_TIMEOUTS: Timeouts = Timeouts {
    connect: Duration::from_secs(30),
    io: Duration::from_secs(120),
};

/// The HTTP user name sent with a token when none is configured. GitHub takes any user name
/// with an installation or personal token and documents this one; GitLab wants `oauth2`,
/// Bitbucket `x-token-auth`.
pub const DEFAULT_TOKEN_USERNAME: &str = "x-access-token";

/// The SSH user when the URL names none: the one every git hosting service uses.
const DEFAULT_SSH_USER: &str = "git";

/// A branch of a remote repository, where its policy lives in it, and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitSource {
    /// The repository's URL or path.
    pub url: String,
    pub branch: String,
    /// The policy directory inside the repository; `None`: the root.
    pub path: Option<PathBuf>,
    /// The bare mirror, created on the first fetch.
    pub mirror: PathBuf,
    /// The credentials offered when the server asks for them.
    pub auth: GitAuth,
    /// An OpenSSH allowed_signers file: when set, only a commit signed by one of its keys
    /// is read.
    pub allowed_signers: Option<PathBuf>,
}

/// Credentials for the remote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum GitAuth {
    /// Anonymous: local paths, `git://`, public HTTP(S) repositories.
    #[default]
    None,
    /// A token sent as the password of HTTP basic authentication (HTTP and HTTPS only).
    Token {
        /// The basic-auth user name ([`DEFAULT_TOKEN_USERNAME`] unless the host wants another).
        username: String,
        token: TokenSource,
    },
    /// An SSH private key, and the known_hosts file the server's host key must be in.
    SshKey {
        /// The private key file (OpenSSH or PEM format).
        key: PathBuf,
        /// The key's passphrase, if it is encrypted.
        passphrase: Option<Secret>,
        /// An OpenSSH known_hosts file listing the server's host key.
        known_hosts: PathBuf,
    },
}

/// Where a token comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// Given as a setting (flag, environment variable, config file).
    Value(Secret),
    /// Read from this file before every fetch, surrounding whitespace removed, so a rotated
    /// token is used from the next pass on.
    File(PathBuf),
}

/// A token or passphrase. `Debug` does not print it, so a logged configuration does not
/// leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(secret: impl Into<String>) -> Secret {
        Secret(secret.into())
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// How a URL is reached, as git decides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// A path, or `file://`.
    Local,
    /// `git://`: unauthenticated, unencrypted.
    Git,
    Http,
    Https,
    /// `ssh://` (also `ssh+git://`, `git+ssh://`), or scp-like `user@host:path`.
    Ssh,
}

impl Transport {
    /// The transport of `url`, by git's rules: a scheme before `://`, else scp-like when a
    /// `:` comes before any `/`, else a local path.
    pub fn of(url: &str) -> anyhow::Result<Transport> {
        if let Some((scheme, _)) = url.split_once("://") {
            return Ok(match scheme.to_ascii_lowercase().as_str() {
                "file" => Transport::Local,
                "git" => Transport::Git,
                "http" => Transport::Http,
                "https" => Transport::Https,
                "ssh" | "ssh+git" | "git+ssh" => Transport::Ssh,
                other => anyhow::bail!(
                    "unsupported git URL scheme `{other}://` in {}: use https://, http://, \
                     ssh://, git://, file:// or a path",
                    redacted(url)
                ),
            });
        }
        match url.find(':') {
            Some(colon) if !url[..colon].contains('/') && !is_drive_letter(&url[..colon]) => {
                Ok(Transport::Ssh)
            }
            _ => Ok(Transport::Local),
        }
    }
}

fn is_drive_letter(before_colon: &str) -> bool {
    before_colon.len() == 1 && before_colon.bytes().all(|b| b.is_ascii_alphabetic())
}

impl GitSource {
    /// The remote-tracking reference the branch is fetched into.
    fn tracking_ref(&self) -> String {
        format!("refs/remotes/origin/{}", self.branch)
    }

    /// Checks that the credentials fit the URL's transport, so a mistake is reported at
    /// start-up rather than as a confusing refusal from the server.
    pub fn check(&self) -> anyhow::Result<()> {
        let transport = Transport::of(&self.url)?;
        let url = redacted(&self.url);
        match (&self.auth, transport) {
            (GitAuth::Token { .. }, Transport::Http | Transport::Https) => Ok(()),
            (GitAuth::Token { .. }, _) => anyhow::bail!(
                "a git token is sent only over HTTP(S), and {url} is not an http:// or https:// \
                 URL (SSH takes a key: --git-ssh-key)"
            ),
            (GitAuth::SshKey { .. }, Transport::Ssh) => Ok(()),
            (GitAuth::SshKey { .. }, _) => anyhow::bail!(
                "an SSH key is used only with SSH, and {url} is not an ssh:// or user@host:path \
                 URL (HTTPS takes a token: --git-token or --git-token-file)"
            ),
            (GitAuth::None, Transport::Ssh) => anyhow::bail!(
                "following {url} over SSH needs a key and the server's host key: set \
                 --git-ssh-key and --git-known-hosts"
            ),
            (GitAuth::None, _) => Ok(()),
        }
    }

    /// Whether a token would cross the network unencrypted (`http://`): worth a warning.
    pub fn sends_token_in_clear(&self) -> bool {
        matches!(self.auth, GitAuth::Token { .. })
            && matches!(Transport::of(&self.url), Ok(Transport::Http))
    }

    /// Fetches the branch into the mirror, checks the commit's signature when an allowed
    /// signers file is set, and reads its policy files. Blocking: call it from a blocking
    /// task.
    pub fn fetch(&self) -> anyhow::Result<Revision> {
        self.check()?;
        // A no-op once `fixpoint serve` (or an earlier fetch) has set them.
        fixpoint_git_timeouts::set_once(NETWORK_TIMEOUTS);
        let credentials = Credentials::load(&self.auth)?;
        let known_hosts = match &self.auth {
            GitAuth::SshKey { known_hosts, .. } => {
                Some(KnownHosts::read(known_hosts).map_err(anyhow::Error::msg)?)
            }
            _ => None,
        };
        // Read before fetching: a broken file fails the pass without touching the network.
        let signers = match &self.allowed_signers {
            Some(path) => Some(AllowedSigners::read(path).map_err(anyhow::Error::msg)?),
            None => None,
        };
        let repo = open_mirror(&self.mirror)?;
        self.fetch_into(&repo, &credentials, known_hosts.as_ref())
            .map_err(|e| anyhow::Error::msg(credentials.scrub(&format!("{e:#}"))))?;

        let reference = self.tracking_ref();
        let commit = match repo.find_reference(&reference) {
            Ok(r) => r.peel_to_commit().with_context(|| {
                format!(
                    "`{reference}` in the mirror {} is not a commit",
                    self.mirror.display()
                )
            })?,
            Err(e) if e.code() == git2::ErrorCode::NotFound => {
                anyhow::bail!("{} has no branch `{}`", redacted(&self.url), self.branch)
            }
            Err(e) => {
                return Err(e).with_context(|| {
                    format!(
                        "reading `{reference}` in the mirror {}",
                        self.mirror.display()
                    )
                });
            }
        };
        if let Some(signers) = &signers {
            let time = jiff::Timestamp::from_second(commit.committer().when().seconds())
                .with_context(|| format!("commit {} has an impossible time", commit.id()))?;
            let verified = signers
                .verify_commit(&repo, commit.id(), time)
                .map_err(anyhow::Error::msg)?;
            tracing::debug!(
                commit = %commit.id(),
                signer = %verified.principals,
                key = %verified.fingerprint,
                "commit signature verified"
            );
        }
        // Read the commit that was checked, not the reference, which a concurrent fetch
        // could have moved.
        read_tree_at(&self.mirror, &commit.id().to_string(), self.path.as_deref())
    }

    /// One libgit2 fetch of the branch into the tracking reference, with the callbacks
    /// that answer for credentials and host keys.
    fn fetch_into(
        &self,
        repo: &git2::Repository,
        credentials: &Credentials,
        known_hosts: Option<&KnownHosts>,
    ) -> anyhow::Result<()> {
        let url = redacted(&self.url);
        let mut remote = match repo.find_remote("origin") {
            Ok(r) if r.url() == Some(self.url.as_str()) => r,
            Ok(_) => {
                repo.remote_set_url("origin", &self.url)?;
                repo.find_remote("origin")?
            }
            Err(_) => repo.remote("origin", &self.url)?,
        };
        let ssh_port = ssh_port(&self.url);
        // libgit2 replaces what a callback reports with a generic message ("invalid or
        // unknown remote ssh hostkey"), so the callbacks keep their own reason here.
        let refusal: RefCell<Option<String>> = RefCell::new(None);
        let refuse = |reason: String| {
            let error = git2::Error::from_str(&reason);
            *refusal.borrow_mut() = Some(reason);
            error
        };
        let mut attempts = 0u32;
        let mut callbacks = RemoteCallbacks::new();
        callbacks.credentials(|_url, username_from_url, allowed| {
            if allowed.contains(CredentialType::USERNAME) {
                return Cred::username(DEFAULT_SSH_USER);
            }
            attempts += 1;
            credentials
                .offer(username_from_url, allowed, attempts)
                .map_err(&refuse)
        });
        callbacks.certificate_check(|cert, host| match cert.as_hostkey() {
            // X.509: OpenSSL has checked it against the CA store; let libgit2 decide on that.
            None => Ok(CertificateCheckStatus::CertificatePassthrough),
            Some(hostkey) => {
                let Some(known_hosts) = known_hosts else {
                    return Err(refuse(format!(
                        "the SSH host key of {host} cannot be checked: no known_hosts file is \
                         configured (--git-known-hosts)"
                    )));
                };
                let Some(raw) = hostkey.hostkey() else {
                    return Err(refuse(format!(
                        "the SSH server {host} presented no host key that can be checked"
                    )));
                };
                known_hosts
                    .check(host, ssh_port, raw)
                    .map(|()| CertificateCheckStatus::CertificateOk)
                    .map_err(&refuse)
            }
        });
        let mut proxy = ProxyOptions::new();
        // The proxy the environment and git configuration name, as the feed client does.
        proxy.auto();
        let mut options = FetchOptions::new();
        options
            .remote_callbacks(callbacks)
            .proxy_options(proxy)
            .download_tags(AutotagOption::None)
            // A branch deleted on the remote disappears from the mirror too, instead of
            // being served from a stale tracking reference forever.
            .prune(FetchPrune::On);
        let refspec = format!("+refs/heads/{}:{}", self.branch, self.tracking_ref());
        let fetched = remote.fetch(&[refspec.as_str()], Some(&mut options), None);
        drop(options);
        match fetched {
            Ok(()) => Ok(()),
            Err(e) => {
                let reason = refusal.borrow_mut().take();
                let reason = reason.unwrap_or_else(|| describe_git_error(&e));
                anyhow::bail!("fetching branch `{}` of {url}: {reason}", self.branch)
            }
        }
    }
}

/// libgit2's message, with a hint for the failures an operator meets most.
fn describe_git_error(e: &git2::Error) -> String {
    let message = e.message().to_owned();
    if e.code() == git2::ErrorCode::Timeout || message.contains("timed out") {
        let timeouts = fixpoint_git_timeouts::in_force().unwrap_or(NETWORK_TIMEOUTS);
        return format!(
            "{message} (the remote did not answer within the network timeout: {:?} to connect, \
             {:?} for any read or write)",
            timeouts.connect, timeouts.io
        );
    }
    if e.class() == git2::ErrorClass::Ssh && message.contains("private key") {
        // libssh2 says "Unsupported private key format" for a wrong passphrase too.
        return format!(
            "{message} (check the SSH key file and its passphrase, \
             FIXPOINT_GIT_SSH_KEY_PASSPHRASE: an encrypted key with a wrong or missing \
             passphrase reads as an unsupported format)"
        );
    }
    message
}

/// Credentials as loaded for one fetch: a token file has been read, a key file checked.
enum Credentials {
    None,
    Token {
        username: String,
        token: String,
    },
    SshKey {
        key: PathBuf,
        passphrase: Option<String>,
    },
}

impl Credentials {
    fn load(auth: &GitAuth) -> anyhow::Result<Credentials> {
        Ok(match auth {
            GitAuth::None => Credentials::None,
            GitAuth::Token { username, token } => Credentials::Token {
                username: username.clone(),
                token: match token {
                    TokenSource::Value(secret) => secret.expose().to_owned(),
                    TokenSource::File(path) => read_token_file(path)?,
                },
            },
            GitAuth::SshKey {
                key, passphrase, ..
            } => {
                // libssh2 says only "unable to open private key file"; say which and why.
                std::fs::File::open(key)
                    .with_context(|| format!("cannot read the SSH key file {}", key.display()))?;
                Credentials::SshKey {
                    key: key.clone(),
                    passphrase: passphrase.as_ref().map(|p| p.expose().to_owned()),
                }
            }
        })
    }

    /// The credential for the server's `attempt`-th request; a second request means the
    /// first was refused, which is reported instead of offered again.
    fn offer(
        &self,
        username_from_url: Option<&str>,
        allowed: CredentialType,
        attempt: u32,
    ) -> Result<Cred, String> {
        match self {
            Credentials::None => Err(format!(
                "the remote asks for credentials ({}), and none are configured: set \
                 --git-token or --git-token-file for HTTPS, --git-ssh-key for SSH",
                describe_allowed(allowed)
            )),
            Credentials::Token { username, token } => {
                if !allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
                    return Err(format!(
                        "the remote asks for {} credentials; a token is sent only as an HTTP \
                         password",
                        describe_allowed(allowed)
                    ));
                }
                if attempt > 1 {
                    return Err(format!(
                        "the server refused the token (HTTP basic authentication as user \
                         `{username}`); check that it is valid, not expired, and may read the \
                         repository"
                    ));
                }
                Cred::userpass_plaintext(username, token).map_err(|e| e.message().to_owned())
            }
            Credentials::SshKey { key, passphrase } => {
                let user = username_from_url.unwrap_or(DEFAULT_SSH_USER);
                if !allowed.contains(CredentialType::SSH_KEY) {
                    return Err(format!(
                        "the SSH server does not accept a key for user `{user}` (it asks for {})",
                        describe_allowed(allowed)
                    ));
                }
                if attempt > 1 {
                    return Err(format!(
                        "the SSH server refused the key {} for user `{user}`: it is not \
                         authorized for the repository",
                        key.display()
                    ));
                }
                Cred::ssh_key(user, None, key, passphrase.as_deref())
                    .map_err(|e| e.message().to_owned())
            }
        }
    }

    /// `text` with every secret replaced by `***`: libgit2's messages are not ours, and a
    /// server may echo what it was sent.
    fn scrub(&self, text: &str) -> String {
        let secret = match self {
            Credentials::Token { token, .. } => Some(token.as_str()),
            Credentials::SshKey { passphrase, .. } => passphrase.as_deref(),
            Credentials::None => None,
        };
        match secret {
            Some(secret) if !secret.is_empty() => text.replace(secret, "***"),
            _ => text.to_owned(),
        }
    }
}

fn read_token_file(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the git token file {}", path.display()))?;
    let token = text.trim();
    anyhow::ensure!(
        !token.is_empty(),
        "the git token file {} is empty",
        path.display()
    );
    Ok(token.to_owned())
}

fn describe_allowed(allowed: CredentialType) -> String {
    let names = [
        (CredentialType::USER_PASS_PLAINTEXT, "user and password"),
        (CredentialType::SSH_KEY, "SSH key"),
        (CredentialType::SSH_CUSTOM, "custom SSH"),
        (CredentialType::SSH_INTERACTIVE, "SSH keyboard-interactive"),
        (CredentialType::SSH_MEMORY, "SSH key in memory"),
        (CredentialType::DEFAULT, "Negotiate/NTLM"),
        (CredentialType::USERNAME, "user name"),
    ];
    let listed: Vec<&str> = names
        .iter()
        .filter(|(kind, _)| allowed.contains(*kind))
        .map(|(_, name)| *name)
        .collect();
    if listed.is_empty() {
        "an unknown kind".to_owned()
    } else {
        listed.join(" or ")
    }
}

/// The port of an `ssh://` URL (22 when it names none, and for scp-like URLs, which cannot).
fn ssh_port(url: &str) -> u16 {
    let Some((_, rest)) = url.split_once("://") else {
        return 22;
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let port = match host_port.rsplit_once(']') {
        // `[::1]:2222`
        Some((_, after)) => after.strip_prefix(':'),
        None => host_port.rsplit_once(':').map(|(_, p)| p),
    };
    port.and_then(|p| p.parse().ok()).unwrap_or(22)
}

/// `url` with the password of its user information, if any, replaced by `***`
/// (`https://user:***@host/repo.git`), for messages.
fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            if userinfo.contains(':') {
                format!("{scheme}://{user}:***@{host}{path}")
            } else {
                url.to_owned()
            }
        }
        None => url.to_owned(),
    }
}

fn open_mirror(dir: &Path) -> anyhow::Result<git2::Repository> {
    if dir.join("HEAD").is_file() {
        return git2::Repository::open_bare(dir)
            .with_context(|| format!("opening the git mirror {}", dir.display()));
    }
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating the git mirror {}", dir.display()))?;
    git2::Repository::init_bare(dir)
        .with_context(|| format!("creating the git mirror {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transports_are_classified_by_gits_rules() {
        let of = |url| Transport::of(url).expect("a supported URL");
        assert_eq!(of("https://github.com/o/r.git"), Transport::Https);
        assert_eq!(of("HTTP://127.0.0.1:8080/r.git"), Transport::Http);
        assert_eq!(of("ssh://git@host:2222/r.git"), Transport::Ssh);
        assert_eq!(of("git@github.com:o/r.git"), Transport::Ssh);
        assert_eq!(of("git://host/r.git"), Transport::Git);
        assert_eq!(of("file:///srv/r.git"), Transport::Local);
        assert_eq!(of("/srv/r.git"), Transport::Local);
        assert_eq!(of("./dir:with/colon"), Transport::Local);
        assert_eq!(of("C:/repos/r.git"), Transport::Local);
        let error = Transport::of("ftp://user:hunter2@host/r.git").expect_err("unsupported");
        assert!(error.to_string().contains("`ftp://`"), "{error}");
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }

    #[test]
    fn the_ssh_port_comes_from_the_url_or_is_22() {
        assert_eq!(ssh_port("ssh://root@127.0.0.1:2222/srv/r.git"), 2222);
        assert_eq!(ssh_port("ssh://[::1]:2200/r.git"), 2200);
        assert_eq!(ssh_port("ssh://[::1]/r.git"), 22);
        assert_eq!(ssh_port("ssh://host/r.git"), 22);
        assert_eq!(ssh_port("git@host:r.git"), 22);
    }

    #[test]
    fn a_password_in_a_url_is_redacted_in_messages() {
        assert_eq!(
            redacted("https://bot:s3cret@git.example.org/r.git"),
            "https://bot:***@git.example.org/r.git"
        );
        assert_eq!(
            redacted("ssh://git@host/r.git"),
            "ssh://git@host/r.git",
            "a user alone is not secret"
        );
    }

    #[test]
    fn credentials_that_do_not_fit_the_url_are_refused_up_front() {
        let source = |url: &str, auth| GitSource {
            url: url.to_owned(),
            branch: "main".to_owned(),
            path: None,
            mirror: PathBuf::from("mirror.git"),
            auth,
            allowed_signers: None,
        };
        let token = GitAuth::Token {
            username: DEFAULT_TOKEN_USERNAME.to_owned(),
            token: TokenSource::Value(Secret::new("t0ken")),
        };
        let key = GitAuth::SshKey {
            key: PathBuf::from("id_ed25519"),
            passphrase: None,
            known_hosts: PathBuf::from("known_hosts"),
        };
        assert!(source("https://h/r.git", token.clone()).check().is_ok());
        assert!(source("git@h:r.git", key.clone()).check().is_ok());
        let e = source("git@h:r.git", token.clone())
            .check()
            .expect_err("token over SSH");
        assert!(e.to_string().contains("--git-ssh-key"), "{e}");
        let e = source("https://h/r.git", key)
            .check()
            .expect_err("key over HTTPS");
        assert!(e.to_string().contains("--git-token"), "{e}");
        let e = source("ssh://h/r.git", GitAuth::None)
            .check()
            .expect_err("SSH without key");
        assert!(e.to_string().contains("--git-known-hosts"), "{e}");
        assert!(source("http://h/r.git", token).sends_token_in_clear());
    }

    #[test]
    fn a_secret_is_not_printed_by_debug() {
        let auth = GitAuth::Token {
            username: "bot".to_owned(),
            token: TokenSource::Value(Secret::new("t0ken-value")),
        };
        let printed = format!("{auth:?}");
        assert!(!printed.contains("t0ken-value"), "{printed}");
        assert!(printed.contains("redacted"), "{printed}");
    }
}
