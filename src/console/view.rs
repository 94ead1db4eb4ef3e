//! The console's view of the fleet: what every page shows, built once per
//! reconcile pass from the plan and its inputs and indexed so that a page
//! answers in milliseconds at 100,000 machines.
//!
//! ```text
//!  Plan + PolicySet + Catalog + Fleet + check-in times + now ──View::build──▶ View
//!      machines (fleet order)  ─┐
//!      entries (shared lists) ──┼─▶ drift rows: (machine, entry) for every pair that differs from the plan
//!      patches, rings, rollouts, exclusions, software findings, compliance
//!  directory computers ─match_computers─▶ directory report (unmanaged, no object, by OU, disabled)
//! ```
//!
//! Pure: no IO and no clock. Machines that share one list of patch states in
//! the plan (same inventory, ring, window and exclusions) share one run of
//! [`View::entries`], so the reasons are rendered once per distinct list, not
//! once per machine.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use crate::directory::DirectoryComputer;

use fixpoint_core::catalog::Catalog;
use fixpoint_core::fleet::{Fleet, Outcome};
use fixpoint_core::plan::{self, Compliance, Hold, Plan, Planner, SoftwareFinding, State, Tally};
use fixpoint_core::policy::PolicySet;
use fixpoint_core::rating::Severity;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

/// When a machine enrolled and last checked in, as the store knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Activity {
    pub enrolled_at: Timestamp,
    pub last_check_in: Option<Timestamp>,
}

/// What the view is built from.
#[derive(Clone, Copy)]
pub struct Inputs<'a> {
    pub plan: &'a Plan<'a>,
    pub policy: &'a PolicySet,
    pub catalog: &'a Catalog,
    pub fleet: &'a Fleet,
    pub activity: &'a HashMap<String, Activity>,
    /// The agents' check-in interval: a machine silent for two of them is stale.
    pub interval: SignedDuration,
    pub revision: &'a str,
    /// The planner that made `plan`: it knows which patches each distinct
    /// inventory has installed (the plan's lists leave them out).
    pub planner: &'a Planner<'a>,
    /// The computers of the configured directory sources (empty without any);
    /// the fleet's machines already carry the facts of those they match.
    pub directory: &'a [DirectoryComputer],
}

impl std::fmt::Debug for Inputs<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inputs")
            .field("revision", &self.revision)
            .field("machines", &self.plan.machines.len())
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

/// The kind of a machine-patch pair (or machine-package pair, for software rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Failed,
    Scheduled,
    Held,
    PendingReboot,
    InstalledAlthoughDeclined,
    RemoveSoftware,
    InstallSoftware,
    AwaitingApproval,
    Declined,
    Excluded,
    Superseded,
    Installed,
}

impl Kind {
    pub const ALL: [Kind; 12] = [
        Kind::Failed,
        Kind::Scheduled,
        Kind::Held,
        Kind::PendingReboot,
        Kind::InstalledAlthoughDeclined,
        Kind::RemoveSoftware,
        Kind::InstallSoftware,
        Kind::AwaitingApproval,
        Kind::Declined,
        Kind::Excluded,
        Kind::Superseded,
        Kind::Installed,
    ];

    /// The kinds that are drift: the machine differs from what the plan wants.
    pub const DRIFT: [Kind; 7] = [
        Kind::Failed,
        Kind::Scheduled,
        Kind::Held,
        Kind::PendingReboot,
        Kind::InstalledAlthoughDeclined,
        Kind::RemoveSoftware,
        Kind::InstallSoftware,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Failed => "failed",
            Kind::Scheduled => "scheduled",
            Kind::Held => "held",
            Kind::PendingReboot => "pending-reboot",
            Kind::InstalledAlthoughDeclined => "installed-although-declined",
            Kind::RemoveSoftware => "remove-software",
            Kind::InstallSoftware => "install-software",
            Kind::AwaitingApproval => "awaiting-approval",
            Kind::Declined => "declined",
            Kind::Excluded => "excluded",
            Kind::Superseded => "superseded",
            Kind::Installed => "installed",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }

    pub fn is_drift(self) -> bool {
        Kind::DRIFT.contains(&self)
    }

    fn of(state: &State<'_>) -> Kind {
        match state {
            State::Installed | State::NotApplicable => Kind::Installed,
            State::InstalledPendingReboot { .. } => Kind::PendingReboot,
            State::Failed(_) => Kind::Failed,
            State::Scheduled { .. } => Kind::Scheduled,
            State::AwaitingApproval { .. } => Kind::AwaitingApproval,
            State::Held { .. } => Kind::Held,
            State::Declined { .. } => Kind::Declined,
            State::InstalledAlthoughDeclined { .. } => Kind::InstalledAlthoughDeclined,
            State::Excluded { .. } => Kind::Excluded,
            State::Superseded { .. } => Kind::Superseded,
        }
    }
}

/// Where a machine stands, in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Standing {
    /// Nothing differs from the plan.
    InSync,
    /// Something differs, but nothing is past its deadline.
    Drifting,
    /// An approved patch is past its deadline, or prohibited software is present.
    Overdue,
}

impl Standing {
    pub const ALL: [Standing; 3] = [Standing::InSync, Standing::Drifting, Standing::Overdue];

    pub fn name(self) -> &'static str {
        match self {
            Standing::InSync => "in-sync",
            Standing::Drifting => "drifting",
            Standing::Overdue => "overdue",
        }
    }

    pub fn parse(s: &str) -> Option<Standing> {
        Standing::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// One machine-patch (or machine-package) pair's state and its reason.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The patch, by position in [`View::patches`]; `None` for a software rule.
    pub patch: Option<u32>,
    /// For a software rule: the package (and version, for a removal).
    pub package: Option<Box<str>>,
    pub kind: Kind,
    pub severity: Severity,
    pub deadline: Option<Timestamp>,
    /// When it installs (scheduled), or is retried (failed).
    pub when: Option<Timestamp>,
    /// The exclusion, by position in [`View::exclusions`], for an excluded pair.
    pub exclusion: Option<u16>,
    pub reason: Box<str>,
}

/// One distinct list of patch entries, shared by every machine planned alike
/// (same inventory, ring, window and exclusions). At 100,000 machines there
/// are a few thousand: pages count and filter per list, then multiply by its
/// machines, instead of walking every machine-patch pair.
#[derive(Debug, Clone, Default)]
pub struct ListRow {
    pub entries: Range<u32>,
    /// Its entries that are drift, in entry order.
    pub drift: Vec<u32>,
    /// Of those, past their deadline.
    pub overdue: u32,
    /// Whether something approved is still to be installed (scheduled, held or failed).
    pub required: bool,
    pub pending_reboot: bool,
    /// The machines that use it.
    pub machines: u32,
}

