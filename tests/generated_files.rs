//! The files generated from the policy and protocol types (`policies/schema/`,
//! `crds/`, `docs/openapi.json`): checked in up to date, and saying what they
//! should. The JSON Schemas accept the example repository and reject broken
//! documents; the CRDs are structural and accept the examples as custom
//! resources. (What the OpenAPI document says is checked in tests/openapi.rs.)

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use fixpoint::cli::{GENERATED_DIRS, OPENAPI_FILE, generated_files};
use fixpoint::crd;
use fixpoint_core::policy::Kind;
use fixpoint_core::policy::yaml::{self, Limits, Node};
use serde_json::{Map, Value, json};

const REGENERATE: &str = "regenerate them with `cargo run -- generate` and commit the result";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

// ---------------------------------------------------------------------------
// Reading YAML as JSON

/// Every document of a YAML file, as JSON. Uses the policy loader's parser;
/// plain scalars resolve by the YAML 1.2 core schema, as editors read them.
fn yaml_documents(path: &Path) -> Vec<Value> {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let stream = yaml::parse_stream(&text, Limits::default());
    assert!(
        stream.issues.is_empty(),
        "{}: {:?}",
        path.display(),
        stream.issues
    );
    stream
        .documents
        .iter()
        .filter(|d| !d.is_null())
        .map(|d| to_json(d))
        .collect()
}

fn to_json(node: &Node) -> Value {
    match &node.value {
        yaml::Value::Scalar { text, plain: true } => plain_scalar(text),
        yaml::Value::Scalar { text, plain: false } => Value::String(text.clone()),
        yaml::Value::Seq(items) => Value::Array(items.iter().map(|n| to_json(n)).collect()),
        yaml::Value::Map(entries) => {
            let mut map = Map::new();
            for entry in entries {
                let key = entry.key.as_str().expect("string keys").to_owned();
                map.insert(key, to_json(&entry.value));
            }
            Value::Object(map)
        }
    }
}

/// A plain scalar resolved by the YAML 1.2 core schema: null, booleans,
/// integers (decimal, 0o octal, 0x hex), floats, and otherwise a string.
fn plain_scalar(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let decimal = {
        let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
    };
    if decimal && let Ok(n) = text.parse::<i64>() {
        return json!(n);
    }
    if let Some(octal) = text.strip_prefix("0o")
        && let Ok(n) = i64::from_str_radix(octal, 8)
    {
        return json!(n);
    }
    if let Some(hex) = text.strip_prefix("0x")
        && let Ok(n) = i64::from_str_radix(hex, 16)
    {
        return json!(n);
    }
    if is_core_float(text)
        && let Ok(f) = text.parse::<f64>()
    {
        return json!(f);
    }
    Value::String(text.to_owned())
}

/// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?` (infinities and NaN
/// do not occur in policy files and stay strings here).
fn is_core_float(text: &str) -> bool {
    let s = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (whole, fraction) = match mantissa.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (mantissa, None),
    };
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match fraction {
        None => !whole.is_empty() && digits(whole),
        Some(f) => digits(whole) && digits(f) && !(whole.is_empty() && f.is_empty()),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exponent_ok
}

#[test]
fn plain_scalars_resolve_by_the_yaml_1_2_core_schema() {
    assert_eq!(plain_scalar("~"), Value::Null);
    assert_eq!(plain_scalar("true"), json!(true));
    assert_eq!(plain_scalar("yes"), json!("yes"));
    assert_eq!(plain_scalar("2"), json!(2));
    assert_eq!(plain_scalar("-7"), json!(-7));
    assert_eq!(plain_scalar("0x1f"), json!(31));
    assert_eq!(plain_scalar("0o17"), json!(15));
    assert_eq!(plain_scalar("99.5"), json!(99.5));
    assert_eq!(plain_scalar("1e3"), json!(1000.0));
    assert_eq!(plain_scalar("95%"), json!("95%"));
    assert_eq!(plain_scalar("2026-12-20"), json!("2026-12-20"));
    assert_eq!(plain_scalar("0d"), json!("0d"));
    assert_eq!(plain_scalar("22:00"), json!("22:00"));
}

