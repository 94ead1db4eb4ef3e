//! Staging: the content-addressed store of patch binaries, downloaded from the vendors' URLs before
//! the rings that need them open, and served to agents by SHA-256.
//!
//! Layout under the data directory's staging root:
//!
//! ```text
//! <root>/sha256/ab/abcdef…        complete files, named by their SHA-256; only verified bytes land here
//! <root>/partial/abcdef….part     downloads in progress, resumed with an HTTP `Range` request
//! ```
//!
//! Data flow of [`Store::fetch`]: the body is streamed into the `.part` file (through the optional
//! bandwidth limiter) while it is hashed; when the body ends, the size and the SHA-256 are compared
//! with what the catalog promised. Only a match is fsynced and renamed into `sha256/`; a mismatch
//! deletes the partial, so a wrong file is never placed and never served. A broken connection leaves
//! the partial for the next attempt to resume; a full disk or an unreachable vendor is an error the
//! caller reports and retries, and neither can leave a half-written file under `sha256/` because the
//! only way in is an atomic rename of a verified file.
//!
//! [`Store::verify`] re-hashes a stored file and removes it when it no longer matches its name (a
//! file tampered with on disk), and [`Store::gc`] removes files no patch refers to once they have
//! been unused for the retention period.

mod limiter;

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use fixpoint_core::policy::ProxySettings;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_RANGE, RANGE};

use crate::sync::http::error_chain;
use sha2::{Digest, Sha256};

pub use limiter::Bandwidth;

/// Bytes gathered before a write to disk, so each blocking write is worth its thread hop.
const WRITE_BATCH: usize = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum StagingError {
    #[error("{0:?} is not a SHA-256: expected 64 lowercase hexadecimal digits")]
    InvalidDigest(String),
    #[error("{url}: vendor unreachable: {detail}")]
    Unreachable { url: String, detail: String },
    #[error("{url}: HTTP {status}")]
    Status { url: String, status: StatusCode },
    #[error("{url}: asked for the bytes from {offset} on, the server answered {answer}")]
    BadRange {
        url: String,
        offset: u64,
        answer: String,
    },
    #[error(
        "{url}: SHA-256 mismatch: expected {expected}, downloaded {actual}; the download was discarded"
    )]
    HashMismatch {
        url: String,
        expected: String,
        actual: String,
    },
    #[error(
        "{url}: expected {expected} bytes, the vendor sent {actual}; the download was discarded"
    )]
    SizeMismatch {
        url: String,
        expected: u64,
        /// What arrived (at least this many: a download is abandoned once it is too long).
        actual: u64,
    },
    #[error("{url}: unsupported URL scheme (http and https only)")]
    UnsupportedUrl { url: String },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("invalid proxy settings: {0}")]
    Proxy(String),
}

impl StagingError {
    /// A bounded label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            StagingError::InvalidDigest(_) => "invalid_digest",
            StagingError::Unreachable { .. } => "unreachable",
            StagingError::Status { .. } => "http_status",
            StagingError::BadRange { .. } => "bad_range",
            StagingError::HashMismatch { .. } => "hash_mismatch",
            StagingError::SizeMismatch { .. } => "size_mismatch",
            StagingError::UnsupportedUrl { .. } => "unsupported_url",
            StagingError::Io { .. } if self.is_disk_full() => "disk_full",
            StagingError::Io { .. } => "io",
            StagingError::Proxy(_) => "proxy",
        }
    }

    /// Whether trying again later may succeed: the vendor was unreachable, overloaded or
    /// misbehaving, or the disk was full or failing. A wrong hash, a wrong size or a 4xx will not
    /// fix itself without a change to the catalog.
    pub fn is_transient(&self) -> bool {
        match self {
            StagingError::Unreachable { .. }
            | StagingError::BadRange { .. }
            | StagingError::Io { .. } => true,
            StagingError::Status { status, .. } => {
                status.is_server_error() || *status == StatusCode::TOO_MANY_REQUESTS
            }
            _ => false,
        }
    }

    pub fn is_disk_full(&self) -> bool {
        matches!(self, StagingError::Io { source, .. } if source.kind() == io::ErrorKind::StorageFull)
    }
}

pub type Result<T, E = StagingError> = std::result::Result<T, E>;

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StagingError + '_ {
    move |source| StagingError::Io {
        path: path.to_owned(),
        source,
    }
}

/// A file in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staged {
    pub sha256: String,
    pub size: u64,
    pub path: PathBuf,
    /// Bytes transferred by this call: 0 when the file was already stored, less than `size` when
    /// a partial download was resumed.
    pub downloaded: u64,
}

