//! Semantic validation: what the types alone cannot say. References resolve,
//! names are unique, windows occur, rings can be reached and deadlines met.
//!
//! Every check points at the field it is about (via the document's YAML tree),
//! not at the top of the document. `now` is an argument: expiry warnings and
//! window searches are reproducible.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;

use super::diagnostic::{Diagnostic, Level};
use super::kinds::*;
use super::load::{Document, Kind, PolicySet};
use super::primitives::{CountOrPercent, Duration};
use super::yaml::Seg;
use crate::schedule;

/// The built-in group that matches every machine.
pub const ALL_GROUP: &str = "all";

/// How far ahead window checks look: a window that does not open within this
/// horizon (outside freezes) is reported as never occurring.
const WINDOW_HORIZON_YEARS: i16 = 5;

/// Checks the set as a whole; returns errors and warnings.
pub fn validate(set: &PolicySet, now: Timestamp) -> Vec<Diagnostic> {
    let mut v = Validator {
        set,
        now,
        out: Vec::new(),
    };
    v.names();
    v.settings();
    for doc in &set.groups {
        v.group(doc);
    }
    for doc in &set.approvals {
        v.approval(doc);
    }
    let windows: BTreeMap<&str, WindowFacts> = set
        .windows
        .iter()
        .map(|doc| (doc.name(), v.window(doc)))
        .collect();
    for doc in &set.rollouts {
        v.rollout(doc, &windows);
    }
    for doc in &set.exclusions {
        v.exclusion(doc);
    }
    for doc in &set.software {
        v.software(doc);
    }
    v.out
}

/// What the window checks learnt, for the deadline checks of rollouts using it.
#[derive(Debug, Clone, Copy)]
struct WindowFacts {
    /// The longest wait, from any moment, until the window next opens.
    max_wait: Option<Duration>,
}

struct Validator<'a> {
    set: &'a PolicySet,
    now: Timestamp,
    out: Vec<Diagnostic>,
}

/// Builds a path from mixed keys and indices: `path!["spec", "rings", 1]`.
macro_rules! path {
    ($($seg:expr),* $(,)?) => { &[$(Seg::from($seg)),*][..] };
}

