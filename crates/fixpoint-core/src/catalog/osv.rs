//! OSV records (<https://ossf.github.io/osv-schema/>) into catalog advisories.
//!
//! ```text
//!  bytes ──parse_record──▶ Record (checked, typed) ──Record::advisories──▶ Vec<Advisory>
//!  bytes ──parse─────────────────────────────────────────────────────────▶ Vec<Advisory>
//! ```
//!
//! [`parse_record`] checks one record against the parts of the schema the
//! catalog relies on and keeps what it says in typed form (ecosystems mapped
//! to platforms, ranges cut into intervals, CVSS vectors scored); every error
//! names the record and the JSON pointer of what was wrong, such as
//! `CVE-2023-41045: /affected/0/ranges/0/events: no introduced event ...`.
//! [`Record::advisories`] maps a record onto the catalog model. Free-form
//! members (`database_specific`, `ecosystem_specific`) are read where useful
//! and never rejected.
//!
//! # One record, how many advisories
//!
//! - **Debian and Ubuntu**: every (source package, fixed version) is its own
//!   patch, [`PatchId::deb`] `{source}/{fixed}`, exactly the id the APT
//!   repository's patch has: a DSA, DLA or USN merges into the APT patch and
//!   attaches its CVEs and severity. A USN with three affected packages yields
//!   three advisories.
//! - **Everything else** (Alpine, Red Hat, language ecosystems, GIT-only
//!   records) and Debian/Ubuntu entries **without** a fixed version: one
//!   advisory whose patch id is the record id (`RHSA-2024:4546`,
//!   `GHSA-…`, `UBUNTU-CVE-…`), with one [`Fix`] per affected package and
//!   interval. Red Hat ids keep their colon form so that the OSV and CSAF
//!   renditions of an RHSA merge.
//! - **Withdrawn** records yield no advisory: a catalog is rebuilt from the
//!   advisories its feeds yield, so a retracted record simply stops
//!   contributing. [`Record::withdrawn`] says when, for a sync that keeps
//!   state and wants to log the retraction.
//!
//! # Ranges
//!
//! `ECOSYSTEM` and `SEMVER` events are read in the order they are listed
//! (which is how every feed writes them): each `introduced` opens an interval
//! that the next `fixed` or `last_affected` closes. An interval becomes a
//! [`Fix`]: `introduced: "0"` (and `0.0.0-0` in SEMVER, RustSec's way of
//! saying the same) is "every version", `introduced: None`; `fixed` is the
//! first fixed version; an interval left open is a known-affected package with
//! no fix (`fixed: None`). `last_affected` is an *inclusive* upper bound:
//! kept as [`End::LastAffected`] on the record and as [`Fix::last_affected`]
//! (with `fixed: None`) in the catalog. When a range has
//! only an open interval and the entry's `database_specific` carries GitHub's
//! `last_known_affected_version_range` (`< 0.1.2`, `<= 1.4`), that bound
//! closes the interval (`<` as fixed, `<=` as last affected).
//!
//! `GIT` ranges name commits, not package versions: they are checked and
//! kept, and give no [`Fix`]; a GIT-only record still yields its advisory
//! with its CVEs. `limit` events are kept and otherwise ignored.
//!
//! # Rejected
//!
//! A record the schema does not allow is rejected rather than imported with
//! a warning: a range without an `introduced` event (osv-linter's negative
//! sample), an event naming no or several kinds, a version range whose
//! `fixed` closes no open interval, an unknown range type, a GIT range without
//! `repo`, a CVSS vector that does not parse or does not match its type, a
//! Debian/Ubuntu or RPM version that its scheme rejects, a bad timestamp, a
//! wrong JSON type. Guessing what such a record meant could attach CVEs to
//! the wrong packages; the caller logs the precise reason and the rest of the
//! feed imports.

use std::str::FromStr;

use serde_json::{Map, Value};

use super::model::{
    Advisory, AdvisoryRef, Cvss, Fix, PackageKind, PatchId, Platform, Vulnerability,
};
use crate::rating::{Classification, Severity};
use crate::version::{self, Scheme, Syntax};

/// Why a document is not an OSV record the catalog can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OsvError {
    /// The bytes are not JSON.
    #[error("not a JSON document: {0}")]
    Json(String),
    /// The JSON is not a valid OSV record: what, where (a JSON pointer) and in which record.
    #[error("{}{}: {reason}", record_prefix(.record), display_path(.path))]
    Invalid {
        /// The record's `id`, once known.
        record: Option<String>,
        /// JSON pointer to the offending value, `""` for the document itself.
        path: String,
        reason: String,
    },
}

fn record_prefix(record: &Option<String>) -> String {
    record
        .as_deref()
        .map(|id| format!("{id}: "))
        .unwrap_or_default()
}

fn display_path(path: &str) -> &str {
    if path.is_empty() { "/" } else { path }
}

