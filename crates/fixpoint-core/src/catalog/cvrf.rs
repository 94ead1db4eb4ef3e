//! CVRF XML documents (ICASI CVRF 1.1 as Microsoft's MSRC publishes it,
//! OASIS CSAF CVRF 1.2 as SUSE publishes it) into [`Advisory`] values.
//!
//! ```text
//!  bytes ─quick-xml─▶ element tree (limits: size, depth; no DTD entities)
//!        ─▶ DocumentTracking, ProductTree ─▶ ProductTree (shared with CSAF)
//!        ─▶ Vulnerability* ─┬─ Microsoft: one advisory per KB ("Vendor Fix" remediations)
//!                           └─ others:    one advisory per document (SUSE)
//! ```
//!
//! **Microsoft.** A monthly MSRC document describes many updates. Each
//! `Vendor Fix` remediation whose `<Description>` is a KB number (`5035845`,
//! `KB5035845`) contributes to the advisory of patch `KB5035845`: the CVE of its
//! vulnerability (with the CVSS score sets and `Severity` threats that apply to
//! the remediation's products), one [`Fix`] per `ProductID` (platform `windows`,
//! package the `FullProductName`, kind product, fixed version `<FixedBuild>`
//! when given), its `<URL>` as a file, `<Supercedence>` (Microsoft's spelling)
//! as superseded KBs, and `<RestartRequired>` (`Yes`/`No`; `Maybe` says
//! nothing). Vendor fixes without a KB but with a fixed build (Visual Studio's
//! "Release Notes") become a patch named `{product}/{fixed build}`, like
//! Debian's `{package}/{version}`. Every KB advisory is classified security
//! and released on the document's initial release date.
//!
//! **SUSE and others.** One advisory per document, patch id
//! `DocumentTracking/Identification/ID` (`SUSE-SU-2015:0011-2`). Fixed packages
//! are the product ids of `Fixed`, `First Fixed` and `Recommended` statuses,
//! resolved through `Relationship`s exactly as CSAF's are: SUSE's
//! `SUSE Linux Enterprise Server 12:kernel-default-3.12.32-33.1` is the
//! relationship placing component `kernel-default-3.12.32-33.1` (split as an RPM
//! `name-version-release`: package `kernel-default`, fixed `3.12.32-33.1`) on
//! the product whose CPE `cpe:/o:suse:sles:12` names platform `sles:12`. CVSS v2
//! (`ScoreSetV2`) and v3 (`ScoreSetV3`) base scores with their vectors.
//!
//! Refused: more than [`MAX_DOCUMENT_BYTES`], not UTF-8, not well-formed, a
//! DOCTYPE that declares entities (no entity is ever expanded: only the five
//! predefined ones and character references are read), elements nested deeper
//! than [`MAX_DEPTH`], a root other than `cvrfdoc`, no document id.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;

pub use crate::catalog::csaf::{Parsed, Warning};
use crate::catalog::csaf::{
    Warnings, add_cvss, base_score, cvss_version_of_vector, first_rated, most_severe,
    parse_timestamp, says_exploited,
};
use crate::catalog::model::{
    Advisory, AdvisoryRef, Cvss, Fix, PackageKind, PatchId, Platform, Vulnerability,
};
use crate::catalog::product_tree::{self, BranchContext, BranchKind, ProductTree, Relationship};
use crate::rating::{Classification, Severity};

/// Documents larger than this are refused before parsing.
pub const MAX_DOCUMENT_BYTES: usize = 128 * 1024 * 1024;

/// Elements nest at most this deep (CVRF itself needs about ten).
pub const MAX_DEPTH: usize = 128;

/// Why a document is not a CVRF document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CvrfError {
    #[error("document is {size} bytes, more than the {limit} bytes a CVRF document may have")]
    TooLarge { size: usize, limit: usize },
    #[error("not UTF-8: invalid byte sequence at byte {offset}")]
    NotUtf8 { offset: usize },
    #[error("not well-formed XML at line {line}, column {column}: {problem}")]
    NotXml {
        line: usize,
        column: usize,
        problem: String,
    },
    #[error(
        "refused at line {line}, column {column}: the DOCTYPE declares entities, which CVRF never needs (entity expansion is not allowed)"
    )]
    EntityDeclaration { line: usize, column: usize },
    #[error("refused at line {line}, column {column}: elements nest deeper than {limit}")]
    TooDeep {
        line: usize,
        column: usize,
        limit: usize,
    },
    #[error("not a CVRF document: {path}: {problem}")]
    NotCvrf { path: String, problem: String },
}

