//! `fixpoint serve`: the reconcile loop and the HTTP endpoints around it.
//!
//! This first part of the server follows a policy directory or a git branch
//! with last-known-good semantics, reconciles it against the catalog in the store
//! and a fleet, and serves health, readiness, Prometheus metrics and a status
//! API. The git source, staging and the agent API build on it.
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
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use fixpoint_core::fleet::Fleet;
use fixpoint_core::plan;
use fixpoint_core::policy::{self, Diagnostic, Level, PolicySet};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::RwLock;

mod agent;

use crate::source::PolicyFile;
use crate::source::follow::GitSource;
use crate::store::{PolicyRevision, Store};

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
    pub enrollment_token: Option<String>,
    /// The staging store's directory; `None`: no files are served.
    pub staging: Option<PathBuf>,
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
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
struct Metrics {
    reconciles: AtomicU64,
    reconcile_failures: AtomicU64,
    invalid_revisions: AtomicU64,
    /// Of the last pass, in microseconds.
    reconcile_micros: AtomicU64,
    check_ins: AtomicU64,
}

struct Shared {
    store: Store,
    config: Config,
    status: RwLock<Status>,
    metrics: Metrics,
    /// The last good policy and its revision.
    good: RwLock<Option<(String, Arc<PolicySet>)>>,
    /// Staged binaries agents download.
    staging: Option<crate::staging::Store>,
    /// Each machine's instructions from the last plan, by machine id.
    instructions: RwLock<std::collections::HashMap<String, fixpoint_core::protocol::Instructions>>,
}

