//! The OpenAPI 3.1 description of the agent API, built from the protocol's
//! types and constants so that it cannot say something they do not.
//!
//! ```text
//!  message types (EnrollRequest, CheckIn, …) ──schemars, JSON Schema 2020-12──▶ components.schemas
//!  ENROLL_PATH, CHECK_IN_PATH, …, ErrorCode (status, meaning) ─────────────────▶ paths, responses
//!        └─▶ openapi() ──▶ docs/openapi.json (`fixpoint generate`), GET /api/v1/openapi.json
//! ```
//!
//! OpenAPI 3.1's schema dialect is JSON Schema 2020-12, what schemars emits,
//! so the message schemas go in unchanged: doc comments become descriptions
//! (paragraphs unwrapped), `deny_unknown_fields` becomes
//! `additionalProperties: false` (requests refuse unknown fields; responses
//! may grow), fields without a serde default are `required`.
//!
//! Which error codes an operation returns is stated here, per operation; each
//! code's status and meaning come from [`ErrorCode`], which the server answers
//! with, so a code is never documented under another status than it is sent
//! with.

use std::collections::BTreeMap;

use schemars::Schema;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use schemars::transform::{Transform, transform_subschemas};
use serde_json::{Map, Value, json};

use super::{
    ApiError, CHECK_IN_PATH, CheckIn, CheckInResponse, ENROLL_PATH, EnrollRequest, EnrollResponse,
    ErrorCode, FILES_PATH, OPENAPI_PATH, PROTOCOL_VERSION, REPORT_PATH, Report, ReportResponse,
};
use crate::policy::schema::{UnwrapDescriptions, canonical};

/// The OpenAPI version the document follows.
pub const OPENAPI_VERSION: &str = "3.1.0";
/// The JSON Schema dialect of its schemas.
pub const SCHEMA_DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";
/// The name of the bearer credential's security scheme.
pub const SECURITY_SCHEME: &str = "agentCredential";

const GENERATED: &str =
    "Generated from fixpoint_core::protocol by `fixpoint generate`; do not edit.";

const DESCRIPTION: &str = "\
The API Fixpoint agents use: enrol once with an enrolment token, then check in on an interval \
(facts and inventory in, instructions out), report how each instruction ended, and download the \
files to install from the server, by SHA-256.

- Every path is under `/api/v1`; an incompatible change gets a new prefix.
- JSON, UTF-8, field names in camelCase, instants in RFC 3339 UTC. Optional fields are left out \
rather than sent as null.
- Requests refuse unknown fields (a misspelt field is a 400 naming it). Responses may grow: \
agents ignore fields they do not know.
- After enrolment every request carries `Authorization: Bearer <credential>`.
- Length limits are in bytes of UTF-8; a schema's `maxLength` counts characters, so it is the \
looser bound.

docs/agent-protocol.md in the Fixpoint repository explains the messages and the agent's \
behaviour (retries, journal, clocks).";