impl CvrfError {
    /// A bounded label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            CvrfError::TooLarge { .. } => "too_large",
            CvrfError::NotUtf8 { .. } => "not_utf8",
            CvrfError::NotXml { .. } => "not_xml",
            CvrfError::EntityDeclaration { .. } => "entity_declaration",
            CvrfError::TooDeep { .. } => "too_deep",
            CvrfError::NotCvrf { .. } => "not_cvrf",
        }
    }
}

/// Parses one CVRF document into its advisories: one per KB for Microsoft,
/// one for the document otherwise. `source` names the catalog source.
pub fn parse(bytes: &[u8], source: &str) -> Result<Vec<Advisory>, CvrfError> {
    parse_with_warnings(bytes, source).map(|parsed| parsed.advisories)
}

/// [`parse`], also returning what was skipped.
pub fn parse_with_warnings(bytes: &[u8], source: &str) -> Result<Parsed, CvrfError> {
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(CvrfError::TooLarge {
            size: bytes.len(),
            limit: MAX_DOCUMENT_BYTES,
        });
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| CvrfError::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    let root = read_tree(text)?;
    if root.name != "cvrfdoc" {
        return Err(not_cvrf(
            "/",
            format!("the root element is <{}>, expected <cvrfdoc>", root.name),
        ));
    }
    let mut warnings = Warnings::default();
    let advisories = Document::read(&root, source, &mut warnings)?.advisories(&mut warnings);
    Ok(Parsed {
        advisories,
        warnings: warnings.into_vec(),
    })
}

fn not_cvrf(path: &str, problem: impl Into<String>) -> CvrfError {
    CvrfError::NotCvrf {
        path: path.to_owned(),
        problem: problem.into(),
    }
}

// ---------------------------------------------------------------------------
// XML into a small element tree

/// An element: its local name (prefixes dropped: MSRC writes `vuln:CVE`, SUSE
/// a default namespace), attributes by local name, children and text.
#[derive(Debug, Default)]
struct Element {
    name: String,
    attributes: Vec<(String, String)>,
    children: Vec<Element>,
    text: String,
}

impl Element {
    fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    fn children<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
    }

    /// The trimmed text of the element at `path` below this one, if not empty.
    fn text_at(&self, path: &[&str]) -> Option<&str> {
        let mut element = self;
        for name in path {
            element = element.child(name)?;
        }
        Some(element.text.trim()).filter(|t| !t.is_empty())
    }

    fn texts<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.children(name)
            .map(|c| c.text.trim())
            .filter(|t| !t.is_empty())
    }
}

fn line_column(text: &str, offset: u64) -> (usize, usize) {
    let offset = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(text.len());
    let before = text.as_bytes().get(..offset).unwrap_or_default();
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let column = before.iter().rev().take_while(|b| **b != b'\n').count() + 1;
    (line, column)
}

