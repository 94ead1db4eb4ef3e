//! CSAF 2.0 (OASIS Common Security Advisory Framework) JSON documents into
//! [`Advisory`] values: one advisory per document.
//!
//! ```text
//!  bytes ─serde_json─▶ Value ─▶ document (id, publisher, dates, severity)
//!                             ├▶ product_tree ─▶ ProductTree (branches, relationships)
//!                             └▶ vulnerabilities ─▶ CVEs, CVSS, threats,
//!                                  product_status fixed/first_fixed/recommended ─ProductTree─▶ fixes,
//!                                  remediations vendor_fix ─▶ references, restart
//! ```
//!
//! What is read, and how:
//! - **Patch id** is `/document/tracking/id` (`RHSA-2024:4546`, `SUSE-SU-2015:0011-2`,
//!   `CVE-2023-5568` for SUSE's per-CVE VEX); **vendor** is `/document/publisher/name`.
//! - **Category** (`/document/category`) is read loosely, deliberately: security
//!   advisories, VEX, `csaf_base`, informational advisories and vendor inventions
//!   (`Cisco Security Advisory`) all import the same way. The classification is
//!   security when the document lists vulnerabilities, other when it does not.
//! - **Severity** is the vendor's word in `/document/aggregate_severity/text`;
//!   else the most severe `impact` threat word (`Important`, `moderate`); else the
//!   highest CVSS base score.
//! - **Released** is `/document/tracking/initial_release_date` (RFC 3339 with any
//!   offset and fraction; a date-time without offset or a bare date is UTC);
//!   failing that the earliest revision, then the current release date.
//! - **Fixes** come from the product ids a vulnerability lists as `fixed`,
//!   `first_fixed` or `recommended` (SUSE lists its fixed packages as
//!   recommended), resolved through the product tree (see `product_tree` for how
//!   platform, package and version are derived per vendor). Per vulnerability
//!   the first fixed version per platform, package and architecture counts; over
//!   the vulnerabilities, the latest of those (the patch fixes them all only
//!   from there on). A product listed as `known_affected` with a `vendor_fix`
//!   and a single strict upper bound (`<V2.0_SP1`) implies a fix at that bound
//!   where the vulnerability lists no fix of that package.
//! - **Files** are the `vendor_fix` remediation URLs; `restart_required` is
//!   true when a vendor fix needs a machine or system restart.
//! - **CVSS** v2, v3.0, v3.1 and v4 score objects: the version is the object's
//!   own, else the vector's prefix; per vulnerability the highest score per version.
//!
//! A document is rejected only when it is not a CSAF document at all: not JSON,
//! no `/document`, no `/document/tracking/id`, a `csaf_version` other than 2.0
//! (or 2.1). Everything else that is malformed is skipped with a [`Warning`]
//! naming its JSON pointer, so one odd product never loses a whole advisory.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::Value;

use crate::catalog::model::{Advisory, AdvisoryRef, Cvss, Fix, PatchId, Vulnerability};
use crate::catalog::product_tree::{self, BranchContext, BranchKind, ProductTree, Relationship};
use crate::rating::{Classification, Severity};

/// Documents larger than this are refused before parsing. Red Hat's largest
/// kernel advisories are tens of megabytes.
pub const MAX_DOCUMENT_BYTES: usize = 128 * 1024 * 1024;

/// Product branches nest at most this deep (JSON itself at most 128).
const MAX_BRANCH_DEPTH: usize = 64;

/// At most this many warnings are kept per document; the last one says how
/// many more there were.
pub const MAX_WARNINGS: usize = 200;

/// Why a document is not a CSAF document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsafError {
    #[error("document is {size} bytes, more than the {limit} bytes a CSAF document may have")]
    TooLarge { size: usize, limit: usize },
    #[error("not JSON: {problem} at line {line}, column {column}")]
    NotJson {
        line: usize,
        column: usize,
        problem: String,
    },
    #[error("not a CSAF 2.0 document: {path}: {problem}")]
    NotCsaf { path: String, problem: String },
}

impl CsafError {
    /// A bounded label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            CsafError::TooLarge { .. } => "too_large",
            CsafError::NotJson { .. } => "not_json",
            CsafError::NotCsaf { .. } => "not_csaf",
        }
    }
}

