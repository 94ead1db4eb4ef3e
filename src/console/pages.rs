//! The console's pages as data: each function takes the [`View`] and the
//! page's query and returns the model that the HTML template renders and the
//! JSON twin serialises, so the two never disagree. Pure, like the view.
//!
//! Queries are checked: an unknown filter value or a page past the end is a
//! [`QueryError`] that names the parameter and what it accepts.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use fixpoint_core::rating::Severity;
use jiff::Timestamp;
use serde::Serialize;

use super::view::{AGE_BUCKETS, Entry, Kind, MachineRow, RingRow, Standing, View, age_bucket};

/// A query parameter that is not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("query parameter `{param}`: {message}")]
pub struct QueryError {
    pub param: &'static str,
    pub message: String,
}

pub type Query = HashMap<String, String>;

fn param<'q>(q: &'q Query, name: &str) -> Option<&'q str> {
    q.get(name).map(|s| s.trim()).filter(|s| !s.is_empty())
}

/// `?name=` parsed by `parse`, or an error listing what is accepted.
fn choice<T>(
    q: &Query,
    name: &'static str,
    accepted: &[&str],
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Option<T>, QueryError> {
    match param(q, name) {
        None => Ok(None),
        Some(v) => parse(v).map(Some).ok_or_else(|| QueryError {
            param: name,
            message: format!("`{v}` is not one of {}", accepted.join(", ")),
        }),
    }
}

pub fn severity_name(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::Important => "important",
        Severity::Moderate => "moderate",
        Severity::Low => "low",
        Severity::Unrated => "unrated",
    }
}

pub const SEVERITIES: [Severity; 5] = [
    Severity::Critical,
    Severity::Important,
    Severity::Moderate,
    Severity::Low,
    Severity::Unrated,
];

fn parse_severity(s: &str) -> Option<Severity> {
    SEVERITIES.into_iter().find(|x| severity_name(*x) == s)
}

/// Pagination: which page, how many a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Paging {
    pub page: usize,
    pub per: usize,
    pub total: usize,
    pub pages: usize,
}

pub const MAX_PER_PAGE: usize = 500;

fn paging(q: &Query, default_per: usize) -> Result<(usize, usize), QueryError> {
    paging_of(q, "page", default_per)
}

/// [`paging`] with the page number in `page_param`: for a page with several listings.
fn paging_of(
    q: &Query,
    page_param: &'static str,
    default_per: usize,
) -> Result<(usize, usize), QueryError> {
    let number = |name: &'static str, default: usize| match param(q, name) {
        None => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| QueryError {
                param: name,
                message: format!("`{v}` is not a whole number of at least 1"),
            }),
    };
    let page = number(page_param, 1)?;
    let per = number("per", default_per)?;
    if per > MAX_PER_PAGE {
        return Err(QueryError {
            param: "per",
            message: format!("at most {MAX_PER_PAGE} rows a page"),
        });
    }
    Ok((page, per))
}

fn finish_paging(page: usize, per: usize, total: usize) -> Result<Paging, QueryError> {
    finish_paging_of("page", page, per, total)
}

fn finish_paging_of(
    page_param: &'static str,
    page: usize,
    per: usize,
    total: usize,
) -> Result<Paging, QueryError> {
    let pages = total.div_ceil(per).max(1);
    if page > pages {
        return Err(QueryError {
            param: page_param,
            message: format!("page {page} is past the last page, {pages}"),
        });
    }
    Ok(Paging {
        page,
        per,
        total,
        pages,
    })
}

/// Links to other pages of the same listing, keeping its filters.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Links {
    pub first: Option<String>,
    pub prev: Option<String>,
    pub next: Option<String>,
    pub last: Option<String>,
    /// This listing sorted by each column (descending when it is sorted ascending now).
    pub sort: BTreeMap<String, String>,
    pub csv: Option<String>,
}

/// `path?k=v&...` with the query's parameters, some replaced.
pub fn link(path: &str, q: &Query, set: &[(&str, String)]) -> String {
    let mut params: BTreeMap<&str, &str> = q
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    for (k, v) in set {
        if v.is_empty() {
            params.remove(k);
        } else {
            params.insert(k, v);
        }
    }
    let mut out = path.to_owned();
    for (i, (k, v)) in params.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        let _ = write!(out, "{}={}", encode(k), encode(v));
    }
    out
}

/// Percent-encodes a query value or path segment.
pub fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, UNRESERVED_KEPT).to_string()
}

/// Everything but RFC 3986's unreserved characters is encoded.
const UNRESERVED_KEPT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Links to the first, previous, next and last page, the page number in
/// `page_param`, each ending in `fragment` (`#id`, or nothing).
fn page_links(path: &str, q: &Query, p: &Paging, page_param: &str, fragment: &str) -> Links {
    let page = |n: usize| {
        let mut to = link(
            path,
            q,
            &[(
                page_param,
                if n == 1 { String::new() } else { n.to_string() },
            )],
        );
        to.push_str(fragment);
        to
    };
    Links {
        first: (p.page > 1).then(|| page(1)),
        prev: (p.page > 1).then(|| page(p.page - 1)),
        next: (p.page < p.pages).then(|| page(p.page + 1)),
        last: (p.page < p.pages).then(|| page(p.pages)),
        sort: BTreeMap::new(),
        csv: None,
    }
}

fn links(path: &str, q: &Query, p: &Paging, columns: &[&str], sort: &str, desc: bool) -> Links {
    Links {
        sort: columns
            .iter()
            .map(|c| {
                let order = if *c == sort && !desc { "desc" } else { "asc" };
                (
                    (*c).to_owned(),
                    link(
                        path,
                        q,
                        &[
                            ("sort", (*c).to_owned()),
                            ("order", order.to_owned()),
                            ("page", String::new()),
                        ],
                    ),
                )
            })
            .collect(),
        ..page_links(path, q, p, "page", "")
    }
}

