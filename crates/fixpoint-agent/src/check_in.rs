//! One check-in: scan, enroll if the data directory holds no identity yet,
//! send the inventory (only its hash when the server acknowledged the same
//! one before), and remember what the server acknowledged.

use std::collections::BTreeMap;

use anyhow::Context;
use fixpoint_core::protocol::{CheckIn, CheckInResponse, EnrollRequest, InventoryPayload};

use crate::client::ServerClient;
use crate::scanner::{Scan, Scanner};
use crate::state::{AgentState, DataDir};

/// What the inventory part of a check-in carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// Only the hash: the server had it.
    Hash,
    /// The full inventory.
    Full,
    /// The hash, then at once the full inventory the server asked for.
    HashThenFull,
}

impl Sent {
    fn describe(self) -> &'static str {
        match self {
            Sent::Hash => "sent the inventory hash only",
            Sent::Full => "sent the full inventory",
            Sent::HashThenFull => "sent the hash, the server asked, sent the full inventory",
        }
    }
}

/// How a check-in went.
#[derive(Debug)]
pub struct Outcome {
    pub agent_id: String,
    /// The credential the check-in used, for the reports and downloads that follow.
    pub credential: String,
    pub enrolled: bool,
    pub sent: Sent,
    pub packages: usize,
    pub response: CheckInResponse,
}

impl std::fmt::Display for Outcome {
    /// The summary line `fixpoint-agent check-in` prints.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "checked in as {}{}: {} ({} packages); {} instructions; next check-in at {}",
            self.agent_id,
            if self.enrolled { " (enrolled now)" } else { "" },
            self.sent.describe(),
            self.packages,
            self.response.instructions.items.len(),
            self.response.next_check_in,
        )
    }
}