/// Parses one OSV record and maps it onto catalog advisories (see the module
/// docs for how many). `source` names the catalog source for
/// [`AdvisoryRef::source`]. A withdrawn record yields an empty list.
pub fn parse(bytes: &[u8], source: &str) -> Result<Vec<Advisory>, OsvError> {
    Ok(parse_record(bytes)?.advisories(source))
}

/// Parses a JSON array of OSV records (what a query API or a bulk export
/// returns) into the advisories of all of them. The first invalid record
/// fails the whole array; its error path starts with its index (`/3/affected`).
pub fn parse_array(bytes: &[u8], source: &str) -> Result<Vec<Advisory>, OsvError> {
    let value = json(bytes)?;
    let Value::Array(records) = &value else {
        return Err(invalid(
            None,
            "",
            format!(
                "expected an array of OSV records, found {}",
                json_kind(&value)
            ),
        ));
    };
    let mut advisories = Vec::new();
    for (index, record) in records.iter().enumerate() {
        advisories.extend(Record::from_json(record, &format!("/{index}"))?.advisories(source));
    }
    Ok(advisories)
}

/// Parses and checks one OSV record without mapping it onto the catalog.
pub fn parse_record(bytes: &[u8]) -> Result<Record, OsvError> {
    Record::from_json(&json(bytes)?, "")
}

fn json(bytes: &[u8]) -> Result<Value, OsvError> {
    // serde_json limits nesting (128 levels), so hostile input cannot exhaust the stack.
    serde_json::from_slice(bytes).map_err(|e| OsvError::Json(e.to_string()))
}

/// One OSV record, checked, in the terms the catalog uses.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub id: String,
    pub modified: jiff::Timestamp,
    pub published: Option<jiff::Timestamp>,
    /// When the record was retracted; such a record yields no advisory.
    pub withdrawn: Option<jiff::Timestamp>,
    pub aliases: Vec<String>,
    /// Ids of the upstream vulnerabilities this record is derived from (a DLA's CVEs).
    pub upstream: Vec<String>,
    pub related: Vec<String>,
    pub summary: Option<String>,
    pub details: Option<String>,
    /// Every CVSS vector of the record's `severity`, scored.
    pub cvss: Vec<Cvss>,
    /// A rating word the record gives (`severity[].type: Ubuntu`, or
    /// `database_specific.severity` as GitHub writes it).
    pub vendor_severity: Option<Severity>,
    pub affected: Vec<Affected>,
    /// The record's own page, when a reference of type ADVISORY names its id,
    /// or `database_specific.url`.
    pub url: Option<String>,
}

/// One `affected[]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Affected {
    /// `None` for GIT-only entries, which name a repository instead.
    pub package: Option<Package>,
    pub ranges: Vec<Range>,
    /// Versions the record enumerates as affected (informational here).
    pub versions: Vec<String>,
    /// CVSS vectors given for this package only (`affected[].severity`, or
    /// RustSec's `database_specific.cvss`).
    pub cvss: Vec<Cvss>,
    pub vendor_severity: Option<Severity>,
    /// RustSec's `database_specific.informational` (`unsound`, `unmaintained`, `notice`):
    /// the advisory reports a defect or a notice, not a vulnerability.
    pub informational: Option<String>,
}

/// An affected package.
#[derive(Debug, Clone, PartialEq)]
pub struct Package {
    pub ecosystem: Ecosystem,
    pub name: String,
    pub purl: Option<String>,
}

/// What an OSV ecosystem string means to Fixpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ecosystem {
    /// As the record writes it: `Ubuntu:Pro:14.04:LTS`.
    pub name: String,
    /// The platform machines report: `debian:12`, `ubuntu:14.04`, `alpine:3.20`,
    /// `rhel:8`, `crates.io`, `pypi`.
    pub platform: Platform,
    /// Source for Debian, Ubuntu and Alpine (OSV names their source packages);
    /// binary elsewhere (RPM names, language packages as installed).
    pub kind: PackageKind,
    /// The version scheme this ecosystem's versions are checked against, where
    /// Fixpoint knows it for certain (dpkg, rpm); `None` elsewhere.
    pub scheme: Option<Scheme>,
    /// Ubuntu Pro (ESM and its variants): fixes come from a subscription
    /// channel. The platform stays the release machines report, `ubuntu:14.04`.
    pub pro: bool,
    /// Who ships the packages: `Debian`, `Ubuntu`, `Red Hat`, `crates.io`.
    pub vendor: String,
}

/// A range of affected versions (or commits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    pub kind: RangeKind,
    /// The version intervals, for `ECOSYSTEM` and `SEMVER` ranges; empty for `GIT`.
    pub intervals: Vec<Interval>,
    /// Commits fixing a `GIT` range (one per branch); empty otherwise.
    pub fixed_commits: Vec<String>,
    /// `limit` events, as given.
    pub limits: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeKind {
    Ecosystem,
    Semver,
    Git { repo: String },
}