impl Validator<'_> {
    fn report<S>(
        &mut self,
        doc: &Document<S>,
        path: &[Seg],
        level: Level,
        code: &'static str,
        message: String,
    ) {
        let pos = doc.origin.locate(path);
        self.out
            .push(Diagnostic::new(&doc.origin.file, pos, level, code, message));
    }

    fn error<S>(&mut self, doc: &Document<S>, path: &[Seg], code: &'static str, message: String) {
        self.report(doc, path, Level::Error, code, message);
    }

    fn warn<S>(&mut self, doc: &Document<S>, path: &[Seg], code: &'static str, message: String) {
        self.report(doc, path, Level::Warning, code, message);
    }

    // ---- names -------------------------------------------------------------------------------

    fn names(&mut self) {
        let set = self.set;
        self.names_of(Kind::MachineGroup, &set.groups);
        self.names_of(Kind::ApprovalPolicy, &set.approvals);
        self.names_of(Kind::Rollout, &set.rollouts);
        self.names_of(Kind::MaintenanceWindow, &set.windows);
        self.names_of(Kind::Exclusion, &set.exclusions);
        self.names_of(Kind::SoftwarePolicy, &set.software);
        self.names_of(Kind::Settings, &set.settings);
        for doc in &set.groups {
            if doc.name() == ALL_GROUP {
                self.error(
                    doc,
                    path!["metadata", "name"],
                    "reserved-name",
                    "`all` is the built-in group of every machine; choose another name".into(),
                );
            }
        }
        if let Some(second) = set.settings.get(1) {
            let first = &set.settings[0];
            let at = first.origin.locate(path!["metadata"]);
            self.error(
                second,
                path!["kind"],
                "duplicate-settings",
                format!(
                    "a repository has at most one Settings document; another is at {}:{}",
                    first.origin.file, at.line
                ),
            );
        }
    }

    fn names_of<S>(&mut self, kind: Kind, docs: &[Document<S>]) {
        let mut seen: BTreeMap<&str, &Document<S>> = BTreeMap::new();
        for doc in docs {
            let name = doc.name();
            if let Err(why) = check_name(name) {
                self.error(
                    doc,
                    path!["metadata", "name"],
                    "invalid-name",
                    format!("invalid name `{name}`: {why}"),
                );
            }
            if let Some(first) = seen.get(name) {
                let at = first.origin.locate(path!["metadata", "name"]);
                self.error(
                    doc,
                    path!["metadata", "name"],
                    "duplicate-name",
                    format!(
                        "duplicate {kind} `{name}`; the first is at {}:{}:{}",
                        first.origin.file, at.line, at.column
                    ),
                );
            } else {
                seen.insert(name, doc);
            }
        }
    }

    /// Reports `name` at `path` when no document of `kind` has it.
    fn reference<S>(&mut self, doc: &Document<S>, path: &[Seg], kind: Kind, name: &str) -> bool {
        let set = self.set;
        let known: Vec<&str> = match kind {
            Kind::MachineGroup => {
                let mut v: Vec<&str> = set.groups.iter().map(Document::name).collect();
                v.push(ALL_GROUP);
                v
            }
            Kind::ApprovalPolicy => set.approvals.iter().map(Document::name).collect(),
            Kind::MaintenanceWindow => set.windows.iter().map(Document::name).collect(),
            _ => Vec::new(),
        };
        if known.contains(&name) {
            return true;
        }
        if !set.is_broken(kind, name) {
            let hint = super::de::did_you_mean(name, &known);
            self.error(
                doc,
                path,
                "unknown-reference",
                format!("unknown {kind} `{name}`{hint}"),
            );
        }
        false
    }

    // ---- settings ----------------------------------------------------------------------------

    fn directory_sources(&mut self, doc: &Document<SettingsSpec>) {
        let mut seen = BTreeSet::new();
        for (i, source) in doc.spec.directory.sources.iter().enumerate() {
            let at = |f: &'static str| {
                [
                    Seg::from("spec"),
                    "directory".into(),
                    "sources".into(),
                    i.into(),
                    f.into(),
                ]
            };
            if !seen.insert(source.name.as_str()) {
                self.error(
                    doc,
                    &at("name"),
                    "duplicate-name",
                    format!("duplicate directory source `{}`", source.name),
                );
            }
            let ldaps = source.url.starts_with("ldaps://");
            if !(ldaps || source.url.starts_with("ldap://"))
                || source.url.contains(char::is_whitespace)
            {
                self.error(
                    doc,
                    &at("url"),
                    "invalid-url",
                    format!(
                        "invalid URL `{}`: expected ldap://host[:port] or ldaps://host[:port]",
                        source.url
                    ),
                );
            } else if ldaps && source.start_tls {
                self.error(
                    doc,
                    &at("startTls"),
                    "invalid-value",
                    "`startTls` upgrades an ldap:// connection; an ldaps:// one is TLS already"
                        .into(),
                );
            } else if !ldaps && !source.start_tls && source.ca_file.is_some() {
                // Ignoring it would send the bind password in the clear while the file
                // says TLS was meant.
                self.error(
                    doc,
                    &at("caFile"),
                    "invalid-value",
                    "`caFile` is for TLS: use an ldaps:// URL or `startTls: true`".into(),
                );
            }
            match (&source.password_file, &source.password_env) {
                (Some(_), Some(_)) => self.error(
                    doc,
                    &at("passwordEnv"),
                    "invalid-value",
                    "give the bind password in `passwordFile` or `passwordEnv`, not both".into(),
                ),
                (None, None) => self.error(
                    doc,
                    &at("bindDn"),
                    "incomplete-source",
                    "a directory source needs `passwordFile` or `passwordEnv` for its bind password (an LDAP bind without one is anonymous)".into(),
                ),
                (Some(f), None) if f.trim().is_empty() => self.error(
                    doc,
                    &at("passwordFile"),
                    "invalid-value",
                    "`passwordFile` is empty".into(),
                ),
                (None, Some(v)) if v.trim().is_empty() || v.contains('=') => self.error(
                    doc,
                    &at("passwordEnv"),
                    "invalid-value",
                    format!("`{v}` is not an environment variable name"),
                ),
                _ => {}
            }
            for (field, value) in [
                ("bindDn", &source.bind_dn),
                ("baseDn", &source.base_dn),
                ("filter", &source.filter),
                ("groupFilter", &source.group_filter),
            ] {
                if value.trim().is_empty() {
                    self.error(
                        doc,
                        &at(field),
                        "invalid-value",
                        format!("`{field}` is empty"),
                    );
                }
            }
            for (field, value) in [
                ("filter", &source.filter),
                ("groupFilter", &source.group_filter),
            ] {
                let v = value.trim();
                let parenthesised = v.starts_with('(') && v.ends_with(')');
                if !v.is_empty() && !parenthesised {
                    self.error(
                        doc,
                        &at(field),
                        "invalid-value",
                        format!("LDAP filter `{value}` must be in parentheses, e.g. (objectClass=computer)"),
                    );
                }
            }
            if !(1..=10_000).contains(&source.page_size) {
                self.error(
                    doc,
                    &at("pageSize"),
                    "invalid-value",
                    format!("page size {} is outside 1 to 10000", source.page_size),
                );
            }
            if source.interval < Duration::from_secs(60) {
                self.error(
                    doc,
                    &at("interval"),
                    "invalid-value",
                    format!(
                        "sync interval {} is shorter than 1m; a directory of 100,000 computers takes longer to read",
                        source.interval
                    ),
                );
            }
            if source.timeout < Duration::from_secs(1) {
                self.error(
                    doc,
                    &at("timeout"),
                    "invalid-value",
                    format!("timeout {}s is shorter than 1s", source.timeout.as_secs()),
                );
            }
        }
    }

    fn settings(&mut self) {
        let Some(doc) = self.set.settings.first() else {
            return;
        };
        let spec = &doc.spec;
        let mut seen = BTreeSet::new();
        for (i, source) in spec.catalog.sources.iter().enumerate() {
            let at = |f: &'static str| {
                [
                    Seg::from("spec"),
                    "catalog".into(),
                    "sources".into(),
                    i.into(),
                    f.into(),
                ]
            };
            if !seen.insert(source.name.as_str()) {
                self.error(
                    doc,
                    &at("name"),
                    "duplicate-name",
                    format!("duplicate catalog source `{}`", source.name),
                );
            }
            if let Some(url) = &source.url
                && !(url.starts_with("https://")
                    || url.starts_with("http://")
                    || url.starts_with("file://"))
            {
                self.error(
                    doc,
                    &at("url"),
                    "invalid-url",
                    format!("invalid URL `{url}`: expected an http://, https:// or file:// URL"),
                );
            }
            match source.kind {
                CatalogSourceKind::Apt => {
                    if source.url.is_none() && source.sources_file.is_none() {
                        self.error(
                            doc,
                            &at("type"),
                            "incomplete-source",
                            "an apt source needs `url` (with `suites`) or `sourcesFile`".into(),
                        );
                    }
                    if source.url.is_some()
                        && source.sources_file.is_none()
                        && source.suites.is_empty()
                    {
                        self.error(
                            doc,
                            &at("url"),
                            "incomplete-source",
                            "an apt source with `url` needs `suites`, e.g. [bookworm-security]"
                                .into(),
                        );
                    }
                }
                CatalogSourceKind::Csaf | CatalogSourceKind::Osv | CatalogSourceKind::Cvrf => {
                    if source.url.is_none() {
                        self.error(
                            doc,
                            &at("type"),
                            "incomplete-source",
                            "this source needs `url`".into(),
                        );
                    }
                }
            }
            if source.interval < Duration::from_secs(300) {
                self.error(
                    doc,
                    &at("interval"),
                    "invalid-value",
                    format!(
                        "sync interval {} is shorter than 5m; vendors would rate-limit us",
                        source.interval
                    ),
                );
            }
        }
        self.directory_sources(doc);
        if spec.agents.check_in_interval < Duration::from_secs(60) {
            self.error(
                doc,
                path!["spec", "agents", "checkInInterval"],
                "invalid-value",
                format!(
                    "check-in interval {} is shorter than 1m",
                    spec.agents.check_in_interval
                ),
            );
        }
        if spec.agents.jitter.value() > 50.0 {
            self.error(
                doc,
                path!["spec", "agents", "jitter"],
                "invalid-value",
                format!(
                    "jitter {} is more than 50% of the interval",
                    spec.agents.jitter
                ),
            );
        }
    }

    // ---- groups ------------------------------------------------------------------------------

    fn group(&mut self, doc: &Document<MachineGroupSpec>) {
        if let Some(why) = matches_nothing(&doc.spec.selector) {
            self.warn(
                doc,
                &[Seg::from("spec"), "match".into(), why.0.into()],
                "matches-nothing",
                format!("group `{}` can match no machine: {}", doc.name(), why.1),
            );
        }
        self.selector_fields(
            doc,
            &doc.spec.selector,
            &[Seg::from("spec"), "match".into()],
        );
    }

    fn selector_fields<S>(&mut self, doc: &Document<S>, sel: &Selector, base: &[Seg]) {
        if let Some(dir) = &sel.directory
            && let Some(ou) = &dir.ou
            && !looks_like_dn(ou)
        {
            let mut p = base.to_vec();
            p.extend([Seg::from("directory"), "ou".into()]);
            self.error(doc, &p, "invalid-value", format!(
                        "`{ou}` is not a distinguished name; write it as `OU=Servers,DC=corp,DC=example`"
                    ));
        }
    }

    // ---- approvals ---------------------------------------------------------------------------

    fn approval(&mut self, doc: &Document<ApprovalPolicySpec>) {
        let spec = &doc.spec;
        let sources: Vec<String> = self
            .set
            .settings()
            .catalog
            .sources
            .iter()
            .map(|s| s.name.clone())
            .collect();
        let mut catch_all: Option<usize> = None;
        for (i, rule) in spec.rules.iter().enumerate() {
            if let Some(first) = catch_all {
                self.warn(
                    doc,
                    &[Seg::from("spec"), "rules".into(), i.into()],
                    "unreachable-rule",
                    format!(
                        "rule {} can never apply: rule {} before it matches every patch",
                        i + 1,
                        first + 1
                    ),
                );
            }
            let m = &rule.matches;
            if *m == PatchMatch::default() && catch_all.is_none() {
                catch_all = Some(i);
            }
            if let Some(score) = m.cvss_at_least
                && !(0.0..=10.0).contains(&score)
            {
                self.error(
                    doc,
                    &[
                        Seg::from("spec"),
                        "rules".into(),
                        i.into(),
                        "match".into(),
                        "cvssAtLeast".into(),
                    ],
                    "invalid-value",
                    format!("CVSS score {score} is out of range: expected 0.0 to 10.0"),
                );
            }
            for (j, cve) in m.cves.iter().flatten().enumerate() {
                if let Err(why) = check_cve(cve.as_str()) {
                    self.error(
                        doc,
                        &[
                            Seg::from("spec"),
                            "rules".into(),
                            i.into(),
                            "match".into(),
                            "cves".into(),
                            j.into(),
                        ],
                        "invalid-value",
                        why,
                    );
                }
            }
            for (j, source) in m.sources.iter().flatten().enumerate() {
                if !sources.contains(source) {
                    let names: Vec<&str> = sources.iter().map(String::as_str).collect();
                    self.error(doc, &[Seg::from("spec"), "rules".into(), i.into(), "match".into(), "sources".into(), j.into()],
                        "unknown-reference", format!(
                            "unknown catalog source `{source}`{}; sources are named in Settings `spec.catalog.sources`",
                            super::de::did_you_mean(source, &names)
                        ));
                }
            }
        }
        let approved = self.explicit_entries(
            doc,
            "approve",
            spec.approve
                .iter()
                .map(|a| (a.patch.as_str(), a.reason.as_str())),
            ("an approval", "approved"),
        );
        self.explicit_entries(
            doc,
            "decline",
            spec.decline
                .iter()
                .map(|d| (d.patch.as_str(), d.reason.as_str())),
            ("a decline", "declined"),
        );
        for (i, d) in spec.decline.iter().enumerate() {
            let patch = d.patch.as_str();
            if let Some(j) = approved.get(patch) {
                let at = [
                    Seg::from("spec"),
                    "decline".into(),
                    i.into(),
                    "patch".into(),
                ];
                self.warn(
                    doc,
                    &at,
                    "approved-and-declined",
                    format!(
                        "patch `{patch}` is both approved (approve[{j}]) and declined; the decline wins"
                    ),
                );
            }
        }
    }

    /// Checks an explicit `approve` or `decline` list (each entry needs a patch id
    /// and a reason; a patch listed twice is a warning); returns patch → first index.
    fn explicit_entries<'s>(
        &mut self,
        doc: &Document<ApprovalPolicySpec>,
        list: &'static str,
        entries: impl Iterator<Item = (&'s str, &'s str)>,
        (noun, verb): (&str, &str),
    ) -> BTreeMap<&'s str, usize> {
        let mut seen = BTreeMap::new();
        for (i, (patch, reason)) in entries.enumerate() {
            let at = |f: &'static str| [Seg::from("spec"), list.into(), i.into(), f.into()];
            if reason.trim().is_empty() {
                self.error(
                    doc,
                    &at("reason"),
                    "missing-reason",
                    format!("{noun} needs a reason"),
                );
            }
            if patch.trim().is_empty() {
                self.error(doc, &at("patch"), "invalid-value", "empty patch id".into());
            }
            if seen.contains_key(patch) {
                self.warn(
                    doc,
                    &at("patch"),
                    "duplicate-entry",
                    format!("patch `{patch}` is {verb} twice"),
                );
            } else {
                seen.insert(patch, i);
            }
        }
        seen
    }

    // ---- windows -----------------------------------------------------------------------------

    fn window(&mut self, doc: &Document<MaintenanceWindowSpec>) -> WindowFacts {
        let spec = &doc.spec;
        let mut facts = WindowFacts { max_wait: None };
        if spec.duration == Duration::ZERO {
            self.error(
                doc,
                path!["spec", "duration"],
                "invalid-value",
                "a window must last longer than 0".into(),
            );
        }
        let mut freezes = Vec::new();
        for (i, f) in spec.freezes.iter().enumerate() {
            if f.to < f.from {
                self.error(
                    doc,
                    path!["spec", "freezes", i, "to"],
                    "invalid-freeze",
                    format!("freeze ends ({}) before it starts ({})", f.to, f.from),
                );
            } else {
                freezes.push(schedule::Freeze {
                    from: f.from.0,
                    to: f.to.0,
                });
            }
        }
        let tz = if spec.timezone == "machine" {
            // Each machine's own zone; checks use UTC, which is within a day of any zone.
            Some(jiff::tz::TimeZone::UTC)
        } else {
            match schedule::time_zone(&spec.timezone) {
                Ok(tz) => Some(tz),
                Err(e) => {
                    let e = e.to_string();
                    let message = if e.contains("did you mean") {
                        e
                    } else {
                        format!(
                            "{e}; write an IANA name such as `Europe/Berlin`, or `machine` for each machine's own zone"
                        )
                    };
                    self.error(doc, path!["spec", "timezone"], "unknown-time-zone", message);
                    None
                }
            }
        };
        let schedule = match (&spec.cron, &spec.monthly) {
            (Some(_), Some(_)) => {
                self.error(
                    doc,
                    path!["spec", "monthly"],
                    "conflicting-fields",
                    "give `cron` or `monthly`, not both".into(),
                );
                None
            }
            (None, None) => {
                self.error(
                    doc,
                    path!["spec"],
                    "missing-field",
                    "missing `cron` or `monthly`: when does the window open?".into(),
                );
                None
            }
            (Some(cron), None) => match schedule::CronExpr::parse(cron) {
                Ok(c) => Some(schedule::Schedule::Cron(c)),
                Err(e) => {
                    self.error(
                        doc,
                        path!["spec", "cron"],
                        "invalid-cron",
                        format!("invalid cron `{cron}`: {e}"),
                    );
                    None
                }
            },
            (None, Some(m)) => match monthly_schedule(m) {
                Ok(s) => Some(s),
                Err((field, why)) => {
                    self.error(
                        doc,
                        &[Seg::from("spec"), "monthly".into(), field.into()],
                        "invalid-value",
                        why,
                    );
                    None
                }
            },
        };
        let (Some(schedule), Some(tz)) = (schedule, tz) else {
            return facts;
        };
        let window = schedule::Window {
            schedule,
            duration: spec.duration.to_signed_duration(),
        };
        let at = if spec.cron.is_some() {
            path!["spec", "cron"]
        } else {
            path!["spec", "monthly"]
        };
        if window.schedule.next_after(&tz, self.now).is_none() {
            self.error(
                doc,
                at,
                "window-never-opens",
                format!(
                    "window `{}` never opens: no date matches its schedule",
                    doc.name()
                ),
            );
            return facts;
        }
        let first_open = window.next_window(&tz, self.now, &freezes);
        let horizon = self
            .now
            .to_zoned_datetime(tz.clone())
            .checked_add(jiff::Span::new().years(WINDOW_HORIZON_YEARS))
            .map(|z| z.timestamp())
            .unwrap_or(Timestamp::MAX);
        if first_open.is_none_or(|o| o.start.timestamp() > horizon) {
            self.error(doc, path!["spec", "freezes"], "window-always-frozen", format!(
                "window `{}` never opens outside a freeze: every occurrence in the next {WINDOW_HORIZON_YEARS} years falls in one",
                doc.name()
            ));
            return facts;
        }
        facts.max_wait = window
            .max_gap(&tz, self.now, &[])
            .map(|gap| Duration::from_secs(gap.as_secs()));
        facts
    }

    // ---- rollouts ----------------------------------------------------------------------------

    fn rollout(&mut self, doc: &Document<RolloutSpec>, windows: &BTreeMap<&str, WindowFacts>) {
        let spec = &doc.spec;
        let approval_known = self.reference(
            doc,
            path!["spec", "approval"],
            Kind::ApprovalPolicy,
            &spec.approval,
        );
        if let Some(w) = &spec.window {
            self.reference(doc, path!["spec", "window"], Kind::MaintenanceWindow, w);
        }
        if spec.rings.is_empty() {
            self.error(
                doc,
                path!["spec", "rings"],
                "no-rings",
                "a rollout needs at least one ring".into(),
            );
        }
        let mut ring_names: BTreeMap<&str, usize> = BTreeMap::new();
        let mut group_ring: BTreeMap<&str, usize> = BTreeMap::new();
        let mut all_at: Option<usize> = None;
        let mut previous_delay = Duration::ZERO;
        for (i, ring) in spec.rings.iter().enumerate() {
            let at = |f: &'static str| [Seg::from("spec"), "rings".into(), i.into(), f.into()];
            if let Some(first) = ring_names.insert(&ring.name, i) {
                self.error(
                    doc,
                    &at("name"),
                    "duplicate-name",
                    format!("duplicate ring `{}` (also ring {})", ring.name, first + 1),
                );
            }
            for (j, group) in ring.groups.iter().enumerate() {
                let gpath = [
                    Seg::from("spec"),
                    "rings".into(),
                    i.into(),
                    "groups".into(),
                    j.into(),
                ];
                self.reference(doc, &gpath, Kind::MachineGroup, group);
                if let Some(other) = group_ring.insert(group, i) {
                    let msg = if other == i {
                        format!("group `{group}` is listed twice in ring `{}`", ring.name)
                    } else {
                        format!(
                            "group `{group}` is in two rings of this rollout, `{}` and `{}`; a group belongs to one ring",
                            spec.rings[other].name, ring.name
                        )
                    };
                    self.error(doc, &gpath, "group-in-two-rings", msg);
                }
            }
            // A ring no machine can reach.
            if let Some(k) = all_at {
                self.warn(doc, &at("name"), "unreachable-ring", format!(
                    "ring `{}` can never match a machine: ring `{}` before it takes every machine (`all`)",
                    ring.name, spec.rings[k].name
                ));
            } else if ring.groups.is_empty() {
                self.warn(
                    doc,
                    &at("groups"),
                    "unreachable-ring",
                    format!("ring `{}` has no groups, so no machine", ring.name),
                );
            } else if let Some(why) = self.ring_matches_nothing(ring) {
                self.warn(
                    doc,
                    &at("groups"),
                    "unreachable-ring",
                    format!("ring `{}` can never match a machine: {why}", ring.name),
                );
            }
            if ring.groups.iter().any(|g| g == ALL_GROUP) {
                all_at.get_or_insert(i);
            }
            if i == 0 && ring.gate.is_some() {
                self.warn(
                    doc,
                    &at("gate"),
                    "gate-on-first-ring",
                    "the first ring has no previous ring to gate on; this gate is ignored".into(),
                );
            }
            if ring.delay < previous_delay {
                self.warn(doc, &at("delay"), "ring-delay-order", format!(
                    "ring `{}` opens {} after approval, before the previous ring ({}); it still waits for that ring's gate",
                    ring.name, ring.delay, previous_delay
                ));
            }
            previous_delay = previous_delay.max(ring.delay);
            if let Some(gate) = &ring.gate {
                if let (Some(min), Some(halt)) = (gate.min_success, gate.halt_on_failures)
                    && 100.0 - halt.value() < min.value()
                {
                    // Not an error: halting earlier than the success bar is a valid, stricter choice.
                }
                if gate.min_machines == Some(0) {
                    self.warn(
                        doc,
                        &[
                            Seg::from("spec"),
                            "rings".into(),
                            i.into(),
                            "gate".into(),
                            "minMachines".into(),
                        ],
                        "invalid-value",
                        "minMachines 0 lets the gate pass with no results at all".into(),
                    );
                }
            }
            if ring.max_concurrent == Some(CountOrPercent::Count(0)) {
                self.error(doc, &at("maxConcurrent"), "invalid-value",
                    "maxConcurrent 0 would never let a machine install; use `pause` to stop a rollout".into());
            }
            if let Some(CountOrPercent::Percent(p)) = ring.max_concurrent
                && p.value() == 0.0
            {
                self.error(doc, &at("maxConcurrent"), "invalid-value",
                        "maxConcurrent 0% would never let a machine install; use `pause` to stop a rollout".into());
            }
        }
        for (i, hook) in spec.hooks.pre_install.iter().enumerate() {
            if hook.run.trim().is_empty() {
                self.error(
                    doc,
                    path!["spec", "hooks", "preInstall", i, "run"],
                    "invalid-value",
                    "empty command".into(),
                );
            }
        }
        for (i, hook) in spec.hooks.post_install.iter().enumerate() {
            if hook.run.trim().is_empty() {
                self.error(
                    doc,
                    path!["spec", "hooks", "postInstall", i, "run"],
                    "invalid-value",
                    "empty command".into(),
                );
            }
        }
        if let Some(pause) = &spec.pause {
            if pause.reason.trim().is_empty() {
                self.error(
                    doc,
                    path!["spec", "pause", "reason"],
                    "missing-reason",
                    "a pause needs a reason".into(),
                );
            }
            if pause.until.end <= self.now {
                self.warn(
                    doc,
                    path!["spec", "pause", "until"],
                    "expired",
                    format!("pause expired on {}; remove it", pause.until),
                );
            }
        }
        if approval_known {
            let wait = spec
                .window
                .as_deref()
                .and_then(|w| windows.get(w))
                .and_then(|f| f.max_wait);
            self.deadlines(doc, wait);
        }
    }

    /// Why every group of `ring` matches no machine, if so.
    fn ring_matches_nothing(&self, ring: &Ring) -> Option<String> {
        let mut reasons = Vec::new();
        for name in &ring.groups {
            let group = self.set.group(name)?; // unknown or `all`: reported elsewhere or matches
            let (_, why) = matches_nothing(&group.spec.selector)?;
            reasons.push(format!("group `{name}` can match no machine ({why})"));
        }
        Some(reasons.join("; "))
    }

    /// Warns for each ring that cannot install a severity's patches by its deadline:
    /// approval delay + ring delay (+ soak of the gates before it) + the longest wait for a window.
    fn deadlines(&mut self, doc: &Document<RolloutSpec>, window_wait: Option<Duration>) {
        let spec = &doc.spec;
        let Some(policy) = self.set.approval(&spec.approval) else {
            return;
        };
        for severity in Severity::ALL {
            let Some(deadline) = spec.deadlines.get(severity).or(spec.deadline) else {
                continue;
            };
            // The soonest any rule approves a patch of this severity.
            let approve_after = policy
                .spec
                .rules
                .iter()
                .filter(|r| {
                    r.matches
                        .severity
                        .as_ref()
                        .is_none_or(|s| s.contains(&severity))
                })
                .map(|r| r.approve_after)
                .min();
            let Some(approve_after) = approve_after else {
                continue;
            };
            let mut opens = Duration::ZERO; // after approval
            for (i, ring) in spec.rings.iter().enumerate() {
                let soak = ring
                    .gate
                    .as_ref()
                    .and_then(|g| g.soak)
                    .unwrap_or(Duration::ZERO);
                opens = ring.delay.max(if i == 0 {
                    Duration::ZERO
                } else {
                    opens.saturating_add(soak)
                });
                let wait = window_wait.unwrap_or(Duration::ZERO);
                let total = approve_after.saturating_add(opens).saturating_add(wait);
                if total > deadline {
                    let window = match (&spec.window, window_wait) {
                        (Some(w), Some(wait)) => {
                            format!(", then up to {wait} until window `{w}` opens")
                        }
                        _ => String::new(),
                    };
                    self.warn(doc, path!["spec", "rings", i, "name"], "deadline-unreachable", format!(
                        "ring `{}` cannot meet the {deadline} deadline for {} patches: approved after {approve_after}, ring opens {opens} after approval{window} ({total} in all)",
                        ring.name, severity.name()
                    ));
                }
            }
        }
    }

    // ---- exclusions and software -------------------------------------------------------------

    fn exclusion(&mut self, doc: &Document<ExclusionSpec>) {
        let spec = &doc.spec;
        if spec.reason.trim().is_empty() {
            self.error(
                doc,
                path!["spec", "reason"],
                "missing-reason",
                "an exclusion needs a reason: the risk being accepted".into(),
            );
        }
        if spec.owner.trim().is_empty() {
            self.error(
                doc,
                path!["spec", "owner"],
                "missing-owner",
                "an exclusion needs an owner: who accepts the risk".into(),
            );
        }
        if spec.patches.is_empty() {
            self.error(doc, path!["spec", "patches"], "empty-scope",
                "an exclusion must name `packages`, `ids` or `cves`; to stop all patching use a rollout `pause`".into());
        }
        for (j, cve) in spec.patches.cves.iter().enumerate() {
            if let Err(why) = check_cve(cve.as_str()) {
                self.error(
                    doc,
                    path!["spec", "patches", "cves", j],
                    "invalid-value",
                    why,
                );
            }
        }
        let m = &spec.machines;
        for (j, g) in m.groups.iter().flatten().enumerate() {
            self.reference(
                doc,
                path!["spec", "machines", "groups", j],
                Kind::MachineGroup,
                g,
            );
        }
        if m.groups.is_none() && m.selector() == Selector::default() {
            self.warn(
                doc,
                path!["spec", "machines"],
                "excludes-every-machine",
                "this exclusion applies to every machine; name `groups` or a selector".into(),
            );
        }
        self.selector_fields(doc, &m.selector(), &[Seg::from("spec"), "machines".into()]);
        if let Some(until) = &spec.until
            && until.end <= self.now
        {
            self.warn(doc, path!["spec", "until"], "expired", format!(
                    "exclusion expired on {until}; its patches are due again. Remove it or extend it with a new review"
                ));
        }
    }

    fn software(&mut self, doc: &Document<SoftwarePolicySpec>) {
        let spec = &doc.spec;
        for (j, g) in spec.groups.iter().flatten().enumerate() {
            self.reference(doc, path!["spec", "groups", j], Kind::MachineGroup, g);
        }
        for (i, rule) in spec.present.iter().enumerate() {
            if !rule.package.is_literal() {
                self.error(
                    doc,
                    path!["spec", "present", i, "package"],
                    "invalid-value",
                    format!(
                        "`{}` is a pattern; a required package needs an exact name",
                        rule.package
                    ),
                );
            }
            if let Some(j) = spec
                .absent
                .iter()
                .position(|a| a.package.matches(rule.package.as_str()))
            {
                self.error(
                    doc,
                    path!["spec", "present", i, "package"],
                    "contradiction",
                    format!(
                        "package `{}` must be present, but absent[{j}] (`{}`) requires it absent",
                        rule.package, spec.absent[j].package
                    ),
                );
            }
        }
    }
}