fn sort_param(
    q: &Query,
    columns: &[&'static str],
    default: &'static str,
) -> Result<(&'static str, bool), QueryError> {
    let sort = match param(q, "sort") {
        None => default,
        Some(v) => columns
            .iter()
            .copied()
            .find(|c| *c == v)
            .ok_or_else(|| QueryError {
                param: "sort",
                message: format!("`{v}` is not one of {}", columns.join(", ")),
            })?,
    };
    let desc = match param(q, "order") {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(v) => {
            return Err(QueryError {
                param: "order",
                message: format!("`{v}` is not one of asc, desc"),
            });
        }
    };
    Ok((sort, desc))
}

/// The first `end` items of `items` in `cmp` order, the rest unordered: a
/// page of a large listing costs O(n), not O(n log n).
fn sort_prefix<T>(items: &mut [T], end: usize, cmp: impl Fn(&T, &T) -> std::cmp::Ordering) {
    let end = end.min(items.len());
    if end == 0 {
        return;
    }
    if end < items.len() {
        items.select_nth_unstable_by(end - 1, &cmp);
    }
    items[..end].sort_unstable_by(&cmp);
}

/// A choice for a filter's menu.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Opt {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

fn options<'a>(
    values: impl IntoIterator<Item = (&'a str, String)>,
    selected: Option<&str>,
) -> Vec<Opt> {
    values
        .into_iter()
        .map(|(v, label)| Opt {
            value: v.to_owned(),
            label,
            selected: selected == Some(v),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Drift

/// One machine-patch pair that differs from the plan.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PairRow {
    pub machine: String,
    pub hostname: String,
    pub ring: Option<String>,
    /// The patch; `None` for a software rule (then `package` says which).
    pub patch: Option<String>,
    pub package: Option<String>,
    pub severity: &'static str,
    pub state: &'static str,
    pub deadline: Option<Timestamp>,
    pub overdue: bool,
    pub when: Option<Timestamp>,
    pub released: Option<Timestamp>,
    pub age_days: Option<i64>,
    pub reason: String,
}

fn pair_row(v: &View, m: &MachineRow, e: &Entry) -> PairRow {
    let patch = e.patch.and_then(|p| v.patches.get(p as usize));
    let released = patch.and_then(|p| p.released);
    PairRow {
        machine: m.id.clone(),
        hostname: m.hostname.clone(),
        ring: v.ring_key(m.ring).map(str::to_owned),
        patch: patch.map(|p| p.id.clone()),
        package: e.package.as_deref().map(str::to_owned),
        severity: severity_name(e.severity),
        state: e.kind.name(),
        deadline: e.deadline,
        overdue: e.deadline.is_some_and(|d| d <= v.now),
        when: e.when,
        released,
        age_days: released.map(|r| v.now.duration_since(r).as_hours() / 24),
        reason: e.reason.to_string(),
    }
}

/// The drift page's filters, as given.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DriftFilters {
    pub ring: Option<String>,
    pub group: Option<String>,
    pub severity: Option<String>,
    pub state: Option<String>,
    pub age: Option<String>,
    pub q: Option<String>,
    pub sort: &'static str,
    pub order: &'static str,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DriftOptions {
    pub rings: Vec<Opt>,
    pub groups: Vec<Opt>,
    pub severities: Vec<Opt>,
    pub states: Vec<Opt>,
    pub ages: Vec<Opt>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DriftPage {
    pub filters: DriftFilters,
    pub paging: Paging,
    pub rows: Vec<PairRow>,
    pub options: DriftOptions,
    pub links: Links,
}

const DRIFT_COLUMNS: [&str; 7] = [
    "machine", "ring", "patch", "severity", "state", "age", "deadline",
];

/// A list's selected drift entries as (key, entry), sorted: for machines the
/// text search matched (`.0`), and for the others (`.1`).
type KeyedList = (Vec<(u64, u32)>, Vec<(u64, u32)>);

/// How drift pairs are ordered: by a key of the entry (severity, state,
/// age, deadline, patch), then host name; or by the machine (host name,
/// ring), then the machine's entries in plan order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    Entry,
    Machine,
}

/// A drift query, evaluated once per request: which machines and which
/// entries it selects, and how many pairs that makes, counted per shared
/// list and multiplied by its machines, so that a page costs a walk over the
/// machines, not over every machine-patch pair (millions of them for an
/// unpatched fleet of 100,000).
#[derive(Debug)]
pub struct DriftQuery<'v> {
    v: &'v View,
    pub filters: DriftFilters,
    /// Machines in listing order, with whether the text search matched the machine itself.
    machines: Vec<(u32, bool)>,
    /// Per entry: selected by severity, state and age (and a drift kind).
    entry_ok: Vec<bool>,
    /// Per entry: the text search matches its patch or package (true without a search).
    entry_text: Vec<bool>,
    order: Order,
    desc: bool,
    /// With [`Order::Entry`]: per list, its selected drift entries by key, for
    /// machines the search matched (`.0`) and for the others (`.1`).
    keyed: HashMap<u32, KeyedList>,
    /// With [`Order::Entry`]: every key and its number of pairs, in order.
    keys: Vec<(u64, usize)>,
    pub total: usize,
}

impl<'v> DriftQuery<'v> {
    pub fn new(v: &'v View, q: &Query) -> Result<DriftQuery<'v>, QueryError> {
        let ring_names: Vec<&str> = v.rings.iter().map(|r| r.key.as_str()).collect();
        let ring = match param(q, "ring") {
            None => None,
            Some("(none)") => Some(None),
            Some(r) => Some(Some(v.ring_position(r).ok_or_else(|| QueryError {
                param: "ring",
                message: format!(
                    "`{r}` is not a ring of the policy ({})",
                    ring_names.join(", ")
                ),
            })?)),
        };
        let group = match param(q, "group") {
            None => None,
            Some(g) => Some(v.group_position(g).ok_or_else(|| QueryError {
                param: "group",
                message: format!(
                    "`{g}` is not a machine group of the policy ({})",
                    v.groups.join(", ")
                ),
            })?),
        };
        let sev_names: Vec<&str> = SEVERITIES.iter().map(|s| severity_name(*s)).collect();
        let severity = choice(q, "severity", &sev_names, parse_severity)?;
        let state_names: Vec<&str> = Kind::DRIFT.iter().map(|k| k.name()).collect();
        let state = choice(q, "state", &state_names, |s| {
            Kind::parse(s).filter(|k| k.is_drift())
        })?;
        let age = choice(q, "age", &AGE_BUCKETS, |s| {
            AGE_BUCKETS.iter().copied().find(|a| *a == s)
        })?;
        let text = param(q, "q").map(str::to_lowercase);
        let (sort, desc) = sort_param(q, &DRIFT_COLUMNS, "severity")?;
        let filters = DriftFilters {
            ring: param(q, "ring").map(str::to_owned),
            group: param(q, "group").map(str::to_owned),
            severity: severity.map(|s| severity_name(s).to_owned()),
            state: state.map(|s| s.name().to_owned()),
            age: age.map(str::to_owned),
            q: param(q, "q").map(str::to_owned),
            sort,
            order: if desc { "desc" } else { "asc" },
        };

        let patch_hit: Vec<bool> = v
            .patches
            .iter()
            .map(|p| {
                text.as_ref()
                    .is_none_or(|t| p.id.to_lowercase().contains(t.as_str()))
            })
            .collect();
        let patch_age: Vec<&str> = v
            .patches
            .iter()
            .map(|p| age_bucket(p.released, v.now))
            .collect();
        let mut entry_ok = Vec::with_capacity(v.entries.len());
        let mut entry_text = Vec::with_capacity(v.entries.len());
        for e in &v.entries {
            let patch = e.patch.map(|p| p as usize);
            entry_ok.push(
                e.kind.is_drift()
                    && severity.is_none_or(|s| s == e.severity)
                    && state.is_none_or(|s| s == e.kind)
                    && age.is_none_or(|a| patch.map_or("undated", |p| patch_age[p]) == a),
            );
            entry_text.push(match (&text, patch, e.package.as_deref()) {
                (None, _, _) => true,
                (Some(_), Some(p), _) => patch_hit[p],
                (Some(t), None, Some(pkg)) => pkg.to_lowercase().contains(t.as_str()),
                (Some(_), None, None) => false,
            });
        }

        let mut order: Vec<u32> = v.by_hostname.clone();
        let by_machine = matches!(sort, "machine" | "ring");
        if sort == "ring" {
            // Stable: host names stay in order within a ring.
            order.sort_by_key(|&m| v.ring_key(v.machines[m as usize].ring));
        }
        if by_machine && desc {
            order.reverse();
        }
        let machines: Vec<(u32, bool)> = order
            .into_iter()
            .filter_map(|i| {
                let m = &v.machines[i as usize];
                let selected =
                    ring.is_none_or(|r| r == m.ring) && group.is_none_or(|g| m.groups.contains(&g));
                let hit = text.as_ref().is_none_or(|t| {
                    m.hostname.to_lowercase().contains(t.as_str())
                        || m.id.to_lowercase().contains(t.as_str())
                });
                selected.then_some((i, hit))
            })
            .collect();

        let mut query = DriftQuery {
            v,
            filters,
            machines,
            entry_ok,
            entry_text,
            order: if by_machine {
                Order::Machine
            } else {
                Order::Entry
            },
            desc,
            keyed: HashMap::new(),
            keys: Vec::new(),
            total: 0,
        };
        match query.order {
            Order::Machine => {
                query.total = (0..query.machines.len()).map(|k| query.count_of(k)).sum();
            }
            Order::Entry => query.count_by_key(sort),
        }
        Ok(query)
    }

    fn selected(&self, e: u32, machine_hit: bool) -> bool {
        self.entry_ok[e as usize] && (machine_hit || self.entry_text[e as usize])
    }

    /// The selected entries of the `k`th machine of the listing, in plan order.
    fn entries_of(&self, k: usize) -> impl Iterator<Item = u32> + '_ {
        let (m, hit) = self.machines[k];
        let row = &self.v.machines[m as usize];
        let list = &self.v.lists[row.list as usize];
        list.drift
            .iter()
            .copied()
            .chain(row.software.clone())
            .filter(move |&e| self.selected(e, hit))
    }

    fn count_of(&self, k: usize) -> usize {
        self.entries_of(k).count()
    }

    /// The sort key of an entry: smaller first (before `desc`).
    fn key(&self, sort: &str, e: u32) -> u64 {
        let v = self.v;
        let entry = v.entry(e);
        let secs = |t: Option<Timestamp>| {
            t.map_or(u64::from(u32::MAX), |t| {
                u64::try_from(t.as_second())
                    .unwrap_or(0)
                    .min(u64::from(u32::MAX) - 1)
            })
        };
        let patch = entry.patch.and_then(|p| v.patches.get(p as usize));
        match sort {
            "state" => entry.kind as u64,
            "age" => secs(patch.and_then(|p| p.released)),
            "deadline" => secs(entry.deadline),
            // Patch ids in order; software findings after every patch.
            "patch" => entry
                .patch
                .map_or(u64::MAX, |p| u64::from(v.patch_rank[p as usize])),
            _ => ((entry.severity as u64) << 33) | secs(entry.deadline),
        }
    }

    /// Counts the pairs of every key: per shared list and whether the search
    /// matched the machine, times the machines that use it that way.
    fn count_by_key(&mut self, sort: &str) {
        let mut uses: HashMap<(u32, bool), usize> = HashMap::new();
        let mut counts: HashMap<u64, usize> = HashMap::new();
        for &(m, hit) in &self.machines {
            let row = &self.v.machines[m as usize];
            *uses.entry((row.list, hit)).or_default() += 1;
            for e in row.software.clone() {
                if self.selected(e, hit) {
                    *counts.entry(self.key(sort, e)).or_default() += 1;
                }
            }
        }
        let mut keyed: HashMap<u32, KeyedList> = HashMap::new();
        for (&(list, hit), &n) in &uses {
            let slot = keyed.entry(list).or_default();
            let mut entries: Vec<(u64, u32)> = self.v.lists[list as usize]
                .drift
                .iter()
                .filter(|&&e| self.selected(e, hit))
                .map(|&e| (self.key(sort, e), e))
                .collect();
            entries.sort_unstable();
            for (k, _) in &entries {
                *counts.entry(*k).or_default() += n;
            }
            if hit {
                slot.0 = entries;
            } else {
                slot.1 = entries;
            }
        }
        let mut keys: Vec<(u64, usize)> = counts.into_iter().collect();
        keys.sort_unstable();
        if self.desc {
            keys.reverse();
        }
        self.total = keys.iter().map(|(_, n)| n).sum();
        self.keys = keys;
        self.keyed = keyed;
    }

    /// The selected pairs of machine `k` (listing position) whose entry has `key`.
    fn keyed_pairs(
        &self,
        k: usize,
        key: u64,
        sort: &str,
        out: &mut impl FnMut(u32, u32) -> bool,
    ) -> bool {
        let (m, hit) = self.machines[k];
        let row = &self.v.machines[m as usize];
        if let Some((matched, other)) = self.keyed.get(&row.list) {
            let list = if hit { matched } else { other };
            let from = list.partition_point(|(x, _)| *x < key);
            for &(x, e) in &list[from..] {
                if x != key {
                    break;
                }
                if !out(m, e) {
                    return false;
                }
            }
        }
        for e in row.software.clone() {
            if self.selected(e, hit) && self.key(sort, e) == key && !out(m, e) {
                return false;
            }
        }
        true
    }

    /// `limit` pairs from position `offset` of the query's order.
    pub fn pairs(&self, offset: usize, limit: usize) -> Vec<(u32, u32)> {
        let mut out = Vec::with_capacity(limit.min(self.total));
        if limit == 0 || offset >= self.total {
            return out;
        }
        match self.order {
            Order::Machine => {
                let mut skip = offset;
                for k in 0..self.machines.len() {
                    // Whole machines before the page are skipped by count.
                    let n = self.count_of(k);
                    if skip >= n {
                        skip -= n;
                        continue;
                    }
                    let m = self.machines[k].0;
                    for e in self.entries_of(k).skip(skip) {
                        out.push((m, e));
                        if out.len() == limit {
                            return out;
                        }
                    }
                    skip = 0;
                }
            }
            Order::Entry => {
                // Whole keys before the page are skipped by count.
                let mut first = 0;
                let mut skip = offset;
                while first < self.keys.len() && self.keys[first].1 <= skip {
                    skip -= self.keys[first].1;
                    first += 1;
                }
                let sort = self.filters.sort;
                let mut emit = |m: u32, e: u32| {
                    if skip > 0 {
                        skip -= 1;
                        true
                    } else {
                        out.push((m, e));
                        out.len() < limit
                    }
                };
                'keys: for &(key, _) in &self.keys[first..] {
                    for k in 0..self.machines.len() {
                        if !self.keyed_pairs(k, key, sort, &mut emit) {
                            break 'keys;
                        }
                    }
                }
            }
        }
        out
    }
}

