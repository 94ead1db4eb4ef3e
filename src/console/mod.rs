//! The read-only web console: server-rendered pages (minijinja), each with a
//! JSON twin under `/api/v1/console/`, CSV downloads of listings and reports,
//! and SVG charts. No route accepts a method that changes anything.
//!
//! ```text
//!  reconcile ──View::build──▶ Arc<View> ─┬─▶ pages::* ──▶ model ─┬─▶ template (HTML)
//!  store (history, audit, trend) ────────┘                      ├─▶ JSON twin
//!                                                               └─▶ CSV
//! ```
//!
//! Every request passes [`auth`] first; every response of the server gets
//! [`security_headers`].

pub mod auth;
pub mod pages;
pub mod svg;
pub mod templates;
pub mod view;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

use crate::server::Shared;
pub use auth::{ConsoleAuth, TrustedHeader};
use pages::QueryError;
pub use view::View;

/// The console's HTML pages and their JSON twins: (page, twin). A test walks
/// them all.
pub const ROUTES: [(&str, &str); 11] = [
    ("/", "/api/v1/console/overview"),
    ("/drift", "/api/v1/console/drift"),
    ("/machines", "/api/v1/console/machines"),
    ("/machines/{id}", "/api/v1/console/machines/{id}"),
    ("/patches", "/api/v1/console/patches"),
    ("/patches/{*id}", "/api/v1/console/patches/{*id}"),
    ("/rollouts", "/api/v1/console/rollouts"),
    ("/exclusions", "/api/v1/console/exclusions"),
    ("/reports", "/api/v1/console/reports"),
    ("/directory", "/api/v1/console/directory"),
    ("/audit", "/api/v1/console/audit"),
];

/// The downloads: listings and reports as CSV (the directory's reports too:
/// [`pages::DIRECTORY_REPORTS`]).
pub const DOWNLOADS: [&str; 3] = ["/drift.csv", "/machines.csv", "/reports/{name}"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Html,
    Json,
}

type Q = Query<HashMap<String, String>>;
type S = State<Arc<Shared>>;

/// The console's routes, behind its authentication.
pub(crate) fn router(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    use Format::{Html, Json};
    Router::new()
        .route("/", get(|s: S, q: Q| overview(s, q, Html)))
        .route(
            "/api/v1/console/overview",
            get(|s: S, q: Q| overview(s, q, Json)),
        )
        .route("/drift", get(|s: S, q: Q| drift(s, q, Html)))
        .route("/api/v1/console/drift", get(|s: S, q: Q| drift(s, q, Json)))
        .route("/drift.csv", get(drift_csv))
        .route("/machines", get(|s: S, q: Q| machines(s, q, Html)))
        .route(
            "/api/v1/console/machines",
            get(|s: S, q: Q| machines(s, q, Json)),
        )
        .route("/machines.csv", get(machines_csv))
        .route(
            "/machines/{id}",
            get(|s: S, p: Path<String>| machine(s, p, Html)),
        )
        .route(
            "/api/v1/console/machines/{id}",
            get(|s: S, p: Path<String>| machine(s, p, Json)),
        )
        .route("/patches", get(|s: S, q: Q| patches(s, q, Html)))
        .route(
            "/api/v1/console/patches",
            get(|s: S, q: Q| patches(s, q, Json)),
        )
        .route(
            "/patches/{*id}",
            get(|s: S, p: Path<String>, q: Q| patch(s, p, q, Html)),
        )
        .route(
            "/api/v1/console/patches/{*id}",
            get(|s: S, p: Path<String>, q: Q| patch(s, p, q, Json)),
        )
        .route("/rollouts", get(|s: S| rollouts(s, Html)))
        .route("/api/v1/console/rollouts", get(|s: S| rollouts(s, Json)))
        .route("/exclusions", get(|s: S| exclusions(s, Html)))
        .route(
            "/api/v1/console/exclusions",
            get(|s: S| exclusions(s, Json)),
        )
        .route("/reports", get(|s: S| reports(s, Html)))
        .route("/api/v1/console/reports", get(|s: S| reports(s, Json)))
        .route("/reports/{name}", get(report_csv))
        .route("/directory", get(|s: S, q: Q| directory(s, q, Html)))
        .route(
            "/api/v1/console/directory",
            get(|s: S, q: Q| directory(s, q, Json)),
        )
        .route("/audit", get(|s: S| audit(s, Html)))
        .route("/api/v1/console/audit", get(|s: S| audit(s, Json)))
        .route("/api/v1/status", get(crate::server::status))
        .route("/api/v1/revisions", get(crate::server::revisions))
        .route_layer(axum::middleware::from_fn_with_state(shared, authenticate))
        // Static files are the same for everyone and hold no data.
        .route("/static/console.css", get(css))
        .route("/static/console.js", get(js))
        .route("/favicon.ico", get(favicon))
}

