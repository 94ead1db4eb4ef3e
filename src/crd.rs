//! Kubernetes CustomResourceDefinitions for the policy kinds, generated from
//! the core's types: the same structs that read the YAML give the cluster its
//! validation (the core stays free of kube; the conversion lives here).
//!
//! ```text
//!  policy::schema::spec_schema(kind, OpenAPI 3, inlined)
//!    ──▶ kube-core's structural rewrites (enums, additionalProperties, Option<enum>)
//!    ──▶ ours: int-or-string in Kubernetes' canonical form, formats Kubernetes knows
//!    ──▶ {apiVersion, kind, metadata, spec} ──▶ JSONSchemaProps ──▶ CustomResourceDefinition ──▶ YAML
//! ```
//!
//! Converting to k8s-openapi's `JSONSchemaProps` would silently drop any
//! keyword Kubernetes has no field for, so the conversion is checked to be
//! lossless: a keyword that cannot be carried is an error, not a weaker CRD.

use fixpoint_core::policy::schema::{canonical, spec_schema};
use fixpoint_core::policy::{API_VERSION, Kind};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, CustomResourceDefinitionNames, CustomResourceDefinitionSpec,
    CustomResourceDefinitionVersion, CustomResourceValidation, JSONSchemaProps,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube_core::schema::{OptionalEnum, OptionalIntOrString, StructuralSchemaRewriter};
use schemars::Schema;
use schemars::generate::SchemaSettings;
use schemars::transform::{Transform, transform_subschemas};
use serde_json::{Map, Value, json};

/// Why a CRD could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    #[error(
        "the {kind} schema has keywords a CRD cannot carry (k8s-openapi would drop them): {}",
        paths.join(", ")
    )]
    Lossy { kind: Kind, paths: Vec<String> },
    #[error("the {kind} schema is not a valid OpenAPI schema for a CRD: {source}")]
    Schema {
        kind: Kind,
        source: serde_json::Error,
    },
    #[error("could not write the {kind} CRD as YAML: {source}")]
    Yaml {
        kind: Kind,
        source: serde_saphyr::ser::Error,
    },
}

/// The API group of the policy kinds: `fixpoint.dev`.
pub fn group() -> &'static str {
    API_VERSION.split_once('/').map_or(API_VERSION, |(g, _)| g)
}

/// The API version within the group: `v1alpha1`.
pub fn version() -> &'static str {
    API_VERSION.split_once('/').map_or(API_VERSION, |(_, v)| v)
}

/// The resource name Kubernetes uses in URLs and `kubectl get`: lowercase and plural.
pub fn plural(kind: Kind) -> &'static str {
    match kind {
        Kind::MachineGroup => "machinegroups",
        Kind::ApprovalPolicy => "approvalpolicies",
        Kind::Rollout => "rollouts",
        Kind::MaintenanceWindow => "maintenancewindows",
        Kind::Exclusion => "exclusions",
        Kind::SoftwarePolicy => "softwarepolicies",
        // Like `endpoints`, a name that is its own plural.
        Kind::Settings => "settings",
    }
}

/// The CRD's own name, `<plural>.<group>`, e.g. `rollouts.fixpoint.dev`.
pub fn crd_name(kind: Kind) -> String {
    format!("{}.{}", plural(kind), group())
}

/// `kubectl get fixpoint` lists every policy object.
const CATEGORY: &str = "fixpoint";

/// The CustomResourceDefinition of one policy kind.
pub fn custom_resource_definition(kind: Kind) -> Result<CustomResourceDefinition, CrdError> {
    let schema = openapi_schema(kind);
    let props: JSONSchemaProps = serde_json::from_value(schema.clone())
        .map_err(|source| CrdError::Schema { kind, source })?;
    let carried =
        serde_json::to_value(&props).map_err(|source| CrdError::Schema { kind, source })?;
    let mut lost = Vec::new();
    lost_keywords(&schema, &carried, "openAPIV3Schema", &mut lost);
    if !lost.is_empty() {
        return Err(CrdError::Lossy { kind, paths: lost });
    }
    Ok(CustomResourceDefinition {
        metadata: ObjectMeta {
            name: Some(crd_name(kind)),
            ..ObjectMeta::default()
        },
        spec: CustomResourceDefinitionSpec {
            group: group().to_owned(),
            names: CustomResourceDefinitionNames {
                kind: kind.name().to_owned(),
                list_kind: Some(format!("{}List", kind.name())),
                plural: plural(kind).to_owned(),
                singular: Some(kind.name().to_ascii_lowercase()),
                categories: Some(vec![CATEGORY.to_owned()]),
                short_names: None,
            },
            scope: "Namespaced".to_owned(),
            versions: vec![CustomResourceDefinitionVersion {
                name: version().to_owned(),
                served: true,
                storage: true,
                schema: Some(CustomResourceValidation {
                    open_api_v3_schema: Some(props),
                }),
                ..CustomResourceDefinitionVersion::default()
            }],
            conversion: None,
            preserve_unknown_fields: None,
        },
        status: None,
    })
}

