//! What changes between two plans of the same fleet: the preview a reviewer
//! reads on a pull request. Changes are grouped by patch and by the kind of
//! change, so a policy change that moves 10,000 machines is one line, not
//! 10,000.

use std::collections::BTreeMap;

use serde::Serialize;

use super::model::{Compliance, MachinePlan, Plan, RolloutPlan, State, Tally};
use super::render;

/// One kind of change to one patch, on some machines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeGroup {
    pub patch: String,
    pub kind: ChangeKind,
    /// The state before and after, in words (the first machine's).
    pub before: String,
    pub after: String,
    /// How many machines, and the first few of them by id.
    pub machines: usize,
    pub examples: Vec<String>,
}

/// How a machine-patch pair changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ChangeKind {
    /// Now to be installed (scheduled, failed-and-retried or held), and was not.
    Gained,
    /// Was to be installed, and no longer is.
    Lost,
    /// Still to be installed, but at another time or held by something else.
    Moved,
    /// Newly excluded.
    Excluded,
    /// Any other change of state (declined, superseded, awaiting approval...).
    Changed,
}

/// Every change between two plans, and compliance before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanDiff {
    pub changes: Vec<ChangeGroup>,
    pub machines_changed: usize,
    pub before: Compliance,
    pub after: Compliance,
}

/// How many machine ids a group names.
const EXAMPLES: usize = 5;

/// The changes from `before` to `after`, two plans of the same fleet.
pub fn diff(before: &Plan<'_>, after: &Plan<'_>) -> PlanDiff {
    let old: BTreeMap<&str, &MachinePlan<'_>> = before
        .machines
        .iter()
        .map(|m| (m.machine.as_str(), m))
        .collect();
    let mut groups: BTreeMap<(String, ChangeKind, String, String), ChangeGroup> = BTreeMap::new();
    let mut machines_changed = 0;
    for m in &after.machines {
        let Some(o) = old.get(m.machine.as_str()) else {
            continue;
        };
        let r_old = rollout(before, o);
        let r_new = rollout(after, m);
        let mut ids: Vec<&str> = o
            .patches
            .iter()
            .chain(m.patches.iter())
            .map(|p| p.patch.as_str())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let mut changed = false;
        for id in ids {
            let s_old = o
                .patches
                .iter()
                .find(|p| p.patch.as_str() == id)
                .map(|p| &p.state);
            let s_new = m
                .patches
                .iter()
                .find(|p| p.patch.as_str() == id)
                .map(|p| &p.state);
            let t_old = s_old.map_or_else(
                || "installed or not applicable".to_owned(),
                |s| render::state(r_old, s),
            );
            let t_new = s_new.map_or_else(
                || "installed or not applicable".to_owned(),
                |s| render::state(r_new, s),
            );
            // Compared without release names: when a release's content
            // changes, every machine on it would otherwise "change".
            let bare = |s: Option<&State<'_>>| s.map(|s| render::state(None, s));
            if t_old == t_new || bare(s_old) == bare(s_new) {
                continue;
            }
            changed = true;
            let required = |s: Option<&State<'_>>| s.is_some_and(State::is_required);
            let kind = match (required(s_old), required(s_new)) {
                (false, true) => ChangeKind::Gained,
                (true, false) if matches!(s_new, Some(State::Excluded { .. })) => {
                    ChangeKind::Excluded
                }
                (true, false) => ChangeKind::Lost,
                (true, true) => ChangeKind::Moved,
                (false, false) if matches!(s_new, Some(State::Excluded { .. })) => {
                    ChangeKind::Excluded
                }
                (false, false) => ChangeKind::Changed,
            };
            let key = (id.to_owned(), kind, summary(s_old), summary(s_new));
            let g = groups.entry(key).or_insert_with(|| ChangeGroup {
                patch: id.to_owned(),
                kind,
                before: t_old,
                after: t_new,
                machines: 0,
                examples: Vec::new(),
            });
            g.machines += 1;
            if g.examples.len() < EXAMPLES {
                g.examples.push(m.machine.clone());
            }
        }
        machines_changed += usize::from(changed);
    }
    let mut changes: Vec<ChangeGroup> = groups.into_values().collect();
    changes.sort_by(|a, b| {
        (a.kind, std::cmp::Reverse(a.machines), &a.patch).cmp(&(
            b.kind,
            std::cmp::Reverse(b.machines),
            &b.patch,
        ))
    });
    PlanDiff {
        changes,
        machines_changed,
        before: before.compliance.clone(),
        after: after.compliance.clone(),
    }
}

