//! The OpenAPI document of the agent API (`protocol::openapi()`, checked in as
//! `docs/openapi.json`): well-formed, and saying what the protocol types do.
//! Messages built with the Rust types validate against their schemas; what
//! the server's parser refuses (unknown fields, wrong types), the schemas
//! refuse too; the examples in docs/agent-protocol.md satisfy both.

mod support {
    pub mod openapi;
}

use std::collections::BTreeMap;
use std::path::PathBuf;

use fixpoint_core::catalog::{PatchId, Platform};
use fixpoint_core::fleet::{InstalledPackage, Inventory, OsFacts, Outcome};
use fixpoint_core::policy::RebootMode;
use fixpoint_core::protocol::{
    self, Action, ApiError, CheckIn, CheckInResponse, ENROLL_PATH, EnrollRequest, EnrollResponse,
    ErrorCode, Facts, FileRef, Instruction, InstructionResult, Instructions, InventoryPayload,
    PackageTarget, REPORT_PATH, RebootInstruction, Report, ReportResponse,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use support::openapi::{errors, validator};

fn document() -> Value {
    protocol::openapi()
}

fn component(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// The errors the component schema `name` finds in `instance`.
fn component_errors(name: &str, instance: &Value) -> Vec<String> {
    errors(&document(), &component(name), instance)
}

/// Asserts that `value`, serialized, satisfies the component schema `name`.
fn assert_valid<T: Serialize>(name: &str, value: &T) {
    let json = serde_json::to_value(value).expect("serializes");
    let found = component_errors(name, &json);
    assert!(found.is_empty(), "{name}: {found:#?}\n{json:#}");
}

fn now() -> jiff::Timestamp {
    "2026-11-25T12:00:00Z".parse().expect("an instant")
}

fn sha(c: char) -> String {
    c.to_string().repeat(64)
}

fn facts() -> Facts {
    Facts {
        hostname: "web1.corp.example".into(),
        os: OsFacts {
            family: "debian".into(),
            version: Some("12".into()),
        },
        labels: BTreeMap::from([("role".into(), "web".into())]),
        time_zone: Some("Europe/Berlin".into()),
        kernel: None,
        reboot_required: false,
    }
}

fn packages() -> Vec<InstalledPackage> {
    vec![
        InstalledPackage::new("libssl3", "amd64", "3.0.14-1").built_from("openssl", "3.0.14-1"),
        InstalledPackage::new("openssl", "amd64", "3.0.14-1"),
        InstalledPackage::new("tzdata", "", "2024a-0+deb12u1"),
    ]
}

fn inventory() -> Inventory {
    Inventory::new(Platform("debian:12".into()), packages()).expect("a valid inventory")
}

fn enroll_request() -> Value {
    serde_json::to_value(EnrollRequest {
        token: "enrol-7f3c9a".into(),
        facts: facts(),
    })
    .expect("serializes")
}

fn check_in_full() -> CheckIn {
    CheckIn {
        facts: facts(),
        inventory: InventoryPayload::Full {
            platform: Platform("debian:12".into()),
            packages: packages(),
        },
    }
}

fn report() -> Value {
    serde_json::to_value(Report {
        results: vec![InstructionResult {
            instruction_id: "i-9c1d5e0b7a3f4c2e8d6b1a0f9e8d7c6b".into(),
            outcome: Outcome::Failed,
            exit_code: Some(100),
            log_tail: Some("E: Sub-process /usr/bin/dpkg returned an error code (1)".into()),
            at: now(),
        }],
    })
    .expect("serializes")
}

fn instructions() -> Instructions {
    let reboot = RebootInstruction {
        mode: RebootMode::IfRequired,
        grace_seconds: 900,
    };
    Instructions {
        release: Some("r-0123456789ab".into()),
        items: vec![
            Instruction {
                id: protocol::install_id(
                    "m1",
                    &PatchId("openssl/3.0.15-1".into()),
                    "r-0123456789ab",
                    0,
                ),
                action: Action::Install {
                    patch: PatchId("openssl/3.0.15-1".into()),
                    packages: vec![PackageTarget {
                        name: "libssl3".into(),
                        arch: "amd64".into(),
                        version: Some("3.0.15-1".into()),
                    }],
                    files: vec![FileRef {
                        url: protocol::file_path(&sha('a')),
                        sha256: sha('a'),
                        size: Some(2_318_044),
                    }],
                },
                not_before: Some("2026-11-26T02:00:00Z".parse().expect("instant")),
                window_end: Some("2026-11-26T05:00:00Z".parse().expect("instant")),
                deadline: Some("2026-12-01T00:00:00Z".parse().expect("instant")),
                reboot,
                hooks: protocol::InstructionHooks {
                    pre_install: vec![protocol::HookCommand {
                        run: "systemctl stop app".into(),
                        timeout_seconds: 120,
                    }],
                    post_install: Vec::new(),
                },
            },
            Instruction {
                id: protocol::remove_id("m1", "telnetd", "0.17-44"),
                action: Action::Remove {
                    package: "telnetd".into(),
                    version: "0.17-44".into(),
                },
                not_before: None,
                window_end: None,
                deadline: None,
                reboot,
                hooks: protocol::InstructionHooks::default(),
            },
        ],
    }
}

// ---------------------------------------------------------------------------
// Well-formed

#[test]
fn the_document_is_openapi_3_1_with_json_schema_2020_12() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        doc["jsonSchemaDialect"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(
        doc["info"]["version"],
        protocol::PROTOCOL_VERSION.to_string()
    );
    assert!(doc["info"]["title"].is_string());
    assert!(doc["info"]["description"].is_string());
    let keys: Vec<&String> = doc.as_object().expect("an object").keys().collect();
    for key in keys {
        assert!(
            [
                "openapi",
                "jsonSchemaDialect",
                "info",
                "tags",
                "security",
                "paths",
                "components"
            ]
            .contains(&key.as_str())
                || key.starts_with("x-"),
            "{key} is not an OpenAPI 3.1 field"
        );
    }
}

/// Every schema in the document: (where, schema).
fn schemas_in(doc: &Value) -> Vec<(String, Value)> {
    let mut found = Vec::new();
    for (name, schema) in doc["components"]["schemas"]
        .as_object()
        .expect("component schemas")
    {
        found.push((format!("components/schemas/{name}"), schema.clone()));
    }
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let mut parameters: Vec<&Value> = item["parameters"]
            .as_array()
            .map(|p| p.iter().collect())
            .unwrap_or_default();
        for (method, op) in item.as_object().expect("a path item") {
            if method == "parameters" {
                continue;
            }
            let at = format!("{method} {path}");
            if let Some(p) = op["parameters"].as_array() {
                parameters.extend(p);
            }
            if let Some(body) = op.pointer("/requestBody/content/application~1json/schema") {
                found.push((format!("{at} request"), body.clone()));
            }
            for (status, response) in op["responses"].as_object().expect("responses") {
                for (media, content) in response["content"].as_object().into_iter().flatten() {
                    if let Some(schema) = content.get("schema") {
                        found.push((format!("{at} {status} {media}"), schema.clone()));
                    }
                }
                for (name, header) in response["headers"].as_object().into_iter().flatten() {
                    found.push((
                        format!("{at} {status} header {name}"),
                        header["schema"].clone(),
                    ));
                }
            }
        }
        for p in parameters {
            found.push((
                format!("{path} parameter {}", p["name"]),
                p["schema"].clone(),
            ));
        }
    }
    found
}

#[test]
fn every_schema_in_the_document_is_a_valid_2020_12_schema() {
    let doc = document();
    let schemas = schemas_in(&doc);
    assert!(schemas.len() > 40, "{}", schemas.len());
    for (at, schema) in schemas {
        assert!(schema.is_object(), "{at}: {schema}");
        // Builds only when the schema, and every `$ref` it reaches, is valid.
        let _ = validator(&doc, &schema);
    }
}

#[test]
fn path_templates_and_path_parameters_match() {
    let doc = document();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let templated: Vec<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        for (method, op) in item.as_object().expect("a path item") {
            if method == "parameters" {
                continue;
            }
            let declared: Vec<&str> = item["parameters"]
                .as_array()
                .into_iter()
                .chain(op["parameters"].as_array())
                .flatten()
                .filter(|p| p["in"] == "path")
                .map(|p| {
                    assert_eq!(p["required"], true, "{path}: path parameters are required");
                    p["name"].as_str().expect("a name")
                })
                .collect();
            assert_eq!(declared, templated, "{method} {path}");
            for p in op["parameters"].as_array().into_iter().flatten() {
                let name = p["name"].as_str().expect("a name");
                assert!(
                    !["accept", "content-type", "authorization"]
                        .contains(&name.to_ascii_lowercase().as_str()),
                    "{method} {path}: OpenAPI ignores a {name} parameter"
                );
            }
        }
    }
}

