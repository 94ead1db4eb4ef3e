//! Checking JSON against the agent API's OpenAPI document: any schema taken
//! from the document, with its `$ref`s into `#/components/schemas/`, as a
//! JSON Schema 2020-12 validator that also checks formats (`date-time`).

use serde_json::{Value, json};

/// A validator for `schema`, a schema of `document` (or a `$ref` into it).
pub fn validator(document: &Value, schema: &Value) -> jsonschema::Validator {
    // The components go along, at the same place, so that `#/components/...` resolves.
    let root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": document["components"],
        "allOf": [schema],
    });
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&root)
        .unwrap_or_else(|e| panic!("not a valid 2020-12 schema: {e}\n{schema:#}"))
}

/// The errors `schema` (of `document`) finds in `instance`, as `path: message`.
pub fn errors(document: &Value, schema: &Value, instance: &Value) -> Vec<String> {
    validator(document, schema)
        .iter_errors(instance)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}