/// One machine.
#[derive(Debug, Clone)]
pub struct MachineRow {
    pub id: String,
    pub hostname: String,
    pub os: String,
    pub platform: String,
    pub kernel: Option<String>,
    pub time_zone: Option<String>,
    pub site: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub ou: Option<String>,
    /// Machine groups, by position in [`View::groups`].
    pub groups: Vec<u16>,
    /// `rollout/ring`, by position in [`View::rings`].
    pub ring: Option<u16>,
    /// The release its ring is on.
    pub release: Option<String>,
    pub compliant: bool,
    pub standing: Standing,
    pub projected: Option<Timestamp>,
    pub enrolled_at: Option<Timestamp>,
    pub last_check_in: Option<Timestamp>,
    pub stale: bool,
    pub reboot_required: bool,
    pub inventory: String,
    pub packages: usize,
    /// Its list of patch entries, by position in [`View::lists`] (shared with
    /// machines planned alike), that list's range of [`View::entries`], and
    /// its own software findings.
    pub list: u32,
    pub entries: Range<u32>,
    pub software: Range<u32>,
    pub drift: u32,
    pub overdue: u32,
}

impl MachineRow {
    /// Its entries' positions in [`View::entries`].
    pub fn entry_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.entries.clone().chain(self.software.clone())
    }
}

/// One file of a patch.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileRow {
    pub url: String,
    pub sha256: Option<String>,
    pub size: Option<u64>,
    pub package: Option<String>,
    pub arch: Option<String>,
}

/// One patch that applies to some machine of the fleet.
#[derive(Debug, Clone)]
pub struct PatchRow {
    pub id: String,
    pub title: Option<String>,
    pub vendor: String,
    pub product: String,
    pub classification: String,
    pub severity: Severity,
    pub released: Option<Timestamp>,
    pub cves: Vec<String>,
    pub max_cvss: Option<f64>,
    pub known_exploited: bool,
    pub files: Vec<FileRow>,
    /// `package (platform) fixed in version`.
    pub fixes: Vec<String>,
    pub advisories: Vec<String>,
    pub superseded_by: Vec<String>,
    /// Machines by state, over the whole fleet.
    pub counts: BTreeMap<Kind, usize>,
    /// Machines by state, by ring (position in [`View::rings`]; `None`: no rollout).
    pub by_ring: BTreeMap<Option<u16>, BTreeMap<Kind, usize>>,
}

/// One ring of a rollout.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RingRow {
    pub key: String,
    pub rollout: String,
    pub name: String,
    pub machines: usize,
    /// Machines with nothing approved left to install.
    pub done: usize,
    pub failing: usize,
    pub error_budget: Option<usize>,
    pub max_concurrent: Option<usize>,
    pub release: Option<String>,
    pub release_cut: Option<Timestamp>,
    /// Why it is not on the newest release.
    pub next: Option<String>,
    pub halted: bool,
    /// Results its machines reported: successes and failures (latest per pair).
    pub succeeded: usize,
    pub failed: usize,
}

/// One rollout.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutRow {
    pub name: String,
    pub releases: usize,
    pub newest: Option<String>,
    pub newest_cut: Option<Timestamp>,
    pub paused: Option<String>,
    pub paused_until: Option<Timestamp>,
    /// Its rings, by position in [`View::rings`].
    pub rings: Vec<u16>,
}

/// One exclusion of the policy.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExclusionRow {
    pub name: String,
    pub reason: String,
    pub owner: String,
    pub ticket: Option<String>,
    pub until: Option<Timestamp>,
    pub expired: bool,
    /// The policy file and line it is defined at.
    pub origin: String,
    pub machines: usize,
    pub pairs: usize,
}

/// The whole fleet at a glance.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    pub machines: usize,
    pub compliant: usize,
    pub in_sync: usize,
    pub drifting: usize,
    pub overdue: usize,
    pub stale: usize,
    pub pending_reboot: usize,
    pub drift_pairs: usize,
}

/// Mean time to remediate, for one severity.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Remediation {
    pub severity: Severity,
    /// Installs that succeeded, of patches with a release date.
    pub installs: usize,
    /// From the patch's release to the install, on average.
    pub mean_hours: f64,
}

/// A directory computer that matches no enrolled machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnmanagedComputer {
    pub name: String,
    pub dns_host_name: Option<String>,
    /// The OU (or container) it is in.
    pub ou: String,
    pub os: Option<String>,
    pub os_version: Option<String>,
    pub last_logon: Option<Timestamp>,
    pub disabled: bool,
    /// Its distinguished name: two computers may share a name.
    pub dn: String,
}

/// A machine that checks in although its directory computer is disabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisabledCheckingIn {
    /// The machine, by position in [`View::machines`].
    pub machine: u32,
    /// The computer's distinguished name.
    pub dn: String,
}

/// The directory against the fleet, computed once per pass from one run of
/// [`crate::directory::match_computers`] (the matching that gave the machines
/// their directory facts), so that the page costs nothing per request.
#[derive(Debug, Clone, Default)]
pub struct DirectoryReport {
    /// Whether any directory computer was given: a source is configured and
    /// has synced.
    pub configured: bool,
    /// Directory computers, of every configured source.
    pub computers: usize,
    /// Machines matched to a computer.
    pub matched: usize,
    /// Computers no enrolled machine matches, by name (ignoring case), then DN.
    pub unmanaged: Vec<UnmanagedComputer>,
    /// Machines that match no computer, by position in [`View::machines`], in
    /// host name order.
    pub without_object: Vec<u32>,
    /// Machines with a directory OU and how many of them are compliant, by OU
    /// (compliant as in [`Compliance::by_group`]).
    pub by_ou: BTreeMap<String, Tally>,
    /// Matched machines whose computer is disabled and that are not stale,
    /// in host name order.
    pub disabled_checking_in: Vec<DisabledCheckingIn>,
}

