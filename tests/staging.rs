//! The staging store against a real HTTP server on loopback: downloads verified by SHA-256 and
//! size, resumed after a broken connection, fetched in bounded batches, garbage-collected, and
//! checked again on disk.

mod support {
    pub mod vendor_server;
}

use std::collections::HashSet;
use std::fs;
use std::io::Read;
use std::time::{Duration, Instant, SystemTime};

use fixpoint::staging::{Bandwidth, FetchItem, StagingError, Store, Verification};
use sha2::{Digest, Sha256};
use support::vendor_server::VendorServer;

/// `len` bytes that differ from file to file (`seed`) and do not repeat within one.
fn payload(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as u8
        })
        .collect()
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn client() -> reqwest::Client {
    fixpoint::staging::client(None, Duration::from_secs(10)).expect("client")
}

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    server: VendorServer,
    client: reqwest::Client,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("staging")).expect("open store");
    Fixture {
        _dir: dir,
        store,
        server: VendorServer::start().await,
        client: client(),
    }
}

fn assert_nothing_kept(store: &Store, sha: &str) {
    assert!(!store.contains(sha));
    assert_eq!(store.path_of(sha), None);
    assert_eq!(store.list().expect("list"), vec![]);
    assert_eq!(store.partial_bytes().expect("partials"), 0);
}

#[tokio::test]
async fn a_download_is_verified_and_stored_under_its_digest() {
    let f = fixture().await;
    let bytes = payload(1, 300_000);
    let sha = sha256(&bytes);
    f.server.put("kb/1.msu", bytes.clone());

    let staged = f
        .store
        .fetch(&f.client, &f.server.url("kb/1.msu"), &sha, Some(300_000))
        .await
        .expect("fetch");

    assert_eq!(staged.size, 300_000);
    assert_eq!(staged.downloaded, 300_000);
    let expected_path = f.store.root().join("sha256").join(&sha[..2]).join(&sha);
    assert_eq!(staged.path, expected_path);
    assert_eq!(f.store.path_of(&sha), Some(expected_path.clone()));
    assert_eq!(fs::read(&expected_path).expect("read"), bytes);
    let listed = f.store.list().expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].sha256.as_str(), listed[0].size),
        (sha.as_str(), 300_000)
    );
    assert_eq!(f.store.bytes_used().expect("bytes used"), 300_000);
    assert_eq!(f.store.partial_bytes().expect("partials"), 0);

    // Fetching a stored file again transfers nothing.
    let again = f
        .store
        .fetch(&f.client, &f.server.url("kb/1.msu"), &sha, Some(300_000))
        .await
        .expect("fetch again");
    assert_eq!(again.downloaded, 0);
    assert_eq!(f.server.seen("kb/1.msu").len(), 1);
}

#[tokio::test]
async fn a_broken_download_resumes_with_a_range_request_for_the_rest() {
    let f = fixture().await;
    // Large enough that the server flushes part of the body before it breaks the connection.
    let bytes = payload(2, 4_000_000);
    let sha = sha256(&bytes);
    f.server.put("pkg.deb", bytes.clone());
    f.server.cut_next("pkg.deb", 2_000_000);
    let url = f.server.url("pkg.deb");

    let error = f
        .store
        .fetch(&f.client, &url, &sha, Some(4_000_000))
        .await
        .expect_err("the connection broke");
    assert!(
        matches!(error, StagingError::Unreachable { .. }),
        "{error:?}"
    );
    assert!(error.is_transient());
    assert!(!f.store.contains(&sha), "a partial file is never served");
    let kept = f.store.partial_bytes().expect("partials");
    assert!(kept > 0 && kept <= 2_000_000, "kept {kept} bytes");

    let staged = f
        .store
        .fetch(&f.client, &url, &sha, Some(4_000_000))
        .await
        .expect("resumed");
    assert_eq!(staged.downloaded, 4_000_000 - kept);
    assert_eq!(fs::read(&staged.path).expect("read"), bytes);
    let seen = f.server.seen("pkg.deb");
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].range, None);
    assert_eq!(seen[1].range, Some(format!("bytes={kept}-")));
    assert_eq!(seen[1].sent, 4_000_000 - kept);
    assert_eq!(f.store.partial_bytes().expect("partials"), 0);
}

