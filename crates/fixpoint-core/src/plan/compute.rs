//! `compute`: policy, catalog, fleet and an instant in, a [`Plan`] out.
//!
//! # How a patch reaches a machine
//!
//! 1. **Applicability** per distinct inventory ([`ApplicabilityIndex`]).
//! 2. **Rollout and ring**: the first rollout (in file order) with a ring that
//!    takes the machine; its approval policy, window, deadlines and pause apply.
//! 3. **Approval** per patch ([`approval`]); declines win over everything.
//! 4. **Exclusions** (active ones; expired ones no longer hold) and
//!    **supersedence**: a missing patch is superseded when a newer missing patch
//!    fixes the same packages to higher versions (or the catalog says it
//!    replaces it) and that one is itself approved or awaiting approval.
//! 5. **Releases**: every approved patch (under the rollout's approval
//!    policy) for a platform the rollout's machines run, ordered by approval
//!    time, expedited approvals first; release *k* holds the patches of the
//!    first *k* approval instants. A release is named by the hash of its exact
//!    patch set, so it changes with approvals and the catalog, never because a
//!    machine installed something.
//! 6. **Rings** are promoted release by release: the first ring is on the
//!    newest release whose ring delay has passed; a later ring is on the newest
//!    release whose delay has passed *and* whose gate the ring before it met
//!    (enough machines succeeded, at a high enough success rate, then soaked).
//!    Delays count from the approval of the release's newest non-expedited
//!    patch, so an expedited approval skips ring delays but never gates. A ring
//!    receives exactly the patches of its release, never whatever was approved
//!    since. A release whose failures in the previous ring pass the gate's
//!    `haltOnFailures` halts, with every later release (they contain it).
//! 7. **Machine states**: a required patch in the ring's release is scheduled
//!    in the next opening of the maintenance window, in the window's or the
//!    machine's time zone, skipping freezes; a concurrency limit spreads the
//!    ring's machines over successive openings (batches, by machine id); the
//!    deadline (release + severity SLA) makes it due regardless of windows. A
//!    pause or a spent error budget holds everything new.
//!
//! # Gates, exactly
//!
//! For release *k* and the previous ring's machines, counting only patches
//! each machine requires (approved, not excluded, not superseded):
//! - *succeeded*: requires none of the release's patches any more, and reported
//!   at least one success for one of them (a machine that had them all
//!   already validates nothing);
//! - *failed*: its last attempt at a required patch of the release failed
//!   (counted from the first failure of that run of failures);
//! - *pending*: still requires one, no failure.
//!
//! The gate is met at the first instant (by the reports' times) at which
//! `succeeded >= minMachines` and `succeeded / (succeeded + failed) >=
//! minSuccess`; the next ring may install `soak` later. A gate with no
//! `minMachines` and no machine that needed the release is met when the
//! release reached the previous ring. A gate once met stays met; a halt is
//! judged on the failures as they are now.
//!
//! # Replanning one machine
//!
//! [`Planner::update`] recomputes a single machine after its inventory or
//! reports change, and adjusts the compliance tallies, when the change cannot
//! reach another machine; when it can (the machine's evidence feeds a gate,
//! changes its ring's failing count or concurrency batches, or it now runs a
//! platform new to its rollout), it replans the fleet. The scenario tests check
//! that both paths give exactly the plan a fresh computation gives.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use sha2::{Digest, Sha256};

use super::applicability::{ApplicabilityIndex, Applicable, PatchState};
use super::approval::{Approval, approval};
use super::exclusions::patch_in_scope;
use super::groups::{groups_of, in_scope, ring_of};
use super::model::*;
use crate::catalog::{Catalog, Patch, PatchId, Platform};
use crate::fleet::{Fleet, Inventory, InventoryHash, Machine, Outcome};
use crate::policy::{Document, Gate, PolicySet, RebootMode, RolloutSpec};
use crate::rating::Severity;
use crate::schedule::{self, Freeze, Window};

/// Computes the plan for `fleet` at `now`. See the module documentation.
pub fn compute<'a>(
    policy: &'a PolicySet,
    catalog: &'a Catalog,
    fleet: &Fleet,
    now: Timestamp,
) -> Plan<'a> {
    let mut planner = Planner::new(policy, catalog);
    planner.plan(fleet, now)
}

/// What an approval policy says of a patch, as the plan needs it (cheap to copy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Approved {
        at: Timestamp,
        expedite: bool,
    },
    Pending {
        at: Option<Timestamp>,
        rule: Option<usize>,
    },
    Declined,
}

/// A patch's identity inside one plan: its address in the catalog, which the
/// plan borrows for its whole life. Hashing it costs a word, not an id string.
fn key(patch: &Patch) -> usize {
    std::ptr::from_ref(patch) as usize
}

/// A compiled maintenance window.
struct CompiledWindow {
    window: Window,
    freezes: Vec<Freeze>,
    /// `None`: the machine's own time zone.
    zone: Option<TimeZone>,
}

/// Holds what does not change between plans of the same policy and catalog:
/// the applicability index, compiled windows, and the applicability of every
/// inventory seen so far (so a replan evaluates only new inventories).
#[allow(missing_debug_implementations)]
pub struct Planner<'a> {
    policy: &'a PolicySet,
    catalog: &'a Catalog,
    index: ApplicabilityIndex<'a>,
    windows: HashMap<&'a str, CompiledWindow>,
    applicability: HashMap<InventoryHash, Arc<Evaluated<'a>>>,
    zones: HashMap<String, TimeZone>,
    /// What the last plan was computed from, for [`Planner::update`].
    memo: Option<Memo<'a>>,
}

/// What [`Planner::update`] recomputed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replanned {
    /// Only the machine that changed.
    Machine,
    /// The whole fleet: the change could reach other machines.
    Fleet,
}

/// The working state of the last plan.
struct Memo<'a> {
    now: Timestamp,
    machines: usize,
    rollouts: Vec<RolloutWork<'a>>,
    work: Vec<MachineWork<'a>>,
    batch_of: HashMap<usize, usize>,
}