// ---------------------------------------------------------------------------
// Up to date

#[test]
fn checked_in_generated_files_match_the_policy_types() {
    let files = generated_files().expect("the policy types generate their files");
    let mut outdated = Vec::new();
    for file in &files {
        match fs::read_to_string(repo().join(&file.path)) {
            Ok(text) if text == file.contents => {}
            Ok(_) => outdated.push(format!("  {} (differs)", file.path)),
            Err(e) => outdated.push(format!("  {} ({e})", file.path)),
        }
    }
    assert!(
        outdated.is_empty(),
        "generated files are out of date with the policy types:\n{}\n{REGENERATE}",
        outdated.join("\n")
    );
}

#[test]
fn generated_directories_hold_no_stale_files() {
    let files = generated_files().expect("the policy types generate their files");
    let generated: BTreeSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
    let mut stale = Vec::new();
    for dir in GENERATED_DIRS {
        for entry in fs::read_dir(repo().join(dir)).expect("generated directory exists") {
            let name = entry.expect("readable entry").file_name();
            let path = format!("{dir}/{}", name.to_string_lossy());
            if !generated.contains(path.as_str()) {
                stale.push(format!("  {path}"));
            }
        }
    }
    assert!(
        stale.is_empty(),
        "files the policy types no longer generate:\n{}\n{REGENERATE} (it removes them)",
        stale.join("\n")
    );
}

#[test]
fn there_is_a_schema_and_a_crd_for_every_kind_and_the_openapi_document() {
    let files = generated_files().expect("the policy types generate their files");
    let paths: BTreeSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
    assert!(paths.contains("policies/schema/fixpoint.json"));
    for kind in Kind::ALL {
        let lower = kind.name().to_ascii_lowercase();
        assert!(paths.contains(format!("policies/schema/{lower}.json").as_str()));
        assert!(paths.contains(format!("crds/{}.yaml", crd::crd_name(kind)).as_str()));
    }
    assert!(paths.contains(OPENAPI_FILE));
    assert_eq!(paths.len(), 2 * Kind::ALL.len() + 2);
}

#[test]
fn the_checked_in_openapi_document_is_the_protocols_pretty_with_a_final_newline() {
    let text = fs::read_to_string(repo().join(OPENAPI_FILE)).expect("docs/openapi.json");
    assert!(text.ends_with("}\n") && !text.ends_with("\n\n"));
    assert!(text.starts_with("{\n  \""), "pretty-printed");
    let checked_in: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(
        checked_in,
        fixpoint_core::protocol::openapi(),
        "{REGENERATE}"
    );
}

// ---------------------------------------------------------------------------
// JSON Schema

