//! Catalog sync: fetch every configured feed, verify it, parse it with the
//! core's parsers, and replace that source's part of the catalog in one
//! transaction.
//!
//! ```text
//!  Settings.catalog.sources ──▶ fetch (conditional, retried) ──▶ verify (signature, hashes)
//!        ──▶ core parser ──▶ Vec<Advisory> ──▶ Store::replace_source (atomic per source)
//! ```
//!
//! A source that fails — unreachable, bad signature, hash mismatch, truncated
//! or malformed document — is recorded with its error and leaves its part of
//! the catalog exactly as it was; the other sources still update. Nothing
//! about the fetch is saved (not even ETags) unless the import commits, so a
//! failed sync is retried in full next time.

use std::time::Instant;

use fixpoint_core::catalog::{Advisory, apt};
use fixpoint_core::policy::{CatalogSource, CatalogSourceKind, SettingsSpec};
use sha2::{Digest, Sha256};

use crate::store::{ImportStats, SourceUpdate, Store};

pub mod http;

pub use http::{FetchError, FetchPolicy, Fetched, Fetcher, Validators};

/// Where apt keeps Debian's archive keys; the default keyring for `apt` sources.
pub const DEBIAN_KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// Knobs of one sync run.
#[derive(Debug, Clone, Default)]
pub struct SyncOptions {
    /// Accept APT `InRelease` files past their `Valid-Until`. Only for offline
    /// copies whose age is known (fixtures, air-gapped snapshots): it disables
    /// the protection against a replayed, outdated repository.
    pub allow_stale: bool,
    /// Sync only these sources (by name); all when empty.
    pub only: Vec<String>,
}

