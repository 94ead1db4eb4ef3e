//! Loading a policy repository: files in, typed documents and diagnostics out.
//!
//! The caller (a directory walker, a git tree reader, a test) hands us each
//! file's path and bytes; we never touch the filesystem. Every file is read,
//! every document checked, and every problem kept, so one run of
//! `fixpoint validate` shows a reviewer all that is wrong.

use std::collections::BTreeMap;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::de::{self, DeError, UnknownFields, did_you_mean};
use super::diagnostic::{Diagnostic, Level};
use super::kinds::*;
use super::yaml::{self, Limits, Node, Pos, Seg, Value};

/// The API version every policy document declares.
pub const API_VERSION: &str = "fixpoint.dev/v1alpha1";

/// Files larger than this are refused unread: a real policy file is a few kilobytes.
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;

/// The kinds of policy document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Kind {
    MachineGroup,
    ApprovalPolicy,
    Rollout,
    MaintenanceWindow,
    Exclusion,
    SoftwarePolicy,
    Settings,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::MachineGroup,
        Kind::ApprovalPolicy,
        Kind::Rollout,
        Kind::MaintenanceWindow,
        Kind::Exclusion,
        Kind::SoftwarePolicy,
        Kind::Settings,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::MachineGroup => "MachineGroup",
            Kind::ApprovalPolicy => "ApprovalPolicy",
            Kind::Rollout => "Rollout",
            Kind::MaintenanceWindow => "MaintenanceWindow",
            Kind::Exclusion => "Exclusion",
            Kind::SoftwarePolicy => "SoftwarePolicy",
            Kind::Settings => "Settings",
        }
    }

    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A document's `metadata`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metadata {
    /// The document's name, unique among documents of its kind: lowercase letters,
    /// digits and `-`, at most 63 characters.
    pub name: String,
    /// Labels for people and tools; not interpreted by Fixpoint.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations for people and tools; not interpreted by Fixpoint.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// Where a document came from: its file, and its YAML tree for locating fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Origin {
    pub file: Arc<str>,
    /// The document's YAML tree; diagnostics about a field find its position here.
    pub node: Arc<Node>,
}

impl Origin {
    /// The position of the field at `path` (from the document root, e.g.
    /// `["spec", "rings", 1, "groups", 0]`), or of its nearest existing parent.
    pub fn locate(&self, path: &[Seg]) -> Pos {
        self.node.locate(path)
    }
}

/// A typed policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct Document<S> {
    pub metadata: Metadata,
    pub spec: S,
    pub origin: Origin,
}

impl<S> Document<S> {
    pub fn name(&self) -> &str {
        &self.metadata.name
    }
}

/// Every document of a policy repository, by kind, in file order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PolicySet {
    pub groups: Vec<Document<MachineGroupSpec>>,
    pub approvals: Vec<Document<ApprovalPolicySpec>>,
    pub rollouts: Vec<Document<RolloutSpec>>,
    pub windows: Vec<Document<MaintenanceWindowSpec>>,
    pub exclusions: Vec<Document<ExclusionSpec>>,
    pub software: Vec<Document<SoftwarePolicySpec>>,
    pub settings: Vec<Document<SettingsSpec>>,
    /// Names of documents that failed to load, by kind. References to them are
    /// not reported again as unknown: the document's own error says enough.
    pub broken: Vec<(Kind, String)>,
}

impl PolicySet {
    pub fn group(&self, name: &str) -> Option<&Document<MachineGroupSpec>> {
        self.groups.iter().find(|d| d.name() == name)
    }

    pub fn approval(&self, name: &str) -> Option<&Document<ApprovalPolicySpec>> {
        self.approvals.iter().find(|d| d.name() == name)
    }

    pub fn window(&self, name: &str) -> Option<&Document<MaintenanceWindowSpec>> {
        self.windows.iter().find(|d| d.name() == name)
    }

    /// The effective settings: the `Settings` document, or the defaults.
    pub fn settings(&self) -> SettingsSpec {
        self.settings
            .first()
            .map(|d| d.spec.clone())
            .unwrap_or_default()
    }

    pub fn is_broken(&self, kind: Kind, name: &str) -> bool {
        self.broken.iter().any(|(k, n)| *k == kind && n == name)
    }

