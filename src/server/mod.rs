//! `fixpoint serve`: the long-running server around the pure core.
//!
//! ```text
//!  policy (dir | git) ──reconcile──▶ last good PolicySet ─┐
//!  catalog sources ──catalog_sync──▶ store ────────────────┼─▶ plan::compute ─▶ instructions ─▶ agent API
//!  agent check-ins ──agent──▶ store (fleet) ───────────────┘          └──▶ files_to_stage ─▶ stager ─▶ staging store
//!  webhook ──wake──▶ reconcile now                                                     files API ◀──┘
//! ```
//!
//! Four tasks share one [`Shared`]: the HTTP server (agent API, webhook,
//! health, metrics, status), the reconcile loop ([`reconcile`]), the catalog
//! sync loop ([`catalog_sync`]) and the stager ([`stager`]).
//!
//! # Policy revisions
//!
//! Every pass reads the whole policy tree and validates it as one revision (a
//! commit; for a directory, the SHA-256 of its file names and contents). A
//! revision with errors is recorded with its diagnostics and **not applied**:
//! the server keeps reconciling the last good one and says so — conditions
//! `Ready` (the last attempt was applied), `Stalled` (it was not; the message
//! says why) and `Reconciling` (a pass is running), as Flux names them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use fixpoint_core::plan;
use fixpoint_core::policy::PolicySet;
use fixpoint_core::protocol::StagingNeed;
use serde::Serialize;
use tokio::sync::RwLock;

mod agent;
mod catalog_sync;
mod checkins;
mod directory_sync;
mod json_body;
mod leader;
mod metrics;
mod overload;
mod reconcile;
mod stager;
mod tls;
mod webhook;

pub use agent::credential_hash;
pub use tls::TlsFiles;

use crate::source::follow::GitSource;
use crate::store::Store;
use metrics::Metrics;

/// What the server needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// The policy directory (used when there is no `git` source).
    pub policies: PathBuf,
    /// A git repository to follow instead of the directory.
    pub git: Option<GitSource>,
    /// A fleet snapshot to plan, until agents check in.
    pub fleet: Option<PathBuf>,
    /// How often the policy is re-read and the fleet replanned.
    pub reconcile_interval: Duration,
    /// The token agents enroll with; `None`: enrollment is closed.
    pub enrollment_token: Option<Secret>,
    pub staging: StagingConfig,
    /// Sync the catalog sources of the policy's `Settings` on their intervals.
    pub catalog_sync: bool,
    /// The shared secret of `POST /api/v1/webhook`; `None`: no webhook.
    pub webhook_secret: Option<Secret>,
    /// Serve HTTPS with this certificate and key; `None`: plain HTTP.
    pub tls: Option<TlsFiles>,
    /// Agent requests handled at once; more are answered 503 with `Retry-After`.
    pub max_agent_requests: usize,
    /// Who may read the console and its JSON API.
    pub console: crate::console::ConsoleAuth,
}

/// Where the server stages patch binaries, and how.
#[derive(Debug, Clone)]
pub struct StagingConfig {
    /// The staging store's directory; `None`: nothing is staged or served.
    pub dir: Option<PathBuf>,
    /// Files of patches that rings receive within this much time are staged now.
    pub horizon: Duration,
    /// Downloads at once.
    pub concurrency: usize,
    /// All downloads together, in bytes a second; `None`: unlimited.
    pub bandwidth: Option<u64>,
    /// Unreferenced files are removed after this long.
    pub retention: Duration,
    /// After a failed download, the next attempt waits this long.
    pub retry: Duration,
}

impl Default for StagingConfig {
    fn default() -> Self {
        StagingConfig {
            dir: None,
            horizon: Duration::from_secs(48 * 3600),
            concurrency: 4,
            bandwidth: None,
            retention: Duration::from_secs(7 * 86_400),
            retry: Duration::from_secs(60),
        }
    }
}

/// A secret given inline or as a file (a mounted Kubernetes Secret), read
/// when it is used so that a rotated file takes effect without a restart.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    Value(String),
    File(PathBuf),
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::Value(_) => f.write_str("Secret(***)"),
            Secret::File(path) => write!(f, "Secret(file {})", path.display()),
        }
    }
}