/// What happened to one source.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum Outcome {
    Imported {
        stats: ImportStats,
        warnings: Vec<String>,
    },
    Unchanged,
    Failed {
        error: String,
    },
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct SourceReport {
    pub name: String,
    pub kind: String,
    #[serde(flatten)]
    pub outcome: Outcome,
    pub millis: u128,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("{0}")]
    Apt(#[from] apt::AptError),
    #[error("{document}: {detail}")]
    Parse { document: String, detail: String },
    #[error("{0}")]
    Config(String),
    #[error("cannot read keyring {path}: {detail}")]
    Keyring { path: String, detail: String },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Syncs every source in `settings` (or those in `options.only`).
pub async fn sync_all(
    settings: &SettingsSpec,
    store: &Store,
    fetcher: &Fetcher,
    options: &SyncOptions,
    now: jiff::Timestamp,
    mut progress: impl FnMut(&SourceReport),
) -> Vec<SourceReport> {
    let mut reports = Vec::new();
    for source in &settings.catalog.sources {
        if !options.only.is_empty() && !options.only.contains(&source.name) {
            continue;
        }
        let started = Instant::now();
        let span =
            tracing::info_span!("sync", source = %source.name, kind = kind_name(source.kind));
        let _enter = span.enter();
        let outcome = match sync_source(source, store, fetcher, options, now).await {
            Ok(outcome) => outcome,
            Err(e) => {
                let error = e.to_string();
                tracing::error!(%error, "sync failed; the source's catalog is unchanged");
                if let Err(e) = store
                    .record_source_failure(
                        &source.name,
                        kind_name(source.kind),
                        &location(source),
                        &error,
                        now,
                    )
                    .await
                {
                    tracing::error!(error = %e, "could not record the failure");
                }
                Outcome::Failed { error }
            }
        };
        let report = SourceReport {
            name: source.name.clone(),
            kind: kind_name(source.kind).to_owned(),
            outcome,
            millis: started.elapsed().as_millis(),
        };
        progress(&report);
        reports.push(report);
    }
    reports
}

/// One fetched document that feeds a source, with its validators to save on success.
struct Document {
    url: String,
    bytes: Vec<u8>,
    validators: Validators,
}

/// Syncs one source.
pub async fn sync_source(
    source: &CatalogSource,
    store: &Store,
    fetcher: &Fetcher,
    options: &SyncOptions,
    now: jiff::Timestamp,
) -> Result<Outcome, SyncError> {
    let state = store.source(&source.name).await?;
    let mut update = SourceUpdate {
        name: source.name.clone(),
        kind: kind_name(source.kind).to_owned(),
        location: location(source),
        ..SourceUpdate::default()
    };
    let (advisories, warnings) = match source.kind {
        CatalogSourceKind::Apt => {
            match apt_source(source, store, fetcher, options, now, &mut update).await? {
                Some(result) => result,
                None => {
                    store.record_source_unchanged(&source.name, now).await?;
                    return Ok(Outcome::Unchanged);
                }
            }
        }
        CatalogSourceKind::Osv | CatalogSourceKind::Csaf | CatalogSourceKind::Cvrf => {
            let url = source.url.as_deref().ok_or_else(|| {
                SyncError::Config(format!("source `{}` needs `url`", source.name))
            })?;
            let Some(doc) = fetch(store, fetcher, url).await? else {
                store.record_source_unchanged(&source.name, now).await?;
                return Ok(Outcome::Unchanged);
            };
            let digest = sha256_hex(&doc.bytes);
            if state.as_ref().and_then(|s| s.content_sha256.as_deref()) == Some(digest.as_str()) {
                store.record_source_unchanged(&source.name, now).await?;
                return Ok(Outcome::Unchanged);
            }
            update.content_sha256 = Some(digest);
            let parsed = parse_document(source.kind, &source.name, &doc.url, &doc.bytes)?;
            update.validators.push((doc.url, doc.validators));
            parsed
        }
    };
    let stats = store.replace_source(&update, &advisories, now).await?;
    tracing::info!(
        advisories = stats.advisories,
        patches = stats.patches_touched,
        "imported"
    );
    Ok(Outcome::Imported { stats, warnings })
}

/// Parses one fetched feed document of a non-APT kind. OSV archives (`.zip`)
/// import record by record: one malformed record is a warning, not the end of
/// the feed; a malformed archive is an error.
pub fn parse_document(
    kind: CatalogSourceKind,
    source: &str,
    url: &str,
    bytes: &[u8],
) -> Result<(Vec<Advisory>, Vec<String>), SyncError> {
    use fixpoint_core::catalog::{csaf, cvrf, osv};
    let parse_err = |detail: String| SyncError::Parse {
        document: url.to_owned(),
        detail,
    };
    match kind {
        CatalogSourceKind::Csaf => Ok((
            csaf::parse(bytes, source).map_err(|e| parse_err(e.to_string()))?,
            Vec::new(),
        )),
        CatalogSourceKind::Cvrf => Ok((
            cvrf::parse(bytes, source).map_err(|e| parse_err(e.to_string()))?,
            Vec::new(),
        )),
        CatalogSourceKind::Osv if bytes.starts_with(b"PK\x03\x04") => {
            let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
                .map_err(|e| parse_err(format!("not a readable zip archive: {e}")))?;
            let mut advisories = Vec::new();
            let mut warnings = Vec::new();
            for i in 0..archive.len() {
                let mut entry = archive
                    .by_index(i)
                    .map_err(|e| parse_err(format!("zip entry {i}: {e}")))?;
                let name = entry
                    .name()
                    .map_err(|e| parse_err(format!("zip entry {i}: {e}")))?
                    .into_owned();
                if !name.ends_with(".json") {
                    continue;
                }
                let mut record =
                    Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0).min(1 << 20));
                std::io::Read::read_to_end(&mut entry, &mut record)
                    .map_err(|e| parse_err(format!("{name}: {e}")))?;
                match osv::parse(&record, source) {
                    Ok(mut a) => advisories.append(&mut a),
                    Err(e) => warnings.push(format!("{name}: {e}")),
                }
            }
            Ok((advisories, warnings))
        }
        CatalogSourceKind::Osv => {
            let trimmed = bytes
                .iter()
                .position(|b| !b.is_ascii_whitespace())
                .map_or(&bytes[..0], |i| &bytes[i..]);
            let advisories = if trimmed.starts_with(b"[") {
                osv::parse_array(bytes, source)
            } else {
                osv::parse(bytes, source)
            };
            Ok((
                advisories.map_err(|e| parse_err(e.to_string()))?,
                Vec::new(),
            ))
        }
        CatalogSourceKind::Apt => Err(SyncError::Config(
            "APT repositories are synced with their index files".into(),
        )),
    }
}

/// Fetches `url` conditionally on what the store saved after the last successful import;
/// `None` when the server says it has not changed.
async fn fetch(store: &Store, fetcher: &Fetcher, url: &str) -> Result<Option<Document>, SyncError> {
    let saved = store.validators(url).await?;
    match fetcher.get(url, saved.as_ref()).await? {
        Fetched::NotModified => Ok(None),
        Fetched::Body { bytes, validators } => Ok(Some(Document {
            url: url.to_owned(),
            bytes,
            validators,
        })),
    }
}

/// One APT repository and suite to read.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AptTarget {
    base_uri: String,
    suite: String,
    components: Vec<String>,
    architectures: Vec<String>,
    keyring: Keyring,
}

/// The keys that may sign a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Keyring {
    /// A keyring file on the server (`Signed-By: /usr/share/keyrings/…`, or `keyring` in Settings).
    Path(String),
    /// A key block written into the `.sources` file itself.
    Inline(Vec<u8>),
}