pub fn drift(v: &View, q: &Query) -> Result<DriftPage, QueryError> {
    let (page, per) = paging(q, 100)?;
    let query = DriftQuery::new(v, q)?;
    let paging = finish_paging(page, per, query.total)?;
    let shown: Vec<PairRow> = query
        .pairs((page - 1) * per, per)
        .into_iter()
        .map(|(mi, ei)| pair_row(v, &v.machines[mi as usize], v.entry(ei)))
        .collect();
    let filters = query.filters;
    let mut links = links(
        "/drift",
        q,
        &paging,
        &DRIFT_COLUMNS,
        filters.sort,
        filters.order == "desc",
    );
    links.csv = Some(link(
        "/drift.csv",
        q,
        &[("page", String::new()), ("per", String::new())],
    ));
    let options = DriftOptions {
        rings: options(
            v.rings
                .iter()
                .map(|r| (r.key.as_str(), r.key.clone()))
                .chain([("(none)", "(no rollout)".to_owned())]),
            filters.ring.as_deref(),
        ),
        groups: options(
            v.groups.iter().map(|g| (g.as_str(), g.clone())),
            filters.group.as_deref(),
        ),
        severities: options(
            SEVERITIES
                .iter()
                .map(|s| (severity_name(*s), severity_name(*s).to_owned())),
            filters.severity.as_deref(),
        ),
        states: options(
            Kind::DRIFT
                .iter()
                .map(|k| (k.name(), k.name().replace('-', " "))),
            filters.state.as_deref(),
        ),
        ages: options(
            AGE_BUCKETS.iter().map(|a| (*a, (*a).to_owned())),
            filters.age.as_deref(),
        ),
    };
    Ok(DriftPage {
        filters,
        paging,
        rows: shown,
        options,
        links,
    })
}

/// Pairs as rows (for CSV), in the order given.
pub fn drift_rows<'v>(v: &'v View, rows: &'v [(u32, u32)]) -> impl Iterator<Item = PairRow> + 'v {
    rows.iter()
        .map(move |&(mi, ei)| pair_row(v, &v.machines[mi as usize], v.entry(ei)))
}

pub const PAIR_CSV_HEADER: [&str; 12] = [
    "machine",
    "hostname",
    "ring",
    "patch",
    "package",
    "severity",
    "state",
    "deadline",
    "overdue",
    "scheduled",
    "released",
    "reason",
];

pub fn pair_csv_record(r: &PairRow) -> [String; 12] {
    let t = |t: Option<Timestamp>| t.map(|t| t.to_string()).unwrap_or_default();
    [
        r.machine.clone(),
        r.hostname.clone(),
        r.ring.clone().unwrap_or_default(),
        r.patch.clone().unwrap_or_default(),
        r.package.clone().unwrap_or_default(),
        r.severity.to_owned(),
        r.state.to_owned(),
        t(r.deadline),
        r.overdue.to_string(),
        t(r.when),
        t(r.released),
        r.reason.clone(),
    ]
}

// ---------------------------------------------------------------------------------------------
// Machines

/// A machine in a listing.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MachineSummary {
    pub id: String,
    pub hostname: String,
    pub os: String,
    pub ring: Option<String>,
    pub groups: Vec<String>,
    pub standing: &'static str,
    pub compliant: bool,
    pub stale: bool,
    pub reboot_required: bool,
    pub drift: u32,
    pub overdue: u32,
    pub last_check_in: Option<Timestamp>,
    pub projected: Option<Timestamp>,
}

