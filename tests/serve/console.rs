//! The console over HTTP, against the real server holding the fleet of
//! [`console_fleet`]: its own credentials (never the agents'), no route that
//! changes anything, escaping of everything shown, security headers, figures
//! that match the fleet the test built, and CSV downloads that match their
//! JSON twins. The browser tests (`console_browser`) drive the same pages in
//! Chromium.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::console_fleet::{self, Built, HOSTILE_HOSTNAME};
use crate::support::{CONSOLE_TOKEN, Serve, Server, TOKEN, block_on, facts};

/// An exclusion whose reason is an attack on the console.
pub const HOSTILE_REASON: &str = r#"<img src=x onerror="alert(1)"> vendor says "no" & means it"#;

/// A server with the console fleet, the repository's policies plus an
/// exclusion with a hostile reason, and a plan of it.
pub fn console_server(extra_args: &[&str]) -> (Server, Built) {
    let serve = Serve::new().snapshot(false).enrollment().args(extra_args);
    std::fs::write(
        serve.policies().join("hostile.yaml"),
        format!(
            "apiVersion: fixpoint.dev/v1alpha1\nkind: Exclusion\nmetadata: {{name: odd-workstation}}\n\
             spec:\n  machines: {{hostnames: [\"*ws-x*\"]}}\n  patches: {{packages: [curl]}}\n  \
             reason: '{}'\n  owner: desk-team\n  ticket: \"<i>T-1</i>\"\n",
            HOSTILE_REASON.replace('\'', "''")
        ),
    )
    .expect("write the hostile exclusion");
    let built = console_fleet::seed(&serve);
    let server = serve.start();
    let machines = built.machines;
    server.wait_for("a plan of the console fleet", |v| {
        v["plan"]["machines"].as_u64() == Some(machines as u64)
    });
    (server, built)
}

/// `GET path` with these headers: status, headers, body.
fn get_with(server: &Server, path: &str, headers: &[(&str, String)]) -> (u16, HeaderMap, String) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    block_on(async {
        let client = reqwest::Client::new();
        let mut r = client.get(server.url(path));
        for (k, v) in headers {
            r = r.header(*k, v);
        }
        let response = r.send().await.expect("an answer");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (status, headers, response.text().await.expect("body"))
    })
}

fn bearer(token: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {token}"))
}

fn basic(user: &str, password: &str) -> (&'static str, String) {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    ("authorization", format!("Basic {encoded}"))
}

