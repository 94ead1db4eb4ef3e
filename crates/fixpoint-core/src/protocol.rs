//! The agent protocol, version 1: the JSON messages agents and the server
//! exchange, and the pure functions that turn a plan into an agent's
//! instructions. `docs/agent-protocol.md` describes the endpoints.
//!
//! ```text
//!  agent ──EnrollRequest──▶ POST /api/v1/enroll   ──▶ EnrollResponse (agent id, credential)
//!  agent ──CheckIn────────▶ POST /api/v1/check-in ──▶ CheckInResponse
//!        Plan + MachinePlan + Catalog + PolicySet ──instructions_for──▶ Instructions ──etag──▶ ETag
//!        AgentSettings + machine id + now ──next_check_in──▶ when to come back
//!  agent ──Report─────────▶ POST /api/v1/report   ──▶ ReportResponse (accepted, duplicates)
//!  agent ─────────────────▶ GET|HEAD /api/v1/files/{sha256} (Range) ──▶ the bytes
//! ```
//!
//! Requests refuse unknown fields (a typo is an error, not a silently ignored
//! setting) and are checked against the size limits below by their `validate`
//! methods, whose errors name the field. Responses accept unknown fields, so
//! that a newer server can add some without breaking older agents.
//!
//! Everything here is pure: `now` is an argument, jitter is derived from the
//! machine id, and an unchanged plan gives the same instructions and ETag.
//!
//! The same types describe the API to others: their doc comments become the
//! descriptions of the OpenAPI 3.1 document [`openapi()`] builds (written to
//! `docs/openapi.json` by `fixpoint generate`, served at [`OPENAPI_PATH`]), so
//! they are written for the person implementing an agent.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::catalog::{Catalog, PackageKind, Patch, PatchFile, PatchId, Platform};
use crate::fleet::{Fleet, InstalledPackage, Inventory, InventoryHash, OsFacts, Outcome};
use crate::plan::{MachinePlan, Plan, SoftwareFinding, State};
use crate::policy::{PolicySet, RebootMode};

mod openapi;

pub use self::openapi::openapi;

/// The protocol's version; it is the `v1` of every path.
pub const PROTOCOL_VERSION: u32 = 1;
/// Every endpoint lives under this prefix.
pub const API_PREFIX: &str = "/api/v1";
pub const ENROLL_PATH: &str = "/api/v1/enroll";
pub const CHECK_IN_PATH: &str = "/api/v1/check-in";
pub const REPORT_PATH: &str = "/api/v1/report";
/// Followed by a file's lowercase hex SHA-256: see [`file_path`].
pub const FILES_PATH: &str = "/api/v1/files/";
/// The OpenAPI description of this API ([`openapi()`]); no credential needed.
pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";

/// The longest host name DNS allows.
pub const MAX_HOSTNAME: usize = 253;
/// Labels a machine may report.
pub const MAX_LABELS: usize = 64;
/// Bytes in a label's key or value.
pub const MAX_LABEL_LEN: usize = 256;
/// Bytes in an enrolment token, an OS family or version, a time zone name.
pub const MAX_SHORT_FIELD: usize = 1024;
/// Packages in a full inventory (a large Debian desktop has about 5,000).
pub const MAX_PACKAGES: usize = 100_000;
/// Results in one report; an agent with more sends several reports.
pub const MAX_RESULTS: usize = 1_000;
/// Bytes of an install's log an agent sends: the *end* of the log, where the
/// error usually is. Agents cut longer logs at a character boundary, keeping
/// the last bytes; the server refuses longer tails.
pub const MAX_LOG_TAIL: usize = 16 * 1024;
/// Bytes in an instruction id.
pub const MAX_INSTRUCTION_ID: usize = 128;

/// The schema pattern of a value that must not be empty: something besides
/// white space (the `validate` methods trim before they check).
const NOT_BLANK: &str = r"\S";

/// The server-relative URL an agent downloads a file from.
pub fn file_path(sha256: &str) -> String {
    format!("{FILES_PATH}{sha256}")
}

// ---------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------

/// An instant as the protocol writes it: RFC 3339, in UTC (`2026-11-25T12:00:00Z`).
/// The schema of jiff's `Timestamp`, which has none of its own.
struct Rfc3339;

impl JsonSchema for Rfc3339 {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "Timestamp".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "format": "date-time"})
    }
}

/// What an agent says about its machine, as policies match it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Facts {
    /// The machine's host name, fully qualified where it has a domain: `web1.corp.example`.
    #[schemars(length(min = 1, max = MAX_HOSTNAME), pattern(NOT_BLANK))]
    pub hostname: String,
    pub os: OsFacts,
    /// Free-form labels (`role: web`), as the agent's configuration sets them.
    /// Keys must not be empty.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = MAX_LABELS, "propertyNames" = {"minLength": 1, "maxLength": MAX_LABEL_LEN, "pattern": NOT_BLANK}, "additionalProperties" = {"type": "string", "maxLength": MAX_LABEL_LEN}))]
    pub labels: BTreeMap<String, String>,
    /// The machine's IANA time zone (`Europe/Berlin`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = MAX_SHORT_FIELD), pattern(NOT_BLANK))]
    pub time_zone: Option<String>,
    /// The running kernel's release (`6.1.0-28-amd64`), when the agent runs on
    /// the machine it scans (not for a container or image root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = MAX_SHORT_FIELD), pattern(NOT_BLANK))]
    pub kernel: Option<String>,
    /// The package manager asked for a restart that has not happened yet
    /// (Debian: `/run/reboot-required` exists).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reboot_required: bool,
}

/// `POST /api/v1/enroll`: an enrolment token buys a credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnrollRequest {
    /// The enrolment token from the server's configuration.
    #[schemars(length(min = 1, max = MAX_SHORT_FIELD), pattern(NOT_BLANK))]
    pub token: String,
    /// The host name is in the facts; there is no second copy to disagree with.
    pub facts: Facts,
}

/// The answer to an enrolment (`201 Created`): who the machine is from now
/// on, and how it proves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnrollResponse {
    /// The machine's id from now on, in plans, policy selectors and reports.
    pub agent_id: String,
    /// Sent as `Authorization: Bearer <credential>` on every later request.
    /// It is shown once (the server stores only its hash): keep it where only
    /// the agent can read it.
    pub credential: String,
}

/// `POST /api/v1/check-in`: the machine's facts and inventory, every interval
/// and at start-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CheckIn {
    /// The machine's facts as they are now; they replace the ones sent before.
    pub facts: Facts,
    pub inventory: InventoryPayload,
}

/// A machine's installed packages, or only their hash when they have not
/// changed since the agent last sent them.
// Deserialised by hand (the `Deserialize` impl below); the attributes here give the
// wire form to `Serialize` and the schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(
    rename_all = "camelCase",
    tag = "kind",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
pub enum InventoryPayload {
    /// Every installed package: the first time, and whenever something changed.
    Full {
        /// `debian:12`, `ubuntu:24.04`.
        platform: Platform,
        /// In any order; one entry per name and architecture.
        #[schemars(length(max = MAX_PACKAGES))]
        packages: Vec<InstalledPackage>,
    },
    /// Only the hash of the inventory last sent in full, when nothing changed.
    /// When the server does not know it, it answers `inventoryNeeded: true`.
    Unchanged { hash: InventoryHash },
}

impl InventoryPayload {
    /// The inventory, normalised and hashed; `None` for `Unchanged`.
    pub fn to_inventory(&self) -> Option<Result<Inventory, crate::fleet::FleetError>> {
        self.clone().into_inventory()
    }

    /// [`InventoryPayload::to_inventory`] without copying the packages.
    pub fn into_inventory(self) -> Option<Result<Inventory, crate::fleet::FleetError>> {
        match self {
            InventoryPayload::Full { platform, packages } => {
                Some(Inventory::new(platform, packages))
            }
            InventoryPayload::Unchanged { .. } => None,
        }
    }
}

/// The wire form of [`InventoryPayload`], every field optional. Serde's derive
/// for an internally tagged enum first copies the whole object into a generic
/// buffer to find the tag, which for 1,500 packages doubled the cost of
/// parsing a full check-in; this struct is read in one pass, wherever `kind`
/// is, and then checked as the derive would.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct InventoryPayloadWire {
    kind: InventoryKind,
    platform: Option<Platform>,
    packages: Option<Vec<InstalledPackage>>,
    hash: Option<InventoryHash>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
enum InventoryKind {
    Full,
    Unchanged,
}