async fn authenticate(State(shared): S, request: Request, next: Next) -> Response {
    let auth = &shared.config.console;
    match auth.check(request.headers()) {
        Ok(_) => next.run(request).await,
        Err(denied) => {
            let (status, text) = match denied {
                auth::Denied::NotConfigured => (
                    StatusCode::UNAUTHORIZED,
                    "the console is closed: no console authentication is configured \
                     (--console-token-file, --console-user with --console-password-file, \
                     or --console-auth-header)"
                        .to_owned(),
                ),
                auth::Denied::Unauthenticated => (
                    StatusCode::UNAUTHORIZED,
                    "console credentials required".to_owned(),
                ),
                auth::Denied::NotAllowed(user) => (
                    StatusCode::FORBIDDEN,
                    format!("{user} is not on the console's allow-list"),
                ),
                auth::Denied::Broken(why) => {
                    tracing::error!(error = %why, "console authentication cannot be checked");
                    (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "console authentication cannot be checked; see the server log".to_owned(),
                    )
                }
            };
            let mut response = (status, format!("{text}\n")).into_response();
            if status == StatusCode::UNAUTHORIZED
                && let Ok(v) = HeaderValue::from_str(auth.challenge())
            {
                response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
            response
        }
    }
}

/// Strict security headers on every response: nothing may frame the
/// console, no inline script or style runs, nothing is fetched from
/// elsewhere, and pages with fleet data are not cached.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let is_static = request.uri().path().starts_with("/static/");
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, name: header::HeaderName, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::REFERRER_POLICY, "no-referrer");
    set(
        h,
        header::HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    );
    set(
        h,
        header::HeaderName::from_static("cross-origin-resource-policy"),
        "same-origin",
    );
    set(
        h,
        header::HeaderName::from_static("permissions-policy"),
        "camera=(), microphone=(), geolocation=(), interest-cohort=()",
    );
    if is_static {
        set(h, header::CACHE_CONTROL, "public, max-age=3600");
    } else if !h.contains_key(header::CACHE_CONTROL) {
        set(h, header::CACHE_CONTROL, "no-store");
    }
    response
}

async fn css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        templates::CSS,
    )
        .into_response()
}

async fn js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        templates::JS,
    )
        .into_response()
}

async fn favicon() -> Response {
    (
        [(header::CONTENT_TYPE, "image/svg+xml")],
        templates::FAVICON,
    )
        .into_response()
}

/// The view of the last plan.
async fn view(shared: &Shared) -> Arc<View> {
    shared.console.read().await.clone()
}

/// A page as HTML or as its JSON twin.
fn respond<T: Serialize>(
    format: Format,
    template: &str,
    title: &str,
    nav: &str,
    view: &View,
    model: &T,
) -> Response {
    match format {
        Format::Json => axum::Json(model).into_response(),
        Format::Html => match templates::render(template, title, nav, view, model) {
            Ok(html) => {
                ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
            }
            Err(e) => {
                tracing::error!(error = %e, template, "rendering a console page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("rendering {template} failed: {e}\n"),
                )
                    .into_response()
            }
        },
    }
}