impl DirectoryReport {
    fn build(
        computers: &[DirectoryComputer],
        machines: &[MachineRow],
        by_hostname: &[u32],
    ) -> Self {
        let matched = crate::directory::match_computers(
            computers,
            machines
                .iter()
                .map(|m| (m.id.as_str(), m.hostname.as_str())),
        );
        // Computers are told apart by identity: two may share every field.
        let taken: std::collections::HashSet<*const DirectoryComputer> =
            matched.values().map(|c| std::ptr::from_ref(*c)).collect();
        let mut unmanaged: Vec<&DirectoryComputer> = computers
            .iter()
            .filter(|c| !taken.contains(&std::ptr::from_ref(*c)))
            .collect();
        // By name ignoring case (directories differ in how they spell it),
        // compared without allocating.
        unmanaged.sort_by(|a, b| {
            folded(&a.name)
                .cmp(folded(&b.name))
                .then_with(|| a.name.cmp(&b.name))
                .then_with(|| a.dn.cmp(&b.dn))
        });
        let mut without_object = Vec::new();
        let mut disabled_checking_in = Vec::new();
        for &i in by_hostname {
            let m = &machines[i as usize];
            match matched.get(m.id.as_str()) {
                None => without_object.push(i),
                // Not stale, and checked in at all: a machine that never
                // checked in is not stale either, yet it does not check in.
                Some(c) if c.disabled && !m.stale && m.last_check_in.is_some() => {
                    disabled_checking_in.push(DisabledCheckingIn {
                        machine: i,
                        dn: c.dn.clone(),
                    });
                }
                Some(_) => {}
            }
        }
        let mut by_ou: BTreeMap<String, Tally> = BTreeMap::new();
        for m in machines {
            let Some(ou) = &m.ou else {
                continue;
            };
            let count = |t: &mut Tally| {
                t.total += 1;
                t.compliant += usize::from(m.compliant);
            };
            match by_ou.get_mut(ou) {
                Some(t) => count(t),
                None => count(by_ou.entry(ou.clone()).or_default()),
            }
        }
        DirectoryReport {
            configured: !computers.is_empty(),
            computers: computers.len(),
            matched: matched.len(),
            unmanaged: unmanaged
                .into_iter()
                .map(|c| UnmanagedComputer {
                    name: c.name.clone(),
                    dns_host_name: c.dns_host_name.clone(),
                    ou: c.ou.clone(),
                    os: c.os.clone(),
                    os_version: c.os_version.clone(),
                    last_logon: c.last_logon,
                    disabled: c.disabled,
                    dn: c.dn.clone(),
                })
                .collect(),
            without_object,
            by_ou,
            disabled_checking_in,
        }
    }
}

/// Everything the console shows, as of one plan.
#[derive(Debug, Clone)]
pub struct View {
    pub now: Timestamp,
    pub revision: String,
    pub interval: SignedDuration,
    pub machines: Vec<MachineRow>,
    pub by_id: HashMap<String, u32>,
    pub entries: Vec<Entry>,
    pub patches: Vec<PatchRow>,
    pub patch_ids: HashMap<String, u32>,
    /// Each patch's position when patches are sorted by id.
    pub patch_rank: Vec<u32>,
    /// The distinct lists of patch entries machines share.
    pub lists: Vec<ListRow>,
    /// Machines by host name (then id): the order listings walk.
    pub by_hostname: Vec<u32>,
    pub groups: Vec<String>,
    /// `rollout/ring`.
    pub rings: Vec<RingRow>,
    pub rollouts: Vec<RolloutRow>,
    pub exclusions: Vec<ExclusionRow>,
    pub compliance: Compliance,
    pub totals: Totals,
    pub remediation: Vec<Remediation>,
    /// The directory against the fleet.
    pub directory: DirectoryReport,
}

/// A patch's age bucket, as [`Compliance::by_age`] names them.
pub fn age_bucket(released: Option<Timestamp>, now: Timestamp) -> &'static str {
    let Some(r) = released else {
        return "undated";
    };
    let days = now.duration_since(r).as_hours() / 24;
    match days {
        ..=7 => "0-7d",
        8..=30 => "8-30d",
        31..=90 => "31-90d",
        _ => ">90d",
    }
}

pub const AGE_BUCKETS: [&str; 5] = ["0-7d", "8-30d", "31-90d", ">90d", "undated"];

impl View {
    /// The view of `inputs.plan`.
    pub fn build(inputs: Inputs<'_>) -> View {
        Builder::new(inputs).build()
    }

    /// An empty view: no plan yet.
    pub fn empty(now: Timestamp) -> View {
        View {
            now,
            revision: String::new(),
            interval: SignedDuration::from_mins(90),
            machines: Vec::new(),
            by_id: HashMap::new(),
            entries: Vec::new(),
            patches: Vec::new(),
            patch_ids: HashMap::new(),
            patch_rank: Vec::new(),
            lists: Vec::new(),
            by_hostname: Vec::new(),
            groups: Vec::new(),
            rings: Vec::new(),
            rollouts: Vec::new(),
            exclusions: Vec::new(),
            compliance: Compliance::default(),
            totals: Totals::default(),
            remediation: Vec::new(),
            directory: DirectoryReport::default(),
        }
    }

    pub fn machine(&self, id: &str) -> Option<&MachineRow> {
        self.by_id
            .get(id)
            .and_then(|&i| self.machines.get(i as usize))
    }

    pub fn patch(&self, id: &str) -> Option<&PatchRow> {
        self.patch_ids
            .get(id)
            .and_then(|&i| self.patches.get(i as usize))
    }

    pub fn entry(&self, i: u32) -> &Entry {
        &self.entries[i as usize]
    }

    pub fn ring_key(&self, ring: Option<u16>) -> Option<&str> {
        ring.and_then(|r| self.rings.get(usize::from(r)))
            .map(|r| r.key.as_str())
    }

    pub fn ring_position(&self, key: &str) -> Option<u16> {
        self.rings
            .iter()
            .position(|r| r.key == key)
            .and_then(|i| u16::try_from(i).ok())
    }

    pub fn group_position(&self, name: &str) -> Option<u16> {
        self.groups
            .iter()
            .position(|g| g == name)
            .and_then(|i| u16::try_from(i).ok())
    }
}

struct Builder<'a> {
    i: Inputs<'a>,
    entries: Vec<Entry>,
    patches: Vec<PatchRow>,
    patch_ids: HashMap<String, u32>,
    exclusion_ids: HashMap<&'a str, u16>,
}