fn machine_summary(v: &View, m: &MachineRow) -> MachineSummary {
    MachineSummary {
        id: m.id.clone(),
        hostname: m.hostname.clone(),
        os: m.os.clone(),
        ring: v.ring_key(m.ring).map(str::to_owned),
        groups: m
            .groups
            .iter()
            .filter_map(|g| v.groups.get(usize::from(*g)).cloned())
            .collect(),
        standing: m.standing.name(),
        compliant: m.compliant,
        stale: m.stale,
        reboot_required: m.reboot_required,
        drift: m.drift,
        overdue: m.overdue,
        last_check_in: m.last_check_in,
        projected: m.projected,
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MachinesPage {
    pub filters: BTreeMap<&'static str, String>,
    pub paging: Paging,
    pub rows: Vec<MachineSummary>,
    pub options: DriftOptions,
    pub standings: Vec<Opt>,
    pub links: Links,
}

const MACHINE_COLUMNS: [&str; 6] = [
    "hostname", "ring", "standing", "drift", "overdue", "checkin",
];

pub fn machines(v: &View, q: &Query) -> Result<MachinesPage, QueryError> {
    let ring = match param(q, "ring") {
        None => None,
        Some("(none)") => Some(None),
        Some(r) => Some(Some(v.ring_position(r).ok_or_else(|| QueryError {
            param: "ring",
            message: format!("`{r}` is not a ring of the policy"),
        })?)),
    };
    let group = match param(q, "group") {
        None => None,
        Some(g) => Some(v.group_position(g).ok_or_else(|| QueryError {
            param: "group",
            message: format!("`{g}` is not a machine group of the policy"),
        })?),
    };
    let standing_names: Vec<&str> = Standing::ALL.iter().map(|s| s.name()).collect();
    let standing = choice(q, "standing", &standing_names, Standing::parse)?;
    let stale = choice(q, "stale", &["yes", "no"], |s| match s {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    })?;
    let text = param(q, "q").map(str::to_lowercase);
    let (sort, desc) = sort_param(q, &MACHINE_COLUMNS, "hostname")?;
    let (page, per) = paging(q, 100)?;
    let mut rows: Vec<u32> = (0..u32::try_from(v.machines.len()).unwrap_or(u32::MAX))
        .filter(|&i| {
            let m = &v.machines[i as usize];
            ring.is_none_or(|r| r == m.ring)
                && group.is_none_or(|g| m.groups.contains(&g))
                && standing.is_none_or(|s| s == m.standing)
                && stale.is_none_or(|s| s == m.stale)
                && text.as_ref().is_none_or(|t| {
                    m.hostname.to_lowercase().contains(t.as_str())
                        || m.id.to_lowercase().contains(t.as_str())
                })
        })
        .collect();
    let cmp = |a: &u32, b: &u32| {
        let (x, y) = (&v.machines[*a as usize], &v.machines[*b as usize]);
        let primary = match sort {
            "ring" => v.ring_key(x.ring).cmp(&v.ring_key(y.ring)),
            "standing" => y.standing.cmp(&x.standing),
            "drift" => y.drift.cmp(&x.drift),
            "overdue" => y.overdue.cmp(&x.overdue),
            "checkin" => x.last_check_in.cmp(&y.last_check_in),
            _ => x.hostname.cmp(&y.hostname),
        };
        let primary = if desc { primary.reverse() } else { primary };
        primary
            .then_with(|| x.hostname.cmp(&y.hostname))
            .then(a.cmp(b))
    };
    sort_prefix(&mut rows, page.saturating_mul(per), cmp);
    let paging = finish_paging(page, per, rows.len())?;
    let shown = rows
        .iter()
        .skip((page - 1) * per)
        .take(per)
        .map(|&i| machine_summary(v, &v.machines[i as usize]))
        .collect();
    let mut filters = BTreeMap::new();
    for k in ["ring", "group", "standing", "stale", "q"] {
        if let Some(x) = param(q, k) {
            filters.insert(k, x.to_owned());
        }
    }
    let mut links = links("/machines", q, &paging, &MACHINE_COLUMNS, sort, desc);
    links.csv = Some(link(
        "/machines.csv",
        q,
        &[("page", String::new()), ("per", String::new())],
    ));
    Ok(MachinesPage {
        paging,
        rows: shown,
        options: DriftOptions {
            rings: options(
                v.rings
                    .iter()
                    .map(|r| (r.key.as_str(), r.key.clone()))
                    .chain([("(none)", "(no rollout)".to_owned())]),
                filters.get("ring").map(String::as_str),
            ),
            groups: options(
                v.groups.iter().map(|g| (g.as_str(), g.clone())),
                filters.get("group").map(String::as_str),
            ),
            severities: Vec::new(),
            states: Vec::new(),
            ages: Vec::new(),
        },
        standings: options(
            Standing::ALL
                .iter()
                .map(|s| (s.name(), s.name().replace('-', " "))),
            filters.get("standing").map(String::as_str),
        ),
        filters,
        links,
    })
}

/// One machine, whole.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MachinePage {
    pub machine: MachineSummary,
    pub platform: String,
    pub kernel: Option<String>,
    pub time_zone: Option<String>,
    pub site: Option<String>,
    pub ou: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub release: Option<String>,
    pub enrolled_at: Option<Timestamp>,
    pub inventory: String,
    pub packages: usize,
    /// Every patch that applies and is not simply installed, and every software finding.
    pub plan: Vec<PairRow>,
}

pub fn machine(v: &View, id: &str) -> Option<MachinePage> {
    let m = v.machine(id)?;
    let mut plan: Vec<(u32, PairRow)> = m
        .entry_ids()
        .map(|e| (e, pair_row(v, m, v.entry(e))))
        .collect();
    plan.sort_by(|a, b| {
        let (x, y) = (v.entry(a.0), v.entry(b.0));
        (!x.kind.is_drift(), x.kind, x.severity, &a.1.patch).cmp(&(
            !y.kind.is_drift(),
            y.kind,
            y.severity,
            &b.1.patch,
        ))
    });
    Some(MachinePage {
        machine: machine_summary(v, m),
        platform: m.platform.clone(),
        kernel: m.kernel.clone(),
        time_zone: m.time_zone.clone(),
        site: m.site.clone(),
        ou: m.ou.clone(),
        labels: m.labels.clone(),
        release: m.release.clone(),
        enrolled_at: m.enrolled_at,
        inventory: m.inventory.clone(),
        packages: m.packages,
        plan: plan.into_iter().map(|(_, r)| r).collect(),
    })
}

// ---------------------------------------------------------------------------------------------
// Patches

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PatchSummary {
    pub id: String,
    pub title: Option<String>,
    pub severity: &'static str,
    pub released: Option<Timestamp>,
    pub cves: usize,
    pub known_exploited: bool,
    pub max_cvss: Option<f64>,
    pub installed: usize,
    /// Machines that still need it (scheduled, held or failed).
    pub needed: usize,
    pub failed: usize,
    pub counts: BTreeMap<&'static str, usize>,
}

fn patch_summary(p: &super::view::PatchRow) -> PatchSummary {
    let n = |k: Kind| p.counts.get(&k).copied().unwrap_or(0);
    PatchSummary {
        id: p.id.clone(),
        title: p.title.clone(),
        severity: severity_name(p.severity),
        released: p.released,
        cves: p.cves.len(),
        known_exploited: p.known_exploited,
        max_cvss: p.max_cvss,
        installed: n(Kind::Installed),
        needed: n(Kind::Scheduled) + n(Kind::Held) + n(Kind::Failed),
        failed: n(Kind::Failed),
        counts: p.counts.iter().map(|(k, n)| (k.name(), *n)).collect(),
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PatchesPage {
    pub filters: BTreeMap<&'static str, String>,
    pub paging: Paging,
    pub rows: Vec<PatchSummary>,
    pub severities: Vec<Opt>,
    pub links: Links,
}

const PATCH_COLUMNS: [&str; 5] = ["patch", "severity", "released", "needed", "installed"];

pub fn patches(v: &View, q: &Query) -> Result<PatchesPage, QueryError> {
    let sev_names: Vec<&str> = SEVERITIES.iter().map(|s| severity_name(*s)).collect();
    let severity = choice(q, "severity", &sev_names, parse_severity)?;
    let needed = choice(q, "needed", &["yes", "no"], |s| match s {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    })?;
    let text = param(q, "q").map(str::to_lowercase);
    let (sort, desc) = sort_param(q, &PATCH_COLUMNS, "severity")?;
    let (page, per) = paging(q, 100)?;
    let mut rows: Vec<PatchSummary> = v
        .patches
        .iter()
        .filter(|p| {
            severity.is_none_or(|s| s == p.severity)
                && text.as_ref().is_none_or(|t| {
                    p.id.to_lowercase().contains(t.as_str())
                        || p.title
                            .as_deref()
                            .is_some_and(|x| x.to_lowercase().contains(t.as_str()))
                        || p.cves.iter().any(|c| c.to_lowercase().contains(t.as_str()))
                })
        })
        .map(patch_summary)
        .filter(|p| needed.is_none_or(|n| n == (p.needed > 0)))
        .collect();
    rows.sort_by(|a, b| {
        let primary = match sort {
            "patch" => a.id.cmp(&b.id),
            "released" => a.released.cmp(&b.released),
            "needed" => b.needed.cmp(&a.needed),
            "installed" => b.installed.cmp(&a.installed),
            _ => a
                .severity_rank()
                .cmp(&b.severity_rank())
                .then(b.needed.cmp(&a.needed)),
        };
        let primary = if desc { primary.reverse() } else { primary };
        primary.then_with(|| a.id.cmp(&b.id))
    });
    let paging = finish_paging(page, per, rows.len())?;
    let rows = rows.into_iter().skip((page - 1) * per).take(per).collect();
    let mut filters = BTreeMap::new();
    for k in ["severity", "needed", "q"] {
        if let Some(x) = param(q, k) {
            filters.insert(k, x.to_owned());
        }
    }
    Ok(PatchesPage {
        severities: options(
            SEVERITIES
                .iter()
                .map(|s| (severity_name(*s), severity_name(*s).to_owned())),
            filters.get("severity").map(String::as_str),
        ),
        links: links("/patches", q, &paging, &PATCH_COLUMNS, sort, desc),
        filters,
        paging,
        rows,
    })
}

impl PatchSummary {
    fn severity_rank(&self) -> usize {
        SEVERITIES
            .iter()
            .position(|s| severity_name(*s) == self.severity)
            .unwrap_or(SEVERITIES.len())
    }
}

/// A patch across the rings.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PatchRing {
    pub ring: String,
    pub counts: BTreeMap<&'static str, usize>,
    /// Why the ring is not on its rollout's newest release, if it is not.
    pub gate: Option<String>,
    pub halted: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PatchFileStatus {
    #[serde(flatten)]
    pub file: super::view::FileRow,
    /// Whether the staging store holds it; `None`: staging is off.
    pub staged: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PatchPage {
    pub patch: PatchSummary,
    pub vendor: String,
    pub product: String,
    pub classification: String,
    pub cves: Vec<String>,
    pub fixes: Vec<String>,
    pub advisories: Vec<String>,
    pub superseded_by: Vec<String>,
    pub files: Vec<PatchFileStatus>,
    pub rings: Vec<PatchRing>,
    /// Machines with the patch in `state` (the query's, or every state but installed).
    pub state: Option<String>,
    pub machines: Vec<PairRow>,
    pub paging: Paging,
    pub states: Vec<Opt>,
    pub links: Links,
}

pub fn patch(
    v: &View,
    id: &str,
    q: &Query,
    staged: &dyn Fn(&str) -> Option<bool>,
) -> Result<Option<PatchPage>, QueryError> {
    let Some(&k) = v.patch_ids.get(id) else {
        return Ok(None);
    };
    let p = &v.patches[k as usize];
    let listed: Vec<Kind> = Kind::ALL
        .into_iter()
        .filter(|k| {
            *k != Kind::Installed && !matches!(k, Kind::RemoveSoftware | Kind::InstallSoftware)
        })
        .collect();
    let names: Vec<&str> = listed.iter().map(|k| k.name()).collect();
    let state = choice(q, "state", &names, |s| {
        Kind::parse(s).filter(|k| listed.contains(k))
    })?;
    let (page, per) = paging(q, 100)?;
    // The patch's entries in each shared list, then the machines in host
    // name order: a walk over the machines, not over every pair.
    let mut in_list: HashMap<u32, Vec<u32>> = HashMap::new();
    for (l, list) in v.lists.iter().enumerate() {
        let found: Vec<u32> = list
            .entries
            .clone()
            .filter(|&e| {
                let entry = v.entry(e);
                entry.patch == Some(k) && state.is_none_or(|s| s == entry.kind)
            })
            .collect();
        if !found.is_empty() {
            in_list.insert(u32::try_from(l).unwrap_or(u32::MAX), found);
        }
    }
    let total: usize = v
        .lists
        .iter()
        .enumerate()
        .filter_map(|(l, list)| {
            let n = in_list.get(&u32::try_from(l).ok()?)?.len();
            Some(n * list.machines as usize)
        })
        .sum();
    let paging = finish_paging(page, per, total)?;
    let mut skip = (page - 1) * per;
    let mut machines = Vec::with_capacity(per);
    'walk: for &mi in &v.by_hostname {
        let m = &v.machines[mi as usize];
        let Some(entries) = in_list.get(&m.list) else {
            continue;
        };
        if skip >= entries.len() {
            skip -= entries.len();
            continue;
        }
        for &e in &entries[skip..] {
            machines.push(pair_row(v, m, v.entry(e)));
            if machines.len() == per {
                break 'walk;
            }
        }
        skip = 0;
    }
    let rings = p
        .by_ring
        .iter()
        .map(|(ring, counts)| {
            let row: Option<&RingRow> = ring.and_then(|r| v.rings.get(usize::from(r)));
            PatchRing {
                ring: row.map_or_else(|| "(no rollout)".to_owned(), |r| r.key.clone()),
                counts: counts.iter().map(|(k, n)| (k.name(), *n)).collect(),
                gate: row.and_then(|r| r.next.clone()),
                halted: row.is_some_and(|r| r.halted),
            }
        })
        .collect();
    let path = format!("/patches/{}", encode_path(id));
    Ok(Some(PatchPage {
        patch: patch_summary(p),
        vendor: p.vendor.clone(),
        product: p.product.clone(),
        classification: p.classification.clone(),
        cves: p.cves.clone(),
        fixes: p.fixes.clone(),
        advisories: p.advisories.clone(),
        superseded_by: p.superseded_by.clone(),
        files: p
            .files
            .iter()
            .map(|f| PatchFileStatus {
                staged: f.sha256.as_deref().and_then(staged),
                file: f.clone(),
            })
            .collect(),
        rings,
        state: state.map(|s| s.name().to_owned()),
        machines,
        states: options(
            listed
                .iter()
                .map(|k| (k.name(), k.name().replace('-', " "))),
            state.map(|s| s.name()),
        ),
        links: links(&path, q, &paging, &[], "", false),
        paging,
    }))
}

/// A patch id as a URL path (its `/` kept as the separator it is in the route).
pub fn encode_path(id: &str) -> String {
    id.split('/').map(encode).collect::<Vec<_>>().join("/")
}

// ---------------------------------------------------------------------------------------------
// Overview, rollouts, exclusions, reports

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutView {
    #[serde(flatten)]
    pub rollout: super::view::RolloutRow,
    pub ring_rows: Vec<RingRow>,
}

pub fn rollouts(v: &View) -> Vec<RolloutView> {
    v.rollouts
        .iter()
        .map(|r| RolloutView {
            rollout: r.clone(),
            ring_rows: r
                .rings
                .iter()
                .filter_map(|k| v.rings.get(usize::from(*k)).cloned())
                .collect(),
        })
        .collect()
}

/// Exclusions, soonest to expire first (those without an end last).
pub fn exclusions(v: &View) -> Vec<super::view::ExclusionRow> {
    let mut list = v.exclusions.clone();
    list.sort_by(|a, b| {
        (a.until.is_none(), a.until, &a.name).cmp(&(b.until.is_none(), b.until, &b.name))
    });
    list
}

/// A line of a compliance table.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TallyRow {
    pub name: String,
    pub total: usize,
    pub compliant: usize,
    pub percent: f64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MissingRow {
    pub name: String,
    pub missing: usize,
    pub overdue: usize,
}

/// A patch past its deadline on some machines.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PastDeadline {
    pub patch: String,
    pub severity: &'static str,
    pub machines: usize,
    pub earliest_deadline: Timestamp,
}

/// A machine with software a policy forbids.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Prohibited {
    pub machine: String,
    pub hostname: String,
    pub package: String,
    pub reason: String,
}

/// One stored compliance snapshot, for the trend.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrendPoint {
    pub at: Timestamp,
    pub machines: usize,
    pub compliant: usize,
    pub drifting: usize,
    pub overdue: usize,
    pub drift_pairs: usize,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reports {
    pub by_group: Vec<TallyRow>,
    pub by_ring: Vec<TallyRow>,
    pub by_severity: Vec<MissingRow>,
    pub by_age: Vec<MissingRow>,
    pub remediation: Vec<RemediationRow>,
    pub past_deadline: Vec<PastDeadline>,
    pub prohibited: Vec<Prohibited>,
    pub trend: Vec<TrendPoint>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemediationRow {
    pub severity: &'static str,
    pub installs: usize,
    pub mean_hours: f64,
}

fn tally_rows(map: &BTreeMap<String, fixpoint_core::plan::Tally>) -> Vec<TallyRow> {
    map.iter()
        .map(|(name, t)| TallyRow {
            name: name.clone(),
            total: t.total,
            compliant: t.compliant,
            percent: percent(t.compliant, t.total),
        })
        .collect()
}

pub fn percent(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        100.0
    } else {
        (part as f64 * 1000.0 / whole as f64).floor() / 10.0
    }
}

/// Missing approved patches by severity, from the plan's compliance.
pub fn by_severity(v: &View) -> Vec<MissingRow> {
    v.compliance
        .by_severity
        .iter()
        .map(|(s, m)| MissingRow {
            name: severity_name(*s).to_owned(),
            missing: m.missing,
            overdue: m.overdue,
        })
        .collect()
}

pub fn reports(v: &View, trend: Vec<TrendPoint>) -> Reports {
    // Past their deadline: per shared list, times its machines.
    let mut past: BTreeMap<u32, (usize, Timestamp)> = BTreeMap::new();
    for list in &v.lists {
        for &e in &list.drift {
            let e = v.entry(e);
            if let (Some(p), Some(d)) = (e.patch, e.deadline)
                && d <= v.now
            {
                let slot = past.entry(p).or_insert((0, d));
                slot.0 += list.machines as usize;
                slot.1 = slot.1.min(d);
            }
        }
    }
    // Prohibited software is each machine's own.
    let mut prohibited = Vec::new();
    for &mi in &v.by_hostname {
        let m = &v.machines[mi as usize];
        for e in m.software.clone() {
            let e = v.entry(e);
            if e.kind == Kind::RemoveSoftware {
                prohibited.push(Prohibited {
                    machine: m.id.clone(),
                    hostname: m.hostname.clone(),
                    package: e.package.as_deref().unwrap_or_default().to_owned(),
                    reason: e.reason.to_string(),
                });
            }
        }
    }
    let mut past_deadline: Vec<PastDeadline> = past
        .into_iter()
        .filter_map(|(p, (machines, d))| {
            let row = v.patches.get(p as usize)?;
            Some(PastDeadline {
                patch: row.id.clone(),
                severity: severity_name(row.severity),
                machines,
                earliest_deadline: d,
            })
        })
        .collect();
    past_deadline
        .sort_by(|a, b| (a.earliest_deadline, &a.patch).cmp(&(b.earliest_deadline, &b.patch)));
    Reports {
        by_group: tally_rows(&v.compliance.by_group),
        by_ring: tally_rows(&v.compliance.by_ring),
        by_severity: by_severity(v),
        by_age: AGE_BUCKETS
            .iter()
            .filter_map(|a| {
                v.compliance.by_age.get(a).map(|m| MissingRow {
                    name: (*a).to_owned(),
                    missing: m.missing,
                    overdue: m.overdue,
                })
            })
            .collect(),
        remediation: v
            .remediation
            .iter()
            .map(|r| RemediationRow {
                severity: severity_name(r.severity),
                installs: r.installs,
                mean_hours: (r.mean_hours * 10.0).round() / 10.0,
            })
            .collect(),
        past_deadline,
        prohibited,
        trend,
    }
}

/// The names of the reports that download as CSV.
pub const REPORTS: [&str; 8] = [
    "compliance-by-group",
    "compliance-by-ring",
    "compliance-by-severity",
    "compliance-by-age",
    "remediation",
    "past-deadline",
    "prohibited-software",
    "trend",
];

/// A compliance table as CSV rows, header first.
fn tally_csv(rows: &[TallyRow], first: &str) -> Vec<Vec<String>> {
    std::iter::once(vec![
        first.to_owned(),
        "machines".into(),
        "compliant".into(),
        "percent".into(),
    ])
    .chain(rows.iter().map(|t| {
        vec![
            t.name.clone(),
            t.total.to_string(),
            t.compliant.to_string(),
            t.percent.to_string(),
        ]
    }))
    .collect()
}

/// One report as CSV rows (header first); `None` for an unknown name.
pub fn report_csv(r: &Reports, name: &str) -> Option<Vec<Vec<String>>> {
    let tally = tally_csv;
    let missing = |rows: &[MissingRow], first: &str| {
        std::iter::once(vec![first.to_owned(), "missing".into(), "overdue".into()])
            .chain(
                rows.iter()
                    .map(|m| vec![m.name.clone(), m.missing.to_string(), m.overdue.to_string()]),
            )
            .collect()
    };
    Some(match name {
        "compliance-by-group" => tally(&r.by_group, "group"),
        "compliance-by-ring" => tally(&r.by_ring, "ring"),
        "compliance-by-severity" => missing(&r.by_severity, "severity"),
        "compliance-by-age" => missing(&r.by_age, "age"),
        "remediation" => std::iter::once(vec![
            "severity".into(),
            "installs".into(),
            "mean_hours".into(),
        ])
        .chain(r.remediation.iter().map(|x| {
            vec![
                x.severity.to_owned(),
                x.installs.to_string(),
                x.mean_hours.to_string(),
            ]
        }))
        .collect(),
        "past-deadline" => std::iter::once(vec![
            "patch".into(),
            "severity".into(),
            "machines".into(),
            "earliest_deadline".into(),
        ])
        .chain(r.past_deadline.iter().map(|x| {
            vec![
                x.patch.clone(),
                x.severity.to_owned(),
                x.machines.to_string(),
                x.earliest_deadline.to_string(),
            ]
        }))
        .collect(),
        "prohibited-software" => std::iter::once(vec![
            "machine".into(),
            "hostname".into(),
            "package".into(),
            "reason".into(),
        ])
        .chain(r.prohibited.iter().map(|x| {
            vec![
                x.machine.clone(),
                x.hostname.clone(),
                x.package.clone(),
                x.reason.clone(),
            ]
        }))
        .collect(),
        "trend" => std::iter::once(vec![
            "at".into(),
            "machines".into(),
            "compliant".into(),
            "drifting".into(),
            "overdue".into(),
            "drift_pairs".into(),
        ])
        .chain(r.trend.iter().map(|x| {
            vec![
                x.at.to_string(),
                x.machines.to_string(),
                x.compliant.to_string(),
                x.drifting.to_string(),
                x.overdue.to_string(),
                x.drift_pairs.to_string(),
            ]
        }))
        .collect(),
        _ => return None,
    })
}

/// The figures a trend snapshot stores.
pub fn trend_point(v: &View) -> TrendPoint {
    TrendPoint {
        at: v.now,
        machines: v.totals.machines,
        compliant: v.totals.compliant,
        drifting: v.totals.drifting,
        overdue: v.totals.overdue,
        drift_pairs: v.totals.drift_pairs,
    }
}

// ---------------------------------------------------------------------------------------------
// Directory

/// A directory source as the page shows it: the configured source and its
/// stored sync state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectorySourceRow {
    pub name: String,
    /// The URL and base DN it read last; `None`: never attempted.
    pub location: Option<String>,
    pub last_attempt_at: Option<Timestamp>,
    pub last_success_at: Option<Timestamp>,
    /// The last attempt's error; `None` when the last attempt succeeded.
    pub last_error: Option<String>,
    /// Computers its last successful sync stored.
    pub computers: u64,
}