fn read_tree(text: &str) -> Result<Element, CvrfError> {
    let mut reader = Reader::from_str(text);
    let not_xml = |offset: u64, problem: String| {
        let (line, column) = line_column(text, offset);
        CvrfError::NotXml {
            line,
            column,
            problem,
        }
    };
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let at = reader.buffer_position();
        let event = reader
            .read_event()
            .map_err(|e| not_xml(reader.error_position(), e.to_string()))?;
        match event {
            Event::Start(start) => {
                if stack.len() >= MAX_DEPTH {
                    let (line, column) = line_column(text, at);
                    return Err(CvrfError::TooDeep {
                        line,
                        column,
                        limit: MAX_DEPTH,
                    });
                }
                stack.push(element(&start).map_err(|p| not_xml(at, p))?);
            }
            Event::Empty(start) => {
                let element = element(&start).map_err(|p| not_xml(at, p))?;
                attach(&mut stack, &mut root, element).map_err(|p| not_xml(at, p))?;
            }
            Event::End(_) => {
                // quick-xml has checked that the end tag matches.
                if let Some(element) = stack.pop() {
                    attach(&mut stack, &mut root, element).map_err(|p| not_xml(at, p))?;
                }
            }
            Event::Text(content) => {
                if let Some(open) = stack.last_mut() {
                    open.text
                        .push_str(&content.xml_content(XmlVersion::Implicit1_0));
                }
            }
            Event::CData(content) => {
                if let Some(open) = stack.last_mut() {
                    open.text
                        .push_str(&content.xml_content(XmlVersion::Implicit1_0));
                }
            }
            Event::GeneralRef(reference) => {
                let character = match reference.resolve_char_ref() {
                    Ok(Some(c)) => c,
                    Ok(None) => predefined_entity(&reference).ok_or_else(|| {
                        not_xml(at, format!("undefined entity &{};", &*reference))
                    })?,
                    Err(e) => return Err(not_xml(at, e.to_string())),
                };
                if let Some(open) = stack.last_mut() {
                    open.text.push(character);
                }
            }
            Event::DocType(doctype) => {
                if doctype.to_ascii_uppercase().contains("<!ENTITY") {
                    let (line, column) = line_column(text, at);
                    return Err(CvrfError::EntityDeclaration { line, column });
                }
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
        }
    }
    if let Some(open) = stack.last() {
        let (line, column) = line_column(text, text.len() as u64);
        return Err(CvrfError::NotXml {
            line,
            column,
            problem: format!("the document ends inside <{}> (truncated?)", open.name),
        });
    }
    root.ok_or_else(|| {
        let (line, column) = line_column(text, text.len() as u64);
        CvrfError::NotXml {
            line,
            column,
            problem: "no root element".into(),
        }
    })
}

fn predefined_entity(name: &str) -> Option<char> {
    match name {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "apos" => Some('\''),
        "quot" => Some('"'),
        _ => None,
    }
}

fn element(start: &BytesStart<'_>) -> Result<Element, String> {
    let mut attributes = Vec::new();
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|e| e.to_string())?;
        let value = attribute
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|e| e.to_string())?;
        attributes.push((
            attribute.key.local_name().as_ref().to_owned(),
            value.into_owned(),
        ));
    }
    Ok(Element {
        name: start.local_name().as_ref().to_owned(),
        attributes,
        children: Vec::new(),
        text: String::new(),
    })
}

fn attach(
    stack: &mut [Element],
    root: &mut Option<Element>,
    element: Element,
) -> Result<(), String> {
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None if root.is_none() => *root = Some(element),
        None => return Err(format!("a second root element <{}>", element.name)),
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The document

struct Document<'x> {
    root: &'x Element,
    source: String,
    id: String,
    vendor: String,
    microsoft: bool,
    title: Option<String>,
    released: Option<jiff::Timestamp>,
    url: Option<String>,
    tree: ProductTree,
}

