//! Which replica does the singleton work.
//!
//! Every replica serves agents and the console, and plans the fleet itself
//! from what is in the database. One replica at a time, the leader, also does
//! what must happen once: reading the policy source (and recording each
//! revision with its files, which the others then read from the database),
//! syncing the catalog, staging binaries, and writing the compliance trend and
//! the audit of plan changes.
//!
//! - **SQLite**: one server; it always leads.
//! - **PostgreSQL**: the leader is the replica that holds a session-level
//!   advisory lock ([`LOCK_KEY`]) on a connection of its own. No coordination
//!   service is needed: when the leader dies, even by `kill -9`, its
//!   connection closes, PostgreSQL releases the lock, and the first follower
//!   to try again (every [`CAMPAIGN_EVERY`]) takes over. The leader checks
//!   its connection every [`CHECK_EVERY`] and, when the check fails, stops
//!   the singleton work at once (aborting it: a catalog import in flight
//!   rolls back) before it tries to lead again.
//!
//! Replicas tell each other what happened through PostgreSQL's `NOTIFY` on
//! [`CHANNEL`]: the leader announces a new policy revision or catalog import,
//! so followers plan again at once; a follower that receives a webhook
//! delivery passes it on, so the leader reads the policy at once.
//!
//! A limit, stated plainly: the lock holds as long as PostgreSQL considers
//! the leader's session alive. A leader cut off from the database (rather
//! than dead) stops its work within [`CHECK_EVERY`] plus the check's timeout,
//! while PostgreSQL may free the lock sooner only if it notices the broken
//! connection sooner, which for a silent network partition takes its TCP
//! keepalive time (two hours by default; set `tcp_keepalives_idle` lower to
//! take over faster after a partition).

use std::sync::Arc;
use std::time::Duration;

use sqlx::Connection;
use tokio::sync::watch;

use super::Shared;

/// The advisory lock's key: "fixpoint" in ASCII, as a big-endian integer.
pub const LOCK_KEY: i64 = 0x6669_7870_6f69_6e74;
/// The `LISTEN`/`NOTIFY` channel replicas talk on.
pub const CHANNEL: &str = "fixpoint";
/// How often a follower tries to take the lock.
pub const CAMPAIGN_EVERY: Duration = Duration::from_secs(2);
/// How often the leader checks the connection that holds the lock.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);
/// How long that check may take before the leader steps down.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the singleton work has to stop at shutdown before it is aborted.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// What one replica tells the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Announcement {
    /// The leader recorded a new policy revision: plan again.
    Policy,
    /// The leader imported catalog advisories: plan again.
    Catalog,
    /// A follower received a webhook delivery: the leader reads the policy.
    Webhook,
    /// The leader stored a directory sync that changed computers: plan again.
    Directory,
}

impl Announcement {
    fn payload(self) -> &'static str {
        match self {
            Announcement::Policy => "policy",
            Announcement::Catalog => "catalog",
            Announcement::Webhook => "webhook",
            Announcement::Directory => "directory",
        }
    }

    fn from_payload(payload: &str) -> Option<Announcement> {
        match payload {
            "policy" => Some(Announcement::Policy),
            "catalog" => Some(Announcement::Catalog),
            "webhook" => Some(Announcement::Webhook),
            "directory" => Some(Announcement::Directory),
            _ => None,
        }
    }
}

/// Starts the singleton work: the catalog sync loop and the stager, as the
/// configuration asks. They run until `stop` turns true.
pub(super) fn spawn_singletons(
    shared: &Arc<Shared>,
    stop: &watch::Receiver<bool>,
) -> tokio::task::JoinSet<()> {
    let mut work = tokio::task::JoinSet::new();
    if shared.config.catalog_sync {
        work.spawn(super::catalog_sync::sync_loop(
            Arc::clone(shared),
            stop.clone(),
        ));
    }
    work.spawn(super::directory_sync::sync_loop(
        Arc::clone(shared),
        stop.clone(),
    ));
    if shared.staging.is_some() {
        work.spawn(super::stager::stager_loop(
            Arc::clone(shared),
            shared.staging_needs.subscribe(),
            stop.clone(),
        ));
    }
    work
}

/// Sleeps `d`, or returns `true` at once when the server stops.
async fn sleep_or_stop(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        () = tokio::time::sleep(d) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}