fn read_json(relative: &str) -> Value {
    let path = repo().join(relative);
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn any_document_schema() -> Value {
    read_json("policies/schema/fixpoint.json")
}

fn kind_schema(kind: Kind) -> Value {
    read_json(&format!(
        "policies/schema/{}.json",
        kind.name().to_ascii_lowercase()
    ))
}

fn validator(schema: &Value) -> jsonschema::Validator {
    jsonschema::draft7::options()
        .should_validate_formats(true)
        .build(schema)
        .expect("a valid draft-07 schema")
}

/// The errors `schema` finds in `instance`, as `path: message`.
fn errors(schema: &Value, instance: &Value) -> Vec<String> {
    validator(schema)
        .iter_errors(instance)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

/// (where, document) for every document of the example repository `policies/`.
fn example_documents() -> Vec<(String, Value)> {
    let dir = repo().join("policies");
    let mut paths: Vec<PathBuf> = fs::read_dir(&dir)
        .expect("policies/ exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    paths.sort();
    let mut documents = Vec::new();
    for path in paths {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        for (i, document) in yaml_documents(&path).into_iter().enumerate() {
            documents.push((
                format!(
                    "policies/{} document {}",
                    name.clone().unwrap_or_default(),
                    i + 1
                ),
                document,
            ));
        }
    }
    assert!(
        !documents.is_empty(),
        "the example repository has documents"
    );
    documents
}

fn kind_of(document: &Value) -> Kind {
    document["kind"]
        .as_str()
        .and_then(Kind::from_name)
        .expect("example documents have a known kind")
}

#[test]
fn the_examples_cover_every_kind() {
    let kinds: BTreeSet<Kind> = example_documents()
        .iter()
        .map(|(_, d)| kind_of(d))
        .collect();
    assert_eq!(
        kinds.len(),
        Kind::ALL.len(),
        "kinds in policies/: {kinds:?}"
    );
}

#[test]
fn every_example_document_validates_against_fixpoint_json() {
    let schema = any_document_schema();
    for (at, document) in example_documents() {
        let found = errors(&schema, &document);
        assert!(found.is_empty(), "{at}: {found:#?}");
    }
}

#[test]
fn every_example_document_validates_against_its_kind_schema() {
    for (at, document) in example_documents() {
        let found = errors(&kind_schema(kind_of(&document)), &document);
        assert!(found.is_empty(), "{at}: {found:#?}");
    }
}

#[test]
fn a_kind_schema_rejects_documents_of_other_kinds() {
    let rollout = kind_schema(Kind::Rollout);
    for (at, document) in example_documents() {
        if kind_of(&document) != Kind::Rollout {
            assert!(!errors(&rollout, &document).is_empty(), "{at}");
        }
    }
}

/// A valid Rollout document to break.
fn rollout() -> Value {
    json!({
        "apiVersion": "fixpoint.dev/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "servers"},
        "spec": {
            "approval": "security-first",
            "rings": [
                {"name": "canary", "groups": ["canary"], "delay": "0d"},
                {"name": "broad", "groups": ["all"], "delay": "3d", "maxConcurrent": "10%",
                 "gate": {"minSuccess": "95%", "minMachines": 3}}
            ],
            "deadline": "14d",
        }
    })
}

/// Asserts that both schemas reject `document`, and that fixpoint.json's
/// errors mention `expected` (so the problem, not some other, was found).
fn assert_rejected(document: &Value, expected: &str) {
    let any = errors(&any_document_schema(), document);
    assert!(
        any.iter().any(|e| e.contains(expected)),
        "fixpoint.json should report `{expected}`, found {any:#?}"
    );
    if let Some(kind) = document["kind"].as_str().and_then(Kind::from_name) {
        assert!(
            !errors(&kind_schema(kind), document).is_empty(),
            "the {kind} schema accepts it"
        );
    }
}

#[test]
fn the_valid_rollout_used_below_is_valid() {
    assert_eq!(
        errors(&any_document_schema(), &rollout()),
        Vec::<String>::new()
    );
    assert_eq!(
        errors(&kind_schema(Kind::Rollout), &rollout()),
        Vec::<String>::new()
    );
}

#[test]
fn an_unknown_spec_field_is_rejected() {
    let mut document = rollout();
    document["spec"]["rings"][1]["maxConcurent"] = json!(5);
    assert_rejected(&document, "maxConcurent");
}

#[test]
fn an_unknown_top_level_field_is_rejected() {
    let mut document = rollout();
    document["status"] = json!({});
    assert_rejected(&document, "status");
}

#[test]
fn a_value_of_the_wrong_type_is_rejected() {
    let mut document = rollout();
    document["spec"]["rings"] = json!("canary");
    assert_rejected(&document, "not of type \"array\"");
}

#[test]
fn a_missing_required_field_is_rejected() {
    let mut document = rollout();
    document["spec"]
        .as_object_mut()
        .expect("spec is an object")
        .remove("approval");
    assert_rejected(&document, "\"approval\" is a required property");
}

#[test]
fn a_missing_spec_is_rejected() {
    let mut document = rollout();
    document.as_object_mut().expect("an object").remove("spec");
    assert_rejected(&document, "\"spec\" is a required property");
}

#[test]
fn a_malformed_duration_is_rejected() {
    let mut document = rollout();
    document["spec"]["deadline"] = json!("two weeks");
    assert_rejected(&document, "two weeks");
}

#[test]
fn a_malformed_count_or_percent_is_rejected() {
    let mut document = rollout();
    document["spec"]["rings"][1]["maxConcurrent"] = json!("ten");
    assert_rejected(&document, "ten");
}

#[test]
fn an_unknown_enum_value_is_rejected() {
    let mut document = rollout();
    document["spec"]["reboot"] = json!({"mode": "sometimes"});
    assert_rejected(&document, "sometimes");
}

#[test]
fn an_unknown_kind_is_rejected() {
    let mut document = rollout();
    document["kind"] = json!("Rolout");
    assert_rejected(&document, "Rolout");
}

#[test]
fn another_api_version_is_rejected() {
    let mut document = rollout();
    document["apiVersion"] = json!("fixpoint.dev/v1");
    assert_rejected(&document, "fixpoint.dev/v1alpha1");
}

#[test]
fn the_spec_of_one_kind_is_checked_against_that_kind_only() {
    // A MachineGroup's spec under `kind: Rollout` is wrong for a Rollout.
    let mut document = rollout();
    document["spec"] = json!({"match": {"labels": {"ring": "canary"}}});
    assert_rejected(&document, "\"approval\" is a required property");
}

// ---------------------------------------------------------------------------
// CustomResourceDefinitions

/// Every checked-in CRD, with its kind.
fn crds() -> Vec<(Kind, Value)> {
    Kind::ALL
        .into_iter()
        .map(|kind| {
            let path = repo().join(format!("crds/{}.yaml", crd::crd_name(kind)));
            let mut documents = yaml_documents(&path);
            assert_eq!(documents.len(), 1, "{}: one document", path.display());
            (kind, documents.remove(0))
        })
        .collect()
}

fn openapi_schema(crd: &Value) -> &Value {
    &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
}

#[test]
fn crd_files_read_back_as_the_generated_crds() {
    for (kind, read) in crds() {
        let generated =
            serde_json::to_value(crd::custom_resource_definition(kind).expect("generates"))
                .expect("serializes");
        let mut differences = Vec::new();
        compare(&generated, &read, "", &mut differences);
        assert!(differences.is_empty(), "{kind}: {differences:#?}");
    }
}

/// Structural equality with numbers compared by value (YAML writes 0.0 as `0.0`,
/// which reads back as a float; JSON may hold it as either).
fn compare(a: &Value, b: &Value, path: &str, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for key in keys {
                match (x.get(key), y.get(key)) {
                    (Some(p), Some(q)) => compare(p, q, &format!("{path}.{key}"), out),
                    _ => out.push(format!("{path}.{key}: only on one side")),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                compare(p, q, &format!("{path}[{i}]"), out);
            }
        }
        (Value::Number(x), Value::Number(y)) if x.as_f64() == y.as_f64() => {}
        (x, y) if x == y => {}
        (x, y) => out.push(format!("{path}: {x} != {y}")),
    }
}

#[test]
fn crds_name_their_kind_group_and_version() {
    for (kind, crd) in crds() {
        assert_eq!(crd["apiVersion"], "apiextensions.k8s.io/v1");
        assert_eq!(crd["kind"], "CustomResourceDefinition");
        assert_eq!(crd["metadata"]["name"], crd::crd_name(kind).as_str());
        assert_eq!(crd["spec"]["group"], "fixpoint.dev");
        assert_eq!(crd["spec"]["scope"], "Namespaced");
        assert_eq!(crd["spec"]["names"]["kind"], kind.name());
        assert_eq!(crd["spec"]["names"]["plural"], crd::plural(kind));
        let plural = crd::plural(kind);
        assert!(plural.bytes().all(|b| b.is_ascii_lowercase()), "{plural}");
        let versions = crd["spec"]["versions"].as_array().expect("versions");
        assert_eq!(versions.len(), 1);
        assert_eq!(versions[0]["name"], "v1alpha1");
        assert_eq!(versions[0]["served"], true);
        assert_eq!(versions[0]["storage"], true);
    }
}

/// Problems that make a CRD schema non-structural, as far as they can be seen
/// without an API server (the rules of "Specifying a structural schema" in the
/// Kubernetes documentation for CustomResourceDefinitions).
fn structural_problems(schema: &Value, path: &str, in_junctor: bool, out: &mut Vec<String>) {
    let Some(node) = schema.as_object() else {
        out.push(format!("{path}: a schema must be an object"));
        return;
    };
    for key in [
        "$ref",
        "$schema",
        "definitions",
        "$defs",
        "const",
        "oneOf",
        "not",
    ] {
        if node.contains_key(key) {
            out.push(format!("{path}: `{key}` is not allowed"));
        }
    }
    if node.get("uniqueItems") == Some(&Value::Bool(true)) {
        out.push(format!("{path}: uniqueItems: true is not allowed"));
    }
    if node.contains_key("properties") && node.contains_key("additionalProperties") {
        out.push(format!(
            "{path}: properties and additionalProperties are mutually exclusive"
        ));
    }
    if let Some(t) = node.get("type")
        && !t.is_string()
    {
        out.push(format!("{path}: type must be a single string, not {t}"));
    }
    let int_or_string = node.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
    let preserves = node.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    if in_junctor {
        for key in [
            "description",
            "type",
            "default",
            "additionalProperties",
            "nullable",
        ] {
            if node.contains_key(key) {
                out.push(format!("{path}: `{key}` inside anyOf/allOf"));
            }
        }
    } else if !node.contains_key("type") && !int_or_string && !preserves {
        out.push(format!("{path}: every node needs a type"));
    }
    if int_or_string {
        let canonical = json!([{"type": "integer"}, {"type": "string"}]);
        if node.get("type").is_some() {
            out.push(format!("{path}: an int-or-string node has no type"));
        }
        if node.get("anyOf").is_some_and(|a| *a != canonical) {
            out.push(format!(
                "{path}: int-or-string takes anyOf [integer, string] exactly"
            ));
        }
    } else if let Some(Value::Array(branches)) = node.get("anyOf") {
        for (i, b) in branches.iter().enumerate() {
            structural_problems(b, &format!("{path}.anyOf[{i}]"), true, out);
        }
    }
    if let Some(Value::Array(branches)) = node.get("allOf") {
        for (i, b) in branches.iter().enumerate() {
            structural_problems(b, &format!("{path}.allOf[{i}]"), true, out);
        }
    }
    if let Some(Value::Object(properties)) = node.get("properties") {
        if node.get("type").is_some_and(|t| t != "object") {
            out.push(format!("{path}: properties on a non-object"));
        }
        for (name, p) in properties {
            structural_problems(p, &format!("{path}.{name}"), false, out);
        }
    }
    if let Some(items) = node.get("items") {
        if node.get("type").is_some_and(|t| t != "array") {
            out.push(format!("{path}: items on a non-array"));
        }
        structural_problems(items, &format!("{path}[]"), false, out);
    }
    if let Some(additional) = node.get("additionalProperties")
        && additional.is_object()
    {
        structural_problems(additional, &format!("{path}{{*}}"), false, out);
    }
    if let Some(Value::Array(values)) = node.get("enum") {
        let t = node.get("type").and_then(Value::as_str);
        for v in values {
            let fits = match t {
                Some("string") => v.is_string(),
                Some("integer") => v.is_i64() || v.is_u64(),
                Some("number") => v.is_number(),
                Some("boolean") => v.is_boolean(),
                _ => true,
            };
            if !fits {
                out.push(format!("{path}: enum value {v} is not a {t:?}"));
            }
        }
    }
}

#[test]
fn every_crd_schema_is_structural() {
    for (kind, crd) in crds() {
        let schema = openapi_schema(&crd);
        let mut problems = Vec::new();
        structural_problems(schema, "openAPIV3Schema", false, &mut problems);
        assert!(problems.is_empty(), "{kind}: {problems:#?}");
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["properties"]["spec"]["type"], "object");
        // Only metadata.name and metadata.generateName may be restricted.
        assert_eq!(schema["properties"]["metadata"], json!({"type": "object"}));
    }
}

#[test]
fn the_structural_check_catches_what_kubernetes_rejects() {
    let bad = json!({
        "type": "object",
        "properties": {
            "a": {"$ref": "#/definitions/A"},
            "b": {"properties": {"c": {"type": "string"}}},
            "d": {"anyOf": [{"type": "string", "description": "no"}, {"type": "integer"}]},
            "e": {"type": "object", "properties": {}, "additionalProperties": false},
        },
    });
    let mut problems = Vec::new();
    structural_problems(&bad, "root", false, &mut problems);
    let text = problems.join("\n");
    for expected in [
        "root.a: `$ref`",
        "root.b: every node needs a type",
        "root.d: every node needs a type",
        "root.d.anyOf[0]: `description`",
        "root.d.anyOf[0]: `type`",
        "root.e: properties and additionalProperties",
    ] {
        assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
    }
}

/// Every schema node with a `default`, with its path.
fn defaults<'a>(schema: &'a Value, path: String, out: &mut Vec<(String, &'a Value)>) {
    let Some(node) = schema.as_object() else {
        return;
    };
    if node.contains_key("default") {
        out.push((path.clone(), schema));
    }
    if let Some(Value::Object(properties)) = node.get("properties") {
        for (name, p) in properties {
            defaults(p, format!("{path}.{name}"), out);
        }
    }
    if let Some(items) = node.get("items") {
        defaults(items, format!("{path}[]"), out);
    }
}

#[test]
fn every_crd_default_satisfies_its_own_schema() {
    // The API server refuses a CRD whose defaults its schema would reject.
    for (kind, crd) in crds() {
        let mut found = Vec::new();
        defaults(openapi_schema(&crd), "openAPIV3Schema".into(), &mut found);
        for (path, node) in found {
            let default = &node["default"];
            let problems = errors(node, default);
            assert!(problems.is_empty(), "{kind} {path}: {problems:#?}");
        }
    }
}

/// A policy document as a custom resource: the same four fields, with the
/// namespace Kubernetes adds.
fn custom_resource(document: &Value) -> Value {
    let mut resource = document.clone();
    resource["metadata"]["namespace"] = json!("fixpoint");
    resource
}

#[test]
fn every_example_document_is_a_valid_custom_resource() {
    let by_kind: Vec<(Kind, Value)> = crds();
    for (at, document) in example_documents() {
        let kind = kind_of(&document);
        let (_, crd) = by_kind
            .iter()
            .find(|(k, _)| *k == kind)
            .expect("a CRD for every kind");
        let found = errors(openapi_schema(crd), &custom_resource(&document));
        assert!(found.is_empty(), "{at}: {found:#?}");
    }
}

#[test]
fn the_crd_schema_rejects_broken_custom_resources() {
    let (_, crd) = crds()
        .into_iter()
        .find(|(k, _)| *k == Kind::Rollout)
        .expect("a Rollout CRD");
    let schema = openapi_schema(&crd);
    assert_eq!(
        errors(schema, &custom_resource(&rollout())),
        Vec::<String>::new()
    );
    /// What is wrong, and how to make a valid resource so.
    type Breakage = (&'static str, fn(&mut Value));
    let broken: [Breakage; 5] = [
        ("rings is not a list", |d| {
            d["spec"]["rings"] = json!("canary")
        }),
        ("approval is missing", |d| {
            if let Some(spec) = d["spec"].as_object_mut() {
                spec.remove("approval");
            }
        }),
        ("a bad duration", |d| d["spec"]["deadline"] = json!("soon")),
        ("a bad int-or-string", |d| {
            d["spec"]["rings"][1]["maxConcurrent"] = json!("ten")
        }),
        ("a negative count", |d| {
            d["spec"]["rings"][1]["maxConcurrent"] = json!(-1)
        }),
    ];
    for (what, breaks) in broken {
        let mut resource = custom_resource(&rollout());
        breaks(&mut resource);
        assert!(!errors(schema, &resource).is_empty(), "accepted: {what}");
    }
}

#[test]
fn an_nth_weekday_may_be_a_number_or_last_in_both_outputs() {
    let window = |nth: Value| {
        json!({
            "apiVersion": "fixpoint.dev/v1alpha1",
            "kind": "MaintenanceWindow",
            "metadata": {"name": "patch-tuesday"},
            "spec": {
                "monthly": {"nth": nth, "weekday": "tuesday", "at": "22:00"},
                "duration": "4h",
            },
        })
    };
    let (_, crd) = crds()
        .into_iter()
        .find(|(k, _)| *k == Kind::MaintenanceWindow)
        .expect("a MaintenanceWindow CRD");
    let as_document: fn(&Value) -> Value = Value::clone;
    let as_resource: fn(&Value) -> Value = custom_resource;
    let outputs = [
        (any_document_schema(), as_document),
        (openapi_schema(&crd).clone(), as_resource),
    ];
    for (schema, wrap) in &outputs {
        for ok in [json!(2), json!("2"), json!("last")] {
            let found = errors(schema, &wrap(&window(ok.clone())));
            assert!(found.is_empty(), "nth {ok}: {found:#?}");
        }
        for bad in [json!(0), json!(6), json!("first"), json!(true)] {
            assert!(
                !errors(schema, &wrap(&window(bad.clone()))).is_empty(),
                "nth {bad} accepted"
            );
        }
    }
}

#[test]
fn the_yaml_reader_sees_the_documents_the_loader_loads() {
    // The example repository loads without errors, so the schema and the loader
    // agree on it (the schema tests above would otherwise test the wrong files).
    let dir = repo().join("policies");
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for entry in fs::read_dir(&dir).expect("policies/ exists") {
        let path = entry.expect("readable entry").path();
        if path.extension().is_some_and(|x| x == "yaml") {
            let bytes = fs::read(&path).expect("readable file");
            files.push((path.display().to_string(), bytes));
        }
    }
    let loaded = fixpoint_core::policy::load(files.iter().map(|(p, b)| (p.as_str(), b.as_slice())));
    let errors: Vec<String> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(ToString::to_string)
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(loaded.set.len(), example_documents().len());
}

// ---------------------------------------------------------------------------
// The command

/// A scratch directory for one test, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("fixpoint-generate-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("creates a scratch directory");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Runs `fixpoint generate` with `args` under `root`: (exit code, stdout).
fn generate(root: &Path, args: &[&str]) -> (i32, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_fixpoint"))
        .arg("generate")
        .arg("--root")
        .arg(root)
        .args(args)
        .env_remove("FIXPOINT_GENERATE_CHECK")
        .env_remove("FIXPOINT_GENERATE_ROOT")
        .output()
        .expect("runs fixpoint");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[test]
fn generate_writes_every_file_and_check_then_finds_no_drift() {
    let scratch = Scratch::new("fresh");
    let (code, _) = generate(&scratch.0, &["--check"]);
    assert_eq!(code, 1, "an empty root has drifted");
    let (code, stdout) = generate(&scratch.0, &[]);
    assert_eq!(code, 0, "{stdout}");
    for file in generated_files().expect("generates") {
        let written = fs::read_to_string(scratch.0.join(&file.path)).expect("written");
        assert_eq!(written, file.contents, "{}", file.path);
        assert!(
            stdout.contains(&format!("created {}", file.path)),
            "{stdout}"
        );
    }
    assert_eq!(generate(&scratch.0, &["--check"]), (0, String::new()));
    let (code, stdout) = generate(&scratch.0, &[]);
    assert_eq!((code, stdout.as_str()), (0, ""), "nothing to rewrite");
}

#[test]
fn check_lists_changed_missing_and_stale_files_writes_nothing_and_exits_1() {
    let scratch = Scratch::new("drift");
    assert_eq!(generate(&scratch.0, &[]).0, 0);
    let changed = scratch.0.join("crds/rollouts.fixpoint.dev.yaml");
    let missing = scratch.0.join("policies/schema/rollout.json");
    let stale = scratch.0.join("crds/patches.fixpoint.dev.yaml");
    fs::write(&changed, "edited by hand\n").expect("writes");
    fs::remove_file(&missing).expect("removes");
    fs::write(&stale, "kind: CustomResourceDefinition\n").expect("writes");

    let (code, stdout) = generate(&scratch.0, &["--check"]);
    assert_eq!(code, 1);
    assert!(
        stdout.contains("crds/rollouts.fixpoint.dev.yaml: differs"),
        "{stdout}"
    );
    assert!(
        stdout.contains("policies/schema/rollout.json: missing"),
        "{stdout}"
    );
    assert!(
        stdout.contains("crds/patches.fixpoint.dev.yaml: stale"),
        "{stdout}"
    );
    assert_eq!(stdout.lines().count(), 3, "{stdout}");
    assert_eq!(
        fs::read_to_string(&changed).expect("still there"),
        "edited by hand\n"
    );
    assert!(
        !missing.exists() && stale.exists(),
        "--check writes nothing"
    );

    let (code, stdout) = generate(&scratch.0, &[]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("updated crds/rollouts.fixpoint.dev.yaml"),
        "{stdout}"
    );
    assert!(
        stdout.contains("created policies/schema/rollout.json"),
        "{stdout}"
    );
    assert!(
        stdout.contains("removed crds/patches.fixpoint.dev.yaml"),
        "{stdout}"
    );
    assert!(!stale.exists());
    assert_eq!(generate(&scratch.0, &["--check"]).0, 0);
    let leftovers: Vec<String> = GENERATED_DIRS
        .iter()
        .flat_map(|d| fs::read_dir(scratch.0.join(d)).expect("exists"))
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn the_check_flag_can_come_from_the_environment() {
    let scratch = Scratch::new("env");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_fixpoint"))
        .arg("generate")
        .env("FIXPOINT_GENERATE_ROOT", &scratch.0)
        .env("FIXPOINT_GENERATE_CHECK", "true")
        .output()
        .expect("runs fixpoint")
        .status;
    assert_eq!(status.code(), Some(1));
    assert!(
        !scratch.0.join("crds").exists(),
        "checking from the environment writes nothing"
    );
}

#[test]
fn docs_people_write_beside_the_openapi_document_are_never_stale() {
    let scratch = Scratch::new("docs");
    assert_eq!(generate(&scratch.0, &[]).0, 0);
    let notes = scratch.0.join("docs/agent-protocol.md");
    fs::write(&notes, "# Written by people\n").expect("writes");
    assert_eq!(generate(&scratch.0, &["--check"]), (0, String::new()));
    assert!(notes.exists());
    // But a hand edit of the generated document is drift, and is undone.
    let openapi = scratch.0.join(OPENAPI_FILE);
    fs::write(&openapi, "{}\n").expect("writes");
    let (code, stdout) = generate(&scratch.0, &["--check"]);
    assert_eq!(code, 1);
    assert_eq!(
        stdout,
        format!("{OPENAPI_FILE}: differs from what the types generate\n")
    );
    assert_eq!(generate(&scratch.0, &[]).0, 0);
    assert_ne!(fs::read_to_string(&openapi).expect("rewritten"), "{}\n");
    assert!(notes.exists(), "generating leaves docs people wrote alone");
}