impl<'a> Planner<'a> {
    pub fn new(policy: &'a PolicySet, catalog: &'a Catalog) -> Planner<'a> {
        let mut windows = HashMap::new();
        for doc in &policy.windows {
            if let Some(w) = compile_window(doc) {
                windows.insert(doc.name(), w);
            }
        }
        Planner {
            policy,
            catalog,
            index: ApplicabilityIndex::new(catalog),
            windows,
            applicability: HashMap::new(),
            zones: HashMap::new(),
            memo: None,
        }
    }

    /// Evaluates every inventory of `fleet` not evaluated yet, on up to
    /// `threads` threads. [`Planner::plan`] does this on one thread for
    /// whatever is missing.
    pub fn evaluate_inventories(&mut self, fleet: &Fleet, threads: usize) {
        let todo: Vec<_> = fleet
            .inventories()
            .iter()
            .filter(|(h, _)| !self.applicability.contains_key(*h))
            .collect();
        if todo.is_empty() {
            return;
        }
        let chunk = todo.len().div_ceil(threads.max(1)).max(1);
        let index = &self.index;
        let catalog = self.catalog;
        let done: Vec<(InventoryHash, Arc<Evaluated<'a>>)> = std::thread::scope(|s| {
            let handles: Vec<_> = todo
                .chunks(chunk)
                .map(|part| {
                    s.spawn(move || {
                        part.iter()
                            .map(|(h, inv)| ((*h).clone(), Arc::new(evaluate(index, catalog, inv))))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        });
        self.applicability.extend(done);
    }

    /// The patches installed on machines with this inventory (which
    /// [`MachinePlan::patches`] leaves out), once the inventory is evaluated.
    pub fn installed(&self, inventory: &InventoryHash) -> Option<Vec<&PatchId>> {
        let evaluated = self.applicability.get(inventory)?;
        Some(
            evaluated
                .applicable
                .iter()
                .filter(|a| matches!(a.state, PatchState::Installed))
                .map(|a| &a.patch)
                .collect(),
        )
    }

    /// Forgets inventories no machine of `fleet` has any more.
    pub fn forget_unused(&mut self, fleet: &Fleet) {
        self.applicability
            .retain(|h, _| fleet.inventories().contains_key(h));
    }

    /// The state of one patch on one machine, including installed patches
    /// (which [`MachinePlan::patches`] leaves out).
    pub fn state<'p>(
        &self,
        plan: &'p Plan<'a>,
        fleet: &Fleet,
        machine: &str,
        patch: &PatchId,
    ) -> Option<State<'a>> {
        let m = plan.machine(machine)?;
        if let Some(p) = m.patch(patch) {
            return Some(p.state.clone());
        }
        let inv = fleet.machine(machine).map(|m| &m.inventory)?;
        let evaluated = self.applicability.get(inv)?;
        Some(
            match evaluated.applicable.iter().find(|a| &a.patch == patch) {
                Some(a) if matches!(a.state, PatchState::Installed) => State::Installed,
                _ => State::NotApplicable,
            },
        )
    }

    /// The plan for `fleet` at `now`.
    pub fn plan(&mut self, fleet: &Fleet, now: Timestamp) -> Plan<'a> {
        self.evaluate_inventories(fleet, 1);
        for m in fleet.machines() {
            if let Some(name) = m.time_zone.as_deref()
                && !self.zones.contains_key(name)
            {
                let tz = schedule::time_zone(name).unwrap_or(TimeZone::UTC);
                self.zones.insert(name.to_owned(), tz);
            }
        }
        let (plan, memo) = Run::new(self, fleet, now).run();
        self.memo = Some(memo);
        plan
    }

    /// Replans after machine `id`'s inventory or reported results changed in
    /// `fleet` (its facts, and every other machine, as when `plan` was made).
    ///
    /// Recomputes only that machine when nothing it changed can reach another
    /// machine; otherwise (it feeds a gate, an error budget or a concurrency
    /// limit and its evidence changed; it runs a platform new to its rollout;
    /// its ring changed) replans the whole fleet. Either way `plan` ends equal
    /// to a fresh [`Planner::plan`] of `fleet` at `plan.now`.
    pub fn update(&mut self, plan: &mut Plan<'a>, fleet: &Fleet, id: &str) -> Replanned {
        let now = plan.now;
        let full = |me: &mut Self, plan: &mut Plan<'a>| {
            *plan = me.plan(fleet, now);
            Replanned::Fleet
        };
        let Some(memo) = self.memo.take() else {
            return full(self, plan);
        };
        let Some(i) = fleet.position(id) else {
            return full(self, plan);
        };
        let m = &fleet.machines()[i];
        if memo.now != now
            || memo.machines != fleet.machines().len()
            || plan.machines.get(i).is_none_or(|p| p.machine != m.id)
        {
            return full(self, plan);
        }
        if let Some(inv) = fleet.inventory_of(m)
            && !self.applicability.contains_key(&m.inventory)
        {
            let evaluated = Arc::new(evaluate(&self.index, self.catalog, inv));
            self.applicability.insert(m.inventory.clone(), evaluated);
        }
        let mut run = Run::new(self, fleet, now);
        run.rollouts = memo.rollouts;
        run.work = memo.work;
        match run.update_machine(i, plan, &memo.batch_of) {
            Some(()) => {
                let memo = Memo {
                    now,
                    machines: memo.machines,
                    rollouts: run.rollouts,
                    work: run.work,
                    batch_of: memo.batch_of,
                };
                self.memo = Some(memo);
                Replanned::Machine
            }
            None => full(self, plan),
        }
    }
}

fn compile_window(doc: &Document<crate::policy::MaintenanceWindowSpec>) -> Option<CompiledWindow> {
    let spec = &doc.spec;
    let schedule = match (&spec.cron, &spec.monthly) {
        (Some(cron), None) => schedule::Schedule::Cron(schedule::CronExpr::parse(cron).ok()?),
        (None, Some(m)) => crate::policy::validate::monthly_schedule(m).ok()?,
        _ => return None,
    };
    let zone = if spec.timezone == "machine" {
        None
    } else {
        Some(schedule::time_zone(&spec.timezone).ok()?)
    };
    Some(CompiledWindow {
        window: Window {
            schedule,
            duration: spec.duration.to_signed_duration(),
        },
        freezes: spec
            .freezes
            .iter()
            .map(|f| Freeze {
                from: f.from.0,
                to: f.to.0,
            })
            .collect(),
        zone,
    })
}

/// What a machine requires of one patch before rings and windows are considered.
#[derive(Debug, Clone)]
enum Base<'a> {
    /// A final or approval-dependent state, not affected by rings.
    Settled(State<'a>),
    /// Approved and missing: rings, windows and holds decide.
    Required {
        cut: usize,
        failures: usize,
        last: Option<(Option<String>, Timestamp)>,
        /// When its current run of failures began.
        failing_since: Option<Timestamp>,
    },
}

/// Machines with the same inventory, (rollout, ring) and matching exclusions
/// share their base states.
type BaseKey = (InventoryHash, Option<(usize, usize)>, Vec<usize>);

/// Machines with the same base, concurrency batch and time zone share their
/// final states.
type StatesKey<'m> = (usize, usize, Option<&'m str>);

/// A list of states, whether it leaves the machine compliant, and when its
/// approved patches are expected installed.
type SharedStates<'a> = (Arc<[PatchPlan<'a>]>, bool, Option<Timestamp>);

/// Missing approved patches by (severity, age bucket): (missing, overdue).
type PatchTallies = Vec<((Severity, &'static str), usize, usize)>;

/// Everything one machine needs, resolved once.
struct MachineWork<'a> {
    rollout: Option<usize>,
    ring: Option<usize>,
    /// Patches that apply and are not simply installed, by patch id, with
    /// their deadlines; shared by machines with the same inventory, placement
    /// and exclusions and no reports of their own.
    base: Arc<[(&'a Patch, Base<'a>, Option<Timestamp>)]>,
    /// The lowest release index among required patches (`usize::MAX`: none).
    m_min: usize,
    /// The lowest release index among required patches whose last attempt failed.
    f_min: usize,
    /// Required patches whose last attempt failed: (release index, when the
    /// run of failures began).
    failing: Vec<(usize, Timestamp)>,
    /// Successful reports of release patches: (release index, time).
    successes: Vec<(usize, Timestamp)>,
    software: Vec<SoftwareFinding<'a>>,
    tz: Option<TimeZone>,
}

/// Per rollout, while planning.
struct RolloutWork<'a> {
    doc: &'a Document<RolloutSpec>,
    window: Option<&'a str>,
    /// Approval of each patch seen, under the rollout's approval policy, by
    /// the patch's address in the catalog (see [`key`]).
    approvals: HashMap<usize, Verdict>,
    /// Release index of each approved patch, by the patch's address.
    cut: HashMap<usize, usize>,
    /// Approval instant of each release; patches added at each.
    cuts: Vec<(Timestamp, Vec<&'a PatchId>)>,
    /// For each release: the approval time of its newest non-expedited patch.
    delay_base: Vec<Option<Timestamp>>,
    ring_release: Vec<Option<usize>>,
    ring_next: Vec<Option<Arc<Hold<'a>>>>,
    /// What holds release k back in ring r, memoised; shared by every state it holds.
    holds: HashMap<(usize, usize), Option<Arc<Hold<'a>>>>,
    /// The rollout's pause while it lasts, and each ring's spent error budget.
    pause: Option<Arc<Hold<'a>>>,
    budget: Vec<Option<Arc<Hold<'a>>>>,
    ring_machines: Vec<Vec<usize>>,
    ring_failing: Vec<usize>,
    /// The platforms of the rollout's machines: its releases hold the approved
    /// patches for these.
    platforms: BTreeSet<Platform>,
}

struct Run<'p, 'a, 'f> {
    planner: &'p Planner<'a>,
    fleet: &'f Fleet,
    now: Timestamp,
    rollouts: Vec<RolloutWork<'a>>,
    work: Vec<MachineWork<'a>>,
    /// The hold of every machine no rollout takes.
    no_rollout: Arc<Hold<'a>>,
}

