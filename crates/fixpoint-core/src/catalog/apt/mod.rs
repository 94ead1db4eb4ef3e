//! APT repositories as a patch feed: Debian's and Ubuntu's `-security` suites.
//!
//! ```text
//!  InRelease ─┬─ verify_inrelease(keyring, now, freshness, last accepted Date) ──▶ Release
//!  keyring ───┘                                                                        │
//!  Packages.{xz,gz,lz4} ──▶ verify_and_decompress(Release, path) ──▶ Packages text ◀──┘
//!  Packages text ──▶ parse_packages ──▶ [BinaryPackage] ──▶ advisories(Release, Repository) ──▶ [Advisory]
//!  *.sources / sources.list ──▶ parse_sources ──▶ [SourceEntry] (which URIs and suites to fetch)
//! ```
//!
//! Trust flows one way. Only the OpenPGP-signed text of an `InRelease` is
//! read (nothing outside the signature is looked at), and only after a key
//! from the distribution's keyring has verified it; the `Release` it yields
//! then vouches, by size and SHA-256, for the index files, whose entries vouch
//! for the `.deb`s. Freshness is the second half: a correctly signed but old
//! `InRelease` (a mirror stuck in the past, or an attacker replaying one that
//! predates a security fix) is refused once its `Valid-Until` has passed, when
//! it is older than the last one accepted for the same source, or when it
//! claims to come from the future.
//!
//! Everything here is pure: bytes and time in, values out. Fetching, reading
//! keyrings from disk and remembering the last accepted `Date` are the
//! server's part.

pub(crate) mod deb822;
mod index;
mod packages;
mod release;
mod signature;
mod sources;

pub use index::{Compression, MAX_DECOMPRESSED_SIZE, index_entry, verify_and_decompress};
pub use packages::{
    BinaryPackage, Repository, advisories, carry_forward_release_dates, debian_release_number,
    parse_packages,
};
pub use release::{FreshnessPolicy, IndexEntry, MAX_CLOCK_SKEW, Release, verify_inrelease};
pub use sources::{KeyringRef, SignedBy, SourceEntry, SourceType, parse_sources};

/// Which APT file an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AptFile {
    Release,
    Packages,
    Sources,
}

impl std::fmt::Display for AptFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AptFile::Release => "Release",
            AptFile::Packages => "Packages",
            AptFile::Sources => "sources",
        })
    }
}

/// Everything that can go wrong reading an APT repository. Each says what was
/// found, where (file and line where there is one), and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AptError {
    #[error("{file} line {line}: {message}")]
    Syntax {
        file: AptFile,
        line: usize,
        message: String,
    },

    #[error("{file} line {line}: field {field} is required")]
    MissingField {
        file: AptFile,
        line: usize,
        field: &'static str,
    },

    #[error("{file} line {line}: field {field}: {message} (found {value:?})")]
    InvalidField {
        file: AptFile,
        line: usize,
        field: String,
        value: String,
        message: String,
    },

    #[error("InRelease is not an OpenPGP cleartext-signed message: {0}")]
    NotSigned(String),

    #[error("keyring could not be read: {0}")]
    Keyring(String),

    #[error("keyring holds no public key")]
    EmptyKeyring,

    #[error("InRelease carries no signature")]
    NoSignature,

    #[error("signature by key {key} does not match the signed text")]
    SignatureMismatch { key: String },

    #[error("InRelease is signed by key {} which is not in the keyring", keys.join(", "))]
    UnknownKey { keys: Vec<String> },

    #[error("InRelease is signed by key {key} which expired at {expired}")]
    KeyExpired {
        key: String,
        expired: jiff::Timestamp,
    },

    #[error("InRelease is signed by key {key} which is revoked{}", reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default())]
    KeyRevoked { key: String, reason: Option<String> },

    #[error("signature by key {key} cannot be accepted: {reason}")]
    KeyUnusable { key: String, reason: String },

    #[error("InRelease expired at {valid_until} (now {now}): stale or replayed")]
    Expired {
        valid_until: jiff::Timestamp,
        now: jiff::Timestamp,
    },

    #[error(
        "InRelease has no Valid-Until, which this source requires (stale or replayed metadata could not be told apart)"
    )]
    NoValidUntil,

    #[error(
        "InRelease is dated {date}, after now ({now}) plus the allowed clock skew: the clock or the repository is wrong"
    )]
    FromTheFuture {
        date: jiff::Timestamp,
        now: jiff::Timestamp,
    },

    #[error(
        "InRelease dated {date} is older than the one already accepted ({last_accepted}): replayed"
    )]
    Replayed {
        date: jiff::Timestamp,
        last_accepted: jiff::Timestamp,
    },

    #[error("Release is for suite {found}, not the requested {requested}")]
    WrongSuite { requested: String, found: String },

    #[error("{path} is not listed in the Release's SHA256 entries")]
    NotInRelease { path: String },

    #[error("{path}: size {actual} bytes, but the Release says {expected}")]
    SizeMismatch {
        path: String,
        expected: u64,
        actual: u64,
    },

    #[error("{path}: SHA-256 {actual}, but the Release says {expected}")]
    HashMismatch {
        path: String,
        expected: String,
        actual: String,
    },

    #[error("{path}: {compression} data is corrupt or truncated: {message}")]
    Decompress {
        path: String,
        compression: Compression,
        message: String,
    },

    #[error("{path}: decompresses to more than {limit} bytes")]
    TooLarge { path: String, limit: u64 },

    #[error("{path}: compression {extension:?} is not supported (expected .xz, .gz, .lz4 or none)")]
    UnsupportedCompression { path: String, extension: String },
}

impl AptError {
    /// A short, bounded label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            AptError::Syntax { .. }
            | AptError::MissingField { .. }
            | AptError::InvalidField { .. } => "syntax",
            AptError::NotSigned(_) | AptError::NoSignature => "unsigned",
            AptError::Keyring(_) | AptError::EmptyKeyring => "keyring",
            AptError::SignatureMismatch { .. } => "bad_signature",
            AptError::UnknownKey { .. } => "unknown_key",
            AptError::KeyExpired { .. }
            | AptError::KeyRevoked { .. }
            | AptError::KeyUnusable { .. } => "key_invalid",
            AptError::Expired { .. }
            | AptError::NoValidUntil
            | AptError::FromTheFuture { .. }
            | AptError::Replayed { .. } => "stale",
            AptError::WrongSuite { .. } => "wrong_suite",
            AptError::NotInRelease { .. } => "not_in_release",
            AptError::SizeMismatch { .. } | AptError::HashMismatch { .. } => "hash_mismatch",
            AptError::Decompress { .. } | AptError::TooLarge { .. } => "decompress",
            AptError::UnsupportedCompression { .. } => "unsupported",
        }
    }
}

pub type Result<T, E = AptError> = std::result::Result<T, E>;

/// Lowercase hex, for SHA-256 digests.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

/// Whether `s` is a lowercase-or-uppercase hex SHA-256 (64 digits).
fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}
