//! The agent API, version 1 (docs/agent-protocol.md, and the OpenAPI document
//! `protocol::openapi()` it serves at `/api/v1/openapi.json`): enrollment,
//! check-in, reports and file downloads.
//!
//! - Bad JSON is a 400 with the reason; a body over the limit is a 413; a
//!   missing or unknown credential is a 401. An agent is known only by its
//!   credential, so it can read nothing but its own instructions.
//! - Every error is an `ApiError` whose code (`protocol::ErrorCode`) decides
//!   the status, so the document and the answers agree.
//! - Only the SHA-256 of a credential is stored.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fixpoint_core::catalog::PatchId;
use fixpoint_core::fleet::{DirectoryFacts, Machine, OsFacts};
use fixpoint_core::protocol::{
    self, Action, ApiError, CheckIn, CheckInResponse, EnrollRequest, EnrollResponse, ErrorCode,
    Facts, Instructions, InventoryPayload, Report, ReportResponse,
};
use sha2::{Digest, Sha256};

use super::Shared;
use super::json_body::{BodyRejection, JsonBody};
use crate::store::{IssuedInstruction, ReportedResult};

/// The largest request body: a full inventory of 100,000 packages fits.
pub const MAX_BODY: usize = 32 * 1024 * 1024;

/// An `ApiError` response, with the status its code comes with.
fn error(code: ErrorCode, detail: impl Into<String>) -> Response {
    let status = StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(ApiError::new(code, detail))).into_response()
}

pub(super) fn bad_json(rejection: &BodyRejection) -> Response {
    let code = if rejection.too_large {
        ErrorCode::TooLarge
    } else {
        ErrorCode::Malformed
    };
    error(code, rejection.text.clone())
}

/// A failure of the server's own (the database unreachable, a disk error):
/// logged once with its detail, and shown to the client as a `503` with
/// `Retry-After` and nothing of the detail.
pub(super) fn internal(e: &impl std::fmt::Display) -> Response {
    tracing::warn!(error = %e, "agent API");
    super::overload::unavailable("the server cannot serve this now; retry later")
}

