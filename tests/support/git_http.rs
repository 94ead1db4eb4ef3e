#![allow(dead_code)] // each test binary uses a part

//! Git's own smart HTTP server, `git http-backend`, behind a small HTTP/1.1 server on
//! loopback that speaks CGI to it, and that demands HTTP basic authentication with a token
//! first, as a git host does.
//!
//! One thread per connection; keep-alive, `Content-Length` and chunked request bodies;
//! the CGI `Status:` header becomes the status line and the CGI output is streamed back
//! chunked. A request body's `Content-Encoding` (git sends gzip) is passed to the backend as
//! `HTTP_CONTENT_ENCODING`, which it understands.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;

/// Where Debian's git package puts the CGI program.
pub const HTTP_BACKEND: &str = "/usr/lib/git-core/git-http-backend";

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub target: String,
    /// Whether it carried the expected credentials.
    pub authorized: bool,
    pub status: u16,
}

struct State {
    /// `Basic base64(user:token)`: the only `Authorization` header that is let through.
    expected: String,
    username: String,
    seen: Vec<Seen>,
}

/// A running server; stopped when dropped.
pub struct GitHttpServer {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    address: std::net::SocketAddr,
}

impl GitHttpServer {
    /// Serves the repositories below `root` (`{base}/NAME.git` is `root/NAME.git`) to
    /// requests authenticated as `username` with `token`.
    pub fn start(root: &Path, username: &str, token: &str) -> GitHttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let address = listener.local_addr().expect("the bound address");
        let state = Arc::new(Mutex::new(State {
            expected: basic(username, token),
            username: username.to_owned(),
            seen: Vec::new(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let root = root.to_owned();
        {
            let state = Arc::clone(&state);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let state = Arc::clone(&state);
                    let root = root.clone();
                    std::thread::spawn(move || {
                        // A client that hangs up mid-request is its own business.
                        let _ = serve_connection(stream, &root, &state);
                    });
                }
            });
        }
        GitHttpServer {
            base: format!("http://{address}"),
            state,
            stop,
            address,
        }
    }

    pub fn url(&self, repository: &str) -> String {
        format!("{}/{repository}", self.base)
    }

    /// From now on, only this token is accepted (a rotated secret).
    pub fn set_token(&self, token: &str) {
        let mut state = self.state.lock().expect("state lock");
        state.expected = basic(&state.username, token);
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().expect("state lock").seen.clone()
    }
}

impl Drop for GitHttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.address);
    }
}

fn basic(username: &str, token: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{token}"));
    format!("Basic {encoded}")
}

struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn serve_connection(stream: TcpStream, root: &Path, state: &Mutex<State>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    while let Some(request) = read_request(&mut reader, &mut writer)? {
        let authorized = {
            let state = state.lock().expect("state lock");
            request.header("authorization") == Some(state.expected.as_str())
        };
        let status = if authorized {
            let username = state.lock().expect("state lock").username.clone();
            run_backend(&request, root, &username, &mut writer)?
        } else {
            writer.write_all(
                b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"fixpoint-test\"\r\n\
                  Content-Type: text/plain\r\nContent-Length: 13\r\n\r\nUnauthorized\n",
            )?;
            401
        };
        writer.flush()?;
        state.lock().expect("state lock").seen.push(Seen {
            method: request.method.clone(),
            target: request.target.clone(),
            authorized,
            status,
        });
        if request
            .header("connection")
            .is_some_and(|c| c.eq_ignore_ascii_case("close"))
        {
            break;
        }
    }
    let _ = writer.shutdown(Shutdown::Both);
    Ok(())
}

/// The next request on the connection; `None` when the client closed it.
fn read_request(
    reader: &mut BufReader<TcpStream>,
    writer: &mut TcpStream,
) -> std::io::Result<Option<Request>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Err(std::io::Error::other(format!("bad request line {line:?}")));
    };
    let (method, target) = (method.to_owned(), target.to_owned());
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 {
            return Ok(None);
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    let mut request = Request {
        method,
        target,
        headers,
        body: Vec::new(),
    };
    if request
        .header("expect")
        .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
    {
        writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    if request
        .header("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size_line = String::new();
            reader.read_line(&mut size_line)?;
            let size_text = size_line.trim().split(';').next().unwrap_or("0");
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| std::io::Error::other(format!("bad chunk size {size_line:?}")))?;
            if size == 0 {
                // Trailers, up to the blank line.
                loop {
                    let mut trailer = String::new();
                    if reader.read_line(&mut trailer)? == 0 || trailer.trim().is_empty() {
                        break;
                    }
                }
                break;
            }
            let start = request.body.len();
            request.body.resize(start + size, 0);
            reader.read_exact(&mut request.body[start..])?;
            let mut crlf = [0u8; 2];
            reader.read_exact(&mut crlf)?;
        }
    } else if let Some(length) = request.header("content-length") {
        let length: usize = length
            .parse()
            .map_err(|_| std::io::Error::other(format!("bad Content-Length {length:?}")))?;
        request.body.resize(length, 0);
        reader.read_exact(&mut request.body)?;
    }
    Ok(Some(request))
}

/// Runs git-http-backend for the request and streams its answer; returns the status.
fn run_backend(
    request: &Request,
    root: &Path,
    username: &str,
    writer: &mut TcpStream,
) -> std::io::Result<u16> {
    let (path, query) = request
        .target
        .split_once('?')
        .unwrap_or((request.target.as_str(), ""));
    let mut command = Command::new(HTTP_BACKEND);
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .env("REQUEST_METHOD", &request.method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("CONTENT_LENGTH", request.body.len().to_string())
        .env("REMOTE_USER", username)
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(content_type) = request.header("content-type") {
        command.env("CONTENT_TYPE", content_type);
    }
    for (header, variable) in [
        ("content-encoding", "HTTP_CONTENT_ENCODING"),
        ("git-protocol", "HTTP_GIT_PROTOCOL"),
    ] {
        if let Some(value) = request.header(header) {
            command.env(variable, value);
        }
    }
    let mut child = command.spawn()?;
    // Feed the body from another thread: the backend may answer before it has read it all.
    let mut stdin = child.stdin.take().expect("piped stdin");
    let body = request.body.clone();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut status = 200u16;
    let mut reason = "OK".to_owned();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if stdout.read_line(&mut line)? == 0 {
            break;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let (code, text) = value.split_once(' ').unwrap_or((value, ""));
            status = code.parse().unwrap_or(500);
            reason = text.to_owned();
        } else if !name.eq_ignore_ascii_case("content-length") {
            headers.push(format!("{name}: {value}\r\n"));
        }
    }
    let mut head = format!("HTTP/1.1 {status} {reason}\r\n");
    for header in headers {
        head.push_str(&header);
    }
    head.push_str("Transfer-Encoding: chunked\r\n\r\n");
    writer.write_all(head.as_bytes())?;
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = stdout.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        writer.write_all(format!("{n:x}\r\n").as_bytes())?;
        writer.write_all(&buffer[..n])?;
        writer.write_all(b"\r\n")?;
    }
    writer.write_all(b"0\r\n\r\n")?;
    let _ = feeder.join();
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    let exit = child.wait()?;
    if !exit.success() || !stderr.trim().is_empty() {
        eprintln!(
            "git-http-backend {} {}: {exit}: {}",
            request.method,
            request.target,
            stderr.trim()
        );
    }
    Ok(status)
}