impl<'p, 'a, 'f> Run<'p, 'a, 'f> {
    fn new(planner: &'p Planner<'a>, fleet: &'f Fleet, now: Timestamp) -> Self {
        let rollouts = planner
            .policy
            .rollouts
            .iter()
            .map(|doc| RolloutWork {
                doc,
                window: doc.spec.window.as_deref(),
                approvals: HashMap::new(),
                cut: HashMap::new(),
                cuts: Vec::new(),
                delay_base: Vec::new(),
                ring_release: vec![None; doc.spec.rings.len()],
                ring_next: vec![None; doc.spec.rings.len()],
                holds: HashMap::new(),
                ring_machines: vec![Vec::new(); doc.spec.rings.len()],
                ring_failing: vec![0; doc.spec.rings.len()],
                platforms: BTreeSet::new(),
                pause: doc
                    .spec
                    .pause
                    .as_ref()
                    .filter(|p| p.until.end > now)
                    .map(|p| {
                        Arc::new(Hold::Paused(PauseHold {
                            rollout: doc.name(),
                            reason: p.reason.as_str(),
                            until: p.until.end,
                        }))
                    }),
                budget: vec![None; doc.spec.rings.len()],
            })
            .collect();
        Run {
            planner,
            fleet,
            now,
            rollouts,
            work: Vec::new(),
            no_rollout: Arc::new(Hold::NoRollout),
        }
    }

    fn evaluated(&self, m: &Machine) -> Option<&'p Evaluated<'a>> {
        self.planner.applicability.get(&m.inventory).map(|e| &**e)
    }

    fn run(mut self) -> (Plan<'a>, Memo<'a>) {
        let policy = self.planner.policy;
        let fleet = self.fleet;
        // Rollout and ring of each machine.
        let mut placement = Vec::with_capacity(fleet.machines().len());
        for (i, m) in fleet.machines().iter().enumerate() {
            let found = policy
                .rollouts
                .iter()
                .enumerate()
                .find_map(|(r, doc)| ring_of(m, doc, policy).map(|(ring, _)| (r, ring)));
            if let Some((r, ring)) = found {
                self.rollouts[r].ring_machines[ring].push(i);
            }
            placement.push(found);
        }
        // Approvals and releases per rollout.
        for r in 0..self.rollouts.len() {
            self.releases(r, &placement);
        }
        // Per machine: base states.
        // The results-free work of each (inventory, placement, exclusions).
        let mut shared: HashMap<BaseKey, MachineWork<'a>> = HashMap::new();
        for (i, m) in fleet.machines().iter().enumerate() {
            let exclusions: Vec<usize> = policy
                .exclusions
                .iter()
                .enumerate()
                .filter(|(_, e)| in_scope(m, &e.spec.machines, policy))
                .map(|(k, _)| k)
                .collect();
            let key = (m.inventory.clone(), placement[i], exclusions.clone());
            let mut work = match shared.get(&key) {
                Some(template) => self.clone_work(template, m),
                None => {
                    let w = self.machine_work(m, placement[i], &exclusions);
                    let template = self.clone_work(&w, m);
                    shared.insert(key, template);
                    w
                }
            };
            self.apply_history(&mut work, m);
            self.work.push(work);
        }
        // Rings, in order: each ring's release depends on the ring before it.
        for r in 0..self.rollouts.len() {
            for ring in 0..self.rollouts[r].doc.spec.rings.len() {
                self.promote(r, ring);
            }
        }
        self.finish()
    }

