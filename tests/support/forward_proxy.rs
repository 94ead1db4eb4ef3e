#![allow(dead_code)] // shared by integration tests; each uses a part

//! A real HTTP forward proxy on loopback, as `Settings.proxy` names one: it
//! takes requests in absolute form (`GET http://host/path HTTP/1.1`), forwards
//! them, passes the answer back, and remembers every URL it carried — so a
//! test can prove that feeds and downloads went through it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};

#[derive(Clone)]
pub struct ForwardProxy {
    /// `http://127.0.0.1:PORT`, for `Settings.proxy.url`.
    pub url: String,
    carried: Arc<Mutex<Vec<String>>>,
}

/// Hop-by-hop headers a proxy does not forward (RFC 9110, 7.6.1).
const HOP_BY_HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "te",
    "transfer-encoding",
    "upgrade",
];

impl ForwardProxy {
    pub async fn start() -> ForwardProxy {
        let carried = Arc::new(Mutex::new(Vec::new()));
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        let app = axum::Router::new()
            .fallback(forward)
            .with_state((client, Arc::clone(&carried)));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr: SocketAddr = listener.local_addr().expect("address");
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        ForwardProxy {
            url: format!("http://{addr}"),
            carried,
        }
    }

    /// Every URL forwarded so far, in order.
    pub fn carried(&self) -> Vec<String> {
        self.carried.lock().expect("lock").clone()
    }
}

async fn forward(
    State((client, carried)): State<(reqwest::Client, Arc<Mutex<Vec<String>>>)>,
    request: Request,
) -> Response {
    let uri = request.uri().clone();
    if uri.scheme().is_none() {
        return (StatusCode::BAD_REQUEST, "a proxy takes absolute URLs").into_response();
    }
    carried.lock().expect("lock").push(uri.to_string());
    let mut outgoing = client.request(request.method().clone(), uri.to_string());
    for (name, value) in request.headers() {
        if name != "host" && !HOP_BY_HOP.contains(&name.as_str()) {
            outgoing = outgoing.header(name, value);
        }
    }
    let answer = match outgoing.send().await {
        Ok(a) => a,
        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    let status = answer.status();
    let headers: Vec<(HeaderName, _)> = answer
        .headers()
        .iter()
        .filter(|(n, _)| !HOP_BY_HOP.contains(&n.as_str()))
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    let body = answer.bytes().await.unwrap_or_default();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    for (name, value) in headers {
        response.headers_mut().insert(name, value);
    }
    response
}