impl<'de> Deserialize<'de> for InventoryPayload {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let wire = InventoryPayloadWire::deserialize(deserializer)?;
        match wire.kind {
            InventoryKind::Full => {
                if wire.hash.is_some() {
                    return Err(D::Error::unknown_field(
                        "hash",
                        &["kind", "platform", "packages"],
                    ));
                }
                Ok(InventoryPayload::Full {
                    platform: wire
                        .platform
                        .ok_or_else(|| D::Error::missing_field("platform"))?,
                    packages: wire
                        .packages
                        .ok_or_else(|| D::Error::missing_field("packages"))?,
                })
            }
            InventoryKind::Unchanged => {
                for (field, present) in [
                    ("platform", wire.platform.is_some()),
                    ("packages", wire.packages.is_some()),
                ] {
                    if present {
                        return Err(D::Error::unknown_field(field, &["kind", "hash"]));
                    }
                }
                Ok(InventoryPayload::Unchanged {
                    hash: wire.hash.ok_or_else(|| D::Error::missing_field("hash"))?,
                })
            }
        }
    }
}

/// The answer to a check-in: what the machine should do, and when to come back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckInResponse {
    pub instructions: Instructions,
    /// `e-` and 32 hex digits of the SHA-256 of `instructions` as compact JSON:
    /// unchanged instructions keep their ETag, so an agent that holds them has
    /// nothing to redo. Also sent as the HTTP `ETag` header, quoted.
    pub etag: String,
    /// When to check in next: the interval plus a share of jitter derived from
    /// the machine id, so the fleet spreads out and each machine keeps a steady
    /// rhythm.
    #[schemars(with = "Rfc3339")]
    pub next_check_in: Timestamp,
    /// The server does not know the inventory hash the agent sent: check in
    /// again at once with the full inventory. `instructions` are then empty.
    #[serde(default)]
    pub inventory_needed: bool,
}

/// Everything a machine should do, as of its plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Instructions {
    /// The release (`r-` and 12 hex digits) the machine's ring is on, when it is on one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// Installs in patch id order, then removals in package order.
    pub items: Vec<Instruction>,
}

/// One thing to do, with when. The agent follows these times by its own
/// clock, also while the server is unreachable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Instruction {
    /// Stable and unique: the same plan gives the same id at every check-in, a
    /// retry after a failure a new one. Results are reported, and
    /// deduplicated, by it.
    pub id: String,
    pub action: Action,
    /// Not before this instant; absent: at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Rfc3339>")]
    pub not_before: Option<Timestamp>,
    /// Start no later than this (the maintenance window closes); absent: no window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Rfc3339>")]
    pub window_end: Option<Timestamp>,
    /// Must be done by then, window or not; after it, at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Rfc3339>")]
    pub deadline: Option<Timestamp>,
    pub reboot: RebootInstruction,
    /// Commands the rollout runs around an install; absent: none.
    #[serde(default, skip_serializing_if = "InstructionHooks::is_empty")]
    pub hooks: InstructionHooks,
}

/// Commands run on the machine around an install, in order, each with
/// `/bin/sh -c`. A command that exits non-zero or outlives its timeout fails
/// the install: a failing `preInstall` command means nothing is installed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstructionHooks {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_install: Vec<HookCommand>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_install: Vec<HookCommand>,
}

impl InstructionHooks {
    pub fn is_empty(&self) -> bool {
        self.pre_install.is_empty() && self.post_install.is_empty()
    }

    fn from_policy(hooks: &crate::policy::Hooks) -> InstructionHooks {
        let commands = |hooks: &[crate::policy::Hook]| {
            hooks
                .iter()
                .map(|h| HookCommand {
                    run: h.run.clone(),
                    timeout_seconds: h.timeout.as_secs().max(1).unsigned_abs(),
                })
                .collect()
        };
        InstructionHooks {
            pre_install: commands(&hooks.pre_install),
            post_install: commands(&hooks.post_install),
        }
    }
}

/// One hook command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HookCommand {
    /// A command line for `/bin/sh -c`.
    pub run: String,
    /// Killed, and counted as failed, after this many seconds.
    pub timeout_seconds: u64,
}

/// What an instruction does, by `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(
    rename_all = "camelCase",
    tag = "kind",
    rename_all_fields = "camelCase"
)]
pub enum Action {
    /// Bring `packages` to at least their versions, from `files`.
    Install {
        patch: PatchId,
        /// The machine's installed packages the patch updates.
        packages: Vec<PackageTarget>,
        /// What to install from; only files with a SHA-256 are listed.
        files: Vec<FileRef>,
    },
    /// Remove an installed package an `absent` software rule forbids.
    Remove {
        /// The package's name.
        package: String,
        /// The installed version the rule found.
        version: String,
    },
}

/// A package an install updates.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PackageTarget {
    /// The (binary) package name: `libssl3`.
    pub name: String,
    /// Empty where the platform has none.
    #[serde(default)]
    pub arch: String,
    /// The fixed version: this or newer. For a Debian fix stated for a source
    /// package it is the source's version, which its binaries normally share.
    /// Absent when the catalog names no fixed version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// A file to download from the Fixpoint server and verify before use.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FileRef {
    /// Lowercase hex SHA-256. The agent checks the whole file against it (and
    /// against `size`) before using it, and discards a file that does not match.
    pub sha256: String,
    /// In bytes, when the catalog states it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Server-relative (`/api/v1/files/{sha256}`): the agent prefixes its
    /// server's base URL.
    pub url: String,
}

/// Whether and how the machine restarts after the instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RebootInstruction {
    /// The rollout's mode: `never`; `ifRequired`, when the installed packages
    /// ask for it; `always`.
    pub mode: RebootMode,
    /// How long users are warned before the restart.
    pub grace_seconds: i64,
}

/// `POST /api/v1/report`: how instructions ended, from the agent's on-disk
/// journal, which it clears only for results the server acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Report {
    /// An agent with more results sends several reports.
    #[schemars(length(max = MAX_RESULTS))]
    pub results: Vec<InstructionResult>,
}

/// How one instruction ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InstructionResult {
    /// The `id` of the instruction, as the server gave it to this agent.
    #[schemars(length(min = 1, max = MAX_INSTRUCTION_ID), pattern(NOT_BLANK))]
    pub instruction_id: String,
    /// `succeeded`, `failed` or `pendingReboot`.
    pub outcome: Outcome,
    /// The installer's exit code, when it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// The end of the install's log, where the error usually is: at most
    /// 16,384 bytes, cut at a character boundary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_LOG_TAIL))]
    pub log_tail: Option<String>,
    /// When the attempt ended, by the machine's clock.
    #[schemars(with = "Rfc3339")]
    pub at: Timestamp,
}

/// The answer to a report, sent only once its results are durably stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReportResponse {
    /// Results stored now.
    pub accepted: usize,
    /// Results already stored by an earlier report with the same instruction
    /// id (a retried report): acknowledged, not counted again.
    pub duplicates: usize,
}

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiError {
    /// A short, stable code for programs to act on (`malformed`, `tooLong`,
    /// `unauthorized`…; each response lists the ones it may carry). A newer
    /// server may add codes: treat an unknown one by its HTTP status.
    pub error: String,
    /// What went wrong, for people; where a field is at fault, it names it.
    pub detail: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> ApiError {
        ApiError {
            error: code.as_str().to_owned(),
            detail: detail.into(),
        }
    }
}

/// The `error` of an [`ApiError`], each with the one HTTP status it comes with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorCode {
    Malformed,
    TooLong,
    TooMany,
    Empty,
    UnknownInstruction,
    Unauthorized,
    EnrollmentDisabled,
    NotFound,
    TooLarge,
    Unavailable,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 10] = [
        ErrorCode::Malformed,
        ErrorCode::TooLong,
        ErrorCode::TooMany,
        ErrorCode::Empty,
        ErrorCode::UnknownInstruction,
        ErrorCode::Unauthorized,
        ErrorCode::EnrollmentDisabled,
        ErrorCode::NotFound,
        ErrorCode::TooLarge,
        ErrorCode::Unavailable,
    ];

    /// The code as it is sent: `tooLong`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Malformed => "malformed",
            ErrorCode::TooLong => "tooLong",
            ErrorCode::TooMany => "tooMany",
            ErrorCode::Empty => "empty",
            ErrorCode::UnknownInstruction => "unknownInstruction",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::EnrollmentDisabled => "enrollmentDisabled",
            ErrorCode::NotFound => "notFound",
            ErrorCode::TooLarge => "tooLarge",
            ErrorCode::Unavailable => "unavailable",
        }
    }

    /// The HTTP status of a response with this code.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::Malformed
            | ErrorCode::TooLong
            | ErrorCode::TooMany
            | ErrorCode::Empty
            | ErrorCode::UnknownInstruction => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::EnrollmentDisabled => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::TooLarge => 413,
            ErrorCode::Unavailable => 503,
        }
    }

    /// When the server answers with it, for people (the OpenAPI document and
    /// `docs/agent-protocol.md` say the same).
    pub fn meaning(self) -> &'static str {
        match self {
            ErrorCode::Malformed => {
                "the body is not JSON, has an unknown field or a value of the wrong type, or holds an invalid inventory"
            }
            ErrorCode::TooLong => "a value is longer than its limit",
            ErrorCode::TooMany => "a list or map has more entries than its limit",
            ErrorCode::Empty => "a value that must not be empty is empty or only white space",
            ErrorCode::UnknownInstruction => {
                "a report names an instruction this agent was not given"
            }
            ErrorCode::Unauthorized => "the credential or enrolment token is missing or unknown",
            ErrorCode::EnrollmentDisabled => {
                "enrolment is closed: the server has no enrolment token"
            }
            ErrorCode::NotFound => {
                "the server holds no such file (or holds it but could not verify it)"
            }
            ErrorCode::TooLarge => "the body is over the server's size limit",
            ErrorCode::Unavailable => {
                "the server cannot answer now; retry after the `Retry-After` header's seconds"
            }
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

// ---------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------

/// A request that parsed but breaks a limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("{field} is {len} bytes long; at most {max} are allowed")]
    TooLong {
        field: String,
        len: usize,
        max: usize,
    },
    #[error("{field} has {count} entries; at most {max} are allowed")]
    TooMany {
        field: String,
        count: usize,
        max: usize,
    },
    #[error("{field} must not be empty")]
    Empty { field: String },
}

