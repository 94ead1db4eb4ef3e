//! The agent API's JSON extractor: axum's `Json`, without its cost on the
//! happy path.
//!
//! `axum::Json` parses every body through `serde_path_to_error`, which tracks
//! the path of every value so that an error can name it: for a full check-in
//! of 1,500 packages that was a tenth of the server's CPU. This extractor
//! parses with plain `serde_json` and, only when that fails, parses again with
//! the path tracked, so errors read as before (`facts.hostname: invalid
//! type …`) and valid bodies pay nothing for them.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

/// A request body parsed as JSON into `T`.
#[derive(Debug)]
pub(super) struct JsonBody<T>(pub T);

/// Why a body was refused, and the text that says so.
#[derive(Debug)]
pub(super) struct BodyRejection {
    /// The body was over the size limit (`413`); otherwise it was malformed.
    pub too_large: bool,
    pub text: String,
}

/// The agent API's error body (`malformed` or `tooLarge`), for a handler
/// that takes `JsonBody` without `Result`.
impl axum::response::IntoResponse for BodyRejection {
    fn into_response(self) -> axum::response::Response {
        super::agent::bad_json(&self)
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = BodyRejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers().get(header::CONTENT_TYPE)) {
            return Err(BodyRejection {
                too_large: false,
                text: "Expected request with `Content-Type: application/json`".to_owned(),
            });
        }
        // Honours the router's body limit (`DefaultBodyLimit`).
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|rejection| BodyRejection {
                too_large: rejection.status() == StatusCode::PAYLOAD_TOO_LARGE,
                text: rejection.body_text(),
            })?;
        parse(&bytes).map(JsonBody)
    }
}

/// `bytes` as a `T`; on failure, the error with the path of the value at fault.
fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, BodyRejection> {
    let fast = match serde_json::from_slice::<T>(bytes) {
        Ok(value) => return Ok(value),
        Err(e) => e,
    };
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let text = match serde_path_to_error::deserialize::<_, T>(&mut deserializer) {
        Err(e) if is_syntax(e.inner()) => {
            format!("Failed to parse the request body as JSON: {}", e.inner())
        }
        Err(e) if e.path().iter().next().is_some() => format!(
            "Failed to deserialize the JSON body into the target type: {}: {}",
            e.path(),
            e.inner()
        ),
        Err(e) => format!(
            "Failed to deserialize the JSON body into the target type: {}",
            e.inner()
        ),
        // Cannot happen (the same bytes, the same type); the first error stands.
        Ok(_) => format!("Failed to deserialize the JSON body into the target type: {fast}"),
    };
    Err(BodyRejection {
        too_large: false,
        text,
    })
}

fn is_syntax(e: &serde_json::Error) -> bool {
    matches!(
        e.classify(),
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof
    )
}

/// `application/json`, or any `application/…+json`, with any parameters.
fn is_json(content_type: Option<&header::HeaderValue>) -> bool {
    let Some(value) = content_type.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|subtype| subtype.ends_with("+json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        #[allow(dead_code)]
        inner: Inner,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        #[allow(dead_code)]
        count: u32,
    }

    #[test]
    fn a_wrong_value_is_named_by_its_path() {
        let e = parse::<Outer>(br#"{"inner":{"count":"three"}}"#).unwrap_err();
        assert!(!e.too_large);
        assert!(
            e.text.starts_with(
                "Failed to deserialize the JSON body into the target type: inner.count: invalid type: string \"three\""
            ),
            "{}",
            e.text
        );
    }

    #[test]
    fn broken_json_is_a_syntax_error_and_a_missing_field_has_no_path() {
        let e = parse::<Outer>(br#"{"inner":"#).unwrap_err();
        assert!(
            e.text
                .starts_with("Failed to parse the request body as JSON: EOF"),
            "{}",
            e.text
        );
        let e = parse::<Outer>(b"{}").unwrap_err();
        assert_eq!(
            e.text,
            "Failed to deserialize the JSON body into the target type: missing field `inner` at line 1 column 2"
        );
        assert!(parse::<Outer>(br#"{"inner":{"count":3}}"#).is_ok());
    }

    #[test]
    fn json_content_types() {
        let json = |s: &'static str| is_json(Some(&header::HeaderValue::from_static(s)));
        assert!(json("application/json"));
        assert!(json("Application/JSON; charset=utf-8"));
        assert!(json("application/problem+json"));
        assert!(!json("text/plain"));
        assert!(!json("application/jsonx"));
        assert!(!is_json(None));
    }
}