impl<'x> Document<'x> {
    fn read(
        root: &'x Element,
        source: &str,
        warnings: &mut Warnings,
    ) -> Result<Document<'x>, CvrfError> {
        let id = root
            .text_at(&["DocumentTracking", "Identification", "ID"])
            .ok_or_else(|| {
                not_cvrf(
                    "/cvrfdoc/DocumentTracking/Identification/ID",
                    "missing or empty",
                )
            })?;
        let tree_element = root.child("ProductTree");
        let vendor = tree_element
            .and_then(first_vendor)
            .or_else(|| {
                root.text_at(&["DocumentPublisher", "IssuingAuthority"])
                    .filter(|a| a.len() <= 80 && !a.contains(". "))
            })
            .or_else(|| root.text_at(&["DocumentPublisher", "ContactDetails"]))
            .unwrap_or_else(|| {
                warnings.push("/cvrfdoc/DocumentPublisher", "names no vendor");
                "unknown"
            })
            .to_owned();
        let contact = root
            .text_at(&["DocumentPublisher", "ContactDetails"])
            .unwrap_or("");
        let microsoft = vendor.eq_ignore_ascii_case("microsoft")
            || contact.to_ascii_lowercase().contains("microsoft.com");
        let released = match root.text_at(&["DocumentTracking", "InitialReleaseDate"]) {
            Some(text) => {
                let parsed = parse_timestamp(text);
                if parsed.is_none() {
                    warnings.push(
                        "/cvrfdoc/DocumentTracking/InitialReleaseDate",
                        format!("unreadable date {text:?}"),
                    );
                }
                parsed.or_else(|| {
                    root.text_at(&["DocumentTracking", "CurrentReleaseDate"])
                        .and_then(parse_timestamp)
                })
            }
            None => root
                .text_at(&["DocumentTracking", "CurrentReleaseDate"])
                .and_then(parse_timestamp),
        };
        let url = root.child("DocumentReferences").and_then(|refs| {
            refs.children("Reference")
                .find(|r| {
                    r.attribute("Type")
                        .is_some_and(|t| t.eq_ignore_ascii_case("self"))
                })
                .and_then(|r| r.text_at(&["URL"]))
                .map(str::to_owned)
        });
        let mut tree = ProductTree::new(&vendor);
        if let Some(element) = tree_element {
            read_product_tree(element, "/cvrfdoc/ProductTree", &mut tree, warnings);
        }
        Ok(Document {
            root,
            source: source.to_owned(),
            id: id.to_owned(),
            vendor,
            microsoft,
            title: root.text_at(&["DocumentTitle"]).map(str::to_owned),
            released,
            url,
            tree,
        })
    }

    fn reference(&self) -> AdvisoryRef {
        AdvisoryRef {
            source: self.source.clone(),
            id: self.id.clone(),
            url: self.url.clone(),
        }
    }

    fn vulnerabilities(&self, warnings: &mut Warnings) -> Vec<VulnerabilityElement<'x>> {
        self.root
            .children("Vulnerability")
            .enumerate()
            .map(|(i, element)| {
                VulnerabilityElement::read(
                    element,
                    format!("/cvrfdoc/Vulnerability[{}]", i + 1),
                    warnings,
                )
            })
            .collect()
    }

    fn advisories(self, warnings: &mut Warnings) -> Vec<Advisory> {
        let vulnerabilities = self.vulnerabilities(warnings);
        if self.microsoft {
            self.per_update(&vulnerabilities, warnings)
        } else {
            vec![self.whole_document(&vulnerabilities, warnings)]
        }
    }

    /// One advisory for the whole document (SUSE, and any non-Microsoft CVRF).
    fn whole_document(
        &self,
        vulnerabilities: &[VulnerabilityElement<'_>],
        warnings: &mut Warnings,
    ) -> Advisory {
        let mut records: Vec<Vulnerability> = Vec::new();
        let mut fixes = Vec::new();
        let mut references: Vec<String> = Vec::new();
        let mut restart_required = None;
        let mut words = Vec::new();
        let mut resolved: HashMap<&str, Option<Fix>> = HashMap::new();
        for v in vulnerabilities {
            if let Some(record) = v.record(None) {
                match records.iter_mut().find(|r| r.id == record.id) {
                    Some(known) => {
                        known.known_exploited |= record.known_exploited;
                        for cvss in record.cvss {
                            add_cvss(&mut known.cvss, cvss);
                        }
                    }
                    None => records.push(record),
                }
            }
            words.extend(v.threat_words.iter().map(|(s, _)| *s));
            let mut listed = Vec::new();
            let mut range_fixes = Vec::new();
            for (k, id) in v.fixed.iter().enumerate() {
                let fix = resolved
                    .entry(id)
                    .or_insert_with(|| match self.tree.fix_for(id) {
                        Ok(fix) => Some(fix),
                        Err(problem) => {
                            warnings.push(
                                format!("{}/ProductStatuses/ProductID[{}]", v.path, k + 1),
                                format!("{problem}; no fix recorded for it"),
                            );
                            None
                        }
                    });
                listed.extend(fix.clone());
            }
            for remedy in v.remediations.iter().filter(|r| r.vendor_fix) {
                if let Some(url) = remedy.url
                    && !references.iter().any(|r| r == url)
                {
                    references.push(url.to_owned());
                }
                if let Some(restart) = remedy.restart {
                    restart_required = Some(restart_required.unwrap_or(false) | restart);
                }
                for id in remedy.products.iter().filter(|id| v.affected.contains(*id)) {
                    range_fixes.extend(self.tree.fix_from_affected_range(id));
                }
            }
            let packages: HashSet<(String, String)> = listed
                .iter()
                .map(|f: &Fix| (f.platform.0.clone(), f.package.clone()))
                .collect();
            range_fixes
                .retain(|f: &Fix| !packages.contains(&(f.platform.0.clone(), f.package.clone())));
            fixes.extend(product_tree::first_fixed(
                listed.into_iter().chain(range_fixes),
            ));
        }
        let fixes = product_tree::latest_fixed(fixes);
        let severity = first_rated([
            most_severe(words),
            records
                .iter()
                .filter_map(Vulnerability::best_score)
                .reduce(f64::max)
                .map_or(Severity::Unrated, Severity::from_cvss),
        ]);
        Advisory {
            reference: self.reference(),
            patch: PatchId(self.id.clone()),
            vendor: self.vendor.clone(),
            product: product_tree::advisory_product(&fixes, &self.tree, &self.vendor),
            title: self.title.clone(),
            classification: if records.is_empty() {
                Classification::Other
            } else {
                Classification::Security
            },
            severity,
            released: self.released,
            vulnerabilities: records,
            fixes,
            files: Vec::new(),
            references,
            supersedes: Vec::new(),
            restart_required,
        }
    }

    /// One advisory per update (KB) that the document's vendor fixes name.
    fn per_update(
        &self,
        vulnerabilities: &[VulnerabilityElement<'_>],
        warnings: &mut Warnings,
    ) -> Vec<Advisory> {
        let mut updates: BTreeMap<String, Update> = BTreeMap::new();
        let mut order: Vec<String> = Vec::new();
        let mut unnamed: HashSet<&str> = HashSet::new();
        for v in vulnerabilities {
            for (r, remedy) in v
                .remediations
                .iter()
                .enumerate()
                .filter(|(_, r)| r.vendor_fix)
            {
                let path = format!("{}/Remediations/Remediation[{}]", v.path, r + 1);
                // Each product of a remediation without a KB is its own patch.
                let keyed: Vec<(String, Vec<&str>)> = match (&remedy.kb, remedy.fixed_build) {
                    (Some(kb), _) => vec![(kb.clone(), remedy.products.clone())],
                    (None, Some(build)) => remedy
                        .products
                        .iter()
                        .map(|id| {
                            (
                                format!(
                                    "{}/{build}",
                                    self.product_name(id, &mut unnamed, &path, warnings)
                                ),
                                vec![*id],
                            )
                        })
                        .collect(),
                    (None, None) => {
                        warnings.push(
                            &path,
                            "vendor fix names neither a KB nor a fixed build; skipped",
                        );
                        continue;
                    }
                };
                for (patch, products) in keyed {
                    if !updates.contains_key(&patch) {
                        order.push(patch.clone());
                    }
                    let update = updates.entry(patch.clone()).or_default();
                    if let Some(record) = v.record(Some(&products)) {
                        match update
                            .vulnerabilities
                            .iter_mut()
                            .find(|u| u.id == record.id)
                        {
                            Some(known) => {
                                known.known_exploited |= record.known_exploited;
                                for cvss in record.cvss {
                                    add_cvss(&mut known.cvss, cvss);
                                }
                            }
                            None => update.vulnerabilities.push(record),
                        }
                    }
                    update.severities.extend(
                        v.threat_words
                            .iter()
                            .filter(|(_, ps)| {
                                ps.is_empty() || ps.iter().any(|p| products.contains(p))
                            })
                            .map(|(s, _)| *s),
                    );
                    for id in &products {
                        let name = self.product_name(id, &mut unnamed, &path, warnings);
                        update.fixes.push(Fix {
                            platform: Platform::new("windows", None),
                            package: name,
                            kind: PackageKind::Product,
                            fixed: remedy.fixed_build.map(str::to_owned),
                            introduced: None,
                            last_affected: None,
                            arch: None,
                        });
                        update
                            .families
                            .insert(self.tree.product(id).and_then(|p| p.family.clone()));
                    }
                    if let Some(url) = remedy.url
                        && !update.references.iter().any(|r| r == url)
                    {
                        // Catalog search pages and KB articles: for people, not for staging.
                        update.references.push(url.to_owned());
                    }
                    update
                        .supersedes
                        .extend(remedy.supersedes.iter().filter(|s| **s != patch).cloned());
                    if let Some(restart) = remedy.restart {
                        update.restart_required =
                            Some(update.restart_required.unwrap_or(false) | restart);
                    }
                }
            }
        }
        order
            .into_iter()
            .filter_map(|patch| updates.remove(&patch).map(|u| (patch, u)))
            .map(|(patch, update)| self.update_advisory(patch, update))
            .collect()
    }

    fn update_advisory(&self, patch: String, update: Update) -> Advisory {
        let fixes = product_tree::first_fixed(update.fixes);
        let product = match (fixes.as_slice(), update.families.len()) {
            ([only], _) => only.package.clone(),
            (_, 1) => update
                .families
                .into_iter()
                .flatten()
                .next()
                .unwrap_or_else(|| self.vendor.clone()),
            _ => self.vendor.clone(),
        };
        let severity = first_rated([
            most_severe(update.severities),
            update
                .vulnerabilities
                .iter()
                .filter_map(Vulnerability::best_score)
                .reduce(f64::max)
                .map_or(Severity::Unrated, Severity::from_cvss),
        ]);
        Advisory {
            reference: self.reference(),
            patch: PatchId(patch),
            vendor: self.vendor.clone(),
            product,
            title: self.title.clone(),
            classification: Classification::Security,
            severity,
            released: self.released,
            vulnerabilities: update.vulnerabilities,
            fixes,
            files: Vec::new(),
            references: update.references,
            supersedes: update.supersedes.into_iter().map(PatchId).collect(),
            restart_required: update.restart_required,
        }
    }

    /// The full product name of `id`, or `product {id}` (warned once) when the
    /// tree does not define it.
    fn product_name<'a>(
        &self,
        id: &'a str,
        unnamed: &mut HashSet<&'a str>,
        path: &str,
        warnings: &mut Warnings,
    ) -> String {
        match self.tree.product(id) {
            Some(product) => product.name.clone(),
            None => {
                if unnamed.insert(id) {
                    warnings.push(
                        path,
                        format!("product id {id:?} is not defined in the product tree"),
                    );
                }
                format!("product {id}")
            }
        }
    }
}