/// An error page (or JSON `{"error": ...}`) with its status.
fn problem(format: Format, status: StatusCode, message: &str, view: &View) -> Response {
    let mut response = match format {
        Format::Json => axum::Json(serde_json::json!({ "error": message })).into_response(),
        Format::Html => {
            let model = serde_json::json!({ "status": status.as_u16(), "message": message });
            respond(Format::Html, "error.html", "Error", "", view, &model)
        }
    };
    *response.status_mut() = status;
    response
}

fn bad_query(format: Format, e: &QueryError, view: &View) -> Response {
    problem(format, StatusCode::BAD_REQUEST, &e.to_string(), view)
}

fn internal(format: Format, e: &dyn std::fmt::Display, view: &View) -> Response {
    tracing::error!(error = %e, "console request failed");
    problem(
        format,
        StatusCode::INTERNAL_SERVER_ERROR,
        &format!("the server could not answer: {e}"),
        view,
    )
}

// ---------------------------------------------------------------------------------------------

/// A catalog source's freshness.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SourceRow {
    #[serde(flatten)]
    source: crate::server::SourceStatus,
    /// No success within two sync intervals (or ever).
    stale: bool,
}

/// The overview's model.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OverviewPage {
    computed_at: Option<jiff::Timestamp>,
    totals: view::Totals,
    /// Computers in the directory without an agent; `None`: no directory is configured.
    unmanaged: Option<usize>,
    applied: Option<crate::server::RevisionStatus>,
    /// A newer revision that was rejected, with its diagnostics.
    rejected: Option<crate::server::RevisionStatus>,
    plan_error: Option<String>,
    rollouts: Vec<pages::RolloutView>,
    catalog: Vec<SourceRow>,
    severity: Vec<pages::MissingRow>,
    staging: crate::server::StagingStatus,
}

/// The overview of `v`, with the server's status and the catalog's sources
/// (and each source's sync interval, to tell a stale one). Pure.
pub fn overview_page(
    v: &View,
    status: &crate::server::Status,
    sources: Vec<crate::store::SourceState>,
    intervals: &HashMap<String, jiff::SignedDuration>,
    now: jiff::Timestamp,
) -> OverviewPage {
    let catalog = sources
        .into_iter()
        .map(|s| {
            let interval = intervals
                .get(&s.name)
                .copied()
                .unwrap_or(jiff::SignedDuration::from_hours(6));
            let stale = s.last_success_at.is_none_or(|t| {
                now.duration_since(t) > interval.checked_mul(2).unwrap_or(interval)
            });
            SourceRow {
                source: s.into(),
                stale,
            }
        })
        .collect();
    // A rejected revision is shown while it is the newest attempt.
    let rejected = status.last_attempted.clone().filter(|a| a.errors > 0);
    OverviewPage {
        computed_at: status.plan.as_ref().and_then(|p| p.computed_at),
        totals: v.totals.clone(),
        unmanaged: v
            .directory
            .configured
            .then_some(v.directory.unmanaged.len()),
        applied: status.last_applied.clone(),
        rejected,
        plan_error: status.error.clone(),
        rollouts: pages::rollouts(v),
        catalog,
        severity: pages::by_severity(v),
        staging: status.staging.clone(),
    }
}

async fn overview(State(shared): S, _q: Q, format: Format) -> Response {
    let v = view(&shared).await;
    let status = shared.status.read().await.clone();
    let sources = match shared.store.sources().await {
        Ok(s) => s,
        Err(e) => return internal(format, &e, &v),
    };
    let intervals: HashMap<String, jiff::SignedDuration> = shared
        .good
        .read()
        .await
        .as_ref()
        .and_then(|(_, set)| set.settings.first().cloned())
        .map(|s| {
            s.spec
                .catalog
                .sources
                .iter()
                .map(|c| (c.name.clone(), c.interval.to_signed_duration()))
                .collect()
        })
        .unwrap_or_default();
    let model = overview_page(&v, &status, sources, &intervals, jiff::Timestamp::now());
    respond(format, "overview.html", "Overview", "overview", &v, &model)
}