#[test]
fn security_requirements_name_declared_schemes() {
    let doc = document();
    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .expect("security schemes");
    let mut requirements: Vec<&Value> = doc["security"]
        .as_array()
        .expect("security")
        .iter()
        .collect();
    for item in doc["paths"].as_object().expect("paths").values() {
        for op in item.as_object().expect("a path item").values() {
            requirements.extend(op["security"].as_array().into_iter().flatten());
        }
    }
    for requirement in requirements {
        for name in requirement.as_object().expect("a requirement").keys() {
            assert!(schemes.contains_key(name), "{name} is not declared");
        }
    }
}

// ---------------------------------------------------------------------------
// Real messages validate

#[test]
fn an_enroll_request_and_its_response_validate() {
    assert_valid("EnrollRequest", &enroll_request());
    assert_valid(
        "EnrollResponse",
        &EnrollResponse {
            agent_id: "agent-5d0c1e9a7b3f4c2d".into(),
            credential: sha('c'),
        },
    );
}

#[test]
fn a_check_in_with_a_full_inventory_validates() {
    assert_valid("CheckIn", &check_in_full());
}

#[test]
fn a_check_in_with_only_the_inventory_hash_validates() {
    let check_in = CheckIn {
        facts: Facts {
            labels: BTreeMap::new(),
            time_zone: None,
            kernel: None,
            reboot_required: false,
            ..facts()
        },
        inventory: InventoryPayload::Unchanged {
            hash: inventory().hash().clone(),
        },
    };
    assert_valid("CheckIn", &check_in);
}

