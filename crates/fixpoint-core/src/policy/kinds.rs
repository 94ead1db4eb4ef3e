//! The policy kinds: the `spec` of each document kind, as people write them.
//!
//! These types are the single source of truth for the YAML, the JSON Schema in
//! `policies/schema/` and the CRDs in `crds/`. Doc comments on fields become
//! the descriptions editors show: they are written for the person editing YAML.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::primitives::{CountOrPercent, Date, Duration, Expiry, Glob, Percent};
pub use crate::rating::{Classification, Severity};

/// Which machines a selector picks. Every field that is given must match (AND);
/// within a list, any entry may match (OR). An empty selector matches every machine.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Selector {
    /// Labels the machine must carry, with these exact values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Operating system the machine must run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<OsSelector>,
    /// Host name patterns (globs such as `web-*.corp.example`); any may match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostnames: Option<Vec<Glob>>,
    /// Directory (LDAP / Active Directory) placement of the machine's computer object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory: Option<DirectorySelector>,
    /// Sites (locations) the machine may be in; any may match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sites: Option<Vec<String>>,
}

/// An operating system family, and optionally its versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OsSelector {
    /// The OS family.
    pub family: OsFamily,
    /// Release versions as the OS reports them (`VERSION_ID` in /etc/os-release,
    /// e.g. `12` for Debian bookworm, `24.04` for Ubuntu); any may match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versions: Option<Vec<String>>,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum OsFamily {
    Debian,
    Ubuntu,
    Rhel,
    Fedora,
    Suse,
    Windows,
    Macos,
}

/// Where the machine's computer object sits in the directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DirectorySelector {
    /// Organisational unit DN; the machine must be in it or below it,
    /// e.g. `OU=Servers,DC=corp,DC=example`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ou: Option<String>,
    /// Group DN or name the computer must be a member of (directly or nested).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

/// A named set of machines, used by rollout rings, exclusions and software policies.
/// The group `all` is built in and matches every machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MachineGroupSpec {
    /// Which machines belong to the group.
    #[serde(rename = "match")]
    pub selector: Selector,
    /// Free text for people reading the policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Which patches a rule, exclusion or approval matches. Every field that is
/// given must match (AND); within a list, any entry may match (OR).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PatchMatch {
    /// Patch classifications, e.g. `[security]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<Vec<Classification>>,
    /// Severities, e.g. `[critical, important]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Vec<Severity>>,
    /// Matches patches whose highest CVSS base score is at least this (0.0 to 10.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvss_at_least: Option<f64>,
    /// CVE identifiers or globs, e.g. `CVE-2024-3094` or `CVE-2025-*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cves: Option<Vec<Glob>>,
    /// `true`: only patches for vulnerabilities known to be exploited (CISA KEV or the
    /// vendor's exploited flag); `false`: only patches for ones that are not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_exploited: Option<bool>,
    /// Vendors, e.g. `Debian`, `Microsoft`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendors: Option<Vec<String>>,
    /// Products or packages (source or binary package names), names or globs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packages: Option<Vec<Glob>>,
    /// Names of catalog sources (from `Settings`) the patch must come from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sources: Option<Vec<String>>,
}

/// Which patches are approved, when, and which are explicitly approved or declined.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApprovalPolicySpec {
    /// Rules in order; the first rule that matches a patch decides when it is approved.
    /// A patch no rule matches waits for an explicit approval.
    #[serde(default)]
    pub rules: Vec<ApprovalRule>,
    /// Patches approved explicitly, whatever the rules say.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approve: Vec<ExplicitApproval>,
    /// Patches declined explicitly: never installed while listed here. Declines win over approvals.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub decline: Vec<Decline>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApprovalRule {
    /// A name for the rule, shown as the reason for an approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Which patches the rule approves. An empty match approves every patch.
    #[serde(rename = "match", default)]
    pub matches: PatchMatch,
    /// How long after the patch's release it is approved, e.g. `0d` or `3d`.
    pub approve_after: Duration,
}

/// An explicit approval of one patch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExplicitApproval {
    /// The patch id, e.g. `openssl/3.0.15-1~deb12u1` or `RHSA-2024:4546`.
    pub patch: String,
    /// Why it is approved.
    pub reason: String,
    /// Who approved it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Change or incident ticket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    /// Skip ring delays and go to every ring at once (for a zero-day). Gates still apply.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub expedite: bool,
}

/// An explicit decline of one patch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Decline {
    /// The patch id, e.g. `openssl/3.0.99-1`.
    pub patch: String,
    /// Why it is declined.
    pub reason: String,
    /// Who declined it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Change or incident ticket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
}