    /// A copy of `w` for machine `m`: the shared base, `m`'s own software
    /// findings and time zone, no reports.
    fn clone_work(&self, w: &MachineWork<'a>, m: &Machine) -> MachineWork<'a> {
        MachineWork {
            rollout: w.rollout,
            ring: w.ring,
            base: Arc::clone(&w.base),
            m_min: w.m_min,
            f_min: w.f_min,
            failing: Vec::new(),
            successes: Vec::new(),
            software: self.software(m),
            tz: self.machine_zone(m),
        }
    }

    fn machine_zone(&self, m: &Machine) -> Option<TimeZone> {
        m.time_zone
            .as_deref()
            .and_then(|n| self.planner.zones.get(n).cloned())
    }

    /// The approval of `patch` under rollout `r`, memoised.
    fn approval_of(&mut self, r: usize, patch: &'a Patch) -> Verdict {
        let policy = self.planner.policy;
        let now = self.now;
        let rollout = &mut self.rollouts[r];
        *rollout.approvals.entry(key(patch)).or_insert_with(|| {
            match policy
                .approval(&rollout.doc.spec.approval)
                .map(|a| approval(patch, &a.spec, now))
            {
                Some(Approval::Approved { at, expedite, .. }) => Verdict::Approved { at, expedite },
                Some(Approval::Pending { at, rule }) => Verdict::Pending { at, rule },
                Some(Approval::Declined { .. }) => Verdict::Declined,
                None => Verdict::Pending {
                    at: None,
                    rule: None,
                },
            }
        })
    }

    fn releases(&mut self, r: usize, placement: &[Option<(usize, usize)>]) {
        let catalog = self.planner.catalog;
        let fleet = self.fleet;
        // Every approved patch for a platform the rollout's machines run, not
        // only those some machine misses today: a release's content then
        // changes with approvals and the catalog, never because a machine
        // installed something.
        let mut platforms: BTreeSet<Platform> = BTreeSet::new();
        for (i, m) in fleet.machines().iter().enumerate() {
            if placement[i].map(|p| p.0) == Some(r)
                && let Some(inv) = fleet.inventory_of(m)
                && !platforms.contains(inv.platform())
            {
                platforms.insert(inv.platform().clone());
            }
        }
        let mut approved: Vec<(Timestamp, &'a PatchId, bool)> = Vec::new();
        for (id, patch) in &catalog.patches {
            if !patch.fixes.iter().any(|f| platforms.contains(&f.platform)) {
                continue;
            }
            if let Verdict::Approved { at, expedite } = self.approval_of(r, patch) {
                approved.push((at, id, expedite));
            }
        }
        self.rollouts[r].platforms = platforms;
        // Expedited patches first: a release train carries them ahead of
        // normal approvals still in their ring delays, so they never wait for them.
        approved.sort_by(|a, b| (!a.2, a.0, a.1).cmp(&(!b.2, b.0, b.1)));
        let rollout = &mut self.rollouts[r];
        let mut newest_normal: Option<Timestamp> = None;
        let mut previous: Option<(bool, Timestamp)> = None;
        for (at, id, expedite) in approved {
            if previous != Some((expedite, at)) {
                previous = Some((expedite, at));
                rollout.cuts.push((at, Vec::new()));
                rollout.delay_base.push(newest_normal);
            }
            let k = rollout.cuts.len() - 1;
            rollout.cuts[k].1.push(id);
            if let Some(patch) = catalog.patches.get(id) {
                rollout.cut.insert(key(patch), k);
            }
            if !expedite {
                newest_normal = Some(at);
                rollout.delay_base[k] = Some(at);
            }
        }
    }

    fn machine_work(
        &mut self,
        m: &Machine,
        placement: Option<(usize, usize)>,
        exclusions: &[usize],
    ) -> MachineWork<'a> {
        let policy = self.planner.policy;
        let catalog = self.planner.catalog;
        let now = self.now;
        let Some(evaluated) = self.evaluated(m) else {
            return MachineWork {
                rollout: placement.map(|p| p.0),
                ring: placement.map(|p| p.1),
                base: Arc::from(Vec::new()),
                m_min: usize::MAX,
                f_min: usize::MAX,
                failing: Vec::new(),
                successes: Vec::new(),
                software: self.software(m),
                tz: self.machine_zone(m),
            };
        };
        let applicable = &evaluated.applicable[..];
        let mut base: Vec<(&'a Patch, Base<'a>, Option<Timestamp>)> = Vec::new();
        // First pass: approval, declines, exclusions.
        let mut missing: Vec<usize> = Vec::new();
        let mut missing_base: Vec<usize> = Vec::new();
        for (ai, a) in applicable.iter().enumerate() {
            let Some(patch) = evaluated.patches[ai] else {
                continue;
            };
            let declined = match placement {
                Some((r, _)) => self.approval_of(r, patch) == Verdict::Declined,
                None => false,
            };
            if matches!(a.state, PatchState::Installed) {
                if declined {
                    let reason = self.decline_reason(placement, patch);
                    base.push((
                        patch,
                        Base::Settled(State::InstalledAlthoughDeclined { reason }),
                        None,
                    ));
                }
                continue;
            }
            // Of several active exclusions, the one that lasts longest (no end
            // beats any end; the first in file order among equals), as
            // `exclusions_for` reports it.
            let excluded = exclusions
                .iter()
                .filter_map(|&k| {
                    let doc = &policy.exclusions[k];
                    let until = doc.spec.until;
                    (until.is_none_or(|u| u.end > now) && patch_in_scope(patch, &doc.spec.patches))
                        .then_some((doc.name(), until))
                })
                .reduce(|best, next| {
                    let lasts_longer = match (next.1, best.1) {
                        (None, Some(_)) => true,
                        (Some(a), Some(b)) => a.end > b.end,
                        _ => false,
                    };
                    if lasts_longer { next } else { best }
                });
            let Some((r, _)) = placement else {
                let state = match excluded {
                    Some((exclusion, until)) => State::Excluded { exclusion, until },
                    None => State::Held {
                        hold: Arc::clone(&self.no_rollout),
                    },
                };
                base.push((patch, Base::Settled(state), None));
                missing.push(ai);
                missing_base.push(base.len() - 1);
                continue;
            };
            let approval = self.approval_of(r, patch);
            let (state, deadline) = match approval {
                Verdict::Declined => {
                    let doc = policy.approval(&self.rollouts[r].doc.spec.approval);
                    let d = doc
                        .and_then(|d| d.spec.decline.iter().find(|d| d.patch == patch.id.as_str()));
                    (
                        Base::Settled(State::Declined {
                            reason: d.map_or("", |d| d.reason.as_str()),
                            ticket: d.and_then(|d| d.ticket.as_deref()),
                        }),
                        None,
                    )
                }
                _ if excluded.is_some() => {
                    let (exclusion, until) = excluded.unwrap_or(("", None));
                    (Base::Settled(State::Excluded { exclusion, until }), None)
                }
                Verdict::Pending { at, rule } => {
                    let rule = rule.map(|i| {
                        let name = policy
                            .approval(&self.rollouts[r].doc.spec.approval)
                            .and_then(|a| a.spec.rules.get(i))
                            .and_then(|x| x.name.as_deref());
                        (i + 1, name)
                    });
                    (
                        Base::Settled(State::AwaitingApproval { until: at, rule }),
                        None,
                    )
                }
                Verdict::Approved { at, .. } => {
                    let cut = self.rollouts[r].cut.get(&key(patch)).copied().unwrap_or(0);
                    let deadline = self.deadline(r, patch, at);
                    (
                        Base::Required {
                            cut,
                            failures: 0,
                            last: None,
                            failing_since: None,
                        },
                        deadline,
                    )
                }
            };
            base.push((patch, state, deadline));
            missing.push(ai);
            missing_base.push(base.len() - 1);
        }
        // Second pass: supersedence among missing patches.
        let planned = |b: &Base<'_>| {
            matches!(
                b,
                Base::Required { .. } | Base::Settled(State::AwaitingApproval { .. })
            ) || matches!(
                b,
                Base::Settled(State::Held { hold })
                    if matches!(**hold, Hold::NoRollout)
            )
        };
        // Where each missing patch is in `base`: by position in `applicable`,
        // and by catalog address (for the catalog's supersedence links).
        let mut base_of = vec![usize::MAX; applicable.len()];
        for (n, &ai) in missing.iter().enumerate() {
            base_of[ai] = missing_base[n];
        }
        let by_key: HashMap<usize, usize> = base
            .iter()
            .enumerate()
            .map(|(i, (p, _, _))| (key(p), i))
            .collect();
        let mut superseded: Vec<(usize, &'a PatchId)> = Vec::new();
        for &ai in &missing {
            let bi = base_of[ai];
            if bi == usize::MAX {
                continue;
            }
            if matches!(base[bi].1, Base::Settled(State::Declined { .. })) {
                continue;
            }
            let by_catalog = base[bi].0.superseded_by.iter().find_map(|s| {
                catalog
                    .patches
                    .get(s)
                    .and_then(|p| by_key.get(&key(p)))
                    .filter(|&&j| planned(&base[j].1))
                    .map(|&j| &base[j].0.id)
            });
            let by_versions = || {
                evaluated.successors[ai].iter().find_map(|&oi| {
                    let j = base_of[oi as usize];
                    (j != usize::MAX && j != bi && planned(&base[j].1)).then(|| &base[j].0.id)
                })
            };
            if let Some(by) = by_catalog.or_else(by_versions) {
                superseded.push((bi, by));
            }
        }
        for (bi, by) in superseded {
            base[bi].1 = Base::Settled(State::Superseded { by });
            base[bi].2 = None;
        }
        base.sort_by(|a, b| a.0.id.cmp(&b.0.id));
        let (m_min, f_min, failing) = evidence(&base);
        MachineWork {
            rollout: placement.map(|p| p.0),
            ring: placement.map(|p| p.1),
            base: Arc::from(base),
            m_min,
            f_min,
            failing,
            successes: Vec::new(),
            software: self.software(m),
            tz: self.machine_zone(m),
        }
    }

    /// Adds machine `m`'s reports to its work (computed without them, and
    /// perhaps shared): failures and their runs on required patches,
    /// installed patches waiting for a reboot, and the successes gates count.
    fn apply_history(&mut self, w: &mut MachineWork<'a>, m: &Machine) {
        let fleet = self.fleet;
        let results = fleet.results_of(&m.id);
        if results.is_empty() {
            return;
        }
        let catalog = self.planner.catalog;
        let evaluated = self.evaluated(m);
        let mut base: Vec<(&'a Patch, Base<'a>, Option<Timestamp>)> = w.base.to_vec();
        let mut changed = false;
        let mut start = 0;
        while start < results.len() {
            let id = &results[start].patch;
            start += results[start..].partition_point(|r| &r.patch == id);
            let history = fleet.history(&m.id, id);
            match base.binary_search_by(|(p, _, _)| p.id.cmp(id)) {
                Ok(bi) => {
                    if let Base::Required {
                        failures,
                        last,
                        failing_since,
                        ..
                    } = &mut base[bi].1
                    {
                        *failures = history.failures_in_a_row();
                        *last = history
                            .latest()
                            .filter(|l| l.outcome == Outcome::Failed)
                            .map(|l| (l.error.clone().filter(|e| !e.is_empty()), l.at));
                        *failing_since = history.failing_since();
                        changed = true;
                    }
                }
                Err(at) => {
                    // Installed (so not in the base) and waiting for a reboot, for as long
                    // as the machine still says it needs one: after the restart its facts
                    // clear `rebootRequired` and the patch is simply installed.
                    let Some(latest) = history.latest() else {
                        continue;
                    };
                    if latest.outcome != Outcome::PendingReboot || !m.reboot_required {
                        continue;
                    }
                    let installed = evaluated.and_then(|e| {
                        e.applicable
                            .iter()
                            .zip(e.patches.iter())
                            .find_map(|(a, p)| {
                                (a.patch == *id && matches!(a.state, PatchState::Installed))
                                    .then_some(*p)
                                    .flatten()
                            })
                    });
                    if let Some(patch) = installed {
                        base.insert(
                            at,
                            (
                                patch,
                                Base::Settled(State::InstalledPendingReboot { since: latest.at }),
                                None,
                            ),
                        );
                        changed = true;
                    }
                }
            }
        }
        if changed {
            let (m_min, f_min, failing) = evidence(&base);
            w.base = Arc::from(base);
            w.m_min = m_min;
            w.f_min = f_min;
            w.failing = failing;
        }
        if let Some(r) = w.rollout {
            w.successes = results
                .iter()
                .filter(|res| res.outcome != Outcome::Failed)
                .filter_map(|res| {
                    let p = catalog.patches.get(&res.patch)?;
                    let k = self.rollouts[r].cut.get(&key(p))?;
                    Some((*k, res.at))
                })
                .collect();
        }
    }

    fn decline_reason(&self, placement: Option<(usize, usize)>, patch: &Patch) -> &'a str {
        let policy = self.planner.policy;
        placement
            .and_then(|(r, _)| policy.approval(&self.rollouts[r].doc.spec.approval))
            .and_then(|a| a.spec.decline.iter().find(|d| d.patch == patch.id.as_str()))
            .map_or("", |d| d.reason.as_str())
    }

