//! Plans as text people read: one line a machine-patch pair, each with its
//! reason. Times are UTC (RFC 3339), so the same plan renders the same
//! everywhere; the scenario tests compare this text exactly.

use std::fmt::Write as _;

use jiff::Timestamp;

use super::model::*;

/// The whole plan as text.
pub fn text(plan: &Plan<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "plan at {}", plan.now);
    for r in &plan.rollouts {
        let _ = writeln!(out, "rollout {}", r.name);
        if let Some(p) = &r.paused {
            let _ = writeln!(out, "  paused until {}: {}", p.until, p.reason);
        }
        // The releases a ring is on or waits for, and the newest; a real
        // catalog makes hundreds of others, which are counted.
        let mut shown = vec![false; r.releases.len()];
        if let Some(last) = shown.last_mut() {
            *last = true;
        }
        for ring in &r.rings {
            for k in ring
                .release
                .into_iter()
                .chain(ring.next.as_ref().and_then(hold_release))
            {
                if let Some(x) = shown.get_mut(k) {
                    *x = true;
                }
            }
        }
        let hidden = shown.iter().filter(|x| !**x).count();
        for (rel, _) in r.releases.iter().zip(&shown).filter(|(_, x)| **x) {
            let added: Vec<&str> = rel.added.iter().map(|p| p.as_str()).collect();
            let _ = writeln!(
                out,
                "  release {} ({} patch{}) approved {}: + {}",
                rel.id,
                rel.size,
                if rel.size == 1 { "" } else { "es" },
                rel.cut,
                added.join(", ")
            );
        }
        if hidden > 0 {
            let _ = writeln!(
                out,
                "  ({hidden} other release{} not shown)",
                if hidden == 1 { "" } else { "s" }
            );
        }
        for ring in &r.rings {
            let _ = write!(
                out,
                "  ring {}: {} machine{}, on {}",
                ring.name,
                ring.machines,
                if ring.machines == 1 { "" } else { "s" },
                release_name(r, ring.release)
            );
            if ring.failing > 0 || ring.error_budget.is_some() {
                let _ = write!(out, ", {} failing", ring.failing);
                if let Some(b) = ring.error_budget {
                    let _ = write!(out, " (budget {b})");
                }
            }
            if let Some(c) = ring.max_concurrent {
                let _ = write!(out, ", at most {c} at once");
            }
            if let Some(h) = &ring.next {
                let _ = write!(out, "; next: {}", hold(r, h));
            }
            out.push('\n');
        }
    }
    for m in &plan.machines {
        let rollout = plan.rollouts.iter().find(|r| Some(r.name) == m.rollout);
        let _ = write!(out, "machine {}", m.machine);
        match (m.rollout, m.ring) {
            (Some(r), Some(ring)) => {
                let _ = write!(out, " ({r}/{ring}");
                if let Some(rollout) = rollout {
                    let _ = write!(out, ", {}", release_name(rollout, m.release));
                }
                out.push(')');
            }
            _ => out.push_str(" (no rollout)"),
        }
        let _ = write!(
            out,
            ": {}",
            if m.compliant {
                "compliant"
            } else {
                "NOT compliant"
            }
        );
        match m.projected_compliance {
            Some(t) if t == plan.now => {}
            Some(t) => {
                let _ = write!(out, ", all approved patches expected by {t}");
            }
            None => out.push_str(", no date for all approved patches"),
        }
        out.push('\n');
        for p in m.patches.iter() {
            let _ = write!(out, "  {} [{}] ", p.patch, p.severity.name());
            let _ = write!(out, "{}", state(rollout, &p.state));
            if let Some(d) = p.deadline {
                let _ = write!(out, "; deadline {d}");
            }
            out.push('\n');
        }
        for f in &m.software {
            let _ = writeln!(out, "  software: {}", software(f));
        }
    }
    let c = &plan.compliance;
    let _ = writeln!(
        out,
        "compliance: {}/{} machines",
        c.machines.compliant, c.machines.total
    );
    for (k, t) in &c.by_ring {
        let _ = writeln!(out, "  ring {k}: {}/{}", t.compliant, t.total);
    }
    for (k, t) in &c.by_group {
        let _ = writeln!(out, "  group {k}: {}/{}", t.compliant, t.total);
    }
    for (k, m) in &c.by_severity {
        let _ = writeln!(
            out,
            "  {}: {} missing, {} overdue",
            k.name(),
            m.missing,
            m.overdue
        );
    }
    for (k, m) in &c.by_age {
        let _ = writeln!(
            out,
            "  age {k}: {} missing, {} overdue",
            m.missing, m.overdue
        );
    }
    out
}