/// Something in a document that was skipped or read with a guess.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Where: a JSON pointer (`/vulnerabilities/3/remediations/0/product_ids`)
    /// or, for CVRF, an element path (`/cvrfdoc/Vulnerability[2]/CVE`).
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Advisories and what was skipped on the way.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub advisories: Vec<Advisory>,
    pub warnings: Vec<Warning>,
}

/// Parses one CSAF 2.0 JSON document into its advisory. `source` names the
/// catalog source (or the file) for [`AdvisoryRef::source`].
pub fn parse(bytes: &[u8], source: &str) -> Result<Vec<Advisory>, CsafError> {
    parse_with_warnings(bytes, source).map(|parsed| parsed.advisories)
}

/// [`parse`], also returning what was skipped.
pub fn parse_with_warnings(bytes: &[u8], source: &str) -> Result<Parsed, CsafError> {
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(CsafError::TooLarge {
            size: bytes.len(),
            limit: MAX_DOCUMENT_BYTES,
        });
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let root: Value = serde_json::from_slice(bytes).map_err(|e| CsafError::NotJson {
        line: e.line(),
        column: e.column(),
        problem: json_problem(&e),
    })?;
    let mut warnings = Warnings::default();
    let advisory = read_document(&root, source, &mut warnings)?;
    Ok(Parsed {
        advisories: vec![advisory],
        warnings: warnings.into_vec(),
    })
}

fn json_problem(error: &serde_json::Error) -> String {
    let text = error.to_string();
    // serde_json appends " at line L column C"; the error carries those apart.
    let text = text
        .rsplit_once(" at line ")
        .map_or(text.as_str(), |(t, _)| t)
        .to_owned();
    match error.classify() {
        serde_json::error::Category::Eof => format!("{text} (the document ends early: truncated?)"),
        _ => text,
    }
}

/// Collects warnings up to [`MAX_WARNINGS`].
#[derive(Debug, Default)]
pub(crate) struct Warnings {
    kept: Vec<Warning>,
    dropped: usize,
}

impl Warnings {
    pub(crate) fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        if self.kept.len() < MAX_WARNINGS {
            self.kept.push(Warning {
                path: path.into(),
                message: message.into(),
            });
        } else {
            self.dropped += 1;
        }
    }

    pub(crate) fn into_vec(mut self) -> Vec<Warning> {
        if self.dropped > 0 {
            self.kept.push(Warning {
                path: "/".into(),
                message: format!("{} more warnings not shown", self.dropped),
            });
        }
        self.kept
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn not_csaf(path: &str, problem: impl Into<String>) -> CsafError {
    CsafError::NotCsaf {
        path: path.to_owned(),
        problem: problem.into(),
    }
}

/// A required object member.
fn required<'a>(parent: &'a Value, key: &str, path: &str) -> Result<&'a Value, CsafError> {
    let at = format!("{path}/{key}");
    match parent.get(key) {
        Some(value @ Value::Object(_)) => Ok(value),
        Some(other) => Err(not_csaf(
            &at,
            format!("expected an object, found {}", kind_of(other)),
        )),
        None => Err(not_csaf(&at, "missing")),
    }
}

/// An optional string member; warns when it is there but not a string.
fn opt_str<'a>(
    parent: &'a Value,
    key: &str,
    path: &str,
    warnings: &mut Warnings,
) -> Option<&'a str> {
    match parent.get(key)? {
        Value::String(s) => Some(s.as_str()),
        other => {
            warnings.push(
                format!("{path}/{key}"),
                format!("expected a string, found {}", kind_of(other)),
            );
            None
        }
    }
}

/// An optional array member; warns when it is there but not an array.
fn opt_array<'a>(parent: &'a Value, key: &str, path: &str, warnings: &mut Warnings) -> &'a [Value] {
    match parent.get(key) {
        None | Some(Value::Null) => &[],
        Some(Value::Array(items)) => items,
        Some(other) => {
            warnings.push(
                format!("{path}/{key}"),
                format!("expected an array, found {}", kind_of(other)),
            );
            &[]
        }
    }
}

/// An array of product ids (`product_ids`, `products`, a `product_status` list).
fn product_ids<'a>(
    parent: &'a Value,
    key: &str,
    path: &str,
    warnings: &mut Warnings,
) -> Vec<&'a str> {
    let mut ids = Vec::new();
    for (i, item) in opt_array(parent, key, path, warnings).iter().enumerate() {
        match item {
            Value::String(id) => ids.push(id.as_str()),
            other => warnings.push(
                format!("{path}/{key}/{i}"),
                format!("expected a product id, found {}", kind_of(other)),
            ),
        }
    }
    ids
}

