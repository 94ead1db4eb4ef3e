//! The stager: keeps the staging store holding what the plan needs.
//!
//! Each reconcile publishes the files its plan needs
//! ([`files_to_stage`](fixpoint_core::protocol::files_to_stage): instructed
//! installs, and rings that open within the horizon). A pass downloads the
//! missing ones, soonest needed first, with bounded concurrency and the
//! store's bandwidth limit, through the policy's proxy; then removes files
//! that neither the plan nor any instruction refers to once they are older
//! than the retention period.
//!
//! A failed download (vendor unreachable, disk full, wrong hash) is reported
//! in `/api/v1/status` and the metrics and tried again on a later pass; the
//! store guarantees it leaves nothing half-written where agents read.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use fixpoint_core::protocol::{Action, StagingNeed};

use super::{Shared, StagingFailure};
use crate::staging::FetchItem;

/// Downloads started in one pass; the rest wait for the next, so a huge
/// backlog does not delay a new plan's urgent files for hours.
const BATCH: usize = 256;
/// A stalled transfer fails after this long without a byte, and is resumed later.
const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// A download that failed for a reason time will not mend (a wrong hash or
/// size, a 404) is tried again after this long: the vendor may fix the file,
/// a later catalog sync the metadata.
const PERMANENT_RETRY: Duration = Duration::from_secs(3600);
/// Failures listed in the status.
const LISTED_FAILURES: usize = 20;

pub(super) async fn stager_loop(
    shared: Arc<Shared>,
    mut needs: tokio::sync::watch::Receiver<Arc<Vec<StagingNeed>>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let Some(store) = shared.staging.clone() else {
        return;
    };
    let mut failed = HashMap::new();
    loop {
        let current = Arc::clone(&needs.borrow_and_update());
        let complete = tokio::select! {
            complete = pass(&shared, &store, &current, &mut failed) => complete,
            _ = stop.changed() => return,
        };
        // A pass that left work undone (failures, or more than a batch) runs
        // again after `retry`; otherwise the next plan starts one.
        let wait = if complete {
            Duration::MAX
        } else {
            shared.config.staging.retry
        };
        tokio::select! {
            changed = needs.changed() => if changed.is_err() { return },
            () = sleep(wait) => {}
            _ = stop.changed() => return,
        }
    }
}

async fn sleep(d: Duration) {
    if d == Duration::MAX {
        std::future::pending::<()>().await;
    }
    tokio::time::sleep(d).await;
}

/// A file whose download failed, and when it may be tried again.
struct Failed {
    failure: StagingFailure,
    retry_at: Instant,
}

/// One pass; `true` when every needed file is staged. `failed` carries the
/// failures from pass to pass: a transient one is tried again on the next
/// pass, one that needs the catalog to change (a wrong hash, a 404) only
/// after [`PERMANENT_RETRY`].
async fn pass(
    shared: &Shared,
    store: &crate::staging::Store,
    needs: &[StagingNeed],
    failed: &mut HashMap<String, Failed>,
) -> bool {
    let now = Instant::now();
    let missing: Vec<&StagingNeed> = needs
        .iter()
        .filter(|n| !store.contains(&n.sha256))
        .filter(|n| failed.get(&n.sha256).is_none_or(|f| f.retry_at <= now))
        .collect();
    let mut downloaded = 0u64;
    if !missing.is_empty() {
        let proxy = shared
            .good
            .read()
            .await
            .as_ref()
            .and_then(|(_, set)| set.settings().proxy);
        match crate::staging::client(proxy.as_ref(), READ_TIMEOUT) {
            Ok(client) => {
                let items: Vec<FetchItem> = missing
                    .iter()
                    .take(BATCH)
                    .map(|n| FetchItem {
                        url: n.url.clone(),
                        sha256: n.sha256.clone(),
                        size: n.size,
                    })
                    .collect();
                tracing::info!(
                    files = items.len(),
                    missing = missing.len(),
                    "staging: downloading"
                );
                let results = store
                    .fetch_all(&client, items, shared.config.staging.concurrency)
                    .await;
                for ((item, result), need) in results.into_iter().zip(&missing) {
                    match result {
                        Ok(staged) => {
                            downloaded += staged.downloaded;
                            failed.remove(&item.sha256);
                        }
                        Err(e) => {
                            tracing::warn!(url = %item.url, sha256 = %item.sha256, error = %e, "staging: download failed");
                            if let Ok(mut m) = shared.metrics.staging.lock() {
                                *m.failures.entry(e.metric_label()).or_default() += 1;
                            }
                            let transient = e.is_transient();
                            let wait = if transient {
                                shared.config.staging.retry
                            } else {
                                PERMANENT_RETRY
                            };
                            failed.insert(
                                item.sha256.clone(),
                                Failed {
                                    failure: StagingFailure {
                                        sha256: item.sha256,
                                        url: item.url,
                                        patch: need.patch.as_str().to_owned(),
                                        needed_by: need.needed_by,
                                        error: e.to_string(),
                                        transient,
                                    },
                                    retry_at: now + wait,
                                },
                            );
                        }
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "staging: cannot build the HTTP client"),
        }
    }

    // What is still referenced: the plan's needs and every file an instruction names.
    let mut referenced: HashSet<String> = needs.iter().map(|n| n.sha256.clone()).collect();
    for instructions in shared.instructions.read().await.values() {
        for item in &instructions.items {
            if let Action::Install { files, .. } = &item.action {
                referenced.extend(files.iter().map(|f| f.sha256.clone()));
            }
        }
    }
    let gc_store = store.clone();
    let retention = shared.config.staging.retention;
    let collected = tokio::task::spawn_blocking(move || {
        let collected = gc_store.gc(&referenced, retention, SystemTime::now());
        (collected, gc_store.bytes_used())
    })
    .await;
    let (collected_bytes, stored_bytes) = match collected {
        Ok((collected, used)) => (
            collected.map(|c| c.bytes_freed).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "staging: garbage collection");
                0
            }),
            used.unwrap_or(0),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "staging: garbage collection task");
            (0, 0)
        }
    };
    // Still missing after this pass; failures of files the plan no longer
    // needs, or that are staged by now, are forgotten.
    let wanted: HashSet<&str> = needs
        .iter()
        .filter(|n| !store.contains(&n.sha256))
        .map(|n| n.sha256.as_str())
        .collect();
    let staged = needs.len() - wanted.len();
    failed.retain(|sha, _| wanted.contains(sha.as_str()));
    let mut failures: Vec<StagingFailure> = failed.values().map(|f| f.failure.clone()).collect();
    failures.sort_by(|a, b| {
        a.needed_by
            .cmp(&b.needed_by)
            .then_with(|| a.sha256.cmp(&b.sha256))
    });
    if let Ok(mut m) = shared.metrics.staging.lock() {
        m.downloaded_bytes += downloaded;
        m.collected_bytes += collected_bytes;
        m.stored_bytes = stored_bytes;
        m.wanted = needs.len();
        m.missing = needs.len() - staged;
    }
    {
        let mut status = shared.status.write().await;
        failures.truncate(LISTED_FAILURES);
        status.staging = super::StagingStatus {
            last_pass: Some(jiff::Timestamp::now()),
            wanted: needs.len(),
            staged,
            stored_bytes,
            failures,
        };
    }
    staged == needs.len()
}