impl<'a> Builder<'a> {
    fn new(i: Inputs<'a>) -> Builder<'a> {
        let exclusion_ids = i
            .policy
            .exclusions
            .iter()
            .enumerate()
            .filter_map(|(k, d)| Some((d.name(), u16::try_from(k).ok()?)))
            .collect();
        Builder {
            i,
            entries: Vec::new(),
            patches: Vec::new(),
            patch_ids: HashMap::new(),
            exclusion_ids,
        }
    }

    /// The position of a patch in `patches`, adding it on first sight.
    fn patch(&mut self, id: &str) -> u32 {
        if let Some(&k) = self.patch_ids.get(id) {
            return k;
        }
        let k = u32::try_from(self.patches.len()).unwrap_or(u32::MAX);
        let row = match self.i.catalog.get(id) {
            Some(p) => PatchRow {
                id: id.to_owned(),
                title: p.title.clone(),
                vendor: p.vendor.clone(),
                product: p.product.clone(),
                classification: format!("{:?}", p.classification).to_lowercase(),
                severity: p.severity,
                released: p.released,
                cves: p.cves().map(str::to_owned).collect(),
                max_cvss: p.max_cvss(),
                known_exploited: p.known_exploited(),
                files: p
                    .files
                    .iter()
                    .map(|f| FileRow {
                        url: f.url.clone(),
                        sha256: f.sha256.clone(),
                        size: f.size,
                        package: f.package.clone(),
                        arch: f.arch.clone(),
                    })
                    .collect(),
                fixes: p
                    .fixes
                    .iter()
                    .map(|f| {
                        format!(
                            "{} ({}) fixed in {}",
                            f.package,
                            f.platform.0,
                            f.fixed.as_deref().unwrap_or("no version")
                        )
                    })
                    .collect(),
                advisories: p.advisories.iter().map(|a| a.id.clone()).collect(),
                superseded_by: p.superseded_by.iter().map(|s| s.0.clone()).collect(),
                counts: BTreeMap::new(),
                by_ring: BTreeMap::new(),
            },
            None => PatchRow {
                id: id.to_owned(),
                title: None,
                vendor: String::new(),
                product: String::new(),
                classification: String::new(),
                severity: Severity::Unrated,
                released: None,
                cves: Vec::new(),
                max_cvss: None,
                known_exploited: false,
                files: Vec::new(),
                fixes: Vec::new(),
                advisories: Vec::new(),
                superseded_by: Vec::new(),
                counts: BTreeMap::new(),
                by_ring: BTreeMap::new(),
            },
        };
        self.patches.push(row);
        self.patch_ids.insert(id.to_owned(), k);
        k
    }

    fn build(mut self) -> View {
        let Inputs {
            plan,
            policy,
            fleet,
            activity,
            interval,
            revision,
            directory,
            ..
        } = self.i;
        let now = plan.now;
        let groups: Vec<String> = policy.groups.iter().map(|g| g.name().to_owned()).collect();
        let group_ids: HashMap<&str, u16> = groups
            .iter()
            .enumerate()
            .filter_map(|(k, g)| Some((g.as_str(), u16::try_from(k).ok()?)))
            .collect();

        // Rings, in rollout order.
        let mut rings: Vec<RingRow> = Vec::new();
        let mut rollouts: Vec<RolloutRow> = Vec::new();
        let mut ring_ids: HashMap<(String, String), u16> = HashMap::new();
        for r in &plan.rollouts {
            let mut row = RolloutRow {
                name: r.name.to_owned(),
                releases: r.releases.len(),
                newest: r.releases.last().map(|x| x.id.clone()),
                newest_cut: r.releases.last().map(|x| x.cut),
                paused: r.paused.map(|p| p.reason.to_owned()),
                paused_until: r.paused.map(|p| p.until),
                rings: Vec::new(),
            };
            for ring in &r.rings {
                let Ok(k) = u16::try_from(rings.len()) else {
                    continue;
                };
                let release = ring.release.and_then(|x| r.releases.get(x));
                rings.push(RingRow {
                    key: format!("{}/{}", r.name, ring.name),
                    rollout: r.name.to_owned(),
                    name: ring.name.to_owned(),
                    machines: ring.machines,
                    done: 0,
                    failing: ring.failing,
                    error_budget: ring.error_budget,
                    max_concurrent: ring.max_concurrent,
                    release: release.map(|x| x.id.clone()),
                    release_cut: release.map(|x| x.cut),
                    next: ring.next.as_ref().map(|h| plan::render::hold(r, h)),
                    halted: matches!(
                        ring.next,
                        Some(Hold::Halted { .. } | Hold::ErrorBudget { .. })
                    ),
                    succeeded: 0,
                    failed: 0,
                });
                ring_ids.insert((r.name.to_owned(), ring.name.to_owned()), k);
                row.rings.push(k);
            }
            rollouts.push(row);
        }

        // Entries of each distinct shared list, rendered once.
        let mut list_ids: HashMap<*const (), u32> = HashMap::new();
        let mut lists: Vec<ListRow> = Vec::new();
        let mut machines: Vec<MachineRow> = Vec::with_capacity(plan.machines.len());
        let mut by_id = HashMap::with_capacity(plan.machines.len());
        let mut totals = Totals::default();
        let stale_after = interval.checked_mul(2).unwrap_or(SignedDuration::MAX);
        for mp in &plan.machines {
            let Some(m) = fleet.machine(&mp.machine) else {
                continue;
            };
            let rollout = plan.rollouts.iter().find(|r| Some(r.name) == mp.rollout);
            let key = list_identity(&mp.patches);
            let list = match list_ids.get(&key) {
                Some(&l) => l,
                None => {
                    let start = self.entries.len();
                    for p in mp.patches.iter() {
                        let patch = self.patch(p.patch.as_str());
                        let when = match &p.state {
                            State::Scheduled { slot, .. } => Some(slot.start),
                            State::Failed(f) => f.retry.map(|s| s.start),
                            State::AwaitingApproval { until, .. } => *until,
                            State::InstalledPendingReboot { since } => Some(*since),
                            _ => None,
                        };
                        let exclusion = match &p.state {
                            State::Excluded { exclusion, .. } => {
                                self.exclusion_ids.get(exclusion).copied()
                            }
                            _ => None,
                        };
                        self.entries.push(Entry {
                            patch: Some(patch),
                            package: None,
                            kind: Kind::of(&p.state),
                            severity: p.severity,
                            deadline: p.deadline,
                            when,
                            exclusion,
                            reason: plan::render::state(rollout, &p.state).into(),
                        });
                    }
                    let range = to_u32(start)..to_u32(self.entries.len());
                    let mut row = ListRow {
                        entries: range.clone(),
                        ..ListRow::default()
                    };
                    for e in range {
                        let entry = &self.entries[e as usize];
                        if entry.kind.is_drift() {
                            row.drift.push(e);
                            row.overdue += u32::from(entry.deadline.is_some_and(|d| d <= now));
                        }
                        row.required |=
                            matches!(entry.kind, Kind::Failed | Kind::Scheduled | Kind::Held);
                        row.pending_reboot |= entry.kind == Kind::PendingReboot;
                    }
                    let l = to_u32(lists.len());
                    lists.push(row);
                    list_ids.insert(key, l);
                    l
                }
            };
            let start = self.entries.len();
            for f in &mp.software {
                let (kind, package) = match f {
                    SoftwareFinding::Remove {
                        package, version, ..
                    } => (Kind::RemoveSoftware, format!("{package} {version}")),
                    SoftwareFinding::Install { package, .. } => {
                        (Kind::InstallSoftware, (*package).to_owned())
                    }
                };
                self.entries.push(Entry {
                    patch: None,
                    package: Some(package.into()),
                    kind,
                    severity: Severity::Unrated,
                    deadline: None,
                    when: None,
                    exclusion: None,
                    reason: plan::render::software(f).into(),
                });
            }
            let software = to_u32(start)..to_u32(self.entries.len());
            let index = to_u32(machines.len());
            let ring = match (mp.rollout, mp.ring) {
                (Some(r), Some(g)) => ring_ids.get(&(r.to_owned(), g.to_owned())).copied(),
                _ => None,
            };
            let shared = &mut lists[list as usize];
            shared.machines += 1;
            // Software findings are always drift; none has a deadline.
            let drift_count = to_u32(shared.drift.len()) + to_u32(software.len());
            let overdue = shared.overdue;
            let standing = if !mp.compliant {
                Standing::Overdue
            } else if drift_count > 0 {
                Standing::Drifting
            } else {
                Standing::InSync
            };
            let act = activity.get(&m.id);
            let last_check_in = act.and_then(|a| a.last_check_in);
            let stale = last_check_in.is_some_and(|t| now.duration_since(t) > stale_after);
            totals.machines += 1;
            totals.compliant += usize::from(mp.compliant);
            match standing {
                Standing::InSync => totals.in_sync += 1,
                Standing::Drifting => totals.drifting += 1,
                Standing::Overdue => totals.overdue += 1,
            }
            totals.stale += usize::from(stale);
            totals.drift_pairs += drift_count as usize;
            if let Some(r) = ring.and_then(|r| rings.get_mut(usize::from(r)))
                && !shared.required
            {
                r.done += 1;
            }
            let inventory = fleet.inventory_of(m);
            let pending_reboot = m.reboot_required || shared.pending_reboot;
            totals.pending_reboot += usize::from(pending_reboot);
            machines.push(MachineRow {
                id: m.id.clone(),
                hostname: m.hostname.clone(),
                os: match &m.os.version {
                    Some(v) => format!("{} {v}", m.os.family),
                    None => m.os.family.clone(),
                },
                platform: inventory
                    .map(|i| i.platform().0.clone())
                    .unwrap_or_default(),
                kernel: m.kernel.clone(),
                time_zone: m.time_zone.clone(),
                site: m.site.clone(),
                labels: m.labels.clone(),
                ou: m.directory.ou.clone(),
                groups: plan::groups_of(m, policy)
                    .into_iter()
                    .filter_map(|g| group_ids.get(g).copied())
                    .collect(),
                ring,
                release: mp
                    .release
                    .and_then(|k| rollout.and_then(|r| r.releases.get(k)))
                    .map(|r| r.id.clone()),
                compliant: mp.compliant,
                standing,
                projected: mp.projected_compliance,
                enrolled_at: act.map(|a| a.enrolled_at),
                last_check_in,
                stale,
                reboot_required: pending_reboot,
                inventory: m.inventory.as_str().to_owned(),
                packages: inventory.map_or(0, |i| i.len()),
                list,
                entries: lists[list as usize].entries.clone(),
                software,
                drift: drift_count,
                overdue,
            });
            by_id.insert(m.id.clone(), index);
        }
        let mut by_hostname: Vec<u32> = (0..to_u32(machines.len())).collect();
        by_hostname.sort_by(|a, b| {
            let (x, y) = (&machines[*a as usize], &machines[*b as usize]);
            (&x.hostname, &x.id).cmp(&(&y.hostname, &y.id))
        });

        // Machines by state, for every patch: the listed states from each
        // list times its machines (per ring), installed ones from each
        // distinct inventory's applicability.
        let mut per_list_ring: HashMap<(u32, Option<u16>), usize> = HashMap::new();
        for m in &machines {
            *per_list_ring.entry((m.list, m.ring)).or_default() += 1;
        }
        for (&(list, ring), &n) in &per_list_ring {
            for e in lists[list as usize].entries.clone() {
                let entry = &self.entries[e as usize];
                if let Some(p) = entry.patch.and_then(|p| self.patches.get_mut(p as usize)) {
                    *p.counts.entry(entry.kind).or_default() += n;
                    *p.by_ring
                        .entry(ring)
                        .or_default()
                        .entry(entry.kind)
                        .or_default() += n;
                }
            }
        }
        // Installed fixes are not in the plan's lists: count them from each
        // distinct inventory's applicability, times its machines per ring.
        let mut per_inventory: HashMap<&str, HashMap<Option<u16>, usize>> = HashMap::new();
        for m in &machines {
            *per_inventory
                .entry(m.inventory.as_str())
                .or_default()
                .entry(m.ring)
                .or_default() += 1;
        }
        let planner = self.i.planner;
        for hash in fleet.inventories().keys() {
            let Some(rings_of) = per_inventory.get(hash.as_str()) else {
                continue;
            };
            for patch in planner.installed(hash).unwrap_or_default() {
                let k = self.patch(patch.as_str()) as usize;
                let Some(p) = self.patches.get_mut(k) else {
                    continue;
                };
                for (ring, n) in rings_of {
                    *p.counts.entry(Kind::Installed).or_default() += n;
                    *p.by_ring
                        .entry(*ring)
                        .or_default()
                        .entry(Kind::Installed)
                        .or_default() += n;
                }
            }
        }

        // Results by ring, and the time to remediate by severity.
        let mut remediation: BTreeMap<Severity, (usize, f64)> = BTreeMap::new();
        for m in &machines {
            let results = fleet.results_of(&m.id);
            // Latest per patch: results are ordered by patch, then time.
            for (k, r) in results.iter().enumerate() {
                let last = results.get(k + 1).is_none_or(|n| n.patch != r.patch);
                if !last {
                    continue;
                }
                if let Some(ring) = m.ring.and_then(|g| rings.get_mut(usize::from(g))) {
                    match r.outcome {
                        Outcome::Failed => ring.failed += 1,
                        _ => ring.succeeded += 1,
                    }
                }
                if matches!(r.outcome, Outcome::Failed) {
                    continue;
                }
                if let Some(p) = self.i.catalog.get(r.patch.as_str())
                    && let Some(released) = p.released
                    && r.at >= released
                {
                    let hours = r.at.duration_since(released).as_secs_f64() / 3600.0;
                    let slot = remediation.entry(p.severity).or_default();
                    slot.0 += 1;
                    slot.1 += hours;
                }
            }
        }
        let remediation = remediation
            .into_iter()
            .map(|(severity, (installs, sum))| Remediation {
                severity,
                installs,
                mean_hours: sum / installs.max(1) as f64,
            })
            .collect();

        // Exclusions, and what each holds back: per list, times its machines.
        let mut excluded: Vec<(usize, usize)> = vec![(0, 0); policy.exclusions.len()];
        for list in &lists {
            let mut held: HashMap<u16, usize> = HashMap::new();
            for e in list.entries.clone() {
                if let Some(x) = self.entries[e as usize].exclusion {
                    *held.entry(x).or_default() += 1;
                }
            }
            for (x, pairs) in held {
                if let Some(slot) = excluded.get_mut(usize::from(x)) {
                    slot.0 += list.machines as usize;
                    slot.1 += pairs * list.machines as usize;
                }
            }
        }
        let exclusions = policy
            .exclusions
            .iter()
            .zip(excluded)
            .map(|(d, (machines, pairs))| {
                let until = d.spec.until.map(|u| u.end);
                ExclusionRow {
                    name: d.name().to_owned(),
                    reason: d.spec.reason.clone(),
                    owner: d.spec.owner.clone(),
                    ticket: d.spec.ticket.clone(),
                    until,
                    expired: until.is_some_and(|u| u <= now),
                    origin: format!("{}:{}", d.origin.file, d.origin.node.pos.line),
                    machines,
                    pairs,
                }
            })
            .collect();

        let directory = DirectoryReport::build(directory, &machines, &by_hostname);

        let mut sorted: Vec<u32> = (0..to_u32(self.patches.len())).collect();
        sorted.sort_by(|a, b| {
            self.patches[*a as usize]
                .id
                .cmp(&self.patches[*b as usize].id)
        });
        let mut patch_rank = vec![0; sorted.len()];
        for (rank, p) in sorted.into_iter().enumerate() {
            patch_rank[p as usize] = to_u32(rank);
        }
        View {
            now,
            revision: revision.to_owned(),
            interval,
            machines,
            by_id,
            entries: self.entries,
            patches: self.patches,
            patch_rank,
            patch_ids: self.patch_ids,
            lists,
            by_hostname,
            groups,
            rings,
            rollouts,
            exclusions,
            compliance: plan.compliance.clone(),
            totals,
            remediation,
            directory,
        }
    }
}

/// The identity of a shared list of patch states.
fn list_identity<T>(list: &std::sync::Arc<[T]>) -> *const () {
    std::sync::Arc::as_ptr(list).cast::<()>()
}

/// A name's characters in lower case, to compare names ignoring case.
fn folded(name: &str) -> impl Iterator<Item = char> + '_ {
    name.chars().flat_map(char::to_lowercase)
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
pub(crate) mod tests {
    use fixpoint_core::catalog::{Advisory, Catalog, Platform};
    use fixpoint_core::fleet::{DirectoryFacts, InstalledPackage, Inventory, Machine, OsFacts};

