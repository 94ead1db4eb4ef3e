#![allow(dead_code)] // shared by integration tests; each uses a part

//! A real HTTP server on loopback that serves patch binaries the way vendors' download servers
//! do: `Range` requests answered with 206 and `Content-Range`, and knobs to break it (a response
//! cut short mid-body, a server that ignores `Range`, a slow server whose concurrent requests are
//! counted).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// A request the server saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub path: String,
    pub range: Option<String>,
    /// Body bytes the server sent (or began to send, when cut).
    pub sent: u64,
}

#[derive(Default)]
struct Files {
    bytes: HashMap<String, Vec<u8>>,
    /// Cut the next response for a path after this many body bytes.
    cut_next: HashMap<String, u64>,
    ignore_range: HashSet<String>,
    delay: Duration,
    seen: Vec<Seen>,
    active: u32,
    max_active: u32,
}

#[derive(Clone)]
pub struct VendorServer {
    pub base: String,
    files: Arc<Mutex<Files>>,
}

impl VendorServer {
    pub async fn start() -> VendorServer {
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
        VendorServer {
            base: format!("http://{addr}"),
            files,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Files> {
        self.files.lock().expect("lock")
    }

    pub fn put(&self, path: &str, bytes: impl Into<Vec<u8>>) {
        self.lock().bytes.insert(key(path), bytes.into());
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base, key(path))
    }

    /// The next response for `path` stops after `bytes` body bytes, though its headers promised
    /// more: a connection that breaks mid-download.
    pub fn cut_next(&self, path: &str, bytes: u64) {
        self.lock().cut_next.insert(key(path), bytes);
    }

    /// Answers requests for `path` with the whole file and 200, whatever their `Range`.
    pub fn ignore_range(&self, path: &str) {
        self.lock().ignore_range.insert(key(path));
    }

    /// Every request waits this long before it is answered.
    pub fn set_delay(&self, delay: Duration) {
        self.lock().delay = delay;
    }

    pub fn seen(&self, path: &str) -> Vec<Seen> {
        let path = key(path);
        self.lock()
            .seen
            .iter()
            .filter(|s| s.path == path)
            .cloned()
            .collect()
    }

    /// The most requests that were being answered at once.
    pub fn max_active(&self) -> u32 {
        self.lock().max_active
    }
}

fn key(path: &str) -> String {
    path.trim_start_matches('/').to_owned()
}

/// `bytes=100-` → 100 (the only form the store sends).
fn range_start(value: &str) -> Option<u64> {
    value
        .strip_prefix("bytes=")?
        .strip_suffix('-')?
        .parse()
        .ok()
}

async fn serve(
    State(files): State<Arc<Mutex<Files>>>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    let delay = {
        let mut f = files.lock().expect("lock");
        f.active += 1;
        f.max_active = f.max_active.max(f.active);
        f.delay
    };
    tokio::time::sleep(delay).await;
    let mut f = files.lock().expect("lock");
    f.active -= 1;
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let Some(bytes) = f.bytes.get(&path).cloned() else {
        f.seen.push(Seen {
            path,
            range,
            sent: 0,
        });
        return StatusCode::NOT_FOUND.into_response();
    };
    let len = bytes.len() as u64;
    let start = match range.as_deref() {
        Some(r) if !f.ignore_range.contains(&path) => match range_start(r) {
            Some(start) if start < len => Some(start),
            _ => {
                f.seen.push(Seen {
                    path,
                    range,
                    sent: 0,
                });
                return (
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    [(header::CONTENT_RANGE, format!("bytes */{len}"))],
                )
                    .into_response();
            }
        },
        _ => None,
    };
    let body = bytes[start.unwrap_or(0) as usize..].to_vec();
    let promised = body.len() as u64;
    let cut = f.cut_next.remove(&path);
    let sent = cut.map_or(promised, |c| c.min(promised));
    f.seen.push(Seen { path, range, sent });
    drop(f);

    let mut response_headers = HeaderMap::new();
    response_headers.insert(header::ACCEPT_RANGES, "bytes".parse().expect("header"));
    let status = match start {
        Some(s) => {
            let value = format!("bytes {s}-{}/{len}", len - 1);
            response_headers.insert(header::CONTENT_RANGE, value.parse().expect("header"));
            StatusCode::PARTIAL_CONTENT
        }
        None => StatusCode::OK,
    };
    if cut.is_some() {
        // A body of unknown length with a Content-Length header for the whole: hyper sends what
        // the body has, finds it short of the promise, and closes the connection.
        let short = Body::from(Bytes::from(body[..sent as usize].to_vec()));
        response_headers.insert(header::CONTENT_LENGTH, promised.into());
        return (
            status,
            response_headers,
            Body::from_stream(short.into_data_stream()),
        )
            .into_response();
    }
    (status, response_headers, Bytes::from(body)).into_response()
}
