//! Directory sync on each source's schedule (leader only): every [`TICK`] the
//! loop looks at the directory sources of the last good policy's `Settings`
//! and syncs those whose `interval` has passed since their last attempt, as
//! the store records it (so a restart or a new leader does not sync everything
//! again). A failed source keeps its computers and is tried again after
//! [`FAILURE_RETRY`] or its interval if shorter; its error shows in
//! `/api/v1/status` and on the console's directory report.
//!
//! A sync that changed a source's computers wakes the reconcile loop (and,
//! through NOTIFY, the followers'), so OU and group facts reach selectors at
//! once.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use fixpoint_core::policy::{DirectorySource, SettingsSpec};

use super::Shared;
use crate::directory::{self, DirectoryConfig, PasswordSource};

/// How often the schedule is looked at.
const TICK: Duration = Duration::from_secs(15);
/// A source whose last sync failed is tried again after this, or its interval if shorter.
const FAILURE_RETRY: jiff::SignedDuration = jiff::SignedDuration::from_mins(5);

/// The sync configuration of a `Settings` directory source.
pub(crate) fn config_of(source: &DirectorySource) -> DirectoryConfig {
    let password = match (&source.password_file, &source.password_env) {
        (Some(file), _) => PasswordSource::File(PathBuf::from(file)),
        (None, Some(var)) => PasswordSource::Env(var.clone()),
        // Validation refuses a source with neither; an empty variable name fails to read
        // with an error that names the source's settings.
        (None, None) => PasswordSource::Env(String::new()),
    };
    let mut config = DirectoryConfig::new(
        source.url.clone(),
        source.bind_dn.clone(),
        password,
        source.base_dn.clone(),
    );
    config.starttls = source.start_tls;
    config.ca_file = source.ca_file.as_ref().map(PathBuf::from);
    config.filter.clone_from(&source.filter);
    config.group_filter.clone_from(&source.group_filter);
    config.page_size = source.page_size;
    config.timeout =
        Duration::from_secs(u64::try_from(source.timeout.as_secs()).unwrap_or(30).max(1));
    config
}

pub(super) async fn sync_loop(shared: Arc<Shared>, mut stop: tokio::sync::watch::Receiver<bool>) {
    // The digest of each source's computers as last stored by this loop: a sync that
    // finds the same computers does not make the fleet be planned again.
    let mut stored: HashMap<String, u64> = HashMap::new();
    loop {
        let settings = shared
            .good
            .read()
            .await
            .as_ref()
            .map(|(_, set)| set.settings());
        let wait = if settings.is_some() {
            TICK
        } else {
            Duration::from_secs(1)
        };
        if let Some(settings) = settings {
            tokio::select! {
                () = pass(&shared, &settings, &mut stored) => {}
                _ = stop.changed() => return,
            }
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Whether `source` is due at `now`, by its stored state.
async fn due(shared: &Shared, source: &DirectorySource, now: jiff::Timestamp) -> bool {
    let states = match shared.store.directory_sources().await {
        Ok(states) => states,
        Err(e) => {
            tracing::warn!(error = %e, source = %source.name, "directory sync: reading the source's state");
            return false;
        }
    };
    let state = states.iter().find(|s| s.name == source.name);
    let last = state.and_then(|s| s.last_attempt_at);
    let failed = state.is_some_and(|s| s.last_error.is_some());
    let mut interval = jiff::SignedDuration::from_secs(source.interval.as_secs());
    if failed {
        interval = interval.min(FAILURE_RETRY);
    }
    // A source whose location changed (another server or base DN) is read again at once.
    let config = config_of(source);
    let moved = state.is_some_and(|s| s.location != location(&config));
    moved || last.is_none_or(|at| at.saturating_add(interval).is_ok_and(|next| next <= now))
}

/// How a source's location is recorded: its URL and base DN.
pub(crate) fn location(config: &DirectoryConfig) -> String {
    format!("{} {}", config.url, config.base_dn)
}

async fn pass(shared: &Shared, settings: &SettingsSpec, stored: &mut HashMap<String, u64>) {
    let mut changed = false;
    for source in &settings.directory.sources {
        let now = jiff::Timestamp::now();
        if !due(shared, source, now).await {
            continue;
        }
        let config = config_of(source);
        let started = std::time::Instant::now();
        match directory::sync_into_store(&shared.store, &source.name, &config, now).await {
            Ok(outcome) => {
                let mut hasher = std::collections::hash_map::DefaultHasher::new();
                serde_json::to_vec(&outcome.computers)
                    .unwrap_or_default()
                    .hash(&mut hasher);
                let digest = hasher.finish();
                changed |= stored.insert(source.name.clone(), digest) != Some(digest);
                tracing::info!(
                    source = %source.name,
                    computers = outcome.computers.len(),
                    groups = outcome.groups,
                    references_skipped = outcome.references_skipped,
                    seconds = started.elapsed().as_secs_f64(),
                    "directory sync"
                );
            }
            // Logged and recorded by `sync_into_store`; the previous computers stay.
            Err(directory::SyncIntoError::Directory(_)) => {}
            Err(e @ directory::SyncIntoError::Store(_)) => {
                tracing::warn!(source = %source.name, error = %e, "directory sync");
            }
        }
    }
    if changed {
        shared.wake.notify_one();
        shared
            .announce(super::leader::Announcement::Directory)
            .await;
    }
}