    use super::*;

    const POLICY: &str = r#"
apiVersion: fixpoint.dev/v1alpha1
kind: MachineGroup
metadata: {name: web}
spec: {match: {labels: {role: web}}}
---
apiVersion: fixpoint.dev/v1alpha1
kind: ApprovalPolicy
metadata: {name: all}
spec:
  rules: [{match: {classification: [security]}, approveAfter: 0d}]
---
apiVersion: fixpoint.dev/v1alpha1
kind: Rollout
metadata: {name: default}
spec:
  approval: all
  rings: [{name: everyone, groups: [all], delay: 0d}]
  deadline: 30d
---
apiVersion: fixpoint.dev/v1alpha1
kind: Exclusion
metadata: {name: web-curl}
spec:
  machines: {groups: [web]}
  patches: {packages: [curl]}
  reason: "<b>vendor</b> says no"
  owner: web-team
---
apiVersion: fixpoint.dev/v1alpha1
kind: SoftwarePolicy
metadata: {name: banned}
spec:
  absent: [{package: telnetd}]
"#;

    pub(crate) fn now() -> Timestamp {
        "2026-12-04T12:00:00Z".parse().expect("instant")
    }

    fn catalog() -> Catalog {
        let advisories: Vec<Advisory> = serde_json::from_value(serde_json::json!([{
            "reference": {"source": "debian-security", "id": "DSA-1"},
            "patch": "curl/7.88.1-10+deb12u5",
            "vendor": "Debian", "product": "curl", "classification": "security",
            "severity": "important", "released": "2026-11-20T00:00:00Z",
            "fixes": [{"platform": "debian:12", "package": "curl", "kind": "source",
                       "fixed": "7.88.1-10+deb12u5"}]
        }]))
        .expect("advisories");
        Catalog::from_advisories(advisories)
    }