/// Runs the server until `shutdown` completes: binds, prints the address it
/// listens on, reconciles every `reconcile_interval`, serves HTTP, then stops
/// accepting, finishes requests in flight and returns.
pub async fn run(
    config: Config,
    store: Store,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let address = listener.local_addr()?;
    let staging = match &config.staging {
        Some(dir) => Some(
            crate::staging::Store::open(dir.clone())
                .with_context(|| format!("opening the staging store {}", dir.display()))?,
        ),
        None => None,
    };
    let shared = Arc::new(Shared {
        staging,
        store,
        config,
        status: RwLock::new(Status::default()),
        metrics: Metrics::default(),
        good: RwLock::new(None),
        instructions: RwLock::new(std::collections::HashMap::new()),
    });
    // Scripts and tests read this line to find the port.
    println!("fixpoint: listening on http://{address}");
    tracing::info!(%address, "listening");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let reconciler = tokio::spawn(reconcile_loop(Arc::clone(&shared), stop_rx));
    let app = router(Arc::clone(&shared));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving HTTP")?;
    let _ = stop_tx.send(true);
    let _ = reconciler.await;
    shared.store.close().await;
    tracing::info!("stopped");
    Ok(())
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/v1/status", get(status))
        .route(
            fixpoint_core::protocol::ENROLL_PATH,
            axum::routing::post(agent::enroll),
        )
        .route(
            fixpoint_core::protocol::CHECK_IN_PATH,
            axum::routing::post(agent::check_in),
        )
        .route(
            fixpoint_core::protocol::REPORT_PATH,
            axum::routing::post(agent::report),
        )
        .route("/api/v1/files/{sha256}", get(agent::file))
        .route(fixpoint_core::protocol::OPENAPI_PATH, get(agent::openapi))
        .layer(axum::extract::DefaultBodyLimit::max(agent::MAX_BODY))
        .with_state(shared)
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

async fn status(State(shared): State<Arc<Shared>>) -> Response {
    let status = shared.status.read().await.clone();
    axum::Json(status).into_response()
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    let status = shared.status.read().await.clone();
    let m = &shared.metrics;
    let text = render_metrics(&status, m);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// The Prometheus text exposition format, written by hand: a dozen gauges and
/// counters do not need a metrics framework.
fn render_metrics(status: &Status, m: &Metrics) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    family(
        "fixpoint_reconciles_total",
        "counter",
        "Reconcile passes run.",
    );
    family(
        "fixpoint_reconcile_failures_total",
        "counter",
        "Reconcile passes that could not plan (catalog or fleet unreadable).",
    );
    family(
        "fixpoint_policy_invalid_revisions_total",
        "counter",
        "Policy revisions rejected because they had errors.",
    );
    family(
        "fixpoint_reconcile_duration_seconds",
        "gauge",
        "Duration of the last reconcile pass.",
    );
    family(
        "fixpoint_policy_stalled",
        "gauge",
        "1 when the last attempted policy revision was not applied.",
    );
    family(
        "fixpoint_check_ins_total",
        "counter",
        "Agent check-ins recorded (facts and inventory stored).",
    );
    family(
        "fixpoint_fleet_machines",
        "gauge",
        "Machines in the last plan.",
    );
    family(
        "fixpoint_machines_compliant",
        "gauge",
        "Compliant machines in the last plan, by rollout/ring.",
    );
    family(
        "fixpoint_machines",
        "gauge",
        "Machines in the last plan, by rollout/ring.",
    );
    family(
        "fixpoint_missing_patches",
        "gauge",
        "Missing approved machine-patch pairs, by severity; overdue=\"true\" past their deadline.",
    );
    let _ = writeln!(
        out,
        "fixpoint_reconciles_total {}",
        m.reconciles.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "fixpoint_reconcile_failures_total {}",
        m.reconcile_failures.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "fixpoint_policy_invalid_revisions_total {}",
        m.invalid_revisions.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "fixpoint_check_ins_total {}",
        m.check_ins.load(Ordering::Relaxed)
    );
    #[allow(clippy::cast_precision_loss)]
    let seconds = m.reconcile_micros.load(Ordering::Relaxed) as f64 / 1e6;
    let _ = writeln!(out, "fixpoint_reconcile_duration_seconds {seconds}");
    let stalled = status
        .conditions
        .iter()
        .any(|c| c.kind == "Stalled" && c.status);
    let _ = writeln!(out, "fixpoint_policy_stalled {}", u8::from(stalled));
    if let Some(p) = &status.plan {
        let _ = writeln!(out, "fixpoint_fleet_machines {}", p.machines);
        for (ring, t) in &p.compliance.by_ring {
            let ring = label(ring);
            let _ = writeln!(
                out,
                "fixpoint_machines_compliant{{ring=\"{ring}\"}} {}",
                t.compliant
            );
            let _ = writeln!(out, "fixpoint_machines{{ring=\"{ring}\"}} {}", t.total);
        }
        for (severity, missing) in &p.compliance.by_severity {
            let s = severity.name();
            let _ = writeln!(
                out,
                "fixpoint_missing_patches{{severity=\"{s}\",overdue=\"false\"}} {}",
                missing.missing - missing.overdue
            );
            let _ = writeln!(
                out,
                "fixpoint_missing_patches{{severity=\"{s}\",overdue=\"true\"}} {}",
                missing.overdue
            );
        }
    }
    out
}

/// A label value with `\`, `"` and newlines escaped.
fn label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

async fn reconcile_loop(shared: Arc<Shared>, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        let started = Instant::now();
        reconcile(&shared).await;
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        shared
            .metrics
            .reconcile_micros
            .store(micros, Ordering::Relaxed);
        shared.metrics.reconciles.fetch_add(1, Ordering::Relaxed);
        tokio::select! {
            () = tokio::time::sleep(shared.config.reconcile_interval) => {}
            _ = stop.changed() => return,
        }
    }
}