impl Secret {
    /// The secret, without the trailing newline a file usually ends with.
    pub fn read(&self) -> anyhow::Result<String> {
        match self {
            Secret::Value(v) => Ok(v.clone()),
            Secret::File(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read the secret file {}", path.display()))?;
                let value = text.trim_end_matches(['\n', '\r']).to_owned();
                anyhow::ensure!(
                    !value.is_empty(),
                    "the secret file {} is empty",
                    path.display()
                );
                Ok(value)
            }
        }
    }
}

/// Each machine's instructions, by machine id.
type Instructed = std::collections::HashMap<String, fixpoint_core::protocol::Instructions>;

/// A condition in Flux's sense.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Ready`, `Stalled` or `Reconciling`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub status: bool,
    pub message: String,
    pub since: jiff::Timestamp,
}

/// A policy revision as the status API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RevisionStatus {
    pub revision: String,
    pub at: jiff::Timestamp,
    pub documents: usize,
    pub errors: usize,
    pub warnings: usize,
    /// Error diagnostics, `path:line:column: error: message`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub diagnostics: Vec<String>,
}

/// What the last plan found, summarised.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanSummary {
    pub computed_at: Option<jiff::Timestamp>,
    pub revision: String,
    pub machines: usize,
    pub compliance: plan::Compliance,
    pub catalog_patches: usize,
}

/// Where staging stands, as of its last pass.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StagingStatus {
    pub last_pass: Option<jiff::Timestamp>,
    /// Files the plan needs staged, and how many are.
    pub wanted: usize,
    pub staged: usize,
    pub stored_bytes: u64,
    /// Files whose last download failed, soonest needed first (at most 20).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<StagingFailure>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StagingFailure {
    pub sha256: String,
    pub url: String,
    pub patch: String,
    pub needed_by: jiff::Timestamp,
    pub error: String,
    /// Whether a later attempt may succeed (vendor unreachable, disk full),
    /// or the catalog must change first (wrong hash or size, 404).
    pub transient: bool,
}

/// Everything `/api/v1/status` reports.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub conditions: Vec<Condition>,
    pub last_attempted: Option<RevisionStatus>,
    pub last_applied: Option<RevisionStatus>,
    pub plan: Option<PlanSummary>,
    /// Why the last pass failed outright (catalog or fleet unreadable), if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub staging: StagingStatus,
    /// This replica, and whether it leads.
    pub replica: ReplicaStatus,
}

/// Which replica answered, and whether it runs the singleton work.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaStatus {
    /// Host name and process id.
    pub name: String,
    pub leader: bool,
    /// Since when it has led or followed.
    pub since: Option<jiff::Timestamp>,
}

pub(crate) struct Shared {
    pub(crate) store: Store,
    pub(crate) config: Config,
    pub(crate) status: RwLock<Status>,
    metrics: Metrics,
    /// The last good policy and its revision.
    pub(crate) good: RwLock<Option<(String, Arc<PolicySet>)>>,
    /// Staged binaries agents download.
    pub(crate) staging: Option<crate::staging::Store>,
    /// What the console shows: the view of the last plan.
    pub(crate) console: RwLock<Arc<crate::console::View>>,
    /// The policy the last plan was computed with: a plan of a newer revision
    /// is compared with it, and the audit trail keeps what changed.
    planned: RwLock<Option<(String, Arc<PolicySet>)>>,
    /// The figures of the last stored compliance snapshot.
    last_snapshot: RwLock<Option<crate::store::Snapshot>>,
    /// Each machine's instructions from the last plan, by machine id.
    instructions: RwLock<Instructed>,
    /// The files the last plan needs staged, for the stager.
    staging_needs: tokio::sync::watch::Sender<Arc<Vec<StagingNeed>>>,
    /// Wakes the reconcile loop before its interval is up.
    wake: tokio::sync::Notify,
    /// Agent requests in progress: at most `max_agent_requests`.
    agent_slots: Arc<tokio::sync::Semaphore>,
    /// Whether this replica leads ([`leader`]); always true on SQLite.
    leading: tokio::sync::watch::Receiver<bool>,
    /// This replica's name in logs and status: host name and process id.
    replica: String,
    /// What the agent API remembers, and its group-committing check-in writer.
    fast: checkins::FastPath,
}

impl Shared {
    /// The agent settings of the last good policy (the defaults before there is one).
    async fn agent_settings(&self) -> fixpoint_core::policy::AgentSettings {
        self.good
            .read()
            .await
            .as_ref()
            .and_then(|(_, set)| set.settings.first().map(|d| d.spec.agents.clone()))
            .unwrap_or_default()
    }
}

