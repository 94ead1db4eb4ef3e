//! Load shedding for the agent API: at most `max_agent_requests` agent
//! requests are handled at once. One that finds no free slot within a short
//! wait is answered at once with `503 Service Unavailable` and a
//! `Retry-After`, so a fleet that arrives together (after an outage, or
//! thousands of agents whose jitter is small) backs off and spreads out
//! instead of piling up connections until they time out.
//!
//! The slot is held for the whole request, body included: a slow upload of a
//! large inventory occupies one, as it occupies the server.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use fixpoint_core::protocol::{ApiError, ErrorCode};

use super::Shared;

/// How long a request waits for a slot before it is shed: long enough to
/// absorb a burst, far shorter than any client's timeout.
const QUEUE_WAIT: Duration = Duration::from_millis(250);

/// The `Retry-After` of a shed request, in seconds. Agents add their own
/// jitter to it (docs/agent-protocol.md).
pub(super) const RETRY_AFTER_SECONDS: u64 = 30;

pub(super) async fn shed(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let slots = Arc::clone(&shared.agent_slots);
    let permit = match slots.clone().try_acquire_owned() {
        Ok(permit) => Some(permit),
        Err(_) => tokio::time::timeout(QUEUE_WAIT, slots.acquire_owned())
            .await
            .ok()
            .and_then(Result::ok),
    };
    let Some(_permit) = permit else {
        shared.metrics.shed.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(path = %request.uri().path(), "agent API at its limit; request shed");
        return unavailable("the server is at its limit of concurrent agent requests; retry later");
    };
    next.run(request).await
}

/// `503` with `Retry-After` and the protocol's error body.
pub(super) fn unavailable(detail: &str) -> Response {
    let mut response = (
        StatusCode::SERVICE_UNAVAILABLE,
        axum::Json(ApiError::new(ErrorCode::Unavailable, detail)),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
    response
}
