//! What [`compute`](fn@super::compute) returns: a state with its reason for every
//! machine and every patch that applies to it, the releases each ring is on,
//! and compliance.
//!
//! A plan borrows from its inputs (policy, catalog, fleet): names, reasons and
//! patch ids are references, so a plan for 100,000 machines holds no copies of
//! them. Machines with the same inventory, ring, window and exclusions share
//! one list of patch states.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;
use serde::Serialize;

use crate::catalog::PatchId;
use crate::policy::{Expiry, RebootMode};
use crate::rating::Severity;

/// The plan for a whole fleet at one instant.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan<'a> {
    /// The instant the plan was computed for.
    pub now: Timestamp,
    pub rollouts: Vec<RolloutPlan<'a>>,
    /// One entry a machine, in fleet order.
    pub machines: Vec<MachinePlan<'a>>,
    pub compliance: Compliance,
}

/// One rollout: its releases and where each ring stands.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutPlan<'a> {
    pub name: &'a str,
    /// Content-addressed releases, oldest first; each holds every patch of the
    /// one before it.
    pub releases: Vec<Release<'a>>,
    pub rings: Vec<RingPlan<'a>>,
    /// The rollout's pause, while it lasts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused: Option<PauseHold<'a>>,
}

/// An exact set of approved patches, named by its hash: `r-` and the first 12
/// hex digits of the SHA-256 of the sorted patch ids, one a line.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Release<'a> {
    pub id: String,
    /// When its newest patches were approved.
    pub cut: Timestamp,
    /// The patches approved at `cut`, new in this release.
    pub added: Vec<&'a PatchId>,
    /// How many patches it holds in all.
    pub size: usize,
}

/// Where one ring of a rollout stands.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RingPlan<'a> {
    pub name: &'a str,
    pub machines: usize,
    /// The index in [`RolloutPlan::releases`] of the release the ring is on;
    /// `None` before it receives its first.
    pub release: Option<usize>,
    /// Why the ring is not on the newest release, if it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<Hold<'a>>,
    /// Machines whose last attempt at some patch failed.
    pub failing: usize,
    /// The error budget, in machines, when the ring has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_budget: Option<usize>,
    /// How many machines may install at once, when limited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_concurrent: Option<usize>,
}

/// A rollout's pause.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PauseHold<'a> {
    pub rollout: &'a str,
    pub reason: &'a str,
    pub until: Timestamp,
}

/// One machine's plan.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MachinePlan<'a> {
    pub machine: String,
    /// The rollout and ring that take the machine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ring: Option<&'a str>,
    /// The release its ring is on: an index in its rollout's releases.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release: Option<usize>,
    /// Every patch that applies and is not simply installed, by patch id.
    /// Installed patches are not listed (they are most of an inventory's
    /// history); [`Planner::state`](super::Planner::state) answers for them.
    #[serde(serialize_with = "slice")]
    pub patches: Arc<[PatchPlan<'a>]>,
    /// Software rules the machine breaks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub software: Vec<SoftwareFinding<'a>>,
    /// No approved patch is past its deadline and no absent-software rule is broken.
    pub compliant: bool,
    /// When every approved patch it misses is expected to be installed; `None`
    /// when that depends on something no date is known for (a gate, an
    /// approval without a date, a failing install).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub projected_compliance: Option<Timestamp>,
}

/// One machine-patch pair.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PatchPlan<'a> {
    pub patch: &'a PatchId,
    pub severity: Severity,
    pub state: State<'a>,
    /// When the patch must be installed by, for an approved patch with a deadline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadline: Option<Timestamp>,
}

