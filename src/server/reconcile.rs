//! The reconcile loop: read and validate the policy, keep it when good, plan
//! the fleet with the last good revision, and hand the plan to the agent API
//! (instructions) and to staging (the files they will need).
//!
//! Passes run every `reconcile_interval` with ±10% jitter (so replicas and
//! servers that start together do not poll a git host in step), and at once
//! when something wakes the loop: a webhook delivery or a catalog import.
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use fixpoint_core::fleet::Fleet;
use fixpoint_core::plan;
use fixpoint_core::policy::{Diagnostic, Level};
use fixpoint_core::protocol::{self, StagingNeed};
use sha2::{Digest, Sha256};

use super::{Condition, Instructed, PlanSummary, RevisionStatus, Shared, Status};
use crate::source::PolicyFile;
use crate::store::PolicyRevision;

pub(super) async fn reconcile_loop(
    shared: Arc<Shared>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let started = Instant::now();
        set_reconciling(&shared, true).await;
        // At shutdown a pass in progress is abandoned: its plan would serve no one.
        tokio::select! {
            () = reconcile(&shared) => {}
            _ = stop.changed() => return,
        }
        set_reconciling(&shared, false).await;
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        shared
            .metrics
            .reconcile_micros
            .store(micros, Ordering::Relaxed);
        shared.metrics.reconciles.fetch_add(1, Ordering::Relaxed);
        tokio::select! {
            () = tokio::time::sleep(jittered(shared.config.reconcile_interval)) => {}
            () = shared.wake.notified() => {
                tracing::debug!("reconcile woken");
            }
            _ = stop.changed() => return,
        }
    }
}

/// `interval` moved by up to 10% either way, at random.
fn jittered(interval: Duration) -> Duration {
    let mut bytes = [0u8; 4];
    if getrandom::fill(&mut bytes).is_err() {
        return interval;
    }
    // A fraction in [-0.1, 0.1).
    let fraction = f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX) * 0.2 - 0.1;
    interval.mul_f64(1.0 + fraction)
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

/// A policy file as the leader stores it for the followers.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredFile {
    path: String,
    /// The bytes, base64: a file need not be UTF-8 to be reported on.
    content: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    problem: Option<String>,
}

fn encode_files(files: &[PolicyFile]) -> String {
    use base64::Engine as _;
    let stored: Vec<StoredFile> = files
        .iter()
        .map(|f| StoredFile {
            path: f.display.clone(),
            content: base64::engine::general_purpose::STANDARD.encode(&f.bytes),
            problem: f.problem.clone(),
        })
        .collect();
    serde_json::to_string(&stored).unwrap_or_else(|_| "[]".into())
}

fn decode_files(text: &str) -> anyhow::Result<Vec<PolicyFile>> {
    use base64::Engine as _;
    let stored: Vec<StoredFile> = serde_json::from_str(text)?;
    stored
        .into_iter()
        .map(|f| {
            Ok(PolicyFile {
                bytes: base64::engine::general_purpose::STANDARD
                    .decode(&f.content)
                    .with_context(|| format!("{}: stored content", f.path))?,
                display: f.path,
                problem: f.problem,
            })
        })
        .collect()
}

/// What a pass reads: a revision, its author and commit time, its files.
type Read = (
    String,
    Option<String>,
    Option<jiff::Timestamp>,
    Vec<PolicyFile>,
);

/// The leader reads the policy source: the git remote or the directory.
async fn read_source(shared: &Shared) -> Result<Read, String> {
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
    match fetched {
        Ok(Ok(read)) => Ok(read),
        Ok(Err(e)) => Err(format!("reading the policy: {e:#}")),
        Err(e) => Err(format!("reading the policy: {e}")),
    }
}

/// A follower reads what the leader stored: the latest attempted revision,
/// or with `applied_only` the latest applied one.
async fn read_stored(shared: &Shared, applied_only: bool) -> Result<Option<Read>, String> {
    let stored = shared
        .store
        .latest_policy_files(applied_only)
        .await
        .map_err(|e| format!("reading the leader's policy revision: {e}"))?;
    let Some(stored) = stored else {
        return Ok(None);
    };
    let files = decode_files(&stored.files).map_err(|e| {
        format!(
            "the stored files of revision {} are unreadable: {e:#}",
            stored.revision
        )
    })?;
    Ok(Some((
        stored.revision,
        stored.author,
        stored.committed_at,
        files,
    )))
}

