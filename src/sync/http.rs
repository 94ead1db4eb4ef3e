//! Fetching feed documents: HTTP(S) with conditional requests, timeouts and
//! retries with backoff, through the configured proxy; and `file://` for
//! local mirrors and offline copies.

use std::time::Duration;

use fixpoint_core::policy::ProxySettings;

pub use crate::store::Validators;
use reqwest::StatusCode;
use reqwest::header::{
    ETAG, HeaderMap, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED, RETRY_AFTER,
};

/// What a fetch returned.
#[derive(Debug)]
pub enum Fetched {
    /// The server says the document has not changed since `Validators`.
    NotModified,
    Body {
        bytes: Vec<u8>,
        validators: Validators,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{url}: HTTP {status}")]
    Status { url: String, status: StatusCode },
    #[error("{url}: {detail}")]
    Transport { url: String, detail: String },
    #[error("{url}: response larger than {limit} bytes")]
    TooLarge { url: String, limit: u64 },
    #[error("{url}: {detail}")]
    File { url: String, detail: String },
    #[error("invalid proxy settings: {0}")]
    Proxy(String),
}

/// How hard to try.
#[derive(Debug, Clone, Copy)]
pub struct FetchPolicy {
    pub connect_timeout: Duration,
    /// For the whole request, body included: a feed index can be tens of megabytes.
    pub timeout: Duration,
    /// Attempts after the first, for transport errors, 429 and 5xx.
    pub retries: u32,
    /// The first backoff; each retry doubles it, and a server's `Retry-After` wins when longer.
    pub backoff: Duration,
    /// Refuse bodies larger than this.
    pub max_body: u64,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        FetchPolicy {
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(300),
            retries: 3,
            backoff: Duration::from_millis(500),
            max_body: 512 * 1024 * 1024,
        }
    }
}

/// An HTTP client for feeds.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    policy: FetchPolicy,
}

impl Fetcher {
    /// A client using `proxy` when given, else the standard `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY`
    /// environment variables.
    pub fn new(proxy: Option<&ProxySettings>, policy: FetchPolicy) -> Result<Fetcher, FetchError> {
        let client = client_builder(proxy)
            .map_err(FetchError::Proxy)?
            .connect_timeout(policy.connect_timeout)
            .timeout(policy.timeout)
            .build()
            .map_err(|e| FetchError::Proxy(e.to_string()))?;
        Ok(Fetcher { client, policy })
    }

    /// Fetches `url`, conditionally when `validators` are given.
    pub async fn get(
        &self,
        url: &str,
        validators: Option<&Validators>,
    ) -> Result<Fetched, FetchError> {
        if let Some(path) = url.strip_prefix("file://") {
            return read_file(url, path, self.policy.max_body).await;
        }
        let mut attempt = 0;
        loop {
            let wait = match self.try_get(url, validators).await {
                Ok(fetched) => return Ok(fetched),
                Err(Retry::No(e)) => return Err(e),
                Err(Retry::After(e, server_wait)) => {
                    if attempt >= self.policy.retries {
                        return Err(e);
                    }
                    let backoff = self.policy.backoff * 2u32.saturating_pow(attempt);
                    let wait = server_wait
                        .map_or(backoff, |w| w.max(backoff))
                        .min(Duration::from_secs(60));
                    tracing::warn!(%url, attempt = attempt + 1, wait_ms = wait.as_millis() as u64, error = %e, "retrying");
                    wait
                }
            };
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    async fn try_get(&self, url: &str, validators: Option<&Validators>) -> Result<Fetched, Retry> {
        let mut request = self.client.get(url);
        if let Some(v) = validators {
            if let Some(etag) = &v.etag {
                request = request.header(IF_NONE_MATCH, etag);
            }
            if let Some(lm) = &v.last_modified {
                request = request.header(IF_MODIFIED_SINCE, lm);
            }
        }
        let transport = |e: reqwest::Error| FetchError::Transport {
            url: url.to_owned(),
            detail: error_chain(&e),
        };
        let response = request
            .send()
            .await
            .map_err(|e| Retry::After(transport(e), None))?;
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED {
            return Ok(Fetched::NotModified);
        }
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            let wait = retry_after(response.headers());
            return Err(Retry::After(
                FetchError::Status {
                    url: url.to_owned(),
                    status,
                },
                wait,
            ));
        }
        if !status.is_success() {
            return Err(Retry::No(FetchError::Status {
                url: url.to_owned(),
                status,
            }));
        }
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let validators = Validators {
            etag: header(ETAG),
            last_modified: header(LAST_MODIFIED),
            accepted_date: None,
        };
        if response
            .content_length()
            .is_some_and(|n| n > self.policy.max_body)
        {
            return Err(Retry::No(FetchError::TooLarge {
                url: url.to_owned(),
                limit: self.policy.max_body,
            }));
        }
        let mut response = response;
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| Retry::After(transport(e), None))?
        {
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 > self.policy.max_body {
                return Err(Retry::No(FetchError::TooLarge {
                    url: url.to_owned(),
                    limit: self.policy.max_body,
                }));
            }
        }
        Ok(Fetched::Body { bytes, validators })
    }
}

enum Retry {
    No(FetchError),
    After(FetchError, Option<Duration>),
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// An error and its sources, `outer: inner: innermost`.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

async fn read_file(url: &str, path: &str, max: u64) -> Result<Fetched, FetchError> {
    let err = |e: std::io::Error| FetchError::File {
        url: url.to_owned(),
        detail: e.to_string(),
    };
    let meta = tokio::fs::metadata(path).await.map_err(err)?;
    if meta.len() > max {
        return Err(FetchError::TooLarge {
            url: url.to_owned(),
            limit: max,
        });
    }
    let bytes = tokio::fs::read(path).await.map_err(err)?;
    Ok(Fetched::Body {
        bytes,
        validators: Validators::default(),
    })
}

/// The client every outbound request of Fixpoint starts from: our user agent,
/// through `proxy` when given, else the standard `HTTPS_PROXY`/`HTTP_PROXY`/
/// `NO_PROXY` variables. Callers add their own timeouts. `Err`: the proxy
/// setting is unusable, with the reason.
pub(crate) fn client_builder(
    proxy: Option<&ProxySettings>,
) -> Result<reqwest::ClientBuilder, String> {
    install_crypto_provider();
    let mut builder =
        reqwest::Client::builder().user_agent(concat!("fixpoint/", env!("CARGO_PKG_VERSION")));
    if let Some(p) = proxy {
        let no_proxy = reqwest::NoProxy::from_string(&p.no_proxy.join(","));
        let proxy = reqwest::Proxy::all(&p.url)
            .map_err(|e| format!("{}: {e}", p.url))?
            .no_proxy(no_proxy);
        builder = builder.proxy(proxy);
    }
    Ok(builder)
}

/// rustls needs one process-wide crypto provider; we use ring, as sqlx does.
fn install_crypto_provider() {
    // Err means another part of the process installed one first: fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