/// What should happen to one patch on one machine, and why.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase", tag = "state")]
pub enum State<'a> {
    /// The fix is installed.
    Installed,
    /// Installed, waiting for the machine to restart.
    #[serde(rename_all = "camelCase")]
    InstalledPendingReboot { since: Timestamp },
    /// The last attempt failed; it is retried at `retry`, unless `held`.
    /// (Boxed: failures are rare, and the other states stay small.)
    Failed(Box<Failure<'a>>),
    /// Approved and released to the machine's ring: installs in `slot`.
    #[serde(rename_all = "camelCase")]
    Scheduled { release: usize, slot: Slot },
    /// No rule approves it yet.
    #[serde(rename_all = "camelCase")]
    AwaitingApproval {
        /// When a rule will approve it; `None`: only an explicit approval can.
        until: Option<Timestamp>,
        /// The rule that matched (its position from 1, and its name), if one did.
        #[serde(skip_serializing_if = "Option::is_none")]
        rule: Option<(usize, Option<&'a str>)>,
    },
    /// Approved, but something holds it back. Machines held by the same
    /// thing share one `Hold`.
    #[serde(rename_all = "camelCase")]
    Held {
        #[serde(serialize_with = "shared")]
        hold: Arc<Hold<'a>>,
    },
    #[serde(rename_all = "camelCase")]
    Declined {
        reason: &'a str,
        ticket: Option<&'a str>,
    },
    /// Declined, yet present on the machine.
    #[serde(rename_all = "camelCase")]
    InstalledAlthoughDeclined { reason: &'a str },
    #[serde(rename_all = "camelCase")]
    Excluded {
        exclusion: &'a str,
        /// When it ends; `None`: no end.
        #[serde(serialize_with = "expiry")]
        until: Option<Expiry>,
    },
    /// Not needed: a newer patch that fixes the same packages is installed or planned.
    #[serde(rename_all = "camelCase")]
    Superseded { by: &'a PatchId },
    /// The patch does not apply to the machine.
    NotApplicable,
}

/// A failed install and what happens next.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure<'a> {
    /// Failures since the last success.
    pub attempts: usize,
    pub last_error: Option<String>,
    pub last_at: Timestamp,
    /// When it is tried again, unless `held`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry: Option<Slot>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "shared_opt")]
    pub held: Option<Arc<Hold<'a>>>,
}

/// When a machine installs: an opening of its maintenance window, or its
/// deadline when that comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Slot {
    /// When installing starts (the opening's start, or `now` in an opening in
    /// progress or with no window, or the deadline).
    pub start: Timestamp,
    /// When the opening closes; `None` without a window or when due by deadline.
    pub end: Option<Timestamp>,
    pub why: SlotReason,
    /// The concurrency batch (0: first), when the ring limits concurrency.
    pub batch: usize,
    pub reboot: RebootMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum SlotReason {
    /// The next opening of the rollout's maintenance window.
    Window,
    /// The rollout has no window: as soon as the agent checks in.
    NoWindow,
    /// The window never opens again (every opening is frozen) and there is no
    /// deadline: never, until the policy changes.
    NeverOpens,
    /// The deadline comes before the next opening: due then, regardless of windows.
    Deadline,
    /// Past its deadline: due now.
    Overdue,
}

/// What holds an approved patch back.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Hold<'a> {
    /// No rollout has a ring for this machine.
    NoRollout,
    /// The ring's delay has not passed since approval.
    #[serde(rename_all = "camelCase")]
    RingDelay {
        ring: &'a str,
        release: usize,
        until: Timestamp,
    },
    /// The previous ring has not yet met this ring's gate for the release.
    #[serde(rename_all = "camelCase")]
    Gate {
        ring: &'a str,
        previous: &'a str,
        release: usize,
        progress: GateProgress,
        /// When soak ends, if the rest of the gate is met.
        until: Option<Timestamp>,
    },
    /// Failures in the previous ring passed this ring's halt threshold.
    #[serde(rename_all = "camelCase")]
    Halted {
        ring: &'a str,
        previous: &'a str,
        release: usize,
        progress: GateProgress,
    },
    /// The ring's failures exceed its error budget: it installs nothing new.
    #[serde(rename_all = "camelCase")]
    ErrorBudget {
        ring: &'a str,
        failing: usize,
        budget: usize,
    },
    #[serde(rename_all = "camelCase")]
    Paused(PauseHold<'a>),
}

/// How the machines of a ring fared with a release.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GateProgress {
    /// Machines that installed every patch of the release they needed,
    /// reporting at least one success.
    pub succeeded: usize,
    /// Machines whose last attempt at one of its patches failed.
    pub failed: usize,
    /// Machines still missing one of its patches, without a failure.
    pub pending: usize,
    /// What the gate asks for.
    pub min_machines: usize,
    /// Per mille, so the figure stays exact and hashable.
    pub min_success_permille: Option<u32>,
}

/// A software rule a machine breaks.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum SoftwareFinding<'a> {
    /// Installed although an `absent` rule forbids it: to be removed.
    #[serde(rename_all = "camelCase")]
    Remove {
        policy: &'a str,
        package: String,
        version: String,
        reason: Option<&'a str>,
    },
    /// Required by a `present` rule but not installed.
    #[serde(rename_all = "camelCase")]
    Install {
        policy: &'a str,
        package: &'a str,
        reason: Option<&'a str>,
    },
}

