//! The shell the serve tests share: [`Serve`] says how to start the real
//! `fixpoint serve` binary, [`Server`] is the running process on a loopback
//! port and speaks HTTP to it, and a few helpers play an agent.
//!
//! ```ignore
//! on_each_database(|db| {
//!     let s = Serve::new().snapshot(false).enrollment().database(&db).start();
//!     let agent = s.enroll(&facts(json!({"role": "web"})));
//!     let v = s.wait_for("a plan", |v| !v["plan"].is_null());
//! });
//! ```

use std::cell::RefCell;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fixpoint::store::Store;
use serde_json::{Value, json};

/// The enrollment token of servers started with [`Serve::enrollment`].
pub const TOKEN: &str = "s3cret-token";

/// The console's bearer token, which every server the tests start accepts
/// (unless a test gives console options of its own); [`Server::get`] sends it.
pub const CONSOLE_TOKEN: &str = "console-t0ken";

/// How long [`Server::wait_for`] waits before it fails the test.
const PATIENCE: Duration = Duration::from_secs(20);

/// The repository root: `policies/` and `examples/` are read from here.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The database a server keeps its state in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Db {
    /// SQLite in the server's data directory.
    Sqlite,
    /// A PostgreSQL database, by URL.
    Postgres(String),
}

impl std::fmt::Display for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Db::Sqlite => "SQLite",
            Db::Postgres(_) => "PostgreSQL",
        })
    }
}

/// Runs a test's `body` on SQLite, then on a fresh PostgreSQL database named
/// after the test. Without PostgreSQL that half is skipped (and said so on
/// stderr), except with CI=true: then the test fails.
pub fn on_each_database(body: impl Fn(Db)) {
    let thread = std::thread::current();
    // The test harness names each test's thread after the test: unique, so two
    // tests never share (and drop) one database.
    let test = thread.name().expect("a test thread has the test's name");
    eprintln!("{test}: on SQLite");
    body(Db::Sqlite);
    if let Some(url) = block_on(crate::databases::fresh_postgres(&format!("serve_{test}"))) {
        eprintln!("{test}: on PostgreSQL");
        body(Db::Postgres(url));
    }
}

/// How to start `fixpoint serve`: by default on a free loopback port with a
/// copy of `policies/` (which the test may edit), the example fleet snapshot,
/// a reconcile every second and SQLite in a temporary data directory.
pub struct Serve {
    dir: tempfile::TempDir,
    snapshot: bool,
    database: Db,
    args: Vec<String>,
    /// Whether the server gets [`CONSOLE_TOKEN`] (unless given console options).
    console_token: bool,
}

impl Default for Serve {
    fn default() -> Serve {
        let dir = tempfile::tempdir().expect("tempdir");
        copy_policies(&dir.path().join("policies"));
        Serve {
            dir,
            snapshot: true,
            database: Db::Sqlite,
            args: Vec::new(),
            console_token: true,
        }
    }
}

impl Serve {
    pub fn new() -> Serve {
        Serve::default()
    }

    /// With the example fleet snapshot (the default), or without: then the
    /// server plans the machines in its database, those agents checked in.
    pub fn snapshot(mut self, snapshot: bool) -> Serve {
        self.snapshot = snapshot;
        self
    }

    /// More command-line arguments, after the defaults (so they win).
    pub fn args(mut self, args: &[&str]) -> Serve {
        self.args.extend(args.iter().map(|&a| a.to_owned()));
        self
    }

    /// No console credentials at all: the console is closed.
    pub fn without_console_credentials(mut self) -> Serve {
        self.console_token = false;
        self
    }

    /// The database: SQLite in the data directory (the default) or PostgreSQL.
    pub fn database(mut self, database: &Db) -> Serve {
        self.database = database.clone();
        self
    }

    /// Opens the server's database, to seed it before the server starts (close
    /// it before starting the server).
    pub async fn open_store(&self) -> Store {
        match &self.database {
            Db::Sqlite => Store::open_in_data_dir(&self.data_dir()).await,
            Db::Postgres(url) => Store::open(url).await,
        }
        .unwrap_or_else(|e| panic!("the {} store opens: {e}", self.database))
    }