    fn machine(n: usize, role: &str, inventory: &Inventory) -> Machine {
        Machine {
            id: format!("m-{n}"),
            hostname: format!("{role}-{n}.example"),
            labels: [("role".to_owned(), role.to_owned())].into(),
            os: OsFacts {
                family: "debian".into(),
                version: Some("12".into()),
            },
            site: None,
            directory: DirectoryFacts::default(),
            time_zone: None,
            kernel: None,
            reboot_required: false,
            inventory: inventory.hash().clone(),
        }
    }

    /// Five machines lacking the curl fix (two web, excluded; three db), one
    /// db machine with telnetd as well, one db machine silent for 4 hours,
    /// and one db machine with the fix.
    pub(crate) fn world() -> (PolicySet, Catalog, Fleet, HashMap<String, Activity>) {
        let checked = fixpoint_core::policy::check([("p.yaml", POLICY.as_bytes())], now());
        assert!(!checked.has_errors(), "{:#?}", checked.diagnostics);
        let old = InstalledPackage::new("curl", "amd64", "7.88.1-10+deb12u4");
        let plain =
            Inventory::new(Platform("debian:12".into()), vec![old.clone()]).expect("inventory");
        let telnetd = Inventory::new(
            Platform("debian:12".into()),
            vec![old, InstalledPackage::new("telnetd", "amd64", "0.17-1")],
        )
        .expect("inventory");
        let patched = Inventory::new(
            Platform("debian:12".into()),
            vec![InstalledPackage::new("curl", "amd64", "7.88.1-10+deb12u5")],
        )
        .expect("inventory");
        let mut fleet = Fleet::new();
        fleet.add_inventory(plain.clone());
        fleet.add_inventory(telnetd.clone());
        fleet.add_inventory(patched.clone());
        let mut activity = HashMap::new();
        for (n, role, inv, silent) in [
            (1, "web", &plain, 10),
            (2, "web", &plain, 10),
            (3, "db", &plain, 10),
            (4, "db", &telnetd, 10),
            (5, "db", &plain, 240),
            (6, "db", &patched, 10),
        ] {
            fleet.add_machine(machine(n, role, inv)).expect("machine");
            activity.insert(
                format!("m-{n}"),
                Activity {
                    enrolled_at: now() - SignedDuration::from_hours(100),
                    last_check_in: Some(now() - SignedDuration::from_mins(silent)),
                },
            );
        }
        (checked.set, catalog(), fleet, activity)
    }