/// The revision of a policy directory: the SHA-256 of its files' paths
/// (relative to `dir`, so a copy elsewhere is the same revision) and contents,
/// as `dir:` and 16 hex digits.
fn directory_revision(dir: &std::path::Path, files: &[PolicyFile]) -> String {
    let prefix = dir.display().to_string();
    let mut h = Sha256::new();
    for f in files {
        let name = f
            .display
            .strip_prefix(prefix.as_str())
            .unwrap_or(&f.display);
        h.update(name.as_bytes());
        h.update([0]);
        h.update(
            u64::try_from(f.bytes.len())
                .unwrap_or(u64::MAX)
                .to_le_bytes(),
        );
        h.update(&f.bytes);
    }
    let digest = h.finalize();
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("dir:{hex}")
}

/// One pass: read and validate the policy, keep it if good, plan.
async fn reconcile(shared: &Shared) {
    let now = jiff::Timestamp::now();
    let fetched = match shared.config.git.clone() {
        Some(git) => {
            tokio::task::spawn_blocking(move || {
                git.fetch().map(|r| {
                    (
                        r.commit.clone(),
                        Some(r.author.clone()),
                        Some(r.time),
                        r.files,
                    )
                })
            })
            .await
        }
        None => {
            let dir = shared.config.policies.clone();
            tokio::task::spawn_blocking(move || {
                crate::source::dir::read_tree(&dir)
                    .map(|files| (directory_revision(&dir, &files), None, None, files))
            })
            .await
        }
    };
    let (revision, author, committed_at, files) = match fetched {
        Ok(Ok(read)) => read,
        Ok(Err(e)) => return failed(shared, format!("reading the policy: {e:#}")).await,
        Err(e) => return failed(shared, format!("reading the policy: {e}")).await,
    };
    let checked = tokio::task::spawn_blocking(move || {
        let inputs: Vec<(&str, &[u8])> = files
            .iter()
            .map(|f| (f.display.as_str(), f.bytes.as_slice()))
            .collect();
        let mut c = policy::check(inputs, now);
        for f in &files {
            if let Some(problem) = &f.problem {
                c.diagnostics.push(Diagnostic::new(
                    &f.display,
                    policy::yaml::Pos { line: 1, column: 1 },
                    Level::Error,
                    "unreadable",
                    problem.clone(),
                ));
            }
        }
        c
    })
    .await;
    let checked = match checked {
        Ok(c) => c,
        Err(e) => return failed(shared, format!("validating the policy: {e}")).await,
    };
    let errors = checked.count(Level::Error);
    let attempt = RevisionStatus {
        revision: revision.clone(),
        at: now,
        documents: checked.set.len(),
        errors,
        warnings: checked.count(Level::Warning),
        diagnostics: checked
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(ToString::to_string)
            .collect(),
    };
    let changed = shared
        .status
        .read()
        .await
        .last_attempted
        .as_ref()
        .is_none_or(|a| a.revision != revision);
    if changed {
        let record = PolicyRevision {
            revision: revision.clone(),
            author,
            committed_at,
            attempted_at: now,
            applied: errors == 0,
            diagnostics: serde_json::to_string(
                &checked
                    .diagnostics
                    .iter()
                    .filter(|d| d.is_error())
                    .collect::<Vec<&Diagnostic>>(),
            )
            .unwrap_or_else(|_| "[]".into()),
        };
        if let Err(e) = shared.store.record_policy_revision(&record).await {
            tracing::warn!(error = %e, "could not record the policy revision");
        }
        if errors > 0 {
            shared
                .metrics
                .invalid_revisions
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%revision, errors, "policy revision has errors; keeping the last good one");
        } else {
            tracing::info!(%revision, documents = checked.set.len(), "policy revision applied");
        }
    }
    if errors == 0 {
        *shared.good.write().await = Some((revision.clone(), Arc::new(checked.set)));
        let mut status = shared.status.write().await;
        status.last_applied = Some(attempt.clone());
    }
    {
        let mut status = shared.status.write().await;
        status.last_attempted = Some(attempt.clone());
        status.conditions = conditions(&status, now);
    }
    // Plan the last good revision.
    let Some((good_revision, set)) = shared.good.read().await.clone() else {
        return;
    };
    let catalog = match shared.store.catalog().await {
        Ok(c) => c,
        Err(e) => return failed(shared, format!("loading the catalog: {e}")).await,
    };
    // The fleet agents reported, unless a snapshot is configured.
    let stored = match shared.config.fleet {
        Some(_) => None,
        None => match shared.store.fleet().await {
            Ok(f) => Some(f),
            Err(e) => return failed(shared, format!("loading the fleet: {e}")).await,
        },
    };
    let fleet_path = shared.config.fleet.clone();
    let planned =
        tokio::task::spawn_blocking(move || -> anyhow::Result<(PlanSummary, Instructed)> {
            let fleet = match (&fleet_path, stored) {
                (Some(path), _) => {
                    let bytes = std::fs::read(path).with_context(|| {
                        format!("cannot read the fleet snapshot {}", path.display())
                    })?;
                    Fleet::from_snapshot(&bytes)
                        .with_context(|| format!("fleet snapshot {}", path.display()))?
                }
                (None, Some(fleet)) => fleet,
                (None, None) => Fleet::new(),
            };
            let p = plan::compute(&set, &catalog, &fleet, now);
            let instructions: Instructed = p
                .machines
                .iter()
                .map(|m| {
                    let inventory = fleet
                        .machine(&m.machine)
                        .and_then(|x| fleet.inventory_of(x));
                    (
                        m.machine.clone(),
                        fixpoint_core::protocol::instructions_for(
                            &p,
                            m,
                            &catalog,
                            &set,
                            inventory.map(|i| &**i),
                        ),
                    )
                })
                .collect();
            Ok((
                PlanSummary {
                    computed_at: Some(now),
                    revision: good_revision,
                    machines: p.machines.len(),
                    compliance: p.compliance.clone(),
                    catalog_patches: catalog.len(),
                },
                instructions,
            ))
        })
        .await;
    match planned {
        Ok(Ok((summary, instructions))) => {
            *shared.instructions.write().await = instructions;
            let mut status = shared.status.write().await;
            status.plan = Some(summary);
            status.error = None;
        }
        Ok(Err(e)) => failed(shared, format!("{e:#}")).await,
        Err(e) => failed(shared, format!("planning: {e}")).await,
    }
}