/// What one KB (or fixed build) adds up to over the document.
#[derive(Debug, Default)]
struct Update {
    vulnerabilities: Vec<Vulnerability>,
    fixes: Vec<Fix>,
    references: Vec<String>,
    supersedes: BTreeSet<String>,
    restart_required: Option<bool>,
    severities: Vec<Severity>,
    families: BTreeSet<Option<String>>,
}

fn first_vendor(tree: &Element) -> Option<&str> {
    tree.children("Branch").find_map(|branch| {
        if BranchKind::parse(branch.attribute("Type").unwrap_or("")) == BranchKind::Vendor {
            branch.attribute("Name").filter(|n| !n.is_empty())
        } else {
            first_vendor(branch)
        }
    })
}

fn read_product_tree(
    element: &Element,
    path: &str,
    tree: &mut ProductTree,
    warnings: &mut Warnings,
) {
    read_branches(element, &BranchContext::default(), path, tree, warnings);
    for (i, relationship) in element.children("Relationship").enumerate() {
        let at = format!("{path}/Relationship[{}]", i + 1);
        let component = relationship.attribute("ProductReference");
        let target = relationship.attribute("RelatesToProductReference");
        let category = relationship.attribute("RelationType").unwrap_or("");
        let names: Vec<&Element> = relationship.children("FullProductName").collect();
        let (Some(component), Some(target), false) = (component, target, names.is_empty()) else {
            warnings.push(
                at,
                "needs ProductReference, RelatesToProductReference and a FullProductName; skipped",
            );
            continue;
        };
        for name in names {
            let Some(id) = name.attribute("ProductID") else {
                warnings.push(&at, "FullProductName without ProductID; skipped");
                continue;
            };
            let relationship = Relationship {
                category: category.to_owned(),
                component: component.to_owned(),
                target: target.to_owned(),
            };
            if !tree.add_relationship(id, relationship) {
                warnings.push(
                    &at,
                    format!("product id {id:?} is defined twice; the first definition is used"),
                );
            }
        }
    }
}