/// A machine with no directory object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WithoutObjectRow {
    pub machine: String,
    pub hostname: String,
    pub last_check_in: Option<Timestamp>,
}

/// A machine that checks in although its computer is disabled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DisabledRow {
    pub machine: String,
    pub hostname: String,
    pub last_check_in: Option<Timestamp>,
    /// The disabled computer's distinguished name.
    pub dn: String,
}

/// One page of one of the directory page's listings.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Listing<T> {
    pub paging: Paging,
    pub links: Links,
    pub rows: Vec<T>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryPage {
    /// Whether the plan had directory computers (some source is configured and synced).
    pub configured: bool,
    /// The sources the policy's `Settings` configure, in its order.
    pub sources: Vec<DirectorySourceRow>,
    pub computers: usize,
    /// Machines matched to a computer.
    pub matched: usize,
    /// Computers no enrolled machine matches.
    pub unmanaged: Listing<super::view::UnmanagedComputer>,
    /// Machines that match no computer.
    pub without_object: Listing<WithoutObjectRow>,
    /// Machines with a directory OU, and how many are compliant, by OU.
    pub by_ou: Listing<TallyRow>,
    /// Matched machines, not stale, whose computer is disabled.
    pub disabled_checking_in: Listing<DisabledRow>,
}

/// The directory page's listings: (page parameter, section id, CSV report).
const DIRECTORY_LISTINGS: [(&str, &str, &str); 4] = [
    ("unmanaged_page", "unmanaged", "directory-unmanaged"),
    (
        "without_object_page",
        "without-object",
        "directory-without-object",
    ),
    ("ou_page", "by-ou", "compliance-by-ou"),
    (
        "disabled_page",
        "disabled-checking-in",
        "directory-disabled-checking-in",
    ),
];