/// A complete file, as [`Store::list`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    pub sha256: String,
    pub size: u64,
    /// Last placed or fetched: garbage collection counts the retention period from here.
    pub modified: SystemTime,
}

/// One file to fetch in a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchItem {
    pub url: String,
    pub sha256: String,
    pub size: Option<u64>,
}

/// What [`Store::verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    Intact,
    Missing,
    /// The bytes no longer hash to the file's name; the file was removed.
    Removed {
        actual: String,
    },
}

/// What [`Store::gc`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Collected {
    pub deleted: Vec<String>,
    pub bytes_freed: u64,
}

/// An HTTP client for vendor downloads, through `proxy` when given, else the standard
/// `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` environment variables.
///
/// Not the feed [`crate::sync::Fetcher`]'s client: that one bounds the whole request (300 s by
/// default), which a multi-gigabyte download on a slow link exceeds; here only connecting and each
/// read are bounded, so a slow but live transfer goes on and a stalled one fails and is resumed.
pub fn client(proxy: Option<&ProxySettings>, read_timeout: Duration) -> Result<reqwest::Client> {
    crate::sync::http::client_builder(proxy)
        .map_err(StagingError::Proxy)?
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(read_timeout)
        .build()
        .map_err(|e| StagingError::Proxy(error_chain(&e)))
}