fn read_document(
    root: &Value,
    source: &str,
    warnings: &mut Warnings,
) -> Result<Advisory, CsafError> {
    if !root.is_object() {
        return Err(not_csaf(
            "",
            format!("expected a JSON object, found {}", kind_of(root)),
        ));
    }
    let document = required(root, "document", "")?;
    match document.get("csaf_version") {
        Some(Value::String(v)) if v == "2.0" || v == "2.1" => {}
        Some(Value::String(v)) => {
            return Err(not_csaf(
                "/document/csaf_version",
                format!("expected \"2.0\", found {v:?}"),
            ));
        }
        Some(other) => {
            return Err(not_csaf(
                "/document/csaf_version",
                format!("expected \"2.0\", found {}", kind_of(other)),
            ));
        }
        None => return Err(not_csaf("/document/csaf_version", "missing")),
    }
    let tracking = required(document, "tracking", "/document")?;
    let id = match tracking.get("id") {
        Some(Value::String(id)) if !id.trim().is_empty() => id.trim(),
        Some(Value::String(_)) => return Err(not_csaf("/document/tracking/id", "empty")),
        Some(other) => {
            return Err(not_csaf(
                "/document/tracking/id",
                format!("expected a string, found {}", kind_of(other)),
            ));
        }
        None => return Err(not_csaf("/document/tracking/id", "missing")),
    };
    if opt_str(document, "category", "/document", warnings).is_none() {
        warnings.push("/document/category", "missing; read as a security advisory");
    }

    let vendor = match document
        .get("publisher")
        .and_then(|p| opt_str(p, "name", "/document/publisher", warnings))
    {
        Some(name) if !name.trim().is_empty() => name.trim().to_owned(),
        _ => {
            warnings.push("/document/publisher/name", "missing; vendor unknown");
            "unknown".to_owned()
        }
    };
    let title = opt_str(document, "title", "/document", warnings).map(|t| t.trim().to_owned());
    let released = release_date(tracking, warnings);
    let url = self_url(document, warnings);

    let tree = read_product_tree(root, &vendor, warnings);
    let mut reading = Vulnerabilities::new(&tree);
    for (i, vulnerability) in opt_array(root, "vulnerabilities", "", warnings)
        .iter()
        .enumerate()
    {
        reading.read(vulnerability, &format!("/vulnerabilities/{i}"), warnings);
    }

    let aggregate = document
        .get("aggregate_severity")
        .and_then(|a| opt_str(a, "text", "/document/aggregate_severity", warnings))
        .map(Severity::from_vendor_word)
        .unwrap_or(Severity::Unrated);
    let vulnerabilities = reading.vulnerabilities();
    let severity = first_rated([
        aggregate,
        most_severe(reading.impact_words.iter().copied()),
        vulnerabilities
            .iter()
            .filter_map(Vulnerability::best_score)
            .reduce(f64::max)
            .map_or(Severity::Unrated, Severity::from_cvss),
    ]);
    let fixes = product_tree::latest_fixed(reading.fixes);
    let product = product_tree::advisory_product(&fixes, &tree, &vendor);
    Ok(Advisory {
        reference: AdvisoryRef {
            source: source.to_owned(),
            id: id.to_owned(),
            url,
        },
        patch: PatchId(id.to_owned()),
        vendor,
        product,
        title,
        classification: if vulnerabilities.is_empty() {
            Classification::Other
        } else {
            Classification::Security
        },
        severity,
        released,
        vulnerabilities,
        fixes,
        files: Vec::new(),
        references: reading.references,
        supersedes: Vec::new(),
        restart_required: reading.restart_required,
    })
}

/// The first rating that is not unrated.
pub(crate) fn first_rated(ratings: impl IntoIterator<Item = Severity>) -> Severity {
    ratings
        .into_iter()
        .find(|s| *s != Severity::Unrated)
        .unwrap_or(Severity::Unrated)
}

/// The most severe of some ratings (`Unrated` only when all are).
pub(crate) fn most_severe(ratings: impl IntoIterator<Item = Severity>) -> Severity {
    ratings
        .into_iter()
        .filter(|s| *s != Severity::Unrated)
        .min()
        .unwrap_or(Severity::Unrated)
}