fn read_branches(
    element: &Element,
    context: &BranchContext,
    path: &str,
    tree: &mut ProductTree,
    warnings: &mut Warnings,
) {
    for (i, name) in element.children("FullProductName").enumerate() {
        let at = format!("{path}/FullProductName[{}]", i + 1);
        let Some(id) = name.attribute("ProductID") else {
            warnings.push(at, "FullProductName without ProductID; skipped");
            continue;
        };
        let text = name.text.trim();
        let product = context.product(
            if text.is_empty() { id } else { text },
            name.attribute("CPE"),
            None,
        );
        if !tree.add_product(id, product) {
            warnings.push(
                at,
                format!("product id {id:?} is defined twice; the first definition is used"),
            );
        }
    }
    for (i, branch) in element.children("Branch").enumerate() {
        let kind = BranchKind::parse(branch.attribute("Type").unwrap_or(""));
        let below = context.enter(kind, branch.attribute("Name").unwrap_or(""));
        read_branches(
            branch,
            &below,
            &format!("{path}/Branch[{}]", i + 1),
            tree,
            warnings,
        );
    }
}

/// What one `<Vulnerability>` says, read once.
struct VulnerabilityElement<'x> {
    path: String,
    id: Option<&'x str>,
    /// CVSS scores with the products they are for (none: all).
    scores: Vec<(Cvss, Vec<&'x str>)>,
    /// `Impact` and `Severity` threat words with their products.
    threat_words: Vec<(Severity, Vec<&'x str>)>,
    exploited: bool,
    fixed: Vec<&'x str>,
    affected: HashSet<&'x str>,
    remediations: Vec<Remedy<'x>>,
}

struct Remedy<'x> {
    vendor_fix: bool,
    /// `KB5035845`, from a `<Description>` that is a KB number.
    kb: Option<String>,
    url: Option<&'x str>,
    supersedes: Vec<String>,
    products: Vec<&'x str>,
    restart: Option<bool>,
    fixed_build: Option<&'x str>,
}