/// The CRD of `kind` as a YAML file, with a header saying where it comes from.
pub fn crd_yaml(kind: Kind) -> Result<String, CrdError> {
    let crd = custom_resource_definition(kind)?;
    // serde-saphyr: maintained, pure Rust, of the saphyr family the core's
    // loader already uses; block style, and by default it quotes strings that
    // YAML 1.1 readers (kubectl's) would take for booleans or numbers.
    // serde_yaml is unmaintained; its fork yaml_serde rests on a C-to-Rust
    // translation of libyaml.
    let body = serde_saphyr::to_string(&crd).map_err(|source| CrdError::Yaml { kind, source })?;
    Ok(format!(
        "# The {} CustomResourceDefinition, generated from Fixpoint's policy types\n\
         # by `fixpoint generate`; do not edit.\n{body}",
        kind.name()
    ))
}

/// The `openAPIV3Schema` of `kind`'s custom resources, as JSON: a structural
/// schema of `apiVersion`, `kind`, `metadata` and the kind's `spec`.
pub fn openapi_schema(kind: Kind) -> Value {
    let settings = SchemaSettings::openapi3()
        .with(|s| {
            // Structural schemas have no `$ref`: every subschema is written out.
            s.inline_subschemas = true;
            s.meta_schema = None;
        })
        .with_transform(StructuralSchemaRewriter)
        .with_transform(OptionalEnum)
        .with_transform(OptionalIntOrString)
        .with_transform(IntOrString)
        .with_transform(KubernetesFormats);
    let mut spec = spec_schema(kind, settings).to_value();
    let description = match &mut spec {
        Value::Object(map) => {
            map.remove("title");
            map.get("description").cloned()
        }
        _ => None,
    };
    let mut root = json!({
        "type": "object",
        "required": ["spec"],
        "properties": {
            "apiVersion": {
                "type": "string",
                "description": format!("The version of the policy language: `{API_VERSION}`."),
            },
            "kind": {
                "type": "string",
                "description": format!("The kind of object: `{}`.", kind.name()),
            },
            "metadata": {"type": "object"},
            "spec": spec,
        },
    });
    if let Some(description) = description {
        root["description"] = description;
    }
    canonical(root)
}

/// Writes integer-or-string fields the way Kubernetes accepts them:
/// `x-kubernetes-int-or-string: true` with exactly `anyOf: [{type: integer},
/// {type: string}]`, and each alternative's own checks (`minimum` for the
/// number, `pattern` for the text) moved up beside it, where they still apply
/// only to values of their type. Also turns `type: [integer, string]` into
/// that form.
///
/// kube-core's rewriter leaves such a field as `anyOf: [{minimum: 0},
/// {pattern: ...}]`, which is structural but lets any string through the
/// first branch.
#[derive(Debug, Clone, Copy)]
struct IntOrString;

impl Transform for IntOrString {
    fn transform(&mut self, schema: &mut Schema) {
        transform_subschemas(self, schema);
        let Some(node) = schema.as_object_mut() else {
            return;
        };
        if let Some(Value::Array(types)) = node.get("type") {
            let mut names: Vec<&str> = types.iter().filter_map(Value::as_str).collect();
            names.sort_unstable();
            if names == ["integer", "string"] {
                node.remove("type");
                node.insert("x-kubernetes-int-or-string".into(), true.into());
            }
        }
        if node.get("x-kubernetes-int-or-string") != Some(&Value::Bool(true)) {
            return;
        }
        let mut hoisted = Map::new();
        if let Some(Value::Array(branches)) = node.get("anyOf") {
            for branch in branches {
                let Some(branch) = branch.as_object() else {
                    return;
                };
                for (key, value) in branch {
                    if key == "type" || key == "description" {
                        continue;
                    }
                    if node.contains_key(key) || hoisted.contains_key(key) {
                        return; // two checks of one name: keep kube's (weaker) form
                    }
                    hoisted.insert(key.clone(), value.clone());
                }
            }
        }
        node.extend(hoisted);
        node.insert(
            "anyOf".into(),
            json!([{"type": "integer"}, {"type": "string"}]),
        );
    }
}

