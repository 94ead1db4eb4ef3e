//! JSON Schema for policy documents, built from the policy types.
//!
//! ```text
//!  kinds.rs, primitives.rs, load::Metadata ──schemars──▶ spec and metadata schemas
//!        └─▶ document_schema(kind)   one kind:  apiVersion, kind, metadata, spec   (policies/schema/<kind>.json)
//!        └─▶ any_document_schema()   any kind, chosen by `kind`                   (policies/schema/fixpoint.json)
//!        └─▶ spec_schema(kind, settings)   the spec alone, for other outputs (the CRDs in `crds/`)
//! ```
//!
//! The schemas are JSON Schema draft-07, the draft editors support best
//! (yaml-language-server, VS Code, IntelliJ). Field doc comments become
//! `description`s, `deny_unknown_fields` becomes `additionalProperties: false`,
//! and fields without a serde default are `required`.
//!
//! The schema is a little more strict than the loader in one respect: the
//! loader reads any plain scalar into a string field (`ticket: 1042`), while
//! the schema, like Kubernetes, wants such values quoted.

use schemars::Schema;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use schemars::transform::{Transform, transform_subschemas};
use serde_json::{Map, Value, json};

use super::kinds::*;
use super::load::{API_VERSION, Kind, Metadata};

/// The JSON Schema draft the schemas declare in `$schema`.
pub const DRAFT: &str = "http://json-schema.org/draft-07/schema#";

/// Says where a generated file comes from; JSON has no comments, so it is `$comment`.
const GENERATED: &str =
    "Generated from Fixpoint's policy types by `fixpoint generate`; do not edit.";

const API_VERSION_DESCRIPTION: &str =
    "The version of the policy language: `fixpoint.dev/v1alpha1`.";

/// The schema of one kind's documents: `apiVersion`, `kind`, `metadata` and
/// `spec`, with the definitions it refers to.
pub fn document_schema(kind: Kind) -> Value {
    let mut generator = generator();
    let document = kind_document(kind, &mut generator);
    let Value::Object(mut root) = document else {
        unreachable!("kind_document builds an object")
    };
    root.insert("$schema".into(), DRAFT.into());
    root.insert("$comment".into(), GENERATED.into());
    root.insert(
        "definitions".into(),
        Value::Object(generator.take_definitions(true)),
    );
    canonical(Value::Object(root))
}

/// The schema of any policy document: `kind` picks which kind's schema the
/// rest of the document must satisfy (`if kind is X then X's schema`), so an
/// editor completes and checks `spec` for the kind written, and a validator
/// reports the problems of that kind only.
pub fn any_document_schema() -> Value {
    let mut generator = generator();
    let mut branches = Vec::new();
    let mut documents = Map::new();
    for kind in Kind::ALL {
        let name = format!("{}Document", kind.name());
        documents.insert(name.clone(), kind_document(kind, &mut generator));
        branches.push(json!({
            "if": {"properties": {"kind": {"const": kind.name()}}, "required": ["kind"]},
            "then": {"$ref": format!("#/definitions/{name}")},
        }));
    }
    let mut definitions = generator.take_definitions(true);
    for (name, document) in documents {
        let clash = definitions.insert(name.clone(), document);
        assert!(clash.is_none(), "a policy type is named {name}");
    }
    let kinds: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
    canonical(json!({
        "$schema": DRAFT,
        "$comment": GENERATED,
        "title": "Fixpoint policy document",
        "description": format!(
            "A Fixpoint policy document: apiVersion `{API_VERSION}`, a kind ({}), metadata and spec.",
            kinds.join(", ")
        ),
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"type": "string", "const": API_VERSION, "description": API_VERSION_DESCRIPTION},
            "kind": {
                "type": "string",
                "enum": kinds,
                "description": "The kind of document; it decides what `spec` holds.",
            },
        },
        "allOf": branches,
        "definitions": definitions,
    }))
}

