//! Patch files, downloaded from the Fixpoint server only, into `files/` in
//! the data directory: `<sha256>.part` while it arrives (an interrupted
//! download resumes from where it stopped, with `Range`), renamed to
//! `<sha256>` once its size and SHA-256 match. A file that does not match is
//! deleted and never used; a kept file is hashed again before each use.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use fixpoint_core::protocol::FileRef;
use sha2::{Digest, Sha256};

use crate::client::{ClientError, ServerClient};

/// Why a download failed.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("downloading {sha256}: {source}")]
    Server {
        sha256: String,
        #[source]
        source: ClientError,
    },
    #[error("downloading {sha256}: the connection broke after {bytes} bytes: {source}")]
    Cut {
        sha256: String,
        bytes: u64,
        #[source]
        source: reqwest::Error,
    },
    #[error("{sha256}: the server sent {got} bytes, the instruction says {expected}")]
    Size {
        sha256: String,
        got: u64,
        expected: u64,
    },
    #[error("{sha256}: the downloaded file's SHA-256 is {got}: discarded")]
    Hash { sha256: String, got: String },
    #[error("{sha256}: not a lowercase hex SHA-256")]
    BadName { sha256: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl DownloadError {
    /// Worth trying again later: the server or the network may recover, and
    /// a `404` from the Fixpoint server means it has not staged the file yet.
    /// A wrong size or hash is the file itself, and trying again gives the same.
    pub fn transient(&self) -> bool {
        match self {
            DownloadError::Server { .. } | DownloadError::Cut { .. } | DownloadError::Io { .. } => {
                true
            }
            DownloadError::Size { .. }
            | DownloadError::Hash { .. }
            | DownloadError::BadName { .. } => false,
        }
    }
}

/// The directory of downloaded files.
#[derive(Debug, Clone)]
pub struct FileCache {
    dir: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DownloadError + '_ {
    move |source| DownloadError::Io {
        path: path.to_owned(),
        source,
    }
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl FileCache {
    pub fn open(data_dir: &Path) -> anyhow::Result<FileCache> {
        let dir = data_dir.join("files");
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("creating the download directory {}", dir.display()))?;
        Ok(FileCache { dir })
    }

    fn final_path(&self, sha256: &str) -> PathBuf {
        self.dir.join(sha256)
    }

    fn part_path(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}.part"))
    }

    /// The file, complete and verified now (its SHA-256 computed again), or
    /// `None`; a kept file that no longer matches is deleted.
    pub fn verified(&self, file: &FileRef) -> Result<Option<PathBuf>, DownloadError> {
        if !is_sha256(&file.sha256) {
            return Err(DownloadError::BadName {
                sha256: file.sha256.clone(),
            });
        }
        let path = self.final_path(&file.sha256);
        let mut f = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&path)(e)),
        };
        let (len, digest) = hash_reader(&mut f).map_err(io(&path))?;
        if digest == file.sha256 && file.size.is_none_or(|s| s == len) {
            return Ok(Some(path));
        }
        tracing::warn!(path = %path.display(), "a downloaded file changed on disk: deleting it");
        std::fs::remove_file(&path).map_err(io(&path))?;
        Ok(None)
    }

    /// The file, downloaded if needed (resuming a partial download) and verified.
    pub async fn fetch(
        &self,
        client: &ServerClient,
        credential: &str,
        file: &FileRef,
    ) -> Result<PathBuf, DownloadError> {
        if let Some(path) = self.verified(file)? {
            return Ok(path);
        }
        let sha256 = &file.sha256;
        let part = self.part_path(sha256);
        // What is already there counts towards the hash.
        let mut hasher = Sha256::new();
        let mut have = match File::open(&part) {
            Ok(mut f) => hash_into(&mut f, &mut hasher).map_err(io(&part))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(io(&part)(e)),
        };
        if file.size.is_some_and(|s| have > s) {
            have = 0;
            hasher = Sha256::new();
        }
        let mut response = client
            .download(credential, &file.url, have)
            .await
            .map_err(|source| DownloadError::Server {
                sha256: sha256.clone(),
                source,
            });
        if let Err(DownloadError::Server { source, .. }) = &response
            && source.status() == Some(416)
        {
            // The partial file is no prefix of the server's: start over.
            have = 0;
            hasher = Sha256::new();
            response = client
                .download(credential, &file.url, 0)
                .await
                .map_err(|source| DownloadError::Server {
                    sha256: sha256.clone(),
                    source,
                });
        }
        let mut response = response?;
        let resumed = response.status() == reqwest::StatusCode::PARTIAL_CONTENT && have > 0;
        if !resumed {
            have = 0;
            hasher = Sha256::new();
        }
        let mut out = OpenOptions::new()
            .create(true)
            .write(true)
            .append(resumed)
            .truncate(!resumed)
            .open(&part)
            .map_err(io(&part))?;
        if resumed {
            tracing::info!(sha256, from = have, "resuming a download");
        }
        loop {
            let chunk = match response.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(source) => {
                    // Keep what arrived (synced) for the next attempt.
                    let _ = out.sync_data();
                    return Err(DownloadError::Cut {
                        sha256: sha256.clone(),
                        bytes: have,
                        source,
                    });
                }
            };
            out.write_all(&chunk).map_err(io(&part))?;
            hasher.update(&chunk);
            have += chunk.len() as u64;
            if file.size.is_some_and(|s| have > s) {
                break;
            }
        }
        out.sync_all().map_err(io(&part))?;
        drop(out);
        let digest = hex(&hasher.finalize());
        let wrong = if let Some(expected) = file.size.filter(|s| *s != have) {
            Some(DownloadError::Size {
                sha256: sha256.clone(),
                got: have,
                expected,
            })
        } else if digest != *sha256 {
            Some(DownloadError::Hash {
                sha256: sha256.clone(),
                got: digest,
            })
        } else {
            None
        };
        if let Some(e) = wrong {
            std::fs::remove_file(&part).map_err(io(&part))?;
            return Err(e);
        }
        let path = self.final_path(sha256);
        std::fs::rename(&part, &path).map_err(io(&path))?;
        Ok(path)
    }

    /// Deletes every file (complete or partial) whose hash `wanted` does not
    /// hold: what no pending instruction needs.
    pub fn retain(&self, wanted: &HashSet<&str>) -> anyhow::Result<usize> {
        let mut removed = 0;
        let entries = std::fs::read_dir(&self.dir)
            .with_context(|| format!("listing {}", self.dir.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("listing {}", self.dir.display()))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let sha = name.strip_suffix(".part").unwrap_or(&name);
            if !wanted.contains(sha) {
                std::fs::remove_file(entry.path())
                    .with_context(|| format!("deleting {}", entry.path().display()))?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

fn hash_into(reader: &mut impl Read, hasher: &mut Sha256) -> std::io::Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            return Ok(total);
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
}

fn hash_reader(reader: &mut impl Read) -> std::io::Result<(u64, String)> {
    let mut hasher = Sha256::new();
    let len = hash_into(reader, &mut hasher)?;
    Ok((len, hex(&hasher.finalize())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::client::ClientOptions;
    use crate::testing::{Answer, HttpServer, data_dir, sha256_hex};

    fn payload() -> Vec<u8> {
        (0..200_000u32).map(|i| (i % 251) as u8).collect()
    }

    fn file_ref(bytes: &[u8]) -> FileRef {
        let sha = sha256_hex(bytes);
        FileRef {
            url: format!("/api/v1/files/{sha}"),
            sha256: sha,
            size: Some(bytes.len() as u64),
        }
    }

    fn fetch(
        cache: &FileCache,
        server: &HttpServer,
        file: &FileRef,
    ) -> Result<PathBuf, DownloadError> {
        let client = ServerClient::new(&server.base, &ClientOptions::default()).expect("client");
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(cache.fetch(&client, "cred", file))
    }

    #[test]
    fn a_cut_download_resumes_from_where_it_stopped() {
        let bytes = payload();
        let served = bytes.clone();
        let calls = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&calls);
        let server = HttpServer::start(move |r| {
            let mut a = Answer::file(r, &served);
            if count.fetch_add(1, Ordering::SeqCst) == 0 {
                a.cut_after = Some(70_000);
            }
            a
        });
        let (_tmp, data) = data_dir();
        let cache = FileCache::open(&data).expect("cache");
        let file = file_ref(&bytes);
        let e = fetch(&cache, &server, &file).expect_err("cut");
        assert!(e.transient(), "{e}");
        let path = fetch(&cache, &server, &file).expect("resumed");
        assert_eq!(std::fs::read(&path).expect("read"), bytes);
        let received = server.received.lock().expect("log");
        assert_eq!(received.len(), 2);
        assert_eq!(received[0].headers.get("range"), None);
        assert_eq!(
            received[1].headers.get("range").map(String::as_str),
            Some("bytes=70000-")
        );
        assert_eq!(
            received[1].headers.get("authorization").map(String::as_str),
            Some("Bearer cred")
        );
        assert!(
            !data
                .join("files")
                .join(format!("{}.part", file.sha256))
                .exists()
        );
    }

    #[test]
    fn a_partial_file_the_server_cannot_continue_starts_over() {
        let bytes = payload();
        let (_tmp, data) = data_dir();
        let cache = FileCache::open(&data).expect("cache");
        // A partial file longer than the server's: 416, then a fresh download.
        let short = bytes[..1000].to_vec();
        let served = short.clone();
        let server = HttpServer::start(move |r| Answer::file(r, &served));
        let small = FileRef {
            size: None,
            ..file_ref(&short)
        };
        std::fs::write(
            data.join("files").join(format!("{}.part", small.sha256)),
            vec![0u8; 5000],
        )
        .expect("write part");
        let path = fetch(&cache, &server, &small).expect("fresh");
        assert_eq!(std::fs::read(path).expect("read"), short);
        let received = server.received.lock().expect("log");
        assert_eq!(received.len(), 2, "416 then the whole file");
    }

    #[test]
    fn a_wrong_file_is_deleted_and_a_kept_file_changed_on_disk_is_fetched_again() {
        let bytes = payload();
        let file = file_ref(&bytes);
        let mut wrong = bytes.clone();
        wrong[10] ^= 1;
        let served = wrong.clone();
        let server = HttpServer::start(move |r| Answer::file(r, &served));
        let (_tmp, data) = data_dir();
        let cache = FileCache::open(&data).expect("cache");
        let e = fetch(&cache, &server, &file).expect_err("wrong hash");
        assert!(matches!(e, DownloadError::Hash { .. }), "{e}");
        assert!(!e.transient());
        assert_eq!(
            std::fs::read_dir(data.join("files")).expect("ls").count(),
            0
        );

        let served = bytes.clone();
        let server = HttpServer::start(move |r| Answer::file(r, &served));
        let path = fetch(&cache, &server, &file).expect("good");
        std::fs::write(&path, &wrong).expect("tamper");
        assert_eq!(
            cache.verified(&file).expect("verify"),
            None,
            "a changed file is not used"
        );
        assert!(!path.exists());
        fetch(&cache, &server, &file).expect("fetched again");
        assert_eq!(server.received.lock().expect("log").len(), 2);

        let wanted = HashSet::new();
        assert_eq!(cache.retain(&wanted).expect("retain"), 1);
    }

    #[test]
    fn a_file_not_staged_yet_is_retried_and_a_bad_name_is_refused() {
        let server = HttpServer::start(|_| {
            Answer::json(
                404,
                &serde_json::json!({"error": "notFound", "detail": "no verified file"}),
            )
        });
        let (_tmp, data) = data_dir();
        let cache = FileCache::open(&data).expect("cache");
        let missing = FileRef {
            sha256: "a".repeat(64),
            size: None,
            url: format!("/api/v1/files/{}", "a".repeat(64)),
        };
        assert!(
            fetch(&cache, &server, &missing)
                .expect_err("404")
                .transient()
        );
        let bad = FileRef {
            sha256: "../etc/passwd".into(),
            size: None,
            url: "/x".into(),
        };
        assert!(matches!(
            fetch(&cache, &server, &bad),
            Err(DownloadError::BadName { .. })
        ));
    }
}
