//! The console in a real browser: headless Chromium driven over WebDriver
//! against the real server holding the console fleet. Every page loads
//! without a console error, shows the figures of the fleet the test built,
//! links lead where they should, filters, sorting and pagination work, the CSV
//! download matches the page, and hostile names stay text. A screenshot of
//! every page is saved under `$CARGO_TARGET_TMPDIR/console-screenshots/`.

use std::path::PathBuf;

use fantoccini::{Client, Locator};
use serde_json::{Value, json};

use crate::chromium::Browser;
use crate::console::console_server;
use crate::console_fleet::HOSTILE_HOSTNAME;
use crate::support::{CONSOLE_TOKEN, Server, block_on};

/// Where the screenshots go (kept after the test, for people to look at).
fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

struct Session<'a> {
    browser: Browser,
    server: &'a Server,
    http: reqwest::Client,
}

impl Session<'_> {
    fn c(&self) -> &Client {
        &self.browser.client
    }

    /// Opens `path`, checks that it loaded without a console error, and saves
    /// a full-page screenshot as `name.png`.
    async fn visit(&self, path: &str, name: &str) {
        self.c()
            .goto(&self.server.url(path))
            .await
            .expect("navigate");
        self.loaded(name).await;
    }

    /// After a navigation (by link or form): no console error, a screenshot.
    async fn loaded(&self, name: &str) {
        let title = self.c().title().await.expect("title");
        assert!(title.ends_with("· Fixpoint"), "{name}: title {title:?}");
        let errors: Vec<(String, String)> = self
            .browser
            .console_log()
            .await
            .into_iter()
            .filter(|(level, _)| level == "SEVERE" || level == "WARNING")
            .collect();
        assert!(errors.is_empty(), "{name}: console errors {errors:#?}");
        // A no-alert check: a script that ran would have opened one.
        assert!(
            self.c().get_alert_text().await.is_err(),
            "{name}: an alert opened"
        );
        // The whole page: the window as tall as the document.
        let height = self
            .c()
            .execute("return document.documentElement.scrollHeight", vec![])
            .await
            .expect("height")
            .as_u64()
            .unwrap_or(1000)
            .clamp(600, 4000);
        self.c()
            .set_window_size(1440, u32::try_from(height).unwrap_or(1000))
            .await
            .expect("resize");
        let png = self.c().screenshot().await.expect("screenshot");
        std::fs::write(screenshots().join(format!("{name}.png")), png).expect("save screenshot");
        self.c().set_window_size(1440, 1000).await.expect("resize");
    }

    async fn text(&self, css: &str) -> String {
        self.c()
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .text()
            .await
            .expect("text")
    }

    async fn texts(&self, css: &str) -> Vec<String> {
        let mut out = Vec::new();
        for e in self.c().find_all(Locator::Css(css)).await.expect("find") {
            out.push(e.text().await.expect("text"));
        }
        out
    }

    async fn path(&self) -> String {
        let url = self.c().current_url().await.expect("url");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    async fn click(&self, css: &str) {
        self.c()
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let r = self
            .http
            .get(self.server.url(path))
            .bearer_auth(CONSOLE_TOKEN)
            .send()
            .await
            .expect("an answer");
        (r.status().as_u16(), r.text().await.expect("body"))
    }

    async fn json(&self, path: &str) -> Value {
        let (code, body) = self.get(path).await;
        assert_eq!(code, 200, "{path}: {body}");
        serde_json::from_str(&body).expect("json")
    }
}

fn number(text: &str) -> u64 {
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("a number, not {text:?}"))
}