/// The release a hold is about, if any.
fn hold_release(h: &Hold<'_>) -> Option<usize> {
    match h {
        Hold::RingDelay { release, .. }
        | Hold::Gate { release, .. }
        | Hold::Halted { release, .. } => Some(*release),
        _ => None,
    }
}

/// The name of release `index` of `rollout`, or "no release yet".
pub fn release_name(rollout: &RolloutPlan<'_>, index: Option<usize>) -> String {
    match index.and_then(|i| rollout.releases.get(i)) {
        Some(r) => r.id.clone(),
        None => "no release yet".to_owned(),
    }
}

fn release_of(rollout: Option<&RolloutPlan<'_>>, index: usize) -> String {
    rollout.map_or_else(
        || format!("release #{index}"),
        |r| release_name(r, Some(index)),
    )
}

/// One state with its reason, as a sentence fragment.
pub fn state(rollout: Option<&RolloutPlan<'_>>, s: &State<'_>) -> String {
    match s {
        State::Installed => "installed".into(),
        State::InstalledPendingReboot { since } => {
            format!("installed, reboot pending since {since}")
        }
        State::Failed(f) => {
            let then = match (&f.retry, f.held.as_deref(), rollout) {
                (Some(s), _, _) => format!("retry {}", slot(s)),
                (None, Some(h), Some(r)) => format!("retry held: {}", hold(r, h)),
                (None, Some(h), None) => format!("retry held: {}", hold_plain(h)),
                (None, None, _) => "no retry planned".to_owned(),
            };
            format!(
                "failed {}x, last at {}{}; {then}",
                f.attempts,
                f.last_at,
                f.last_error
                    .as_ref()
                    .map_or(String::new(), |e| format!(": {e}")),
            )
        }
        State::Scheduled { release, slot: s } => {
            format!("scheduled ({}) {}", release_of(rollout, *release), slot(s))
        }
        State::AwaitingApproval {
            until: Some(t),
            rule,
        } => format!("awaiting approval until {t}{}", rule_text(*rule, " by")),
        State::AwaitingApproval {
            until: None,
            rule: Some(r),
        } => format!(
            "awaiting approval:{} matches, but the patch has no release date to count from; needs an explicit approval",
            rule_text(Some(*r), "")
        ),
        State::AwaitingApproval {
            until: None,
            rule: None,
        } => "awaiting approval: no rule matches; needs an explicit approval".into(),
        State::Held { hold: h } => match rollout {
            Some(r) => format!("held: {}", hold(r, h)),
            None => format!("held: {}", hold_plain(h)),
        },
        State::Declined { reason, ticket } => format!(
            "declined: {reason}{}",
            ticket.map_or(String::new(), |t| format!(" ({t})"))
        ),
        State::InstalledAlthoughDeclined { reason } => {
            format!("installed although declined: {reason}")
        }
        State::Excluded { exclusion, until } => format!(
            "excluded by {exclusion}{}",
            until.map_or(" (no end)".into(), |u| format!(" until {u}"))
        ),
        State::Superseded { by } => format!("superseded by {by}"),
        State::NotApplicable => "not applicable".into(),
    }
}

