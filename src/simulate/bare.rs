//! The ceiling: an axum server with one route, the check-in path, that parses
//! the body as a protocol [`CheckIn`] and answers a small fixed
//! [`CheckInResponse`]. No storage, no authentication: what any check-in costs
//! the machine before Fixpoint does anything with it. `fixpoint simulate run
//! --baseline` starts it and measures it in the same run as the servers.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::response::{IntoResponse, Response};
use fixpoint_core::protocol::{self, CHECK_IN_PATH, CheckIn, CheckInResponse, Instructions};

/// The largest body, as the real server's.
const MAX_BODY: usize = 32 * 1024 * 1024;

/// Serves until `shutdown` completes; prints `fixpoint: listening on
/// http://ADDRESS` first, as `fixpoint serve` does.
pub async fn serve(
    listen: SocketAddr,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let address = listener.local_addr()?;
    let answer = Arc::new(CheckInResponse {
        instructions: Instructions::default(),
        etag: protocol::etag(&Instructions::default()),
        next_check_in: jiff::Timestamp::now() + jiff::SignedDuration::from_mins(90),
        inventory_needed: false,
    });
    let app = axum::Router::new()
        .route(CHECK_IN_PATH, axum::routing::post(check_in))
        .route("/healthz", axum::routing::get(|| async { "ok\n" }))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(answer);
    // Scripts and `run --baseline` read this line to find the port.
    println!("fixpoint: listening on http://{address}");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving HTTP")
}

async fn check_in(
    State(answer): State<Arc<CheckInResponse>>,
    body: Result<Json<CheckIn>, JsonRejection>,
) -> Response {
    match body {
        Ok(Json(check_in)) => match check_in.validate() {
            Ok(()) => Json(&*answer).into_response(),
            Err(e) => (axum::http::StatusCode::BAD_REQUEST, e.to_string()).into_response(),
        },
        Err(rejection) => rejection.into_response(),
    }
}