/// Enrolls when needed and checks in once.
pub async fn check_in(
    data: &DataDir,
    scanner: &dyn Scanner,
    client: &ServerClient,
    labels: &BTreeMap<String, String>,
    enrollment_token: impl FnOnce() -> anyhow::Result<Option<String>>,
) -> anyhow::Result<Outcome> {
    let mut scan = scanner
        .scan()
        .with_context(|| format!("scanning the machine ({} scanner)", scanner.name()))?;
    scan.facts
        .labels
        .extend(labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    let (mut state, enrolled) = match data.load()? {
        Some(state) => (state, false),
        None => (enroll(data, &scan, client, enrollment_token).await?, true),
    };
    let hash = scan.inventory.hash().clone();
    let full = || InventoryPayload::Full {
        platform: scan.inventory.platform().clone(),
        packages: scan.inventory.packages().to_vec(),
    };
    let known = state.acknowledged_inventory.as_ref() == Some(&hash);
    let payload = if known {
        InventoryPayload::Unchanged { hash: hash.clone() }
    } else {
        full()
    };
    let mut sent = if known { Sent::Hash } else { Sent::Full };
    let send = |inventory| CheckIn {
        facts: scan.facts.clone(),
        inventory,
    };
    let mut response = client
        .check_in(&state.credential, &send(payload))
        .await
        .context("checking in")?;
    if response.inventory_needed && sent == Sent::Hash {
        tracing::info!(%hash, "the server does not know the inventory hash: sending it in full");
        response = client
            .check_in(&state.credential, &send(full()))
            .await
            .context("checking in with the full inventory")?;
        sent = Sent::HashThenFull;
    }
    if response.inventory_needed {
        anyhow::bail!(
            "{}: the server asked for the full inventory right after receiving it",
            client.base()
        );
    }
    if state.acknowledged_inventory.as_ref() != Some(&hash) {
        state.acknowledged_inventory = Some(hash);
        data.save(&state)?;
    }
    tracing::debug!(agent = %state.agent_id, sent = sent.describe(), "checked in");
    Ok(Outcome {
        agent_id: state.agent_id,
        credential: state.credential,
        enrolled,
        sent,
        packages: scan.inventory.len(),
        response,
    })
}

async fn enroll(
    data: &DataDir,
    scan: &Scan,
    client: &ServerClient,
    enrollment_token: impl FnOnce() -> anyhow::Result<Option<String>>,
) -> anyhow::Result<AgentState> {
    let Some(token) = enrollment_token()? else {
        anyhow::bail!(
            "{} holds no agent identity yet, and no enrollment token was given \
             (--enrollment-token-file or FIXPOINT_AGENT_ENROLLMENT_TOKEN)",
            data.state_path().display()
        );
    };
    let request = EnrollRequest {
        token,
        facts: scan.facts.clone(),
    };
    let enrolled = client.enroll(&request).await.map_err(|e| {
        let refused = matches!(&e, crate::client::ClientError::Status { status: 401, .. });
        let e = anyhow::Error::new(e);
        if refused {
            e.context("enrolling: the server refused the enrollment token")
        } else {
            e.context("enrolling")
        }
    })?;
    let state = AgentState {
        agent_id: enrolled.agent_id,
        credential: enrolled.credential,
        acknowledged_inventory: None,
    };
    data.save(&state)?;
    tracing::info!(agent = %state.agent_id, "enrolled");
    Ok(state)
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use fixpoint_core::catalog::Platform;
    use fixpoint_core::fleet::{InstalledPackage, Inventory, OsFacts};
    use fixpoint_core::protocol::Facts;
    use serde_json::{Value, json};

    use super::*;
    use crate::client::{ClientError, ClientOptions};
    use crate::scanner::ScanError;

    /// A scanner that always finds the same machine.
    #[derive(Debug)]
    struct FixedScanner(Scan);

    impl Scanner for FixedScanner {
        fn name(&self) -> &'static str {
            "fixed"
        }
        fn scan(&self) -> Result<Scan, ScanError> {
            Ok(self.0.clone())
        }
    }

    fn scanner() -> FixedScanner {
        let inventory = Inventory::new(
            Platform::new("debian", Some("12")),
            vec![InstalledPackage::new("openssl", "amd64", "3.0.14-1")],
        )
        .expect("inventory");
        FixedScanner(Scan {
            facts: Facts {
                hostname: "web1".into(),
                os: OsFacts {
                    family: "debian".into(),
                    version: Some("12".into()),
                },
                labels: Default::default(),
                time_zone: None,
                kernel: None,
                reboot_required: false,
            },
            inventory,
        })
    }

    /// A one-thread HTTP server on loopback that answers each request with
    /// `answer(path, body)` and records what it received.
    struct FakeServer {
        base: String,
        received: Arc<Mutex<Vec<(String, Value)>>>,
    }

    type Answer = (u16, &'static str, Value);

    impl FakeServer {
        fn start(answer: impl Fn(&str, &Value) -> Answer + Send + 'static) -> FakeServer {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
            let base = format!("http://{}", listener.local_addr().expect("addr"));
            let received = Arc::new(Mutex::new(Vec::new()));
            let log = Arc::clone(&received);
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    let Ok(mut stream) = stream else { return };
                    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                    let mut request_line = String::new();
                    reader.read_line(&mut request_line).expect("request line");
                    let path = request_line
                        .split_whitespace()
                        .nth(1)
                        .unwrap_or_default()
                        .to_owned();
                    let mut length = 0;
                    loop {
                        let mut line = String::new();
                        reader.read_line(&mut line).expect("header");
                        if line.trim().is_empty() {
                            break;
                        }
                        if let Some((k, v)) = line.split_once(':')
                            && k.eq_ignore_ascii_case("content-length")
                        {
                            length = v.trim().parse().expect("length");
                        }
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).expect("body");
                    let body: Value = serde_json::from_slice(&body).expect("json body");
                    let (status, headers, answer) = answer(&path, &body);
                    log.lock().expect("log").push((path, body));
                    let answer = answer.to_string();
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                        answer.len()
                    );
                }
            });
            FakeServer { base, received }
        }

        fn inventory_kinds(&self) -> Vec<String> {
            self.received
                .lock()
                .expect("log")
                .iter()
                .map(|(_, b)| b["inventory"]["kind"].as_str().unwrap_or("-").to_owned())
                .collect()
        }
    }

    fn checked_in(inventory_needed: bool) -> Value {
        json!({
            "instructions": {"items": []},
            "etag": "e-00000000000000000000000000000000",
            "nextCheckIn": "2026-11-25T13:35:12Z",
            "inventoryNeeded": inventory_needed,
        })
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    }

    /// A data directory whose state says the server acknowledged `scanner()`'s inventory.
    fn acknowledged(dir: &std::path::Path) -> DataDir {
        let data = DataDir::lock(dir).expect("lock");
        data.save(&AgentState {
            agent_id: "agent-1".into(),
            credential: "secret".into(),
            acknowledged_inventory: Some(scanner().0.inventory.hash().clone()),
        })
        .expect("save");
        data
    }

    #[test]
    fn an_unknown_hash_is_followed_at_once_by_the_full_inventory() {
        let server = FakeServer::start(|_, body| {
            let needed = body["inventory"]["kind"] == "unchanged";
            (200, "", checked_in(needed))
        });
        let dir = tempfile::tempdir().expect("tempdir");
        let data = acknowledged(dir.path());
        let client = ServerClient::new(&server.base, &ClientOptions::default()).expect("client");
        let outcome = runtime()
            .block_on(check_in(
                &data,
                &scanner(),
                &client,
                &BTreeMap::new(),
                || Ok(None),
            ))
            .expect("check-in");
        assert_eq!(outcome.sent, Sent::HashThenFull);
        assert_eq!(server.inventory_kinds(), ["unchanged", "full"]);
    }

    #[test]
    fn a_server_that_asks_again_after_the_full_inventory_is_an_error() {
        let server = FakeServer::start(|_, _| (200, "", checked_in(true)));
        let dir = tempfile::tempdir().expect("tempdir");
        let data = acknowledged(dir.path());
        let client = ServerClient::new(&server.base, &ClientOptions::default()).expect("client");
        let e = runtime()
            .block_on(check_in(
                &data,
                &scanner(),
                &client,
                &BTreeMap::new(),
                || Ok(None),
            ))
            .expect_err("a loop");
        assert!(e.to_string().contains("right after receiving it"), "{e}");
        assert_eq!(
            server.inventory_kinds(),
            ["unchanged", "full"],
            "no third try"
        );
    }

    #[test]
    fn a_503_gives_its_retry_after_to_the_run_loop() {
        let server = FakeServer::start(|_, _| {
            (
                503,
                "Retry-After: 7\r\n",
                json!({"error": "unavailable", "detail": "too many agent requests"}),
            )
        });
        let dir = tempfile::tempdir().expect("tempdir");
        let data = acknowledged(dir.path());
        let client = ServerClient::new(&server.base, &ClientOptions::default()).expect("client");
        let e = runtime()
            .block_on(check_in(
                &data,
                &scanner(),
                &client,
                &BTreeMap::new(),
                || Ok(None),
            ))
            .expect_err("unavailable");
        let client_error = e
            .chain()
            .find_map(|c| c.downcast_ref::<ClientError>())
            .expect("a client error");
        assert_eq!(client_error.retry_after(), Some(Duration::from_secs(7)));
        let text = format!("{e:#}");
        assert!(
            text.contains("/api/v1/check-in: HTTP 503: unavailable: too many"),
            "{text}"
        );
    }

    #[test]
    fn without_state_or_token_nothing_is_sent_and_the_error_names_the_state_file() {
        let server = FakeServer::start(|_, _| (500, "", json!({})));
        let dir = tempfile::tempdir().expect("tempdir");
        let data = DataDir::lock(dir.path()).expect("lock");
        let client = ServerClient::new(&server.base, &ClientOptions::default()).expect("client");
        let e = runtime()
            .block_on(check_in(
                &data,
                &scanner(),
                &client,
                &BTreeMap::new(),
                || Ok(None),
            ))
            .expect_err("no token");
        assert!(e.to_string().contains("agent.json"), "{e}");
        assert!(e.to_string().contains("no enrollment token"), "{e}");
        assert!(server.inventory_kinds().is_empty());
    }
}