impl ProtocolError {
    /// The `error` code of the [`ApiError`] it is answered with.
    pub fn code(&self) -> ErrorCode {
        match self {
            ProtocolError::TooLong { .. } => ErrorCode::TooLong,
            ProtocolError::TooMany { .. } => ErrorCode::TooMany,
            ProtocolError::Empty { .. } => ErrorCode::Empty,
        }
    }

    /// A bounded label for metrics: the `error` code.
    pub fn metric_label(&self) -> &'static str {
        self.code().as_str()
    }
}

impl From<&ProtocolError> for ApiError {
    fn from(e: &ProtocolError) -> ApiError {
        ApiError::new(e.code(), e.to_string())
    }
}

fn check_len(field: &str, value: &str, max: usize) -> Result<(), ProtocolError> {
    if value.len() > max {
        return Err(ProtocolError::TooLong {
            field: field.to_owned(),
            len: value.len(),
            max,
        });
    }
    Ok(())
}

fn check_required(field: &str, value: &str, max: usize) -> Result<(), ProtocolError> {
    if value.trim().is_empty() {
        return Err(ProtocolError::Empty {
            field: field.to_owned(),
        });
    }
    check_len(field, value, max)
}

fn check_count(field: &str, count: usize, max: usize) -> Result<(), ProtocolError> {
    if count > max {
        return Err(ProtocolError::TooMany {
            field: field.to_owned(),
            count,
            max,
        });
    }
    Ok(())
}

impl Facts {
    pub fn validate(&self) -> Result<(), ProtocolError> {
        check_required("facts.hostname", &self.hostname, MAX_HOSTNAME)?;
        check_required("facts.os.family", &self.os.family, MAX_SHORT_FIELD)?;
        if let Some(v) = &self.os.version {
            check_len("facts.os.version", v, MAX_SHORT_FIELD)?;
        }
        check_count("facts.labels", self.labels.len(), MAX_LABELS)?;
        for (k, v) in &self.labels {
            check_required("facts.labels key", k, MAX_LABEL_LEN)?;
            check_len(&format!("facts.labels.{k}"), v, MAX_LABEL_LEN)?;
        }
        if let Some(tz) = &self.time_zone {
            check_required("facts.timeZone", tz, MAX_SHORT_FIELD)?;
        }
        if let Some(kernel) = &self.kernel {
            check_required("facts.kernel", kernel, MAX_SHORT_FIELD)?;
        }
        Ok(())
    }
}

impl EnrollRequest {
    pub fn validate(&self) -> Result<(), ProtocolError> {
        check_required("token", &self.token, MAX_SHORT_FIELD)?;
        self.facts.validate()
    }
}

impl CheckIn {
    /// The limits only; [`InventoryPayload::to_inventory`] checks the packages themselves.
    pub fn validate(&self) -> Result<(), ProtocolError> {
        self.facts.validate()?;
        if let InventoryPayload::Full { platform, packages } = &self.inventory {
            check_required("inventory.platform", &platform.0, MAX_SHORT_FIELD)?;
            check_count("inventory.packages", packages.len(), MAX_PACKAGES)?;
        }
        Ok(())
    }
}

impl Report {
    pub fn validate(&self) -> Result<(), ProtocolError> {
        check_count("results", self.results.len(), MAX_RESULTS)?;
        for (i, r) in self.results.iter().enumerate() {
            check_required(
                &format!("results[{i}].instructionId"),
                &r.instruction_id,
                MAX_INSTRUCTION_ID,
            )?;
            if let Some(log) = &r.log_tail {
                check_len(&format!("results[{i}].logTail"), log, MAX_LOG_TAIL)?;
            }
        }
        Ok(())
    }
}

/// The last at most `max` bytes of `log`, cut at a character boundary: what
/// an agent sends as `logTail`.
pub fn log_tail(log: &str, max: usize) -> &str {
    if log.len() <= max {
        return log;
    }
    let mut start = log.len() - max;
    while !log.is_char_boundary(start) {
        start += 1;
    }
    &log[start..]
}

// ---------------------------------------------------------------------------
// From a plan to instructions
// ---------------------------------------------------------------------------

/// The id of an install instruction: `i-` and the first 32 hex digits of the
/// SHA-256 of the compact JSON array `["install",machine,patch,release,attempt]`
/// (JSON, so that no field can run into the next).
///
/// `release` is the release id (`r-…`) the patch reaches the machine with, and
/// `attempt` the failures so far (0 for a first try): so a retry after a
/// failure is a new instruction whose result is not mistaken for a replay of
/// the failure's report, while the same plan gives the same id at every
/// check-in.
pub fn install_id(machine: &str, patch: &PatchId, release: &str, attempt: usize) -> String {
    prefixed_hash(
        "i-",
        &serde_json::json!(["install", machine, patch, release, attempt]),
    )
}

/// The id of a removal: `i-` and the first 32 hex digits of the SHA-256 of
/// the compact JSON array `["remove",machine,package,version]`.
pub fn remove_id(machine: &str, package: &str, version: &str) -> String {
    prefixed_hash(
        "i-",
        &serde_json::json!(["remove", machine, package, version]),
    )
}