/// The reports of the directory page that download as CSV.
pub const DIRECTORY_REPORTS: [&str; 4] = [
    DIRECTORY_LISTINGS[0].2,
    DIRECTORY_LISTINGS[1].2,
    DIRECTORY_LISTINGS[2].2,
    DIRECTORY_LISTINGS[3].2,
];

/// One page of `rows`, the `k`th listing of [`DIRECTORY_LISTINGS`].
fn directory_listing<T, R>(
    q: &Query,
    k: usize,
    rows: &[T],
    row: impl Fn(&T) -> R,
) -> Result<Listing<R>, QueryError> {
    let (page_param, id, report) = DIRECTORY_LISTINGS[k];
    let (page, per) = paging_of(q, page_param, 100)?;
    let paging = finish_paging_of(page_param, page, per, rows.len())?;
    let mut links = page_links("/directory", q, &paging, page_param, &format!("#{id}"));
    links.csv = Some(format!("/reports/{report}.csv"));
    Ok(Listing {
        rows: rows
            .iter()
            .skip((page - 1) * per)
            .take(per)
            .map(row)
            .collect(),
        paging,
        links,
    })
}

fn without_object_row(m: &MachineRow) -> WithoutObjectRow {
    WithoutObjectRow {
        machine: m.id.clone(),
        hostname: m.hostname.clone(),
        last_check_in: m.last_check_in,
    }
}

fn disabled_row(v: &View, d: &super::view::DisabledCheckingIn) -> DisabledRow {
    let m = &v.machines[d.machine as usize];
    DisabledRow {
        machine: m.id.clone(),
        hostname: m.hostname.clone(),
        last_check_in: m.last_check_in,
        dn: d.dn.clone(),
    }
}