#[test]
fn a_check_in_response_with_an_install_and_a_removal_validates() {
    let instructions = instructions();
    let response = CheckInResponse {
        etag: protocol::etag(&instructions),
        instructions,
        next_check_in: protocol::next_check_in(
            jiff::SignedDuration::from_mins(90),
            10.0,
            "m1",
            now(),
        ),
        inventory_needed: false,
    };
    assert_valid("CheckInResponse", &response);
    let asking = CheckInResponse {
        instructions: Instructions::default(),
        etag: protocol::etag(&Instructions::default()),
        next_check_in: now(),
        inventory_needed: true,
    };
    assert_valid("CheckInResponse", &asking);
}

#[test]
fn a_report_and_its_response_validate() {
    assert_valid("Report", &report());
    assert_valid(
        "ReportResponse",
        &ReportResponse {
            accepted: 1,
            duplicates: 1,
        },
    );
}

#[test]
fn every_error_code_validates_as_an_api_error_and_in_its_operations_responses() {
    let doc = document();
    for code in ErrorCode::ALL {
        let body = serde_json::to_value(ApiError::new(code, "for people")).expect("serializes");
        assert_valid("ApiError", &body);
    }
    // An operation's response for a status accepts the codes it lists, and no other.
    let check_in_400 = &doc["paths"][protocol::CHECK_IN_PATH]["post"]["responses"]["400"]["content"]
        ["application/json"]["schema"];
    let too_long = json!({"error": "tooLong", "detail": "facts.hostname is 254 bytes long"});
    assert_eq!(errors(&doc, check_in_400, &too_long), Vec::<String>::new());
    let unknown =
        json!({"error": "unknownInstruction", "detail": "only reports name instructions"});
    assert!(!errors(&doc, check_in_400, &unknown).is_empty());
    let report_400 = &doc["paths"][REPORT_PATH]["post"]["responses"]["400"]["content"]["application/json"]
        ["schema"];
    assert_eq!(errors(&doc, report_400, &unknown), Vec::<String>::new());
    let enroll_401 = &doc["paths"][ENROLL_PATH]["post"]["responses"]["401"]["content"]["application/json"]
        ["schema"];
    let bad_token = json!({"error": "badToken", "detail": "unknown enrollment token"});
    assert!(!errors(&doc, enroll_401, &bad_token).is_empty());
}