/// `prefix` and the first 32 hex digits (128 bits) of the SHA-256 of `value`'s compact JSON.
fn prefixed_hash(prefix: &str, value: &impl Serialize) -> String {
    let json = serde_json::to_vec(value).expect("protocol values serialize to JSON");
    let digest = Sha256::digest(&json);
    let mut out = String::with_capacity(prefix.len() + 32);
    out.push_str(prefix);
    for b in &digest[..16] {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// A machine's instructions from its plan.
///
/// - A `Scheduled` patch, and a `Failed` one with a retry slot (and no hold),
///   becomes an `install`: not before the slot's start (absent when the slot
///   has already started at `plan.now`, so the instruction does not change
///   from one check-in to the next), until the window's end, by the patch's
///   deadline, with the rollout's reboot mode and grace.
/// - Its packages are the machine's installed packages a fix of the patch for
///   the inventory's platform names (by binary name, or by source for a source
///   fix, and by architecture when the fix has one); without an inventory, the
///   fixes' packages. Its files are the patch's files for those packages and
///   architectures (`all` and unstated ones included); files the catalog gives
///   no SHA-256 for are left out, since the server cannot serve or verify them.
/// - A `Remove` software finding becomes a `remove`, at once.
/// - Every other state, and `Install` software findings, give nothing.
///
/// The order is deterministic: installs by patch id (the plan's order), then
/// removals by package and version.
pub fn instructions_for(
    plan: &Plan<'_>,
    machine: &MachinePlan<'_>,
    catalog: &Catalog,
    policy: &PolicySet,
    inventory: Option<&Inventory>,
) -> Instructions {
    let now = plan.now;
    let rollout_plan = machine
        .rollout
        .and_then(|name| plan.rollouts.iter().find(|r| r.name == name));
    let rollout_doc = machine
        .rollout
        .and_then(|name| policy.rollouts.iter().find(|d| d.name() == name));
    let grace_seconds = rollout_doc.map_or(0, |d| d.spec.reboot.grace.as_secs());
    let hooks = rollout_doc.map_or_else(InstructionHooks::default, |d| {
        InstructionHooks::from_policy(&d.spec.hooks)
    });
    let release_id = |k: usize| -> String {
        rollout_plan
            .and_then(|r| r.releases.get(k))
            .map_or_else(|| format!("#{k}"), |r| r.id.clone())
    };

    let mut items = Vec::new();
    for p in machine.patches.iter() {
        let (release, slot, attempt) = match &p.state {
            State::Scheduled { release, slot } => (*release, *slot, 0),
            State::Failed(f) => match (f.retry, &f.held) {
                (Some(slot), None) => (machine.release.unwrap_or(0), slot, f.attempts),
                _ => continue,
            },
            _ => continue,
        };
        let Some(patch) = catalog.patches.get(p.patch) else {
            continue;
        };
        let packages = package_targets(patch, inventory);
        let files = file_refs(patch, &packages, inventory.is_some());
        items.push(Instruction {
            id: install_id(&machine.machine, p.patch, &release_id(release), attempt),
            action: Action::Install {
                patch: p.patch.clone(),
                packages,
                files,
            },
            not_before: (slot.start > now).then_some(slot.start),
            window_end: slot.end,
            deadline: p.deadline,
            reboot: RebootInstruction {
                mode: slot.reboot,
                grace_seconds,
            },
            hooks: hooks.clone(),
        });
    }

    let mut removals: Vec<(&str, &str)> = machine
        .software
        .iter()
        .filter_map(|f| match f {
            SoftwareFinding::Remove {
                package, version, ..
            } => Some((package.as_str(), version.as_str())),
            SoftwareFinding::Install { .. } => None,
        })
        .collect();
    removals.sort_unstable();
    removals.dedup();
    let reboot_mode = rollout_doc.map_or(RebootMode::default(), |d| d.spec.reboot.mode);
    for (package, version) in removals {
        items.push(Instruction {
            id: remove_id(&machine.machine, package, version),
            action: Action::Remove {
                package: package.to_owned(),
                version: version.to_owned(),
            },
            not_before: None,
            window_end: None,
            deadline: None,
            reboot: RebootInstruction {
                mode: reboot_mode,
                grace_seconds,
            },
            hooks: InstructionHooks::default(),
        });
    }

    Instructions {
        release: machine.release.map(release_id),
        items,
    }
}

fn package_targets(patch: &Patch, inventory: Option<&Inventory>) -> Vec<PackageTarget> {
    let mut targets = Vec::new();
    match inventory {
        Some(inv) => {
            for fix in patch.fixes.iter().filter(|f| &f.platform == inv.platform()) {
                for pkg in inv.packages() {
                    let named = match fix.kind {
                        PackageKind::Source => pkg.source == fix.package,
                        PackageKind::Binary | PackageKind::Product => pkg.name == fix.package,
                    };
                    let arch_ok = fix.arch.as_deref().is_none_or(|a| a == pkg.architecture);
                    if named && arch_ok {
                        targets.push(PackageTarget {
                            name: pkg.name.clone(),
                            arch: pkg.architecture.clone(),
                            version: fix.fixed.clone(),
                        });
                    }
                }
            }
        }
        None => {
            for fix in &patch.fixes {
                targets.push(PackageTarget {
                    name: fix.package.clone(),
                    arch: fix.arch.clone().unwrap_or_default(),
                    version: fix.fixed.clone(),
                });
            }
        }
    }
    targets.sort_unstable();
    targets.dedup();
    targets
}

/// The files of `patch` an install of `packages` needs: those for these packages and
/// architectures (`all` and unstated ones included), or every file when `filter` is off (no
/// inventory to choose by). Files the catalog gives no SHA-256 for are left out, since the
/// server can neither stage nor verify them.
fn needed_files<'p>(
    patch: &'p Patch,
    packages: &[PackageTarget],
    filter: bool,
) -> impl Iterator<Item = &'p PatchFile> {
    patch.files.iter().filter(move |f| {
        f.sha256.is_some()
            && (!filter
                || packages.iter().any(|t| {
                    f.package.as_deref().is_none_or(|p| p == t.name)
                        && f.arch
                            .as_deref()
                            .is_none_or(|a| a == t.arch || a == "all" || t.arch.is_empty())
                }))
    })
}

fn file_refs(patch: &Patch, packages: &[PackageTarget], filter: bool) -> Vec<FileRef> {
    let mut files: Vec<FileRef> = needed_files(patch, packages, filter)
        .filter_map(|f| {
            let sha = f.sha256.as_deref()?.to_ascii_lowercase();
            Some(FileRef {
                url: file_path(&sha),
                sha256: sha,
                size: f.size,
            })
        })
        .collect();
    files.sort_unstable();
    files.dedup();
    files
}

/// A vendor file the server should hold before agents ask for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagingNeed {
    /// Lowercase hex SHA-256.
    pub sha256: String,
    pub size: Option<u64>,
    /// Where the vendor publishes it.
    pub url: String,
    /// The earliest instant a machine may install it: `plan.now` when it is
    /// due already.
    pub needed_by: Timestamp,
    /// The patch it belongs to (the first by id, when several share the file).
    pub patch: PatchId,
}

/// The files the server should stage: those of the patches that machines
/// are instructed to install, and of the approved patches that a ring will
/// receive within `horizon` of `plan.now`, ordered by when they are needed
/// (then by SHA-256), each file once.
///
/// A patch is needed on a machine
/// - when it is `Scheduled`, or `Failed` with a retry slot and no hold: an
///   instruction names it already, and an agent may prefetch it at once, so
///   it is staged whatever the horizon; needed by its slot's start;
/// - when it is held by its ring's delay, by a gate whose soak is the only
///   thing left (`Gate` with an end), or by a pause, and that hold ends
///   within the horizon; needed by the hold's end.
///
/// Patches awaiting approval, declined, excluded or held by something with
/// no known end (a gate still collecting evidence, a halt, an error budget)
/// stage nothing: the bandwidth goes to what will be installed. The files are
/// the ones [`instructions_for`] would name for the machine's inventory.
pub fn files_to_stage(
    plan: &Plan<'_>,
    catalog: &Catalog,
    fleet: &Fleet,
    horizon: SignedDuration,
) -> Vec<StagingNeed> {
    use crate::plan::Hold;
    let now = plan.now;
    let until = now.saturating_add(horizon).unwrap_or(now);
    let mut needs: HashMap<&str, StagingNeed> = HashMap::new();
    // Machines with the same inventory and plan share one patch list: each such pair is read once.
    let mut seen: HashSet<(usize, Option<&InventoryHash>)> = HashSet::new();
    for m in &plan.machines {
        let inventory = fleet
            .machine(&m.machine)
            .and_then(|x| fleet.inventory_of(x));
        let key = (
            Arc::as_ptr(&m.patches).cast::<()>() as usize,
            inventory.map(|i| i.hash()),
        );
        if !seen.insert(key) {
            continue;
        }
        for p in m.patches.iter() {
            let needed_by = match &p.state {
                State::Scheduled { slot, .. } => slot.start.max(now),
                State::Failed(f) => match (f.retry, &f.held) {
                    (Some(slot), None) => slot.start.max(now),
                    _ => continue,
                },
                State::Held { hold } => match &**hold {
                    Hold::RingDelay { until: end, .. }
                    | Hold::Gate {
                        until: Some(end), ..
                    }
                    | Hold::Paused(crate::plan::PauseHold { until: end, .. })
                        if *end <= until =>
                    {
                        (*end).max(now)
                    }
                    _ => continue,
                },
                _ => continue,
            };
            let Some(patch) = catalog.patches.get(p.patch) else {
                continue;
            };
            let packages = package_targets(patch, inventory.map(|i| &**i));
            for file in needed_files(patch, &packages, inventory.is_some()) {
                let Some(sha) = file.sha256.as_deref() else {
                    continue;
                };
                needs
                    .entry(sha)
                    .and_modify(|n| {
                        if needed_by < n.needed_by {
                            n.needed_by = needed_by;
                        }
                        if p.patch < &n.patch {
                            n.patch = p.patch.clone();
                        }
                    })
                    .or_insert_with(|| StagingNeed {
                        sha256: sha.to_ascii_lowercase(),
                        size: file.size,
                        url: file.url.clone(),
                        needed_by,
                        patch: p.patch.clone(),
                    });
            }
        }
    }
    let mut out: Vec<StagingNeed> = needs.into_values().collect();
    out.sort_by(|a, b| {
        a.needed_by
            .cmp(&b.needed_by)
            .then_with(|| a.sha256.cmp(&b.sha256))
    });
    out
}

/// The ETag of a set of instructions: `e-` and the first 32 hex digits of the
/// SHA-256 of their JSON (fields in declaration order, maps sorted, no
/// whitespace). Equal instructions give equal ETags; the HTTP header carries
/// it quoted.
pub fn etag(instructions: &Instructions) -> String {
    prefixed_hash("e-", instructions)
}