impl Keyring {
    async fn bytes(&self) -> Result<Vec<u8>, SyncError> {
        match self {
            Keyring::Inline(bytes) => Ok(bytes.clone()),
            Keyring::Path(path) => tokio::fs::read(path).await.map_err(|e| SyncError::Keyring {
                path: path.clone(),
                detail: e.to_string(),
            }),
        }
    }
}

/// The repositories an `apt` source names: from `url` + `suites`, or from a
/// deb822 `.sources` file (filtered by `suites` when given).
async fn apt_targets(source: &CatalogSource) -> Result<Vec<AptTarget>, SyncError> {
    let default_components = || {
        if source.components.is_empty() {
            vec!["main".to_owned()]
        } else {
            source.components.clone()
        }
    };
    let default_archs = || {
        if source.architectures.is_empty() {
            vec!["amd64".to_owned()]
        } else {
            source.architectures.clone()
        }
    };
    let keyring = Keyring::Path(
        source
            .keyring
            .clone()
            .unwrap_or_else(|| DEBIAN_KEYRING.to_owned()),
    );
    if let Some(path) = &source.sources_file {
        let text = tokio::fs::read_to_string(path)
            .await
            .map_err(|e| SyncError::Config(format!("cannot read sources file {path}: {e}")))?;
        let entries =
            apt::parse_sources(&text).map_err(|e| SyncError::Config(format!("{path}: {e}")))?;
        let mut targets = Vec::new();
        for entry in entries
            .iter()
            .filter(|e| e.enabled && e.types.contains(&apt::SourceType::Deb))
        {
            let entry_keyring = match &entry.signed_by {
                Some(apt::SignedBy::Keyrings(refs)) => refs.iter().find_map(|r| match r {
                    apt::KeyringRef::Path(p) => Some(Keyring::Path(p.clone())),
                    apt::KeyringRef::Fingerprint(_) => None,
                }),
                Some(apt::SignedBy::Inline(armored)) => {
                    Some(Keyring::Inline(armored.clone().into_bytes()))
                }
                None => None,
            };
            for uri in &entry.uris {
                for suite in &entry.suites {
                    if !source.suites.is_empty() && !source.suites.contains(suite) {
                        continue;
                    }
                    targets.push(AptTarget {
                        base_uri: uri.trim_end_matches('/').to_owned(),
                        suite: suite.clone(),
                        components: if source.components.is_empty() {
                            entry.components.clone()
                        } else {
                            source.components.clone()
                        },
                        architectures: if !source.architectures.is_empty() {
                            source.architectures.clone()
                        } else if !entry.architectures.is_empty() {
                            entry.architectures.clone()
                        } else {
                            default_archs()
                        },
                        keyring: match (&source.keyring, &entry_keyring) {
                            (Some(path), _) => Keyring::Path(path.clone()),
                            (None, Some(k)) => k.clone(),
                            (None, None) => keyring.clone(),
                        },
                    });
                }
            }
        }
        if targets.is_empty() {
            return Err(SyncError::Config(format!(
                "{path} names no enabled `deb` repository for suites {:?}",
                source.suites
            )));
        }
        return Ok(targets);
    }
    let url = source
        .url
        .as_deref()
        .ok_or_else(|| SyncError::Config("an apt source needs `url` or `sourcesFile`".into()))?;
    Ok(source
        .suites
        .iter()
        .map(|suite| AptTarget {
            base_uri: url.trim_end_matches('/').to_owned(),
            suite: suite.clone(),
            components: default_components(),
            architectures: default_archs(),
            keyring: keyring.clone(),
        })
        .collect())
}

/// Index compressions in order of preference: smallest download first.
const INDEX_SUFFIXES: [&str; 4] = [".xz", ".gz", ".lz4", ""];