/// Versions from `introduced` (inclusive) up to `end`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interval {
    /// `None` for every version (`0`, or `0.0.0-0` in SEMVER).
    pub introduced: Option<String>,
    /// `None` while no fix is known.
    pub end: Option<End>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// The first fixed version (exclusive bound).
    Fixed(String),
    /// The last affected version (inclusive bound).
    LastAffected(String),
}

impl Ecosystem {
    /// Maps an OSV ecosystem string. Unknown ecosystems become a platform
    /// named after them (lowercased), with the text after the first `:` as
    /// the release.
    pub fn parse(name: &str) -> Ecosystem {
        let (base, rest) = name.split_once(':').unwrap_or((name, ""));
        let mut ecosystem = Ecosystem {
            name: name.to_owned(),
            platform: Platform::new(base, None),
            kind: PackageKind::Binary,
            scheme: None,
            pro: false,
            vendor: base.to_owned(),
        };
        match base {
            "Debian" => {
                // `Debian:12`; `Debian:13` and so on.
                ecosystem.platform = Platform::new("debian", Some(rest));
                ecosystem.kind = PackageKind::Source;
                ecosystem.scheme = Some(Scheme::Dpkg);
            }
            "Ubuntu" => {
                // `Ubuntu:22.04:LTS`, `Ubuntu:24.10`, `Ubuntu:Pro:14.04:LTS`,
                // `Ubuntu:Pro:FIPS-updates:20.04:LTS`: the release is the dotted number.
                let parts: Vec<&str> = rest.split(':').collect();
                let release = parts.iter().copied().find(|p| is_dotted_number(p));
                ecosystem.platform = Platform::new("ubuntu", release);
                ecosystem.kind = PackageKind::Source;
                ecosystem.scheme = Some(Scheme::Dpkg);
                ecosystem.pro = parts.contains(&"Pro");
            }
            "Alpine" => {
                ecosystem.platform = Platform::new("alpine", Some(rest.trim_start_matches('v')));
                ecosystem.kind = PackageKind::Source;
            }
            "Red Hat" => {
                // `Red Hat:rhel_aus:8.6::appstream`, `Red Hat:enterprise_linux:9::baseos`:
                // a CPE's product and version. Every RHEL stream (EUS, AUS, E4S, TUS)
                // is its major release; other products keep their name.
                let mut parts = rest.split(':');
                let product = parts.next().unwrap_or_default();
                let major = parts
                    .next()
                    .unwrap_or_default()
                    .split('.')
                    .next()
                    .unwrap_or_default();
                ecosystem.platform = if product == "enterprise_linux" || product.starts_with("rhel")
                {
                    Platform::new("rhel", Some(major))
                } else {
                    Platform::new("redhat", Some(&format!("{product}-{major}")))
                };
                ecosystem.scheme = Some(Scheme::Rpm);
            }
            "Rocky Linux" | "AlmaLinux" => {
                let family = if base == "AlmaLinux" { "alma" } else { "rocky" };
                ecosystem.platform = Platform::new(
                    family,
                    rest.split(['.', ':']).next().filter(|r| !r.is_empty()),
                );
                ecosystem.scheme = Some(Scheme::Rpm);
            }
            // Language ecosystems: the platform is the ecosystem. A suffix names a
            // third-party repository of the same kind (`Packagist:https://packages.drupal.org/8`),
            // not a release: packages install the same way, so it is dropped.
            "crates.io" | "PyPI" | "npm" | "Go" | "Maven" | "RubyGems" | "Packagist" | "NuGet"
            | "Hex" | "Pub" | "Hackage" | "CRAN" | "SwiftURL" | "GitHub Actions" => {}
            _ => {
                ecosystem.platform = Platform::new(&base.replace(' ', "-"), Some(rest));
            }
        }
        ecosystem
    }
}

fn is_dotted_number(s: &str) -> bool {
    s.contains('.')
        && s.split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

// ---------------------------------------------------------------------------
// Reading and checking the JSON.

type Problem = (String, String);

fn invalid(record: Option<&str>, path: &str, reason: String) -> OsvError {
    OsvError::Invalid {
        record: record.map(str::to_owned),
        path: path.to_owned(),
        reason,
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn problem(path: &str, reason: impl Into<String>) -> Problem {
    (path.to_owned(), reason.into())
}

fn child(path: &str, key: &str) -> String {
    format!("{path}/{key}")
}

fn as_object<'a>(value: &'a Value, path: &str) -> Result<&'a Map<String, Value>, Problem> {
    value.as_object().ok_or_else(|| {
        problem(
            path,
            format!("expected an object, found {}", json_kind(value)),
        )
    })
}

/// A member that is absent or `null` is `None` (converters write both).
fn member<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).filter(|v| !v.is_null())
}