/// `GET path` as JSON, as a console user.
pub fn json(server: &Server, path: &str) -> Value {
    let (code, body) = server.get(path);
    assert_eq!(code, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

#[test]
fn console_credentials_and_agent_credentials_open_nothing_of_each_other() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("console-token");
    std::fs::write(&token_file, "file-token\n").expect("write");
    let password_file = dir.path().join("password");
    std::fs::write(&password_file, "correct horse\n").expect("write");
    let s = Serve::new()
        .enrollment()
        .args(&[
            "--console-token-file",
            token_file.to_str().expect("utf-8"),
            "--console-user",
            "auditor",
            "--console-password-file",
            password_file.to_str().expect("utf-8"),
        ])
        .start();

    let (code, headers, body) = get_with(&s, "/", &[]);
    assert_eq!(code, 401, "{body}");
    let challenge = headers["www-authenticate"].to_str().expect("ascii");
    assert!(challenge.starts_with("Basic"), "{challenge}");
    assert_eq!(get_with(&s, "/api/v1/status", &[]).0, 401);
    assert_eq!(get_with(&s, "/", &[bearer("file-token")]).0, 200);
    assert_eq!(get_with(&s, "/", &[bearer("wrong")]).0, 401);
    assert_eq!(
        get_with(&s, "/", &[basic("auditor", "correct horse")]).0,
        200
    );
    assert_eq!(get_with(&s, "/", &[basic("auditor", "wrong horse")]).0, 401);
    assert_eq!(get_with(&s, "/", &[basic("root", "correct horse")]).0, 401);

    // An agent's credential opens no console page.
    let agent = s.enroll(&facts(json!({"role": "web"})));
    for path in [
        "/",
        "/machines",
        "/api/v1/console/overview",
        "/api/v1/status",
    ] {
        assert_eq!(
            get_with(&s, path, &[bearer(&agent.credential)]).0,
            401,
            "{path}"
        );
    }
    // The console's token opens nothing of the agent API.
    let (code, _, body) = s.post(
        "/api/v1/check-in",
        Some("file-token"),
        json!({"facts": facts(json!({})), "inventory": {"kind": "hash", "sha256": "0".repeat(64)}})
            .to_string(),
    );
    assert_eq!(code, 401, "{body}");
    let (code, _, _) = s.request(
        "GET",
        &format!("/api/v1/files/{}", "a".repeat(64)),
        Some("file-token"),
        None,
    );
    assert_eq!(code, 401);
    // Enrollment wants the enrollment token, not the console's.
    let (code, _, body) = s.post(
        "/api/v1/enroll",
        None,
        json!({"token": "file-token", "facts": facts(json!({}))}).to_string(),
    );
    assert_eq!(code, 401, "{body}");
    let _ = TOKEN;

    // A rotated token file is read again.
    std::fs::write(&token_file, "rotated").expect("write");
    assert_eq!(get_with(&s, "/", &[bearer("rotated")]).0, 200);
    assert_eq!(get_with(&s, "/", &[bearer("file-token")]).0, 401);
}

#[test]
fn a_proxy_header_lets_in_the_allowed_users_and_groups_only() {
    let s = Serve::new()
        .args(&[
            "--console-auth-header",
            "X-Forwarded-User",
            "--console-groups-header",
            "X-Forwarded-Groups",
            "--console-allow-users",
            "alice",
            "--console-allow-groups",
            "sre,security",
        ])
        .start();
    let user = |u: &str| ("x-forwarded-user", u.to_owned());
    let groups = |g: &str| ("x-forwarded-groups", g.to_owned());
    assert_eq!(get_with(&s, "/", &[user("alice")]).0, 200);
    let (code, _, body) = get_with(&s, "/", &[user("mallory")]);
    assert_eq!(code, 403);
    assert!(
        body.contains("mallory is not on the console's allow-list"),
        "{body}"
    );
    assert_eq!(get_with(&s, "/", &[user("bob"), groups("dev, sre")]).0, 200);
    assert_eq!(get_with(&s, "/", &[user("bob"), groups("dev")]).0, 403);
    assert_eq!(get_with(&s, "/", &[]).0, 401);
    assert_eq!(
        get_with(&s, "/", &[bearer(CONSOLE_TOKEN)]).0,
        401,
        "no token is configured here"
    );
}

#[test]
fn without_console_credentials_configured_the_console_is_closed() {
    let s = Serve::new().without_console_credentials().start();
    let (code, _, body) = get_with(&s, "/", &[bearer(CONSOLE_TOKEN)]);
    assert_eq!(code, 401, "{body}");
    assert!(
        body.contains("no console authentication is configured"),
        "{body}"
    );
    assert_eq!(get_with(&s, "/healthz", &[]).0, 200, "health stays open");
}

/// The methods that change state.
const WRITES: [&str; 4] = ["POST", "PUT", "PATCH", "DELETE"];

/// Every path the console links to, found by following links from `/`,
/// one per route (the first few pages of each listing).
fn crawl(s: &Server) -> BTreeMap<String, String> {
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut queue = VecDeque::from(["/".to_owned()]);
    let href = regex_lite_href();
    while let Some(path) = queue.pop_front() {
        if seen.len() > 400 {
            break;
        }
        let route = route_of(&path);
        if seen.values().filter(|r| **r == route).count() >= 3 || seen.contains_key(&path) {
            continue;
        }
        let (code, body) = s.get(&path);
        assert_eq!(
            code, 200,
            "{path} (a link the console shows) answers: {body}"
        );
        seen.insert(path.clone(), route);
        if !path.ends_with(".csv") && !path.starts_with("/api/") {
            for link in href(&body) {
                let link = unescape(&link);
                if link.starts_with('/') && !link.starts_with("//") {
                    let path = link.split('#').next().unwrap_or_default();
                    queue.push_back(path.to_owned());
                }
            }
        }
    }
    seen
}

/// The `href="..."` values of a page.
fn regex_lite_href() -> impl Fn(&str) -> Vec<String> {
    |html: &str| {
        html.split("href=\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .map(str::to_owned)
            .collect()
    }
}

/// An attribute value as the browser reads it (minijinja escapes `/` too).
fn unescape(s: &str) -> String {
    s.replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// A path's route: ids replaced by placeholders, the query dropped.
fn route_of(path: &str) -> String {
    let path = path.split('?').next().unwrap_or_default();
    for (prefix, placeholder) in [
        ("/machines/", "{id}"),
        ("/patches/", "{*id}"),
        ("/reports/", "{name}"),
    ] {
        if let Some(rest) = path.strip_prefix(prefix)
            && !rest.is_empty()
        {
            return format!("{prefix}{placeholder}");
        }
    }
    path.to_owned()
}

#[test]
fn no_route_of_the_console_accepts_a_method_that_changes_state() {
    let (s, built) = console_server(&[]);
    let crawled = crawl(&s);
    let routes: BTreeSet<&str> = crawled.values().map(String::as_str).collect();
    // The crawl reached every page, download and JSON twin the console declares.
    let machine = built.ids.values().next().expect("a machine");
    let patch = json(&s, "/api/v1/console/patches")["rows"][0]["id"]
        .as_str()
        .expect("a patch")
        .to_owned();
    let mut declared: Vec<String> = Vec::new();
    for (page, twin) in fixpoint::console::ROUTES {
        for p in [page, twin] {
            declared.push(p.replace("{id}", machine).replace("{*id}", &patch));
        }
        assert!(
            routes.contains(page),
            "the console links to {page} somewhere: {routes:?}"
        );
    }
    for d in fixpoint::console::DOWNLOADS {
        declared.push(d.replace("{name}", "trend.csv"));
    }
    declared.extend(
        [
            "/api/v1/status",
            "/api/v1/revisions",
            "/static/console.css",
            "/static/console.js",
            "/favicon.ico",
        ]
        .map(str::to_owned),
    );
    let mut walked: BTreeSet<String> = crawled.keys().cloned().collect();
    walked.extend(declared);
    for path in &walked {
        assert_eq!(s.get(path).0, 200, "GET {path}");
        for method in WRITES {
            let (code, headers, _) = s.request(method, path, Some(CONSOLE_TOKEN), None);
            assert_eq!(code, 405, "{method} {path} must not be accepted");
            let allow = headers
                .get("allow")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            assert!(
                allow
                    .split(',')
                    .map(str::trim)
                    .all(|m| m == "GET" || m == "HEAD"),
                "{method} {path}: Allow: {allow}"
            );
        }
    }
    assert!(walked.len() > 40, "walked {} paths", walked.len());
}

#[test]
fn hostile_names_and_reasons_render_as_text() {
    let (s, built) = console_server(&[]);
    let id = &built.ids[HOSTILE_HOSTNAME];
    let escaped_host = "&lt;script&gt;alert(&#x27;owned&#x27;)&lt;&#x2f;script&gt;&lt;b&gt;ws-x&lt;&#x2f;b&gt;.corp.example";
    for path in [
        format!("/machines/{id}"),
        "/machines?q=ws-x".to_owned(),
        "/exclusions".to_owned(),
    ] {
        let (code, html) = s.get(&path);
        assert_eq!(code, 200, "{path}");
        assert!(
            !html.contains("<script>alert"),
            "{path} runs the host name as script"
        );
        assert!(
            !html.contains("<img src=x"),
            "{path} renders the reason as markup"
        );
        assert!(
            !html.contains("<i>T-1</i>"),
            "{path} renders the ticket as markup"
        );
        if path != "/exclusions" {
            assert!(
                html.contains(escaped_host),
                "{path} shows the host name as text"
            );
        } else {
            assert!(
                html.contains("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;"),
                "{path}"
            );
            assert!(html.contains("&lt;i&gt;T-1&lt;&#x2f;i&gt;"), "{path}");
        }
    }
    // The machine page gives the exclusion's reason for the excluded patch.
    let page = json(&s, &format!("/api/v1/console/machines/{id}"));
    let excluded: Vec<&Value> = page["plan"]
        .as_array()
        .expect("plan")
        .iter()
        .filter(|r| r["state"] == "excluded")
        .collect();
    assert!(!excluded.is_empty(), "{page:#}");
    assert!(
        excluded.iter().all(|r| r["reason"]
            .as_str()
            .is_some_and(|x| x.contains("odd-workstation"))),
        "{excluded:#?}"
    );
    // And in the CSV the text is as written: CSV is not HTML.
    let (_, csv) = s.get("/machines.csv?q=ws-x");
    assert!(csv.contains(HOSTILE_HOSTNAME), "{csv}");
}

#[test]
fn every_response_carries_strict_security_headers() {
    let (s, built) = console_server(&[]);
    let id = built.ids.values().next().expect("a machine");
    for path in [
        "/".to_owned(),
        "/drift?severity=unrated".to_owned(),
        format!("/machines/{id}"),
        "/api/v1/console/overview".to_owned(),
        "/drift.csv".to_owned(),
        "/reports/trend.csv".to_owned(),
        "/machines/nonexistent".to_owned(),
        "/drift?severity=bogus".to_owned(),
        "/static/console.css".to_owned(),
    ] {
        let (code, headers, _) = s.request("GET", &path, Some(CONSOLE_TOKEN), None);
        assert!(code == 200 || code == 400 || code == 404, "{path}: {code}");
        let h = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_else(|| panic!("{path}: no {name}"))
                .to_owned()
        };
        let csp = h("content-security-policy");
        assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(h("x-frame-options"), "DENY", "{path}");
        assert_eq!(h("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(h("referrer-policy"), "no-referrer", "{path}");
        if !path.starts_with("/static/") {
            assert_eq!(h("cache-control"), "no-store", "{path}");
        }
    }
    let (code, headers, _) = get_with(&s, "/", &[]);
    assert_eq!(code, 401);
    assert!(
        headers.contains_key("content-security-policy"),
        "a refusal has them too"
    );
}

#[test]
fn a_bad_filter_is_a_clear_error_naming_the_parameter() {
    let (s, _) = console_server(&[]);
    let (code, body) = s.get("/api/v1/console/drift?severity=urgent");
    assert_eq!(code, 400);
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        v["error"],
        "query parameter `severity`: `urgent` is not one of critical, important, moderate, low, unrated"
    );
    let (code, html) = s.get("/drift?page=9999");
    assert_eq!(code, 400);
    assert!(
        html.contains("query parameter `page`: page 9999 is past the last page"),
        "{html}"
    );
    assert_eq!(s.get("/machines/m-9999").0, 404);
    assert_eq!(s.get("/reports/nothing.csv").0, 404);
}

#[test]
fn the_console_shows_the_fleet_the_test_built() {
    let (s, built) = console_server(&[]);
    let overview = json(&s, "/api/v1/console/overview");
    let t = &overview["totals"];
    assert_eq!(t["machines"], built.machines, "{t:#}");
    assert_eq!(t["stale"], built.stale.len(), "{t:#}");
    assert_eq!(
        t["inSync"].as_u64().expect("n")
            + t["drifting"].as_u64().expect("n")
            + t["overdue"].as_u64().expect("n"),
        built.machines as u64
    );
    // In sync: the machines built with every fix, and the hostile one, whose
    // one missing fix (curl's) the odd-workstation exclusion holds back.
    let mut in_sync: BTreeSet<&str> = built.in_sync.iter().map(String::as_str).collect();
    in_sync.insert(&built.ids[HOSTILE_HOSTNAME]);
    assert_eq!(t["inSync"], in_sync.len(), "{t:#}");
    assert!(
        t["overdue"].as_u64().expect("n") > 0,
        "the nginx fix is past its deadline: {t:#}"
    );
    assert_eq!(
        overview["applied"]["revision"],
        overview["applied"]["revision"]
    );
    assert!(
        overview["catalog"].as_array().is_some_and(|c| c.len() == 2),
        "{overview:#}"
    );

    // Stale machines, by filter.
    let stale = json(&s, "/api/v1/console/machines?stale=yes&per=500");
    let ids: BTreeSet<&str> = stale["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, built.stale.iter().map(String::as_str).collect());
    // In-sync machines, by filter.
    let listed = json(&s, "/api/v1/console/machines?standing=in-sync&per=500");
    let ids: BTreeSet<&str> = listed["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, in_sync);

    // Prohibited software: exactly the machines with telnetd.
    let reports = json(&s, "/api/v1/console/reports");
    let prohibited: BTreeSet<&str> = reports["prohibited"]
        .as_array()
        .expect("list")
        .iter()
        .map(|r| r["machine"].as_str().expect("id"))
        .collect();
    assert_eq!(
        prohibited,
        built.telnetd.iter().map(String::as_str).collect()
    );
    // The exclusion holds back PostgreSQL on the ERP machines, and only there.
    let exclusions = json(&s, "/api/v1/console/exclusions");
    let erp = exclusions["exclusions"]
        .as_array()
        .expect("list")
        .iter()
        .find(|x| x["name"] == "legacy-erp")
        .expect("legacy-erp");
    assert_eq!(erp["machines"], built.erp.len(), "{erp:#}");
    assert_eq!(
        erp["reason"],
        "the ERP vendor certifies PostgreSQL 13 only; upgrade planned with release 2027.1"
    );
    // Soonest to expire first: the odd-workstation exclusion has no end, so it is last.
    assert_eq!(
        exclusions["exclusions"]
            .as_array()
            .expect("list")
            .last()
            .expect("one")["name"],
        "odd-workstation"
    );

    // The canary ring: its machines, and drift filtered to it shows only them.
    let drift = json(&s, "/api/v1/console/drift?ring=servers/canary&per=500");
    let machines: BTreeSet<&str> = drift["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["machine"].as_str().expect("id"))
        .collect();
    assert!(
        machines.iter().all(|m| built.canary.iter().any(|c| c == m)),
        "{machines:?}"
    );
    // Every drift pair of an openssl patch is on a machine built without its fix.
    let openssl = json(&s, "/api/v1/console/drift?q=openssl/&per=500");
    assert!(openssl["paging"]["total"].as_u64().expect("n") > 0);
    for r in openssl["rows"].as_array().expect("rows") {
        let id = r["machine"].as_str().expect("id");
        assert!(!built.in_sync.iter().any(|m| m == id), "{r:#}");
    }
    // Results reported by the canaries appear on their machine page.
    let canary = json(&s, &format!("/api/v1/console/machines/{}", built.canary[0]));
    assert_eq!(
        canary["results"][0]["patch"], "nginx/1.22.1-9+deb12u4",
        "{canary:#}"
    );
    assert_eq!(canary["checkIns"].as_array().map(Vec::len), Some(4));
}

#[test]
fn csv_downloads_match_their_pages() {
    let (s, _) = console_server(&[]);
    let read = |path: &str| -> Vec<csv::StringRecord> {
        let (code, headers, body) = s.request("GET", path, Some(CONSOLE_TOKEN), None);
        assert_eq!(code, 200, "{path}");
        assert_eq!(headers["content-type"], "text/csv; charset=utf-8", "{path}");
        assert!(
            headers["content-disposition"]
                .to_str()
                .expect("ascii")
                .starts_with("attachment")
        );
        csv::Reader::from_reader(body.as_slice())
            .records()
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{path} parses as CSV: {e}"))
    };
    for filter in [
        "",
        "?severity=important",
        "?ring=servers/broad&state=scheduled",
        "?q=ws-0",
    ] {
        let rows = read(&format!("/drift.csv{filter}"));
        let sep = if filter.is_empty() { "?" } else { "&" };
        let page = json(&s, &format!("/api/v1/console/drift{filter}{sep}per=500"));
        assert_eq!(
            rows.len() as u64,
            page["paging"]["total"].as_u64().expect("total"),
            "{filter}"
        );
        for (r, j) in rows.iter().zip(page["rows"].as_array().expect("rows")) {
            assert_eq!(&r[0], j["machine"].as_str().expect("machine"), "{filter}");
            assert_eq!(&r[3], j["patch"].as_str().unwrap_or_default(), "{filter}");
            assert_eq!(&r[6], j["state"].as_str().expect("state"), "{filter}");
        }
    }
    let machines = read("/machines.csv");
    assert_eq!(
        machines.len() as u64,
        json(&s, "/api/v1/console/machines")["paging"]["total"]
            .as_u64()
            .expect("n")
    );
    let reports = json(&s, "/api/v1/console/reports");
    for (name, key, column) in [
        ("compliance-by-group", "byGroup", "name"),
        ("compliance-by-ring", "byRing", "name"),
        ("compliance-by-severity", "bySeverity", "name"),
        ("prohibited-software", "prohibited", "machine"),
        ("past-deadline", "pastDeadline", "patch"),
    ] {
        let rows = read(&format!("/reports/{name}.csv"));
        let listed = reports[key].as_array().expect(key);
        assert_eq!(rows.len(), listed.len(), "{name}");
        for (r, j) in rows.iter().zip(listed) {
            assert_eq!(&r[0], j[column].as_str().expect("text"), "{name}");
        }
    }
    let trend = read("/reports/trend.csv");
    assert!(!trend.is_empty(), "the reconcile loop stored a snapshot");
}

#[test]
fn the_audit_trail_shows_what_each_revision_changed_and_the_overview_a_rejected_one() {
    let (s, _) = console_server(&[]);
    let first = s.status()["lastApplied"]["revision"]
        .as_str()
        .expect("an applied revision")
        .to_owned();

    // A pull request: hold openssl back on the web servers.
    std::fs::write(
        s.policies().join("web-openssl.yaml"),
        "apiVersion: fixpoint.dev/v1alpha1\nkind: Exclusion\nmetadata: {name: web-openssl}\n\
         spec:\n  machines: {groups: [web-servers]}\n  patches: {packages: [openssl, libssl3]}\n  \
         reason: TLS regression under investigation\n  owner: web-team\n",
    )
    .expect("write");
    let v = s.wait_for("the second revision planned", |v| {
        v["plan"]["revision"].as_str().is_some_and(|r| r != first)
    });
    let second = v["plan"]["revision"].as_str().expect("revision").to_owned();
    let audit = json(&s, "/api/v1/console/audit");
    let newest = &audit["revisions"][0];
    assert_eq!(newest["revision"], second.as_str(), "{audit:#}");
    assert_eq!(newest["applied"], true);
    assert_eq!(newest["changes"]["from"], first.as_str(), "{newest:#}");
    let excluded: Vec<&Value> = newest["changes"]["diff"]["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter(|c| c["kind"] == "excluded")
        .collect();
    // One group a state the pairs were in before (held, scheduled); all openssl.
    assert!(!excluded.is_empty(), "{newest:#}");
    for group in &excluded {
        assert!(
            group["patch"]
                .as_str()
                .is_some_and(|p| p.starts_with("openssl/")),
            "{group:#}"
        );
        assert!(
            group["after"]
                .as_str()
                .is_some_and(|a| a.contains("web-openssl")),
            "{group:#}"
        );
    }
    let moved: u64 = excluded.iter().filter_map(|g| g["machines"].as_u64()).sum();
    assert_eq!(
        Some(moved),
        newest["changes"]["diff"]["machinesChanged"].as_u64()
    );
    let (_, html) = s.get("/audit");
    assert!(
        html.contains(&second[..12]),
        "the audit page lists {second}"
    );

    // A broken pull request is rejected; the overview says so and keeps the last good one.
    std::fs::write(
        s.policies().join("broken.yaml"),
        "apiVersion: fixpoint.dev/v1alpha1\nkind: Exclusion\nmetadata: {name: broken}\nspec: {reason: 3}\n",
    )
    .expect("write");
    s.wait_for("the broken revision attempted", |v| {
        v["lastAttempted"]["errors"].as_u64().is_some_and(|n| n > 0)
    });
    let overview = json(&s, "/api/v1/console/overview");
    assert_eq!(
        overview["applied"]["revision"],
        second.as_str(),
        "{overview:#}"
    );
    let rejected = &overview["rejected"];
    assert!(
        rejected["diagnostics"]
            .as_array()
            .is_some_and(|d| !d.is_empty()
                && d.iter()
                    .all(|x| x.as_str().is_some_and(|x| x.contains("broken.yaml:")))),
        "{rejected:#}"
    );
    let (_, html) = s.get("/");
    assert!(
        html.contains("was rejected"),
        "the overview shows the rejected revision"
    );
    let audit = json(&s, "/api/v1/console/audit");
    assert_eq!(audit["revisions"][0]["applied"], false);
    assert!(
        audit["revisions"][0]["diagnostics"][0]
            .as_str()
            .is_some_and(|d| d.contains("broken.yaml:"))
    );
}

#[test]
fn the_trend_holds_the_stored_history_and_the_live_snapshot() {
    let (s, built) = console_server(&[]);
    let trend = json(&s, "/api/v1/console/reports")["trend"].clone();
    let points = trend.as_array().expect("points");
    assert!(
        points.len() > console_fleet::TREND_DAYS as usize,
        "{trend:#}"
    );
    assert_eq!(
        points[0]["compliant"],
        240 - 5 * console_fleet::TREND_DAYS,
        "oldest first"
    );
    let live = points.last().expect("a point");
    assert_eq!(live["machines"], built.machines);
    let overview = json(&s, "/api/v1/console/overview");
    assert_eq!(live["compliant"], overview["totals"]["compliant"]);
}
