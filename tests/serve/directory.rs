//! The directory as the server uses it: a `Settings` directory source pointing
//! at a real slapd (tests/support/slapd.rs, an Active Directory-like schema and
//! 3,000 computers in nested OUs), synced by the leader; machines matched to
//! computers get their OU and groups, `MachineGroup` directory selectors pick
//! them, the status and the console's directory report show the rest, and a
//! directory that becomes unreachable keeps the previous data.

use std::time::Duration;

use serde_json::{Value, json};

use crate::slapd::{self, Options, Slapd};
use crate::support::{Agent, Serve, Server, web_inventory};

/// The `Settings` of the example policies with one directory source.
fn settings(url: &str, password_file: &std::path::Path) -> String {
    let text = std::fs::read_to_string(crate::support::root().join("policies/settings.yaml"))
        .expect("policies/settings.yaml");
    format!(
        "{text}  directory:\n    sources:\n      - name: corp\n        url: {url}\n        bindDn: \"{}\"\n        passwordFile: {}\n        baseDn: \"{}\"\n        pageSize: 250\n        interval: 1h\n        timeout: 5s\n",
        slapd::SYNC_DN,
        password_file.display(),
        slapd::SUFFIX,
    )
}

const GROUPS: &str = "
---
apiVersion: fixpoint.dev/v1alpha1
kind: MachineGroup
metadata:
  name: site1-servers
spec:
  match:
    directory:
      ou: \"OU=Servers,OU=Site1,OU=Computers,DC=corp,DC=example\"
---
apiVersion: fixpoint.dev/v1alpha1
kind: MachineGroup
metadata:
  name: patch-pilots
spec:
  match:
    directory:
      group: Patch-Pilot
";

fn enroll(s: &Server, hostname: &str) -> Agent {
    let facts = json!({"hostname": hostname, "os": {"family": "debian", "version": "12"}});
    let agent = s.enroll(&facts);
    let (_, full) = web_inventory();
    s.check_in(&agent, &facts, &full);
    agent
}

fn machine(s: &Server, id: &str) -> Value {
    let (code, body) = s.get(&format!("/api/v1/console/machines/{id}"));
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).expect("JSON")
}

/// The machine's OU, in lower case (slapd spells attribute types in lower case, AD in
/// upper case; DNs compare without case).
fn ou_of(page: &Value) -> Option<String> {
    page["ou"].as_str().map(str::to_lowercase)
}