fn optional_str<'a>(
    object: &'a Map<String, Value>,
    path: &str,
    key: &str,
) -> Result<Option<&'a str>, Problem> {
    match member(object, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(problem(
            &child(path, key),
            format!("expected a string, found {}", json_kind(other)),
        )),
    }
}

fn required_str<'a>(
    object: &'a Map<String, Value>,
    path: &str,
    key: &str,
) -> Result<&'a str, Problem> {
    match optional_str(object, path, key)? {
        None => Err(problem(path, format!("missing required member `{key}`"))),
        Some("") => Err(problem(&child(path, key), "must not be empty")),
        Some(s) => Ok(s),
    }
}

fn optional_array<'a>(
    object: &'a Map<String, Value>,
    path: &str,
    key: &str,
) -> Result<&'a [Value], Problem> {
    match member(object, key) {
        None => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(other) => Err(problem(
            &child(path, key),
            format!("expected an array, found {}", json_kind(other)),
        )),
    }
}

fn string_list(object: &Map<String, Value>, path: &str, key: &str) -> Result<Vec<String>, Problem> {
    let here = child(path, key);
    optional_array(object, path, key)?
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::String(s) => Ok(s.clone()),
            other => Err(problem(
                &child(&here, &i.to_string()),
                format!("expected a string, found {}", json_kind(other)),
            )),
        })
        .collect()
}

fn timestamp(
    object: &Map<String, Value>,
    path: &str,
    key: &str,
) -> Result<Option<jiff::Timestamp>, Problem> {
    let Some(text) = optional_str(object, path, key)? else {
        return Ok(None);
    };
    text.parse::<jiff::Timestamp>().map(Some).map_err(|e| {
        problem(
            &child(path, key),
            format!(
                "expected an RFC 3339 timestamp such as 2024-11-07T09:49:52Z, found {text:?}: {e}"
            ),
        )
    })
}

/// A string member of a free-form object (`database_specific`), ignored when of another type.
fn loose_str<'a>(object: Option<&'a Map<String, Value>>, key: &str) -> Option<&'a str> {
    object.and_then(|o| o.get(key)).and_then(Value::as_str)
}

fn free_form<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Map<String, Value>> {
    object.get(key).and_then(Value::as_object)
}

impl Record {
    fn from_json(value: &Value, base: &str) -> Result<Record, OsvError> {
        // The id comes first so that every later error can name the record.
        let object = as_object(value, base).map_err(|(p, r)| invalid(None, &p, r))?;
        let id = required_str(object, base, "id").map_err(|(p, r)| invalid(None, &p, r))?;
        Record::read(object, base, id).map_err(|(p, r)| invalid(Some(id), &p, r))
    }

