//! HTTP to the Fixpoint server: enrollment and check-in, as
//! `fixpoint_core::protocol` defines them. Errors keep the status, the
//! server's error code and its `Retry-After`, so the run loop can tell a
//! refusal from an outage.

use std::path::Path;
use std::time::Duration;

use fixpoint_core::protocol::{
    ApiError, CHECK_IN_PATH, CheckIn, CheckInResponse, ENROLL_PATH, EnrollRequest, EnrollResponse,
    REPORT_PATH, Report, ReportResponse,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A refused or failed request, naming the URL.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error status.
    #[error("{url}: HTTP {status}{}", detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Status {
        url: String,
        status: u16,
        /// `error: detail` from the server's [`ApiError`] body, or the body's start.
        detail: Option<String>,
        retry_after: Option<Duration>,
    },
    /// No answer: connection refused, TLS, timeout.
    #[error("{url}: {source}")]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// An answer that is not what the protocol says.
    #[error("{url}: unexpected answer: {message}")]
    Protocol { url: String, message: String },
}

impl ClientError {
    /// The HTTP status the server answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The server's error code (`unknownInstruction`), if it sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Status {
                detail: Some(d), ..
            } => d.split_once(':').map(|(code, _)| code),
            _ => None,
        }
    }

    /// The server's `Retry-After`, if it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ClientError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// How the agent talks to its server.
#[derive(Debug, Clone)]
pub struct ServerClient {
    base: String,
    http: reqwest::Client,
}

/// TLS trust and proxy, from the configuration.
#[derive(Debug, Default)]
pub struct ClientOptions<'a> {
    pub ca_file: Option<&'a Path>,
    pub proxy: Option<&'a str>,
}

impl ServerClient {
    pub fn new(base: &str, options: &ClientOptions<'_>) -> anyhow::Result<ServerClient> {
        use anyhow::Context;
        // rustls needs one process-wide crypto provider; Err means one is installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("fixpoint-agent/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(15))
            // A full inventory of 100,000 packages is a few MB: generous, but a
            // hung server must not hang the agent.
            .timeout(Duration::from_secs(120));
        if let Some(path) = options.ca_file {
            let pem = std::fs::read(path)
                .with_context(|| format!("reading the CA file {}", path.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .with_context(|| format!("{}: not PEM certificates", path.display()))?;
            if certs.is_empty() {
                anyhow::bail!("{}: no certificate in it", path.display());
            }
            builder = builder.tls_certs_merge(certs);
        }
        if let Some(proxy) = options.proxy {
            let proxy =
                reqwest::Proxy::all(proxy).with_context(|| format!("the proxy URL {proxy}"))?;
            builder = builder.proxy(proxy);
        }
        let http = builder.build().context("setting up the HTTP client")?;
        Ok(ServerClient {
            base: base.trim_end_matches('/').to_owned(),
            http,
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub async fn enroll(&self, request: &EnrollRequest) -> Result<EnrollResponse, ClientError> {
        self.post(ENROLL_PATH, None, request).await
    }

    pub async fn check_in(
        &self,
        credential: &str,
        request: &CheckIn,
    ) -> Result<CheckInResponse, ClientError> {
        self.post(CHECK_IN_PATH, Some(credential), request).await
    }

    pub async fn report(
        &self,
        credential: &str,
        request: &Report,
    ) -> Result<ReportResponse, ClientError> {
        self.post(REPORT_PATH, Some(credential), request).await
    }

    /// Starts a download of the server-relative `path` (`/api/v1/files/…`)
    /// from byte `offset`: the answer is `206` with the rest, or `200` with
    /// the whole file when the server ignores the range.
    pub async fn download(
        &self,
        credential: &str,
        path: &str,
        offset: u64,
    ) -> Result<reqwest::Response, ClientError> {
        let url = format!("{}{path}", self.base);
        let mut request = self
            .http
            .get(&url)
            .bearer_auth(credential)
            // A large package on a slow link: resuming covers a cut, this a hang.
            .timeout(Duration::from_secs(60 * 60));
        if offset > 0 {
            request = request.header(reqwest::header::RANGE, format!("bytes={offset}-"));
        }
        let response = request
            .send()
            .await
            .map_err(|source| ClientError::Transport {
                url: url.clone(),
                source,
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let retry_after = retry_after(&response);
        let bytes = response.bytes().await.unwrap_or_default();
        Err(ClientError::Status {
            url,
            status: status.as_u16(),
            detail: error_detail(&bytes),
            retry_after,
        })
    }

    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        credential: Option<&str>,
        body: &impl Serialize,
    ) -> Result<T, ClientError> {
        let url = format!("{}{path}", self.base);
        let transport = |source| ClientError::Transport {
            url: url.clone(),
            source,
        };
        let body = serde_json::to_vec(body).map_err(|e| ClientError::Protocol {
            url: url.clone(),
            message: format!("serialising the request: {e}"),
        })?;
        let mut request = self
            .http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(credential) = credential {
            request = request.bearer_auth(credential);
        }
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let retry_after = retry_after(&response);
        let bytes = response.bytes().await.map_err(transport)?;
        if !status.is_success() {
            return Err(ClientError::Status {
                url,
                status: status.as_u16(),
                detail: error_detail(&bytes),
                retry_after,
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Protocol {
            url,
            message: e.to_string(),
        })
    }
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// `error: detail` from the server's [`ApiError`] body, or the body's start.
fn error_detail(bytes: &[u8]) -> Option<String> {
    match serde_json::from_slice::<ApiError>(bytes) {
        Ok(e) => Some(format!("{}: {}", e.error, e.detail)),
        Err(_) if bytes.is_empty() => None,
        Err(_) => Some(String::from_utf8_lossy(bytes).chars().take(200).collect()),
    }
}
