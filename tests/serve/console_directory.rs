//! The console's directory report against the real server: a `Settings`
//! directory source whose last sync stored 125 computers and whose latest
//! attempt failed (both seeded in the store, so no LDAP server is needed:
//! `directory.rs` syncs a real slapd), and agents that match some of the
//! computers. The JSON twin, the CSV downloads, the overview and the page in
//! Chromium show what the test built.

use std::collections::BTreeSet;
use std::net::TcpListener;

use fantoccini::Locator;
use fixpoint::directory::DirectoryComputer;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use crate::chromium::Browser;
use crate::console::json;
use crate::support::{Agent, CONSOLE_TOKEN, Serve, Server, block_on, web_inventory};

const BASE_DN: &str = "DC=corp,DC=example";
const SERVERS: &str = "OU=Servers,DC=corp,DC=example";
const KIOSKS: &str = "OU=Kiosks,DC=corp,DC=example";
const WORKSTATIONS: &str = "OU=Workstations,DC=corp,DC=example";
/// Workstations in the directory that no agent runs on.
const WORKSTATION_COUNT: usize = 120;

/// A directory URL nothing listens on.
fn closed_url() -> String {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    format!("ldap://127.0.0.1:{port}")
}

/// The example `Settings` with one directory source, `corp`, at `url`.
fn settings(url: &str, password_file: &std::path::Path) -> String {
    let text = std::fs::read_to_string(crate::support::root().join("policies/settings.yaml"))
        .expect("policies/settings.yaml");
    format!(
        "{text}  directory:\n    sources:\n      - name: corp\n        url: {url}\n        \
         bindDn: \"CN=fixpoint-sync,{BASE_DN}\"\n        passwordFile: {}\n        \
         baseDn: \"{BASE_DN}\"\n        interval: 1h\n        timeout: 5s\n",
        password_file.display(),
    )
}

fn computer(name: &str, dns: Option<&str>, ou: &str, disabled: bool) -> DirectoryComputer {
    DirectoryComputer {
        dn: format!("CN={name},{ou}"),
        name: name.to_owned(),
        dns_host_name: dns.map(str::to_owned),
        os: Some("Windows 11 Enterprise".into()),
        os_version: Some("10.0 (22631)".into()),
        ou: ou.to_owned(),
        groups: Vec::new(),
        last_logon: Some(Timestamp::now() - SignedDuration::from_hours(20)),
        disabled,
    }
}

/// WEB-01 (an agent matches it by DNS name), DB-01 (by short name), KIOSK-07
/// (disabled, its agent checks in), two DUP-01 (an agent's short name that
/// matches neither) and 120 workstations without an agent.
fn computers() -> Vec<DirectoryComputer> {
    let mut list = vec![
        computer("WEB-01", Some("web-01.corp.example"), SERVERS, false),
        computer("DB-01", Some("db-01.corp.example"), SERVERS, false),
        computer("KIOSK-07", Some("kiosk-07.corp.example"), KIOSKS, true),
        computer("DUP-01", None, SERVERS, false),
        computer("DUP-01", None, WORKSTATIONS, false),
    ];
    list.extend((1..=WORKSTATION_COUNT).map(|n| {
        let name = format!("PC-{n:04}");
        let dns = format!("{}.corp.example", name.to_lowercase());
        computer(&name, Some(&dns), WORKSTATIONS, n == 5)
    }));
    list
}

struct Built {
    server: Server,
    web: Agent,
    db: Agent,
    kiosk: Agent,
    dup: Agent,
    laptop: Agent,
    url: String,
}

fn enroll(s: &Server, hostname: &str) -> Agent {
    let facts = json!({"hostname": hostname, "os": {"family": "debian", "version": "12"}});
    let agent = s.enroll(&facts);
    let (_, full) = web_inventory();
    s.check_in(&agent, &facts, &full);
    agent
}