/// `GET /api/v1/openapi.json`: the OpenAPI description of this API, built
/// once from the protocol types (the same document as `docs/openapi.json`).
pub async fn openapi() -> Response {
    static DOCUMENT: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(|| {
        serde_json::to_vec(&protocol::openapi()).expect("a JSON value serializes")
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_slice(),
    )
        .into_response()
}

/// The hex SHA-256 of a credential: what is stored and looked up.
pub fn credential_hash(credential: &str) -> String {
    let digest = Sha256::digest(credential.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn random_hex(bytes: usize) -> Result<String, getrandom::Error> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

fn machine_from(
    id: &str,
    facts: &Facts,
    inventory: fixpoint_core::fleet::InventoryHash,
) -> Machine {
    Machine {
        id: id.to_owned(),
        hostname: facts.hostname.clone(),
        labels: facts.labels.clone(),
        os: OsFacts {
            family: facts.os.family.clone(),
            version: facts.os.version.clone(),
        },
        site: None,
        directory: DirectoryFacts::default(),
        time_zone: facts.time_zone.clone(),
        kernel: facts.kernel.clone(),
        reboot_required: facts.reboot_required,
        inventory,
    }
}

/// `POST /api/v1/enroll`: an enrollment token buys an agent id and a credential.
pub async fn enroll(
    State(shared): State<Arc<Shared>>,
    body: Result<JsonBody<EnrollRequest>, BodyRejection>,
) -> Response {
    let request = match body {
        Ok(JsonBody(r)) => r,
        Err(rejection) => return bad_json(&rejection),
    };
    if let Err(e) = request.validate() {
        return error(e.code(), e.to_string());
    }
    let Some(secret) = shared.config.enrollment_token.as_ref() else {
        return error(
            ErrorCode::EnrollmentDisabled,
            "this server has no enrollment token configured",
        );
    };
    // Read at each enrollment, so a rotated token file takes effect at once.
    let expected = match secret.read() {
        Ok(token) => token,
        Err(e) => return internal(&format!("the enrollment token: {e:#}")),
    };
    // Compared in full whatever the first difference: no timing oracle.
    let same = expected.len() == request.token.len()
        && expected
            .bytes()
            .zip(request.token.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if !same {
        return error(ErrorCode::Unauthorized, "unknown enrollment token");
    }
    let (Ok(id), Ok(credential)) = (random_hex(8), random_hex(32)) else {
        return internal(&"the random source failed");
    };
    let agent_id = format!("agent-{id}");
    // Not yet checked in: its inventory is unknown, so it is in no plan.
    let placeholder = "0".repeat(64).parse().unwrap_or_else(|_| unreachable!());
    let machine = machine_from(&agent_id, &request.facts, placeholder);
    if let Err(e) = shared
        .store
        .enroll(
            &machine,
            &credential_hash(&credential),
            jiff::Timestamp::now(),
        )
        .await
    {
        return internal(&e);
    }
    tracing::info!(agent = %agent_id, hostname = %request.facts.hostname, "agent enrolled");
    (
        StatusCode::CREATED,
        Json(EnrollResponse {
            agent_id,
            credential,
        }),
    )
        .into_response()
}

/// The agent a request's `Authorization: Bearer` credential belongs to:
/// from memory once this replica has seen the credential, else from the store.
async fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<String, Response> {
    let unauthorized = || {
        error(
            ErrorCode::Unauthorized,
            "send the agent's credential as `Authorization: Bearer <credential>`",
        )
    };
    let credential = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(unauthorized)?;
    let digest: [u8; 32] = Sha256::digest(credential.trim().as_bytes()).into();
    if let Some(agent) = shared.fast.agent(&digest) {
        return Ok(agent.to_string());
    }
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    match shared.store.machine_with_credential(&hex).await {
        Ok(Some(id)) => {
            shared.fast.remember_agent(digest, Arc::from(id.as_str()));
            Ok(id)
        }
        Ok(None) => Err(unauthorized()),
        Err(e) => Err(internal(&e)),
    }
}

/// The agent behind a request and its body, parsed and validated; the error
/// response otherwise (401, then 400 or 413).
async fn authorized<T>(
    shared: &Shared,
    headers: &HeaderMap,
    body: Result<JsonBody<T>, BodyRejection>,
    validate: fn(&T) -> Result<(), protocol::ProtocolError>,
) -> Result<(String, T), Response> {
    let agent = authenticate(shared, headers).await?;
    let request = body.map_err(|rejection| bad_json(&rejection))?.0;
    validate(&request).map_err(|e| error(e.code(), e.to_string()))?;
    Ok((agent, request))
}

/// `POST /api/v1/check-in`: facts and inventory in, instructions out.
pub async fn check_in(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Result<JsonBody<CheckIn>, BodyRejection>,
) -> Response {
    let (agent, request) = match authorized(&shared, &headers, body, CheckIn::validate).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let now = jiff::Timestamp::now();
    let CheckIn { facts, inventory } = request;
    let hash = match inventory {
        full @ InventoryPayload::Full { .. } => match full.into_inventory() {
            Some(Ok(inventory)) => {
                let hash = inventory.hash().clone();
                // Content-addressed: one already stored is not written again.
                if !shared.fast.has_inventory(&hash) {
                    if let Err(e) = shared.store.put_inventory(&inventory, now).await {
                        return internal(&e);
                    }
                    shared.fast.remember_inventory(hash.clone());
                }
                hash
            }
            Some(Err(e)) => return error(ErrorCode::Malformed, e.to_string()),
            None => return error(ErrorCode::Malformed, "no inventory"),
        },
        // Known in memory: no lock taken for writing, no query.
        InventoryPayload::Unchanged { hash } if shared.fast.has_inventory(&hash) => hash,
        InventoryPayload::Unchanged { hash } => {
            match shared.store.has_inventory(&hash).await {
                Ok(true) => {
                    shared.fast.remember_inventory(hash.clone());
                    hash
                }
                Ok(false) => {
                    // The server does not know that hash: ask for the whole inventory.
                    let etag = protocol::etag(&Instructions::default());
                    return (
                        [(header::ETAG, format!("\"{etag}\""))],
                        Json(CheckInResponse {
                            instructions: Instructions::default(),
                            etag,
                            next_check_in: now,
                            inventory_needed: true,
                        }),
                    )
                        .into_response();
                }
                Err(e) => return internal(&e),
            }
        }
    };
    let machine = machine_from(&agent, &facts, hash);
    if let Err(e) = shared.fast.check_in(machine, now).await {
        return internal(&e);
    }
    shared
        .metrics
        .check_ins
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let instructions = shared
        .instructions
        .read()
        .await
        .get(&agent)
        .cloned()
        .unwrap_or_default();
    let etag = protocol::etag(&instructions);
    // Remembered before they are sent, so every report can be matched; a set
    // this replica recorded already is not written again.
    if !instructions.items.is_empty() && !shared.fast.recorded(&agent, &etag) {
        let issued: Vec<IssuedInstruction> = instructions
            .items
            .iter()
            .map(|i| IssuedInstruction {
                id: i.id.clone(),
                patch: match &i.action {
                    Action::Install { patch, .. } => patch.as_str().to_owned(),
                    Action::Remove { package, version } => format!("remove:{package}/{version}"),
                },
                release: instructions.release.clone(),
            })
            .collect();
        if let Err(e) = shared.store.record_instructions(&agent, &issued, now).await {
            return internal(&e);
        }
        shared
            .fast
            .remember_recorded(Arc::from(agent.as_str()), etag.clone());
    }
    let settings = shared.agent_settings().await;
    let interval = jiff::SignedDuration::from_secs(settings.check_in_interval.as_secs());
    let next = protocol::next_check_in(interval, settings.jitter.value(), &agent, now);
    (
        [(header::ETAG, format!("\"{etag}\""))],
        Json(CheckInResponse {
            instructions,
            etag,
            next_check_in: next,
            inventory_needed: false,
        }),
    )
        .into_response()
}

/// `POST /api/v1/report`: results per instruction. Stored in one transaction
/// before the answer, so an acknowledged report is never lost; a result for an
/// instruction already reported is a duplicate, counted once.
pub async fn report(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Result<JsonBody<Report>, BodyRejection>,
) -> Response {
    let (agent, request) = match authorized(&shared, &headers, body, Report::validate).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mut results = Vec::with_capacity(request.results.len());
    for r in &request.results {
        let issued = match shared.store.instruction(&agent, &r.instruction_id).await {
            Ok(Some(i)) => i,
            Ok(None) => {
                return error(
                    ErrorCode::UnknownInstruction,
                    format!(
                        "instruction {} was not given to this agent",
                        r.instruction_id
                    ),
                );
            }
            Err(e) => return internal(&e),
        };
        let detail = match (r.exit_code, r.log_tail.as_deref()) {
            (Some(code), Some(log)) => Some(format!("exit code {code}: {log}")),
            (Some(code), None) => Some(format!("exit code {code}")),
            (None, Some(log)) => Some(log.to_owned()),
            (None, None) => None,
        };
        results.push(ReportedResult {
            machine: agent.clone(),
            instruction: r.instruction_id.clone(),
            patch: PatchId(issued.patch),
            release: issued.release,
            outcome: r.outcome,
            at: r.at,
            detail,
        });
    }
    match shared.store.record_results(&results).await {
        Ok(accepted) => {
            shared.metrics.results.fetch_add(
                u64::try_from(accepted).unwrap_or(u64::MAX),
                std::sync::atomic::Ordering::Relaxed,
            );
            Json(ReportResponse {
                accepted,
                duplicates: results.len() - accepted,
            })
            .into_response()
        }
        Err(e) => internal(&e),
    }
}

/// A byte range of a file of `len` bytes, from an HTTP `Range` header:
/// `bytes=a-b`, `bytes=a-` or `bytes=-n`, one range only. `Err` when it
/// cannot be satisfied; `Ok(None)` when there is no usable header (the whole
/// file is sent, as HTTP allows for ranges it does not support).
fn byte_range(header: Option<&str>, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().map_err(|_| ())?;
            if n == 0 {
                return Err(());
            }
            (len.saturating_sub(n), len.checked_sub(1).ok_or(())?)
        }
        (a, "") => (a.parse().map_err(|_| ())?, len.checked_sub(1).ok_or(())?),
        (a, b) => {
            let (a, b): (u64, u64) = (a.parse().map_err(|_| ())?, b.parse().map_err(|_| ())?);
            (a, b.min(len.saturating_sub(1)))
        }
    };
    if start > end || start >= len {
        return Err(());
    }
    Ok(Some((start, end)))
}

/// `GET`/`HEAD /api/v1/files/{sha256}`: a staged binary, re-verified against
/// its SHA-256 before it is served (a tampered file is removed and never
/// sent), with `Range` so an agent resumes an interrupted download.
pub async fn file(
    State(shared): State<Arc<Shared>>,
    axum::extract::Path(sha256): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authenticate(&shared, &headers).await {
        return r;
    }
    let Some(staging) = shared.staging.clone() else {
        return error(ErrorCode::NotFound, "this server stages no files");
    };
    let digest = sha256.clone();
    let opened = tokio::task::spawn_blocking(move || staging.open_verified(&digest)).await;
    let (file, len) = match opened {
        Ok(Ok(Some(found))) => found,
        Ok(Ok(None)) => {
            return error(ErrorCode::NotFound, format!("no verified file {sha256}"));
        }
        Ok(Err(e)) => return internal(&e),
        Err(e) => return internal(&e),
    };
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let (status, start, end) = match byte_range(range, len) {
        Ok(Some((a, b))) => (StatusCode::PARTIAL_CONTENT, a, b),
        Ok(None) => (StatusCode::OK, 0, len.saturating_sub(1)),
        Err(()) => {
            return (
                StatusCode::RANGE_NOT_SATISFIABLE,
                [(header::CONTENT_RANGE, format!("bytes */{len}"))],
            )
                .into_response();
        }
    };
    let count = if len == 0 { 0 } else { end - start + 1 };
    let mut file = tokio::fs::File::from_std(file);
    if let Err(e) = tokio::io::AsyncSeekExt::seek(&mut file, std::io::SeekFrom::Start(start)).await
    {
        return internal(&e);
    }
    let reader = tokio::io::AsyncReadExt::take(file, count);
    let stream = futures_util::stream::unfold(reader, |mut reader| async move {
        let mut buf = vec![0u8; 64 * 1024];
        match tokio::io::AsyncReadExt::read(&mut reader, &mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((
                    Ok::<_, std::io::Error>(axum::body::Bytes::from(buf)),
                    reader,
                ))
            }
            Err(e) => Some((Err(e), reader)),
        }
    });
    let mut response = axum::body::Body::from_stream(stream).into_response();
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(
        header::ACCEPT_RANGES,
        header::HeaderValue::from_static("bytes"),
    );
    h.insert(header::CONTENT_LENGTH, header::HeaderValue::from(count));
    h.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) = header::HeaderValue::from_str(&format!("\"{sha256}\"")) {
        h.insert(header::ETAG, v);
    }
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = header::HeaderValue::from_str(&format!("bytes {start}-{end}/{len}"))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::byte_range;

    #[test]
    fn ranges_are_read_as_http_defines_them() {
        assert_eq!(byte_range(None, 100), Ok(None));
        assert_eq!(byte_range(Some("bytes=0-9"), 100), Ok(Some((0, 9))));
        assert_eq!(byte_range(Some("bytes=90-"), 100), Ok(Some((90, 99))));
        assert_eq!(byte_range(Some("bytes=-10"), 100), Ok(Some((90, 99))));
        assert_eq!(byte_range(Some("bytes=-500"), 100), Ok(Some((0, 99))));
        assert_eq!(byte_range(Some("bytes=50-5000"), 100), Ok(Some((50, 99))));
        assert_eq!(byte_range(Some("bytes=100-"), 100), Err(()));
        assert_eq!(byte_range(Some("bytes=9-3"), 100), Err(()));
        assert_eq!(byte_range(Some("bytes=-0"), 100), Err(()));
        assert_eq!(byte_range(Some("bytes=x-"), 100), Err(()));
        assert_eq!(byte_range(Some("bytes=0-1,5-6"), 100), Ok(None));
        assert_eq!(byte_range(Some("items=0-1"), 100), Ok(None));
        assert_eq!(byte_range(Some("bytes=0-"), 0), Err(()));
    }
}