/// The content-addressed store. Cheap to clone; clones share the bandwidth limit and the
/// per-file locks.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    bandwidth: Option<Bandwidth>,
    /// One download per file at a time: two fetches of the same file would share a `.part`.
    in_flight: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Store {
    /// Opens (creating) the store at `root`, and removes what an interrupted process may have left
    /// that is not a complete file or a resumable partial.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store> {
        Store::open_with(root, None)
    }

    /// As [`Store::open`], with all downloads sharing `bandwidth`.
    pub fn open_with(root: impl Into<PathBuf>, bandwidth: Option<Bandwidth>) -> Result<Store> {
        let root = root.into();
        let store = Store {
            inner: Arc::new(Inner {
                root,
                bandwidth,
                in_flight: Mutex::default(),
            }),
        };
        for dir in [store.files_dir(), store.partial_dir()] {
            fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        }
        store.remove_strays()?;
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    fn files_dir(&self) -> PathBuf {
        self.inner.root.join("sha256")
    }

    fn partial_dir(&self) -> PathBuf {
        self.inner.root.join("partial")
    }

    fn final_path(&self, sha256: &str) -> PathBuf {
        self.files_dir().join(&sha256[..2]).join(sha256)
    }

    fn partial_path(&self, sha256: &str) -> PathBuf {
        self.partial_dir().join(format!("{sha256}.part"))
    }

    /// Removes anything under `sha256/` that is not a file at its own name, and partials that are
    /// not named for a digest or whose file is complete already.
    fn remove_strays(&self) -> Result<()> {
        let files = self.files_dir();
        for prefix in read_dir(&files)? {
            let prefix_path = prefix.path();
            let prefix_name = prefix.file_name().to_string_lossy().into_owned();
            if !prefix_path.is_dir() {
                remove_file(&prefix_path)?;
                continue;
            }
            for entry in read_dir(&prefix_path)? {
                let name = entry.file_name().to_string_lossy().into_owned();
                let path = entry.path();
                let belongs = is_digest(&name) && name.starts_with(&prefix_name) && path.is_file();
                if !belongs {
                    tracing::warn!(path = %path.display(), "staging: removing a stray file");
                    if path.is_dir() {
                        fs::remove_dir_all(&path).map_err(io_err(&path))?;
                    } else {
                        remove_file(&path)?;
                    }
                }
            }
        }
        for entry in read_dir(&self.partial_dir())? {
            let name = entry.file_name().to_string_lossy().into_owned();
            let keep = name
                .strip_suffix(".part")
                .is_some_and(|sha| is_digest(sha) && !self.final_path(sha).exists());
            if !keep {
                let path = entry.path();
                tracing::info!(path = %path.display(), "staging: removing a stale partial");
                remove_file(&path)?;
            }
        }
        Ok(())
    }

    /// The path of the complete, verified file with this digest, if the store has it.
    pub fn path_of(&self, sha256: &str) -> Option<PathBuf> {
        if !is_digest(sha256) {
            return None;
        }
        let path = self.final_path(sha256);
        path.is_file().then_some(path)
    }

    pub fn contains(&self, sha256: &str) -> bool {
        self.path_of(sha256).is_some()
    }

    /// The complete files, sorted by digest.
    pub fn list(&self) -> Result<Vec<StoredFile>> {
        let mut files = Vec::new();
        for prefix in read_dir(&self.files_dir())? {
            for entry in read_dir(&prefix.path())? {
                let name = entry.file_name().to_string_lossy().into_owned();
                if !is_digest(&name) {
                    continue;
                }
                let path = entry.path();
                let meta = match entry.metadata() {
                    Ok(m) => m,
                    // Removed by a concurrent gc or verify: no longer in the store.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(io_err(&path)(e)),
                };
                files.push(StoredFile {
                    sha256: name,
                    size: meta.len(),
                    modified: meta.modified().map_err(io_err(&path))?,
                });
            }
        }
        files.sort_by(|a, b| a.sha256.cmp(&b.sha256));
        Ok(files)
    }

    /// Bytes held by complete files (partials not counted).
    pub fn bytes_used(&self) -> Result<u64> {
        Ok(self.list()?.iter().map(|f| f.size).sum())
    }

    /// Bytes held by partial downloads.
    pub fn partial_bytes(&self) -> Result<u64> {
        let mut total = 0;
        for entry in read_dir(&self.partial_dir())? {
            total += entry.metadata().map(|m| m.len()).unwrap_or(0);
        }
        Ok(total)
    }

    /// Downloads `url` into the store unless the file is there already, resuming a partial
    /// download. The file is placed only when its SHA-256 (and size, when given) match.
    pub async fn fetch(
        &self,
        client: &reqwest::Client,
        url: &str,
        sha256: &str,
        size: Option<u64>,
    ) -> Result<Staged> {
        if !is_digest(sha256) {
            return Err(StagingError::InvalidDigest(sha256.to_owned()));
        }
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(StagingError::UnsupportedUrl {
                url: url.to_owned(),
            });
        }
        let lock = {
            let mut in_flight = self.inner.in_flight.lock().expect("lock not poisoned");
            Arc::clone(in_flight.entry(sha256.to_owned()).or_default())
        };
        let result = {
            let _guard = lock.lock().await;
            // Instrumented, not entered: an entered span held across an await
            // leaks into whatever else runs on the thread meanwhile.
            tracing::Instrument::instrument(
                self.fetch_locked(client, url, sha256, size),
                tracing::info_span!("staging_fetch", %sha256, %url),
            )
            .await
        };
        {
            let mut in_flight = self.inner.in_flight.lock().expect("lock not poisoned");
            // Two references: the map's and ours; a waiter would hold a third.
            if Arc::strong_count(&lock) == 2 {
                in_flight.remove(sha256);
            }
        }
        result
    }

    async fn fetch_locked(
        &self,
        client: &reqwest::Client,
        url: &str,
        sha256: &str,
        size: Option<u64>,
    ) -> Result<Staged> {
        let final_path = self.final_path(sha256);
        if let Ok(meta) = fs::metadata(&final_path) {
            // Wanted again: restart the retention clock.
            touch(&final_path);
            return Ok(Staged {
                sha256: sha256.to_owned(),
                size: meta.len(),
                path: final_path,
                downloaded: 0,
            });
        }
        let part_path = self.partial_path(sha256);
        let mismatch = |part: &Path, error: StagingError| {
            let _ = fs::remove_file(part);
            tracing::warn!(%error, "staging: discarded a download");
            error
        };

        let (mut part, mut hasher, mut offset) = resume(&part_path).await?;
        if size.is_some_and(|s| offset > s) {
            drop(part);
            return Err(mismatch(
                &part_path,
                StagingError::SizeMismatch {
                    url: url.to_owned(),
                    expected: size.unwrap_or_default(),
                    actual: offset,
                },
            ));
        }

        let unreachable = |e: reqwest::Error| StagingError::Unreachable {
            url: url.to_owned(),
            detail: error_chain(&e),
        };
        let mut request = client.get(url);
        if offset > 0 {
            request = request.header(RANGE, format!("bytes={offset}-"));
        }
        let mut response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        match status {
            StatusCode::PARTIAL_CONTENT if offset > 0 => {
                let answer = response
                    .headers()
                    .get(CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("no Content-Range")
                    .to_owned();
                if content_range_start(&answer) != Some(offset) {
                    return Err(StagingError::BadRange {
                        url: url.to_owned(),
                        offset,
                        answer: format!("206 with {answer}"),
                    });
                }
                tracing::info!(offset, "staging: resuming a partial download");
            }
            StatusCode::OK => {
                if offset > 0 {
                    // The server ignored the Range: start over.
                    tracing::info!(offset, "staging: server sent the whole file; restarting");
                    part = truncate(part, &part_path).await?;
                    hasher = Sha256::new();
                    offset = 0;
                }
            }
            StatusCode::RANGE_NOT_SATISFIABLE if offset > 0 => {
                // The partial is as long as the file or longer; either way it is wrong or done,
                // and a complete partial is never left unverified: drop it and try afresh next time.
                drop(part);
                let _ = fs::remove_file(&part_path);
                return Err(StagingError::BadRange {
                    url: url.to_owned(),
                    offset,
                    answer: status.to_string(),
                });
            }
            _ => {
                return Err(StagingError::Status {
                    url: url.to_owned(),
                    status,
                });
            }
        }

        let mut written = offset;
        let mut downloaded = 0u64;
        let mut batch: Vec<u8> = Vec::with_capacity(WRITE_BATCH);
        loop {
            let chunk = match response.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(e) => {
                    // Keep what arrived for the next attempt to resume from.
                    part = write_batch(part, &part_path, std::mem::take(&mut batch)).await?;
                    sync(part, &part_path).await?;
                    return Err(unreachable(e));
                }
            };
            if let Some(limit) = &self.inner.bandwidth {
                limit.take(chunk.len() as u64).await;
            }
            hasher.update(&chunk);
            written += chunk.len() as u64;
            downloaded += chunk.len() as u64;
            if let Some(expected) = size
                && written > expected
            {
                drop(part);
                return Err(mismatch(
                    &part_path,
                    StagingError::SizeMismatch {
                        url: url.to_owned(),
                        expected,
                        actual: written,
                    },
                ));
            }
            batch.extend_from_slice(&chunk);
            if batch.len() >= WRITE_BATCH {
                part = write_batch(part, &part_path, std::mem::take(&mut batch)).await?;
            }
        }
        part = write_batch(part, &part_path, batch).await?;

        if let Some(expected) = size
            && written != expected
        {
            drop(part);
            return Err(mismatch(
                &part_path,
                StagingError::SizeMismatch {
                    url: url.to_owned(),
                    expected,
                    actual: written,
                },
            ));
        }
        let actual = hex(&hasher.finalize());
        if actual != sha256 {
            drop(part);
            return Err(mismatch(
                &part_path,
                StagingError::HashMismatch {
                    url: url.to_owned(),
                    expected: sha256.to_owned(),
                    actual,
                },
            ));
        }
        sync(part, &part_path).await?;
        let (from, to) = (part_path.clone(), final_path.clone());
        blocking(move || place(&from, &to), &part_path).await?;
        tracing::info!(size = written, downloaded, "staging: stored");
        Ok(Staged {
            sha256: sha256.to_owned(),
            size: written,
            path: final_path,
            downloaded,
        })
    }

    /// Fetches `items` with at most `concurrency` downloads at a time. The results are in the
    /// order of `items`; one failure does not stop the others.
    pub async fn fetch_all(
        &self,
        client: &reqwest::Client,
        items: Vec<FetchItem>,
        concurrency: usize,
    ) -> Vec<(FetchItem, Result<Staged>)> {
        let permits = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        for (index, item) in items.iter().cloned().enumerate() {
            let (store, client, permits) = (self.clone(), client.clone(), Arc::clone(&permits));
            tasks.spawn(async move {
                let _permit = permits
                    .acquire_owned()
                    .await
                    .expect("semaphore never closed");
                let result = store
                    .fetch(&client, &item.url, &item.sha256, item.size)
                    .await;
                (index, result)
            });
        }
        let mut results: Vec<Option<Result<Staged>>> = items.iter().map(|_| None).collect();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((index, result)) => results[index] = Some(result),
                Err(e) => std::panic::resume_unwind(e.into_panic()),
            }
        }
        items
            .into_iter()
            .zip(results)
            .map(|(item, result)| (item, result.expect("every task reported")))
            .collect()
    }

    /// Re-hashes a stored file; a file whose bytes no longer match its name is removed, so it is
    /// never served.
    pub fn verify(&self, sha256: &str) -> Result<Verification> {
        let Some(path) = self.path_of(sha256) else {
            return Ok(Verification::Missing);
        };
        let mut file = match fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Verification::Missing),
            Err(e) => return Err(io_err(&path)(e)),
        };
        let actual = hash_reader(&mut file).map_err(io_err(&path))?;
        if actual == sha256 {
            return Ok(Verification::Intact);
        }
        tracing::error!(%sha256, %actual, path = %path.display(), "staging: stored file corrupt; removed");
        remove_file(&path)?;
        Ok(Verification::Removed { actual })
    }

    /// The file opened for reading, after checking that its bytes hash to `sha256`; the hash is
    /// taken through the returned handle, so the bytes checked are the bytes served. `None` when
    /// the store does not have the file, or had it and it was corrupt (then it is removed).
    pub fn open_verified(&self, sha256: &str) -> Result<Option<(fs::File, u64)>> {
        let Some(path) = self.path_of(sha256) else {
            return Ok(None);
        };
        let mut file = match fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(&path)(e)),
        };
        let actual = hash_reader(&mut file).map_err(io_err(&path))?;
        if actual != sha256 {
            tracing::error!(%sha256, %actual, path = %path.display(), "staging: stored file corrupt; removed");
            remove_file(&path)?;
            return Ok(None);
        }
        let size = file
            .seek(io::SeekFrom::Start(0))
            .and_then(|_| file.metadata().map(|m| m.len()));
        Ok(Some((file, size.map_err(io_err(&path))?)))
    }

    /// Removes complete files that are not in `referenced` and were not placed or fetched within
    /// `retention` before `now`.
    pub fn gc(
        &self,
        referenced: &HashSet<String>,
        retention: Duration,
        now: SystemTime,
    ) -> Result<Collected> {
        let cutoff = now.checked_sub(retention).unwrap_or(SystemTime::UNIX_EPOCH);
        let mut collected = Collected::default();
        for file in self.list()? {
            if referenced.contains(&file.sha256) || file.modified > cutoff {
                continue;
            }
            let path = self.final_path(&file.sha256);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err(&path)(e)),
            }
            tracing::info!(sha256 = %file.sha256, size = file.size, "staging: collected");
            collected.bytes_freed += file.size;
            collected.deleted.push(file.sha256);
        }
        Ok(collected)
    }
}