    #[test]
    fn the_view_counts_what_the_plan_says() {
        let (policy, catalog, fleet, activity) = world();
        let mut planner = Planner::new(&policy, &catalog);
        let plan = planner.plan(&fleet, now());
        let v = View::build(Inputs {
            plan: &plan,
            policy: &policy,
            catalog: &catalog,
            fleet: &fleet,
            activity: &activity,
            interval: SignedDuration::from_mins(90),
            revision: "r1",
            planner: &planner,
            directory: &[],
        });
        assert_eq!(v.totals.machines, 6);
        // Stale: silent for more than two intervals (3 h): machine 5 only.
        assert_eq!(v.totals.stale, 1);
        assert!(v.machine("m-5").is_some_and(|m| m.stale));
        // The web machines' curl patch is excluded: in sync. The db machines
        // drift (curl scheduled), and m-4 has telnetd as well, which makes it
        // non-compliant at once.
        let standing = |id: &str| v.machine(id).map(|m| m.standing);
        assert_eq!(standing("m-1"), Some(Standing::InSync));
        assert_eq!(standing("m-3"), Some(Standing::Drifting));
        assert_eq!(standing("m-4"), Some(Standing::Overdue));
        assert_eq!(standing("m-6"), Some(Standing::InSync));
        assert_eq!(
            (v.totals.in_sync, v.totals.drifting, v.totals.overdue),
            (3, 2, 1)
        );
        // Drift pairs: curl on m-3, m-4, m-5 and telnetd on m-4.
        assert_eq!(v.totals.drift_pairs, 4);
        // Machines planned alike share their rendered entries.
        let m1 = v.machine("m-1").expect("m-1");
        let m2 = v.machine("m-2").expect("m-2");
        assert_eq!(
            m1.entries, m2.entries,
            "one rendering for both web machines"
        );
        // The exclusion holds back the two web machines' one pair each.
        let x = &v.exclusions[0];
        assert_eq!((x.name.as_str(), x.machines, x.pairs), ("web-curl", 2, 2));
        assert_eq!(x.origin, "p.yaml:21", "where the document starts");
        // The patch, by state across the fleet.
        let p = v.patch("curl/7.88.1-10+deb12u5").expect("the patch");
        assert_eq!(p.counts.get(&Kind::Excluded), Some(&2));
        assert_eq!(p.counts.get(&Kind::Scheduled), Some(&3));
        assert_eq!(
            p.counts.get(&Kind::Installed),
            Some(&1),
            "from the planner's applicability"
        );
        let ring = &v.rings[0];
        assert_eq!((ring.key.as_str(), ring.machines), ("default/everyone", 6));
    }
}

#[cfg(test)]
pub(crate) mod directory_tests {
    //! The directory report, on the world of [`super::tests`] and a directory
    //! that knows some of its machines.

    use fixpoint_core::plan::Planner;

    use super::tests::{now, world};
    use super::*;

    const WEB: &str = "OU=Web,OU=Servers,DC=corp,DC=example";
    const DB: &str = "OU=Db,OU=Servers,DC=corp,DC=example";
    const OLD: &str = "OU=Old,DC=corp,DC=example";
    const KIOSKS: &str = "OU=Kiosks,DC=corp,DC=example";

    fn computer(name: &str, dns: Option<&str>, ou: &str) -> DirectoryComputer {
        DirectoryComputer {
            dn: format!("CN={name},{ou}"),
            name: name.to_owned(),
            dns_host_name: dns.map(str::to_owned),
            os: Some("Debian GNU/Linux".into()),
            os_version: Some("12".into()),
            ou: ou.to_owned(),
            groups: vec!["CN=Patch-Pilot,OU=Groups,DC=corp,DC=example".into()],
            last_logon: Some(now() - SignedDuration::from_hours(30)),
            disabled: false,
        }
    }

    /// The world's machines (`web-1.example` … `db-6.example`; m-5 stale, m-4
    /// not compliant) against seven computers: WEB-1 matches m-1 by its DNS
    /// name (spelled otherwise), WEB-2 matches m-2 by its short name, KIOSK-9
    /// matches nothing, DB-4 and DB-5 are disabled (m-4 checks in, m-5 is
    /// stale), and two DB-3 share a name, so m-3 matches neither. m-6 has no
    /// computer at all.
    pub(crate) fn directory() -> Vec<DirectoryComputer> {
        let mut kiosk = computer("KIOSK-9", Some("kiosk-9.example"), KIOSKS);
        kiosk.os = Some("Windows 10 Enterprise".into());
        kiosk.os_version = Some("10.0 (19045)".into());
        kiosk.last_logon = None;
        let mut db4 = computer("DB-4", Some("db-4.example"), DB);
        db4.disabled = true;
        let mut db5 = computer("DB-5", Some("db-5.example"), DB);
        db5.disabled = true;
        vec![
            computer("WEB-1", Some("WEB-1.Example."), WEB),
            kiosk,
            computer("DB-3", None, OLD),
            computer("WEB-2", None, WEB),
            db4,
            computer("DB-3", None, DB),
            db5,
        ]
    }