/// The directory page: the sources `configured` in the policy with their
/// stored sync state (`stored`, of every source that ever synced), and one
/// page of each of the view's directory listings; each listing pages with its
/// own parameter (`unmanaged_page`, …) and `per`.
pub fn directory(
    v: &View,
    configured: &[String],
    stored: Vec<crate::store::DirectorySourceState>,
    q: &Query,
) -> Result<DirectoryPage, QueryError> {
    let mut stored: HashMap<String, crate::store::DirectorySourceState> =
        stored.into_iter().map(|s| (s.name.clone(), s)).collect();
    let sources = configured
        .iter()
        .map(|name| match stored.remove(name) {
            Some(s) => DirectorySourceRow {
                name: s.name,
                location: Some(s.location),
                last_attempt_at: s.last_attempt_at,
                last_success_at: s.last_success_at,
                last_error: s.last_error,
                computers: u64::try_from(s.computers).unwrap_or(0),
            },
            None => DirectorySourceRow {
                name: name.clone(),
                location: None,
                last_attempt_at: None,
                last_success_at: None,
                last_error: None,
                computers: 0,
            },
        })
        .collect();
    let d = &v.directory;
    let by_ou = tally_rows(&d.by_ou);
    Ok(DirectoryPage {
        configured: d.configured,
        sources,
        computers: d.computers,
        matched: d.matched,
        unmanaged: directory_listing(q, 0, &d.unmanaged, Clone::clone)?,
        without_object: directory_listing(q, 1, &d.without_object, |&i| {
            without_object_row(&v.machines[i as usize])
        })?,
        by_ou: directory_listing(q, 2, &by_ou, Clone::clone)?,
        disabled_checking_in: directory_listing(q, 3, &d.disabled_checking_in, |x| {
            disabled_row(v, x)
        })?,
    })
}