/// The OpenAPI 3.1 document of the agent API: deterministic (keys sorted),
/// self-contained (every `$ref` points into `components`).
pub fn openapi() -> Value {
    let mut generator = generator();
    let enroll_request = generator.subschema_for::<EnrollRequest>();
    let enroll_response = generator.subschema_for::<EnrollResponse>();
    let check_in_request = generator.subschema_for::<CheckIn>();
    let check_in_response = generator.subschema_for::<CheckInResponse>();
    let report_request = generator.subschema_for::<Report>();
    let report_response = generator.subschema_for::<ReportResponse>();
    let api_error = generator.subschema_for::<ApiError>();
    let schemas = generator.take_definitions(true);

    let body_errors = [
        ErrorCode::Malformed,
        ErrorCode::TooLong,
        ErrorCode::TooMany,
        ErrorCode::Empty,
    ];
    let enroll = operation(
        json!({
            "operationId": "enroll",
            "summary": "Enrol a machine: an enrolment token buys an agent id and a credential",
            "description": "Once per machine. No credential: the enrolment token (from the server's \
                configuration) is in the body. The credential is shown once; the server keeps only \
                its hash.",
            "security": [],
            "requestBody": json_body(&enroll_request),
        }),
        [("201", json_response("Enrolled.", &enroll_response))],
        &api_error,
        &[
            &body_errors[..],
            &[ErrorCode::Unauthorized, ErrorCode::EnrollmentDisabled],
            &[ErrorCode::TooLarge, ErrorCode::Unavailable],
        ]
        .concat(),
    );
    let mut checked_in = json_response(
        "The machine's instructions and when to check in next. When the server does not know the \
         inventory hash sent, `inventoryNeeded` is true and the instructions are empty: check in \
         again at once with the full inventory.",
        &check_in_response,
    );
    checked_in["headers"] = json!({"ETag": header(
        "The response's `etag`, quoted.",
        json!({"type": "string", "pattern": "^\"e-[0-9a-f]{32}\"$"}),
    )});
    let check_in = operation(
        json!({
            "operationId": "checkIn",
            "summary": "Check in: facts and inventory in, instructions out",
            "description": "Every interval (`nextCheckIn`) and at start-up, with the full inventory the \
                first time and whenever it changed, and otherwise only its hash. The instructions \
                carry their times; the agent follows them by its own clock, also while the server \
                is unreachable.",
            "requestBody": json_body(&check_in_request),
        }),
        [("200", checked_in)],
        &api_error,
        &[
            &body_errors[..],
            &[
                ErrorCode::Unauthorized,
                ErrorCode::TooLarge,
                ErrorCode::Unavailable,
            ],
        ]
        .concat(),
    );
    let report = operation(
        json!({
            "operationId": "report",
            "summary": "Report how instructions ended",
            "description": "Idempotent by instruction id: a result already stored is acknowledged \
                and counted under `duplicates`, never twice, so an agent that lost the answer sends \
                the same report again. Answered only once the results are durably stored.",
            "requestBody": json_body(&report_request),
        }),
        [(
            "200",
            json_response("The results are stored.", &report_response),
        )],
        &api_error,
        &[
            &body_errors[..],
            &[
                ErrorCode::UnknownInstruction,
                ErrorCode::Unauthorized,
                ErrorCode::TooLarge,
                ErrorCode::Unavailable,
            ],
        ]
        .concat(),
    );
    let describe = operation(
        json!({
            "operationId": "openApi",
            "summary": "This document",
            "security": [],
        }),
        [(
            "200",
            json!({
                "description": "The OpenAPI description of the agent API.",
                "content": {"application/json": {"schema": {"type": "object"}}},
            }),
        )],
        &api_error,
        &[],
    );

    let mut paths = Map::new();
    paths.insert(ENROLL_PATH.into(), json!({"post": enroll}));
    paths.insert(CHECK_IN_PATH.into(), json!({"post": check_in}));
    paths.insert(REPORT_PATH.into(), json!({"post": report}));
    paths.insert(
        format!("{FILES_PATH}{{sha256}}"),
        json!({
            "parameters": [{
                "name": "sha256",
                "in": "path",
                "required": true,
                "description": "The file's SHA-256, 64 lowercase hex digits, as in an instruction's `files[].url`.",
                "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            }],
            "get": file_operation(true, &api_error),
            "head": file_operation(false, &api_error),
        }),
    );
    paths.insert(OPENAPI_PATH.into(), json!({"get": describe}));

    canonical(json!({
        "openapi": OPENAPI_VERSION,
        "jsonSchemaDialect": SCHEMA_DIALECT,
        "x-generated": GENERATED,
        "info": {
            "title": "Fixpoint agent API",
            "version": PROTOCOL_VERSION.to_string(),
            "summary": "Enrolment, check-in, reports and file downloads for Fixpoint agents.",
            "description": DESCRIPTION,
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "tags": [{"name": "agent", "description": "What agents call."}],
        "security": [{SECURITY_SCHEME: []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The credential from enrolment: `Authorization: Bearer <credential>`. \
                        It identifies the machine: an agent reads only its own instructions and \
                        reports only for itself.",
                },
            },
        },
    }))
}

/// JSON Schema 2020-12 with the definitions under `components/schemas`.
fn generator() -> SchemaGenerator {
    let mut settings = SchemaSettings::draft2020_12()
        .with_transform(UnwrapDescriptions)
        .with_transform(PlainDocLinks);
    settings.definitions_path = "/components/schemas".into();
    settings.meta_schema = None;
    settings.into_generator()
}

/// An operation: `fields`, the `agent` tag, `success` responses, and an
/// error response per status of `errors`.
fn operation<const N: usize>(
    mut fields: Value,
    success: [(&str, Value); N],
    api_error: &Schema,
    errors: &[ErrorCode],
) -> Value {
    let mut responses = Map::new();
    for (status, response) in success {
        responses.insert(status.to_owned(), response);
    }
    let mut by_status: BTreeMap<u16, Vec<ErrorCode>> = BTreeMap::new();
    for code in errors {
        by_status.entry(code.status()).or_default().push(*code);
    }
    for (status, codes) in by_status {
        responses.insert(
            status.to_string(),
            error_response(status, &codes, api_error),
        );
    }
    fields["tags"] = json!(["agent"]);
    fields["responses"] = Value::Object(responses);
    fields
}

/// An `ApiError` response whose `error` is one of `codes`, each explained.
fn error_response(status: u16, codes: &[ErrorCode], api_error: &Schema) -> Value {
    let lines: Vec<String> = codes
        .iter()
        .map(|c| format!("- `{}`: {}.", c.as_str(), c.meaning()))
        .collect();
    let names: Vec<&str> = codes.iter().map(|c| c.as_str()).collect();
    let mut schema = api_error.clone().to_value();
    schema["properties"] = json!({"error": {"enum": names}});
    let mut response = json!({
        "description": format!("{}:\n{}", reason(status), lines.join("\n")),
        "content": {"application/json": {"schema": schema}},
    });
    if codes.contains(&ErrorCode::Unavailable) {
        response["headers"] = json!({"Retry-After": header(
            "Seconds to wait before trying again.",
            json!({"type": "integer", "minimum": 0}),
        )});
    }
    response
}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        413 => "Content Too Large",
        416 => "Range Not Satisfiable",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

fn json_body(schema: &Schema) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": schema}}})
}

fn json_response(description: &str, schema: &Schema) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

fn header(description: &str, schema: Value) -> Value {
    json!({"description": description, "required": true, "schema": schema})
}

/// `GET` (`with_body`) or `HEAD` of a staged file.
fn file_operation(with_body: bool, api_error: &Schema) -> Value {
    let bytes = |description: &str, headers: Value| {
        let mut response = json!({"description": description, "headers": headers});
        if with_body {
            response["content"] = json!({"application/octet-stream": {}});
        }
        response
    };
    let length = header(
        "The bytes in this response's body (for `HEAD`: in a `GET`'s).",
        json!({"type": "integer", "minimum": 0}),
    );
    let etag = header(
        "The file's SHA-256, quoted.",
        json!({"type": "string", "pattern": "^\"[0-9a-f]{64}\"$"}),
    );
    let ranges = header(
        "Always `bytes`: a download can resume.",
        json!({"type": "string", "const": "bytes"}),
    );
    let content_range = header(
        "The part sent: `bytes <first>-<last>/<size>`.",
        json!({"type": "string", "pattern": "^bytes [0-9]+-[0-9]+/[0-9]+$"}),
    );
    let whole = bytes(
        "The whole file.",
        json!({"Content-Length": length, "ETag": etag, "Accept-Ranges": ranges}),
    );
    let part = bytes(
        "The range asked for.",
        json!({"Content-Length": length, "ETag": etag, "Accept-Ranges": ranges,
               "Content-Range": content_range}),
    );
    let unsatisfiable = json!({
        "description": "The range cannot be satisfied: it starts at or after the end of the file, ends before it \
            starts, or is not numbers. No body.",
        "headers": {"Content-Range": header(
            "The file's size: `bytes */<size>`.",
            json!({"type": "string", "pattern": "^bytes \\*/[0-9]+$"}),
        )},
    });
    let (id, summary) = if with_body {
        (
            "getFile",
            "Download a staged file, whole or from a byte range",
        )
    } else {
        (
            "headFile",
            "A staged file's size and ETag, without the bytes",
        )
    };
    operation(
        json!({
            "operationId": id,
            "summary": summary,
            "description": "The server serves only files it staged, and re-verifies each against its \
                SHA-256 before serving it. The agent checks the size and SHA-256 of the whole file \
                before using it.",
            "parameters": [{
                "name": "Range",
                "in": "header",
                "required": false,
                "description": "One byte range, to resume an interrupted download: `bytes=<from>-`, \
                    `bytes=<from>-<to>` or `bytes=-<last n>`. Several ranges, or another unit, get \
                    the whole file.",
                "schema": {"type": "string"},
                "example": "bytes=150000-",
            }],
        }),
        [("200", whole), ("206", part), ("416", unsatisfiable)],
        api_error,
        &[
            ErrorCode::Unauthorized,
            ErrorCode::NotFound,
            ErrorCode::Unavailable,
        ],
    )
}

/// Rustdoc links (`` [`etag`] ``) read as plain code in a description (`` `etag` ``).
#[derive(Debug, Clone, Copy, Default)]
struct PlainDocLinks;

impl Transform for PlainDocLinks {
    fn transform(&mut self, schema: &mut Schema) {
        transform_subschemas(self, schema);
        if let Some(Value::String(text)) = schema.get_mut("description") {
            *text = plain_doc_links(text);
        }
    }
}

fn plain_doc_links(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("[`") {
        let Some(len) = rest[start + 2..].find("`]") else {
            break;
        };
        out.push_str(&rest[..start]);
        out.push_str(&rest[start + 1..start + 2 + len + 1]);
        rest = &rest[start + 2 + len + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where the component schemas are, as a `$ref` prefix.
    const SCHEMAS_REF: &str = "#/components/schemas/";

    fn document() -> Value {
        openapi()
    }

    /// Every `$ref` in `value`, with where it is.
    fn refs(value: &Value, at: String, out: &mut Vec<(String, String)>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    if k == "$ref"
                        && let Value::String(r) = v
                    {
                        out.push((at.clone(), r.clone()));
                    }
                    refs(v, format!("{at}/{k}"), out);
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    refs(v, format!("{at}/{i}"), out);
                }
            }
            _ => {}
        }
    }

    fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
        let mut found = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("a path item") {
                if method != "parameters" {
                    found.push((path.clone(), method.clone(), op));
                }
            }
        }
        found
    }

    #[test]
    fn every_reference_resolves_to_a_component() {
        let doc = document();
        let mut found = Vec::new();
        refs(&doc, String::new(), &mut found);
        assert!(found.len() > 10, "{found:?}");
        for (at, r) in found {
            let pointer = r
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("{at}: {r} is not local"));
            assert!(
                r.starts_with(SCHEMAS_REF),
                "{at}: {r} is not a component schema"
            );
            assert!(doc.pointer(pointer).is_some(), "{at}: {r} does not resolve");
        }
    }

    #[test]
    fn the_paths_are_the_protocols_and_every_operation_answers_and_is_tagged() {
        let doc = document();
        let paths: Vec<&str> = doc["paths"]
            .as_object()
            .expect("paths")
            .keys()
            .map(String::as_str)
            .collect();
        let files = format!("{FILES_PATH}{{sha256}}");
        assert!(
            paths
                .iter()
                .all(|p| p.starts_with(crate::protocol::API_PREFIX))
        );
        let mut expected = vec![
            CHECK_IN_PATH,
            ENROLL_PATH,
            files.as_str(),
            OPENAPI_PATH,
            REPORT_PATH,
        ];
        expected.sort_unstable();
        assert_eq!(paths, expected);
        let mut ids = Vec::new();
        for (path, method, op) in operations(&doc) {
            let responses = op["responses"].as_object().expect("responses");
            assert!(!responses.is_empty(), "{method} {path}");
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{method} {path} has no success"
            );
            for (status, response) in responses {
                assert!(
                    status.len() == 3 && status.parse::<u16>().is_ok(),
                    "{method} {path}: {status}"
                );
                assert!(
                    response["description"]
                        .as_str()
                        .is_some_and(|d| !d.is_empty()),
                    "{method} {path} {status} has no description"
                );
            }
            assert_eq!(op["tags"], json!(["agent"]));
            ids.push(
                op["operationId"]
                    .as_str()
                    .expect("an operationId")
                    .to_owned(),
            );
        }
        let count = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), count, "operationIds are unique: {ids:?}");
        assert_eq!(count, 6);
    }

    #[test]
    fn error_responses_list_the_codes_sent_with_their_status() {
        let doc = document();
        let mut seen = Vec::new();
        for (path, method, op) in operations(&doc) {
            for (status, response) in op["responses"].as_object().expect("responses") {
                let schema = &response["content"]["application/json"]["schema"];
                if schema["$ref"] != format!("{SCHEMAS_REF}ApiError") {
                    continue;
                }
                let codes = schema["properties"]["error"]["enum"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{method} {path} {status}: no codes"));
                for code in codes {
                    let code = ErrorCode::ALL
                        .into_iter()
                        .find(|c| c.as_str() == code)
                        .unwrap_or_else(|| panic!("{method} {path}: unknown code {code}"));
                    assert_eq!(code.status().to_string(), *status, "{code}");
                    let description = response["description"].as_str().unwrap_or_default();
                    assert!(description.contains(&format!("`{code}`")), "{description}");
                    seen.push(code);
                }
            }
        }
        for code in ErrorCode::ALL {
            assert!(seen.contains(&code), "{code} is documented nowhere");
        }
        let report = &doc["paths"][REPORT_PATH]["post"]["responses"];
        assert!(
            report["400"]["content"]["application/json"]["schema"]["properties"]["error"]["enum"]
                .as_array()
                .is_some_and(|c| c.contains(&json!("unknownInstruction")))
        );
        let enroll = &doc["paths"][ENROLL_PATH]["post"]["responses"];
        assert!(enroll["403"].is_object() && enroll["201"].is_object());
        assert!(enroll["200"].is_null(), "enrolment answers 201 Created");
        assert!(
            doc["paths"][CHECK_IN_PATH]["post"]["responses"]["403"].is_null(),
            "only enrolment can be closed"
        );
        let unavailable = &doc["paths"][CHECK_IN_PATH]["post"]["responses"]["503"];
        assert_eq!(unavailable["headers"]["Retry-After"]["required"], true);
    }

    #[test]
    fn only_enrolment_and_this_document_need_no_credential() {
        let doc = document();
        assert_eq!(doc["security"], json!([{SECURITY_SCHEME: []}]));
        assert_eq!(
            doc["components"]["securitySchemes"][SECURITY_SCHEME]["scheme"],
            "bearer"
        );
        for (path, method, op) in operations(&doc) {
            let open = op.get("security") == Some(&json!([]));
            let should = path == ENROLL_PATH || path == OPENAPI_PATH;
            assert_eq!(open, should, "{method} {path}");
            // Enrolment answers 401 too, for an unknown enrolment token.
            assert_eq!(
                op["responses"].get("401").is_some(),
                path != OPENAPI_PATH,
                "{method} {path}"
            );
        }
    }

    #[test]
    fn the_files_endpoint_documents_ranges_and_their_headers() {
        let doc = document();
        let item = &doc["paths"][format!("{FILES_PATH}{{sha256}}")];
        assert_eq!(item["parameters"][0]["in"], "path");
        for method in ["get", "head"] {
            let responses = &item[method]["responses"];
            for status in ["200", "206", "401", "404", "416", "503"] {
                assert!(responses[status].is_object(), "{method} {status}");
            }
            assert!(responses["206"]["headers"]["Content-Range"].is_object());
            assert!(responses["416"]["headers"]["Content-Range"].is_object());
            assert_eq!(item[method]["parameters"][0]["name"], "Range");
            assert_eq!(
                responses["200"]["content"].is_object(),
                method == "get",
                "a HEAD has no body"
            );
        }
    }

    #[test]
    fn requests_refuse_unknown_fields_and_responses_do_not() {
        let doc = document();
        let schemas = &doc["components"]["schemas"];
        for name in [
            "EnrollRequest",
            "CheckIn",
            "Facts",
            "Report",
            "InstructionResult",
            "OsFacts",
        ] {
            assert_eq!(schemas[name]["additionalProperties"], false, "{name}");
        }
        for branch in schemas["InventoryPayload"]["oneOf"]
            .as_array()
            .expect("oneOf")
        {
            assert_eq!(branch["additionalProperties"], false, "{branch}");
        }
        for name in [
            "EnrollResponse",
            "CheckInResponse",
            "Instructions",
            "Instruction",
            "ApiError",
        ] {
            assert!(schemas[name]["additionalProperties"].is_null(), "{name}");
        }
    }

    #[test]
    fn instants_are_date_times_and_limits_come_from_the_constants() {
        let doc = document();
        let schemas = &doc["components"]["schemas"];
        assert_eq!(
            schemas["InstructionResult"]["properties"]["at"]["format"],
            "date-time"
        );
        assert_eq!(
            schemas["CheckInResponse"]["properties"]["nextCheckIn"]["format"],
            "date-time"
        );
        assert_eq!(
            schemas["Instruction"]["properties"]["deadline"]["format"],
            "date-time"
        );
        assert_eq!(
            schemas["Facts"]["properties"]["hostname"]["maxLength"],
            crate::protocol::MAX_HOSTNAME
        );
        assert_eq!(
            schemas["Report"]["properties"]["results"]["maxItems"],
            crate::protocol::MAX_RESULTS
        );
        assert_eq!(schemas["InventoryHash"]["pattern"], "^[0-9a-fA-F]{64}$");
    }

    #[test]
    fn descriptions_are_unwrapped_prose_without_rustdoc_links() {
        fn walk(value: &Value, out: &mut Vec<String>) {
            match value {
                Value::Object(map) => {
                    if let Some(Value::String(d)) = map.get("description") {
                        out.push(d.clone());
                    }
                    map.values().for_each(|v| walk(v, out));
                }
                Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
                _ => {}
            }
        }
        let mut descriptions = Vec::new();
        walk(&document()["components"], &mut descriptions);
        assert!(descriptions.len() > 30);
        for d in &descriptions {
            assert!(!d.contains("[`"), "{d}");
        }
        let schemas = &document()["components"]["schemas"];
        assert_eq!(
            schemas["CheckInResponse"]["properties"]["inventoryNeeded"]["description"],
            "The server does not know the inventory hash the agent sent: check in again at once \
             with the full inventory. `instructions` are then empty."
        );
        assert_eq!(
            plain_doc_links("see [`etag`] and [`a::b`]."),
            "see `etag` and `a::b`."
        );
        assert_eq!(plain_doc_links("[`open"), "[`open");
    }

    #[test]
    fn the_document_is_the_same_every_time() {
        assert_eq!(
            serde_json::to_string(&document()).expect("serializes"),
            serde_json::to_string(&document()).expect("serializes")
        );
    }
}