/// Why a selector can match no machine, as (field, explanation), if it cannot.
fn matches_nothing(sel: &Selector) -> Option<(&'static str, String)> {
    if sel.hostnames.as_ref().is_some_and(Vec::is_empty) {
        return Some(("hostnames", "`hostnames` is an empty list".into()));
    }
    if sel.sites.as_ref().is_some_and(Vec::is_empty) {
        return Some(("sites", "`sites` is an empty list".into()));
    }
    if let Some(os) = &sel.os
        && os.versions.as_ref().is_some_and(Vec::is_empty)
    {
        return Some(("os", "`os.versions` is an empty list".into()));
    }
    None
}

/// Whether `s` reads as a distinguished name: `type=value` parts separated by
/// commas, where `\,` inside a value is an escaped comma (`OU=Sales\, EMEA,DC=corp`).
fn looks_like_dn(s: &str) -> bool {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut escaped = false;
    for c in s.chars() {
        match c {
            _ if escaped => {
                current.push(c);
                escaped = false;
            }
            '\\' => escaped = true,
            ',' => parts.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    parts.push(current);
    !escaped
        && parts.iter().all(|rdn| {
            rdn.split_once('=')
                .is_some_and(|(k, v)| !k.trim().is_empty() && !v.trim().is_empty())
        })
}

/// A CVE id (`CVE-2024-3094`) or a glob over them (`CVE-2025-*`).
fn check_cve(s: &str) -> Result<(), String> {
    if s.contains(['*', '?', '[']) {
        return if s.to_ascii_uppercase().starts_with("CVE-") {
            Ok(())
        } else {
            Err(format!(
                "`{s}` is not a CVE pattern: expected something like `CVE-2025-*`"
            ))
        };
    }
    let ok = s
        .strip_prefix("CVE-")
        .and_then(|rest| rest.split_once('-'))
        .is_some_and(|(year, seq)| {
            year.len() == 4
                && year.bytes().all(|b| b.is_ascii_digit())
                && seq.len() >= 4
                && seq.bytes().all(|b| b.is_ascii_digit())
        });
    if ok {
        Ok(())
    } else {
        Err(format!("`{s}` is not a CVE id: expected `CVE-YYYY-NNNN`"))
    }
}

/// Lowercase RFC 1123 label: what Kubernetes accepts as a name, so documents can become CRs.
fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("it is empty");
    }
    if name.len() > 63 {
        return Err("longer than 63 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err("use lowercase letters, digits and `-` only");
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err("it must start and end with a letter or digit");
    }
    Ok(())
}

pub(crate) fn monthly_schedule(
    m: &MonthlySchedule,
) -> Result<schedule::Schedule, (&'static str, String)> {
    let nth = match m.nth.trim().to_ascii_lowercase().as_str() {
        "last" => Some(schedule::Nth::Last),
        n => n.parse::<u8>().ok().and_then(schedule::Nth::from_number),
    }
    .ok_or_else(|| {
        (
            "nth",
            format!("invalid nth `{}`: expected 1 to 5 or `last`", m.nth),
        )
    })?;
    let weekday = parse_weekday(&m.weekday).ok_or_else(|| {
        (
            "weekday",
            format!("invalid weekday `{}`: expected monday to sunday", m.weekday),
        )
    })?;
    let (h, min) =
        m.at.split_once(':')
            .and_then(|(h, mm)| Some((h.parse::<i8>().ok()?, mm.parse::<i8>().ok()?)))
            .filter(|(h, mm)| (0..24).contains(h) && (0..60).contains(mm))
            .ok_or_else(|| {
                (
                    "at",
                    format!("invalid time `{}`: expected HH:MM, e.g. 02:00", m.at),
                )
            })?;
    if !(-27..=27).contains(&m.offset_days) {
        return Err((
            "offsetDays",
            format!(
                "offset {} days is more than four weeks; pick another nth",
                m.offset_days
            ),
        ));
    }
    Ok(schedule::Schedule::MonthlyNthWeekday(
        schedule::MonthlyNthWeekday {
            nth,
            weekday,
            offset_days: m.offset_days,
            at: jiff::civil::time(h, min, 0, 0),
        },
    ))
}

fn parse_weekday(s: &str) -> Option<jiff::civil::Weekday> {
    use jiff::civil::Weekday::*;
    let s = s.trim().to_ascii_lowercase();
    [
        ("monday", Monday),
        ("tuesday", Tuesday),
        ("wednesday", Wednesday),
        ("thursday", Thursday),
        ("friday", Friday),
        ("saturday", Saturday),
        ("sunday", Sunday),
    ]
    .into_iter()
    .find(|(name, _)| *name == s || (s.len() == 3 && name.starts_with(s.as_str())))
    .map(|(_, day)| day)
}

#[cfg(test)]
mod dn_tests {
    use super::looks_like_dn;

    #[test]
    fn distinguished_names_may_escape_commas() {
        assert!(looks_like_dn("OU=Servers,DC=corp,DC=example"));
        assert!(looks_like_dn(r"OU=Sales\, EMEA,DC=corp,DC=example"));
        assert!(!looks_like_dn("Servers"));
        assert!(!looks_like_dn("OU=Servers,,DC=corp"));
        assert!(!looks_like_dn(r"OU=Servers\"));
    }
}