fn directory_server() -> Built {
    let serve = Serve::new().snapshot(false).enrollment();
    let url = closed_url();
    let password = serve.dir().join("ldap-password");
    std::fs::write(&password, "not-used\n").expect("password file");
    std::fs::write(
        serve.policies().join("settings.yaml"),
        settings(&url, &password),
    )
    .expect("settings");
    // A sync that stored the computers, then an attempt that failed: the
    // location is the source's own, and a failed source is tried again only
    // after five minutes, so the server keeps this state through the test.
    let location = format!("{url} {BASE_DN}");
    let now = Timestamp::now();
    block_on(async {
        let store = serve.open_store().await;
        store
            .replace_directory(
                "corp",
                &location,
                &computers(),
                now - SignedDuration::from_mins(2),
            )
            .await
            .expect("store the computers");
        store
            .record_directory_failure(
                "corp",
                &location,
                &format!("directory {url} is unreachable: connection refused"),
                now,
            )
            .await
            .expect("record the failure");
        store.close().await;
    });
    let server = serve.start();
    let built = Built {
        web: enroll(&server, "web-01.corp.example"),
        db: enroll(&server, "db-01.lab.internal"),
        kiosk: enroll(&server, "kiosk-07.corp.example"),
        dup: enroll(&server, "dup-01.corp.example"),
        laptop: enroll(&server, "laptop-17.corp.example"),
        server,
        url,
    };
    built.server.wait_for("a plan of the five agents", |v| {
        v["plan"]["machines"].as_u64() == Some(5)
    });
    built
}

fn ids(rows: &Value, key: &str) -> Vec<String> {
    rows.as_array()
        .expect("rows")
        .iter()
        .map(|r| r[key].as_str().expect("text").to_owned())
        .collect()
}

/// A download, parsed.
fn csv_rows(s: &Server, path: &str) -> Vec<csv::StringRecord> {
    let (code, headers, body) = s.request("GET", path, Some(CONSOLE_TOKEN), None);
    assert_eq!(code, 200, "{path}");
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8", "{path}");
    csv::Reader::from_reader(body.as_slice())
        .records()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{path} parses as CSV: {e}"))
}

#[test]
fn the_directory_report_shows_the_fleet_against_the_directory_and_the_failed_sync() {
    let b = directory_server();
    let s = &b.server;
    let page = json(s, "/api/v1/console/directory");

    assert_eq!(page["configured"], true, "{page:#}");
    assert_eq!(page["computers"], 5 + WORKSTATION_COUNT, "{page:#}");
    assert_eq!(page["matched"], 3, "WEB-01, DB-01 and KIOSK-07: {page:#}");
    let source = &page["sources"][0];
    assert_eq!(source["name"], "corp", "{page:#}");
    assert_eq!(source["computers"], 5 + WORKSTATION_COUNT);
    assert!(source["lastSuccessAt"].is_string(), "{source:#}");
    assert!(
        source["lastError"]
            .as_str()
            .is_some_and(|e| e.contains(&b.url) && e.contains("unreachable")),
        "{source:#}"
    );

    // Unmanaged: both DUP-01 (their shared name matches no agent) and every
    // workstation, by name, a hundred a page.
    let unmanaged = &page["unmanaged"];
    assert_eq!(unmanaged["paging"]["total"], 2 + WORKSTATION_COUNT);
    assert_eq!(unmanaged["paging"]["pages"], 2);
    let names = ids(&unmanaged["rows"], "name");
    assert_eq!(names.len(), 100);
    assert_eq!(names[..3], ["DUP-01", "DUP-01", "PC-0001"]);
    let second = json(s, "/api/v1/console/directory?unmanaged_page=2");
    let names = ids(&second["unmanaged"]["rows"], "name");
    assert_eq!(names.len(), 22);
    assert_eq!(names.last().map(String::as_str), Some("PC-0120"));
    let (code, body) = s.get("/api/v1/console/directory?unmanaged_page=3");
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("`unmanaged_page`"), "{body}");

    // Agents without an object, by host name; the disabled kiosk that checks in.
    assert_eq!(
        ids(&page["withoutObject"]["rows"], "machine"),
        [b.dup.id.clone(), b.laptop.id.clone()]
    );
    let disabled = &page["disabledCheckingIn"]["rows"];
    assert_eq!(ids(disabled, "machine"), [b.kiosk.id.as_str()]);
    assert_eq!(disabled[0]["dn"], format!("CN=KIOSK-07,{KIOSKS}"));

    // Compliance by OU: the matched machines, by their computer's OU.
    let by_ou = &page["byOu"]["rows"];
    assert_eq!(ids(by_ou, "name"), [KIOSKS, SERVERS]);
    assert_eq!(
        by_ou
            .as_array()
            .expect("rows")
            .iter()
            .map(|r| r["total"].as_u64().expect("n"))
            .collect::<Vec<_>>(),
        [1, 2]
    );
    for agent in [&b.web, &b.db] {
        let machine = json(s, &format!("/api/v1/console/machines/{}", agent.id));
        assert_eq!(machine["ou"], SERVERS, "{machine:#}");
    }

    // The downloads hold every row, as the JSON twin lists them.
    let rows = csv_rows(s, "/reports/directory-unmanaged.csv");
    assert_eq!(rows.len(), 2 + WORKSTATION_COUNT);
    let disabled_pc: Vec<&str> = rows
        .iter()
        .filter(|r| &r[6] == "true")
        .map(|r| &r[0])
        .collect();
    assert_eq!(disabled_pc, ["PC-0005"]);
    let managed: BTreeSet<&str> = ["WEB-01", "DB-01", "KIOSK-07"].into();
    assert!(rows.iter().all(|r| !managed.contains(&r[0])));
    for (report, key, column, field) in [
        ("directory-without-object", "withoutObject", 0, "machine"),
        ("compliance-by-ou", "byOu", 0, "name"),
        (
            "directory-disabled-checking-in",
            "disabledCheckingIn",
            3,
            "dn",
        ),
    ] {
        let rows = csv_rows(s, &format!("/reports/{report}.csv"));
        let listed = ids(&page[key]["rows"], field);
        let downloaded: Vec<&str> = rows.iter().map(|r| &r[column]).collect();
        assert_eq!(downloaded, listed, "{report}");
    }

    // The overview counts the computers without an agent.
    let overview = json(s, "/api/v1/console/overview");
    assert_eq!(overview["unmanaged"], 2 + WORKSTATION_COUNT, "{overview:#}");

    // The page shows the error, and the browser shows the page.
    let (code, html) = s.get("/directory");
    assert_eq!(code, 200);
    assert!(
        html.contains("is unreachable: connection refused"),
        "{html}"
    );
    the_directory_page_in_chromium(&b);
}

