//! Who may read the console: a bearer token, basic credentials, or a user
//! name (and groups) in a header set by an authenticating proxy such as
//! oauth2-proxy, checked against an allow-list. Separate from the agents'
//! credentials: an agent's credential opens nothing here, and these open
//! nothing in the agent API (which knows only machine credentials).

use axum::http::HeaderMap;
use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::server::Secret;

/// A user name (and groups) in request headers, trusted because only the
/// proxy can reach the server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedHeader {
    /// The header with the user name, e.g. `X-Forwarded-User`.
    pub user: String,
    /// The header with the user's groups, comma-separated, e.g. `X-Forwarded-Groups`.
    pub groups: Option<String>,
    /// Users let in by name.
    pub allow_users: Vec<String>,
    /// Users in any of these groups are let in.
    pub allow_groups: Vec<String>,
}

/// How the console authenticates; several ways may be configured at once.
#[derive(Debug, Clone, Default)]
pub struct ConsoleAuth {
    pub token: Option<Secret>,
    pub basic: Option<(String, Secret)>,
    pub trusted: Option<TrustedHeader>,
}

/// Who was let in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Viewer {
    Token,
    User(String),
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// No authentication is configured: the console is closed.
    NotConfigured,
    /// No credentials, or wrong ones.
    Unauthenticated,
    /// Authenticated by the proxy, but not on the allow-list.
    NotAllowed(String),
    /// A secret could not be read (a missing file): nobody gets in.
    Broken(String),
}

/// Equal by SHA-256, so the comparison takes the same time wherever the
/// strings first differ.
fn same(a: &str, b: &str) -> bool {
    Sha256::digest(a.as_bytes()) == Sha256::digest(b.as_bytes())
}

impl ConsoleAuth {
    pub fn is_configured(&self) -> bool {
        self.token.is_some() || self.basic.is_some() || self.trusted.is_some()
    }

    /// Lets a request in, or says why not.
    pub fn check(&self, headers: &HeaderMap) -> Result<Viewer, Denied> {
        if !self.is_configured() {
            return Err(Denied::NotConfigured);
        }
        let authorization = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if let (Some(token), Some(given)) = (&self.token, authorization.strip_prefix("Bearer ")) {
            let expected = token.read().map_err(|e| Denied::Broken(format!("{e:#}")))?;
            if same(given.trim(), &expected) {
                return Ok(Viewer::Token);
            }
        }
        if let (Some((user, password)), Some(given)) =
            (&self.basic, authorization.strip_prefix("Basic "))
            && let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(given.trim())
            && let Ok(text) = String::from_utf8(bytes)
            && let Some((u, p)) = text.split_once(':')
        {
            let expected = password
                .read()
                .map_err(|e| Denied::Broken(format!("{e:#}")))?;
            if same(u, user) & same(p, &expected) {
                return Ok(Viewer::User(u.to_owned()));
            }
        }
        if let Some(t) = &self.trusted
            && let Some(user) = headers
                .get(t.user.as_str())
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|u| !u.is_empty())
        {
            let groups: Vec<&str> = t
                .groups
                .as_deref()
                .and_then(|h| headers.get(h))
                .and_then(|v| v.to_str().ok())
                .map(|g| {
                    g.split(',')
                        .map(str::trim)
                        .filter(|g| !g.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            let allowed = t.allow_users.iter().any(|u| u == user)
                || groups.iter().any(|g| t.allow_groups.iter().any(|a| a == g));
            return if allowed {
                Ok(Viewer::User(user.to_owned()))
            } else {
                Err(Denied::NotAllowed(user.to_owned()))
            };
        }
        Err(Denied::Unauthenticated)
    }

    /// The `WWW-Authenticate` challenge for a refused request.
    pub fn challenge(&self) -> &'static str {
        if self.basic.is_some() {
            r#"Basic realm="Fixpoint console", charset="UTF-8""#
        } else {
            r#"Bearer realm="Fixpoint console""#
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().expect("header value"));
        }
        h
    }

    fn basic(user: &str, password: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        )
    }

    #[test]
    fn nothing_configured_lets_nobody_in() {
        let auth = ConsoleAuth::default();
        assert_eq!(
            auth.check(&headers(&[("authorization", "Bearer x")])),
            Err(Denied::NotConfigured)
        );
    }

    #[test]
    fn a_token_opens_and_a_wrong_one_does_not() {
        let auth = ConsoleAuth {
            token: Some(Secret::Value("t0ken".into())),
            ..ConsoleAuth::default()
        };
        assert_eq!(
            auth.check(&headers(&[("authorization", "Bearer t0ken")])),
            Ok(Viewer::Token)
        );
        for wrong in ["Bearer t0ke", "Bearer t0ken2", "t0ken", "Basic dDBrZW4="] {
            assert_eq!(
                auth.check(&headers(&[("authorization", wrong)])),
                Err(Denied::Unauthenticated),
                "{wrong}"
            );
        }
        assert_eq!(auth.check(&HeaderMap::new()), Err(Denied::Unauthenticated));
    }

    #[test]
    fn basic_credentials_need_both_parts() {
        let auth = ConsoleAuth {
            basic: Some(("auditor".into(), Secret::Value("pa:ss".into()))),
            ..ConsoleAuth::default()
        };
        assert_eq!(
            auth.check(&headers(&[("authorization", &basic("auditor", "pa:ss"))])),
            Ok(Viewer::User("auditor".into()))
        );
        assert_eq!(
            auth.check(&headers(&[("authorization", &basic("auditor", "pa"))])),
            Err(Denied::Unauthenticated)
        );
        assert_eq!(
            auth.check(&headers(&[("authorization", &basic("admin", "pa:ss"))])),
            Err(Denied::Unauthenticated)
        );
        assert_eq!(
            auth.check(&headers(&[("authorization", "Basic !!notbase64")])),
            Err(Denied::Unauthenticated)
        );
        assert!(auth.challenge().starts_with("Basic"));
    }

    #[test]
    fn a_proxy_header_opens_for_allowed_users_and_groups() {
        let auth = ConsoleAuth {
            trusted: Some(TrustedHeader {
                user: "x-forwarded-user".into(),
                groups: Some("x-forwarded-groups".into()),
                allow_users: vec!["ana".into()],
                allow_groups: vec!["secops".into()],
            }),
            ..ConsoleAuth::default()
        };
        assert_eq!(
            auth.check(&headers(&[("x-forwarded-user", "ana")])),
            Ok(Viewer::User("ana".into()))
        );
        assert_eq!(
            auth.check(&headers(&[
                ("x-forwarded-user", "bo"),
                ("x-forwarded-groups", "dev, secops")
            ])),
            Ok(Viewer::User("bo".into()))
        );
        assert_eq!(
            auth.check(&headers(&[
                ("x-forwarded-user", "bo"),
                ("x-forwarded-groups", "dev,secops-readers")
            ])),
            Err(Denied::NotAllowed("bo".into()))
        );
        assert_eq!(
            auth.check(&headers(&[("x-forwarded-user", "  ")])),
            Err(Denied::Unauthenticated)
        );
    }

    #[test]
    fn an_unreadable_secret_file_is_an_error_not_an_open_door() {
        let auth = ConsoleAuth {
            token: Some(Secret::File("/nonexistent/console-token".into())),
            ..ConsoleAuth::default()
        };
        assert!(matches!(
            auth.check(&headers(&[("authorization", "Bearer x")])),
            Err(Denied::Broken(_))
        ));
    }
}