    /// `yaml` as the only policy file, instead of the copy of `policies/`.
    pub fn policy(self, yaml: &str) -> Serve {
        let dir = self.policies();
        std::fs::remove_dir_all(&dir).expect("remove the copied policies");
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("policy.yaml"), yaml).expect("write the policy");
        self
    }

    /// The example catalog (`examples/fleet/catalog.json`) imported into the
    /// server's database before it starts.
    pub fn example_catalog(self) -> Serve {
        block_on(async {
            let store = self.open_store().await;
            import_example_catalog(&store).await;
            store.close().await;
        });
        self
    }

    /// Enrollment open with [`TOKEN`].
    pub fn enrollment(self) -> Serve {
        self.args(&["--enrollment-token", TOKEN])
    }

    /// The temporary directory everything lives in; deleted with the server.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's `--data-dir` (the SQLite database, staging).
    pub fn data_dir(&self) -> PathBuf {
        self.dir().join("data")
    }

    /// The policy directory the server follows.
    pub fn policies(&self) -> PathBuf {
        self.dir().join("policies")
    }

    /// Starts the server and waits until it listens.
    pub fn start(self) -> Server {
        let (child, base) = self.spawn();
        Server {
            serve: self,
            child: Mutex::new(child),
            base,
        }
    }

    fn spawn(&self) -> (Child, String) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_fixpoint"));
        command
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .arg("--policies")
            .arg(self.policies());
        let given = |flag: &str| self.args.iter().any(|a| a == flag);
        if !given("--reconcile-interval") {
            command.args(["--reconcile-interval", "1s"]);
        }
        // The example policies name real Debian mirrors; tests that sync serve their own.
        if !given("--catalog-sync") {
            command.args(["--catalog-sync", "false"]);
        }
        if self.console_token && !self.args.iter().any(|a| a.starts_with("--console-")) {
            command.args(["--console-token", CONSOLE_TOKEN]);
        }
        if self.snapshot {
            command
                .arg("--fleet")
                .arg(root().join("examples/fleet/snapshot.json"));
        }
        if let Db::Postgres(url) = &self.database {
            command.args(["--database-url", url]);
        }
        let mut child = command
            .arg("--data-dir")
            .arg(self.data_dir())
            .args(&self.args)
            .env_remove("FIXPOINT_DATABASE_URL")
            .env_remove("FIXPOINT_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("fixpoint serve starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("a first line");
        let Some(base) = line.trim().strip_prefix("fixpoint: listening on ") else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("unexpected first line {line:?}");
        };
        (child, base.to_owned())
    }
}

fn copy_policies(to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(root().join("policies")).expect("policies/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|x| x == "yaml") {
            std::fs::copy(&path, to.join(path.file_name().expect("name"))).expect("copy");
        }
    }
}

/// A running `fixpoint serve`, killed when dropped.
pub struct Server {
    serve: Serve,
    /// Behind a lock so that a thread can kill the server while others use it.
    child: Mutex<Child>,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The policy directory the server follows.
    pub fn policies(&self) -> PathBuf {
        self.serve.policies()
    }

    pub fn pid(&self) -> u32 {
        self.child.lock().expect("child lock").id()
    }

    /// `kill -9`: SIGKILL (what `Child::kill` sends on unix), then reaps it.
    pub fn kill(&self) {
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Kills the server if it runs and starts it again with the same options,
    /// data directory and database (on another port).
    pub fn restart(&mut self) {
        self.kill();
        let (child, base) = self.serve.spawn();
        *self.child.lock().expect("child lock") = child;
        self.base = base;
    }

    /// How the server exited, if it does within `limit`.
    pub fn exit_within(&self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self
                .child
                .lock()
                .expect("child lock")
                .try_wait()
                .expect("wait")
            {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `GET path` as a console user ([`CONSOLE_TOKEN`]): status and body text.
    pub fn get(&self, path: &str) -> (u16, String) {
        let (code, _, body) = self.request("GET", path, Some(CONSOLE_TOKEN), None);
        (code, String::from_utf8(body).expect("utf-8 body"))
    }

    /// The value of one sample of `/metrics` (`name{labels}` exactly as exposed).
    pub fn metric(&self, sample: &str) -> Option<f64> {
        self.metrics()
            .lines()
            .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' ')?.parse().ok())
    }

    /// The Prometheus text of `/metrics`.
    pub fn metrics(&self) -> String {
        let (code, text) = self.get("/metrics");
        assert_eq!(code, 200, "{text}");
        text
    }

    /// `/api/v1/status` as JSON.
    pub fn status(&self) -> Value {
        let (code, body) = self.get("/api/v1/status");
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).expect("json")
    }

    /// Polls the status until `check` holds; fails the test after 20 s.
    pub fn wait_for(&self, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        self.wait_for_within(what, PATIENCE, check)
    }

    /// [`Server::wait_for`] with a limit of its own, for work on real feeds.
    pub fn wait_for_within(
        &self,
        what: &str,
        limit: Duration,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let v = self.status();
            if check(&v) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {v:#}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `method path` without a body: status, headers, body.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        credential: Option<&str>,
        range: Option<&str>,
    ) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        let reply = send(method, &self.url(path), credential, range, None).expect("request");
        (reply.status, reply.headers, reply.body)
    }

    /// `POST path` with a JSON body (sent as given, so it may be malformed):
    /// status, ETag, and the body as JSON (a JSON string if it is not JSON).
    pub fn post(
        &self,
        path: &str,
        credential: Option<&str>,
        body: String,
    ) -> (u16, Option<String>, Value) {
        post(&self.url(path), credential, body).expect("request")
    }