fn release_date(tracking: &Value, warnings: &mut Warnings) -> Option<jiff::Timestamp> {
    let path = "/document/tracking";
    if let Some(text) = opt_str(tracking, "initial_release_date", path, warnings) {
        match parse_timestamp(text) {
            Some(t) => return Some(t),
            None => warnings.push(
                format!("{path}/initial_release_date"),
                format!("unreadable date {text:?}"),
            ),
        }
    }
    let revisions = opt_array(tracking, "revision_history", path, warnings);
    let earliest = revisions
        .iter()
        .filter_map(|r| r.get("date").and_then(Value::as_str))
        .filter_map(parse_timestamp)
        .min();
    if earliest.is_some() {
        return earliest;
    }
    opt_str(tracking, "current_release_date", path, warnings).and_then(parse_timestamp)
}

/// Reads the timestamps vendors write: RFC 3339 with `Z` or any offset and
/// any fraction (`2024-01-04T07:00:00.000000Z`, `2024-07-15T16:12:25+00:00`);
/// a date-time without offset (`2024-03-12T07:00:00`) or a bare date is UTC.
pub(crate) fn parse_timestamp(text: &str) -> Option<jiff::Timestamp> {
    let text = text.trim();
    if let Ok(t) = text.parse::<jiff::Timestamp>() {
        return Some(t);
    }
    if let Ok(dt) = text.parse::<jiff::civil::DateTime>() {
        return jiff::tz::TimeZone::UTC.to_timestamp(dt).ok();
    }
    let date = text.parse::<jiff::civil::Date>().ok()?;
    jiff::tz::TimeZone::UTC
        .to_timestamp(date.to_datetime(jiff::civil::Time::midnight()))
        .ok()
}

/// The document's own web page: its first `self` reference that is not the
/// CSAF file itself.
fn self_url(document: &Value, warnings: &mut Warnings) -> Option<String> {
    let references = opt_array(document, "references", "/document", warnings);
    let selves: Vec<&str> = references
        .iter()
        .filter(|r| r.get("category").and_then(Value::as_str) == Some("self"))
        .filter_map(|r| r.get("url").and_then(Value::as_str))
        .collect();
    selves
        .iter()
        .find(|u| !u.ends_with(".json"))
        .or(selves.first())
        .map(|u| (*u).to_owned())
}

fn read_product_tree(root: &Value, publisher: &str, warnings: &mut Warnings) -> ProductTree {
    let mut tree = ProductTree::new(publisher);
    let Some(value) = root.get("product_tree") else {
        return tree;
    };
    let path = "/product_tree";
    if !value.is_object() {
        warnings.push(
            path,
            format!("expected an object, found {}", kind_of(value)),
        );
        return tree;
    }
    for (i, branch) in opt_array(value, "branches", path, warnings)
        .iter()
        .enumerate()
    {
        read_branch(
            branch,
            &BranchContext::default(),
            &format!("{path}/branches/{i}"),
            1,
            &mut tree,
            warnings,
        );
    }
    for (i, product) in opt_array(value, "full_product_names", path, warnings)
        .iter()
        .enumerate()
    {
        read_full_product_name(
            product,
            &BranchContext::default(),
            &format!("{path}/full_product_names/{i}"),
            &mut tree,
            warnings,
        );
    }
    for (i, relationship) in opt_array(value, "relationships", path, warnings)
        .iter()
        .enumerate()
    {
        read_relationship(
            relationship,
            &format!("{path}/relationships/{i}"),
            &mut tree,
            warnings,
        );
    }
    tree
}

fn read_branch(
    branch: &Value,
    context: &BranchContext,
    path: &str,
    depth: usize,
    tree: &mut ProductTree,
    warnings: &mut Warnings,
) {
    if depth > MAX_BRANCH_DEPTH {
        warnings.push(
            path,
            format!("branches nest deeper than {MAX_BRANCH_DEPTH}; skipped"),
        );
        return;
    }
    if !branch.is_object() {
        warnings.push(
            path,
            format!("expected a branch object, found {}", kind_of(branch)),
        );
        return;
    }
    let category = opt_str(branch, "category", path, warnings).unwrap_or("");
    let name = opt_str(branch, "name", path, warnings).unwrap_or("");
    let context = context.enter(BranchKind::parse(category), name);
    if let Some(product) = branch.get("product") {
        read_full_product_name(
            product,
            &context,
            &format!("{path}/product"),
            tree,
            warnings,
        );
    }
    for (i, child) in opt_array(branch, "branches", path, warnings)
        .iter()
        .enumerate()
    {
        read_branch(
            child,
            &context,
            &format!("{path}/branches/{i}"),
            depth + 1,
            tree,
            warnings,
        );
    }
}