/// Campaigns for the advisory lock and, while holding it, leads: sets
/// `leading`, runs the singleton work, and stops it when the lock's
/// connection fails or the server stops (releasing the lock then, so the
/// next leader need not wait).
pub(super) async fn campaign(
    shared: Arc<Shared>,
    leading: watch::Sender<bool>,
    mut stop: watch::Receiver<bool>,
) {
    let url = shared.store.database_url();
    'connect: loop {
        if *stop.borrow() {
            return;
        }
        let mut conn = match sqlx::postgres::PgConnection::connect(&url).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "leader election: cannot connect to PostgreSQL; retrying");
                if sleep_or_stop(CAMPAIGN_EVERY, &mut stop).await {
                    return;
                }
                continue;
            }
        };
        // Follow until the lock is ours.
        loop {
            let took = sqlx::query_scalar::<_, bool>("SELECT pg_try_advisory_lock($1)")
                .bind(LOCK_KEY)
                .fetch_one(&mut conn)
                .await;
            match took {
                Ok(true) => break,
                Ok(false) => {
                    if sleep_or_stop(CAMPAIGN_EVERY, &mut stop).await {
                        let _ = conn.close().await;
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "leader election: the lock query failed; reconnecting");
                    if sleep_or_stop(CAMPAIGN_EVERY, &mut stop).await {
                        return;
                    }
                    continue 'connect;
                }
            }
        }
        // Lead.
        tracing::info!(replica = %shared.replica, "leading: this replica runs the singleton work");
        shared
            .metrics
            .leader_changes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        leading.send_replace(true);
        let (work_stop, work_stop_rx) = watch::channel(false);
        let mut work = spawn_singletons(&shared, &work_stop_rx);
        // Read the policy source now rather than at the next interval.
        shared.wake.notify_one();
        let shutting_down = loop {
            if sleep_or_stop(CHECK_EVERY, &mut stop).await {
                break true;
            }
            let check =
                tokio::time::timeout(CHECK_TIMEOUT, sqlx::query("SELECT 1").execute(&mut conn))
                    .await;
            match check {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "stepping down: the connection holding the leader lock failed");
                    break false;
                }
                Err(_) => {
                    tracing::error!(
                        "stepping down: the connection holding the leader lock does not answer"
                    );
                    break false;
                }
            }
        };
        leading.send_replace(false);
        if shutting_down {
            let _ = work_stop.send(true);
            let stopped = tokio::time::timeout(STOP_TIMEOUT, async {
                while work.join_next().await.is_some() {}
            })
            .await;
            if stopped.is_err() {
                work.abort_all();
            }
            // Released explicitly, so the next leader takes over without waiting for the
            // connection to close.
            let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(LOCK_KEY)
                .execute(&mut conn)
                .await;
            let _ = conn.close().await;
            return;
        }
        // The lock may already be someone else's: stop now, mid-step if need be.
        work.abort_all();
        while work.join_next().await.is_some() {}
        drop(conn);
        if sleep_or_stop(CAMPAIGN_EVERY, &mut stop).await {
            return;
        }
    }
}

/// Listens on [`CHANNEL`] and wakes the reconcile loop when another replica
/// announces something this one should act on.
pub(super) async fn listen(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let url = shared.store.database_url();
    loop {
        let mut listener = match sqlx::postgres::PgListener::connect(&url).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for other replicas; retrying");
                if sleep_or_stop(CAMPAIGN_EVERY, &mut stop).await {
                    return;
                }
                continue;
            }
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            tracing::warn!(error = %e, "cannot listen for other replicas; retrying");
            if sleep_or_stop(CAMPAIGN_EVERY, &mut stop).await {
                return;
            }
            continue;
        }
        loop {
            let received = tokio::select! {
                r = listener.recv() => r,
                _ = stop.changed() => return,
            };
            match received {
                Ok(note) => {
                    let leading = shared.is_leader();
                    match Announcement::from_payload(note.payload()) {
                        Some(
                            Announcement::Policy | Announcement::Catalog | Announcement::Directory,
                        ) if !leading => {
                            shared.wake.notify_one();
                        }
                        Some(Announcement::Webhook) if leading => shared.wake.notify_one(),
                        _ => {}
                    }
                }
                Err(e) => {
                    // PgListener reconnects on the next call; what was sent meanwhile is
                    // missed, and the next pass on the interval catches up.
                    tracing::warn!(error = %e, "listening for other replicas");
                    if sleep_or_stop(Duration::from_secs(1), &mut stop).await {
                        return;
                    }
                    break;
                }
            }
        }
    }
}

impl Shared {
    /// Whether this replica leads (always, on SQLite).
    pub(crate) fn is_leader(&self) -> bool {
        *self.leading.borrow()
    }

    /// Tells the other replicas (none, on SQLite).
    pub(crate) async fn announce(&self, what: Announcement) {
        if self.store.backend() != crate::store::Backend::Postgres {
            return;
        }
        // Constant channel and payloads: NOTIFY takes no parameters.
        let sql = format!("NOTIFY {CHANNEL}, '{}'", what.payload());
        if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(self.store.pool())
            .await
        {
            tracing::warn!(error = %e, "could not notify the other replicas");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Announcement, LOCK_KEY};

    #[test]
    fn announcements_round_trip_and_unknown_payloads_are_ignored() {
        for a in [
            Announcement::Policy,
            Announcement::Catalog,
            Announcement::Webhook,
            Announcement::Directory,
        ] {
            assert_eq!(Announcement::from_payload(a.payload()), Some(a));
        }
        assert_eq!(Announcement::from_payload("reboot"), None);
    }

    #[test]
    fn the_lock_key_spells_fixpoint() {
        assert_eq!(LOCK_KEY.to_be_bytes(), *b"fixpoint");
    }
}