/// One of [`DIRECTORY_REPORTS`] as CSV rows, every row (header first); `None`
/// for another name.
pub fn directory_csv(v: &View, name: &str) -> Option<Vec<Vec<String>>> {
    let t = |t: Option<Timestamp>| t.map(|t| t.to_string()).unwrap_or_default();
    let header = |names: &[&str]| names.iter().map(|&n| n.to_owned()).collect::<Vec<_>>();
    let d = &v.directory;
    Some(match name {
        "directory-unmanaged" => std::iter::once(header(&[
            "name",
            "dns_host_name",
            "ou",
            "os",
            "os_version",
            "last_logon",
            "disabled",
            "dn",
        ]))
        .chain(d.unmanaged.iter().map(|c| {
            vec![
                c.name.clone(),
                c.dns_host_name.clone().unwrap_or_default(),
                c.ou.clone(),
                c.os.clone().unwrap_or_default(),
                c.os_version.clone().unwrap_or_default(),
                t(c.last_logon),
                c.disabled.to_string(),
                c.dn.clone(),
            ]
        }))
        .collect(),
        "directory-without-object" => {
            std::iter::once(header(&["machine", "hostname", "last_check_in"]))
                .chain(d.without_object.iter().map(|&i| {
                    let r = without_object_row(&v.machines[i as usize]);
                    vec![r.machine, r.hostname, t(r.last_check_in)]
                }))
                .collect()
        }
        "compliance-by-ou" => tally_csv(&tally_rows(&d.by_ou), "ou"),
        "directory-disabled-checking-in" => {
            std::iter::once(header(&["machine", "hostname", "last_check_in", "dn"]))
                .chain(d.disabled_checking_in.iter().map(|x| {
                    let r = disabled_row(v, x);
                    vec![r.machine, r.hostname, t(r.last_check_in), r.dn]
                }))
                .collect()
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use jiff::SignedDuration;

    use super::*;
    use crate::console::view::directory_tests::directory_view;
    use crate::console::view::tests::now;
    use crate::store::DirectorySourceState;

    fn q(pairs: &[(&str, &str)]) -> Query {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_sorted_prefix_is_the_prefix_of_the_sorted_list() {
        // A deterministic scramble of 0..1000 with repeats.
        let items: Vec<u32> = (0..1000u32).map(|i| (i * 7_919 + 13) % 377).collect();
        let mut full = items.clone();
        full.sort_unstable();
        for end in [0, 1, 2, 99, 100, 376, 999, 1000, 5000] {
            let mut partial = items.clone();
            sort_prefix(&mut partial, end, u32::cmp);
            let n = end.min(items.len());
            assert_eq!(partial[..n], full[..n], "end {end}");
            let mut rest = partial.clone();
            rest.sort_unstable();
            assert_eq!(rest, full, "end {end}: nothing lost or duplicated");
        }
    }

    #[test]
    fn links_keep_the_filters_and_encode_them() {
        let query = q(&[
            ("ring", "servers/canary"),
            ("q", "a b&c"),
            ("page", "3"),
            ("empty", ""),
        ]);
        assert_eq!(
            link(
                "/drift",
                &query,
                &[("page", String::new()), ("sort", "machine".into())]
            ),
            "/drift?q=a%20b%26c&ring=servers%2Fcanary&sort=machine"
        );
        assert_eq!(link("/drift", &Query::new(), &[]), "/drift");
        assert_eq!(
            encode_path("openssl/3.0.22-1~deb12u2"),
            "openssl/3.0.22-1~deb12u2"
        );
        assert_eq!(encode_path("a+b/c d"), "a%2Bb/c%20d");
    }

    #[test]
    fn paging_says_what_is_wrong_with_a_page() {
        assert_eq!(paging(&q(&[]), 100), Ok((1, 100)));
        assert_eq!(
            paging(&q(&[("page", "2"), ("per", "50")]), 100),
            Ok((2, 50))
        );
        let e = paging(&q(&[("page", "0")]), 100).expect_err("page 0");
        assert_eq!(
            e.to_string(),
            "query parameter `page`: `0` is not a whole number of at least 1"
        );
        let e = paging(&q(&[("per", "501")]), 100).expect_err("too many");
        assert_eq!(
            e.to_string(),
            "query parameter `per`: at most 500 rows a page"
        );
        assert_eq!(
            finish_paging(1, 100, 0).map(|p| p.pages),
            Ok(1),
            "an empty list has one page"
        );
        assert_eq!(finish_paging(3, 100, 201).map(|p| p.pages), Ok(3));
        let e = finish_paging(4, 100, 201).expect_err("past the end");
        assert_eq!(
            e.to_string(),
            "query parameter `page`: page 4 is past the last page, 3"
        );
    }

    #[test]
    fn sort_links_flip_the_order_of_the_current_column_only() {
        let p = finish_paging(2, 10, 35).expect("paging");
        let l = links(
            "/machines",
            &q(&[("sort", "drift"), ("page", "2")]),
            &p,
            &["hostname", "drift"],
            "drift",
            false,
        );
        assert_eq!(l.sort["drift"], "/machines?order=desc&sort=drift");
        assert_eq!(l.sort["hostname"], "/machines?order=asc&sort=hostname");
        assert_eq!(l.prev.as_deref(), Some("/machines?sort=drift"));
        assert_eq!(l.next.as_deref(), Some("/machines?page=3&sort=drift"));
        assert_eq!(l.last.as_deref(), Some("/machines?page=4&sort=drift"));
        let e = sort_param(&q(&[("sort", "color")]), &["hostname", "drift"], "hostname")
            .expect_err("unknown");
        assert_eq!(
            e.to_string(),
            "query parameter `sort`: `color` is not one of hostname, drift"
        );
    }

    #[test]
    fn percentages_round_down_and_an_empty_whole_is_complete() {
        assert_eq!(percent(2, 3), 66.6);
        assert_eq!(percent(999, 1000), 99.9);
        assert_eq!(percent(0, 0), 100.0);
    }

    #[test]
    fn every_report_downloads_with_a_header_row() {
        let r = Reports {
            by_group: vec![TallyRow {
                name: "web".into(),
                total: 4,
                compliant: 3,
                percent: 75.0,
            }],
            by_ring: Vec::new(),
            by_severity: vec![MissingRow {
                name: "critical".into(),
                missing: 2,
                overdue: 1,
            }],
            by_age: Vec::new(),
            remediation: Vec::new(),
            past_deadline: Vec::new(),
            prohibited: vec![Prohibited {
                machine: "m-1".into(),
                hostname: "web, \"one\"".into(),
                package: "telnetd 0.17".into(),
                reason: "cleartext".into(),
            }],
            trend: Vec::new(),
        };
        for name in REPORTS {
            let rows = report_csv(&r, name).unwrap_or_else(|| panic!("{name}"));
            assert!(!rows.is_empty(), "{name} has a header");
        }
        assert_eq!(
            report_csv(&r, "compliance-by-group"),
            Some(vec![
                vec![
                    "group".to_owned(),
                    "machines".into(),
                    "compliant".into(),
                    "percent".into()
                ],
                vec!["web".to_owned(), "4".into(), "3".into(), "75".into()],
            ])
        );
        assert_eq!(
            report_csv(&r, "prohibited-software").map(|x| x[1][1].clone()),
            Some("web, \"one\"".to_owned())
        );
        assert_eq!(report_csv(&r, "nothing"), None);
    }

    // The directory page, on the directory of `view::directory_tests`: 7
    // computers, 3 unmanaged (two DB-3, KIOSK-9), 2 machines without an object
    // (db-3, db-6), 2 OUs, 1 disabled computer whose machine checks in (db-4).

    const DB: &str = "OU=Db,OU=Servers,DC=corp,DC=example";
    const WEB: &str = "OU=Web,OU=Servers,DC=corp,DC=example";

    fn minutes_ago(n: i64) -> Option<Timestamp> {
        Some(now() - SignedDuration::from_mins(n))
    }

    #[test]
    fn each_directory_listing_pages_on_its_own_keeping_the_others_pages() {
        let v = directory_view();
        let query = q(&[
            ("per", "1"),
            ("unmanaged_page", "2"),
            ("without_object_page", "2"),
        ]);
        let page = directory(&v, &[], Vec::new(), &query).expect("page");
        assert!(page.configured);
        assert_eq!((page.computers, page.matched), (7, 4));

        let u = &page.unmanaged;
        assert_eq!((u.paging.page, u.paging.total, u.paging.pages), (2, 3, 3));
        let dns: Vec<&str> = u.rows.iter().map(|c| c.dn.as_str()).collect();
        assert_eq!(dns, ["CN=DB-3,OU=Old,DC=corp,DC=example"]);
        assert_eq!(
            u.links.next.as_deref(),
            Some("/directory?per=1&unmanaged_page=3&without_object_page=2#unmanaged")
        );
        assert_eq!(
            u.links.first.as_deref(),
            Some("/directory?per=1&without_object_page=2#unmanaged")
        );
        assert_eq!(
            u.links.csv.as_deref(),
            Some("/reports/directory-unmanaged.csv")
        );

        let w = &page.without_object;
        assert_eq!(
            w.rows,
            [WithoutObjectRow {
                machine: "m-6".into(),
                hostname: "db-6.example".into(),
                last_check_in: minutes_ago(10),
            }]
        );
        assert_eq!((w.links.next.as_deref(), w.paging.pages), (None, 2));
        assert_eq!(
            w.links.prev.as_deref(),
            Some("/directory?per=1&unmanaged_page=2#without-object")
        );

        let ou: Vec<(&str, usize, usize, f64)> = page
            .by_ou
            .rows
            .iter()
            .map(|r| (r.name.as_str(), r.total, r.compliant, r.percent))
            .collect();
        assert_eq!(ou, [(DB, 2, 1, 50.0)], "the first of two OUs");
        assert_eq!(page.by_ou.paging.total, 2);

        assert_eq!(
            page.disabled_checking_in.rows,
            [DisabledRow {
                machine: "m-4".into(),
                hostname: "db-4.example".into(),
                last_check_in: minutes_ago(10),
                dn: format!("CN=DB-4,{DB}"),
            }]
        );
        assert_eq!(
            page.disabled_checking_in.links.csv.as_deref(),
            Some("/reports/directory-disabled-checking-in.csv")
        );
    }

    #[test]
    fn a_directory_listing_page_past_the_end_names_its_own_parameter() {
        let v = directory_view();
        let e = directory(&v, &[], Vec::new(), &q(&[("disabled_page", "2")]))
            .expect_err("one disabled computer: one page");
        assert_eq!(
            e.to_string(),
            "query parameter `disabled_page`: page 2 is past the last page, 1"
        );
        let e =
            directory(&v, &[], Vec::new(), &q(&[("ou_page", "first")])).expect_err("not a number");
        assert_eq!(e.param, "ou_page");
        let e = directory(&v, &[], Vec::new(), &q(&[("per", "501")])).expect_err("too many");
        assert_eq!(e.param, "per");
    }

    #[test]
    fn without_directory_computers_the_page_is_not_configured_and_empty() {
        let v = View::empty(now());
        let page = directory(&v, &[], Vec::new(), &Query::new()).expect("page");
        assert!(!page.configured);
        assert!(page.sources.is_empty());
        assert_eq!(
            [
                page.unmanaged.paging.total,
                page.without_object.paging.total,
                page.by_ou.paging.total,
                page.disabled_checking_in.paging.total,
            ],
            [0; 4]
        );
    }

    #[test]
    fn configured_sources_show_their_sync_state_and_an_error_only_after_a_failed_attempt() {
        let v = directory_view();
        let state =
            |name: &str, error: Option<&str>, success: i64, computers: i64| DirectorySourceState {
                name: name.into(),
                location: format!("ldaps://{name}.example DC={name}"),
                last_attempt_at: minutes_ago(1),
                last_success_at: minutes_ago(success),
                last_error: error.map(str::to_owned),
                computers,
            };
        let stored = vec![
            state(
                "corp",
                Some("directory ldaps://corp.example is unreachable: refused"),
                300,
                7,
            ),
            state("dropped", None, 1, 9),
            state("lab", None, 1, 0),
        ];
        let configured = ["lab".to_owned(), "corp".to_owned(), "new".to_owned()];
        let page = directory(&v, &configured, stored, &Query::new()).expect("page");
        assert_eq!(
            page.sources,
            [
                DirectorySourceRow {
                    name: "lab".into(),
                    location: Some("ldaps://lab.example DC=lab".into()),
                    last_attempt_at: minutes_ago(1),
                    last_success_at: minutes_ago(1),
                    last_error: None,
                    computers: 0,
                },
                DirectorySourceRow {
                    name: "corp".into(),
                    location: Some("ldaps://corp.example DC=corp".into()),
                    last_attempt_at: minutes_ago(1),
                    last_success_at: minutes_ago(300),
                    last_error: Some(
                        "directory ldaps://corp.example is unreachable: refused".into()
                    ),
                    computers: 7,
                },
                // Configured, never attempted; the dropped source is not shown.
                DirectorySourceRow {
                    name: "new".into(),
                    location: None,
                    last_attempt_at: None,
                    last_success_at: None,
                    last_error: None,
                    computers: 0,
                },
            ]
        );
    }

    #[test]
    fn every_directory_report_downloads_every_row_with_a_header() {
        let v = directory_view();
        let csv = |name: &str| directory_csv(&v, name).unwrap_or_else(|| panic!("{name}"));
        let rows = |rows: &[&[&str]]| -> Vec<Vec<String>> {
            rows.iter()
                .map(|r| r.iter().map(|&x| x.to_owned()).collect())
                .collect()
        };
        let logon = "2026-12-03T06:00:00Z";
        let checked = "2026-12-04T11:50:00Z";
        let db3 = format!("CN=DB-3,{DB}");
        assert_eq!(
            csv("directory-unmanaged"),
            rows(&[
                &[
                    "name",
                    "dns_host_name",
                    "ou",
                    "os",
                    "os_version",
                    "last_logon",
                    "disabled",
                    "dn"
                ],
                &[
                    "DB-3",
                    "",
                    DB,
                    "Debian GNU/Linux",
                    "12",
                    logon,
                    "false",
                    &db3
                ],
                &[
                    "DB-3",
                    "",
                    "OU=Old,DC=corp,DC=example",
                    "Debian GNU/Linux",
                    "12",
                    logon,
                    "false",
                    "CN=DB-3,OU=Old,DC=corp,DC=example"
                ],
                &[
                    "KIOSK-9",
                    "kiosk-9.example",
                    "OU=Kiosks,DC=corp,DC=example",
                    "Windows 10 Enterprise",
                    "10.0 (19045)",
                    "",
                    "false",
                    "CN=KIOSK-9,OU=Kiosks,DC=corp,DC=example"
                ],
            ])
        );
        assert_eq!(
            csv("directory-without-object"),
            rows(&[
                &["machine", "hostname", "last_check_in"],
                &["m-3", "db-3.example", checked],
                &["m-6", "db-6.example", checked],
            ])
        );
        assert_eq!(
            csv("compliance-by-ou"),
            rows(&[
                &["ou", "machines", "compliant", "percent"],
                &[DB, "2", "1", "50"],
                &[WEB, "2", "2", "100"],
            ])
        );
        let db4 = format!("CN=DB-4,{DB}");
        assert_eq!(
            csv("directory-disabled-checking-in"),
            rows(&[
                &["machine", "hostname", "last_check_in", "dn"],
                &["m-4", "db-4.example", checked, &db4],
            ])
        );
        for name in DIRECTORY_REPORTS {
            assert!(
                !REPORTS.contains(&name),
                "{name} is one name for one report"
            );
        }
        assert_eq!(directory_csv(&v, "trend"), None, "not a directory report");
    }
}