async fn failed(shared: &Shared, why: String) {
    tracing::warn!(error = %why, "reconcile failed");
    shared
        .metrics
        .reconcile_failures
        .fetch_add(1, Ordering::Relaxed);
    shared.status.write().await.error = Some(why);
}

/// The conditions after an attempt: Ready when the last attempt was applied,
/// Stalled (with the first errors) when it was not; `since` is when each last
/// changed.
fn conditions(status: &Status, now: jiff::Timestamp) -> Vec<Condition> {
    let Some(attempt) = &status.last_attempted else {
        return Vec::new();
    };
    let applied = attempt.errors == 0;
    let keeping = status
        .last_applied
        .as_ref()
        .map_or("no valid revision yet".to_owned(), |a| {
            format!("still reconciling {}", a.revision)
        });
    let since = |kind: &str, value: bool| {
        status
            .conditions
            .iter()
            .find(|c| c.kind == kind && c.status == value)
            .map_or(now, |c| c.since)
    };
    vec![
        Condition {
            kind: "Ready",
            status: applied,
            message: if applied {
                format!("applied {}", attempt.revision)
            } else {
                format!(
                    "revision {} has {} error(s); {keeping}",
                    attempt.revision, attempt.errors
                )
            },
            since: since("Ready", applied),
        },
        Condition {
            kind: "Stalled",
            status: !applied,
            message: attempt
                .diagnostics
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join("; "),
            since: since("Stalled", !applied),
        },
        Condition {
            kind: "Reconciling",
            status: false,
            message: String::new(),
            since: since("Reconciling", false),
        },
    ]
}