/// The schema of one kind's `spec` under `settings`, with `settings`'
/// transforms and [`UnwrapDescriptions`] applied; subschemas are inlined or
/// referenced as `settings` say. The CRD generator uses this with OpenAPI 3
/// settings.
pub fn spec_schema(kind: Kind, settings: SchemaSettings) -> Schema {
    let generator = settings.with_transform(UnwrapDescriptions).into_generator();
    match kind {
        Kind::MachineGroup => generator.into_root_schema_for::<MachineGroupSpec>(),
        Kind::ApprovalPolicy => generator.into_root_schema_for::<ApprovalPolicySpec>(),
        Kind::Rollout => generator.into_root_schema_for::<RolloutSpec>(),
        Kind::MaintenanceWindow => generator.into_root_schema_for::<MaintenanceWindowSpec>(),
        Kind::Exclusion => generator.into_root_schema_for::<ExclusionSpec>(),
        Kind::SoftwarePolicy => generator.into_root_schema_for::<SoftwarePolicySpec>(),
        Kind::Settings => generator.into_root_schema_for::<SettingsSpec>(),
    }
}

fn generator() -> SchemaGenerator {
    SchemaSettings::draft07()
        .with_transform(UnwrapDescriptions)
        .into_generator()
}

/// A `$ref` to the spec type of `kind`, registering its definitions.
fn spec_ref(kind: Kind, generator: &mut SchemaGenerator) -> Schema {
    match kind {
        Kind::MachineGroup => generator.subschema_for::<MachineGroupSpec>(),
        Kind::ApprovalPolicy => generator.subschema_for::<ApprovalPolicySpec>(),
        Kind::Rollout => generator.subschema_for::<RolloutSpec>(),
        Kind::MaintenanceWindow => generator.subschema_for::<MaintenanceWindowSpec>(),
        Kind::Exclusion => generator.subschema_for::<ExclusionSpec>(),
        Kind::SoftwarePolicy => generator.subschema_for::<SoftwarePolicySpec>(),
        Kind::Settings => generator.subschema_for::<SettingsSpec>(),
    }
}

/// The description of a kind: its spec type's doc comment.
fn kind_description(kind: Kind) -> String {
    let spec = spec_schema(kind, SchemaSettings::draft07());
    spec.get("description")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// One kind's document schema, referring to definitions held by `generator`.
fn kind_document(kind: Kind, generator: &mut SchemaGenerator) -> Value {
    let metadata = generator.subschema_for::<Metadata>();
    let spec = spec_ref(kind, generator);
    json!({
        "title": kind.name(),
        "description": kind_description(kind),
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": false,
        "properties": {
            "apiVersion": {"type": "string", "const": API_VERSION, "description": API_VERSION_DESCRIPTION},
            "kind": {
                "type": "string",
                "const": kind.name(),
                "description": format!("The kind of document: `{}`.", kind.name()),
            },
            "metadata": metadata,
            "spec": spec,
        },
    })
}

/// Joins the lines of each paragraph of every `description`: doc comments are
/// wrapped at 100 columns for the source, but editors and `kubectl explain`
/// wrap text themselves. Blank lines, list items and indented lines stay.
#[derive(Debug, Clone, Copy, Default)]
pub struct UnwrapDescriptions;

impl Transform for UnwrapDescriptions {
    fn transform(&mut self, schema: &mut Schema) {
        transform_subschemas(self, schema);
        if let Some(Value::String(text)) = schema.get_mut("description") {
            *text = unwrap_lines(text);
        }
    }
}

fn unwrap_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut previous: Option<&str> = None;
    for line in text.split('\n') {
        if let Some(previous) = previous {
            let starts_block = line.starts_with([' ', '\t', '-', '*', '|']);
            if previous.trim().is_empty() || line.trim().is_empty() || starts_block {
                out.push('\n');
            } else {
                out.push(' ');
            }
        }
        out.push_str(line.trim_end());
        previous = Some(line);
    }
    out
}

