#![allow(dead_code)] // shared by the integration tests and the benchmarks; each uses a part

//! A real HTTP server on loopback that serves feed files the way vendors do:
//! strong ETags, `If-None-Match` answered with 304, and knobs to break it
//! (failures before success, files changed between requests).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

#[derive(Default)]
struct Files {
    bytes: HashMap<String, Vec<u8>>,
    /// Requests per path, and how many of them were conditional.
    hits: HashMap<String, (u32, u32)>,
    /// Answer this many requests for a path with 503 before serving it.
    fail_first: HashMap<String, u32>,
    /// Mixed into a path's ETag; bumping it changes the validator only.
    generation: HashMap<String, u32>,
}

#[derive(Clone)]
pub struct FeedServer {
    pub base: String,
    files: Arc<Mutex<Files>>,
}

impl FeedServer {
    pub async fn start() -> FeedServer {
        let files = Arc::new(Mutex::new(Files::default()));
        let app = axum::Router::new()
            .route("/{*path}", axum::routing::get(serve))
            .with_state(Arc::clone(&files));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr: SocketAddr = listener.local_addr().expect("address");
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        FeedServer {
            base: format!("http://{addr}"),
            files,
        }
    }

    pub fn put(&self, path: &str, bytes: impl Into<Vec<u8>>) {
        self.files
            .lock()
            .expect("lock")
            .bytes
            .insert(path.trim_start_matches('/').to_owned(), bytes.into());
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base, path.trim_start_matches('/'))
    }

    /// (requests, conditional requests) seen for `path`.
    pub fn hits(&self, path: &str) -> (u32, u32) {
        self.files
            .lock()
            .expect("lock")
            .hits
            .get(path.trim_start_matches('/'))
            .copied()
            .unwrap_or_default()
    }

    pub fn fail_first(&self, path: &str, times: u32) {
        self.files
            .lock()
            .expect("lock")
            .fail_first
            .insert(path.trim_start_matches('/').to_owned(), times);
    }
}

fn etag(bytes: &[u8], generation: u32) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(bytes);
    let short: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("\"{short}-{generation}\"")
}

async fn serve(
    State(files): State<Arc<Mutex<Files>>>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    let mut files = files.lock().expect("lock");
    let conditional = headers.contains_key(header::IF_NONE_MATCH);
    let hits = files.hits.entry(path.clone()).or_default();
    hits.0 += 1;
    hits.1 += u32::from(conditional);
    if let Some(n) = files.fail_first.get_mut(&path)
        && *n > 0
    {
        {
            *n -= 1;
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "0")],
                "try again",
            )
                .into_response();
        }
    }
    let Some(bytes) = files.bytes.get(&path) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let tag = etag(
        bytes,
        files.generation.get(&path).copied().unwrap_or_default(),
    );
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        == Some(tag.as_str())
    {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, tag)]).into_response();
    }
    (
        StatusCode::OK,
        [(header::ETAG, tag)],
        Bytes::from(bytes.clone()),
    )
        .into_response()
}

impl FeedServer {
    /// Makes the next conditional request for `path` miss, as when a mirror
    /// republishes a file: the server's validator changes, the bytes do not.
    pub fn bump_etag(&self, path: &str) {
        let mut files = self.files.lock().expect("lock");
        *files
            .generation
            .entry(path.trim_start_matches('/').to_owned())
            .or_default() += 1;
    }
}