fn read_full_product_name(
    product: &Value,
    context: &BranchContext,
    path: &str,
    tree: &mut ProductTree,
    warnings: &mut Warnings,
) {
    if !product.is_object() {
        warnings.push(
            path,
            format!(
                "expected a full product name object, found {}",
                kind_of(product)
            ),
        );
        return;
    }
    let Some(id) = opt_str(product, "product_id", path, warnings) else {
        warnings.push(format!("{path}/product_id"), "missing; product skipped");
        return;
    };
    let name = opt_str(product, "name", path, warnings).unwrap_or(id);
    let helper = product.get("product_identification_helper");
    let helper_path = format!("{path}/product_identification_helper");
    let cpe = helper.and_then(|h| opt_str(h, "cpe", &helper_path, warnings));
    let purl = helper.and_then(|h| opt_str(h, "purl", &helper_path, warnings));
    if !tree.add_product(id, context.product(name, cpe, purl)) {
        warnings.push(
            format!("{path}/product_id"),
            format!("product id {id:?} is defined twice; the first definition is used"),
        );
    }
}

fn read_relationship(
    relationship: &Value,
    path: &str,
    tree: &mut ProductTree,
    warnings: &mut Warnings,
) {
    if !relationship.is_object() {
        warnings.push(
            path,
            format!(
                "expected a relationship object, found {}",
                kind_of(relationship)
            ),
        );
        return;
    }
    let category = opt_str(relationship, "category", path, warnings).unwrap_or("");
    let component = opt_str(relationship, "product_reference", path, warnings);
    let target = opt_str(relationship, "relates_to_product_reference", path, warnings);
    let full = relationship.get("full_product_name");
    let id = full.and_then(|f| {
        opt_str(
            f,
            "product_id",
            &format!("{path}/full_product_name"),
            warnings,
        )
    });
    let (Some(component), Some(target), Some(id)) = (component, target, id) else {
        warnings.push(path, "needs product_reference, relates_to_product_reference and full_product_name/product_id; skipped");
        return;
    };
    let relationship = Relationship {
        category: category.to_owned(),
        component: component.to_owned(),
        target: target.to_owned(),
    };
    if !tree.add_relationship(id, relationship) {
        warnings.push(
            format!("{path}/full_product_name/product_id"),
            format!("product id {id:?} is defined twice; the first definition is used"),
        );
    }
}

/// What the vulnerabilities of one document add up to.
struct Vulnerabilities<'t> {
    tree: &'t ProductTree,
    by_id: BTreeMap<String, Vulnerability>,
    /// First-seen order of vulnerability ids.
    order: Vec<String>,
    /// Each vulnerability's first fixed versions. A fix implied by an affected
    /// range counts only where the vulnerability lists no fix of that package.
    fixes: Vec<Fix>,
    references: Vec<String>,
    restart_required: Option<bool>,
    impact_words: Vec<Severity>,
    /// What each product id resolves to, so that warnings are given once.
    resolved: HashMap<String, Option<Fix>>,
}

impl<'t> Vulnerabilities<'t> {
    fn new(tree: &'t ProductTree) -> Self {
        Vulnerabilities {
            tree,
            by_id: BTreeMap::new(),
            order: Vec::new(),
            fixes: Vec::new(),
            references: Vec::new(),
            restart_required: None,
            impact_words: Vec::new(),
            resolved: HashMap::new(),
        }
    }