    /// The patch's deadline under rollout `r`: its release (or approval, if
    /// undated) plus the severity's deadline, else the rollout's.
    fn deadline(&self, r: usize, patch: &Patch, approved: Timestamp) -> Option<Timestamp> {
        let spec = &self.rollouts[r].doc.spec;
        let sla = spec.deadlines.get(patch.severity).or(spec.deadline)?;
        patch
            .released
            .unwrap_or(approved)
            .checked_add(sla.to_signed_duration())
            .ok()
    }

    fn software(&self, m: &Machine) -> Vec<SoftwareFinding<'a>> {
        let policy = self.planner.policy;
        let mut found = Vec::new();
        let Some(inventory) = self.fleet.inventory_of(m) else {
            return found;
        };
        for doc in &policy.software {
            let spec = &doc.spec;
            if let Some(groups) = &spec.groups
                && !groups
                    .iter()
                    .any(|g| g == "all" || super::groups::in_group(m, g, policy))
            {
                continue;
            }
            for rule in &spec.absent {
                for p in inventory.packages() {
                    if rule.package.matches(&p.name) {
                        found.push(SoftwareFinding::Remove {
                            policy: doc.name(),
                            package: p.name.clone(),
                            version: p.version.clone(),
                            reason: rule.reason.as_deref(),
                        });
                    }
                }
            }
            for rule in &spec.present {
                if !inventory
                    .packages()
                    .iter()
                    .any(|p| rule.package.matches(&p.name))
                {
                    found.push(SoftwareFinding::Install {
                        policy: doc.name(),
                        package: rule.package.as_str(),
                        reason: rule.reason.as_deref(),
                    });
                }
            }
        }
        found
    }

    /// Decides which release ring `ring` of rollout `r` is on.
    fn promote(&mut self, r: usize, ring: usize) {
        let failing = self.rollouts[r].ring_machines[ring]
            .iter()
            .filter(|&&i| self.work[i].f_min != usize::MAX)
            .count();
        self.rollouts[r].ring_failing[ring] = failing;
        let spec = &self.rollouts[r].doc.spec.rings[ring];
        let members = u32::try_from(self.rollouts[r].ring_machines[ring].len()).unwrap_or(u32::MAX);
        self.rollouts[r].budget[ring] = spec
            .error_budget
            .map(|b| b.of(members) as usize)
            .filter(|&budget| failing > budget)
            .map(|budget| {
                Arc::new(Hold::ErrorBudget {
                    ring: spec.name.as_str(),
                    failing,
                    budget,
                })
            });
        let releases = self.rollouts[r].cuts.len();
        let mut on = None;
        let mut next = None;
        for k in (0..releases).rev() {
            match self.hold(r, ring, k) {
                None => {
                    on = Some(k);
                    break;
                }
                Some(h) => next = Some(h),
            }
        }
        self.rollouts[r].ring_release[ring] = on;
        self.rollouts[r].ring_next[ring] = if on == releases.checked_sub(1) {
            None
        } else {
            next
        };
    }

    /// What keeps release `k` out of ring `ring` of rollout `r`; `None`: nothing.
    fn hold(&mut self, r: usize, ring: usize, k: usize) -> Option<Arc<Hold<'a>>> {
        if let Some(h) = self.rollouts[r].holds.get(&(ring, k)) {
            return h.clone();
        }
        let h = self.compute_hold(r, ring, k);
        self.rollouts[r].holds.insert((ring, k), h.clone());
        h
    }

    fn compute_hold(&mut self, r: usize, ring: usize, k: usize) -> Option<Arc<Hold<'a>>> {
        match self.compute_hold_owned(r, ring, k) {
            Ok(hold) => hold.map(Arc::new),
            Err(shared) => Some(shared),
        }
    }

    /// `Err`: the previous ring's hold, shared as it is.
    fn compute_hold_owned(
        &mut self,
        r: usize,
        ring: usize,
        k: usize,
    ) -> Result<Option<Hold<'a>>, Arc<Hold<'a>>> {
        let now = self.now;
        let doc: &'a Document<RolloutSpec> = self.rollouts[r].doc;
        let spec = &doc.spec;
        let this = &spec.rings[ring];
        // When the release reaches this ring by delay alone.
        let reach = self.reach(r, ring, k);
        if reach > now {
            return Ok(Some(Hold::RingDelay {
                ring: &this.name,
                release: k,
                until: reach,
            }));
        }
        if ring == 0 {
            return Ok(None);
        }
        // Release k must have reached the previous ring, and met this ring's gate there.
        let previous = &spec.rings[ring - 1];
        let progress = self.progress(r, ring - 1, k, this.gate.as_ref());
        if let Some(gate) = &this.gate
            && let Some(halt) = gate.halt_on_failures
        {
            let counted = progress.succeeded + progress.failed + progress.pending;
            #[allow(clippy::cast_precision_loss)]
            let rate = if counted == 0 {
                0.0
            } else {
                progress.failed as f64 / counted as f64
            };
            if progress.failed > 0 && rate > halt.fraction() {
                return Ok(Some(Hold::Halted {
                    ring: &this.name,
                    previous: &previous.name,
                    release: k,
                    progress,
                }));
            }
        }
        // The release must be in the previous ring (or that ring on a newer one).
        let previous_on = self.rollouts[r].ring_release[ring - 1];
        if previous_on.is_none_or(|p| p < k) {
            if let Some(shared) = self.hold(r, ring - 1, k) {
                return Err(shared);
            }
            return Ok(Some(Hold::Gate {
                ring: &this.name,
                previous: &previous.name,
                release: k,
                progress,
                until: None,
            }));
        }
        let Some(gate) = &this.gate else {
            return Ok(None);
        };
        let met = self.gate_met_at(r, ring - 1, k, gate);
        let soak = gate
            .soak
            .map_or(SignedDuration::ZERO, |s| s.to_signed_duration());
        Ok(match met.and_then(|t| t.checked_add(soak).ok()) {
            Some(open) if open <= now => None,
            until => Some(Hold::Gate {
                ring: &this.name,
                previous: &previous.name,
                release: k,
                progress,
                until,
            }),
        })
    }

    /// When release `k` may enter ring `ring` by its delay: the approval of
    /// its newest non-expedited patch plus the ring's delay (a release of only
    /// expedited patches: at its cut).
    fn reach(&self, r: usize, ring: usize, k: usize) -> Timestamp {
        let rollout = &self.rollouts[r];
        let delay = rollout.doc.spec.rings[ring].delay.to_signed_duration();
        match rollout.delay_base[k] {
            Some(base) => base.checked_add(delay).unwrap_or(Timestamp::MAX),
            None => rollout.cuts[k].0,
        }
    }

    /// How ring `ring`'s machines fared with release `k`.
    fn progress(&self, r: usize, ring: usize, k: usize, gate: Option<&Gate>) -> GateProgress {
        let mut p = GateProgress {
            min_machines: gate.and_then(|g| g.min_machines).map_or(0, |n| n as usize),
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            min_success_permille: gate
                .and_then(|g| g.min_success)
                .map(|s| (s.value() * 10.0).round() as u32),
            ..GateProgress::default()
        };
        for &i in &self.rollouts[r].ring_machines[ring] {
            let w = &self.work[i];
            if w.f_min <= k {
                p.failed += 1;
            } else if w.m_min <= k {
                p.pending += 1;
            } else if w.successes.iter().any(|(c, _)| *c <= k) {
                p.succeeded += 1;
            }
        }
        p
    }

    /// The first instant at which ring `ring`'s results for release `k` meet
    /// `gate` (see the module documentation); `None`: not met.
    fn gate_met_at(&self, r: usize, ring: usize, k: usize, gate: &Gate) -> Option<Timestamp> {
        let min_machines = gate.min_machines.map_or(0, |n| n as usize);
        let min_success = gate.min_success.map_or(0.0, |s| s.fraction());
        // (time, succeeded?) events.
        let mut events: Vec<(Timestamp, bool)> = Vec::new();
        for &i in &self.rollouts[r].ring_machines[ring] {
            let w = &self.work[i];
            if w.f_min <= k {
                // Failed since its first failure at a patch of the release.
                let at = w
                    .failing
                    .iter()
                    .filter(|(c, _)| *c <= k)
                    .map(|(_, t)| *t)
                    .min()
                    .unwrap_or(self.now);
                events.push((at, false));
            } else if w.m_min > k
                && let Some(at) = w
                    .successes
                    .iter()
                    .filter(|(c, _)| *c <= k)
                    .map(|(_, t)| *t)
                    .max()
            {
                events.push((at, true));
            }
        }
        events.sort();
        let (mut ok, mut bad) = (0usize, 0usize);
        let meets = |ok: usize, bad: usize| {
            #[allow(clippy::cast_precision_loss)]
            let rate = if ok + bad == 0 {
                1.0
            } else {
                ok as f64 / (ok + bad) as f64
            };
            ok >= min_machines && rate + 1e-9 >= min_success
        };
        if events.is_empty() {
            // Nothing to validate: met when the release reached the previous ring.
            return (min_machines == 0).then(|| self.reach(r, ring, k));
        }
        for (at, success) in events {
            if success {
                ok += 1;
            } else {
                bad += 1;
            }
            if meets(ok, bad) {
                return Some(at.max(self.reach(r, ring, k)));
            }
        }
        None
    }

    /// Recomputes machine `i` into `plan` in place; `None` when the change
    /// could reach other machines and the whole fleet must be replanned.
    fn update_machine(
        &mut self,
        i: usize,
        plan: &mut Plan<'a>,
        batch_of: &HashMap<usize, usize>,
    ) -> Option<()> {
        let policy = self.planner.policy;
        let fleet = self.fleet;
        let m = &fleet.machines()[i];
        let placement = policy
            .rollouts
            .iter()
            .enumerate()
            .find_map(|(r, doc)| ring_of(m, doc, policy).map(|(ring, _)| (r, ring)));
        let old = &self.work[i];
        if placement != old.rollout.zip(old.ring) {
            return None;
        }
        if let Some((r, _)) = placement {
            let platform = fleet.inventory_of(m)?.platform();
            if !self.rollouts[r].platforms.contains(platform) {
                return None;
            }
        }
        let exclusions: Vec<usize> = policy
            .exclusions
            .iter()
            .enumerate()
            .filter(|(_, e)| in_scope(m, &e.spec.machines, policy))
            .map(|(k, _)| k)
            .collect();
        let mut new = self.machine_work(m, placement, &exclusions);
        self.apply_history(&mut new, m);
        if let Some((r, ring)) = placement {
            let rw = &self.rollouts[r];
            let old = &self.work[i];
            let evidence_changed = (old.m_min, &old.failing, &old.successes)
                != (new.m_min, &new.failing, &new.successes);
            let feeds_gate = ring + 1 < rw.doc.spec.rings.len();
            let failing_changed = (old.f_min == usize::MAX) != (new.f_min == usize::MAX);
            if (feeds_gate && evidence_changed) || failing_changed {
                return None;
            }
        }
        // A machine that starts or stops having work moves the batches of
        // the rest of its ring. (On `None` the caller replans from scratch,
        // so the work need not be put back.)
        let release = placement.and_then(|(r, ring)| {
            self.rollouts[r].doc.spec.rings[ring]
                .max_concurrent
                .map(|_| self.rollouts[r].ring_release[ring])
        });
        let was_busy = release.map(|k| self.busy(i, k));
        self.work[i] = new;
        if release.map(|k| self.busy(i, k)) != was_busy {
            return None;
        }
        let batch = batch_of.get(&i).copied().unwrap_or(0);
        let mut shared = HashMap::new();
        let mp = self.machine_plan(i, batch, &mut shared);
        let old_plan = std::mem::replace(&mut plan.machines[i], mp);
        let old_tallies = self.patch_tallies(&old_plan.patches);
        self.contribute(&mut plan.compliance, i, &old_plan, &old_tallies, false);
        let new_tallies = self.patch_tallies(&plan.machines[i].patches);
        let new_plan = plan.machines[i].clone();
        self.contribute(&mut plan.compliance, i, &new_plan, &new_tallies, true);
        Some(())
    }

    /// Whether machine `i` has a patch to install in its ring's release
    /// before its deadline: what concurrency limits count.
    fn busy(&self, i: usize, release: Option<usize>) -> bool {
        let now = self.now;
        self.work[i].base.iter().any(|(_, b, d)| match b {
            Base::Required { cut, .. } => {
                release.is_some_and(|k| *cut <= k) && d.is_none_or(|d| d > now)
            }
            _ => false,
        })
    }

    /// Concurrency batches: per ring with a limit, the machines with something
    /// to install, by id, `limit` a batch.
    fn batches(&self) -> HashMap<usize, usize> {
        let fleet = self.fleet;
        let mut batch_of: HashMap<usize, usize> = HashMap::new();
        for rw in &self.rollouts {
            for (ring, members) in rw.ring_machines.iter().enumerate() {
                let Some(limit) = rw.doc.spec.rings[ring].max_concurrent else {
                    continue;
                };
                let limit = limit
                    .of(u32::try_from(members.len()).unwrap_or(u32::MAX))
                    .max(1) as usize;
                let release = rw.ring_release[ring];
                let mut busy: Vec<usize> = members
                    .iter()
                    .copied()
                    .filter(|&i| self.busy(i, release))
                    .collect();
                busy.sort_by(|&a, &b| fleet.machines()[a].id.cmp(&fleet.machines()[b].id));
                for (pos, i) in busy.into_iter().enumerate() {
                    batch_of.insert(i, pos / limit);
                }
            }
        }
        batch_of
    }

    /// The plan of machine `i`, sharing states through `shared` where it can.
    fn machine_plan(
        &self,
        i: usize,
        batch: usize,
        shared: &mut HashMap<StatesKey<'f>, SharedStates<'a>>,
    ) -> MachinePlan<'a> {
        let now = self.now;
        let m: &'f Machine = &self.fleet.machines()[i];
        let w = &self.work[i];
        let zone = self.window_zone(w);
        let key = (
            Arc::as_ptr(&w.base).cast::<u8>() as usize,
            batch,
            m.time_zone.as_deref(),
        );
        let (patches, patches_compliant, patches_projected) = match shared.get(&key) {
            // The base's address stands for its content (every base is alive
            // while this runs), and the states depend on nothing else.
            Some(hit) => hit.clone(),
            _ => {
                let list: Vec<PatchPlan<'a>> = w
                    .base
                    .iter()
                    .map(|(patch, b, deadline)| PatchPlan {
                        patch: &patch.id,
                        severity: patch.severity,
                        state: self.state_of(w, b, *deadline, batch, zone.as_ref()),
                        deadline: *deadline,
                    })
                    .collect();
                let list: Arc<[PatchPlan<'a>]> = Arc::from(list);
                let compliant = !list
                    .iter()
                    .any(|p| p.state.is_required() && p.deadline.is_some_and(|d| d <= now));
                let projected = self.projection(w, &list, batch, zone.as_ref());
                let entry = (list, compliant, projected);
                shared.insert(key, entry.clone());
                entry
            }
        };
        let removals = w
            .software
            .iter()
            .any(|f| matches!(f, SoftwareFinding::Remove { .. }));
        let compliant = patches_compliant && !removals;
        // Software to remove goes in the machine's next opening.
        let projected = match patches_projected {
            Some(at) if removals => {
                let slot = self.slot(w, now, None, batch, zone.as_ref());
                (slot.why != SlotReason::NeverOpens).then(|| at.max(slot.start))
            }
            other => other,
        };
        let (rollout, ring, release) = match (w.rollout, w.ring) {
            (Some(r), Some(ring)) => {
                let rw = &self.rollouts[r];
                (
                    Some(rw.doc.name()),
                    Some(rw.doc.spec.rings[ring].name.as_str()),
                    rw.ring_release[ring],
                )
            }
            _ => (None, None, None),
        };
        MachinePlan {
            machine: m.id.clone(),
            rollout,
            ring,
            release,
            patches,
            software: w.software.clone(),
            compliant,
            projected_compliance: projected,
        }
    }

    /// The missing approved patches of a list, counted by (severity, age
    /// bucket): (missing, overdue).
    fn patch_tallies(&self, patches: &[PatchPlan<'a>]) -> PatchTallies {
        let now = self.now;
        let mut out: PatchTallies = Vec::new();
        for p in patches.iter().filter(|p| p.state.is_required()) {
            let overdue = usize::from(p.deadline.is_some_and(|d| d <= now));
            let released = self
                .planner
                .catalog
                .patches
                .get(p.patch)
                .and_then(|x| x.released);
            let key = (p.severity, age_bucket(released, now));
            match out.iter_mut().find(|(k, _, _)| *k == key) {
                Some(entry) => {
                    entry.1 += 1;
                    entry.2 += overdue;
                }
                None => out.push((key, 1, overdue)),
            }
        }
        out
    }

    /// Adds machine `i`'s plan to the compliance tallies, or takes it away;
    /// `tallies` are those of its patches ([`Run::patch_tallies`]).
    fn contribute(
        &self,
        c: &mut Compliance,
        i: usize,
        mp: &MachinePlan<'a>,
        tallies: &PatchTallies,
        add: bool,
    ) {
        let m = &self.fleet.machines()[i];
        let step = |t: &mut Tally| {
            if add {
                tally(t, mp.compliant);
            } else {
                t.total -= 1;
                t.compliant -= usize::from(mp.compliant);
            }
        };
        step(&mut c.machines);
        match (mp.rollout, mp.ring) {
            (Some(r), Some(ring)) => {
                let key = format!("{r}/{ring}");
                match c.by_ring.get_mut(&key) {
                    Some(t) => step(t),
                    None => step(c.by_ring.entry(key).or_default()),
                }
            }
            _ => step(c.by_ring.entry("(none)".to_owned()).or_default()),
        }
        for g in groups_of(m, self.planner.policy) {
            match c.by_group.get_mut(g) {
                Some(t) => step(t),
                None => step(c.by_group.entry(g.to_owned()).or_default()),
            }
        }
        for &((severity, age), missing, overdue) in tallies {
            for entry in [
                c.by_severity.entry(severity).or_default(),
                c.by_age.entry(age).or_default(),
            ] {
                if add {
                    entry.missing += missing;
                    entry.overdue += overdue;
                } else {
                    entry.missing -= missing;
                    entry.overdue -= overdue;
                }
            }
        }
        if !add {
            // A tally that counts nothing is left out, as a full plan leaves it out.
            c.by_severity.retain(|_, v| v.missing > 0);
            c.by_age.retain(|_, v| v.missing > 0);
        }
    }

    fn finish(self) -> (Plan<'a>, Memo<'a>) {
        let now = self.now;
        let batch_of = self.batches();
        let mut compliance = Compliance::default();
        // Machines sharing a base, a batch and a time zone share their states.
        let mut shared: HashMap<StatesKey<'f>, SharedStates<'a>> = HashMap::new();
        let mut machines = Vec::with_capacity(self.work.len());
        // Machines sharing states share their patch tallies.
        let mut tallies: HashMap<usize, PatchTallies> = HashMap::new();
        for i in 0..self.work.len() {
            let batch = batch_of.get(&i).copied().unwrap_or(0);
            let mp = self.machine_plan(i, batch, &mut shared);
            let t = tallies
                .entry(Arc::as_ptr(&mp.patches).cast::<u8>() as usize)
                .or_insert_with(|| self.patch_tallies(&mp.patches));
            self.contribute(&mut compliance, i, &mp, t, true);
            machines.push(mp);
        }
        // Releases: hash the exact set of each, in order.
        let mut rollouts = Vec::new();
        for rw in &self.rollouts {
            let mut set: BTreeSet<&PatchId> = BTreeSet::new();
            let mut releases = Vec::new();
            for (cut, added) in &rw.cuts {
                set.extend(added.iter().copied());
                let mut h = Sha256::new();
                for id in &set {
                    h.update(id.as_str().as_bytes());
                    h.update(b"\n");
                }
                let digest = h.finalize();
                let id: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
                let id = format!("r-{id}");
                releases.push(Release {
                    id,
                    cut: *cut,
                    added: added.clone(),
                    size: set.len(),
                });
            }
            let paused = rw
                .doc
                .spec
                .pause
                .as_ref()
                .filter(|p| p.until.end > now)
                .map(|p| PauseHold {
                    rollout: rw.doc.name(),
                    reason: p.reason.as_str(),
                    until: p.until.end,
                });
            let rings = rw
                .doc
                .spec
                .rings
                .iter()
                .enumerate()
                .map(|(ring, spec)| {
                    let members = rw.ring_machines[ring].len();
                    let n = u32::try_from(members).unwrap_or(u32::MAX);
                    RingPlan {
                        name: spec.name.as_str(),
                        machines: members,
                        release: rw.ring_release[ring],
                        next: rw.ring_next[ring].as_deref().cloned(),
                        failing: rw.ring_failing[ring],
                        error_budget: spec.error_budget.map(|b| b.of(n) as usize),
                        max_concurrent: spec.max_concurrent.map(|c| c.of(n).max(1) as usize),
                    }
                })
                .collect();
            rollouts.push(RolloutPlan {
                name: rw.doc.name(),
                releases,
                rings,
                paused,
            });
        }
        let plan = Plan {
            now,
            rollouts,
            machines,
            compliance,
        };
        let memo = Memo {
            now,
            machines: self.fleet.machines().len(),
            rollouts: self.rollouts,
            work: self.work,
            batch_of,
        };
        (plan, memo)
    }

    fn window_zone(&self, w: &MachineWork<'a>) -> Option<TimeZone> {
        let r = w.rollout?;
        let name = self.rollouts[r].window?;
        let cw = self.planner.windows.get(name)?;
        Some(
            cw.zone
                .clone()
                .or_else(|| w.tz.clone())
                .unwrap_or(TimeZone::UTC),
        )
    }

    /// The state of one patch of machine `w`, now that its ring's release is known.
    fn state_of(
        &self,
        w: &MachineWork<'a>,
        base: &Base<'a>,
        deadline: Option<Timestamp>,
        batch: usize,
        zone: Option<&TimeZone>,
    ) -> State<'a> {
        let now = self.now;
        let (cut, failures, last) = match base {
            Base::Settled(s) => return s.clone(),
            Base::Required {
                cut,
                failures,
                last,
                ..
            } => (*cut, *failures, last.clone()),
        };
        let (Some(r), Some(ring)) = (w.rollout, w.ring) else {
            return State::Held {
                hold: Arc::clone(&self.no_rollout),
            };
        };
        let rw = &self.rollouts[r];
        let spec = &rw.doc.spec;
        let on = rw.ring_release[ring];
        if on.is_none_or(|k| k < cut) {
            let hold = rw
                .holds
                .get(&(ring, cut))
                .cloned()
                .flatten()
                .unwrap_or_else(|| {
                    Arc::new(Hold::RingDelay {
                        ring: spec.rings[ring].name.as_str(),
                        release: cut,
                        until: now,
                    })
                });
            return match last {
                Some((error, at)) if failures > 0 => State::Failed(Box::new(Failure {
                    attempts: failures,
                    last_error: error.clone(),
                    last_at: at,
                    retry: None,
                    held: Some(hold),
                })),
                _ => State::Held { hold },
            };
        }
        let failed = |retry: Option<Slot>, held: Option<Arc<Hold<'a>>>| match last {
            Some((error, at)) if failures > 0 => Some(State::Failed(Box::new(Failure {
                attempts: failures,
                last_error: error.clone(),
                last_at: at,
                retry,
                held,
            }))),
            _ => None,
        };
        let hold = rw.pause.clone().or_else(|| rw.budget[ring].clone());
        if let Some(hold) = hold {
            return failed(None, Some(hold.clone())).unwrap_or(State::Held { hold });
        }
        let slot = self.slot(w, now, deadline, batch, zone);
        failed(Some(slot), None).unwrap_or(State::Scheduled {
            release: on.unwrap_or(cut),
            slot,
        })
    }

    /// When machine `w` installs something that becomes installable at
    /// `eligible`: the opening of its window (skipping `batch` openings), or
    /// the deadline if that comes first.
    fn slot(
        &self,
        w: &MachineWork<'a>,
        eligible: Timestamp,
        deadline: Option<Timestamp>,
        batch: usize,
        zone: Option<&TimeZone>,
    ) -> Slot {
        let reboot = w.rollout.map_or(RebootMode::IfRequired, |r| {
            self.rollouts[r].doc.spec.reboot.mode
        });
        let mut slot = Slot {
            start: eligible,
            end: None,
            why: SlotReason::NoWindow,
            batch,
            reboot,
        };
        if deadline.is_some_and(|d| d <= eligible) {
            slot.why = SlotReason::Overdue;
            slot.batch = 0;
            return slot;
        }
        let window = w
            .rollout
            .and_then(|r| self.rollouts[r].window)
            .and_then(|name| self.planner.windows.get(name));
        let (Some(cw), Some(tz)) = (window, zone) else {
            return slot;
        };
        let mut opening = cw.window.next_window(tz, eligible, &cw.freezes);
        if batch > 0 {
            opening = opening.and_then(|o| {
                cw.window
                    .openings(tz, o.start.timestamp(), &cw.freezes)
                    .nth(batch - 1)
            });
        }
        match opening {
            Some(o) if deadline.is_none_or(|d| o.start.timestamp().max(eligible) <= d) => {
                slot.start = o.start.timestamp().max(eligible);
                slot.end = Some(o.end.timestamp());
                slot.why = SlotReason::Window;
            }
            _ => match deadline {
                Some(d) => {
                    slot.start = d;
                    slot.why = SlotReason::Deadline;
                }
                None => slot.why = SlotReason::NeverOpens,
            },
        }
        slot
    }

    /// When every approved patch in `patches` is expected to be installed:
    /// `None` when one waits for something without a date.
    fn projection(
        &self,
        w: &MachineWork<'a>,
        patches: &[PatchPlan<'a>],
        batch: usize,
        zone: Option<&TimeZone>,
    ) -> Option<Timestamp> {
        let mut latest = self.now;
        // Held patches wait for the same few instants: one window search each.
        let mut openings: Vec<(Timestamp, Slot)> = Vec::new();
        for p in patches.iter().filter(|p| p.state.is_required()) {
            let at = match &p.state {
                State::Scheduled { slot, .. } if slot.why != SlotReason::NeverOpens => slot.start,
                State::Held { hold } => match &**hold {
                    Hold::RingDelay { until, .. } | Hold::Paused(PauseHold { until, .. }) => {
                        let until = *until;
                        let slot = match openings.iter().find(|(u, _)| *u == until) {
                            Some((_, slot)) => *slot,
                            None => {
                                let slot = self.slot(w, until, None, batch, zone);
                                openings.push((until, slot));
                                slot
                            }
                        };
                        // As `slot` would with the deadline: due at the deadline
                        // when that comes before the opening.
                        match p.deadline {
                            Some(d) if d <= until => until,
                            Some(d) if slot.why == SlotReason::NeverOpens || slot.start > d => d,
                            _ => slot.start,
                        }
                    }
                    _ => return None,
                },
                _ => return None,
            };
            latest = latest.max(at);
        }
        Some(latest)
    }
}