#[tokio::test]
async fn a_server_that_ignores_range_gets_the_download_restarted_from_zero() {
    let f = fixture().await;
    let bytes = payload(3, 4_000_000);
    let sha = sha256(&bytes);
    f.server.put("a.rpm", bytes.clone());
    f.server.cut_next("a.rpm", 2_000_000);
    f.server.ignore_range("a.rpm");
    let url = f.server.url("a.rpm");

    f.store
        .fetch(&f.client, &url, &sha, None)
        .await
        .expect_err("cut");
    assert!(f.store.partial_bytes().expect("partials") > 0);
    let staged = f
        .store
        .fetch(&f.client, &url, &sha, None)
        .await
        .expect("restarted");

    assert_eq!(staged.downloaded, 4_000_000);
    assert_eq!(fs::read(&staged.path).expect("read"), bytes);
    assert!(f.server.seen("a.rpm")[1].range.is_some());
}

#[tokio::test]
async fn a_file_with_the_wrong_hash_is_discarded_and_never_stored() {
    let f = fixture().await;
    let promised = payload(4, 100_000);
    let sha = sha256(&promised);
    f.server.put("kb/2.msu", payload(5, 100_000));

    let error = f
        .store
        .fetch(&f.client, &f.server.url("kb/2.msu"), &sha, Some(100_000))
        .await
        .expect_err("wrong content");

    match &error {
        StagingError::HashMismatch {
            expected, actual, ..
        } => {
            assert_eq!(expected, &sha);
            assert_eq!(actual, &sha256(&payload(5, 100_000)));
        }
        other => panic!("expected a hash mismatch, got {other:?}"),
    }
    assert!(!error.is_transient());
    assert_eq!(error.metric_label(), "hash_mismatch");
    assert_nothing_kept(&f.store, &sha);
}

#[tokio::test]
async fn a_file_of_the_wrong_size_is_discarded() {
    let f = fixture().await;
    let bytes = payload(6, 100_000);
    let sha = sha256(&bytes);
    f.server.put("big", bytes.clone());
    f.server.put("small", bytes[..99_000].to_vec());

    let longer = f
        .store
        .fetch(&f.client, &f.server.url("big"), &sha, Some(99_999))
        .await
        .expect_err("too long");
    assert!(
        matches!(longer, StagingError::SizeMismatch { expected: 99_999, actual, .. } if actual > 99_999),
        "{longer:?}"
    );
    assert_nothing_kept(&f.store, &sha);

    let shorter = f
        .store
        .fetch(&f.client, &f.server.url("small"), &sha, Some(100_000))
        .await
        .expect_err("too short");
    assert!(
        matches!(
            shorter,
            StagingError::SizeMismatch {
                expected: 100_000,
                actual: 99_000,
                ..
            }
        ),
        "{shorter:?}"
    );
    assert_nothing_kept(&f.store, &sha);
}

#[tokio::test]
async fn not_found_and_connection_refused_are_distinct_errors() {
    let f = fixture().await;
    let sha = sha256(b"anything");

    let missing = f
        .store
        .fetch(&f.client, &f.server.url("gone"), &sha, None)
        .await
        .expect_err("404");
    assert!(
        matches!(missing, StagingError::Status { status, .. } if status == reqwest::StatusCode::NOT_FOUND),
        "{missing:?}"
    );
    assert!(!missing.is_transient());

    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let refused = f
        .store
        .fetch(&f.client, &format!("http://{addr}/file"), &sha, None)
        .await
        .expect_err("refused");
    assert!(
        matches!(refused, StagingError::Unreachable { .. }),
        "{refused:?}"
    );
    assert!(refused.is_transient());
    assert_eq!(refused.metric_label(), "unreachable");
    assert_nothing_kept(&f.store, &sha);
}

#[tokio::test]
async fn fetch_all_downloads_a_batch_at_most_two_at_a_time() {
    let f = fixture().await;
    f.server.set_delay(Duration::from_millis(150));
    let mut items = Vec::new();
    for i in 0..5u64 {
        let bytes = payload(10 + i, 50_000 + i as usize);
        let path = format!("batch/{i}");
        f.server.put(&path, bytes.clone());
        items.push(FetchItem {
            url: f.server.url(&path),
            sha256: sha256(&bytes),
            size: Some(bytes.len() as u64),
        });
    }
    // One bad apple does not spoil the batch.
    items.push(FetchItem {
        url: f.server.url("batch/missing"),
        sha256: sha256(b"missing"),
        size: None,
    });

    let results = f.store.fetch_all(&f.client, items.clone(), 2).await;

    assert_eq!(results.len(), 6);
    for ((item, result), wanted) in results.iter().zip(&items) {
        assert_eq!(item, wanted, "results come back in the order asked");
        if item.url.ends_with("missing") {
            assert!(
                matches!(result, Err(StagingError::Status { .. })),
                "{result:?}"
            );
        } else {
            let staged = result.as_ref().expect("fetched");
            assert_eq!(staged.sha256, item.sha256);
        }
    }
    assert_eq!(f.store.list().expect("list").len(), 5);
    assert_eq!(f.server.max_active(), 2);
}