/// Whether `s` is a SHA-256 as the store names files: 64 lowercase hex digits.
pub fn is_digest(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn hash_reader(reader: &mut impl Read) -> io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            return Ok(hex(&hasher.finalize()));
        }
        hasher.update(&buf[..n]);
    }
}

/// `bytes 100-199/200` → 100.
fn content_range_start(value: &str) -> Option<u64> {
    let range = value.trim().strip_prefix("bytes ")?;
    let (start, _) = range.split_once('-')?;
    start.trim().parse().ok()
}

fn read_dir(dir: &Path) -> Result<Vec<fs::DirEntry>> {
    fs::read_dir(dir)
        .and_then(|entries| entries.collect::<io::Result<Vec<_>>>())
        .map_err(io_err(dir))
}

fn remove_file(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err(path)(e)),
        _ => Ok(()),
    }
}

fn touch(path: &Path) {
    if let Ok(file) = fs::File::options().append(true).open(path) {
        let _ = file.set_modified(SystemTime::now());
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> io::Result<T> + Send + 'static,
    path: &Path,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e)))
        .map_err(io_err(path))
}

/// Opens the partial download and hashes what it holds, so the download continues from its end.
async fn resume(path: &Path) -> Result<(fs::File, Sha256, u64)> {
    let owned = path.to_owned();
    blocking(
        move || {
            let mut file = fs::File::options()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&owned)?;
            let mut hasher = Sha256::new();
            let mut buf = vec![0u8; 256 * 1024];
            let mut len = 0u64;
            loop {
                let n = file.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                len += n as u64;
            }
            Ok((file, hasher, len))
        },
        path,
    )
    .await
}

async fn truncate(file: fs::File, path: &Path) -> Result<fs::File> {
    blocking(
        move || {
            let mut file = file;
            file.set_len(0)?;
            file.seek(io::SeekFrom::Start(0))?;
            Ok(file)
        },
        path,
    )
    .await
}

async fn write_batch(file: fs::File, path: &Path, batch: Vec<u8>) -> Result<fs::File> {
    if batch.is_empty() {
        return Ok(file);
    }
    blocking(
        move || {
            let mut file = file;
            file.write_all(&batch)?;
            Ok(file)
        },
        path,
    )
    .await
}

async fn sync(file: fs::File, path: &Path) -> Result<()> {
    blocking(move || file.sync_all(), path).await
}

/// Renames a verified partial into place and makes the rename durable.
fn place(from: &Path, to: &Path) -> io::Result<()> {
    let dir = to.parent().expect("a stored file has a prefix directory");
    fs::create_dir_all(dir)?;
    fs::rename(from, to)?;
    // The rename is durable once the directory is; opening a directory to fsync it is a
    // Unix-ism, so elsewhere the rename alone has to do.
    #[cfg(unix)]
    fs::File::open(dir)?.sync_all()?;
    Ok(())
}
