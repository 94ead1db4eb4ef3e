//! The load generator's HTTP: one HTTP/1.1 keep-alive connection per server
//! and virtual client, requests sent one after the other on it (as `wrk`
//! does). No pool, no redirects, no TLS: the least client work per request, so
//! that on a machine shared with the server the measurement is the server's.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request};

/// A server to send requests to: `http://HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `http://127.0.0.1:8080`, as given less a trailing slash.
    pub url: String,
    /// `127.0.0.1:8080`: where to connect, and the `Host` header.
    pub authority: String,
}

impl Endpoint {
    /// `http://HOST:PORT` (a trailing slash is allowed; no path).
    pub fn parse(url: &str) -> anyhow::Result<Endpoint> {
        let trimmed = url.trim().trim_end_matches('/');
        let Some(authority) = trimmed.strip_prefix("http://") else {
            anyhow::bail!(
                "server URL {url:?}: expected http://HOST:PORT (the simulator speaks plain \
                 HTTP; run it against a listener without TLS)"
            );
        };
        anyhow::ensure!(
            !authority.is_empty() && !authority.contains('/'),
            "server URL {url:?}: expected http://HOST:PORT with no path"
        );
        let authority = if authority
            .rsplit_once(':')
            .is_some_and(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
        {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        Ok(Endpoint {
            url: trimmed.to_owned(),
            authority,
        })
    }
}

/// An answer: status, `Retry-After` in seconds, body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub body: Bytes,
}

/// Why a request has no answer.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("cannot connect: {0}")]
    Connect(std::io::Error),
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    #[error("no answer within the timeout")]
    Timeout,
}

impl SendError {
    /// A short label for the failure counts.
    pub fn kind(&self) -> &'static str {
        match self {
            SendError::Connect(_) => "connect",
            SendError::Http(_) => "connection",
            SendError::Timeout => "timeout",
        }
    }
}

/// One connection to one server, opened on first use and again after an error.
#[derive(Debug)]
pub struct Connection {
    endpoint: Arc<Endpoint>,
    host: HeaderValue,
    sender: Option<SendRequest<Full<Bytes>>>,
    /// Whether the open connection has answered a request: a failure to send
    /// on it may be the server having closed it while idle, worth one retry.
    reused: bool,
    timeout: Duration,
}

impl Connection {
    pub fn new(endpoint: Arc<Endpoint>, timeout: Duration) -> anyhow::Result<Connection> {
        let host = HeaderValue::from_str(&endpoint.authority)
            .with_context(|| format!("{} as a Host header", endpoint.authority))?;
        Ok(Connection {
            endpoint,
            host,
            sender: None,
            reused: false,
            timeout,
        })
    }

    async fn connect(&mut self) -> Result<&mut SendRequest<Full<Bytes>>, SendError> {
        if self.sender.as_ref().is_some_and(SendRequest::is_closed) {
            self.sender = None;
        }
        if self.sender.is_none() {
            let stream = tokio::net::TcpStream::connect(&self.endpoint.authority)
                .await
                .map_err(SendError::Connect)?;
            stream.set_nodelay(true).map_err(SendError::Connect)?;
            let (sender, connection) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
            tokio::spawn(async move {
                // Ends when the server closes or the sender is dropped.
                let _ = connection.await;
            });
            self.sender = Some(sender);
            self.reused = false;
        }
        match self.sender.as_mut() {
            Some(sender) => Ok(sender),
            None => unreachable!("connected above"),
        }
    }

    /// `POST path` with a JSON body, and `Authorization: Bearer` when a
    /// credential is given. A timeout or an error closes the connection.
    pub async fn post(
        &mut self,
        path: &'static str,
        credential: Option<&str>,
        body: Bytes,
    ) -> Result<Answer, SendError> {
        let timeout = self.timeout;
        match tokio::time::timeout(timeout, self.post_once(path, credential, body.clone())).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(SendError::Http(e)))
                if self.reused
                    && (e.is_canceled() || e.is_closed() || e.is_incomplete_message()) =>
            {
                // The server closed an idle connection as the request went out.
                self.sender = None;
                match tokio::time::timeout(timeout, self.post_once(path, credential, body)).await {
                    Ok(result) => result,
                    Err(_) => {
                        self.sender = None;
                        Err(SendError::Timeout)
                    }
                }
            }
            Ok(Err(e)) => {
                self.sender = None;
                Err(e)
            }
            Err(_) => {
                self.sender = None;
                Err(SendError::Timeout)
            }
        }
    }

    async fn post_once(
        &mut self,
        path: &'static str,
        credential: Option<&str>,
        body: Bytes,
    ) -> Result<Answer, SendError> {
        let host = self.host.clone();
        let sender = self.connect().await?;
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = hyper::Uri::from_static(path);
        let headers = request.headers_mut();
        headers.insert(header::HOST, host);
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(credential) = credential
            && let Ok(value) = HeaderValue::from_str(&format!("Bearer {credential}"))
        {
            headers.insert(header::AUTHORIZATION, value);
        }
        let result = async {
            sender.ready().await?;
            let response = sender.send_request(request).await?;
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let body = response.into_body().collect().await?.to_bytes();
            Ok::<_, hyper::Error>(Answer {
                status,
                retry_after,
                body,
            })
        }
        .await;
        match result {
            Ok(answer) => {
                self.reused = true;
                Ok(answer)
            }
            Err(e) => Err(SendError::Http(e)),
        }
    }
}

/// A virtual client's connections, one per server, used in turn: requests go
/// round-robin over the replicas.
#[derive(Debug)]
pub struct Connections {
    connections: Vec<Connection>,
    next: usize,
}

impl Connections {
    /// One (not yet opened) connection per endpoint, starting at `first`.
    pub fn new(
        endpoints: &[Arc<Endpoint>],
        first: usize,
        timeout: Duration,
    ) -> anyhow::Result<Connections> {
        anyhow::ensure!(!endpoints.is_empty(), "no server to send requests to");
        Ok(Connections {
            connections: endpoints
                .iter()
                .map(|e| Connection::new(Arc::clone(e), timeout))
                .collect::<anyhow::Result<_>>()?,
            next: first % endpoints.len(),
        })
    }

    /// The connection for the next request.
    pub fn next_connection(&mut self) -> &mut Connection {
        let at = self.next;
        self.next = (self.next + 1) % self.connections.len();
        &mut self.connections[at]
    }
}

#[cfg(test)]
mod tests {
    use super::Endpoint;

    #[test]
    fn server_urls_are_plain_http_host_and_port() {
        let e = Endpoint::parse("http://127.0.0.1:8080/").expect("valid");
        assert_eq!(e.url, "http://127.0.0.1:8080");
        assert_eq!(e.authority, "127.0.0.1:8080");
        assert_eq!(
            Endpoint::parse("http://localhost")
                .expect("valid")
                .authority,
            "localhost:80"
        );
        assert_eq!(
            Endpoint::parse("http://[::1]:9000")
                .expect("valid")
                .authority,
            "[::1]:9000"
        );
        assert!(Endpoint::parse("https://fixpoint.example").is_err());
        assert!(Endpoint::parse("http://h:1/api").is_err());
    }
}