    fn read(&mut self, vulnerability: &Value, path: &str, warnings: &mut Warnings) {
        if !vulnerability.is_object() {
            warnings.push(
                path,
                format!(
                    "expected a vulnerability object, found {}",
                    kind_of(vulnerability)
                ),
            );
            return;
        }
        let id = opt_str(vulnerability, "cve", path, warnings)
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .or_else(|| {
                opt_array(vulnerability, "ids", path, warnings)
                    .iter()
                    .find_map(|i| i.get("text").and_then(Value::as_str))
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
            });
        let Some(id) = id else {
            warnings.push(
                path,
                "has neither cve nor ids; its CVSS is not recorded (its fixes are)",
            );
            self.read_statuses(vulnerability, path, warnings);
            return;
        };
        let mut record = Vulnerability::new(id);

        for (i, score) in opt_array(vulnerability, "scores", path, warnings)
            .iter()
            .enumerate()
        {
            for key in ["cvss_v2", "cvss_v3", "cvss_v4"] {
                if let Some(object) = score.get(key) {
                    match read_cvss(object, key) {
                        Ok(cvss) => add_cvss(&mut record.cvss, cvss),
                        Err(problem) => warnings.push(format!("{path}/scores/{i}/{key}"), problem),
                    }
                }
            }
        }
        for (i, threat) in opt_array(vulnerability, "threats", path, warnings)
            .iter()
            .enumerate()
        {
            let threat_path = format!("{path}/threats/{i}");
            let details = opt_str(threat, "details", &threat_path, warnings).unwrap_or("");
            match opt_str(threat, "category", &threat_path, warnings) {
                Some("impact") => self.impact_words.push(Severity::from_vendor_word(details)),
                Some("exploit_status") => record.known_exploited |= says_exploited(details),
                _ => {}
            }
        }
        match self.by_id.get_mut(id) {
            Some(known) => {
                known.known_exploited |= record.known_exploited;
                for cvss in record.cvss {
                    add_cvss(&mut known.cvss, cvss);
                }
            }
            None => {
                self.order.push(id.to_owned());
                self.by_id.insert(id.to_owned(), record);
            }
        }
        self.read_statuses(vulnerability, path, warnings);
    }

    /// The fixes of one vulnerability: its first fixed version per package.
    fn read_statuses(&mut self, vulnerability: &Value, path: &str, warnings: &mut Warnings) {
        let mut affected = HashSet::new();
        let mut fixes = Vec::new();
        let mut range_fixes = Vec::new();
        if let Some(status) = vulnerability.get("product_status") {
            let status_path = format!("{path}/product_status");
            for key in ["first_fixed", "fixed", "recommended"] {
                for (k, id) in product_ids(status, key, &status_path, warnings)
                    .into_iter()
                    .enumerate()
                {
                    if let Some(fix) =
                        self.resolve(id, &format!("{status_path}/{key}/{k}"), warnings)
                    {
                        fixes.push(fix);
                    }
                }
            }
            for key in ["known_affected", "first_affected", "last_affected"] {
                affected.extend(product_ids(status, key, &status_path, warnings));
            }
        }
        for (i, remediation) in opt_array(vulnerability, "remediations", path, warnings)
            .iter()
            .enumerate()
        {
            let remediation_path = format!("{path}/remediations/{i}");
            if opt_str(remediation, "category", &remediation_path, warnings) != Some("vendor_fix") {
                continue;
            }
            if let Some(url) =
                opt_str(remediation, "url", &remediation_path, warnings).map(str::trim)
                && !url.is_empty()
                && !self.references.iter().any(|r| r == url)
            {
                // A vendor_fix URL is an errata page or a downloads page, not a file to stage.
                self.references.push(url.to_owned());
            }
            if let Some(restart) = remediation.get("restart_required").and_then(|r| {
                opt_str(
                    r,
                    "category",
                    &format!("{remediation_path}/restart_required"),
                    warnings,
                )
            }) {
                let needed = matches!(restart, "machine" | "system" | "zone");
                self.restart_required = Some(self.restart_required.unwrap_or(false) | needed);
            }
            for id in product_ids(remediation, "product_ids", &remediation_path, warnings) {
                if affected.contains(id)
                    && let Some(fix) = self.tree.fix_from_affected_range(id)
                {
                    range_fixes.push(fix);
                }
            }
        }
        let listed: HashSet<(String, String)> = fixes
            .iter()
            .map(|f| (f.platform.0.clone(), f.package.clone()))
            .collect();
        range_fixes.retain(|f| !listed.contains(&(f.platform.0.clone(), f.package.clone())));
        self.fixes.extend(product_tree::first_fixed(
            fixes.into_iter().chain(range_fixes),
        ));
    }

    fn resolve(&mut self, id: &str, path: &str, warnings: &mut Warnings) -> Option<Fix> {
        if let Some(known) = self.resolved.get(id) {
            return known.clone();
        }
        let fix = match self.tree.fix_for(id) {
            Ok(fix) => Some(fix),
            Err(problem) => {
                warnings.push(path, format!("{problem}; no fix recorded for it"));
                None
            }
        };
        self.resolved.insert(id.to_owned(), fix.clone());
        fix
    }

