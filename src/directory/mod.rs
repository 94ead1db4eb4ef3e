//! Directory sync: computers from Active Directory (or any LDAP server with AD's computer
//! attributes), for machine facts (OU and groups, which `MachineGroup` selectors match with
//! `directory: {ou, group}`) and for reports (computers with no agent, and so on).
//!
//! ```text
//!  DirectoryConfig ──sync()──▶ bind ─▶ paged search (groups) ─▶ paged search (computers)
//!                                                   │                    │
//!                                                   └─ nested groups ────┴─▶ [DirectoryComputer]
//!  [DirectoryComputer] + [Machine] ──matching::facts_by_machine()──▶ machine id → DirectoryFacts
//! ```
//!
//! The LDAP side is [`sync`]; everything that turns entries into computers and computers
//! into facts is pure ([`map`], [`matching`]) and unit-tested. Of the core this module uses
//! only `fleet`.
//!
//! The bind password is read from a file or an environment variable at each sync, held in a
//! [`Secret`] whose `Debug` is redacted, and never put in an error or a log line.
//!
//! `ldaps://` and StartTLS check the server's certificate against the system's trusted roots,
//! or against [`DirectoryConfig::ca_file`]: a domain's own certificate authority (AD
//! Certificate Services, say), which the system usually does not trust.

mod map;
pub mod matching;
mod sync;

use std::path::PathBuf;
use std::time::Duration;

pub use map::{computer_from_entry, filetime_to_timestamp, parent_dn, resolve_groups};
pub use matching::{facts_by_machine, match_computers};
pub use sync::sync;

/// One computer object of the directory.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryComputer {
    /// The distinguished name, as the server spells it.
    pub dn: String,
    /// The computer's name (`cn`, AD's `name`; else `sAMAccountName` without its `$`).
    pub name: String,
    pub dns_host_name: Option<String>,
    pub os: Option<String>,
    pub os_version: Option<String>,
    /// The DN's parent: the OU (or container) the computer is in.
    pub ou: String,
    /// Every group the computer is in, directly (`memberOf`) or through nested groups,
    /// as DNs, sorted and without duplicates.
    pub groups: Vec<String>,
    /// `lastLogonTimestamp`; `None` when it never logged on (0 or absent).
    pub last_logon: Option<jiff::Timestamp>,
    /// `userAccountControl` has ACCOUNTDISABLE (2).
    pub disabled: bool,
}

/// Where the bind password comes from. Only the file's path or the variable's name is
/// ever shown, never the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    /// A file holding the password (one trailing newline is ignored).
    File(PathBuf),
    /// An environment variable's name.
    Env(String),
}

impl std::fmt::Display for PasswordSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PasswordSource::File(path) => write!(f, "password file {}", path.display()),
            PasswordSource::Env(name) => write!(f, "environment variable {name}"),
        }
    }
}

/// A password in memory; `Debug` shows nothing of it.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl PasswordSource {
    /// Reads the password now.
    pub fn read(&self) -> Result<Secret, DirectoryError> {
        let failed = |detail: String| DirectoryError::Password {
            source_name: self.to_string(),
            detail,
        };
        let raw = match self {
            PasswordSource::File(path) => {
                std::fs::read_to_string(path).map_err(|e| failed(e.kind().to_string()))?
            }
            PasswordSource::Env(name) => std::env::var(name).map_err(|e| failed(e.to_string()))?,
        };
        let password = raw
            .strip_suffix("\r\n")
            .or_else(|| raw.strip_suffix('\n'))
            .unwrap_or(&raw);
        if password.is_empty() {
            // An empty password makes an LDAP simple bind anonymous (RFC 4513, 5.1.2).
            return Err(failed("the password is empty".into()));
        }
        Ok(Secret(password.to_owned()))
    }
}

/// How to reach the directory and what to read from it.
#[derive(Clone, PartialEq, Eq)]
pub struct DirectoryConfig {
    /// `ldap://host[:port]` or `ldaps://host[:port]`.
    pub url: String,
    /// Upgrade an `ldap://` connection with StartTLS before binding (not with `ldaps://`).
    pub starttls: bool,
    /// PEM file of the certificate authorities that `ldaps://` or StartTLS trusts, instead of
    /// the system's roots: the domain's own CA, typically. Read at each sync.
    pub ca_file: Option<PathBuf>,
    pub bind_dn: String,
    pub password: PasswordSource,
    /// Where to search, e.g. `DC=corp,DC=example`.
    pub base_dn: String,
    /// Which entries are computers.
    pub filter: String,
    /// Which entries are groups (for nested membership).
    pub group_filter: String,
    /// Entries per page of the paged search (RFC 2696).
    pub page_size: u32,
    /// Connecting, and each LDAP operation, give up after this long.
    pub timeout: Duration,
}

pub const DEFAULT_FILTER: &str = "(objectClass=computer)";
pub const DEFAULT_GROUP_FILTER: &str = "(objectClass=group)";
/// AD's default MaxPageSize is 1000.
pub const DEFAULT_PAGE_SIZE: u32 = 500;