    /// Number of documents loaded.
    pub fn len(&self) -> usize {
        self.groups.len()
            + self.approvals.len()
            + self.rollouts.len()
            + self.windows.len()
            + self.exclusions.len()
            + self.software.len()
            + self.settings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The result of loading: what loaded, and what was wrong.
#[derive(Debug, Default)]
pub struct Loaded {
    pub set: PolicySet,
    pub diagnostics: Vec<Diagnostic>,
}

/// Loads every document of every file. `files` are (path for messages, bytes).
pub fn load<'a>(files: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Loaded {
    let mut loaded = Loaded::default();
    for (path, bytes) in files {
        load_file(path, bytes, &mut loaded);
    }
    loaded
}

fn load_file(path: &str, bytes: &[u8], out: &mut Loaded) {
    let file: Arc<str> = Arc::from(path);
    let start = Pos { line: 1, column: 1 };
    let mut error = |pos: Pos, code: &'static str, message: String| {
        out.diagnostics
            .push(Diagnostic::new(path, pos, Level::Error, code, message));
    };
    if bytes.len() > MAX_FILE_BYTES {
        error(
            start,
            "file-too-large",
            format!(
                "file is larger than {} MiB, the limit for a policy file",
                MAX_FILE_BYTES / (1024 * 1024)
            ),
        );
        return;
    }
    if let Some(offset) = bytes.iter().position(|b| *b == 0) {
        let pos = position_of_offset(bytes, offset);
        error(
            pos,
            "binary-file",
            "binary file (it contains a NUL byte); expected YAML text".into(),
        );
        return;
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let pos = position_of_offset(bytes, e.valid_up_to());
            error(
                pos,
                "invalid-utf8",
                format!(
                    "not valid UTF-8 (byte {}); policy files are UTF-8 text",
                    e.valid_up_to()
                ),
            );
            return;
        }
    };
    let stream = yaml::parse_stream(text, Limits::default());
    for issue in &stream.issues {
        error(issue.pos, "yaml", issue.message.clone());
    }
    for node in stream.documents {
        if node.is_null() {
            continue; // an empty document, e.g. a file of comments or a trailing `---`
        }
        load_document(&file, node, out);
    }
}

fn position_of_offset(bytes: &[u8], offset: usize) -> Pos {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |p| p + 1);
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    Pos {
        line: u32::try_from(line).unwrap_or(u32::MAX),
        column: u32::try_from(column).unwrap_or(u32::MAX),
    }
}

const TOP_LEVEL_FIELDS: &[&str] = &["apiVersion", "kind", "metadata", "spec"];

fn load_document(file: &Arc<str>, node: Arc<Node>, out: &mut Loaded) {
    let path: &str = file;
    let mut errors: Vec<Diagnostic> = Vec::new();
    let mut error = |pos: Pos, code: &'static str, message: String| {
        errors.push(Diagnostic::new(path, pos, Level::Error, code, message));
    };
    let Value::Map(entries) = &node.value else {
        error(
            node.pos,
            "not-a-document",
            "expected a policy document: a mapping with apiVersion, kind, metadata and spec".into(),
        );
        out.diagnostics.append(&mut errors);
        return;
    };
    for entry in entries {
        let key = entry.key.as_str().unwrap_or_default();
        if !TOP_LEVEL_FIELDS.contains(&key) {
            error(
                entry.key.pos,
                "unknown-field",
                format!(
                    "unknown field `{key}`, expected one of `apiVersion`, `kind`, `metadata`, `spec`{}",
                    did_you_mean(key, TOP_LEVEL_FIELDS)
                ),
            );
        }
    }

    match node.get("apiVersion") {
        None => error(
            node.pos,
            "missing-field",
            format!("missing field `apiVersion` (expected `{API_VERSION}`)"),
        ),
        Some(v) if v.as_str() != Some(API_VERSION) => error(
            v.pos,
            "api-version",
            format!(
                "unsupported apiVersion `{}`; expected `{API_VERSION}`",
                v.as_str().unwrap_or("")
            ),
        ),
        Some(_) => {}
    }

    let names: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
    let kind = match node.get("kind") {
        None => {
            error(
                node.pos,
                "missing-field",
                format!("missing field `kind`, expected one of {}", names.join(", ")),
            );
            None
        }
        Some(v) => {
            let given = v.as_str().unwrap_or("");
            let kind = Kind::from_name(given);
            if kind.is_none() {
                error(
                    v.pos,
                    "unknown-kind",
                    format!(
                        "unknown kind `{given}`, expected one of {}{}",
                        names.join(", "),
                        did_you_mean(given, &names)
                    ),
                );
            }
            kind
        }
    };

    let unknown = UnknownFields::default();
    let metadata: Option<Metadata> = match node.get("metadata") {
        None => {
            error(
                node.pos,
                "missing-field",
                "missing field `metadata` (with at least `name`)".into(),
            );
            None
        }
        Some(m) => match de::from_node::<Metadata>(m, &unknown) {
            Ok(m) => Some(m),
            Err(e) => {
                push_de_error(&mut error, &e, m.pos);
                None
            }
        },
    };

    let spec_node = node.get("spec");
    if spec_node.is_none() {
        error(node.pos, "missing-field", "missing field `spec`".into());
    }

    let origin = Origin {
        file: Arc::clone(file),
        node: Arc::clone(&node),
    };
    let mut loaded = false;
    if let (Some(kind), Some(spec)) = (kind, spec_node) {
        let mut spec_errors = Vec::new();
        let mut spec_error = |e: DeError| spec_errors.push(e);
        if let Some(metadata) = metadata.clone() {
            let set = &mut out.set;
            loaded = match kind {
                Kind::MachineGroup => typed(
                    spec,
                    &unknown,
                    &mut spec_error,
                    metadata,
                    &origin,
                    &mut set.groups,
                ),
                Kind::ApprovalPolicy => typed(
                    spec,
                    &unknown,
                    &mut spec_error,
                    metadata,
                    &origin,
                    &mut set.approvals,
                ),
                Kind::Rollout => typed(
                    spec,
                    &unknown,
                    &mut spec_error,
                    metadata,
                    &origin,
                    &mut set.rollouts,
                ),
                Kind::MaintenanceWindow => typed(
                    spec,
                    &unknown,
                    &mut spec_error,
                    metadata,
                    &origin,
                    &mut set.windows,
                ),
                Kind::Exclusion => typed(
                    spec,
                    &unknown,
                    &mut spec_error,
                    metadata,
                    &origin,
                    &mut set.exclusions,
                ),
                Kind::SoftwarePolicy => typed(
                    spec,
                    &unknown,
                    &mut spec_error,
                    metadata,
                    &origin,
                    &mut set.software,
                ),
                Kind::Settings => typed(
                    spec,
                    &unknown,
                    &mut spec_error,
                    metadata,
                    &origin,
                    &mut set.settings,
                ),
            };
        } else {
            // Check the spec anyway, so its problems show in the same run.
            let _ = check_spec(kind, spec, &unknown, &mut spec_error);
        }
        for e in &spec_errors {
            push_de_error(&mut error, e, spec.pos);
        }
    }
    for e in unknown.into_inner() {
        push_de_error(&mut error, &e, node.pos);
    }
    if !loaded {
        // Remember the name so that references to this document are not reported as unknown too.
        let name = node
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Node::as_str);
        if let (Some(kind), Some(name)) = (kind, name) {
            out.set.broken.push((kind, name.to_owned()));
        }
    }
    // A document with unknown fields loaded, but it is still an error: drop it from the set.
    if loaded
        && !errors.is_empty()
        && let Some(kind) = kind
    {
        remove_last(&mut out.set, kind);
        if let Some(m) = &metadata {
            out.set.broken.push((kind, m.name.clone()));
        }
    }
    out.diagnostics.append(&mut errors);
}