    /// The vulnerabilities in document order.
    fn vulnerabilities(&self) -> Vec<Vulnerability> {
        self.order
            .iter()
            .filter_map(|id| self.by_id.get(id).cloned())
            .collect()
    }
}

/// MSRC writes `Publicly Disclosed:No;Exploited:Yes;...`; others write prose.
pub(crate) fn says_exploited(details: &str) -> bool {
    let lower = details.to_ascii_lowercase();
    lower.split(';').any(|part| {
        let part = part.trim();
        part == "exploited:yes"
            || part.starts_with("exploited in the wild")
            || part.starts_with("actively exploited")
    })
}

/// Keeps the highest score per CVSS version.
pub(crate) fn add_cvss(scores: &mut Vec<Cvss>, cvss: Cvss) {
    match scores.iter_mut().find(|c| c.version == cvss.version) {
        Some(known) if known.score < cvss.score => *known = cvss,
        Some(_) => {}
        None => scores.push(cvss),
    }
}

/// The CVSS version a vector names: `CVSS:3.1/…` → `3.1`; a vector without
/// prefix is version 2.
pub(crate) fn cvss_version_of_vector(vector: &str) -> Option<&str> {
    match vector.trim().strip_prefix("CVSS:") {
        Some(rest) => rest.split('/').next().filter(|v| !v.is_empty()),
        None if vector.contains("AV:") => Some("2.0"),
        None => None,
    }
}

/// Checks a base score: a number from 0 to 10.
pub(crate) fn base_score(score: Option<f64>) -> Result<f64, String> {
    match score {
        Some(s) if s.is_finite() && (0.0..=10.0).contains(&s) => Ok(s),
        Some(s) => Err(format!("base score {s} is not between 0 and 10")),
        None => Err("has no numeric baseScore".to_owned()),
    }
}

fn read_cvss(object: &Value, key: &str) -> Result<Cvss, String> {
    let score = object.get("baseScore").and_then(|s| match s {
        Value::Number(n) => n.as_f64(),
        Value::String(t) => t.trim().parse().ok(),
        _ => None,
    });
    let score = base_score(score)?;
    let vector = object
        .get("vectorString")
        .and_then(Value::as_str)
        .map(|v| v.trim().to_owned());
    let version = object
        .get("version")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| {
            vector
                .as_deref()
                .and_then(cvss_version_of_vector)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| match key {
            "cvss_v2" => "2.0".to_owned(),
            "cvss_v4" => "4.0".to_owned(),
            _ => "3.0".to_owned(),
        });
    Ok(Cvss {
        version,
        score,
        vector,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_in_every_shape_vendors_write_them() {
        let utc = |s: &str| parse_timestamp(s).map(|t| t.to_string());
        assert_eq!(
            utc("2024-01-04T07:00:00.000000Z"),
            Some("2024-01-04T07:00:00Z".into())
        );
        assert_eq!(
            utc("2024-07-15T16:12:25+00:00"),
            Some("2024-07-15T16:12:25Z".into())
        );
        assert_eq!(
            utc("2022-03-14T13:10:55.000+01:00"),
            Some("2022-03-14T12:10:55Z".into())
        );
        assert_eq!(
            utc("2024-03-12T07:00:00"),
            Some("2024-03-12T07:00:00Z".into())
        );
        assert_eq!(utc("2024-03-12"), Some("2024-03-12T00:00:00Z".into()));
        assert_eq!(utc("last Tuesday"), None);
    }

    #[test]
    fn cvss_versions_come_from_the_vector_when_not_given() {
        assert_eq!(cvss_version_of_vector("CVSS:3.1/AV:N/AC:L"), Some("3.1"));
        assert_eq!(
            cvss_version_of_vector("AV:N/AC:L/Au:N/C:P/I:N/A:C"),
            Some("2.0")
        );
        assert_eq!(cvss_version_of_vector("CVSS:4.0/AV:N"), Some("4.0"));
    }

    #[test]
    fn only_msrc_yes_or_prose_says_exploited() {
        assert!(says_exploited(
            "Publicly Disclosed:No;Exploited:Yes;Latest Software Release:Exploitation Detected"
        ));
        assert!(!says_exploited(
            "Publicly Disclosed:No;Exploited:No;Latest Software Release:Exploitation Less Likely"
        ));
    }
}