fn rule_text(rule: Option<(usize, Option<&str>)>, lead: &str) -> String {
    match rule {
        Some((_, Some(name))) => format!("{lead} rule {name}"),
        Some((i, None)) => format!("{lead} rule {i}"),
        None => String::new(),
    }
}

/// When a slot installs, as a fragment: "in window 2026-11-28T00:00:00Z..04:00".
pub fn slot(s: &Slot) -> String {
    let mut out = match s.why {
        SlotReason::Window => format!(
            "in window {} to {}",
            s.start,
            s.end
                .map_or_else(|| "?".to_owned(), |e: Timestamp| e.to_string())
        ),
        SlotReason::NoWindow => format!("from {} (no window)", s.start),
        SlotReason::Deadline => format!("at deadline {} (before the next window)", s.start),
        SlotReason::Overdue => format!("now, overdue (from {})", s.start),
        SlotReason::NeverOpens => "never: the window never opens again".into(),
    };
    if s.batch > 0 {
        let _ = write!(out, ", batch {}", s.batch + 1);
    }
    out
}

/// What holds a patch back, as a fragment.
pub fn hold(rollout: &RolloutPlan<'_>, h: &Hold<'_>) -> String {
    let name = |k: &usize| release_name(rollout, Some(*k));
    match h {
        Hold::RingDelay {
            ring,
            release,
            until,
        } => format!("ring {ring} delay for {} until {until}", name(release)),
        Hold::Gate {
            ring,
            previous,
            release,
            progress,
            until,
        } => format!(
            "gate of ring {ring} for {}: ring {previous} {}{}",
            name(release),
            progress_text(progress),
            until.map_or(String::new(), |u| format!(", soak until {u}"))
        ),
        Hold::Halted {
            ring,
            previous,
            release,
            progress,
        } => format!(
            "HALTED before ring {ring}: {} failing in ring {previous} ({})",
            name(release),
            progress_text(progress)
        ),
        other => hold_plain(other),
    }
}

fn hold_plain(h: &Hold<'_>) -> String {
    match h {
        Hold::NoRollout => "no rollout has a ring for this machine".into(),
        Hold::RingDelay { ring, until, .. } => format!("ring {ring} delay until {until}"),
        Hold::Gate { ring, previous, .. } => format!("gate of ring {ring} (ring {previous})"),
        Hold::Halted { ring, previous, .. } => {
            format!("HALTED before ring {ring} (ring {previous})")
        }
        Hold::ErrorBudget {
            ring,
            failing,
            budget,
        } => format!("ring {ring} stopped: {failing} machines failing, error budget {budget}"),
        Hold::Paused(p) => format!(
            "rollout {} paused until {}: {}",
            p.rollout, p.until, p.reason
        ),
    }
}

fn progress_text(p: &GateProgress) -> String {
    let mut out = format!(
        "{} succeeded, {} failed, {} pending",
        p.succeeded, p.failed, p.pending
    );
    // "; needs ..." rather than nested parentheses.
    let mut wants = Vec::new();
    if p.min_machines > 0 {
        wants.push(format!("{} machines", p.min_machines));
    }
    if let Some(s) = p.min_success_permille {
        wants.push(format!("{}% success", f64::from(s) / 10.0));
    }
    if !wants.is_empty() {
        let _ = write!(out, "; needs {}", wants.join(", "));
    }
    out
}

/// A software finding, as a fragment.
pub fn software(f: &SoftwareFinding<'_>) -> String {
    match f {
        SoftwareFinding::Remove {
            policy,
            package,
            version,
            reason,
        } => format!(
            "remove {package} {version} ({policy}{})",
            reason.map_or(String::new(), |r| format!(": {r}"))
        ),
        SoftwareFinding::Install {
            policy,
            package,
            reason,
        } => format!(
            "install {package} ({policy}{})",
            reason.map_or(String::new(), |r| format!(": {r}"))
        ),
    }
}