fn push_de_error(error: &mut impl FnMut(Pos, &'static str, String), e: &DeError, fallback: Pos) {
    let code = if e.message.starts_with("unknown field") {
        "unknown-field"
    } else if e.message.starts_with("missing field") {
        "missing-field"
    } else {
        "invalid-value"
    };
    error(e.pos.unwrap_or(fallback), code, e.message.clone());
}

fn typed<S: DeserializeOwned>(
    spec: &Node,
    unknown: &UnknownFields,
    error: &mut impl FnMut(DeError),
    metadata: Metadata,
    origin: &Origin,
    into: &mut Vec<Document<S>>,
) -> bool {
    match spec_from_node::<S>(spec, unknown) {
        Ok(spec) => {
            into.push(Document {
                metadata,
                spec,
                origin: origin.clone(),
            });
            true
        }
        Err(e) => {
            error(e);
            false
        }
    }
}

fn spec_from_node<S: DeserializeOwned>(spec: &Node, unknown: &UnknownFields) -> Result<S, DeError> {
    // DeserializeOwned: the spec types own their strings, so the borrow of `spec` ends here.
    de::from_node::<S>(spec, unknown)
}

fn check_spec(
    kind: Kind,
    spec: &Node,
    unknown: &UnknownFields,
    error: &mut impl FnMut(DeError),
) -> bool {
    let r = match kind {
        Kind::MachineGroup => spec_from_node::<MachineGroupSpec>(spec, unknown).map(drop),
        Kind::ApprovalPolicy => spec_from_node::<ApprovalPolicySpec>(spec, unknown).map(drop),
        Kind::Rollout => spec_from_node::<RolloutSpec>(spec, unknown).map(drop),
        Kind::MaintenanceWindow => spec_from_node::<MaintenanceWindowSpec>(spec, unknown).map(drop),
        Kind::Exclusion => spec_from_node::<ExclusionSpec>(spec, unknown).map(drop),
        Kind::SoftwarePolicy => spec_from_node::<SoftwarePolicySpec>(spec, unknown).map(drop),
        Kind::Settings => spec_from_node::<SettingsSpec>(spec, unknown).map(drop),
    };
    r.map_err(error).is_ok()
}

fn remove_last(set: &mut PolicySet, kind: Kind) {
    match kind {
        Kind::MachineGroup => drop(set.groups.pop()),
        Kind::ApprovalPolicy => drop(set.approvals.pop()),
        Kind::Rollout => drop(set.rollouts.pop()),
        Kind::MaintenanceWindow => drop(set.windows.pop()),
        Kind::Exclusion => drop(set.exclusions.pop()),
        Kind::SoftwarePolicy => drop(set.software.pop()),
        Kind::Settings => drop(set.settings.pop()),
    }
}