    fn read(object: &Map<String, Value>, base: &str, id: &str) -> Result<Record, Problem> {
        let modified = timestamp(object, base, "modified")?
            .ok_or_else(|| problem(base, "missing required member `modified`"))?;
        let (cvss, vendor_severity) = severities(object, base)?;
        let database = free_form(object, "database_specific");
        let vendor_severity =
            vendor_severity.or_else(|| loose_str(database, "severity").and_then(vendor_word));
        let affected_path = child(base, "affected");
        let affected = optional_array(object, base, "affected")?
            .iter()
            .enumerate()
            .map(|(i, entry)| Affected::read(entry, &child(&affected_path, &i.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Record {
            id: id.to_owned(),
            modified,
            published: timestamp(object, base, "published")?,
            withdrawn: timestamp(object, base, "withdrawn")?,
            aliases: string_list(object, base, "aliases")?,
            upstream: string_list(object, base, "upstream")?,
            related: string_list(object, base, "related")?,
            summary: optional_str(object, base, "summary")?.map(str::to_owned),
            details: optional_str(object, base, "details")?.map(str::to_owned),
            cvss,
            vendor_severity,
            affected,
            url: advisory_url(object, base, id)?
                .or_else(|| loose_str(database, "url").map(str::to_owned)),
        })
    }
}

/// A vendor rating word, `None` when the word is not one Fixpoint knows.
fn vendor_word(word: &str) -> Option<Severity> {
    Some(Severity::from_vendor_word(word)).filter(|s| *s != Severity::Unrated)
}

/// Reads `severity[]`: CVSS vectors scored, and the rating word of type `Ubuntu`.
/// Types the schema may add later are skipped.
fn severities(
    object: &Map<String, Value>,
    path: &str,
) -> Result<(Vec<Cvss>, Option<Severity>), Problem> {
    let here = child(path, "severity");
    let mut cvss = Vec::new();
    let mut word = None;
    for (i, entry) in optional_array(object, path, "severity")?.iter().enumerate() {
        let at = child(&here, &i.to_string());
        let entry = as_object(entry, &at)?;
        let kind = required_str(entry, &at, "type")?;
        let score = required_str(entry, &at, "score")?;
        let expected = match kind {
            "CVSS_V2" => &["2.0"][..],
            "CVSS_V3" => &["3.0", "3.1"][..],
            "CVSS_V4" => &["4.0"][..],
            "Ubuntu" => {
                word = word.or_else(|| vendor_word(score));
                continue;
            }
            _ => continue,
        };
        let scored = score_vector(score).map_err(|reason| problem(&child(&at, "score"), reason))?;
        if !expected.contains(&scored.version.as_str()) {
            return Err(problem(
                &child(&at, "score"),
                format!(
                    "type {kind} needs a CVSS {} vector, found CVSS {}",
                    expected.join(" or "),
                    scored.version
                ),
            ));
        }
        cvss.push(scored);
    }
    Ok((cvss, word))
}

fn score_vector(vector: &str) -> Result<Cvss, String> {
    let parsed =
        cvss::Cvss::from_str(vector).map_err(|e| format!("invalid CVSS vector {vector:?}: {e}"))?;
    let version = match &parsed {
        cvss::Cvss::CvssV20(_) => "2.0",
        cvss::Cvss::CvssV30(_) => "3.0",
        cvss::Cvss::CvssV31(_) => "3.1",
        cvss::Cvss::CvssV40(_) => "4.0",
        _ => return Err(format!("unsupported CVSS version in {vector:?}")),
    };
    Ok(Cvss {
        version: version.to_owned(),
        score: parsed.score(),
        vector: Some(vector.to_owned()),
    })
}

/// The first ADVISORY reference whose URL names the record (`…/errata/RHSA-2024:4546`).
fn advisory_url(
    object: &Map<String, Value>,
    path: &str,
    id: &str,
) -> Result<Option<String>, Problem> {
    let here = child(path, "references");
    for (i, reference) in optional_array(object, path, "references")?
        .iter()
        .enumerate()
    {
        let at = child(&here, &i.to_string());
        let reference = as_object(reference, &at)?;
        let kind = optional_str(reference, &at, "type")?;
        let url = optional_str(reference, &at, "url")?;
        if let (Some("ADVISORY"), Some(url)) = (kind, url)
            && url.contains(id)
        {
            return Ok(Some(url.to_owned()));
        }
    }
    Ok(None)
}

impl Affected {
    fn read(value: &Value, path: &str) -> Result<Affected, Problem> {
        let object = as_object(value, path)?;
        let package = match member(object, "package") {
            None => None,
            Some(package) => {
                let at = child(path, "package");
                let package = as_object(package, &at)?;
                Some(Package {
                    ecosystem: Ecosystem::parse(required_str(package, &at, "ecosystem")?),
                    name: required_str(package, &at, "name")?.to_owned(),
                    purl: optional_str(package, &at, "purl")?.map(str::to_owned),
                })
            }
        };
        let database = free_form(object, "database_specific");
        let scheme = package.as_ref().and_then(|p| p.ecosystem.scheme);
        let ranges_path = child(path, "ranges");
        let mut ranges = optional_array(object, path, "ranges")?
            .iter()
            .enumerate()
            .map(|(i, range)| Range::read(range, &child(&ranges_path, &i.to_string()), scheme))
            .collect::<Result<Vec<_>, _>>()?;
        if package.is_none()
            && ranges
                .iter()
                .any(|r| !matches!(r.kind, RangeKind::Git { .. }))
        {
            return Err(problem(
                path,
                "a version range needs a `package` to say whose versions they are",
            ));
        }
        if let Some(bound) = loose_str(database, "last_known_affected_version_range") {
            close_with_known_bound(&mut ranges, bound);
        }
        let (mut cvss, vendor_severity) = severities(object, path)?;
        if let Some(scored) = loose_str(database, "cvss").and_then(|v| score_vector(v).ok()) {
            cvss.push(scored);
        }
        Ok(Affected {
            package,
            ranges,
            versions: string_list(object, path, "versions")?,
            cvss,
            vendor_severity,
            informational: loose_str(database, "informational").map(str::to_owned),
        })
    }
}

/// GitHub's `last_known_affected_version_range` (`< 0.1.2`, `<= 1.4`,
/// `>= 1.0, < 1.2`) bounds an entry whose only interval is open: its upper
/// comparator closes that interval. Anything else leaves the ranges as they are.
fn close_with_known_bound(ranges: &mut [Range], bound: &str) {
    let mut open = ranges
        .iter_mut()
        .flat_map(|r| r.intervals.iter_mut())
        .filter(|i| i.end.is_none());
    let (Some(interval), None) = (open.next(), open.next()) else {
        return;
    };
    for comparator in bound.split(',').map(str::trim) {
        let end = if let Some(v) = comparator.strip_prefix("<=") {
            End::LastAffected(v.trim().to_owned())
        } else if let Some(v) = comparator.strip_prefix('<') {
            End::Fixed(v.trim().to_owned())
        } else {
            continue;
        };
        if matches!(&end, End::Fixed(v) | End::LastAffected(v) if !v.is_empty()) {
            interval.end = Some(end);
        }
        return;
    }
}

enum Event<'a> {
    Introduced(&'a str),
    Fixed(&'a str),
    LastAffected(&'a str),
    Limit(&'a str),
}

impl Event<'_> {
    fn version(&self) -> &str {
        match self {
            Event::Introduced(v) | Event::Fixed(v) | Event::LastAffected(v) | Event::Limit(v) => v,
        }
    }
}

impl Range {
    fn read(value: &Value, path: &str, scheme: Option<Scheme>) -> Result<Range, Problem> {
        let object = as_object(value, path)?;
        let kind = match required_str(object, path, "type")? {
            "ECOSYSTEM" => RangeKind::Ecosystem,
            "SEMVER" => RangeKind::Semver,
            "GIT" => RangeKind::Git {
                repo: optional_str(object, path, "repo")?
                    .filter(|r| !r.is_empty())
                    .ok_or_else(|| {
                        problem(
                            path,
                            "a GIT range needs `repo`, the repository its commits are in",
                        )
                    })?
                    .to_owned(),
            },
            other => {
                return Err(problem(
                    &child(path, "type"),
                    format!("unknown range type {other:?}: expected ECOSYSTEM, SEMVER or GIT"),
                ));
            }
        };
        let events_path = child(path, "events");
        let events = match member(object, "events") {
            None => return Err(problem(path, "missing required member `events`")),
            Some(Value::Array(events)) if events.is_empty() => {
                return Err(problem(&events_path, "must list at least one event"));
            }
            Some(Value::Array(events)) => events
                .iter()
                .enumerate()
                .map(|(i, e)| event(e, &child(&events_path, &i.to_string())))
                .collect::<Result<Vec<_>, _>>()?,
            Some(other) => {
                return Err(problem(
                    &events_path,
                    format!("expected an array, found {}", json_kind(other)),
                ));
            }
        };
        if !events.iter().any(|e| matches!(e, Event::Introduced(_))) {
            return Err(problem(
                &events_path,
                "no introduced event: every range must say where the affected versions begin \
                 (`{\"introduced\": \"0\"}` for all of them)",
            ));
        }
        let mut range = Range {
            kind,
            intervals: Vec::new(),
            fixed_commits: Vec::new(),
            limits: Vec::new(),
        };
        if let RangeKind::Git { .. } = range.kind {
            // Commits on several branches: their order carries no meaning.
            for e in &events {
                match e {
                    Event::Fixed(commit) => range.fixed_commits.push((*commit).to_owned()),
                    Event::Limit(commit) => range.limits.push((*commit).to_owned()),
                    Event::Introduced(_) | Event::LastAffected(_) => {}
                }
            }
            return Ok(range);
        }
        let semver = matches!(range.kind, RangeKind::Semver);
        let mut open: Option<(usize, Option<String>)> = None;
        for (i, e) in events.iter().enumerate() {
            let at = child(&events_path, &i.to_string());
            check_version(scheme, e.version(), &at)?;
            match e {
                Event::Introduced(v) => {
                    if let Some((opened, _)) = open {
                        return Err(problem(
                            &at,
                            format!(
                                "introduced while the interval introduced at events/{opened} is still open"
                            ),
                        ));
                    }
                    let every = *v == "0" || (semver && *v == "0.0.0-0");
                    open = Some((i, (!every).then(|| (*v).to_owned())));
                }
                Event::Fixed(v) | Event::LastAffected(v) => {
                    let Some((_, introduced)) = open.take() else {
                        return Err(problem(
                            &at,
                            "closes no interval: events are read in order and an introduced event must open each one",
                        ));
                    };
                    let end = match e {
                        Event::Fixed(_) => End::Fixed((*v).to_owned()),
                        _ => End::LastAffected((*v).to_owned()),
                    };
                    range.intervals.push(Interval {
                        introduced,
                        end: Some(end),
                    });
                }
                Event::Limit(v) => range.limits.push((*v).to_owned()),
            }
        }
        if let Some((_, introduced)) = open {
            range.intervals.push(Interval {
                introduced,
                end: None,
            });
        }
        Ok(range)
    }
}

fn event<'a>(value: &'a Value, path: &str) -> Result<Event<'a>, Problem> {
    let object = as_object(value, path)?;
    let mut found = Vec::new();
    for key in ["introduced", "fixed", "last_affected", "limit"] {
        if let Some(v) = object.get(key) {
            let Value::String(v) = v else {
                return Err(problem(
                    &child(path, key),
                    format!("expected a version string, found {}", json_kind(v)),
                ));
            };
            if v.is_empty() {
                return Err(problem(&child(path, key), "must not be empty"));
            }
            found.push(match key {
                "introduced" => Event::Introduced(v),
                "fixed" => Event::Fixed(v),
                "last_affected" => Event::LastAffected(v),
                _ => Event::Limit(v),
            });
        }
    }
    match (found.pop(), found.is_empty()) {
        (Some(event), true) => Ok(event),
        (None, _) => Err(problem(
            path,
            "an event needs one of introduced, fixed, last_affected or limit",
        )),
        (Some(_), false) => Err(problem(
            path,
            "an event has exactly one of introduced, fixed, last_affected or limit, found several",
        )),
    }
}

/// Versions of ecosystems whose scheme Fixpoint knows are checked with the
/// scheme's lenient syntax (what dpkg and rpm themselves accept).
fn check_version(scheme: Option<Scheme>, text: &str, path: &str) -> Result<(), Problem> {
    match scheme {
        Some(scheme) if text != "0" => version::validate(scheme, Syntax::Lenient, text)
            .map_err(|e| problem(path, e.to_string())),
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------------------
// Mapping onto the catalog.

/// Ids of notices that announce a distribution's package update rather than
/// describe one vulnerability: their `related` CVEs are the CVEs they fix
/// (Ubuntu lists a USN's CVEs there), and without CVEs they fix none.
const NOTICE_PREFIXES: &[&str] = &[
    "DSA-",
    "DLA-",
    "DTSA-",
    "USN-",
    "LSN-",
    "RHSA-",
    "RHBA-",
    "RHEA-",
    "ALSA-",
    "ALBA-",
    "ALEA-",
    "RLSA-",
    "RLBA-",
    "RLEA-",
    "ELSA-",
    "SUSE-",
    "openSUSE-",
];

impl Record {
    fn is_notice(&self) -> bool {
        NOTICE_PREFIXES.iter().any(|p| self.id.starts_with(p))
    }

    /// The vulnerabilities this record fixes: the CVE ids among its id,
    /// aliases and upstream ids (and, for a notice, related ids). A record
    /// about one vulnerability without a CVE id (a GHSA, a GO id) names its
    /// own id; a notice or an informational record without CVEs fixes none.
    pub fn vulnerability_ids(&self) -> Vec<String> {
        let notice = self.is_notice();
        let mut ids: Vec<String> = Vec::new();
        let related = self.related.iter().filter(|_| notice);
        for id in std::iter::once(&self.id)
            .chain(&self.aliases)
            .chain(&self.upstream)
            .chain(related)
        {
            if id.starts_with("CVE-") && !ids.contains(id) {
                ids.push(id.clone());
            }
        }
        if ids.is_empty() && !notice && self.classification() == Classification::Security {
            ids.push(self.id.clone());
        }
        ids
    }

    /// Security, except RustSec informational advisories (`unsound`: a
    /// defect, bugfix; `unmaintained`, `notice`: other) and Red Hat bugfix
    /// and enhancement notices.
    pub fn classification(&self) -> Classification {
        if let Some(info) = self
            .affected
            .iter()
            .find_map(|a| a.informational.as_deref())
        {
            return if info == "unsound" {
                Classification::Bugfix
            } else {
                Classification::Other
            };
        }
        if self.id.starts_with("RHBA-") {
            Classification::Bugfix
        } else if self.id.starts_with("RHEA-") {
            Classification::Enhancement
        } else {
            Classification::Security
        }
    }

    /// Maps the record onto catalog advisories (see the module docs). A
    /// withdrawn record yields none.
    pub fn advisories(&self, source: &str) -> Vec<Advisory> {
        if self.withdrawn.is_some() {
            return Vec::new();
        }
        let mut out: Vec<Advisory> = Vec::new();
        let record_patch = PatchId(self.id.clone());
        for affected in &self.affected {
            for (fix, deb) in self.fixes(affected) {
                let patch = match (&deb, &fix.fixed) {
                    (true, Some(fixed)) => PatchId::deb(&fix.package, fixed),
                    _ => record_patch.clone(),
                };
                match out.iter_mut().find(|a| a.patch == patch) {
                    Some(advisory) => {
                        if !advisory.fixes.contains(&fix) {
                            advisory.fixes.push(fix);
                        }
                    }
                    None => {
                        let mut advisory = self.advisory(source, patch, Some(affected));
                        advisory.fixes.push(fix);
                        out.push(advisory);
                    }
                }
            }
        }
        if out.is_empty() {
            out.push(self.advisory(source, record_patch, self.affected.first()));
        }
        for advisory in &mut out {
            advisory.fixes.sort();
        }
        out
    }

    /// The fixes one entry gives, each with whether it is a Debian/Ubuntu package.
    fn fixes(&self, affected: &Affected) -> Vec<(Fix, bool)> {
        let Some(package) = &affected.package else {
            return Vec::new();
        };
        let deb = package.ecosystem.scheme == Some(Scheme::Dpkg);
        affected
            .ranges
            .iter()
            .flat_map(|r| &r.intervals)
            .map(|interval| {
                let fix = Fix {
                    platform: package.ecosystem.platform.clone(),
                    package: package.name.clone(),
                    kind: package.ecosystem.kind,
                    fixed: match &interval.end {
                        Some(End::Fixed(v)) => Some(v.clone()),
                        Some(End::LastAffected(_)) | None => None,
                    },
                    introduced: interval.introduced.clone(),
                    last_affected: match &interval.end {
                        Some(End::LastAffected(v)) => Some(v.clone()),
                        Some(End::Fixed(_)) | None => None,
                    },
                    arch: None,
                };
                (fix, deb)
            })
            .collect()
    }

    fn advisory(&self, source: &str, patch: PatchId, affected: Option<&Affected>) -> Advisory {
        let (vendor, product) = match affected {
            Some(Affected {
                package: Some(p), ..
            }) => (p.ecosystem.vendor.clone(), p.name.clone()),
            Some(a) => match a.ranges.iter().find_map(|r| match &r.kind {
                RangeKind::Git { repo } => Some(repo.clone()),
                _ => None,
            }) {
                Some(repo) => (
                    "git".to_owned(),
                    repo.trim_start_matches("https://").to_owned(),
                ),
                None => ("OSV".to_owned(), self.id.clone()),
            },
            None => ("OSV".to_owned(), self.id.clone()),
        };
        let mut cvss = affected.map(|a| a.cvss.clone()).unwrap_or_default();
        for c in &self.cvss {
            if !cvss.iter().any(|mine| mine.version == c.version) {
                cvss.push(c.clone());
            }
        }
        let word = affected
            .and_then(|a| a.vendor_severity)
            .or(self.vendor_severity);
        let newest = cvss.iter().max_by(|a, b| a.version.cmp(&b.version));
        let severity = word
            .or_else(|| newest.map(|c| Severity::from_cvss(c.score)))
            .unwrap_or(Severity::Unrated);
        let ids = self.vulnerability_ids();
        // A record's scores rate its vulnerability; a notice listing many CVEs
        // gives no per-CVE score, so its scores only rate the advisory.
        let single = ids.len() == 1;
        let vulnerabilities = ids
            .into_iter()
            .map(|id| Vulnerability {
                id,
                cvss: if single { cvss.clone() } else { Vec::new() },
                known_exploited: false,
            })
            .collect();
        Advisory {
            reference: AdvisoryRef {
                source: source.to_owned(),
                id: self.id.clone(),
                url: self.url.clone(),
            },
            patch,
            vendor,
            product,
            title: self.summary.clone(),
            classification: self.classification(),
            severity,
            released: self.published,
            vulnerabilities,
            fixes: Vec::new(),
            files: Vec::new(),
            supersedes: Vec::new(),
            references: Vec::new(),
            restart_required: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn platform(ecosystem: &str) -> String {
        Ecosystem::parse(ecosystem).platform.to_string()
    }

    #[test]
    fn ecosystems_map_to_the_platforms_machines_report() {
        assert_eq!(platform("Debian:12"), "debian:12");
        assert_eq!(platform("Ubuntu:22.04:LTS"), "ubuntu:22.04");
        assert_eq!(platform("Ubuntu:24.10"), "ubuntu:24.10");
        assert_eq!(platform("Ubuntu:Pro:14.04:LTS"), "ubuntu:14.04");
        assert_eq!(
            platform("Ubuntu:Pro:FIPS-updates:20.04:LTS"),
            "ubuntu:20.04"
        );
        assert_eq!(platform("Alpine:v3.20"), "alpine:3.20");
        assert_eq!(platform("Red Hat:rhel_aus:8.6::appstream"), "rhel:8");
        assert_eq!(platform("Red Hat:enterprise_linux:9::baseos"), "rhel:9");
        assert_eq!(
            platform("Red Hat:openshift:4.14::el9"),
            "redhat:openshift-4"
        );
        assert_eq!(platform("Rocky Linux:8"), "rocky:8");
        assert_eq!(platform("AlmaLinux:9"), "alma:9");
        assert_eq!(platform("crates.io"), "crates.io");
        assert_eq!(platform("PyPI"), "pypi");
        assert_eq!(
            platform("Packagist:https://packages.drupal.org/8"),
            "packagist"
        );
        assert_eq!(platform("Photon OS:5.0"), "photon-os:5.0");
    }

    #[test]
    fn only_ubuntu_pro_ecosystems_are_marked_pro() {
        assert!(Ecosystem::parse("Ubuntu:Pro:14.04:LTS").pro);
        assert!(!Ecosystem::parse("Ubuntu:14.04:LTS").pro);
    }

    #[test]
    fn errors_name_the_record_and_the_pointer() {
        let e = invalid(Some("DSA-1-1"), "/affected/2/ranges/0/events", "bad".into());
        assert_eq!(e.to_string(), "DSA-1-1: /affected/2/ranges/0/events: bad");
        assert_eq!(invalid(None, "", "bad".into()).to_string(), "/: bad");
    }
}