    /// Enrolls an agent with [`TOKEN`] and `facts`.
    pub fn enroll(&self, facts: &Value) -> Agent {
        let (code, _, body) = self.post(
            "/api/v1/enroll",
            None,
            json!({"token": TOKEN, "facts": facts}).to_string(),
        );
        assert_eq!(code, 201, "{body}");
        Agent {
            id: body["agentId"].as_str().expect("agent id").to_owned(),
            credential: body["credential"].as_str().expect("credential").to_owned(),
        }
    }

    /// A check-in that must succeed: the response body.
    pub fn check_in(&self, agent: &Agent, facts: &Value, inventory: &Value) -> Value {
        let (code, _, body) = self.post(
            "/api/v1/check-in",
            Some(&agent.credential),
            json!({"facts": facts, "inventory": inventory}).to_string(),
        );
        assert_eq!(code, 200, "{body}");
        body
    }
}

/// An enrolled agent.
#[derive(Debug, Clone)]
pub struct Agent {
    pub id: String,
    pub credential: String,
}

/// The `status` of condition `kind` (`Ready`, `Stalled`, …) in a status.
pub fn condition(v: &Value, kind: &str) -> Option<bool> {
    v["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
        .and_then(|c| c["status"].as_bool())
}

/// `examples/fleet/snapshot.json`.
pub fn example_snapshot() -> Value {
    serde_json::from_slice(
        &std::fs::read(root().join("examples/fleet/snapshot.json")).expect("snapshot"),
    )
    .expect("json")
}

/// The inventory of the example fleet's first web machine: its hash, and the
/// full inventory as a check-in sends it.
pub fn web_inventory() -> (String, Value) {
    let snapshot = example_snapshot();
    let hash = snapshot["machines"][0]["inventory"]
        .as_str()
        .expect("hash")
        .to_owned();
    let inventory = &snapshot["inventories"][&hash];
    let full = json!({"kind": "full", "platform": inventory["platform"], "packages": inventory["packages"]});
    (hash, full)
}

/// A Debian 12 web server's facts, with these labels.
pub fn facts(labels: Value) -> Value {
    json!({"hostname": "web-9.corp.example", "os": {"family": "debian", "version": "12"},
           "labels": labels, "timeZone": "Europe/Berlin"})
}

/// Imports `examples/fleet/catalog.json`, whose patches the example fleet's
/// web machines miss, as the source `example`.
pub async fn import_example_catalog(store: &Store) {
    use fixpoint::store::SourceUpdate;
    use fixpoint_core::catalog::Advisory;
    let advisories: Vec<Advisory> = serde_json::from_slice(
        &std::fs::read(root().join("examples/fleet/catalog.json")).expect("catalog"),
    )
    .expect("advisories");
    let update = SourceUpdate {
        name: "example".into(),
        kind: "osv".into(),
        location: "examples/fleet/catalog.json".into(),
        ..SourceUpdate::default()
    };
    store
        .replace_source(&update, &advisories, jiff::Timestamp::now())
        .await
        .expect("import");
}

/// Runs a future to completion on a runtime of its own (for seeding the
/// server's database before it starts).
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

thread_local! {
    /// One client (and runtime) per thread, built once.
    static HTTP: RefCell<Option<(tokio::runtime::Runtime, reqwest::Client)>> =
        const { RefCell::new(None) };
}

/// One HTTP request with a real client. `Err` when there is no complete
/// answer (the server is not there, or died while answering).
pub fn send(
    method: &str,
    url: &str,
    credential: Option<&str>,
    range: Option<&str>,
    json: Option<String>,
) -> Result<Reply, reqwest::Error> {
    HTTP.with(|http| {
        let mut http = http.borrow_mut();
        let (runtime, client) = http.get_or_insert_with(|| {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            // No idle connections kept: a server that closed one (after a 413,
            // or killed) must not fail the next request, which gets a fresh one.
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .timeout(Duration::from_secs(60))
                .build()
                .expect("client");
            (runtime, client)
        });
        runtime.block_on(async {
            let mut r = client.request(method.parse().expect("method"), url);
            if let Some(c) = credential {
                r = r.bearer_auth(c);
            }
            if let Some(range) = range {
                r = r.header("range", range);
            }
            if let Some(body) = json {
                r = r.header("content-type", "application/json").body(body);
            }
            let response = r.send().await?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = response.bytes().await?.to_vec();
            Ok(Reply {
                status,
                headers,
                body,
            })
        })
    })
}

/// `POST url` with a JSON body: status, ETag, and the body as JSON (a JSON
/// string if it is not JSON).
pub fn post(
    url: &str,
    credential: Option<&str>,
    body: String,
) -> Result<(u16, Option<String>, Value), reqwest::Error> {
    let reply = send("POST", url, credential, None, Some(body))?;
    let etag = reply
        .headers
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = String::from_utf8_lossy(&reply.body).into_owned();
    let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Ok((reply.status, etag, json))
}