fn set_age(store: &Store, sha: &str, age: Duration) {
    let path = store.path_of(sha).expect("stored");
    let file = fs::File::options().append(true).open(path).expect("open");
    file.set_modified(SystemTime::now() - age)
        .expect("set mtime");
}

#[tokio::test]
async fn gc_keeps_referenced_and_recent_files_and_deletes_the_rest() {
    let f = fixture().await;
    let mut shas = Vec::new();
    for (i, name) in ["referenced", "stale", "recent"].iter().enumerate() {
        let bytes = payload(20 + i as u64, 10_000 * (i + 1));
        let sha = sha256(&bytes);
        f.server.put(name, bytes);
        f.store
            .fetch(&f.client, &f.server.url(name), &sha, None)
            .await
            .expect("fetch");
        shas.push(sha);
    }
    let week = Duration::from_secs(7 * 24 * 3600);
    set_age(&f.store, &shas[0], 2 * week);
    set_age(&f.store, &shas[1], 2 * week);
    set_age(&f.store, &shas[2], Duration::from_secs(3600));
    let referenced: HashSet<String> = [shas[0].clone()].into();

    let collected = f
        .store
        .gc(&referenced, week, SystemTime::now())
        .expect("gc");

    assert_eq!(collected.deleted, vec![shas[1].clone()]);
    assert_eq!(collected.bytes_freed, 20_000);
    assert!(f.store.contains(&shas[0]));
    assert!(!f.store.contains(&shas[1]));
    assert!(f.store.contains(&shas[2]));
    assert_eq!(f.store.bytes_used().expect("bytes"), 10_000 + 30_000);
}

#[tokio::test]
async fn a_file_tampered_with_on_disk_is_detected_and_removed() {
    let f = fixture().await;
    let bytes = payload(30, 64_000);
    let sha = sha256(&bytes);
    f.server.put("tamper", bytes.clone());
    let staged = f
        .store
        .fetch(&f.client, &f.server.url("tamper"), &sha, None)
        .await
        .expect("fetch");
    assert_eq!(f.store.verify(&sha).expect("verify"), Verification::Intact);
    let (mut file, size) = f
        .store
        .open_verified(&sha)
        .expect("open")
        .expect("intact file is served");
    let mut served = Vec::new();
    file.read_to_end(&mut served).expect("read");
    assert_eq!((served, size), (bytes.clone(), 64_000));

    let mut tampered = bytes.clone();
    tampered[1000] ^= 0xff;
    fs::write(&staged.path, &tampered).expect("tamper");

    assert_eq!(
        f.store.verify(&sha).expect("verify"),
        Verification::Removed {
            actual: sha256(&tampered)
        }
    );
    assert!(!f.store.contains(&sha));
    assert!(!staged.path.exists());
    assert_eq!(f.store.verify(&sha).expect("verify"), Verification::Missing);
}

#[tokio::test]
async fn open_verified_never_serves_a_tampered_file() {
    let f = fixture().await;
    let bytes = payload(31, 10_000);
    let sha = sha256(&bytes);
    f.server.put("t2", bytes);
    let staged = f
        .store
        .fetch(&f.client, &f.server.url("t2"), &sha, None)
        .await
        .expect("fetch");
    fs::write(&staged.path, b"not the same").expect("tamper");

    assert!(f.store.open_verified(&sha).expect("open").is_none());
    assert!(!staged.path.exists());
}