/// `value` with the keys of every object in sorted order, whatever order
/// serde_json's map keeps: generated files must not change with a feature flag.
pub fn canonical(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, canonical(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(canonical).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn definition<'a>(schema: &'a Value, name: &str) -> &'a Value {
        &schema["definitions"][name]
    }

    #[test]
    fn a_kind_document_has_the_four_top_level_fields_and_no_others() {
        let schema = document_schema(Kind::Rollout);
        assert_eq!(schema["$schema"], DRAFT);
        assert_eq!(
            schema["required"],
            json!(["apiVersion", "kind", "metadata", "spec"])
        );
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(schema["properties"]["apiVersion"]["const"], API_VERSION);
        assert_eq!(schema["properties"]["kind"]["const"], "Rollout");
        assert_eq!(
            schema["properties"]["spec"]["$ref"],
            "#/definitions/RolloutSpec"
        );
        assert_eq!(
            schema["properties"]["metadata"]["$ref"],
            "#/definitions/Metadata"
        );
    }

    #[test]
    fn every_reference_resolves_to_a_definition() {
        fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
            match value {
                Value::Object(map) => {
                    if let Some(Value::String(r)) = map.get("$ref") {
                        out.push(r);
                    }
                    map.values().for_each(|v| refs(v, out));
                }
                Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        let mut schemas: Vec<Value> = Kind::ALL.into_iter().map(document_schema).collect();
        schemas.push(any_document_schema());
        for schema in &schemas {
            let mut found = Vec::new();
            refs(schema, &mut found);
            assert!(!found.is_empty());
            for r in found {
                let name = r.strip_prefix("#/definitions/").expect("local reference");
                assert!(
                    schema["definitions"].get(name).is_some(),
                    "{r} does not resolve"
                );
            }
        }
    }

    #[test]
    fn denied_unknown_fields_become_additional_properties_false() {
        let schema = document_schema(Kind::Rollout);
        assert_eq!(
            definition(&schema, "RolloutSpec")["additionalProperties"],
            false
        );
        assert_eq!(definition(&schema, "Ring")["additionalProperties"], false);
        assert_eq!(
            definition(&schema, "Metadata")["additionalProperties"],
            false
        );
    }

    #[test]
    fn fields_without_defaults_are_required() {
        let schema = document_schema(Kind::Rollout);
        assert_eq!(
            definition(&schema, "RolloutSpec")["required"],
            json!(["approval", "rings"])
        );
        assert_eq!(
            definition(&schema, "Ring")["required"],
            json!(["name", "groups"])
        );
    }

    #[test]
    fn doc_comments_become_unwrapped_descriptions() {
        let schema = document_schema(Kind::Rollout);
        let deadline = &definition(&schema, "RolloutSpec")["properties"]["deadline"];
        assert_eq!(
            deadline["description"],
            "Default deadline, counted from the patch's release: after it the install is due regardless of windows."
        );
        assert!(
            schema["description"]
                .as_str()
                .is_some_and(|d| d.starts_with("How approved patches reach machines"))
        );
    }

    #[test]
    fn unwrapping_keeps_paragraphs_and_lists() {
        assert_eq!(unwrap_lines("one\ntwo\n\nthree"), "one two\n\nthree");
        assert_eq!(unwrap_lines("items:\n- a\n- b"), "items:\n- a\n- b");
        assert_eq!(unwrap_lines("single"), "single");
    }

    #[test]
    fn any_document_picks_the_kind_schema_by_kind() {
        let schema = any_document_schema();
        let branches = schema["allOf"].as_array().expect("allOf");
        assert_eq!(branches.len(), Kind::ALL.len());
        for (branch, kind) in branches.iter().zip(Kind::ALL) {
            assert_eq!(branch["if"]["properties"]["kind"]["const"], kind.name());
            let target = format!("#/definitions/{}Document", kind.name());
            assert_eq!(branch["then"]["$ref"], target.as_str());
        }
        assert_eq!(
            schema["properties"]["kind"]["enum"]
                .as_array()
                .map(Vec::len),
            Some(Kind::ALL.len())
        );
    }

    #[test]
    fn count_or_percent_keeps_the_kubernetes_int_or_string_marker() {
        let schema = document_schema(Kind::Rollout);
        assert_eq!(
            definition(&schema, "CountOrPercent")["x-kubernetes-int-or-string"],
            true
        );
    }

    #[test]
    fn canonical_sorts_keys_at_every_depth() {
        let value = canonical(json!({"b": {"z": 1, "a": 2}, "a": [{"y": 1, "x": 2}]}));
        assert_eq!(
            serde_json::to_string(&value).expect("serializes"),
            r#"{"a":[{"x":2,"y":1}],"b":{"a":2,"z":1}}"#
        );
    }
}