    /// The view of the world with `computers`, their facts on the machines
    /// as the reconcile pass puts them there.
    pub(crate) fn view_with(computers: &[DirectoryComputer]) -> View {
        let (policy, catalog, mut fleet, activity) = world();
        for (id, facts) in crate::directory::facts_by_machine(computers, fleet.machines()) {
            fleet
                .set_directory(&id, facts)
                .expect("a machine of the fleet");
        }
        let mut planner = Planner::new(&policy, &catalog);
        let plan = planner.plan(&fleet, now());
        View::build(Inputs {
            plan: &plan,
            policy: &policy,
            catalog: &catalog,
            fleet: &fleet,
            activity: &activity,
            interval: SignedDuration::from_mins(90),
            revision: "r1",
            planner: &planner,
            directory: computers,
        })
    }

    /// The view of the world with [`directory`].
    pub(crate) fn directory_view() -> View {
        view_with(&directory())
    }

    fn hosts(v: &View, machines: &[u32]) -> Vec<String> {
        machines
            .iter()
            .map(|&i| v.machines[i as usize].hostname.clone())
            .collect()
    }

    #[test]
    fn without_computers_the_directory_is_not_configured_and_reports_nothing() {
        let v = view_with(&[]);
        let d = &v.directory;
        assert!(!d.configured);
        assert_eq!((d.computers, d.matched), (0, 0));
        assert!(d.unmanaged.is_empty());
        assert!(d.by_ou.is_empty(), "no machine has an OU");
        assert!(d.disabled_checking_in.is_empty());
        // Every machine lacks a directory object, though nobody asked.
        assert_eq!(d.without_object.len(), 6);
    }

    #[test]
    fn computers_no_machine_matches_are_unmanaged_by_name_and_a_shared_name_matches_neither() {
        let v = directory_view();
        let d = &v.directory;
        assert!(d.configured);
        assert_eq!((d.computers, d.matched), (7, 4), "m-1, m-2, m-4, m-5");
        let unmanaged: Vec<(&str, &str)> = d
            .unmanaged
            .iter()
            .map(|c| (c.name.as_str(), c.dn.as_str()))
            .collect();
        assert_eq!(
            unmanaged,
            [
                ("DB-3", "CN=DB-3,OU=Db,OU=Servers,DC=corp,DC=example"),
                ("DB-3", "CN=DB-3,OU=Old,DC=corp,DC=example"),
                ("KIOSK-9", "CN=KIOSK-9,OU=Kiosks,DC=corp,DC=example"),
            ]
        );
        assert_eq!(
            d.unmanaged[2],
            UnmanagedComputer {
                name: "KIOSK-9".into(),
                dns_host_name: Some("kiosk-9.example".into()),
                ou: KIOSKS.into(),
                os: Some("Windows 10 Enterprise".into()),
                os_version: Some("10.0 (19045)".into()),
                last_logon: None,
                disabled: false,
                dn: format!("CN=KIOSK-9,{KIOSKS}"),
            }
        );
    }

    #[test]
    fn unmanaged_computers_sort_by_name_ignoring_case() {
        let computers = [
            computer("zeta", None, OLD),
            computer("Alpha", None, OLD),
            computer("beta", None, OLD),
        ];
        let v = view_with(&computers);
        let names: Vec<&str> = v
            .directory
            .unmanaged
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(names, ["Alpha", "beta", "zeta"]);
    }

    #[test]
    fn machines_without_a_directory_object_are_listed_by_host_name() {
        let v = directory_view();
        // m-3's name is shared by two computers: no match, so no object either.
        assert_eq!(
            hosts(&v, &v.directory.without_object),
            ["db-3.example", "db-6.example"]
        );
    }

    #[test]
    fn compliance_by_ou_counts_the_machines_with_an_ou_as_compliance_by_group_does() {
        let v = directory_view();
        let by_ou: Vec<(&str, usize, usize)> = v
            .directory
            .by_ou
            .iter()
            .map(|(ou, t)| (ou.as_str(), t.total, t.compliant))
            .collect();
        // m-4 (telnetd) is not compliant; stale m-5 counts as the plan counts it.
        assert_eq!(by_ou, [(DB, 2, 1), (WEB, 2, 2)]);
        assert_eq!(
            v.machine("m-4").map(|m| m.compliant),
            Some(false),
            "the plan's notion of compliant"
        );
        // The web OU holds the machines of the web group: the plan's own
        // report by group tallies them alike.
        assert_eq!(
            v.compliance.by_group.get("web"),
            v.directory.by_ou.get(WEB),
            "{:?}",
            v.compliance.by_group
        );
    }

    #[test]
    fn a_disabled_computer_is_reported_while_its_machine_still_checks_in() {
        let v = directory_view();
        let d = &v.directory;
        // DB-5's machine (m-5) is stale: silent for 4 h, more than two intervals.
        assert!(v.machine("m-5").is_some_and(|m| m.stale));
        assert_eq!(
            d.disabled_checking_in,
            [DisabledCheckingIn {
                machine: v.by_id["m-4"],
                dn: format!("CN=DB-4,{DB}"),
            }]
        );
    }

    #[test]
    fn a_disabled_computer_whose_machine_never_checked_in_is_not_reported() {
        let (policy, catalog, mut fleet, mut activity) = world();
        let computers = directory();
        for (id, facts) in crate::directory::facts_by_machine(&computers, fleet.machines()) {
            fleet
                .set_directory(&id, facts)
                .expect("a machine of the fleet");
        }
        activity.insert(
            "m-4".into(),
            Activity {
                enrolled_at: now() - SignedDuration::from_hours(1),
                last_check_in: None,
            },
        );
        let mut planner = Planner::new(&policy, &catalog);
        let plan = planner.plan(&fleet, now());
        let v = View::build(Inputs {
            plan: &plan,
            policy: &policy,
            catalog: &catalog,
            fleet: &fleet,
            activity: &activity,
            interval: SignedDuration::from_mins(90),
            revision: "r1",
            planner: &planner,
            directory: &computers,
        });
        assert!(v.directory.disabled_checking_in.is_empty());
    }
}