#[test]
fn opening_the_store_removes_strays_and_keeps_resumable_partials() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("staging");
    let sha = sha256(b"x");
    let done = sha256(b"done");
    Store::open(&root).expect("create");
    fs::create_dir_all(root.join("sha256").join(&done[..2])).expect("mkdir");
    fs::write(root.join("sha256").join(&done[..2]).join(&done), b"done").expect("write");
    fs::write(root.join("sha256").join(&done[..2]).join("tmp123"), b"junk").expect("write");
    fs::write(root.join("sha256").join("stray"), b"junk").expect("write");
    fs::write(root.join("partial").join(format!("{sha}.part")), b"half").expect("write");
    fs::write(root.join("partial").join(format!("{done}.part")), b"do").expect("write");
    fs::write(root.join("partial").join("junk.tmp"), b"junk").expect("write");

    let store = Store::open(&root).expect("reopen");

    assert!(store.contains(&done));
    assert!(!root.join("sha256").join(&done[..2]).join("tmp123").exists());
    assert!(!root.join("sha256").join("stray").exists());
    assert!(root.join("partial").join(format!("{sha}.part")).exists());
    assert!(!root.join("partial").join(format!("{done}.part")).exists());
    assert!(!root.join("partial").join("junk.tmp").exists());
    assert_eq!(store.partial_bytes().expect("partials"), 4);
}

#[tokio::test]
async fn a_bandwidth_limit_slows_a_download_to_its_rate() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 20 kB/s with a one-second burst: 60 kB take at least two seconds.
    let store = Store::open_with(dir.path(), Some(Bandwidth::new(20_000))).expect("open");
    let server = VendorServer::start().await;
    let bytes = payload(40, 60_000);
    let sha = sha256(&bytes);
    server.put("slow", bytes);

    let started = Instant::now();
    store
        .fetch(&client(), &server.url("slow"), &sha, None)
        .await
        .expect("fetch");

    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(1900), "took {elapsed:?}");
}

#[tokio::test]
async fn a_malformed_digest_or_url_is_refused_before_any_request() {
    let f = fixture().await;
    let upper = sha256(b"x").to_uppercase();
    let error = f
        .store
        .fetch(&f.client, &f.server.url("x"), &upper, None)
        .await
        .expect_err("uppercase digest");
    assert!(matches!(error, StagingError::InvalidDigest(_)));
    let error = f
        .store
        .fetch(&f.client, "ftp://example.invalid/x", &sha256(b"x"), None)
        .await
        .expect_err("ftp");
    assert!(matches!(error, StagingError::UnsupportedUrl { .. }));
    assert!(f.server.seen("x").is_empty());
}

/// A small tmpfs mounted for one test, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// `None` where this process may not mount (not root): then the test is
    /// skipped, except under CI=true, where this machine kind can.
    fn mount(bytes: u64) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().expect("tempdir");
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(dir.path())
            .status();
        match status {
            Ok(s) if s.success() => Some(SmallDisk { dir }),
            other if std::env::var("CI").as_deref() == Ok("true") => {
                panic!("CI=true: cannot mount a tmpfs for the disk-full test: {other:?}")
            }
            other => {
                eprintln!("SKIPPED: cannot mount a tmpfs ({other:?})");
                None
            }
        }
    }

    fn resize(&self, bytes: u64) {
        let status = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={bytes}")])
            .arg(self.dir.path())
            .status()
            .expect("mount runs");
        assert!(status.success(), "remount");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test]
async fn a_full_disk_is_reported_as_transient_and_the_download_resumes_once_there_is_room() {
    let Some(disk) = SmallDisk::mount(512 * 1024) else {
        return;
    };
    let store = Store::open(disk.dir.path().join("staging")).expect("open store");
    let server = VendorServer::start().await;
    let bytes = payload(9, 2_000_000);
    let sha = sha256(&bytes);
    server.put("big.deb", bytes.clone());
    let url = server.url("big.deb");

    let error = store
        .fetch(&client(), &url, &sha, Some(2_000_000))
        .await
        .expect_err("the disk is too small");
    assert!(error.is_disk_full(), "{error:?}");
    assert!(error.is_transient());
    assert_eq!(error.metric_label(), "disk_full");
    assert!(!store.contains(&sha), "nothing half-written is ever placed");
    assert_eq!(store.list().expect("list"), vec![]);
    let kept = store.partial_bytes().expect("partials");
    assert!(kept > 0 && kept < 2_000_000, "kept {kept}");

    disk.resize(8 * 1024 * 1024);
    let staged = store
        .fetch(&client(), &url, &sha, Some(2_000_000))
        .await
        .expect("room now");
    assert_eq!(
        staged.downloaded,
        2_000_000 - kept,
        "resumed, not restarted"
    );
    assert_eq!(fs::read(&staged.path).expect("read"), bytes);
    assert_eq!(store.verify(&sha).expect("verify"), Verification::Intact);
}