/// Runs the server until `shutdown` completes: binds, prints the address it
/// listens on, reconciles every `reconcile_interval`, serves HTTP (or HTTPS),
/// then stops accepting, finishes requests in flight and returns.
pub async fn run(
    config: Config,
    store: Store,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let tls = match &config.tls {
        Some(files) => Some(files.server_config()?),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let address = listener.local_addr()?;
    let staging = match &config.staging.dir {
        Some(dir) => Some(
            crate::staging::Store::open_with(
                dir.clone(),
                config.staging.bandwidth.map(crate::staging::Bandwidth::new),
            )
            .with_context(|| format!("opening the staging store {}", dir.display()))?,
        ),
        None => None,
    };
    let (staging_needs, _) = tokio::sync::watch::channel(Arc::new(Vec::new()));
    // One server on SQLite leads from the start; PostgreSQL replicas campaign.
    let postgres = store.backend() == crate::store::Backend::Postgres;
    let (leading_tx, leading) = tokio::sync::watch::channel(!postgres);
    let replica = format!(
        "{}/{}",
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "localhost".into()),
        std::process::id()
    );
    // The check-in writer stops after the last request is answered (`writer_stop`); the
    // background loops stop as soon as shutdown begins (`stop_rx`), so that no new
    // reconcile pass or sync starts while requests in flight finish.
    let (writer_stop_tx, writer_stop) = tokio::sync::watch::channel(false);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (fast, writer) = checkins::FastPath::start(store.clone(), writer_stop);
    let shared = Arc::new(Shared {
        fast,
        staging,
        store,
        agent_slots: Arc::new(tokio::sync::Semaphore::new(
            config.max_agent_requests.max(1),
        )),
        config,
        status: RwLock::new(Status::default()),
        metrics: Metrics::default(),
        good: RwLock::new(None),
        instructions: RwLock::new(std::collections::HashMap::new()),
        console: RwLock::new(Arc::new(
            crate::console::View::empty(jiff::Timestamp::now()),
        )),
        planned: RwLock::new(None),
        last_snapshot: RwLock::new(None),
        staging_needs,
        wake: tokio::sync::Notify::new(),
        leading,
        replica,
    });
    let scheme = if tls.is_some() { "https" } else { "http" };
    // Scripts and tests read this line to find the port.
    println!("fixpoint: listening on {scheme}://{address}");
    tracing::info!(%address, scheme, replica = %shared.replica, "listening");
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(track_leadership(Arc::clone(&shared), stop_rx.clone()));
    tasks.spawn(reconcile::reconcile_loop(
        Arc::clone(&shared),
        stop_rx.clone(),
    ));
    if postgres {
        tasks.spawn(leader::campaign(
            Arc::clone(&shared),
            leading_tx,
            stop_rx.clone(),
        ));
        tasks.spawn(leader::listen(Arc::clone(&shared), stop_rx.clone()));
    } else {
        drop(leading_tx);
        let mut singletons = leader::spawn_singletons(&shared, &stop_rx);
        tasks.spawn(async move { while singletons.join_next().await.is_some() {} });
    }
    let app = router(Arc::clone(&shared));
    let shutdown = async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    };
    match tls {
        Some(tls) => axum::serve(tls::Listener::new(listener, tls), app)
            .with_graceful_shutdown(shutdown)
            .await
            .context("serving HTTPS")?,
        None => axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
            .context("serving HTTP")?,
    }
    while tasks.join_next().await.is_some() {}
    let _ = writer_stop_tx.send(true);
    // Every check-in answered is committed; the writer ends after the last.
    let _ = writer.await;
    shared.store.close().await;
    tracing::info!("stopped");
    Ok(())
}

fn router(shared: Arc<Shared>) -> Router {
    use fixpoint_core::protocol::{CHECK_IN_PATH, ENROLL_PATH, REPORT_PATH};
    // The agent API sheds load past its limit with 503 + Retry-After; health,
    // metrics and status stay answerable while it does.
    let agent_api = Router::new()
        .route(ENROLL_PATH, post(agent::enroll))
        .route(CHECK_IN_PATH, post(agent::check_in))
        .route(REPORT_PATH, post(agent::report))
        .route("/api/v1/files/{sha256}", get(agent::file))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&shared),
            overload::shed,
        ));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route(webhook::PATH, post(webhook::receive))
        .route(fixpoint_core::protocol::OPENAPI_PATH, get(agent::openapi))
        .merge(agent_api)
        .merge(crate::console::router(Arc::clone(&shared)))
        .layer(axum::extract::DefaultBodyLimit::max(agent::MAX_BODY))
        .layer(axum::middleware::from_fn(crate::console::security_headers))
        .with_state(shared)
}