#[test]
fn the_console_in_chromium() {
    let (server, built) = console_server(&[]);
    block_on(async {
        let Some(browser) = Browser::start().await else {
            return;
        };
        browser
            .set_headers(json!({ "Authorization": format!("Bearer {CONSOLE_TOKEN}") }))
            .await;
        let s = Session {
            browser,
            server: &server,
            http: reqwest::Client::new(),
        };

        // Overview: the figures of the fleet, as the JSON twin has them.
        s.visit("/", "overview").await;
        let overview = s.json("/api/v1/console/overview").await;
        let totals = &overview["totals"];
        assert_eq!(
            s.text("#compliant").await,
            format!(
                "{} of {} machines compliant",
                totals["compliant"], built.machines
            )
        );
        assert_eq!(number(&s.text("#stale").await), built.stale.len() as u64);
        assert_eq!(
            number(&s.text("#in-sync").await),
            // The hostile machine's one missing fix is excluded: it is in sync too.
            built.in_sync.len() as u64 + 1
        );
        assert_eq!(
            number(&s.text("#drifting").await),
            totals["drifting"].as_u64().expect("n")
        );
        assert_eq!(
            number(&s.text("#overdue").await),
            totals["overdue"].as_u64().expect("n")
        );
        assert_eq!(
            number(&s.text("#drift-pairs").await),
            totals["driftPairs"].as_u64().expect("n")
        );
        // Times are shown in the viewer's zone (chromedriver runs in Asia/Tokyo),
        // with the instant in UTC on hover.
        let time = s.c().find(Locator::Css("time")).await.expect("a time");
        let shown = time.text().await.expect("text");
        let title = time.attr("title").await.expect("attr").expect("a title");
        assert!(title.ends_with('Z'), "{title}");
        assert!(
            shown.contains("GMT+9"),
            "shown in the viewer's zone: {shown}"
        );

        // The stale card leads to the stale machines.
        s.click("a.card.idle").await;
        s.loaded("machines-stale").await;
        assert_eq!(s.path().await, "/machines?stale=yes");
        let hosts = s.texts("table#machines tbody td:first-child a").await;
        assert_eq!(hosts.len(), built.stale.len());
        for h in &hosts {
            assert!(built.stale.contains(&built.ids[h.as_str()]), "{h} is stale");
        }

        // Drift: filter by ring with the form, as a user does.
        s.visit("/drift", "drift").await;
        let pager = s.text("nav.pager span").await;
        let total = json_total(&s.json("/api/v1/console/drift").await);
        assert!(
            pager.starts_with(&format!("{total} rows · page 1 of ")),
            "{pager}"
        );
        assert!(total > 100, "more than a page of drift: {total}");
        s.c()
            .find(Locator::Css(
                "select[name=ring] option[value='servers/canary']",
            ))
            .await
            .expect("the canary option")
            .click()
            .await
            .expect("select");
        s.click("form.filters button[type=submit]").await;
        s.loaded("drift-canary").await;
        assert!(
            s.path().await.contains("ring=servers%2Fcanary"),
            "{}",
            s.path().await
        );
        let rings = s.texts("table#drift tbody td:nth-child(2)").await;
        assert!(!rings.is_empty());
        assert!(rings.iter().all(|r| r == "servers/canary"), "{rings:?}");
        let hosts = s.texts("table#drift tbody td:first-child a").await;
        for h in &hosts {
            assert!(
                built.canary.contains(&built.ids[h.as_str()]),
                "{h} is a canary"
            );
        }

        // Pagination and sorting on the whole drift list.
        s.visit("/drift", "drift").await;
        s.click("nav.pager a[rel=next]").await;
        s.loaded("drift-page-2").await;
        assert!(s.text("nav.pager span").await.contains("page 2 of "));
        s.visit("/drift", "drift").await;
        s.click("table#drift thead th:nth-child(1) a").await;
        s.loaded("drift-by-machine").await;
        let hosts = s.texts("table#drift tbody td:first-child a").await;
        let mut sorted = hosts.clone();
        sorted.sort();
        assert_eq!(hosts, sorted, "sorted by machine");
        assert!(s.path().await.contains("sort=machine"));

        // The CSV download of the filtered list matches the page.
        s.visit("/drift?severity=important", "drift-important")
            .await;
        let href = s
            .c()
            .find(Locator::Css("a.download"))
            .await
            .expect("a download link")
            .attr("href")
            .await
            .expect("attr")
            .expect("href");
        let (code, body) = s.get(&href).await;
        assert_eq!(code, 200, "{href}");
        let rows: Vec<csv::StringRecord> = csv::Reader::from_reader(body.as_bytes())
            .records()
            .collect::<Result<_, _>>()
            .expect("CSV");
        let pager = s.text("nav.pager span").await;
        assert!(
            pager.starts_with(&format!("{} row", rows.len())),
            "{pager} vs {} CSV rows",
            rows.len()
        );
        assert!(rows.iter().all(|r| &r[5] == "important"));

        // From a drift row to its machine, and on to a patch.
        s.click("table#drift tbody tr:first-child td:first-child a")
            .await;
        s.loaded("machine").await;
        assert!(s.path().await.starts_with("/machines/m-"));
        let h1 = s.text("h1").await;
        assert!(h1.contains(".corp.example"), "{h1}");
        s.click("table#plan tbody a[href^='/patches/']").await;
        s.loaded("patch").await;
        assert!(s.path().await.starts_with("/patches/"));
        assert!(
            !s.texts("table#rings tbody tr").await.is_empty(),
            "rollout across rings"
        );

        // The remaining pages.
        for (path, name) in [
            ("/machines", "machines"),
            ("/patches", "patches"),
            ("/rollouts", "rollouts"),
            ("/exclusions", "exclusions"),
            ("/reports", "reports"),
            ("/audit", "audit"),
        ] {
            s.visit(path, name).await;
        }
        s.visit("/exclusions", "exclusions").await;
        let exclusions = s.texts("table#exclusions tbody td.reason").await;
        assert!(
            exclusions
                .iter()
                .any(|r| r == crate::console::HOSTILE_REASON),
            "{exclusions:?}"
        );

        // A hostile host name is text, in the listing and on its page.
        s.visit("/machines?q=ws-x", "machines-hostile").await;
        let hosts = s.texts("table#machines tbody td:first-child a").await;
        assert_eq!(hosts, [HOSTILE_HOSTNAME]);
        s.click("table#machines tbody td:first-child a").await;
        s.loaded("machine-hostile").await;
        let h1 = s.text("h1").await;
        assert!(h1.starts_with(HOSTILE_HOSTNAME), "{h1}");
    });
}

fn json_total(v: &Value) -> u64 {
    v["paging"]["total"].as_u64().expect("total")
}