/// How approved patches reach machines: rings in order, their gates, the
/// window installs happen in, deadlines and reboots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RolloutSpec {
    /// Name of the `ApprovalPolicy` that decides which patches this rollout ships.
    pub approval: String,
    /// Rings in order. A machine is in the first ring one of whose groups it belongs to.
    pub rings: Vec<Ring>,
    /// Name of the `MaintenanceWindow` installs happen in. Without one, machines install at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
    /// Default deadline, counted from the patch's release: after it the install
    /// is due regardless of windows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<Duration>,
    /// Deadlines per severity (a patching SLA), overriding `deadline`, e.g. `{critical: 7d}`.
    #[serde(default, skip_serializing_if = "Deadlines::is_empty")]
    pub deadlines: Deadlines,
    /// Whether and when machines reboot after installing.
    #[serde(default)]
    pub reboot: Reboot,
    /// Commands run on the machine around each install. A failing command counts as a failed install.
    #[serde(default, skip_serializing_if = "Hooks::is_empty")]
    pub hooks: Hooks,
    /// An emergency stop: no new installs start until it expires. Reason and expiry are required,
    /// so the stop is itself a reviewed commit that ends on its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause: Option<Pause>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Ring {
    /// The ring's name, unique within the rollout.
    pub name: String,
    /// Machine groups in this ring (`all` for every machine not in an earlier ring).
    pub groups: Vec<String>,
    /// How long after approval the ring opens.
    #[serde(default = "zero")]
    pub delay: Duration,
    /// What the previous ring must show before this one opens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<Gate>,
    /// At most this many machines (5) or this share of the ring (10%) install at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent: Option<CountOrPercent>,
    /// Failed installs (a count or a share of the ring) after which the ring stops.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_budget: Option<CountOrPercent>,
}

fn zero() -> Duration {
    Duration::ZERO
}

/// A promotion gate, evaluated on the previous ring's reported results for the same release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Gate {
    /// Share of the previous ring's installs that must have succeeded, e.g. `95%`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_success: Option<Percent>,
    /// How many machines of the previous ring must have reported a result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_machines: Option<u32>,
    /// How long the previous ring must have run the release without trouble.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soak: Option<Duration>,
    /// Halt the rollout of a patch for this and later rings when the previous ring's
    /// failure rate reaches this, e.g. `5%`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub halt_on_failures: Option<Percent>,
}

/// Deadlines per severity, counted from the patch's release.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Deadlines {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub critical: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub important: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moderate: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low: Option<Duration>,
}

impl Deadlines {
    pub fn is_empty(&self) -> bool {
        *self == Deadlines::default()
    }