#[test]
fn responses_may_grow_and_still_validate() {
    let mut response = serde_json::to_value(ReportResponse {
        accepted: 0,
        duplicates: 0,
    })
    .expect("serializes");
    response["newerServerField"] = json!(true);
    assert_eq!(
        component_errors("ReportResponse", &response),
        Vec::<String>::new()
    );
    let parsed: ReportResponse = serde_json::from_value(response).expect("agents ignore it too");
    assert_eq!(parsed.accepted, 0);
}

// ---------------------------------------------------------------------------
// What the server's parser refuses, the schema refuses

/// Asserts that the component schema `name` and serde's parser of `T` both
/// refuse `instance`, and that the schema's error mentions `expected`.
fn assert_refused_by_both<T: DeserializeOwned + std::fmt::Debug>(
    name: &str,
    instance: &Value,
    expected: &str,
) {
    let found = component_errors(name, instance);
    assert!(
        found.iter().any(|e| e.contains(expected)),
        "{name} should report `{expected}`, found {found:#?} for {instance:#}"
    );
    let parsed = serde_json::from_value::<T>(instance.clone());
    assert!(parsed.is_err(), "the server would accept it: {parsed:?}");
}

#[test]
fn an_unknown_field_is_refused_at_any_depth() {
    let mut top = enroll_request();
    top["tokn"] = json!("enrol-7f3c9a");
    assert_refused_by_both::<EnrollRequest>("EnrollRequest", &top, "tokn");

    let mut facts = enroll_request();
    facts["facts"]["hostName"] = json!("web1");
    assert_refused_by_both::<EnrollRequest>("EnrollRequest", &facts, "hostName");

    let mut os = enroll_request();
    os["facts"]["os"]["release"] = json!("bookworm");
    assert_refused_by_both::<EnrollRequest>("EnrollRequest", &os, "release");

    let mut inventory = serde_json::to_value(check_in_full()).expect("serializes");
    inventory["inventory"]["hash"] = json!(sha('a'));
    assert_refused_by_both::<CheckIn>("CheckIn", &inventory, "");

    let mut package = serde_json::to_value(check_in_full()).expect("serializes");
    package["inventory"]["packages"][0]["arch"] = json!("amd64");
    assert_refused_by_both::<CheckIn>("CheckIn", &package, "");

    let mut result = report();
    result["results"][0]["exitcode"] = json!(1);
    assert_refused_by_both::<Report>("Report", &result, "exitcode");
}

#[test]
fn a_value_of_the_wrong_type_is_refused() {
    let mut hostname = enroll_request();
    hostname["facts"]["hostname"] = json!(1);
    assert_refused_by_both::<EnrollRequest>("EnrollRequest", &hostname, "is not of type");

    let mut labels = enroll_request();
    labels["facts"]["labels"] = json!({"tier": 1});
    assert_refused_by_both::<EnrollRequest>("EnrollRequest", &labels, "is not of type");

    let mut packages = serde_json::to_value(check_in_full()).expect("serializes");
    packages["inventory"]["packages"] = json!("libssl3");
    assert_refused_by_both::<CheckIn>("CheckIn", &packages, "");

    let mut outcome = report();
    outcome["results"][0]["outcome"] = json!("crashed");
    assert_refused_by_both::<Report>("Report", &outcome, "");

    let mut at = report();
    at["results"][0]["at"] = json!("yesterday");
    assert_refused_by_both::<Report>("Report", &at, "date-time");

    let mut exit = report();
    exit["results"][0]["exitCode"] = json!("100");
    assert_refused_by_both::<Report>("Report", &exit, "is not of type");
}

