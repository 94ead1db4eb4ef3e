//! `GET /api/v1/openapi.json`: the agent API's description, served without a
//! credential, and the server's real answers satisfy it.

use fixpoint_core::protocol::{self, CHECK_IN_PATH, ENROLL_PATH, OPENAPI_PATH, REPORT_PATH};
use serde_json::{Value, json};

use crate::openapi_schema;
use crate::support::{Serve, TOKEN};

/// Asserts that the document says `method path` may answer `status`, and that
/// `body` satisfies the schema it gives for it.
fn conforms(doc: &Value, method: &str, path: &str, status: u16, body: &Value) {
    let response = &doc["paths"][path][method]["responses"][status.to_string()];
    assert!(
        response.is_object(),
        "{method} {path} answered {status}, which the document does not list: {body}"
    );
    let schema = &response["content"]["application/json"]["schema"];
    let found = openapi_schema::errors(doc, schema, body);
    assert!(
        found.is_empty(),
        "{method} {path} {status}: {found:#?}\n{body:#}"
    );
}

#[test]
fn the_openapi_document_is_served_without_a_credential_and_the_answers_satisfy_it() {
    let s = Serve::new().snapshot(false).enrollment().start();
    let (code, headers, bytes) = s.request("GET", OPENAPI_PATH, None, None);
    assert_eq!(code, 200);
    assert_eq!(headers["content-type"], "application/json");
    let doc: Value = serde_json::from_slice(&bytes).expect("JSON");
    assert_eq!(
        doc,
        protocol::openapi(),
        "the same document as docs/openapi.json"
    );

    let facts =
        json!({"hostname": "web-9.corp.example", "os": {"family": "debian", "version": "12"}});
    let enroll = |token: &str| {
        s.post(
            ENROLL_PATH,
            None,
            json!({"token": token, "facts": facts}).to_string(),
        )
    };
    let (code, _, body) = enroll("wrong-token");
    conforms(&doc, "post", ENROLL_PATH, code, &body);
    assert_eq!(code, 401);
    let (code, _, body) = s.post(ENROLL_PATH, None, json!({"token": "t"}).to_string());
    conforms(&doc, "post", ENROLL_PATH, code, &body);
    assert_eq!(code, 400);
    let (code, _, body) = enroll(TOKEN);
    conforms(&doc, "post", ENROLL_PATH, code, &body);
    assert_eq!(code, 201);
    let credential = body["credential"].as_str().expect("credential").to_owned();

    let check_in = |credential: Option<&str>, body: String| s.post(CHECK_IN_PATH, credential, body);
    let unknown =
        json!({"facts": facts, "inventory": {"kind": "unchanged", "hash": "0".repeat(64)}});
    let (code, _, body) = check_in(None, unknown.to_string());
    conforms(&doc, "post", CHECK_IN_PATH, code, &body);
    assert_eq!(code, 401);
    let (code, etag, body) = check_in(Some(&credential), unknown.to_string());
    conforms(&doc, "post", CHECK_IN_PATH, code, &body);
    assert_eq!((code, &body["inventoryNeeded"]), (200, &json!(true)));
    assert_eq!(
        etag,
        Some(format!("\"{}\"", body["etag"].as_str().expect("etag"))),
        "the ETag header, here too"
    );
    let full = json!({"facts": facts, "inventory": {"kind": "full", "platform": "debian:12",
        "packages": [{"name": "openssl", "architecture": "amd64", "version": "3.0.14-1"}]}});
    let (code, _, body) = check_in(Some(&credential), full.to_string());
    conforms(&doc, "post", CHECK_IN_PATH, code, &body);
    assert_eq!(code, 200);
    let (code, _, body) = check_in(Some(&credential), "{\"facts\": 1".into());
    conforms(&doc, "post", CHECK_IN_PATH, code, &body);
    assert_eq!(code, 400);

    let (code, _, body) = s.post(
        REPORT_PATH,
        Some(&credential),
        json!({"results": [{"instructionId": "i-never-given", "outcome": "succeeded",
                            "at": "2026-11-25T02:10:00Z"}]})
        .to_string(),
    );
    conforms(&doc, "post", REPORT_PATH, code, &body);
    assert_eq!((code, &body["error"]), (400, &json!("unknownInstruction")));

    let files = format!("{}{{sha256}}", protocol::FILES_PATH);
    let (code, _, bytes) = s.request(
        "GET",
        &protocol::file_path(&"0".repeat(64)),
        Some(&credential),
        None,
    );
    let body: Value = serde_json::from_slice(&bytes).expect("an ApiError");
    conforms(&doc, "get", &files, code, &body);
    assert_eq!(code, 404);
}