/// Removes `format`s Kubernetes does not know (schemars writes `uint32` for
/// `u32`; the `minimum: 0` beside it already says what it means). The API
/// server warns about unknown formats and ignores them.
#[derive(Debug, Clone, Copy)]
struct KubernetesFormats;

/// The formats the Kubernetes API server validates (k8s.io/kube-openapi's strfmt
/// registry, and the number formats of OpenAPI).
const KUBERNETES_FORMATS: &[&str] = &[
    "int32",
    "int64",
    "float",
    "double",
    "byte",
    "password",
    "date",
    "date-time",
    "datetime",
    "duration",
    "bsonobjectid",
    "uri",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "cidr",
    "mac",
    "uuid",
    "uuid3",
    "uuid4",
    "uuid5",
    "isbn",
    "isbn10",
    "isbn13",
    "creditcard",
    "ssn",
    "hexcolor",
    "rgbcolor",
];

impl Transform for KubernetesFormats {
    fn transform(&mut self, schema: &mut Schema) {
        transform_subschemas(self, schema);
        if let Some(Value::String(format)) = schema.get("format")
            && !KUBERNETES_FORMATS.contains(&format.as_str())
        {
            schema.remove("format");
        }
    }
}

/// Collects the paths at which `carried` (the schema after a trip through
/// k8s-openapi's types) lacks or changes something `source` has. Numbers
/// compare by value: k8s-openapi keeps `minimum: 0` as the float `0.0`.
fn lost_keywords(source: &Value, carried: &Value, path: &str, lost: &mut Vec<String>) {
    match (source, carried) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                let here = format!("{path}.{key}");
                match b.get(key) {
                    Some(other) => lost_keywords(value, other, &here, lost),
                    None => lost.push(here),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                lost_keywords(x, y, &format!("{path}[{i}]"), lost);
            }
        }
        (Value::Number(a), Value::Number(b)) if a.as_f64() == b.as_f64() => {}
        (a, b) if a == b => {}
        _ => lost.push(path.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_and_version_come_from_the_api_version() {
        assert_eq!(group(), "fixpoint.dev");
        assert_eq!(version(), "v1alpha1");
        assert_eq!(
            crd_name(Kind::ApprovalPolicy),
            "approvalpolicies.fixpoint.dev"
        );
    }

    #[test]
    fn every_kind_has_a_crd() {
        for kind in Kind::ALL {
            let crd = custom_resource_definition(kind).expect("generates");
            assert_eq!(crd.spec.names.kind, kind.name());
            assert_eq!(crd.spec.scope, "Namespaced");
        }
    }

    #[test]
    fn count_or_percent_is_int_or_string_with_both_checks() {
        let schema = openapi_schema(Kind::Rollout);
        let field = &schema["properties"]["spec"]["properties"]["rings"]["items"]["properties"]["maxConcurrent"];
        assert_eq!(field["x-kubernetes-int-or-string"], true);
        assert_eq!(
            field["anyOf"],
            json!([{"type": "integer"}, {"type": "string"}])
        );
        assert_eq!(field["minimum"], 0);
        assert!(field["pattern"].is_string());
        assert!(field.get("type").is_none());
    }

    #[test]
    fn a_two_typed_field_becomes_int_or_string() {
        let schema = openapi_schema(Kind::MaintenanceWindow);
        let nth = &schema["properties"]["spec"]["properties"]["monthly"]["properties"]["nth"];
        assert_eq!(nth["x-kubernetes-int-or-string"], true, "{nth}");
        assert!(nth.get("type").is_none());
    }

    #[test]
    fn unknown_formats_are_dropped_known_ones_kept() {
        let schema = openapi_schema(Kind::Rollout);
        let min_machines = &schema["properties"]["spec"]["properties"]["rings"]["items"]["properties"]
            ["gate"]["properties"]["minMachines"];
        assert!(min_machines.get("format").is_none(), "{min_machines}");
        let window = openapi_schema(Kind::MaintenanceWindow);
        let from =
            &window["properties"]["spec"]["properties"]["freezes"]["items"]["properties"]["from"];
        assert_eq!(from["format"], "date");
    }

    #[test]
    fn a_keyword_k8s_openapi_cannot_carry_is_reported() {
        let source = json!({"type": "object", "const": 1, "properties": {"a": {"minimum": 0}}});
        let carried = json!({"type": "object", "properties": {"a": {"minimum": 0.0}}});
        let mut lost = Vec::new();
        lost_keywords(&source, &carried, "root", &mut lost);
        assert_eq!(lost, ["root.const"]);
    }
}
