//! The agent API, version 1 (docs/agent-protocol.md): enrollment, check-in
//! and reports. File downloads come next.
//!
//! - Bad JSON is a 400 with the reason; a body over the limit is a 413; a
//!   missing or unknown credential is a 401. An agent is known only by its
//!   credential, so it can read nothing but its own instructions.
//! - Only the SHA-256 of a credential is stored.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fixpoint_core::catalog::PatchId;
use fixpoint_core::fleet::{DirectoryFacts, Machine, OsFacts};
use fixpoint_core::protocol::{
    self, Action, ApiError, CheckIn, CheckInResponse, EnrollRequest, EnrollResponse, Facts,
    Instructions, InventoryPayload, Report, ReportResponse,
};
use sha2::{Digest, Sha256};

use super::Shared;
use crate::store::{IssuedInstruction, ReportedResult};

/// The largest request body: a full inventory of 100,000 packages fits.
pub const MAX_BODY: usize = 32 * 1024 * 1024;

fn error(status: StatusCode, error: &str, detail: impl Into<String>) -> Response {
    (
        status,
        Json(ApiError {
            error: error.to_owned(),
            detail: detail.into(),
        }),
    )
        .into_response()
}

fn bad_json(rejection: &JsonRejection) -> Response {
    let status = rejection.status();
    let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
        "tooLarge"
    } else {
        "malformed"
    };
    let status = if status == StatusCode::PAYLOAD_TOO_LARGE {
        status
    } else {
        StatusCode::BAD_REQUEST
    };
    error(status, code, rejection.body_text())
}

fn internal(e: &impl std::fmt::Display) -> Response {
    tracing::warn!(error = %e, "agent API");
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "the server cannot serve this now; retry later",
    )
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
        inventory,
    }
}

/// `POST /api/v1/enroll`: an enrollment token buys an agent id and a credential.
pub async fn enroll(
    State(shared): State<Arc<Shared>>,
    body: Result<Json<EnrollRequest>, JsonRejection>,
) -> Response {
    let request = match body {
        Ok(Json(r)) => r,
        Err(rejection) => return bad_json(&rejection),
    };
    if let Err(e) = request.validate() {
        return (StatusCode::BAD_REQUEST, Json(ApiError::from(&e))).into_response();
    }
    let Some(expected) = shared.config.enrollment_token.as_deref() else {
        return error(
            StatusCode::FORBIDDEN,
            "enrollmentDisabled",
            "this server has no enrollment token configured",
        );
    };
    // Compared in full whatever the first difference: no timing oracle.
    let same = expected.len() == request.token.len()
        && expected
            .bytes()
            .zip(request.token.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if !same {
        return error(
            StatusCode::UNAUTHORIZED,
            "badToken",
            "unknown enrollment token",
        );
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

/// The agent a request's `Authorization: Bearer` credential belongs to.
async fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<String, Response> {
    let unauthorized = || {
        error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send the agent's credential as `Authorization: Bearer <credential>`",
        )
    };
    let credential = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(unauthorized)?;
    match shared
        .store
        .machine_with_credential(&credential_hash(credential.trim()))
        .await
    {
        Ok(Some(id)) => Ok(id),
        Ok(None) => Err(unauthorized()),
        Err(e) => Err(internal(&e)),
    }
}

/// `POST /api/v1/check-in`: facts and inventory in, instructions out.
pub async fn check_in(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Result<Json<CheckIn>, JsonRejection>,
) -> Response {
    let agent = match authenticate(&shared, &headers).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let request = match body {
        Ok(Json(r)) => r,
        Err(rejection) => return bad_json(&rejection),
    };
    if let Err(e) = request.validate() {
        return (StatusCode::BAD_REQUEST, Json(ApiError::from(&e))).into_response();
    }
    let now = jiff::Timestamp::now();
    let hash = match &request.inventory {
        InventoryPayload::Full { .. } => match request.inventory.to_inventory() {
            Some(Ok(inventory)) => {
                if let Err(e) = shared.store.put_inventory(&inventory, now).await {
                    return internal(&e);
                }
                inventory.hash().clone()
            }
            Some(Err(e)) => {
                return error(StatusCode::BAD_REQUEST, "malformed", e.to_string());
            }
            None => return error(StatusCode::BAD_REQUEST, "malformed", "no inventory"),
        },
        InventoryPayload::Unchanged { hash } => match shared.store.has_inventory(hash).await {
            Ok(true) => hash.clone(),
            Ok(false) => {
                // The server does not know that hash: ask for the whole inventory.
                return Json(CheckInResponse {
                    instructions: Instructions::default(),
                    etag: protocol::etag(&Instructions::default()),
                    next_check_in: now,
                    inventory_needed: true,
                })
                .into_response();
            }
            Err(e) => return internal(&e),
        },
    };
    let machine = machine_from(&agent, &request.facts, hash);
    if let Err(e) = shared.store.check_in(&machine, now).await {
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
    // Remembered before they are sent, so every report can be matched.
    if let Err(e) = shared.store.record_instructions(&agent, &issued, now).await {
        return internal(&e);
    }
    let etag = protocol::etag(&instructions);
    let next = protocol::next_check_in(jiff::SignedDuration::from_mins(90), 10.0, &agent, now);
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
    body: Result<Json<Report>, JsonRejection>,
) -> Response {
    let agent = match authenticate(&shared, &headers).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let request = match body {
        Ok(Json(r)) => r,
        Err(rejection) => return bad_json(&rejection),
    };
    if let Err(e) = request.validate() {
        return (StatusCode::BAD_REQUEST, Json(ApiError::from(&e))).into_response();
    }
    let mut results = Vec::with_capacity(request.results.len());
    for r in &request.results {
        let issued = match shared.store.instruction(&agent, &r.instruction_id).await {
            Ok(Some(i)) => i,
            Ok(None) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "unknownInstruction",
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
        Ok(accepted) => Json(ReportResponse {
            accepted,
            duplicates: results.len() - accepted,
        })
        .into_response(),
        Err(e) => internal(&e),
    }
}