/// Keeps the `leader` metric and the status's replica section in step with
/// the election.
async fn track_leadership(shared: Arc<Shared>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut leading = shared.leading.clone();
    loop {
        let now = *leading.borrow_and_update();
        shared
            .metrics
            .leader
            .store(u64::from(now), std::sync::atomic::Ordering::Relaxed);
        shared.status.write().await.replica = ReplicaStatus {
            name: shared.replica.clone(),
            leader: now,
            since: Some(jiff::Timestamp::now()),
        };
        tokio::select! {
            changed = leading.changed() => if changed.is_err() {
                // The election ended (shutdown, or SQLite where it never runs).
                let _ = stop.changed().await;
                return;
            },
            _ = stop.changed() => return,
        }
    }
}

async fn readyz(State(shared): State<Arc<Shared>>) -> Response {
    let planned = shared.status.read().await.plan.is_some();
    if !planned {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: no valid policy has been reconciled yet\n",
        )
            .into_response();
    }
    match shared.store.patch_count().await {
        Ok(_) => (StatusCode::OK, "ready\n").into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: database: {e}\n"),
        )
            .into_response(),
    }
}

/// A catalog source as the status API (and the console) shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SourceStatus {
    pub(crate) name: String,
    pub(crate) kind: String,
    pub(crate) advisories: i64,
    pub(crate) last_attempt: Option<jiff::Timestamp>,
    pub(crate) last_success: Option<jiff::Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) last_error: Option<String>,
}

impl From<crate::store::SourceState> for SourceStatus {
    fn from(s: crate::store::SourceState) -> SourceStatus {
        SourceStatus {
            name: s.name,
            kind: s.kind,
            advisories: s.advisories,
            last_attempt: s.last_attempt_at,
            last_success: s.last_success_at,
            last_error: s.last_error,
        }
    }
}

pub(crate) async fn status(State(shared): State<Arc<Shared>>) -> Response {
    let status = shared.status.read().await.clone();
    let mut value = match serde_json::to_value(&status) {
        Ok(v) => v,
        Err(e) => return agent::internal(&e),
    };
    // The catalog's freshness comes from the store, where every replica's syncs land.
    let sources: Vec<SourceStatus> = match shared.store.sources().await {
        Ok(sources) => sources.into_iter().map(SourceStatus::from).collect(),
        Err(e) => return agent::internal(&e),
    };
    value["catalog"] = serde_json::json!({ "sources": sources });
    // Directory sources as their last syncs left them (the leader's, seen by every replica).
    let directory = match shared.store.directory_sources().await {
        Ok(states) => states,
        Err(e) => return agent::internal(&e),
    };
    value["directory"] = serde_json::json!({
        "sources": directory
            .iter()
            .map(|s| serde_json::json!({
                "name": s.name,
                "location": s.location,
                "lastAttemptAt": s.last_attempt_at,
                "lastSuccessAt": s.last_success_at,
                "lastError": s.last_error,
                "computers": s.computers,
            }))
            .collect::<Vec<_>>(),
    });
    axum::Json(value).into_response()
}

/// The audit trail: policy revisions as they were attempted, newest first,
/// with commit, author, time, whether each was applied and its errors.
pub(crate) async fn revisions(State(shared): State<Arc<Shared>>) -> Response {
    match shared.store.policy_revisions(200).await {
        Ok(list) => {
            let list: Vec<serde_json::Value> = list
                .into_iter()
                .map(|r| {
                    serde_json::json!({
                        "revision": r.revision,
                        "author": r.author,
                        "committedAt": r.committed_at,
                        "attemptedAt": r.attempted_at,
                        "applied": r.applied,
                        "diagnostics": serde_json::from_str::<serde_json::Value>(&r.diagnostics)
                            .unwrap_or(serde_json::Value::Null),
                    })
                })
                .collect();
            axum::Json(serde_json::json!({ "revisions": list })).into_response()
        }
        Err(e) => agent::internal(&e),
    }
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    let status = shared.status.read().await.clone();
    let text = metrics::render(&status, &shared.metrics);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