/// When a machine should check in next: `now + interval + offset`, where the
/// offset lies in `[0, interval × jitter_percent / 100)` and is derived from
/// the machine id (the first 8 bytes of the SHA-256 of the id, as a fraction
/// of 2⁶⁴), to the millisecond.
///
/// So the fleet spreads evenly over the jitter, each machine keeps a steady
/// rhythm, and the answer needs no random number generator. A negative or
/// non-finite jitter counts as none; a jitter over 100% as 100%.
pub fn next_check_in(
    interval: SignedDuration,
    jitter_percent: f64,
    machine_id: &str,
    now: Timestamp,
) -> Timestamp {
    let pct = if jitter_percent.is_finite() {
        jitter_percent.clamp(0.0, 100.0)
    } else {
        0.0
    };
    // Capped below 2⁶³ so that `span_ms × fraction` (fraction < 2⁶⁴) fits in an i128.
    let interval_ms = interval.as_millis().clamp(0, i128::from(i64::MAX));
    // Per hundred-thousand, so the arithmetic stays in integers.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let per_100k = (pct * 1000.0).round() as i128;
    let span_ms = interval_ms * per_100k / 100_000;
    let digest = Sha256::digest(machine_id.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let fraction = i128::from(u64::from_be_bytes(first));
    let offset_ms = (span_ms * fraction) >> 64;
    let total = i64::try_from(interval_ms + offset_ms).unwrap_or(i64::MAX);
    now.saturating_add(SignedDuration::from_millis(total))
        .expect("a saturating add of a duration to a timestamp does not fail")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Fix, PatchFile};
    use crate::fleet::{Fleet, Machine};
    use crate::plan;
    use crate::rating::{Classification, Severity};

    const NOW: &str = "2026-11-25T12:00:00Z";
    const HASH: &str = "4f2a000000000000000000000000000000000000000000000000000000000001";

    fn now() -> Timestamp {
        NOW.parse().expect("an instant")
    }

    fn sha(c: char) -> String {
        c.to_string().repeat(64)
    }

    /// Serializes `value`, checks it against `golden`, and parses it back.
    fn round_trip<T>(value: &T, golden: &str)
    where
        T: Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug,
    {
        let json = serde_json::to_string(value).expect("serializes");
        assert_eq!(json, golden);
        let back: T = serde_json::from_str(golden).expect("parses");
        assert_eq!(&back, value);
    }

    fn facts() -> Facts {
        Facts {
            hostname: "web1".into(),
            os: OsFacts {
                family: "debian".into(),
                version: Some("12".into()),
            },
            labels: BTreeMap::from([("role".into(), "web".into())]),
            time_zone: Some("Europe/Berlin".into()),
            kernel: Some("6.1.0-28-amd64".into()),
            reboot_required: true,
        }
    }

    const FACTS_JSON: &str = r#"{"hostname":"web1","os":{"family":"debian","version":"12"},"labels":{"role":"web"},"timeZone":"Europe/Berlin","kernel":"6.1.0-28-amd64","rebootRequired":true}"#;

    #[test]
    fn enroll_messages_have_their_documented_shape() {
        let req = EnrollRequest {
            token: "tok".into(),
            facts: facts(),
        };
        round_trip(&req, &format!(r#"{{"token":"tok","facts":{FACTS_JSON}}}"#));
        let resp = EnrollResponse {
            agent_id: "a-1".into(),
            credential: "secret".into(),
        };
        round_trip(&resp, r#"{"agentId":"a-1","credential":"secret"}"#);
    }

    #[test]
    fn check_in_with_a_full_inventory_has_its_documented_shape() {
        let req = CheckIn {
            facts: facts(),
            inventory: InventoryPayload::Full {
                platform: Platform("debian:12".into()),
                packages: vec![
                    InstalledPackage::new("libssl3", "amd64", "3.0.14-1")
                        .built_from("openssl", "3.0.14-1"),
                ],
            },
        };
        round_trip(
            &req,
            &format!(
                r#"{{"facts":{FACTS_JSON},"inventory":{{"kind":"full","platform":"debian:12","packages":[{{"name":"libssl3","architecture":"amd64","version":"3.0.14-1","source":"openssl","sourceVersion":"3.0.14-1"}}]}}}}"#
            ),
        );
    }

    #[test]
    fn check_in_with_an_unchanged_inventory_sends_only_its_hash() {
        let req = CheckIn {
            facts: facts(),
            inventory: InventoryPayload::Unchanged {
                hash: HASH.parse().expect("a hash"),
            },
        };
        round_trip(
            &req,
            &format!(
                r#"{{"facts":{FACTS_JSON},"inventory":{{"kind":"unchanged","hash":"{HASH}"}}}}"#
            ),
        );
    }

    #[test]
    fn check_in_response_has_its_documented_shape() {
        let instructions = Instructions {
            release: Some("r-0123456789ab".into()),
            items: vec![
                Instruction {
                    id: "i-1".into(),
                    action: Action::Install {
                        patch: PatchId("openssl/3.0.15-1".into()),
                        packages: vec![PackageTarget {
                            name: "libssl3".into(),
                            arch: "amd64".into(),
                            version: Some("3.0.15-1".into()),
                        }],
                        files: vec![FileRef {
                            sha256: sha('a'),
                            size: Some(1024),
                            url: file_path(&sha('a')),
                        }],
                    },
                    not_before: Some("2026-11-26T02:00:00Z".parse().expect("instant")),
                    window_end: Some("2026-11-26T05:00:00Z".parse().expect("instant")),
                    deadline: Some("2026-11-28T00:00:00Z".parse().expect("instant")),
                    reboot: RebootInstruction {
                        mode: RebootMode::IfRequired,
                        grace_seconds: 900,
                    },
                    hooks: InstructionHooks::default(),
                },
                Instruction {
                    id: "i-2".into(),
                    action: Action::Remove {
                        package: "telnetd".into(),
                        version: "0.17-44".into(),
                    },
                    not_before: None,
                    window_end: None,
                    deadline: None,
                    reboot: RebootInstruction {
                        mode: RebootMode::Never,
                        grace_seconds: 0,
                    },
                    hooks: InstructionHooks::default(),
                },
            ],
        };
        let resp = CheckInResponse {
            etag: etag(&instructions),
            instructions,
            next_check_in: "2026-11-25T13:35:00Z".parse().expect("instant"),
            inventory_needed: false,
        };
        let a = sha('a');
        let golden = format!(
            concat!(
                r#"{{"instructions":{{"release":"r-0123456789ab","items":["#,
                r#"{{"id":"i-1","action":{{"kind":"install","patch":"openssl/3.0.15-1","#,
                r#""packages":[{{"name":"libssl3","arch":"amd64","version":"3.0.15-1"}}],"#,
                r#""files":[{{"sha256":"{a}","size":1024,"url":"/api/v1/files/{a}"}}]}},"#,
                r#""notBefore":"2026-11-26T02:00:00Z","windowEnd":"2026-11-26T05:00:00Z","#,
                r#""deadline":"2026-11-28T00:00:00Z","reboot":{{"mode":"ifRequired","graceSeconds":900}}}},"#,
                r#"{{"id":"i-2","action":{{"kind":"remove","package":"telnetd","version":"0.17-44"}},"#,
                r#""reboot":{{"mode":"never","graceSeconds":0}}}}]}},"#,
                r#""etag":"{etag}","nextCheckIn":"2026-11-25T13:35:00Z","inventoryNeeded":false}}"#
            ),
            a = a,
            etag = resp.etag
        );
        round_trip(&resp, &golden);
    }

    #[test]
    fn report_messages_have_their_documented_shape() {
        let report = Report {
            results: vec![
                InstructionResult {
                    instruction_id: "i-1".into(),
                    outcome: Outcome::Failed,
                    exit_code: Some(100),
                    log_tail: Some(
                        "E: Sub-process /usr/bin/dpkg returned an error code (1)".into(),
                    ),
                    at: now(),
                },
                InstructionResult {
                    instruction_id: "i-2".into(),
                    outcome: Outcome::PendingReboot,
                    exit_code: None,
                    log_tail: None,
                    at: now(),
                },
            ],
        };
        round_trip(
            &report,
            concat!(
                r#"{"results":[{"instructionId":"i-1","outcome":"failed","exitCode":100,"#,
                r#""logTail":"E: Sub-process /usr/bin/dpkg returned an error code (1)","at":"2026-11-25T12:00:00Z"},"#,
                r#"{"instructionId":"i-2","outcome":"pendingReboot","at":"2026-11-25T12:00:00Z"}]}"#
            ),
        );
        round_trip(
            &ReportResponse {
                accepted: 1,
                duplicates: 1,
            },
            r#"{"accepted":1,"duplicates":1}"#,
        );
        round_trip(
            &ApiError {
                error: "tooLong".into(),
                detail: "facts.hostname is 300 bytes long; at most 253 are allowed".into(),
            },
            r#"{"error":"tooLong","detail":"facts.hostname is 300 bytes long; at most 253 are allowed"}"#,
        );
    }

    fn rejection<T: for<'de> Deserialize<'de> + std::fmt::Debug>(json: &str) -> String {
        serde_json::from_str::<T>(json)
            .expect_err("an unknown field is refused")
            .to_string()
    }

    #[test]
    fn an_inventory_is_read_with_its_kind_anywhere_and_its_fields_checked_by_kind() {
        let full: InventoryPayload = serde_json::from_str(
            r#"{"packages":[{"name":"bash","version":"5.2.15-2+b7","architecture":"amd64"}],"platform":"debian:12","kind":"full"}"#,
        )
        .expect("kind last is still a full inventory");
        assert!(
            matches!(&full, InventoryPayload::Full { platform, packages } if platform.0 == "debian:12" && packages.len() == 1),
            "{full:?}"
        );
        let unchanged: InventoryPayload =
            serde_json::from_str(&format!(r#"{{"hash":"{HASH}","kind":"unchanged"}}"#))
                .expect("an unchanged inventory");
        assert!(matches!(unchanged, InventoryPayload::Unchanged { .. }));
        let e = rejection::<InventoryPayload>(&format!(
            r#"{{"kind":"full","platform":"debian:12","packages":[],"hash":"{HASH}"}}"#
        ));
        assert!(
            e.contains("unknown field `hash`, expected one of `kind`, `platform`, `packages`"),
            "{e}"
        );
        let e = rejection::<InventoryPayload>(&format!(
            r#"{{"kind":"unchanged","hash":"{HASH}","packages":[]}}"#
        ));
        assert!(
            e.contains("unknown field `packages`, expected `kind` or `hash`"),
            "{e}"
        );
        let e = rejection::<InventoryPayload>(r#"{"kind":"full","packages":[]}"#);
        assert!(e.contains("missing field `platform`"), "{e}");
        let e = rejection::<InventoryPayload>(r#"{"kind":"unchanged"}"#);
        assert!(e.contains("missing field `hash`"), "{e}");
        let e = rejection::<InventoryPayload>(r#"{"platform":"debian:12","packages":[]}"#);
        assert!(e.contains("missing field `kind`"), "{e}");
        let e = rejection::<InventoryPayload>(r#"{"kind":"partial"}"#);
        assert!(
            e.contains("unknown variant `partial`, expected `full` or `unchanged`"),
            "{e}"
        );
        // What is written is read back as it was.
        for payload in [full, unchanged] {
            let json = serde_json::to_string(&payload).expect("serializes");
            let back: InventoryPayload = serde_json::from_str(&json).expect("reads back");
            assert_eq!(back, payload);
        }
    }

    #[test]
    fn requests_refuse_unknown_fields_and_name_them() {
        let e = rejection::<EnrollRequest>(&format!(
            r#"{{"token":"t","facts":{FACTS_JSON},"tokn":"x"}}"#
        ));
        assert!(e.contains("unknown field `tokn`"), "{e}");
        let e = rejection::<CheckIn>(&format!(
            r#"{{"facts":{FACTS_JSON},"inventory":{{"kind":"unchanged","hash":"{HASH}","extra":1}}}}"#
        ));
        assert!(e.contains("unknown field `extra`"), "{e}");
        let e = rejection::<CheckIn>(&format!(
            r#"{{"facts":{{"hostname":"h","os":{{"family":"debian"}},"timezone":"UTC"}},"inventory":{{"kind":"unchanged","hash":"{HASH}"}}}}"#
        ));
        assert!(e.contains("unknown field `timezone`"), "{e}");
        let e = rejection::<Report>(
            r#"{"results":[{"instructionId":"i","outcome":"failed","at":"2026-11-25T12:00:00Z","exit":1}]}"#,
        );
        assert!(e.contains("unknown field `exit`"), "{e}");
    }

    #[test]
    fn responses_accept_fields_a_newer_server_adds() {
        let resp: ReportResponse =
            serde_json::from_str(r#"{"accepted":2,"duplicates":0,"later":true}"#).expect("parses");
        assert_eq!(resp.accepted, 2);
    }

    #[test]
    fn validation_names_the_field_over_its_limit() {
        let mut f = facts();
        f.hostname = "h".repeat(MAX_HOSTNAME + 1);
        let e = f.validate().expect_err("too long");
        assert_eq!(
            e.to_string(),
            "facts.hostname is 254 bytes long; at most 253 are allowed"
        );
        assert_eq!(ApiError::from(&e).error, "tooLong");

        let mut f = facts();
        f.labels = (0..=MAX_LABELS)
            .map(|i| (format!("k{i}"), "v".into()))
            .collect();
        let e = f.validate().expect_err("too many");
        assert_eq!(
            e.to_string(),
            "facts.labels has 65 entries; at most 64 are allowed"
        );

        let req = EnrollRequest {
            token: " ".into(),
            facts: facts(),
        };
        assert_eq!(
            req.validate().expect_err("empty").to_string(),
            "token must not be empty"
        );

        let check_in = CheckIn {
            facts: facts(),
            inventory: InventoryPayload::Full {
                platform: Platform("debian:12".into()),
                packages: vec![InstalledPackage::new("p", "amd64", "1"); MAX_PACKAGES + 1],
            },
        };
        assert!(matches!(
            check_in.validate(),
            Err(ProtocolError::TooMany { ref field, .. }) if field == "inventory.packages"
        ));

        let report = Report {
            results: vec![InstructionResult {
                instruction_id: "i-1".into(),
                outcome: Outcome::Failed,
                exit_code: Some(1),
                log_tail: Some("x".repeat(MAX_LOG_TAIL + 1)),
                at: now(),
            }],
        };
        assert_eq!(
            report.validate().expect_err("too long").to_string(),
            "results[0].logTail is 16385 bytes long; at most 16384 are allowed"
        );
        assert_eq!(facts().validate(), Ok(()));
    }

    #[test]
    fn log_tail_keeps_the_end_and_whole_characters() {
        assert_eq!(log_tail("short", 10), "short");
        assert_eq!(log_tail("abcdef", 3), "def");
        // "é" is two bytes: cutting inside it drops it whole.
        assert_eq!(log_tail("aébc", 3), "bc");
        assert!(log_tail(&"é".repeat(20_000), MAX_LOG_TAIL).len() <= MAX_LOG_TAIL);
    }

    #[test]
    fn instruction_ids_are_stable_and_distinct() {
        let p = PatchId("openssl/3.0.15-1".into());
        let id = install_id("m1", &p, "r-0123456789ab", 0);
        assert_eq!(id, install_id("m1", &p, "r-0123456789ab", 0));
        assert_eq!(id.len(), 34);
        assert!(id.starts_with("i-"));
        let others = [
            install_id("m2", &p, "r-0123456789ab", 0),
            install_id("m1", &PatchId("curl/8".into()), "r-0123456789ab", 0),
            install_id("m1", &p, "r-ba9876543210", 0),
            install_id("m1", &p, "r-0123456789ab", 1),
            remove_id("m1", "openssl", "3.0.15-1"),
        ];
        for other in &others {
            assert_ne!(&id, other);
        }
        // Fields cannot run into each other.
        assert_ne!(remove_id("m1", "a", "b\nc"), remove_id("m1", "a\nb", "c"));
        assert_eq!(
            remove_id("m1", "telnetd", "0.17"),
            remove_id("m1", "telnetd", "0.17")
        );
    }

    // A small world for `instructions_for`: one rollout without a window,
    // rebooting always with 15 minutes' warning; security patches approved at
    // once; telnetd banned.
    const POLICY: &str = r#"
apiVersion: fixpoint.dev/v1alpha1
kind: ApprovalPolicy
metadata: {name: security}
spec:
  rules:
    - {match: {classification: [security]}, approveAfter: 0d}
---
apiVersion: fixpoint.dev/v1alpha1
kind: Rollout
metadata: {name: default}
spec:
  approval: security
  rings:
    - {name: everyone, groups: [all], delay: 0d}
  deadlines: {critical: 7d}
  reboot: {mode: always, grace: 15m}
---
apiVersion: fixpoint.dev/v1alpha1
kind: SoftwarePolicy
metadata: {name: banned}
spec:
  absent:
    - {package: telnetd, reason: cleartext}
"#;

    fn policy() -> PolicySet {
        let checked = crate::policy::check([("p.yaml", POLICY.as_bytes())], now());
        assert!(!checked.has_errors(), "{:#?}", checked.diagnostics);
        checked.set
    }

    fn file(package: &str, arch: &str, sha256: Option<String>) -> PatchFile {
        PatchFile {
            url: format!("https://vendor.example/{package}_{arch}.deb"),
            sha256,
            size: Some(100),
            package: Some(package.into()),
            arch: Some(arch.into()),
        }
    }

    /// A critical Debian 12 security patch for source package `source`.
    fn patch(source: &str, fixed: &str, files: Vec<PatchFile>) -> Patch {
        Patch {
            id: PatchId::deb(source, fixed),
            vendor: "Debian".into(),
            product: source.into(),
            title: None,
            classification: Classification::Security,
            severity: Severity::Critical,
            released: Some("2026-11-24T00:00:00Z".parse().expect("instant")),
            vulnerabilities: Vec::new(),
            fixes: vec![Fix {
                platform: Platform("debian:12".into()),
                package: source.into(),
                kind: PackageKind::Source,
                fixed: Some(fixed.into()),
                introduced: None,
                last_affected: None,
                arch: None,
            }],
            files,
            references: Vec::new(),
            supersedes: Vec::new(),
            superseded_by: Vec::new(),
            restart_required: Some(true),
            advisories: Vec::new(),
        }
    }

    fn openssl() -> Patch {
        patch(
            "openssl",
            "3.0.15-1",
            vec![
                file("libssl3", "amd64", Some(sha('a'))),
                file("libssl3", "arm64", Some(sha('b'))),
                file("openssl", "amd64", Some(sha('c'))),
                file("libssl-dev", "amd64", Some(sha('d'))),
                file("openssl", "all", None),
            ],
        )
    }

    fn curl() -> Patch {
        patch(
            "curl",
            "7.88.1-11",
            vec![file("curl", "amd64", Some(sha('e')))],
        )
    }

    fn catalog(patches: Vec<Patch>) -> Catalog {
        Catalog {
            patches: patches.into_iter().map(|p| (p.id.clone(), p)).collect(),
        }
    }

    fn inventory() -> Inventory {
        Inventory::new(
            Platform("debian:12".into()),
            vec![
                InstalledPackage::new("libssl3", "amd64", "3.0.14-1")
                    .built_from("openssl", "3.0.14-1"),
                InstalledPackage::new("openssl", "amd64", "3.0.14-1"),
                InstalledPackage::new("curl", "amd64", "7.88.1-10"),
                InstalledPackage::new("telnetd", "amd64", "0.17-44"),
            ],
        )
        .expect("a valid inventory")
    }

    fn fleet(inventory: &Inventory) -> Fleet {
        let mut fleet = Fleet::new();
        let hash = fleet.add_inventory(inventory.clone());
        fleet
            .add_machine(Machine {
                id: "m1".into(),
                hostname: "web1".into(),
                labels: BTreeMap::new(),
                os: OsFacts {
                    family: "debian".into(),
                    version: Some("12".into()),
                },
                site: None,
                directory: crate::fleet::DirectoryFacts::default(),
                time_zone: None,
                kernel: None,
                reboot_required: false,
                inventory: hash,
            })
            .expect("a new machine");
        fleet
    }

    fn instructions(catalog: &Catalog) -> Instructions {
        let policy = policy();
        let inventory = inventory();
        let fleet = fleet(&inventory);
        let plan = plan::compute(&policy, catalog, &fleet, now());
        let machine = plan.machine("m1").expect("m1 is planned");
        instructions_for(&plan, machine, catalog, &policy, Some(&inventory))
    }

    #[test]
    fn a_scheduled_patch_becomes_an_install_with_the_machines_files() {
        let catalog = catalog(vec![openssl()]);
        let got = instructions(&catalog);
        let release = got.release.clone().expect("the ring is on a release");
        assert!(release.starts_with("r-"), "{release}");
        assert_eq!(got.items.len(), 2, "{got:#?}");

        let install = &got.items[0];
        let patch = PatchId("openssl/3.0.15-1".into());
        assert_eq!(install.id, install_id("m1", &patch, &release, 0));
        let Action::Install {
            patch: p,
            packages,
            files,
        } = &install.action
        else {
            panic!("an install: {install:#?}");
        };
        assert_eq!(p, &patch);
        // The machine's binaries built from openssl, at the fixed version.
        let names: Vec<_> = packages
            .iter()
            .map(|t| (t.name.as_str(), t.arch.as_str()))
            .collect();
        assert_eq!(names, [("libssl3", "amd64"), ("openssl", "amd64")]);
        assert!(
            packages
                .iter()
                .all(|t| t.version.as_deref() == Some("3.0.15-1"))
        );
        // Only the machine's packages and architecture; never a file without a hash.
        let shas: Vec<_> = files.iter().map(|f| f.sha256.clone()).collect();
        assert_eq!(shas, [sha('a'), sha('c')]);
        assert_eq!(files[0].url, format!("/api/v1/files/{}", sha('a')));
        assert_eq!(files[0].size, Some(100));
        // No window: at once, by the critical deadline (7 days after release).
        assert_eq!(install.not_before, None);
        assert_eq!(install.window_end, None);
        assert_eq!(
            install.deadline,
            Some("2026-12-01T00:00:00Z".parse().expect("instant"))
        );
        assert_eq!(
            install.reboot,
            RebootInstruction {
                mode: RebootMode::Always,
                grace_seconds: 900
            }
        );

        let remove = &got.items[1];
        assert_eq!(
            remove.action,
            Action::Remove {
                package: "telnetd".into(),
                version: "0.17-44".into()
            }
        );
        assert_eq!(remove.id, remove_id("m1", "telnetd", "0.17-44"));
    }

    #[test]
    fn a_windowed_install_waits_for_the_next_opening_and_ends_with_it() {
        let yaml = POLICY.replace(
            "  deadlines: {critical: 7d}",
            "  window: nightly\n  deadlines: {critical: 7d}",
        ) + r#"---
apiVersion: fixpoint.dev/v1alpha1
kind: MaintenanceWindow
metadata: {name: nightly}
spec:
  cron: "0 2 * * *"
  duration: 3h
  timezone: UTC
"#;
        let checked = crate::policy::check([("p.yaml", yaml.as_bytes())], now());
        assert!(!checked.has_errors(), "{:#?}", checked.diagnostics);
        let policy = checked.set;
        let catalog = catalog(vec![openssl()]);
        let inventory = inventory();
        let fleet = fleet(&inventory);
        let plan = plan::compute(&policy, &catalog, &fleet, now());
        let machine = plan.machine("m1").expect("m1 is planned");
        let got = instructions_for(&plan, machine, &catalog, &policy, Some(&inventory));
        let install = &got.items[0];
        assert!(matches!(install.action, Action::Install { .. }), "{got:#?}");
        assert_eq!(
            install.not_before,
            Some("2026-11-26T02:00:00Z".parse().expect("instant"))
        );
        assert_eq!(
            install.window_end,
            Some("2026-11-26T05:00:00Z".parse().expect("instant"))
        );
    }

    #[test]
    fn the_rollouts_hooks_go_with_its_installs_but_not_with_removals() {
        let yaml = POLICY.replace(
            "  reboot: {mode: always, grace: 15m}",
            "  reboot: {mode: always, grace: 15m}\n  hooks:\n    preInstall: [{run: 'systemctl stop app', timeout: 2m}]\n    postInstall: [{run: 'systemctl start app'}]",
        );
        let checked = crate::policy::check([("p.yaml", yaml.as_bytes())], now());
        assert!(!checked.has_errors(), "{:#?}", checked.diagnostics);
        let policy = checked.set;
        let catalog = catalog(vec![openssl()]);
        let inventory = inventory();
        let fleet = fleet(&inventory);
        let plan = plan::compute(&policy, &catalog, &fleet, now());
        let machine = plan.machine("m1").expect("m1 is planned");
        let got = instructions_for(&plan, machine, &catalog, &policy, Some(&inventory));
        assert_eq!(
            got.items[0].hooks,
            InstructionHooks {
                pre_install: vec![HookCommand {
                    run: "systemctl stop app".into(),
                    timeout_seconds: 120
                }],
                post_install: vec![HookCommand {
                    run: "systemctl start app".into(),
                    timeout_seconds: 600
                }],
            }
        );
        let json = serde_json::to_value(&got.items[0]).expect("json");
        assert_eq!(
            json["hooks"]["preInstall"][0],
            serde_json::json!({"run": "systemctl stop app", "timeoutSeconds": 120})
        );
        assert!(matches!(got.items[1].action, Action::Remove { .. }));
        assert!(got.items[1].hooks.is_empty());
        let json = serde_json::to_value(&got.items[1]).expect("json");
        assert!(json.get("hooks").is_none(), "{json}");
        // Without hooks in the rollout, none are sent.
        assert!(instructions(&catalog).items[0].hooks.is_empty());
    }

    #[test]
    fn the_same_plan_gives_the_same_instructions_and_etag() {
        let catalog = catalog(vec![openssl()]);
        let first = instructions(&catalog);
        let second = instructions(&catalog);
        assert_eq!(first, second);
        assert_eq!(etag(&first), etag(&second));
        assert!(etag(&first).starts_with("e-"));
        assert_eq!(etag(&first).len(), 34);
    }

    #[test]
    fn a_new_patch_changes_the_etag_and_installs_come_in_patch_order() {
        let before = instructions(&catalog(vec![openssl()]));
        let after = instructions(&catalog(vec![openssl(), curl()]));
        assert_ne!(etag(&before), etag(&after));
        let kinds: Vec<String> = after
            .items
            .iter()
            .map(|i| match &i.action {
                Action::Install { patch, .. } => patch.to_string(),
                Action::Remove { package, .. } => format!("remove {package}"),
            })
            .collect();
        assert_eq!(
            kinds,
            ["curl/7.88.1-11", "openssl/3.0.15-1", "remove telnetd"]
        );
    }

    #[test]
    fn a_retry_after_a_failure_is_a_new_instruction() {
        let catalog = catalog(vec![openssl()]);
        let policy = policy();
        let inventory = inventory();
        let mut fleet = fleet(&inventory);
        let patch = PatchId("openssl/3.0.15-1".into());
        let first = instructions(&catalog);
        fleet
            .add_result(crate::fleet::InstallResult {
                machine: "m1".into(),
                patch: patch.clone(),
                outcome: Outcome::Failed,
                at: "2026-11-25T11:00:00Z".parse().expect("instant"),
                error: Some("dpkg failed".into()),
            })
            .expect("a known machine");
        let plan = plan::compute(&policy, &catalog, &fleet, now());
        let m = plan.machine("m1").expect("planned");
        let state = m.patch(&patch).expect("still applies");
        let State::Failed(failure) = &state.state else {
            panic!("failed: {state:#?}");
        };
        assert!(failure.retry.is_some(), "{failure:#?}");
        let after = instructions_for(&plan, m, &catalog, &policy, Some(&inventory));
        let retry = after
            .items
            .iter()
            .find(|i| matches!(&i.action, Action::Install { patch: p, .. } if p == &patch))
            .expect("the retry is an install");
        assert_ne!(retry.id, first.items[0].id);
        assert_eq!(
            retry.id,
            install_id("m1", &patch, first.release.as_deref().unwrap_or(""), 1)
        );
    }

    #[test]
    fn unapproved_patches_give_no_instruction() {
        let mut bugfix = curl();
        bugfix.classification = Classification::Bugfix;
        let got = instructions(&catalog(vec![bugfix]));
        assert!(
            got.items
                .iter()
                .all(|i| matches!(i.action, Action::Remove { .. })),
            "{got:#?}"
        );
    }

    // Two rings: `early` at once, `late` two days after approval (the patches
    // are released, and approved, at 2026-11-24T00:00, so `late` receives them
    // at 2026-11-26T00:00, 12 hours after NOW).
    const RINGS: &str = r#"
apiVersion: fixpoint.dev/v1alpha1
kind: MachineGroup
metadata: {name: early}
spec:
  match: {labels: {ring: early}}
---
apiVersion: fixpoint.dev/v1alpha1
kind: MachineGroup
metadata: {name: late}
spec:
  match: {labels: {ring: late}}
---
apiVersion: fixpoint.dev/v1alpha1
kind: ApprovalPolicy
metadata: {name: security}
spec:
  rules:
    - {match: {classification: [security]}, approveAfter: 0d}
---
apiVersion: fixpoint.dev/v1alpha1
kind: Rollout
metadata: {name: default}
spec:
  approval: security
  rings:
    - {name: early, groups: [early], delay: 0d}
    - {name: late, groups: [late], delay: 2d}
"#;

    /// `m1` (amd64) in the early ring and `m2`, `m3` (arm64, the same
    /// inventory) in the late one.
    fn two_ring_world() -> (PolicySet, Fleet) {
        let checked = crate::policy::check([("p.yaml", RINGS.as_bytes())], now());
        assert!(!checked.has_errors(), "{:#?}", checked.diagnostics);
        let mut fleet = Fleet::new();
        let amd64 = fleet.add_inventory(inventory());
        let arm64 = fleet.add_inventory(
            Inventory::new(
                Platform("debian:12".into()),
                vec![
                    InstalledPackage::new("libssl3", "arm64", "3.0.14-1")
                        .built_from("openssl", "3.0.14-1"),
                ],
            )
            .expect("a valid inventory"),
        );
        for (id, ring, inventory) in [
            ("m1", "early", amd64),
            ("m2", "late", arm64.clone()),
            ("m3", "late", arm64),
        ] {
            fleet
                .add_machine(Machine {
                    id: id.into(),
                    hostname: id.into(),
                    labels: BTreeMap::from([("ring".into(), ring.into())]),
                    os: OsFacts {
                        family: "debian".into(),
                        version: Some("12".into()),
                    },
                    site: None,
                    directory: crate::fleet::DirectoryFacts::default(),
                    time_zone: None,
                    kernel: None,
                    reboot_required: false,
                    inventory,
                })
                .expect("a new machine");
        }
        (checked.set, fleet)
    }

    fn staged(horizon: SignedDuration) -> Vec<(String, Timestamp, String)> {
        let (policy, fleet) = two_ring_world();
        let catalog = catalog(vec![openssl()]);
        let plan = plan::compute(&policy, &catalog, &fleet, now());
        files_to_stage(&plan, &catalog, &fleet, horizon)
            .into_iter()
            .map(|n| (n.sha256, n.needed_by, n.url))
            .collect()
    }

    #[test]
    fn instructed_files_are_staged_now_whatever_the_horizon() {
        let got = staged(SignedDuration::ZERO);
        // m1's libssl3 and openssl for amd64: not arm64's, not libssl-dev (not
        // installed), never the file without a hash.
        assert_eq!(
            got,
            [
                (
                    sha('a'),
                    now(),
                    "https://vendor.example/libssl3_amd64.deb".into()
                ),
                (
                    sha('c'),
                    now(),
                    "https://vendor.example/openssl_amd64.deb".into()
                ),
            ]
        );
    }

    #[test]
    fn a_ring_that_opens_within_the_horizon_has_its_files_staged_once() {
        let opens: Timestamp = "2026-11-26T00:00:00Z".parse().expect("instant");
        let got = staged(SignedDuration::from_hours(24));
        // m2 and m3 share arm64's file: listed once, after what is due now.
        assert_eq!(
            got.iter()
                .map(|(s, t, _)| (s.clone(), *t))
                .collect::<Vec<_>>(),
            [(sha('a'), now()), (sha('c'), now()), (sha('b'), opens)]
        );
        // Twelve hours' horizon does not reach the late ring's opening.
        assert_eq!(staged(SignedDuration::from_hours(11)).len(), 2);
    }

    #[test]
    fn patches_that_are_not_approved_stage_nothing() {
        let (policy, fleet) = two_ring_world();
        let mut feature = openssl();
        feature.classification = Classification::Enhancement;
        let catalog = catalog(vec![feature]);
        let plan = plan::compute(&policy, &catalog, &fleet, now());
        assert_eq!(
            files_to_stage(
                &plan,
                &catalog,
                &fleet,
                SignedDuration::from_hours(24 * 365)
            ),
            []
        );
    }

    #[test]
    fn jitter_stays_within_its_share_of_the_interval_and_is_deterministic() {
        let interval = SignedDuration::from_mins(90);
        let mut offsets = Vec::new();
        for i in 0..500 {
            let id = format!("machine-{i}");
            let next = next_check_in(interval, 10.0, &id, now());
            assert_eq!(next, next_check_in(interval, 10.0, &id, now()));
            let offset = now().duration_until(next) - interval;
            assert!(offset >= SignedDuration::ZERO, "{offset:?}");
            assert!(offset < SignedDuration::from_mins(9), "{offset:?}");
            offsets.push(offset);
        }
        // Spread, not bunched: some in the first and some in the last tenth of the jitter.
        assert!(offsets.iter().any(|o| *o < SignedDuration::from_secs(54)));
        assert!(offsets.iter().any(|o| *o > SignedDuration::from_secs(486)));
        assert_eq!(next_check_in(interval, 0.0, "m1", now()), now() + interval);
        assert_eq!(
            next_check_in(interval, f64::NAN, "m1", now()),
            now() + interval
        );
    }
}
