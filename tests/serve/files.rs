//! Staged files for agents, by SHA-256: whole, in ranges, never when tampered.

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::support::{Serve, facts, on_each_database};

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn staged_files_are_served_whole_in_ranges_and_never_when_tampered() {
    on_each_database(|db| {
        let serve = Serve::new().enrollment().database(&db);
        let staging = serve.data_dir().join("staging");
        let place = |bytes: &[u8], sha: &str| {
            let path = staging.join("sha256").join(&sha[..2]);
            std::fs::create_dir_all(&path).expect("mkdir");
            std::fs::write(path.join(sha), bytes).expect("write");
        };
        let content: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let sha = hex_sha256(&content);
        place(&content, &sha);
        // A second file whose bytes no longer match its name.
        let other_sha = hex_sha256(b"a genuine package");
        place(b"a tampered package", &other_sha);
        let s = serve.start();
        let credential = s.enroll(&facts(json!({}))).credential;
        let url = format!("/api/v1/files/{sha}");

        assert_eq!(s.request("GET", &url, None, None).0, 401);
        let (code, headers, bytes) = s.request("GET", &url, Some(&credential), None);
        assert_eq!(code, 200);
        assert_eq!(bytes, content);
        assert_eq!(headers["accept-ranges"], "bytes");
        assert_eq!(headers["etag"], format!("\"{sha}\"").as_str());
        let (code, headers, bytes) = s.request("HEAD", &url, Some(&credential), None);
        assert_eq!(code, 200);
        assert_eq!(headers["content-length"], "200000");
        assert!(bytes.is_empty());
        // Resuming after 150,000 bytes.
        let (code, headers, bytes) =
            s.request("GET", &url, Some(&credential), Some("bytes=150000-"));
        assert_eq!(code, 206);
        assert_eq!(headers["content-range"], "bytes 150000-199999/200000");
        assert_eq!(bytes, &content[150_000..]);
        let (code, _, bytes) = s.request("GET", &url, Some(&credential), Some("bytes=10-19"));
        assert_eq!((code, bytes.as_slice()), (206, &content[10..20]));
        let (code, headers, _) = s.request("GET", &url, Some(&credential), Some("bytes=200000-"));
        assert_eq!(code, 416);
        assert_eq!(headers["content-range"], "bytes */200000");
        // The tampered file is not served, and is gone from the store.
        let tampered = format!("/api/v1/files/{other_sha}");
        assert_eq!(s.request("GET", &tampered, Some(&credential), None).0, 404);
        assert!(
            !staging
                .join("sha256")
                .join(&other_sha[..2])
                .join(&other_sha)
                .exists()
        );
        let unknown = format!("/api/v1/files/{}", "0".repeat(64));
        assert_eq!(s.request("GET", &unknown, Some(&credential), None).0, 404);
    });
}
