//! `POST /api/v1/webhook`: a push to the followed branch triggers a fetch at
//! once, instead of at the next poll. A shortcut, never the only trigger: the
//! server polls on its interval whether or not webhooks arrive, so a lost
//! delivery delays a change by one interval at most.
//!
//! Deliveries are authenticated with the configured secret, as each forge
//! signs them:
//! - GitHub (and Gitea, Forgejo): `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`;
//! - GitLab: `X-Gitlab-Token: <secret>`.
//!
//! A push to another branch, or an event that is not a push (GitHub's
//! `ping`), is acknowledged with 202 and changes nothing. The body is read
//! only for its `ref`; nothing in it is trusted beyond waking the loop, which
//! then fetches the branch itself.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;
use sha2::Sha256;

use super::Shared;

pub(super) const PATH: &str = "/api/v1/webhook";

/// Which forge sent a delivery, from its headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Forge {
    GitHub,
    GitLab,
}

fn refused(shared: &Shared, status: StatusCode, error: &str, detail: &str) -> Response {
    shared
        .metrics
        .webhooks_refused
        .fetch_add(1, Ordering::Relaxed);
    tracing::warn!(error, detail, "webhook delivery refused");
    (status, Json(json!({"error": error, "detail": detail}))).into_response()
}

/// Whether `signature` (`sha256=<hex>`) is the HMAC-SHA256 of `body` under
/// `secret`. The comparison is the MAC library's, in constant time.
pub(super) fn github_signature_valid(secret: &[u8], body: &[u8], signature: &str) -> bool {
    let Some(hex) = signature.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Some(expected) = decode_hex(hex) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// `a == b` in time independent of where they differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

pub(super) async fn receive(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(secret) = shared.config.webhook_secret.as_ref() else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "webhookDisabled", "detail": "this server has no webhook secret configured"})),
        )
            .into_response();
    };
    let secret = match secret.read() {
        Ok(s) => s,
        Err(e) => return super::agent::internal(&format!("the webhook secret: {e:#}")),
    };
    let forge = if let Some(signature) = header(&headers, "x-hub-signature-256") {
        if !github_signature_valid(secret.as_bytes(), &body, signature) {
            return refused(
                &shared,
                StatusCode::UNAUTHORIZED,
                "badSignature",
                "X-Hub-Signature-256 is not the HMAC-SHA256 of the body under the webhook secret",
            );
        }
        Forge::GitHub
    } else if let Some(token) = header(&headers, "x-gitlab-token") {
        if !same_secret(token.as_bytes(), secret.as_bytes()) {
            return refused(
                &shared,
                StatusCode::UNAUTHORIZED,
                "badToken",
                "X-Gitlab-Token is not the webhook secret",
            );
        }
        Forge::GitLab
    } else {
        return refused(
            &shared,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "sign deliveries with X-Hub-Signature-256 (GitHub) or send X-Gitlab-Token (GitLab)",
        );
    };
    let event = match forge {
        Forge::GitHub => header(&headers, "x-github-event"),
        Forge::GitLab => header(&headers, "x-gitlab-event"),
    }
    .unwrap_or("");
    let is_push = matches!(
        (forge, event),
        (Forge::GitHub, "push") | (Forge::GitLab, "Push Hook")
    );
    if !is_push {
        return ignored(format!("event {event:?} is not a push"));
    }
    // Only a push to the followed branch matters; a directory source follows every push.
    let pushed: Option<String> = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("ref").and_then(|r| r.as_str()).map(str::to_owned));
    if let Some(git) = &shared.config.git {
        let followed = format!("refs/heads/{}", git.branch);
        match pushed.as_deref() {
            Some(r) if r == followed => {}
            Some(r) => return ignored(format!("push to {r}; following {followed}")),
            None => {
                return (
                    StatusCode::BAD_REQUEST,
                    Json(json!({"error": "malformed", "detail": "a push event without `ref`"})),
                )
                    .into_response();
            }
        }
    }
    shared.metrics.webhooks.fetch_add(1, Ordering::Relaxed);
    tracing::info!(
        ?forge,
        r#ref = pushed.as_deref().unwrap_or(""),
        "webhook: fetching now"
    );
    if shared.is_leader() {
        shared.wake.notify_one();
    } else {
        // The leader reads the policy source: pass the delivery on.
        shared.announce(super::leader::Announcement::Webhook).await;
    }
    (StatusCode::ACCEPTED, Json(json!({"triggered": true}))).into_response()
}

fn ignored(why: String) -> Response {
    tracing::debug!(%why, "webhook delivery ignored");
    (
        StatusCode::ACCEPTED,
        Json(json!({"triggered": false, "reason": why})),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    // GitHub's documented example: secret "It's a Secret to Everybody",
    // payload "Hello, World!".
    const GITHUB_EXAMPLE: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn githubs_documented_signature_verifies() {
        assert!(github_signature_valid(
            b"It's a Secret to Everybody",
            b"Hello, World!",
            GITHUB_EXAMPLE
        ));
    }

    #[test]
    fn a_signature_over_other_bytes_or_with_another_secret_does_not() {
        assert!(!github_signature_valid(
            b"It's a Secret to Everybody",
            b"Hello, World?",
            GITHUB_EXAMPLE
        ));
        assert!(!github_signature_valid(
            b"another secret",
            b"Hello, World!",
            GITHUB_EXAMPLE
        ));
        for malformed in [
            "",
            "sha256=",
            "sha1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1",
            "sha256=zz7107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        ] {
            assert!(
                !github_signature_valid(b"It's a Secret to Everybody", b"Hello, World!", malformed),
                "{malformed:?}"
            );
        }
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"abcd"));
        assert!(!same_secret(b"", b"a"));
    }
}