/// The ring evidence of a base: the lowest release index among required
/// patches, the lowest among failing ones, and (release, since) of each failing.
fn evidence(
    base: &[(&Patch, Base<'_>, Option<Timestamp>)],
) -> (usize, usize, Vec<(usize, Timestamp)>) {
    let mut m_min = usize::MAX;
    let mut f_min = usize::MAX;
    let mut failing = Vec::new();
    for (_, b, _) in base {
        if let Base::Required {
            cut, failing_since, ..
        } = b
        {
            m_min = m_min.min(*cut);
            if let Some(since) = failing_since {
                f_min = f_min.min(*cut);
                failing.push((*cut, *since));
            }
        }
    }
    (m_min, f_min, failing)
}

fn tally(t: &mut Tally, compliant: bool) {
    t.total += 1;
    t.compliant += usize::from(compliant);
}

/// The age bucket of a patch released at `released`, at `now`.
fn age_bucket(released: Option<Timestamp>, now: Timestamp) -> &'static str {
    let Some(released) = released else {
        return "undated";
    };
    let days = now.duration_since(released).as_hours() / 24;
    match days {
        ..=7 => "0-7d",
        8..=30 => "8-30d",
        31..=90 => "31-90d",
        _ => ">90d",
    }
}

/// An inventory's applicability, with what every plan needs of it resolved
/// once: each applicable patch's catalog entry, and which missing patches
/// supersede which by version.
struct Evaluated<'a> {
    applicable: Box<[Applicable]>,
    /// The catalog patch of each entry of `applicable`.
    patches: Box<[Option<&'a Patch>]>,
    /// For each entry of `applicable`: the missing entries that update every
    /// package it does to a higher version, in order.
    successors: Box<[Box<[u32]>]>,
}

fn evaluate<'a>(
    index: &ApplicabilityIndex<'_>,
    catalog: &'a Catalog,
    inventory: &Inventory,
) -> Evaluated<'a> {
    let applicable = index.applicable_patches(inventory);
    let scheme = inventory.platform().scheme();
    let patches: Box<[Option<&'a Patch>]> = applicable
        .iter()
        .map(|a| catalog.patches.get(&a.patch))
        .collect();
    // Missing patches by a package they update: a successor must update every
    // package the older patch does, so only patches sharing its first package
    // are candidates (this keeps the pass near linear).
    let mut by_package: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
    for (ai, a) in applicable.iter().enumerate() {
        if let PatchState::Missing { packages } = &a.state {
            for p in packages {
                by_package
                    .entry((p.package.as_str(), p.architecture.as_str()))
                    .or_default()
                    .push(ai);
            }
        }
    }
    let successors = applicable
        .iter()
        .enumerate()
        .map(|(ai, a)| {
            let PatchState::Missing { packages } = &a.state else {
                return Box::default();
            };
            let Some(first) = packages.first() else {
                return Box::default();
            };
            by_package
                .get(&(first.package.as_str(), first.architecture.as_str()))
                .map_or_else(Box::default, |candidates| {
                    candidates
                        .iter()
                        .filter(|&&oi| {
                            oi != ai
                                && a.superseded_by_missing(
                                    std::slice::from_ref(&applicable[oi]),
                                    scheme,
                                )
                        })
                        .filter_map(|&oi| u32::try_from(oi).ok())
                        .collect()
                })
        })
        .collect();
    Evaluated {
        applicable: applicable.into_boxed_slice(),
        patches,
        successors,
    }
}
