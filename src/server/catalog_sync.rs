//! Catalog sync on each source's schedule: every [`TICK`] the loop looks at
//! the sources of the last good policy's `Settings` and syncs those whose
//! `interval` has passed since their last attempt (as the store records it,
//! so a restart does not sync everything again, and every replica sees the
//! same schedule). An import wakes the reconcile loop, so a new patch is
//! planned at once.
//!
//! Failures are the sync module's to contain: a failed source keeps its part
//! of the catalog and is tried again after its interval; it shows in
//! `/api/v1/status` (`catalog.sources[].lastError`) and in
//! `fixpoint_catalog_sync_success`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fixpoint_core::policy::SettingsSpec;

use super::Shared;
use super::metrics::SyncMetric;
use crate::sync::{self, FetchPolicy, Fetcher, Outcome, SyncOptions};

/// How often the schedule is looked at: the finest interval a source can usefully have.
const TICK: Duration = Duration::from_secs(15);
/// A source whose last sync failed is tried again after this, or its interval if shorter.
const FAILURE_RETRY: jiff::SignedDuration = jiff::SignedDuration::from_mins(5);

pub(super) async fn sync_loop(shared: Arc<Shared>, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        let settings = shared
            .good
            .read()
            .await
            .as_ref()
            .map(|(_, set)| set.settings());
        // Until the first policy is reconciled there is nothing to sync: look again soon.
        let wait = if settings.is_some() {
            TICK
        } else {
            Duration::from_secs(1)
        };
        if let Some(settings) = settings {
            tokio::select! {
                () = pass(&shared, &settings) => {}
                _ = stop.changed() => return,
            }
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
    }
}

/// The sources whose interval has passed since their last attempt.
async fn due(shared: &Shared, settings: &SettingsSpec, now: jiff::Timestamp) -> Vec<String> {
    let mut due = Vec::new();
    for source in &settings.catalog.sources {
        let state = match shared.store.source(&source.name).await {
            Ok(state) => state,
            Err(e) => {
                tracing::warn!(error = %e, source = %source.name, "catalog sync: reading the source's state");
                continue;
            }
        };
        let last = state.as_ref().and_then(|s| s.last_attempt_at);
        let failed = state
            .as_ref()
            .is_some_and(|s| s.last_error.is_some() && s.last_success_at < s.last_attempt_at);
        let mut interval = jiff::SignedDuration::from_secs(source.interval.as_secs());
        if failed {
            interval = interval.min(FAILURE_RETRY);
        }
        if last.is_none_or(|at| at.saturating_add(interval).is_ok_and(|next| next <= now)) {
            due.push(source.name.clone());
        }
    }
    due
}

async fn pass(shared: &Shared, settings: &SettingsSpec) {
    let now = jiff::Timestamp::now();
    let only = due(shared, settings, now).await;
    if only.is_empty() {
        return;
    }
    let fetcher = match Fetcher::new(settings.proxy.as_ref(), FetchPolicy::default()) {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(error = %e, "catalog sync: cannot build the HTTP client");
            return;
        }
    };
    let options = SyncOptions {
        allow_stale: false,
        only,
    };
    let started = Instant::now();
    let reports = sync::sync_all(settings, &shared.store, &fetcher, &options, now, |_| {}).await;
    let mut imported = false;
    if let Ok(mut syncs) = shared.metrics.syncs.lock() {
        for r in &reports {
            let entry = syncs
                .entry(r.name.clone())
                .or_insert_with(SyncMetric::default);
            #[allow(clippy::cast_precision_loss)]
            {
                entry.seconds = r.millis as f64 / 1000.0;
            }
            entry.runs += 1;
            entry.ok = !matches!(r.outcome, Outcome::Failed { .. });
            if !entry.ok {
                entry.failures += 1;
            }
            imported |= matches!(r.outcome, Outcome::Imported { .. });
        }
    }
    tracing::info!(
        sources = reports.len(),
        imported,
        seconds = started.elapsed().as_secs_f64(),
        "catalog sync pass"
    );
    if imported {
        shared.wake.notify_one();
        shared.announce(super::leader::Announcement::Catalog).await;
    }
}