#[test]
fn a_missing_field_an_unknown_kind_or_a_malformed_hash_is_refused() {
    let mut token = enroll_request();
    token.as_object_mut().expect("an object").remove("token");
    assert_refused_by_both::<EnrollRequest>("EnrollRequest", &token, "token");

    let unchanged =
        |hash: Value| json!({"facts": facts(), "inventory": {"kind": "unchanged", "hash": hash}});
    assert_eq!(
        component_errors("CheckIn", &unchanged(json!(inventory().hash().as_str()))),
        Vec::<String>::new()
    );
    assert_refused_by_both::<CheckIn>("CheckIn", &unchanged(json!("4f2a…")), "");
    assert_refused_by_both::<CheckIn>(
        "CheckIn",
        &unchanged(json!(format!("{}g", &sha('a')[1..]))),
        "",
    );

    let partial = json!({"facts": facts(), "inventory": {"kind": "partial", "packages": []}});
    assert_refused_by_both::<CheckIn>("CheckIn", &partial, "");
}

#[test]
fn the_schema_states_the_limits_the_server_enforces() {
    let mut long = serde_json::to_value(EnrollRequest {
        token: "t".into(),
        facts: Facts {
            hostname: "h".repeat(protocol::MAX_HOSTNAME + 1),
            ..facts()
        },
    })
    .expect("serializes");
    assert!(!component_errors("EnrollRequest", &long).is_empty());
    let parsed: EnrollRequest = serde_json::from_value(long.clone()).expect("parses");
    assert!(parsed.validate().is_err(), "and validate() refuses it");
    long["facts"]["hostname"] = json!("h".repeat(protocol::MAX_HOSTNAME));
    assert_eq!(
        component_errors("EnrollRequest", &long),
        Vec::<String>::new()
    );

    let many: Vec<Value> = (0..=protocol::MAX_RESULTS)
        .map(|_| report()["results"][0].clone())
        .collect();
    let report = json!({"results": many});
    assert!(!component_errors("Report", &report).is_empty());
    let parsed: Report = serde_json::from_value(report).expect("parses");
    assert!(parsed.validate().is_err());
}

// ---------------------------------------------------------------------------
// The examples in docs/agent-protocol.md

/// Every ```json block of docs/agent-protocol.md with the schema its
/// `<!-- schema: Name -->` marker names, and the line it starts on.
fn doc_examples() -> Vec<(usize, String, Value)> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/agent-protocol.md");
    let text = std::fs::read_to_string(&path).expect("docs/agent-protocol.md");
    let lines: Vec<&str> = text.lines().collect();
    let mut examples = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim() != "```json" {
            i += 1;
            continue;
        }
        let start = i + 1;
        let marker = lines[..i]
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .and_then(|l| l.trim().strip_prefix("<!-- schema: "))
            .and_then(|l| l.strip_suffix(" -->"))
            .unwrap_or_else(|| {
                panic!("docs/agent-protocol.md:{start}: a JSON example without a <!-- schema: Name --> line before it")
            });
        let end = (start..lines.len())
            .find(|&j| lines[j].trim() == "```")
            .unwrap_or_else(|| panic!("docs/agent-protocol.md:{start}: an unclosed block"));
        let json = lines[start..end].join("\n");
        let value = serde_json::from_str(&json)
            .unwrap_or_else(|e| panic!("docs/agent-protocol.md:{start}: not JSON: {e}"));
        examples.push((start, marker.to_owned(), value));
        i = end + 1;
    }
    examples
}

/// Parses `value` as `T`, as an agent or the server would.
fn parses_as<T: DeserializeOwned>(value: &Value) -> Result<T, String> {
    serde_json::from_value(value.clone()).map_err(|e| e.to_string())
}