impl DirectoryConfig {
    /// A configuration with the default filters, page size and timeout.
    pub fn new(
        url: impl Into<String>,
        bind_dn: impl Into<String>,
        password: PasswordSource,
        base_dn: impl Into<String>,
    ) -> DirectoryConfig {
        DirectoryConfig {
            url: url.into(),
            starttls: false,
            ca_file: None,
            bind_dn: bind_dn.into(),
            password,
            base_dn: base_dn.into(),
            filter: DEFAULT_FILTER.into(),
            group_filter: DEFAULT_GROUP_FILTER.into(),
            page_size: DEFAULT_PAGE_SIZE,
            timeout: Duration::from_secs(30),
        }
    }
}

impl std::fmt::Debug for DirectoryConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Written out so that a field added later is not printed by accident; the password
        // appears only as where it comes from.
        f.debug_struct("DirectoryConfig")
            .field("url", &self.url)
            .field("starttls", &self.starttls)
            .field("ca_file", &self.ca_file)
            .field("bind_dn", &self.bind_dn)
            .field("password", &format_args!("<from {}>", self.password))
            .field("base_dn", &self.base_dn)
            .field("filter", &self.filter)
            .field("group_filter", &self.group_filter)
            .field("page_size", &self.page_size)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Why a sync failed. None of these carries the password.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("cannot read the directory bind password from {source_name}: {detail}")]
    Password { source_name: String, detail: String },
    #[error("directory {url} is unreachable: {detail}")]
    Unreachable { url: String, detail: String },
    #[error("directory {url} rejected the credentials of {bind_dn} (LDAP result 49)")]
    BadCredentials { url: String, bind_dn: String },
    #[error(
        "directory {url} answered a referral for base DN {base_dn} (LDAP result 10) to {}; \
         point the base DN at the server that holds it",
        refs_text(.refs)
    )]
    Referral {
        url: String,
        base_dn: String,
        refs: Vec<String>,
    },
    #[error(
        "directory {url} stopped the search under {base_dn} at its size limit after {returned} \
         entries (LDAP result 4); raise the limit for the bind DN (OpenLDAP: `limits … size.prtotal`, \
         AD: MaxResultSetSize)"
    )]
    SizeLimit {
        url: String,
        base_dn: String,
        returned: usize,
    },
    #[error("directory {url} failed the search under {base_dn}: LDAP result {rc} {text}")]
    Ldap {
        url: String,
        base_dn: String,
        rc: u32,
        text: String,
    },
    #[error("directory configuration: {0}")]
    Config(String),
}

fn refs_text(refs: &[String]) -> String {
    if refs.is_empty() {
        "nowhere".into()
    } else {
        refs.join(", ")
    }
}

impl DirectoryError {
    /// A bounded label for metrics and status.
    pub fn kind(&self) -> &'static str {
        match self {
            DirectoryError::Password { .. } => "password",
            DirectoryError::Unreachable { .. } => "unreachable",
            DirectoryError::BadCredentials { .. } => "bad_credentials",
            DirectoryError::Referral { .. } => "referral",
            DirectoryError::SizeLimit { .. } => "size_limit",
            DirectoryError::Ldap { .. } => "ldap",
            DirectoryError::Config(_) => "config",
        }
    }
}

/// What a sync read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncOutcome {
    pub computers: Vec<DirectoryComputer>,
    /// Groups read (for nested membership).
    pub groups: usize,
    /// Search continuation references skipped (AD returns them for its other partitions,
    /// `DomainDnsZones` and the like, when searching a domain's root).
    pub references_skipped: usize,
}

/// Why [`sync_into_store`] failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncIntoError {
    /// The directory sync failed; recorded as the source's last error, its computers kept.
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    #[error("storing the directory sync: {0}")]
    Store(#[from] crate::store::StoreError),
}

/// One sync of the directory source `source` into `store`, as the leader's loop runs it:
/// on success its computers are replaced (one transaction); on failure the error is
/// recorded as its last error and the computers stored before stay.
pub async fn sync_into_store(
    store: &crate::store::Store,
    source: &str,
    config: &DirectoryConfig,
    now: jiff::Timestamp,
) -> Result<SyncOutcome, SyncIntoError> {
    let location = format!("{} {}", config.url, config.base_dn);
    match sync(config).await {
        Ok(outcome) => {
            store
                .replace_directory(source, &location, &outcome.computers, now)
                .await?;
            Ok(outcome)
        }
        Err(e) => {
            tracing::warn!(source, error = %e, kind = e.kind(), "directory sync failed");
            store
                .record_directory_failure(source, &location, &e.to_string(), now)
                .await?;
            Err(e.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_password() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("pw");
        std::fs::write(&path, "hunter2\n").expect("write");
        let config = DirectoryConfig::new(
            "ldap://dc.example",
            "CN=sync,DC=example",
            PasswordSource::File(path.clone()),
            "DC=example",
        );
        let secret = config.password.read().expect("read");
        assert_eq!(secret.expose(), "hunter2");
        assert!(!format!("{secret:?}").contains("hunter2"));
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("password file"), "{shown}");
    }

    #[test]
    fn an_empty_or_missing_password_is_an_error_naming_its_source() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("empty");
        std::fs::write(&path, "\n").expect("write");
        let e = PasswordSource::File(path).read().expect_err("empty");
        assert!(e.to_string().contains("empty"), "{e}");
        let e = PasswordSource::Env("FIXPOINT_TEST_NO_SUCH_VARIABLE_1234".into())
            .read()
            .expect_err("unset");
        assert!(
            e.to_string()
                .contains("FIXPOINT_TEST_NO_SUCH_VARIABLE_1234"),
            "{e}"
        );
    }
}