/// Syncs the repositories of an `apt` source; `None` when every `InRelease` is unchanged.
///
/// For each repository and suite: the `InRelease` is fetched conditionally,
/// its signature verified against the keyring, its suite checked against the
/// one asked for (a validly signed `-updates` served as `-security` is refused),
/// and its `Date` against the last one accepted from that URL (a replay is
/// refused). `Valid-Until` is enforced, and required for `-security` suites,
/// unless `allow_stale`. Then each component and architecture's index is
/// fetched, hash-checked and parsed; the advisories of all architectures of a
/// suite are built together (one per source version), and release dates carry
/// forward from the previous import, since an index has no per-package date.
async fn apt_source(
    source: &CatalogSource,
    store: &Store,
    fetcher: &Fetcher,
    options: &SyncOptions,
    now: jiff::Timestamp,
    update: &mut SourceUpdate,
) -> Result<Option<(Vec<Advisory>, Vec<String>)>, SyncError> {
    let targets = apt_targets(source).await?;

    let mut fetched = Vec::new();
    let mut any_changed = false;
    for target in &targets {
        let url = format!("{}/dists/{}/InRelease", target.base_uri, target.suite);
        let saved = store.validators(&url).await?;
        let doc = match fetcher.get(&url, saved.as_ref()).await? {
            Fetched::NotModified => None,
            Fetched::Body { bytes, validators } => {
                any_changed = true;
                Some(Document {
                    url: url.clone(),
                    bytes,
                    validators,
                })
            }
        };
        fetched.push((target, url, saved.and_then(|v| v.accepted_date), doc));
    }
    if !any_changed {
        return Ok(None);
    }

    let mut advisories = Vec::new();
    let mut digest = Sha256::new();
    for (target, url, last_accepted, doc) in fetched {
        // An unchanged InRelease among changed ones is fetched again in full:
        // the source is replaced as a whole.
        let doc = match doc {
            Some(doc) => doc,
            None => match fetcher.get(&url, None).await? {
                Fetched::Body { bytes, validators } => Document {
                    url,
                    bytes,
                    validators,
                },
                Fetched::NotModified => {
                    return Err(SyncError::Config(format!(
                        "{url}: 304 to an unconditional request"
                    )));
                }
            },
        };
        let policy = if options.allow_stale {
            apt::FreshnessPolicy::IgnoreValidUntil
        } else if target.suite.ends_with("-security") {
            apt::FreshnessPolicy::RequireValidUntil
        } else {
            apt::FreshnessPolicy::Enforce
        };
        let keyring = target.keyring.bytes().await?;
        let release = apt::verify_inrelease(&doc.bytes, &keyring, now, policy, last_accepted)?;
        release.check_suite(&target.suite)?;
        digest.update(&doc.bytes);
        let mut validators = doc.validators.clone();
        validators.accepted_date = Some(release.date);
        update.validators.push((doc.url.clone(), validators));
        update.release_date = update.release_date.max(Some(release.date));

        let mut indexes = Vec::new();
        for component in &target.components {
            for arch in &target.architectures {
                let stem = format!("{component}/binary-{arch}/Packages");
                let (path, bytes) =
                    fetch_index(fetcher, &release, &target.base_uri, &target.suite, &stem).await?;
                indexes.push(apt::verify_and_decompress(&release, &path, &bytes)?);
            }
        }
        let mut packages = Vec::new();
        for index in &indexes {
            packages.extend(apt::parse_packages(index)?);
        }
        let repository = apt::Repository {
            name: &source.name,
            base_uri: &target.base_uri,
        };
        advisories.extend(apt::advisories(&release, &repository, &packages));
    }
    let previous = store.advisories_of(&source.name).await?;
    apt::carry_forward_release_dates(&previous, &mut advisories);
    update.content_sha256 = Some(hex(&digest.finalize()));
    Ok(Some((advisories, Vec::new())))
}

/// Fetches the first compression of index `stem` that the Release vouches for
/// and the mirror serves: mirrors do not all carry every compression.
async fn fetch_index(
    fetcher: &Fetcher,
    release: &apt::Release,
    base_uri: &str,
    suite: &str,
    stem: &str,
) -> Result<(String, Vec<u8>), SyncError> {
    let mut missing = Vec::new();
    for suffix in INDEX_SUFFIXES {
        let path = format!("{stem}{suffix}");
        if release.entry(&path).is_none() {
            continue;
        }
        let url = format!("{base_uri}/dists/{suite}/{path}");
        match fetcher.get(&url, None).await {
            Ok(Fetched::Body { bytes, .. }) => return Ok((path, bytes)),
            Err(FetchError::Status { status, .. }) if status == reqwest::StatusCode::NOT_FOUND => {
                missing.push(url)
            }
            Ok(Fetched::NotModified) => {
                return Err(SyncError::Config(format!(
                    "{url}: 304 to an unconditional request"
                )));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(SyncError::Config(if missing.is_empty() {
        format!("the Release of {suite} lists no {stem} index")
    } else {
        format!(
            "no {stem} index could be fetched (404 for {})",
            missing.join(", ")
        )
    }))
}

pub fn kind_name(kind: CatalogSourceKind) -> &'static str {
    match kind {
        CatalogSourceKind::Apt => "apt",
        CatalogSourceKind::Csaf => "csaf",
        CatalogSourceKind::Osv => "osv",
        CatalogSourceKind::Cvrf => "cvrf",
    }
}

fn location(source: &CatalogSource) -> String {
    source
        .url
        .clone()
        .or_else(|| source.sources_file.clone())
        .unwrap_or_default()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
