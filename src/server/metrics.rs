//! `/metrics`: the Prometheus text exposition format, written by hand — a few
//! dozen gauges and counters do not need a metrics framework.
//!
//! Labels are bounded: rings and catalog sources come from the policy,
//! severities and error kinds are fixed sets; nothing is labelled per machine.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::Status;

/// Counters and gauges that are not part of [`Status`].
#[derive(Debug, Default)]
pub(super) struct Metrics {
    pub reconciles: AtomicU64,
    pub reconcile_failures: AtomicU64,
    pub invalid_revisions: AtomicU64,
    /// Of the last pass, in microseconds.
    pub reconcile_micros: AtomicU64,
    pub check_ins: AtomicU64,
    /// Install results stored (duplicates not counted).
    pub results: AtomicU64,
    /// Requests answered 503 because the server was at its limit.
    pub shed: AtomicU64,
    /// Webhook deliveries that triggered a fetch, and those refused.
    pub webhooks: AtomicU64,
    pub webhooks_refused: AtomicU64,
    /// Whether this replica leads (0 or 1), and how often it became the leader.
    pub leader: AtomicU64,
    pub leader_changes: AtomicU64,
    /// The last sync of each catalog source.
    pub syncs: Mutex<BTreeMap<String, SyncMetric>>,
    pub staging: Mutex<StagingMetrics>,
}

#[derive(Debug, Default, Clone)]
pub(super) struct SyncMetric {
    pub seconds: f64,
    pub failures: u64,
    pub runs: u64,
    /// Whether the last run succeeded (imported or unchanged).
    pub ok: bool,
}