async fn drift(State(shared): S, Query(q): Q, format: Format) -> Response {
    let v = view(&shared).await;
    match pages::drift(&v, &q) {
        Ok(model) => respond(format, "drift.html", "Drift", "drift", &v, &model),
        Err(e) => bad_query(format, &e, &v),
    }
}

/// Writes CSV records into a buffer (the `csv` crate quotes what needs it).
fn csv_bytes<I, R>(records: I) -> Result<Vec<u8>, csv::Error>
where
    I: IntoIterator<Item = R>,
    R: IntoIterator,
    R::Item: AsRef<[u8]>,
{
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in records {
        w.write_record(r)?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

fn csv_response(name: &str, body: Body) -> Response {
    let disposition = format!("attachment; filename=\"{name}\"");
    let mut response = ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response();
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

/// Every drift pair the filters select, streamed in chunks of 5,000 rows
/// written by a blocking task: the whole listing of an unpatched fleet of
/// 100,000 machines (millions of rows) is never in memory at once, and a
/// client that goes away stops the writing.
async fn drift_csv(State(shared): S, Query(mut q): Q) -> Response {
    const CHUNK: usize = 5_000;
    let v = view(&shared).await;
    q.remove("page");
    q.remove("per");
    if let Err(e) = pages::DriftQuery::new(&v, &q) {
        return bad_query(Format::Json, &e, &v);
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        let Ok(query) = pages::DriftQuery::new(&v, &q) else {
            return;
        };
        let header = csv_bytes([pages::PAIR_CSV_HEADER]).map_err(std::io::Error::other);
        if tx.blocking_send(header).is_err() {
            return;
        }
        let mut offset = 0;
        while offset < query.total {
            let pairs = query.pairs(offset, CHUNK);
            if pairs.is_empty() {
                break;
            }
            offset += pairs.len();
            let chunk =
                csv_bytes(pages::drift_rows(&v, &pairs).map(|r| pages::pair_csv_record(&r)))
                    .map_err(std::io::Error::other);
            if tx.blocking_send(chunk).is_err() {
                return;
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    csv_response("drift.csv", Body::from_stream(stream))
}

async fn machines(State(shared): S, Query(q): Q, format: Format) -> Response {
    let v = view(&shared).await;
    match pages::machines(&v, &q) {
        Ok(model) => respond(format, "machines.html", "Machines", "machines", &v, &model),
        Err(e) => bad_query(format, &e, &v),
    }
}

async fn machines_csv(State(shared): S, Query(mut q): Q) -> Response {
    let v = view(&shared).await;
    q.remove("page");
    q.insert("per".into(), pages::MAX_PER_PAGE.to_string());
    let mut records: Vec<Vec<String>> = vec![
        [
            "machine",
            "hostname",
            "os",
            "ring",
            "groups",
            "standing",
            "stale",
            "drift",
            "overdue",
            "last_check_in",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    let mut page = 1;
    loop {
        q.insert("page".into(), page.to_string());
        let model = match pages::machines(&v, &q) {
            Ok(m) => m,
            Err(e) => return bad_query(Format::Json, &e, &v),
        };
        records.extend(model.rows.iter().map(|m| {
            vec![
                m.id.clone(),
                m.hostname.clone(),
                m.os.clone(),
                m.ring.clone().unwrap_or_default(),
                m.groups.join(" "),
                m.standing.to_owned(),
                m.stale.to_string(),
                m.drift.to_string(),
                m.overdue.to_string(),
                m.last_check_in.map(|t| t.to_string()).unwrap_or_default(),
            ]
        }));
        if page >= model.paging.pages {
            break;
        }
        page += 1;
    }
    match csv_bytes(records) {
        Ok(bytes) => csv_response("machines.csv", Body::from(bytes)),
        Err(e) => internal(Format::Json, &e, &v),
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct MachineDetail {
    #[serde(flatten)]
    page: pages::MachinePage,
    check_ins: Vec<crate::store::CheckIn>,
    results: Vec<crate::store::ResultRecord>,
}

async fn machine(State(shared): S, Path(id): Path<String>, format: Format) -> Response {
    let v = view(&shared).await;
    let Some(page) = pages::machine(&v, &id) else {
        return problem(
            format,
            StatusCode::NOT_FOUND,
            &format!("no machine {id} in the plan"),
            &v,
        );
    };
    let (check_ins, results) = match shared.store.machine_history(&id, 50).await {
        Ok(h) => h,
        Err(e) => return internal(format, &e, &v),
    };
    let title = page.machine.hostname.clone();
    let model = MachineDetail {
        page,
        check_ins,
        results,
    };
    respond(format, "machine.html", &title, "machines", &v, &model)
}

async fn patches(State(shared): S, Query(q): Q, format: Format) -> Response {
    let v = view(&shared).await;
    match pages::patches(&v, &q) {
        Ok(model) => respond(format, "patches.html", "Patches", "patches", &v, &model),
        Err(e) => bad_query(format, &e, &v),
    }
}

async fn patch(State(shared): S, Path(id): Path<String>, Query(q): Q, format: Format) -> Response {
    let v = view(&shared).await;
    let staging = shared.staging.as_ref();
    let staged = |sha: &str| staging.map(|s| s.contains(sha));
    match pages::patch(&v, &id, &q, &staged) {
        Ok(Some(model)) => {
            let title = model.patch.id.clone();
            respond(format, "patch.html", &title, "patches", &v, &model)
        }
        Ok(None) => problem(
            format,
            StatusCode::NOT_FOUND,
            &format!("no patch {id} applies to any machine of the plan"),
            &v,
        ),
        Err(e) => bad_query(format, &e, &v),
    }
}

async fn rollouts(State(shared): S, format: Format) -> Response {
    let v = view(&shared).await;
    let model = serde_json::json!({ "rollouts": pages::rollouts(&v) });
    respond(format, "rollouts.html", "Rollouts", "rollouts", &v, &model)
}

async fn exclusions(State(shared): S, format: Format) -> Response {
    let v = view(&shared).await;
    let model = serde_json::json!({ "exclusions": pages::exclusions(&v) });
    respond(
        format,
        "exclusions.html",
        "Exclusions",
        "exclusions",
        &v,
        &model,
    )
}

async fn trend(shared: &Shared) -> Result<Vec<pages::TrendPoint>, crate::store::StoreError> {
    let snapshots = shared.store.snapshots(500).await?;
    Ok(snapshots
        .into_iter()
        .map(|s| pages::TrendPoint {
            at: s.at,
            machines: usize::try_from(s.machines).unwrap_or(0),
            compliant: usize::try_from(s.compliant).unwrap_or(0),
            drifting: usize::try_from(s.drifting).unwrap_or(0),
            overdue: usize::try_from(s.overdue).unwrap_or(0),
            drift_pairs: usize::try_from(s.drift_pairs).unwrap_or(0),
        })
        .collect())
}

async fn reports(State(shared): S, format: Format) -> Response {
    let v = view(&shared).await;
    let points = match trend(&shared).await {
        Ok(t) => t,
        Err(e) => return internal(format, &e, &v),
    };
    let model = pages::reports(&v, points);
    respond(format, "reports.html", "Reports", "reports", &v, &model)
}

/// The names `/reports/NAME.csv` knows, for an error message.
fn report_names() -> String {
    pages::REPORTS
        .iter()
        .chain(&pages::DIRECTORY_REPORTS)
        .copied()
        .collect::<Vec<_>>()
        .join(", ")
}

async fn report_csv(State(shared): S, Path(file): Path<String>) -> Response {
    let v = view(&shared).await;
    let Some(name) = file.strip_suffix(".csv") else {
        return problem(
            Format::Json,
            StatusCode::NOT_FOUND,
            &format!(
                "reports download as CSV: /reports/NAME.csv, NAME one of {}",
                report_names()
            ),
            &v,
        );
    };
    // The directory's reports are whole listings of the view: no store read.
    if let Some(records) = pages::directory_csv(&v, name) {
        return match csv_bytes(records) {
            Ok(bytes) => csv_response(&file, Body::from(bytes)),
            Err(e) => internal(Format::Json, &e, &v),
        };
    }
    let points = match trend(&shared).await {
        Ok(t) => t,
        Err(e) => return internal(Format::Json, &e, &v),
    };
    let r = pages::reports(&v, points);
    match pages::report_csv(&r, name) {
        Some(records) => match csv_bytes(records) {
            Ok(bytes) => csv_response(&file, Body::from(bytes)),
            Err(e) => internal(Format::Json, &e, &v),
        },
        None => problem(
            Format::Json,
            StatusCode::NOT_FOUND,
            &format!("no report {name}: one of {}", report_names()),
            &v,
        ),
    }
}

/// The directory report, with each configured source's sync state as the
/// store has it now (the leader's syncs, seen by every replica).
async fn directory(State(shared): S, Query(q): Q, format: Format) -> Response {
    let v = view(&shared).await;
    let stored = match shared.store.directory_sources().await {
        Ok(s) => s,
        Err(e) => return internal(format, &e, &v),
    };
    // The sources of the last good policy: a source dropped from the
    // settings is no longer synced, though its last state stays stored.
    let configured: Vec<String> = shared
        .good
        .read()
        .await
        .as_ref()
        .and_then(|(_, set)| set.settings.first())
        .map(|s| {
            s.spec
                .directory
                .sources
                .iter()
                .map(|d| d.name.clone())
                .collect()
        })
        .unwrap_or_default();
    match pages::directory(&v, &configured, stored, &q) {
        Ok(model) => respond(
            format,
            "directory.html",
            "Directory",
            "directory",
            &v,
            &model,
        ),
        Err(e) => bad_query(format, &e, &v),
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AuditRow {
    revision: String,
    author: Option<String>,
    committed_at: Option<jiff::Timestamp>,
    attempted_at: jiff::Timestamp,
    applied: bool,
    diagnostics: Vec<String>,
    /// What applying it changed in the plan, when it was applied after another revision.
    changes: Option<serde_json::Value>,
}

async fn audit(State(shared): S, format: Format) -> Response {
    let v = view(&shared).await;
    let (revisions, changes) = match (
        shared.store.policy_revisions(200).await,
        shared.store.plan_changes(200).await,
    ) {
        (Ok(r), Ok(c)) => (r, c),
        (Err(e), _) | (_, Err(e)) => return internal(format, &e, &v),
    };
    let rows: Vec<AuditRow> = revisions
        .into_iter()
        .map(|r| {
            let diagnostics = serde_json::from_str::<Vec<serde_json::Value>>(&r.diagnostics)
                .unwrap_or_default()
                .iter()
                .map(diagnostic_line)
                .collect();
            AuditRow {
                changes: changes
                    .get(&r.revision)
                    .and_then(|c| serde_json::from_str(c).ok()),
                revision: r.revision,
                author: r.author,
                committed_at: r.committed_at,
                attempted_at: r.attempted_at,
                applied: r.applied,
                diagnostics,
            }
        })
        .collect();
    let model = serde_json::json!({ "revisions": rows });
    respond(format, "audit.html", "Audit", "audit", &v, &model)
}

/// A stored diagnostic as the line `fixpoint validate` prints.
fn diagnostic_line(d: &serde_json::Value) -> String {
    let s = |k: &str| {
        d.get(k)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let n = |k: &str| d.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0);
    let level = match s("level").as_str() {
        "" => "error".to_owned(),
        l => l.to_lowercase(),
    };
    format!(
        "{}:{}:{}: {level}: {}",
        s("file"),
        n("line"),
        n("column"),
        s("message")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::view::directory_tests::{directory_view, view_with};

    #[test]
    fn the_overview_counts_unmanaged_computers_only_with_directory_computers() {
        let status = crate::server::Status::default();
        let overview = |v: &View| overview_page(v, &status, Vec::new(), &HashMap::new(), v.now);
        assert_eq!(overview(&directory_view()).unmanaged, Some(3));
        assert_eq!(overview(&view_with(&[])).unmanaged, None);
    }
}
