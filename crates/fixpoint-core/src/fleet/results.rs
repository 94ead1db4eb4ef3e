//! What agents reported about installing patches: the evidence ring gates,
//! halts, error budgets, retries and drift are computed from.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::catalog::PatchId;

/// How one install attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    /// Installed and in effect.
    Succeeded,
    /// Installed, but the machine must restart before the fix is in effect.
    PendingReboot,
    /// The install failed; the patch is still missing.
    Failed,
}

/// One install attempt an agent reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InstallResult {
    /// The machine's id.
    pub machine: String,
    pub patch: PatchId,
    pub outcome: Outcome,
    /// When the attempt ended, as the agent reported it.
    pub at: Timestamp,
    /// The error the package manager gave, for a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The reported history of one patch on one machine, oldest first.
#[derive(Debug, Clone, Copy)]
pub struct History<'f> {
    results: &'f [InstallResult],
}

impl<'f> History<'f> {
    pub(super) fn new(results: &'f [InstallResult]) -> History<'f> {
        History { results }
    }

    /// The most recent report, if any.
    pub fn latest(&self) -> Option<&'f InstallResult> {
        self.results.last()
    }

    /// Failures since the last success (all failures if it never succeeded).
    pub fn failures_in_a_row(&self) -> usize {
        self.results
            .iter()
            .rev()
            .take_while(|r| r.outcome == Outcome::Failed)
            .count()
    }

    /// When the current run of failures began: the first failure after the
    /// last success; `None` when the latest report is not a failure.
    pub fn failing_since(&self) -> Option<Timestamp> {
        self.results
            .iter()
            .rev()
            .take_while(|r| r.outcome == Outcome::Failed)
            .last()
            .map(|r| r.at)
    }

    /// When it last succeeded (or was installed pending a reboot).
    pub fn last_success(&self) -> Option<Timestamp> {
        self.results
            .iter()
            .rev()
            .find(|r| r.outcome != Outcome::Failed)
            .map(|r| r.at)
    }

    pub fn is_empty(&self) -> bool {
        self.results.is_empty()
    }
}