#[test]
fn the_documented_examples_satisfy_the_schemas_and_the_types() {
    let examples = doc_examples();
    let names: std::collections::BTreeSet<&str> =
        examples.iter().map(|(_, n, _)| n.as_str()).collect();
    for name in [
        "EnrollRequest",
        "EnrollResponse",
        "CheckIn",
        "CheckInResponse",
        "Report",
        "ReportResponse",
        "ApiError",
    ] {
        assert!(names.contains(name), "no example of {name}");
    }
    for (line, name, value) in &examples {
        let at = format!("docs/agent-protocol.md:{line} ({name})");
        let found = component_errors(name, value);
        assert!(found.is_empty(), "{at}: {found:#?}");
        let parsed = match name.as_str() {
            "EnrollRequest" => parses_as::<EnrollRequest>(value)
                .and_then(|r| r.validate().map_err(|e| e.to_string())),
            "EnrollResponse" => parses_as::<EnrollResponse>(value).map(drop),
            "CheckIn" => {
                parses_as::<CheckIn>(value).and_then(|r| r.validate().map_err(|e| e.to_string()))
            }
            "CheckInResponse" => parses_as::<CheckInResponse>(value).map(drop),
            "Report" => {
                parses_as::<Report>(value).and_then(|r| r.validate().map_err(|e| e.to_string()))
            }
            "ReportResponse" => parses_as::<ReportResponse>(value).map(drop),
            "ApiError" => parses_as::<ApiError>(value).map(drop),
            other => panic!("{at}: no type for {other}"),
        };
        assert_eq!(parsed, Ok(()), "{at}");
    }
}

#[test]
fn the_documented_hash_etag_and_urls_are_the_ones_computed() {
    let examples = doc_examples();
    let of = |name: &str| -> Vec<&Value> {
        examples
            .iter()
            .filter(|(_, n, _)| n == name)
            .map(|(_, _, v)| v)
            .collect()
    };
    let check_ins = of("CheckIn");
    let full: CheckIn = serde_json::from_value(check_ins[0].clone()).expect("a check-in");
    let computed = full
        .inventory
        .to_inventory()
        .expect("the first check-in example sends the inventory")
        .expect("a valid inventory");
    assert_eq!(
        check_ins[1]["inventory"]["hash"],
        computed.hash().as_str(),
        "the hash-only example sends the hash of the full one"
    );
    let response: CheckInResponse =
        serde_json::from_value(of("CheckInResponse")[0].clone()).expect("a check-in response");
    assert_eq!(response.etag, protocol::etag(&response.instructions));
    for item in &response.instructions.items {
        if let Action::Install { files, .. } = &item.action {
            for file in files {
                assert_eq!(file.url, protocol::file_path(&file.sha256));
            }
        }
    }
    let reported: Report = serde_json::from_value(of("Report")[0].clone()).expect("a report");
    let issued: Vec<&str> = response
        .instructions
        .items
        .iter()
        .map(|i| i.id.as_str())
        .collect();
    for result in &reported.results {
        assert!(
            issued.contains(&result.instruction_id.as_str()),
            "{}",
            result.instruction_id
        );
    }
}

#[test]
fn blank_values_and_packages_the_server_refuses_are_refused_by_the_schema() {
    let mut blank = enroll_request();
    blank["facts"]["hostname"] = json!("   ");
    assert!(!component_errors("EnrollRequest", &blank).is_empty());
    let parsed: EnrollRequest = serde_json::from_value(blank).expect("parses");
    assert!(parsed.validate().is_err(), "and validate() refuses it");

    let mut family = enroll_request();
    family["facts"]["os"]["family"] = json!("");
    assert!(!component_errors("EnrollRequest", &family).is_empty());

    for (field, value) in [
        ("name", "lib ssl3"),
        ("name", ""),
        ("version", "3.0\u{1}"),
        ("architecture", "amd 64"),
        ("source", "open ssl"),
    ] {
        let mut check_in = serde_json::to_value(check_in_full()).expect("serializes");
        check_in["inventory"]["packages"][0][field] = json!(value);
        assert!(
            !component_errors("CheckIn", &check_in).is_empty(),
            "{field} {value:?}"
        );
        let parsed: CheckIn = serde_json::from_value(check_in).expect("parses");
        assert!(
            matches!(parsed.inventory.to_inventory(), Some(Err(_))),
            "the server refuses {field} {value:?} too"
        );
    }
    // Padding is trimmed, not refused, by both.
    let mut padded = serde_json::to_value(check_in_full()).expect("serializes");
    padded["inventory"]["packages"][0]["name"] = json!(" libssl3 ");
    padded["inventory"]["platform"] = json!("debian:12 ");
    assert_eq!(component_errors("CheckIn", &padded), Vec::<String>::new());
    let parsed: CheckIn = serde_json::from_value(padded).expect("parses");
    assert!(matches!(parsed.inventory.to_inventory(), Some(Ok(_))));
}