/// Compliance, summarised.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Compliance {
    pub machines: Tally,
    /// By `rollout/ring`; machines no rollout takes under `(none)`.
    pub by_ring: BTreeMap<String, Tally>,
    /// By machine group (a machine counts in each group it is in).
    pub by_group: BTreeMap<String, Tally>,
    /// Missing approved machine-patch pairs, by the patch's severity.
    pub by_severity: BTreeMap<Severity, Missing>,
    /// Missing approved machine-patch pairs, by the patch's age (since
    /// release): `0-7d`, `8-30d`, `31-90d`, `>90d`, `undated`.
    pub by_age: BTreeMap<&'static str, Missing>,
}

/// Machines, and how many of them are compliant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tally {
    pub total: usize,
    pub compliant: usize,
}

/// Missing approved patches: all of them, and those past their deadline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Missing {
    pub missing: usize,
    pub overdue: usize,
}

impl State<'_> {
    /// A short name for the state, as the text rendering and metrics use it.
    pub fn name(&self) -> &'static str {
        match self {
            State::Installed => "installed",
            State::InstalledPendingReboot { .. } => "installed-pending-reboot",
            State::Failed(_) => "failed",
            State::Scheduled { .. } => "scheduled",
            State::AwaitingApproval { .. } => "awaiting-approval",
            State::Held { .. } => "held",
            State::Declined { .. } => "declined",
            State::InstalledAlthoughDeclined { .. } => "installed-although-declined",
            State::Excluded { .. } => "excluded",
            State::Superseded { .. } => "superseded",
            State::NotApplicable => "not-applicable",
        }
    }

    /// Whether the patch still has to be installed for the machine to be
    /// compliant once its deadline passes: approved, missing, not excused.
    pub fn is_required(&self) -> bool {
        matches!(
            self,
            State::Failed(_) | State::Scheduled { .. } | State::Held { .. }
        )
    }
}

impl<'a> Plan<'a> {
    /// The machine's plan, by id.
    pub fn machine(&self, id: &str) -> Option<&MachinePlan<'a>> {
        self.machines.iter().find(|m| m.machine == id)
    }
}

impl<'a> MachinePlan<'a> {
    /// The entry for one patch, if the patch applies and is not simply installed.
    pub fn patch(&self, id: &PatchId) -> Option<&PatchPlan<'a>> {
        self.patches
            .binary_search_by(|p| p.patch.cmp(id))
            .ok()
            .and_then(|i| self.patches.get(i))
    }
}

fn slice<S: serde::Serializer, T: Serialize>(items: &Arc<[T]>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(items.iter())
}

fn expiry<S: serde::Serializer>(until: &Option<Expiry>, s: S) -> Result<S::Ok, S::Error> {
    match until {
        Some(e) => s.collect_str(e),
        None => s.serialize_none(),
    }
}

fn shared<S: serde::Serializer, T: Serialize>(v: &Arc<T>, s: S) -> Result<S::Ok, S::Error> {
    T::serialize(v, s)
}

#[allow(clippy::ref_option)]
fn shared_opt<S: serde::Serializer, T: Serialize>(
    v: &Option<Arc<T>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_some(&**v),
        None => s.serialize_none(),
    }
}
