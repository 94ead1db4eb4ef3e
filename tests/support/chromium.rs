//! Real headless Chromium, driven through WebDriver: Debian's `chromium` and
//! `chromium-driver` (installed by `scripts/install-test-deps`), a
//! `chromedriver` on a free loopback port, and a [`fantoccini`] session.
//!
//! Beyond plain WebDriver, two ChromeDriver extensions: request headers for
//! every request of the session (the DevTools protocol's
//! `Network.setExtraHTTPHeaders`, so pages behind a bearer token load as a
//! user's browser with a proxy in front would load them), and the browser's
//! console log (`goog:loggingPrefs`), which holds every script error, CSP
//! violation and failed load of a page.
//!
//! Without Chromium the browser tests are skipped with a message, except
//! with CI=true: then they fail.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A chromedriver process and one browser session, both ended on drop.
pub struct Browser {
    pub client: fantoccini::Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Whether the browser tests can run; `None` with the reason when not.
fn missing() -> Option<String> {
    [CHROMIUM, CHROMEDRIVER]
        .iter()
        .find(|p| !Path::new(p).exists())
        .map(|p| format!("{p} is not installed (Debian packages chromium and chromium-driver)"))
}

/// A ChromeDriver command outside the W3C set, on the session.
#[derive(Debug)]
struct SessionCommand {
    path: &'static str,
    body: Value,
}

impl WebDriverCompatibleCommand for SessionCommand {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/{}",
            session.unwrap_or_default(),
            self.path
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.body.to_string()))
    }
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session; `None` (after
    /// saying why) when Chromium is not installed and CI is not set.
    pub async fn start() -> Option<Browser> {
        if let Some(why) = missing() {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "browser tests need Chromium under CI=true: {why}"
            );
            eprintln!("skipping a browser test: {why}");
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            // A viewer far from UTC, so that tests see times converted.
            .env("TZ", "Asia/Tokyo")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().expect("profile dir");
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                // As the machine notes say: root needs --no-sandbox, and the
                // closed network refuses Chromium's background connections.
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                    "--window-size=1440,1000", "--lang=en-US",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
            "goog:loggingPrefs": {"browser": "ALL"},
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object literal")
        };
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match fantoccini::ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(c) => break c,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("no WebDriver session from chromedriver on {url}: {e}"),
            }
        };
        Some(Browser {
            client,
            driver,
            _profile: profile,
        })
    }

    /// Sends `headers` with every request the browser makes from now on.
    pub async fn set_headers(&self, headers: Value) {
        for (cmd, params) in [
            ("Network.enable", json!({})),
            ("Network.setExtraHTTPHeaders", json!({ "headers": headers })),
        ] {
            self.client
                .issue_cmd(SessionCommand {
                    path: "goog/cdp/execute",
                    body: json!({ "cmd": cmd, "params": params }),
                })
                .await
                .unwrap_or_else(|e| panic!("DevTools {cmd}: {e}"));
        }
    }

    /// The browser console's entries since the last call: `(level, message)`.
    pub async fn console_log(&self) -> Vec<(String, String)> {
        let entries = self
            .client
            .issue_cmd(SessionCommand {
                path: "se/log",
                body: json!({ "type": "browser" }),
            })
            .await
            .expect("the browser log");
        entries
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|e| {
                        (
                            e["level"].as_str().unwrap_or_default().to_owned(),
                            e["message"].as_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}