fn the_directory_page_in_chromium(b: &Built) {
    let s = &b.server;
    block_on(async {
        let Some(browser) = Browser::start().await else {
            return;
        };
        browser
            .set_headers(json!({ "Authorization": format!("Bearer {CONSOLE_TOKEN}") }))
            .await;
        let c = &browser.client;
        let text = |css: &'static str| async move {
            c.find(Locator::Css(css))
                .await
                .unwrap_or_else(|e| panic!("{css}: {e}"))
                .text()
                .await
                .expect("text")
        };
        let no_errors = |what: &'static str| {
            let browser = &browser;
            async move {
                let errors: Vec<(String, String)> = browser
                    .console_log()
                    .await
                    .into_iter()
                    .filter(|(level, _)| level == "SEVERE" || level == "WARNING")
                    .collect();
                assert!(errors.is_empty(), "{what}: console errors {errors:#?}");
            }
        };

        // From the overview's card to the page, which the navigation marks.
        c.goto(&s.url("/")).await.expect("navigate");
        c.find(Locator::Css("a.card[href='/directory']"))
            .await
            .expect("the unmanaged card")
            .click()
            .await
            .expect("click");
        no_errors("directory").await;
        // A screenshot beside those of `console_browser`, for people to look at.
        let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        c.set_window_size(1440, 2600).await.expect("resize");
        let png = c.screenshot().await.expect("screenshot");
        std::fs::write(dir.join("directory.png"), png).expect("save screenshot");
        c.set_window_size(1440, 1000).await.expect("resize");
        assert_eq!(text("nav a[aria-current=page]").await, "Directory");
        assert_eq!(text("#unmanaged-count").await, "122");
        let status = text("#directory-sources tbody td:last-child").await;
        assert!(
            status.starts_with("failed") && status.contains("unreachable"),
            "{status}"
        );

        // The second page of unmanaged computers, by the pager's link.
        c.find(Locator::Css("#unmanaged nav.pager a[rel=next]"))
            .await
            .expect("a next page")
            .click()
            .await
            .expect("click");
        no_errors("directory, unmanaged page 2").await;
        let url = c.current_url().await.expect("url");
        assert_eq!(url.query(), Some("unmanaged_page=2"), "{url}");
        assert_eq!(url.fragment(), Some("unmanaged"), "{url}");
        let rows = c
            .find_all(Locator::Css("table#unmanaged-computers tbody tr"))
            .await
            .expect("rows");
        assert_eq!(rows.len(), 22);

        // The disabled kiosk leads to its machine (from the top of the page:
        // scrolled to a link, WebDriver would click the sticky table header
        // above it).
        c.goto(&s.url("/directory")).await.expect("navigate");
        c.find(Locator::Css("table#disabled tbody td:first-child a"))
            .await
            .expect("the kiosk")
            .click()
            .await
            .expect("click");
        no_errors("the kiosk's machine").await;
        let url = c.current_url().await.expect("url");
        assert_eq!(url.path(), format!("/machines/{}", b.kiosk.id));
    });
}