impl<'x> VulnerabilityElement<'x> {
    fn read(
        element: &'x Element,
        path: String,
        warnings: &mut Warnings,
    ) -> VulnerabilityElement<'x> {
        let id = element
            .text_at(&["CVE"])
            .or_else(|| element.text_at(&["ID"]));
        if id.is_none() {
            warnings.push(
                &path,
                "has neither CVE nor ID; its scores are not recorded (its fixes are)",
            );
        }
        let mut scores = Vec::new();
        if let Some(sets) = element.child("CVSSScoreSets") {
            for (i, set) in sets.children.iter().enumerate() {
                let (score, vector, default_version) = match set.name.as_str() {
                    "ScoreSet" => (set.text_at(&["BaseScore"]), set.text_at(&["Vector"]), "3.0"),
                    "ScoreSetV2" => (
                        set.text_at(&["BaseScoreV2"]),
                        set.text_at(&["VectorV2"]),
                        "2.0",
                    ),
                    "ScoreSetV3" => (
                        set.text_at(&["BaseScoreV3"]),
                        set.text_at(&["VectorV3"]),
                        "3.0",
                    ),
                    "ScoreSetV4" => (
                        set.text_at(&["BaseScoreV4"]),
                        set.text_at(&["VectorV4"]),
                        "4.0",
                    ),
                    _ => continue,
                };
                match base_score(score.and_then(|s| s.parse().ok())) {
                    Ok(score) => {
                        let version = vector
                            .and_then(cvss_version_of_vector)
                            .unwrap_or(default_version);
                        let cvss = Cvss {
                            version: version.to_owned(),
                            score,
                            vector: vector.map(str::to_owned),
                        };
                        scores.push((cvss, set.texts("ProductID").collect()));
                    }
                    Err(problem) => warnings.push(
                        format!("{path}/CVSSScoreSets/{}[{}]", set.name, i + 1),
                        problem,
                    ),
                }
            }
        }
        let mut threat_words = Vec::new();
        let mut exploited = false;
        for threat in element
            .child("Threats")
            .into_iter()
            .flat_map(|t| t.children("Threat"))
        {
            let description = threat.text_at(&["Description"]).unwrap_or("");
            match threat
                .attribute("Type")
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("impact" | "severity") => {
                    threat_words.push((
                        Severity::from_vendor_word(description),
                        threat.texts("ProductID").collect(),
                    ));
                }
                Some("exploit status") => exploited |= says_exploited(description),
                _ => {}
            }
        }
        let mut fixed = Vec::new();
        let mut affected = HashSet::new();
        for status in element
            .child("ProductStatuses")
            .into_iter()
            .flat_map(|s| s.children("Status"))
        {
            match status
                .attribute("Type")
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("fixed" | "first fixed" | "recommended") => {
                    fixed.extend(status.texts("ProductID"))
                }
                Some("known affected" | "first affected" | "last affected") => {
                    affected.extend(status.texts("ProductID"))
                }
                _ => {}
            }
        }
        let remediations = element
            .child("Remediations")
            .into_iter()
            .flat_map(|r| r.children("Remediation"))
            .map(|remedy| Remedy {
                vendor_fix: remedy
                    .attribute("Type")
                    .is_some_and(|t| t.eq_ignore_ascii_case("vendor fix")),
                kb: remedy.text_at(&["Description"]).and_then(kb_number),
                url: remedy.text_at(&["URL"]),
                supersedes: remedy.texts("Supercedence").flat_map(kb_numbers).collect(),
                products: remedy.texts("ProductID").collect(),
                restart: remedy.text_at(&["RestartRequired"]).and_then(|r| {
                    match r.to_ascii_lowercase().as_str() {
                        "yes" | "true" => Some(true),
                        "no" | "false" => Some(false),
                        _ => None,
                    }
                }),
                fixed_build: remedy.text_at(&["FixedBuild"]),
            })
            .collect();
        VulnerabilityElement {
            path,
            id,
            scores,
            threat_words,
            exploited,
            fixed,
            affected,
            remediations,
        }
    }

    /// The vulnerability record, with the scores for `products` (all when `None`).
    fn record(&self, products: Option<&[&str]>) -> Option<Vulnerability> {
        let mut record = Vulnerability::new(self.id?);
        record.known_exploited = self.exploited;
        for (cvss, for_products) in &self.scores {
            let applies = match products {
                None => true,
                Some(products) => {
                    for_products.is_empty() || for_products.iter().any(|p| products.contains(p))
                }
            };
            if applies {
                add_cvss(&mut record.cvss, cvss.clone());
            }
        }
        Some(record)
    }
}