fn rollout<'p, 'a>(plan: &'p Plan<'a>, m: &MachinePlan<'_>) -> Option<&'p RolloutPlan<'a>> {
    plan.rollouts.iter().find(|r| Some(r.name) == m.rollout)
}

/// A state without its per-machine times: what groups machines together.
fn summary(s: Option<&State<'_>>) -> String {
    let Some(s) = s else {
        return "absent".into();
    };
    match s {
        State::Held { hold } => format!("held:{}", hold_kind(hold)),
        State::Failed(f) if f.held.is_some() => format!(
            "failed:held:{}",
            f.held.as_deref().map_or_else(String::new, hold_kind)
        ),
        State::Excluded { exclusion, .. } => format!("excluded:{exclusion}"),
        State::Scheduled { slot, .. } => format!("scheduled:{:?}", slot.why),
        other => other.name().to_owned(),
    }
}

fn hold_kind(h: &super::model::Hold<'_>) -> String {
    use super::model::Hold;
    match h {
        Hold::NoRollout => "no-rollout".into(),
        Hold::RingDelay { ring, .. } => format!("delay:{ring}"),
        Hold::Gate { ring, .. } => format!("gate:{ring}"),
        Hold::Halted { ring, .. } => format!("halted:{ring}"),
        Hold::ErrorBudget { ring, .. } => format!("budget:{ring}"),
        Hold::Paused(p) => format!("paused:{}", p.rollout),
    }
}

/// The diff as Markdown for a pull-request comment. At most `limit` change
/// groups are listed; the rest are counted.
pub fn markdown(d: &PlanDiff, title: &str, limit: usize) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "### Fixpoint plan: {title}\n");
    let pct = |t: &Tally| {
        if t.total == 0 {
            "–".to_owned()
        } else {
            #[allow(clippy::cast_precision_loss)]
            let p = t.compliant as f64 * 100.0 / t.total as f64;
            format!("{}/{} ({p:.1}%)", t.compliant, t.total)
        }
    };
    let _ = writeln!(
        out,
        "**Compliance:** {} → {} machines compliant. **{}** machine{} change{}.\n",
        pct(&d.before.machines),
        pct(&d.after.machines),
        d.machines_changed,
        if d.machines_changed == 1 { "" } else { "s" },
        if d.machines_changed == 1 { "s" } else { "" },
    );
    let mut rings: Vec<&String> = d
        .before
        .by_ring
        .keys()
        .chain(d.after.by_ring.keys())
        .collect();
    rings.sort();
    rings.dedup();
    if !rings.is_empty() {
        out.push_str("| ring | compliant before | compliant after |\n| --- | --- | --- |\n");
        for r in rings {
            let b = d.before.by_ring.get(r).copied().unwrap_or_default();
            let a = d.after.by_ring.get(r).copied().unwrap_or_default();
            let _ = writeln!(out, "| {} | {} | {} |", cell(r), pct(&b), pct(&a));
        }
        out.push('\n');
    }
    if d.changes.is_empty() {
        out.push_str("No machine's plan changes.\n");
        return out;
    }
    out.push_str(
        "| change | patch | machines | before | after |\n| --- | --- | --- | --- | --- |\n",
    );
    for g in d.changes.iter().take(limit) {
        let more = g.machines.saturating_sub(g.examples.len());
        let _ = writeln!(
            out,
            "| {} | `{}` | {}: {}{} | {} | {} |",
            match g.kind {
                ChangeKind::Gained => "➕ gained",
                ChangeKind::Lost => "➖ lost",
                ChangeKind::Moved => "↔ moved",
                ChangeKind::Excluded => "⛔ excluded",
                ChangeKind::Changed => "✎ changed",
            },
            g.patch,
            g.machines,
            cell(&g.examples.join(", ")),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            },
            cell(&g.before),
            cell(&g.after),
        );
    }
    if d.changes.len() > limit {
        let _ = writeln!(
            out,
            "\n…and {} more groups of changes (use `--format json` for all).",
            d.changes.len() - limit
        );
    }
    out
}

/// Text safe inside a Markdown table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}