fn groups_of(page: &Value) -> Vec<String> {
    page["machine"]["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| g.as_str().expect("name").to_owned())
        .collect()
}

#[test]
fn synced_computers_become_machine_facts_selectors_and_reports_and_survive_an_outage() {
    if let Some(why) = slapd::missing() {
        eprintln!("skipped: {why}");
        return;
    }
    let ldap_dir = tempfile::tempdir().expect("a temp dir");
    let ldap = Slapd::start(ldap_dir.path(), &Options::default());
    let serve = Serve::new().snapshot(false).enrollment();
    let password = serve.dir().join("ldap-password");
    std::fs::write(&password, format!("{}\n", slapd::SYNC_PASSWORD)).expect("password file");
    std::fs::write(
        serve.policies().join("settings.yaml"),
        settings(&ldap.url(), &password),
    )
    .expect("settings");
    std::fs::write(serve.policies().join("directory-groups.yaml"), GROUPS).expect("groups");
    let s = serve.start();

    let v = s.wait_for("the directory sync", |v| {
        v["directory"]["sources"][0]["lastSuccessAt"].is_string()
    });
    let source = &v["directory"]["sources"][0];
    assert_eq!(source["name"], "corp", "{v:#}");
    assert_eq!(source["computers"], 3000, "{v:#}");
    assert!(source["lastError"].is_null(), "{v:#}");
    assert_eq!(
        source["location"],
        format!("{} {}", ldap.url(), slapd::SUFFIX).as_str()
    );

    // Computer 0: Web server in Site1, in Patch-Pilot; 1: Db server in Site2, matched by
    // its short name; 7: a disabled workstation; and a laptop the directory does not know.
    let web = enroll(&s, "PC00000.corp.example");
    let db = enroll(&s, "pc00001.lab.internal");
    let disabled = enroll(&s, "pc00007.corp.example");
    let laptop = enroll(&s, "laptop-17.corp.example");
    assert!(slapd::disabled(7));

    // Planned with its facts (the next reconcile pass, a second at most here).
    s.wait_for_within(
        "directory facts on the machine",
        Duration::from_secs(60),
        |_| {
            let (code, body) = s.get(&format!("/api/v1/console/machines/{}", laptop.id));
            code == 200
                && serde_json::from_str::<Value>(&body).is_ok()
                && machine(&s, &web.id)["ou"].is_string()
        },
    );
    let web_page = machine(&s, &web.id);
    assert_eq!(
        ou_of(&web_page),
        Some(slapd::ou_of(0).to_lowercase()),
        "{web_page:#}"
    );
    let web_groups = groups_of(&web_page);
    assert!(
        web_groups.contains(&"site1-servers".to_owned()),
        "{web_groups:?}"
    );
    assert!(
        web_groups.contains(&"patch-pilots".to_owned()),
        "{web_groups:?}"
    );
    let db_page = machine(&s, &db.id);
    assert_eq!(
        ou_of(&db_page),
        Some(slapd::ou_of(1).to_lowercase()),
        "{db_page:#}"
    );
    let db_groups = groups_of(&db_page);
    assert!(
        !db_groups.contains(&"site1-servers".to_owned()),
        "{db_groups:?}"
    );
    assert!(
        !db_groups.contains(&"patch-pilots".to_owned()),
        "{db_groups:?}"
    );
    let laptop_page = machine(&s, &laptop.id);
    assert!(laptop_page["ou"].is_null(), "{laptop_page:#}");

    // The directory report: what nobody manages, and what the directory does not know.
    let (code, body) = s.get("/api/v1/console/directory");
    assert_eq!(code, 200, "{body}");
    let report: Value = serde_json::from_str(&body).expect("JSON");
    let text = report.to_string();
    assert!(
        text.contains(&laptop.id),
        "the laptop has no directory object: {report:#}"
    );
    assert!(
        text.contains(&disabled.id),
        "a disabled computer still checks in: {report:#}"
    );
    assert!(
        text.contains("PC00002"),
        "computer 2 has no agent: {text:.2000}"
    );
    let (code, csv) = s.get("/reports/directory-unmanaged.csv");
    assert_eq!(code, 200, "{csv}");
    // A header and one line per computer without an agent: 3,000 less the three matched.
    assert_eq!(csv.lines().count(), 1 + 3000 - 3, "{:.500}", csv);
    assert!(!csv.contains("PC00000"), "computer 0 is managed");

    // The directory becomes unreachable (another URL: a sync at once, which fails): the
    // error is reported and the computers and facts stay.
    let closed = format!("ldap://127.0.0.1:{}", slapd::free_port());
    std::fs::write(
        s.policies().join("settings.yaml"),
        settings(&closed, &password),
    )
    .expect("settings");
    let v = s.wait_for("the failed sync", |v| {
        v["directory"]["sources"][0]["lastError"].is_string()
    });
    let source = &v["directory"]["sources"][0];
    let error = source["lastError"].as_str().expect("error");
    assert!(
        error.contains(&closed),
        "the error names the server: {error}"
    );
    assert_eq!(source["computers"], 3000, "{v:#}");
    assert!(
        !error.contains(slapd::SYNC_PASSWORD),
        "the password is never shown"
    );
    // Planned again on the new revision, the facts are still there.
    let revision = v["lastAttempted"]["revision"].clone();
    s.wait_for("the plan of the new revision", |v| {
        v["plan"]["revision"] == revision
    });
    let web_page = machine(&s, &web.id);
    assert_eq!(
        ou_of(&web_page),
        Some(slapd::ou_of(0).to_lowercase()),
        "{web_page:#}"
    );
    assert!(groups_of(&web_page).contains(&"patch-pilots".to_owned()));
    let log = s.status().to_string();
    assert!(!log.contains(slapd::SYNC_PASSWORD));
}