    pub fn get(&self, severity: Severity) -> Option<Duration> {
        match severity {
            Severity::Critical => self.critical,
            Severity::Important => self.important,
            Severity::Moderate => self.moderate,
            Severity::Low => self.low,
            Severity::Unrated => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Reboot {
    /// `never`, `ifRequired` (when an installed package asks for it) or `always`.
    #[serde(default)]
    pub mode: RebootMode,
    /// How long users are warned before the reboot.
    #[serde(default = "zero")]
    pub grace: Duration,
}

impl Default for Reboot {
    fn default() -> Self {
        Reboot {
            mode: RebootMode::default(),
            grace: Duration::ZERO,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum RebootMode {
    Never,
    #[default]
    IfRequired,
    Always,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Hooks {
    /// Run before installing; if one fails, nothing is installed and the install counts as failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_install: Vec<Hook>,
    /// Run after installing; a failure counts as a failed install.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_install: Vec<Hook>,
}

impl Hooks {
    pub fn is_empty(&self) -> bool {
        self.pre_install.is_empty() && self.post_install.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Hook {
    /// A command line, run with `/bin/sh -c` on the machine.
    pub run: String,
    /// Killed and counted as failed after this long.
    #[serde(default = "default_hook_timeout")]
    pub timeout: Duration,
}

fn default_hook_timeout() -> Duration {
    Duration::from_secs(600)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Pause {
    /// Why the rollout is paused.
    pub reason: String,
    /// When the pause ends by itself.
    pub until: Expiry,
    /// Who paused it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Incident or change ticket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
}

/// When machines may install: a recurring window and the periods frozen out of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MaintenanceWindowSpec {
    /// When the window opens, as a 5-field cron expression (minute hour day-of-month month
    /// day-of-week), e.g. `0 1 * * SAT,SUN`. Give this or `monthly`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// When the window opens, relative to a weekday of the month (Patch Tuesday schedules).
    /// Give this or `cron`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly: Option<MonthlySchedule>,
    /// How long the window stays open.
    pub duration: Duration,
    /// `machine` to use each machine's own time zone, or an IANA name such as `Europe/Berlin`.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// Date ranges (inclusive, in the window's time zone) in which no window opens.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub freezes: Vec<Freeze>,
}

fn default_timezone() -> String {
    "machine".to_owned()
}

/// The `nth` `weekday` of each month, plus `offsetDays`, at `at`: e.g. the second
/// Tuesday (Patch Tuesday) plus 2 days at 22:00.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MonthlySchedule {
    /// Which occurrence of the weekday: `1` to `5`, or `last`.
    #[schemars(extend("type" = ["integer", "string"], "minimum" = 1, "maximum" = 5, "pattern" = "^([1-5]|last)$"))]
    pub nth: String,
    /// The weekday, e.g. `tuesday`.
    pub weekday: String,
    /// Days added to that date; may be negative.
    #[serde(default)]
    pub offset_days: i32,
    /// Local time of day the window opens, `HH:MM`.
    pub at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Freeze {
    /// First frozen day.
    pub from: Date,
    /// Last frozen day (inclusive).
    pub to: Date,
    /// Why changes are frozen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Machines and patches that are kept apart: a risk acceptance with an owner and a reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExclusionSpec {
    /// Which machines are excluded; `groups` and a selector may both be given (both must match).
    pub machines: MachineScope,
    /// Which patches are excluded.
    pub patches: PatchScope,
    /// Why: the risk being accepted.
    pub reason: String,
    /// Who owns the risk.
    pub owner: String,
    /// When the exclusion ends by itself. Without it the exclusion lasts until removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Expiry>,
    /// Risk-acceptance or change ticket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
}

/// Machines by group names and/or a selector.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MachineScope {
    /// Machine groups; a machine in any of them is in scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<OsSelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostnames: Option<Vec<Glob>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory: Option<DirectorySelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sites: Option<Vec<String>>,
}

impl MachineScope {
    /// The selector part of the scope.
    pub fn selector(&self) -> Selector {
        Selector {
            labels: self.labels.clone(),
            os: self.os.clone(),
            hostnames: self.hostnames.clone(),
            directory: self.directory.clone(),
            sites: self.sites.clone(),
        }
    }
}

/// Patches by package, id or CVE; a patch matching any entry is in scope.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PatchScope {
    /// Package names or globs, e.g. `postgresql-*`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<Glob>,
    /// Patch ids, e.g. `openssl/3.0.15-1~deb12u1`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<String>,
    /// CVE identifiers whose patches are excluded (risk acceptance of a vulnerability).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cves: Vec<Glob>,
}

impl PatchScope {
    pub fn is_empty(&self) -> bool {
        self.packages.is_empty() && self.ids.is_empty() && self.cves.is_empty()
    }
}

/// Software that must be absent from, or present on, machines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SoftwarePolicySpec {
    /// Machine groups the policy applies to; every machine when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
    /// Packages that must not be installed; agents remove them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub absent: Vec<SoftwareRule>,
    /// Packages that must be installed; agents install them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub present: Vec<SoftwareRule>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SoftwareRule {
    /// Package name; a glob for `absent` rules (`*-dbg`), an exact name for `present` ones.
    pub package: Glob,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Server-wide settings; at most one `Settings` document per repository.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SettingsSpec {
    /// Where the patch catalog comes from.
    #[serde(default)]
    pub catalog: CatalogSettings,
    /// HTTP proxy for vendor feeds and downloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<ProxySettings>,
    /// How agents check in.
    #[serde(default)]
    pub agents: AgentSettings,
    /// How long history is kept.
    #[serde(default)]
    pub retention: RetentionSettings,
    /// LDAP or Active Directory sources of computer objects: their OU and
    /// groups become machine facts (`MachineGroup` `directory` selectors), and
    /// the console reports the computers nobody manages.
    #[serde(default, skip_serializing_if = "DirectorySettings::is_empty")]
    pub directory: DirectorySettings,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DirectorySettings {
    /// Directories to read, each synced on its own interval by the leader.
    #[serde(default)]
    pub sources: Vec<DirectorySource>,
}

impl DirectorySettings {
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }
}

/// One LDAP directory, e.g. an Active Directory domain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DirectorySource {
    /// A name for the source, shown in the console and the API.
    pub name: String,
    /// `ldaps://dc1.corp.example` (TLS from the start, port 636) or
    /// `ldap://dc1.corp.example` (port 389, with `startTls` to upgrade it).
    pub url: String,
    /// Upgrade an `ldap://` connection with StartTLS before binding.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub start_tls: bool,
    /// PEM file of the certificate authorities to trust for LDAPS and StartTLS,
    /// for a domain's own CA; without it the system's roots are used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    /// The account to bind as, e.g. `CN=fixpoint-sync,OU=Service Accounts,DC=corp,DC=example`.
    pub bind_dn: String,
    /// A file on the server holding the bind password (one line), e.g. a
    /// mounted Kubernetes secret. Exactly one of `passwordFile` and `passwordEnv`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<String>,
    /// An environment variable of the server holding the bind password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// Where to search, e.g. `DC=corp,DC=example`.
    pub base_dn: String,
    /// Which entries are computers. Default `(objectClass=computer)`.
    #[serde(default = "default_computer_filter")]
    pub filter: String,
    /// Which entries are groups, for nested membership. Default `(objectClass=group)`.
    #[serde(default = "default_group_filter")]
    pub group_filter: String,
    /// Entries per page of the paged search. Default 500 (Active Directory serves up to 1,000).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// How often to sync. Default 1h.
    #[serde(default = "default_directory_interval")]
    pub interval: Duration,
    /// Connecting, and each LDAP operation, give up after this long. Default 30s.
    #[serde(default = "default_directory_timeout")]
    pub timeout: Duration,
}

fn default_computer_filter() -> String {
    "(objectClass=computer)".into()
}

fn default_group_filter() -> String {
    "(objectClass=group)".into()
}

fn default_page_size() -> u32 {
    500
}

fn default_directory_interval() -> Duration {
    Duration::from_secs(3600)
}

fn default_directory_timeout() -> Duration {
    Duration::from_secs(30)
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CatalogSettings {
    /// Vendor feeds, synced in this order.
    #[serde(default)]
    pub sources: Vec<CatalogSource>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CatalogSource {
    /// A name for the source, used by approval rules (`match.sources`) and in the console.
    pub name: String,
    /// The feed format.
    #[serde(rename = "type")]
    pub kind: CatalogSourceKind,
    /// Where the feed is: a repository or feed URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// For `apt`: a deb822 `.sources` file on the server, e.g.
    /// `/etc/apt/sources.list.d/debian.sources`, instead of `url` and `suites`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sources_file: Option<String>,
    /// For `apt`: suites to read, e.g. `bookworm-security`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suites: Vec<String>,
    /// For `apt`: components, e.g. `main`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<String>,
    /// For `apt`: architectures, e.g. `amd64`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub architectures: Vec<String>,
    /// For `apt`: the OpenPGP keyring that signs the repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyring: Option<String>,
    /// How often to sync.
    #[serde(default = "default_sync_interval")]
    pub interval: Duration,
}

fn default_sync_interval() -> Duration {
    Duration::from_secs(6 * 3600)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum CatalogSourceKind {
    /// A Debian or Ubuntu APT repository (signed `InRelease`).
    Apt,
    /// A CSAF 2.0 advisory document (`url` names the document).
    Csaf,
    /// OSV advisories: one record, a JSON array of records, or a `.zip` of records
    /// (as OSV publishes each ecosystem, e.g. `Debian/all.zip`).
    Osv,
    /// A CVRF document: Microsoft's monthly MSRC release (with KB numbers and
    /// supersedence) or a SUSE advisory.
    Cvrf,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProxySettings {
    /// Proxy URL, e.g. `http://proxy.corp.example:3128`.
    pub url: String,
    /// Host names reached directly.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub no_proxy: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentSettings {
    /// How often agents check in. Default 90m.
    #[serde(default = "default_check_in")]
    pub check_in_interval: Duration,
    /// Random spread added to each check-in so a fleet does not arrive at once, as a share of the interval.
    #[serde(default = "default_jitter")]
    pub jitter: Percent,
}

impl Default for AgentSettings {
    fn default() -> Self {
        AgentSettings {
            check_in_interval: default_check_in(),
            jitter: default_jitter(),
        }
    }
}

fn default_check_in() -> Duration {
    Duration::from_secs(90 * 60)
}

fn default_jitter() -> Percent {
    Percent::new(10.0).unwrap_or(Percent::new(0.0).expect("0% is in range"))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetentionSettings {
    /// How long check-in history is kept. Default 90d.
    #[serde(default = "default_check_in_retention")]
    pub check_ins: Duration,
    /// How long install results and compliance snapshots are kept. Default 400d.
    #[serde(default = "default_report_retention")]
    pub reports: Duration,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings {
            check_ins: default_check_in_retention(),
            reports: default_report_retention(),
        }
    }
}

fn default_check_in_retention() -> Duration {
    Duration::from_secs(90 * 86_400)
}

fn default_report_retention() -> Duration {
    Duration::from_secs(400 * 86_400)
}