#[derive(Debug, Default, Clone)]
pub(super) struct StagingMetrics {
    /// Bytes downloaded from vendors since start.
    pub downloaded_bytes: u64,
    /// Bytes of complete files in the store, at the last pass.
    pub stored_bytes: u64,
    /// Files the plan wants staged, and how many of them are not (yet).
    pub wanted: usize,
    pub missing: usize,
    /// Failed downloads by kind (`StagingError::metric_label`).
    pub failures: BTreeMap<&'static str, u64>,
    pub collected_bytes: u64,
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn counter(out: &mut String, name: &str, help: &str, value: &AtomicU64) {
    family(out, name, "counter", help);
    let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
}

pub(super) fn render(status: &Status, m: &Metrics) -> String {
    let mut out = String::new();
    let o = &mut out;
    family(
        o,
        "fixpoint_leader",
        "gauge",
        "1 while this replica runs the singleton work (policy source, catalog sync, staging).",
    );
    let _ = writeln!(o, "fixpoint_leader {}", m.leader.load(Ordering::Relaxed));
    counter(
        o,
        "fixpoint_leader_changes_total",
        "Times this replica became the leader.",
        &m.leader_changes,
    );
    counter(
        o,
        "fixpoint_reconciles_total",
        "Reconcile passes run.",
        &m.reconciles,
    );
    counter(
        o,
        "fixpoint_reconcile_failures_total",
        "Reconcile passes that could not plan (catalog or fleet unreadable).",
        &m.reconcile_failures,
    );
    counter(
        o,
        "fixpoint_policy_invalid_revisions_total",
        "Policy revisions rejected because they had errors.",
        &m.invalid_revisions,
    );
    counter(
        o,
        "fixpoint_check_ins_total",
        "Agent check-ins recorded (facts and inventory stored).",
        &m.check_ins,
    );
    counter(
        o,
        "fixpoint_results_total",
        "Install results stored from agent reports (a replayed result is not counted again).",
        &m.results,
    );
    counter(
        o,
        "fixpoint_requests_shed_total",
        "Agent requests answered 503 with Retry-After because the server was at its limit.",
        &m.shed,
    );
    counter(
        o,
        "fixpoint_webhooks_total",
        "Webhook deliveries that triggered a policy fetch.",
        &m.webhooks,
    );
    counter(
        o,
        "fixpoint_webhooks_refused_total",
        "Webhook deliveries refused (bad signature or token).",
        &m.webhooks_refused,
    );
    family(
        o,
        "fixpoint_reconcile_duration_seconds",
        "gauge",
        "Duration of the last reconcile pass.",
    );
    #[allow(clippy::cast_precision_loss)]
    let seconds = m.reconcile_micros.load(Ordering::Relaxed) as f64 / 1e6;
    let _ = writeln!(o, "fixpoint_reconcile_duration_seconds {seconds}");
    family(
        o,
        "fixpoint_policy_stalled",
        "gauge",
        "1 when the last attempted policy revision was not applied.",
    );
    let stalled = status
        .conditions
        .iter()
        .any(|c| c.kind == "Stalled" && c.status);
    let _ = writeln!(o, "fixpoint_policy_stalled {}", u8::from(stalled));

    let syncs = m.syncs.lock().map(|s| s.clone()).unwrap_or_default();
    family(
        o,
        "fixpoint_catalog_sync_duration_seconds",
        "gauge",
        "Duration of the last sync of each catalog source.",
    );
    for (source, s) in &syncs {
        let _ = writeln!(
            o,
            "fixpoint_catalog_sync_duration_seconds{{source=\"{}\"}} {}",
            label(source),
            s.seconds
        );
    }
    family(
        o,
        "fixpoint_catalog_sync_success",
        "gauge",
        "1 when the last sync of the source succeeded (imported or unchanged).",
    );
    for (source, s) in &syncs {
        let _ = writeln!(
            o,
            "fixpoint_catalog_sync_success{{source=\"{}\"}} {}",
            label(source),
            u8::from(s.ok)
        );
    }
    family(
        o,
        "fixpoint_catalog_sync_failures_total",
        "counter",
        "Failed syncs of each catalog source since start.",
    );
    for (source, s) in &syncs {
        let _ = writeln!(
            o,
            "fixpoint_catalog_sync_failures_total{{source=\"{}\"}} {}",
            label(source),
            s.failures
        );
    }

    let staging = m.staging.lock().map(|s| s.clone()).unwrap_or_default();
    family(
        o,
        "fixpoint_staging_stored_bytes",
        "gauge",
        "Bytes of verified patch files in the staging store.",
    );
    let _ = writeln!(o, "fixpoint_staging_stored_bytes {}", staging.stored_bytes);
    family(
        o,
        "fixpoint_staging_downloaded_bytes_total",
        "counter",
        "Bytes downloaded from vendors into the staging store.",
    );
    let _ = writeln!(
        o,
        "fixpoint_staging_downloaded_bytes_total {}",
        staging.downloaded_bytes
    );
    family(
        o,
        "fixpoint_staging_collected_bytes_total",
        "counter",
        "Bytes of unreferenced files removed after the retention period.",
    );
    let _ = writeln!(
        o,
        "fixpoint_staging_collected_bytes_total {}",
        staging.collected_bytes
    );
    family(
        o,
        "fixpoint_staging_files",
        "gauge",
        "Files the plan needs staged; state=\"missing\" for those not staged yet.",
    );
    let _ = writeln!(
        o,
        "fixpoint_staging_files{{state=\"wanted\"}} {}",
        staging.wanted
    );
    let _ = writeln!(
        o,
        "fixpoint_staging_files{{state=\"missing\"}} {}",
        staging.missing
    );
    family(
        o,
        "fixpoint_staging_failures_total",
        "counter",
        "Failed downloads into the staging store, by kind.",
    );
    for (kind, n) in &staging.failures {
        let _ = writeln!(o, "fixpoint_staging_failures_total{{kind=\"{kind}\"}} {n}");
    }

    family(
        o,
        "fixpoint_fleet_machines",
        "gauge",
        "Machines in the last plan.",
    );
    family(
        o,
        "fixpoint_machines_compliant",
        "gauge",
        "Compliant machines in the last plan, by rollout/ring.",
    );
    family(
        o,
        "fixpoint_machines",
        "gauge",
        "Machines in the last plan, by rollout/ring.",
    );
    family(
        o,
        "fixpoint_missing_patches",
        "gauge",
        "Missing approved machine-patch pairs, by severity; overdue=\"true\" past their deadline.",
    );
    if let Some(p) = &status.plan {
        let _ = writeln!(o, "fixpoint_fleet_machines {}", p.machines);
        for (ring, t) in &p.compliance.by_ring {
            let ring = label(ring);
            let _ = writeln!(
                o,
                "fixpoint_machines_compliant{{ring=\"{ring}\"}} {}",
                t.compliant
            );
            let _ = writeln!(o, "fixpoint_machines{{ring=\"{ring}\"}} {}", t.total);
        }
        for (severity, missing) in &p.compliance.by_severity {
            let s = severity.name();
            let _ = writeln!(
                o,
                "fixpoint_missing_patches{{severity=\"{s}\",overdue=\"false\"}} {}",
                missing.missing - missing.overdue
            );
            let _ = writeln!(
                o,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn every_sample_belongs_to_a_declared_family() {
        let m = Metrics::default();
        m.syncs.lock().expect("lock").insert(
            "debian \"security\"".into(),
            SyncMetric {
                seconds: 0.5,
                failures: 2,
                runs: 3,
                ok: false,
            },
        );
        m.staging
            .lock()
            .expect("lock")
            .failures
            .insert("hash_mismatch", 1);
        let text = render(&Status::default(), &m);
        let declared: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        for sample in text.lines().filter(|l| !l.starts_with('#')) {
            let name = sample
                .split(['{', ' '])
                .next()
                .expect("a sample has a name");
            assert!(declared.contains(&name), "{sample} has no # TYPE");
        }
        assert!(text.contains(
            "fixpoint_catalog_sync_failures_total{source=\"debian \\\"security\\\"\"} 2\n"
        ));
        assert!(text.contains("fixpoint_staging_failures_total{kind=\"hash_mismatch\"} 1\n"));
    }
}