/// One pass: read and validate the policy, keep it if good, plan.
///
/// The leader reads the policy source and records what it read; a follower
/// reads the leader's record from the database. Both then plan alike, so any
/// replica answers an agent as the leader would.
pub(super) async fn reconcile(shared: &Shared) {
    let now = jiff::Timestamp::now();
    let leading = shared.is_leader();
    let read = if leading {
        read_source(shared).await.map(Some)
    } else {
        read_stored(shared, false).await
    };
    let (revision, author, committed_at, files) = match read {
        Ok(Some(read)) => read,
        Ok(None) => {
            return failed(
                shared,
                "waiting for the leader to read the policy: no revision is stored yet".into(),
            )
            .await;
        }
        Err(why) => return failed(shared, why).await,
    };
    let changed = shared
        .status
        .read()
        .await
        .last_attempted
        .as_ref()
        .is_none_or(|a| a.revision != revision);
    // Only the leader records a revision, with the files followers will read.
    let encoded = (leading && changed).then(|| encode_files(&files));
    let checked = tokio::task::spawn_blocking(move || crate::source::check(&files, now)).await;
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
    if let Some(files) = encoded {
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
        match shared.store.record_policy_revision(&record, &files).await {
            Ok(()) => {
                shared.announce(super::leader::Announcement::Policy).await;
            }
            Err(e) => tracing::warn!(error = %e, "could not record the policy revision"),
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
    } else if !leading && shared.good.read().await.is_none() {
        // A follower that starts while the latest revision is bad plans the last good
        // one, as the leader does.
        if let Err(why) = adopt_applied(shared, now).await {
            return failed(shared, why).await;
        }
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
    let activity = match shared.store.activity().await {
        Ok(a) => a,
        Err(e) => return failed(shared, format!("loading check-in times: {e}")).await,
    };
    // The computers of the directory sources the policy configures (a source dropped
    // from the settings no longer counts, though its last sync stays stored).
    let sources: Vec<String> = set
        .settings()
        .directory
        .sources
        .iter()
        .map(|s| s.name.clone())
        .collect();
    let computers: Vec<crate::directory::DirectoryComputer> = if sources.is_empty() {
        Vec::new()
    } else {
        match shared.store.directory_computers().await {
            Ok(all) => all
                .into_iter()
                .filter(|(source, _)| sources.contains(source))
                .map(|(_, c)| c)
                .collect(),
            Err(e) => return failed(shared, format!("loading directory computers: {e}")).await,
        }
    };
    // The policy of the previous plan, when this plan is of another revision:
    // the audit trail records what the change did to the plan.
    let previous = shared
        .planned
        .read()
        .await
        .clone()
        .filter(|(r, _)| *r != good_revision);
    let interval =
        jiff::SignedDuration::from_secs(shared.agent_settings().await.check_in_interval.as_secs());
    let fleet_path = shared.config.fleet.clone();
    let horizon = jiff::SignedDuration::try_from(shared.config.staging.horizon)
        .unwrap_or(jiff::SignedDuration::MAX);
    let planned_set = Arc::clone(&set);
    let planned = tokio::task::spawn_blocking(move || -> anyhow::Result<Planned> {
        let mut fleet = match (&fleet_path, stored) {
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
        // OU and groups from the directory, for selectors and reports.
        for (id, facts) in crate::directory::facts_by_machine(&computers, fleet.machines()) {
            fleet
                .set_directory(&id, facts)
                .context("attaching directory facts")?;
        }
        let mut planner = plan::Planner::new(&set, &catalog);
        planner.evaluate_inventories(&fleet, planning_threads());
        let p = planner.plan(&fleet, now);
        let needs = protocol::files_to_stage(&p, &catalog, &fleet, horizon);
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
        let changes = previous.map(|(revision, before_set)| {
            let before = plan::compute(&before_set, &catalog, &fleet, now);
            let d = plan::diff::diff(&before, &p);
            serde_json::json!({ "from": revision, "diff": d }).to_string()
        });
        let activity = activity
            .into_iter()
            .map(|(id, (enrolled_at, last_check_in))| {
                (
                    id,
                    crate::console::view::Activity {
                        enrolled_at,
                        last_check_in,
                    },
                )
            })
            .collect();
        let view = crate::console::View::build(crate::console::view::Inputs {
            plan: &p,
            policy: &set,
            catalog: &catalog,
            fleet: &fleet,
            activity: &activity,
            interval,
            revision: &good_revision,
            planner: &planner,
            directory: &computers,
        });
        Ok(Planned {
            summary: PlanSummary {
                computed_at: Some(now),
                revision: good_revision,
                machines: p.machines.len(),
                compliance: p.compliance.clone(),
                catalog_patches: catalog.len(),
            },
            instructions,
            needs,
            view,
            changes,
        })
    })
    .await;
    match planned {
        Ok(Ok(planned)) => {
            let revision = planned.summary.revision.clone();
            *shared.instructions.write().await = planned.instructions;
            // The stager picks the new list up (a stager started later, by a new leader, too).
            shared.staging_needs.send_replace(Arc::new(planned.needs));
            // The audit and the trend are written once, by the leader.
            if leading {
                if let Some(changes) = &planned.changes
                    && let Err(e) = shared.store.record_plan_changes(&revision, changes).await
                {
                    tracing::warn!(error = %e, %revision, "could not record what the revision changed");
                }
                record_snapshot(shared, &planned.view).await;
            }
            *shared.console.write().await = Arc::new(planned.view);
            *shared.planned.write().await = Some((revision, planned_set));
            let mut status = shared.status.write().await;
            status.plan = Some(planned.summary);
            status.error = None;
        }
        Ok(Err(e)) => failed(shared, format!("{e:#}")).await,
        Err(e) => failed(shared, format!("planning: {e}")).await,
    }
}

/// Makes the latest applied revision the follower's last good one.
async fn adopt_applied(shared: &Shared, now: jiff::Timestamp) -> Result<(), String> {
    let Some((revision, _, _, files)) = read_stored(shared, true).await? else {
        return Ok(());
    };
    let checked = tokio::task::spawn_blocking(move || crate::source::check(&files, now))
        .await
        .map_err(|e| format!("validating the policy: {e}"))?;
    let errors = checked.count(Level::Error);
    if errors > 0 {
        // Valid when the leader applied it, an expiry may since have made it invalid:
        // the leader keeps planning it, so does this replica.
        tracing::warn!(%revision, errors, "the last applied revision no longer validates here");
    }
    let attempt = RevisionStatus {
        revision: revision.clone(),
        at: now,
        documents: checked.set.len(),
        errors,
        warnings: checked.count(Level::Warning),
        diagnostics: Vec::new(),
    };
    *shared.good.write().await = Some((revision, Arc::new(checked.set)));
    shared.status.write().await.last_applied = Some(attempt);
    Ok(())
}

/// Threads to evaluate new inventories on: the machine's cores, at most 8.
fn planning_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
}

/// What one plan gives the rest of the server.
struct Planned {
    summary: PlanSummary,
    instructions: Instructed,
    needs: Vec<StagingNeed>,
    view: crate::console::View,
    /// What the plan's revision changed, as JSON, when the previous plan was of another.
    changes: Option<String>,
}

/// How often the trend gets a snapshot while the figures stay the same.
const SNAPSHOT_EVERY: jiff::SignedDuration = jiff::SignedDuration::from_hours(1);

/// Stores the fleet's compliance for the trend report when it changed, and
/// at least hourly.
async fn record_snapshot(shared: &Shared, view: &crate::console::View) {
    let t = &view.totals;
    let figure = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    let snapshot = crate::store::Snapshot {
        at: view.now,
        machines: figure(t.machines),
        compliant: figure(t.compliant),
        drifting: figure(t.drifting),
        overdue: figure(t.overdue),
        drift_pairs: figure(t.drift_pairs),
    };
    let mut last = shared.last_snapshot.write().await;
    if last.is_none() {
        // After a restart, continue from what the store has.
        *last = match shared.store.snapshots(1).await {
            Ok(list) => list.last().copied(),
            Err(e) => {
                tracing::warn!(error = %e, "could not read the last compliance snapshot");
                return;
            }
        };
    }
    let due = last.is_none_or(|l| {
        (
            l.machines,
            l.compliant,
            l.drifting,
            l.overdue,
            l.drift_pairs,
        ) != (
            snapshot.machines,
            snapshot.compliant,
            snapshot.drifting,
            snapshot.overdue,
            snapshot.drift_pairs,
        ) || snapshot.at.duration_since(l.at) >= SNAPSHOT_EVERY
    });
    if !due {
        return;
    }
    match shared.store.record_snapshot(&snapshot).await {
        Ok(()) => *last = Some(snapshot),
        Err(e) => tracing::warn!(error = %e, "could not store a compliance snapshot"),
    }
}

pub(super) async fn failed(shared: &Shared, why: String) {
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
        // Kept as the loop sets it: a pass is still running when this is computed.
        status
            .conditions
            .iter()
            .find(|c| c.kind == "Reconciling")
            .cloned()
            .unwrap_or_else(|| reconciling(false, now)),
    ]
}

fn reconciling(running: bool, since: jiff::Timestamp) -> Condition {
    Condition {
        kind: "Reconciling",
        status: running,
        message: if running {
            "reading the policy and planning the fleet".into()
        } else {
            String::new()
        },
        since,
    }
}

/// Sets the `Reconciling` condition (adding it on the first pass).
async fn set_reconciling(shared: &Shared, running: bool) {
    let now = jiff::Timestamp::now();
    let mut status = shared.status.write().await;
    match status
        .conditions
        .iter_mut()
        .find(|c| c.kind == "Reconciling")
    {
        Some(c) if c.status != running => *c = reconciling(running, now),
        Some(_) => {}
        None => status.conditions.push(reconciling(running, now)),
    }
}