/// `5035845` or `KB5035845` → `KB5035845`.
fn kb_number(text: &str) -> Option<String> {
    let text = text.trim();
    let digits = text
        .strip_prefix("KB")
        .or_else(|| text.strip_prefix("kb"))
        .unwrap_or(text);
    (digits.len() >= 4 && digits.len() <= 9 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| format!("KB{digits}"))
}

/// Every KB number in a `<Supercedence>` (`3140745`, `3135174; 3140745`).
fn kb_numbers(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter_map(kb_number)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kb_numbers_are_read_with_or_without_prefix() {
        assert_eq!(kb_number("5035845"), Some("KB5035845".into()));
        assert_eq!(kb_number("KB5035845"), Some("KB5035845".into()));
        assert_eq!(kb_number("Release Notes"), None);
        assert_eq!(
            kb_numbers("3135174; 3140745"),
            vec!["KB3135174".to_owned(), "KB3140745".to_owned()]
        );
    }

    #[test]
    fn entities_other_than_the_predefined_ones_are_refused() {
        let doc = "<cvrfdoc><DocumentTitle>a &amp; b &#x41; &nope;</DocumentTitle></cvrfdoc>";
        let err = read_tree(doc).expect_err("undefined entity");
        assert!(err.to_string().contains("undefined entity &nope;"), "{err}");
        let doc = "<cvrfdoc><DocumentTitle>a &amp; b &#x41;</DocumentTitle></cvrfdoc>";
        let root = read_tree(doc).expect("well-formed");
        assert_eq!(root.text_at(&["DocumentTitle"]), Some("a & b A"));
    }
}
