//! Directory sync against a real OpenLDAP server (tests/support/slapd.rs: Debian's slapd on
//! a loopback port with an AD-like schema and 3,000 computers in nested OUs and groups), over
//! plain LDAP, `ldaps://` and StartTLS with a throwaway CA, and the store's directory tables
//! on both databases.
//!
//! Without slapd (or, for TLS, openssl) the LDAP tests are skipped with a message; with
//! CI=true they fail.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fixpoint::directory::{
    self, DirectoryComputer, DirectoryConfig, DirectoryError, PasswordSource, facts_by_machine,
};
use fixpoint::store::Store;
use fixpoint_core::fleet::Machine;
use fixpoint_core::plan::groups::selector_matches;
use fixpoint_core::policy::Selector;
use support::slapd::{self, Options, Slapd, TestCa};

mod support {
    pub mod databases;
    pub mod slapd;
}

const COMPUTERS: usize = 3000;

/// A slapd with the default data, or `None` (skipped) without slapd, or without openssl
/// when `options.tls`.
fn start(options: &Options) -> Option<(tempfile::TempDir, Slapd)> {
    let missing = if options.tls {
        slapd::missing_tls()
    } else {
        slapd::missing()
    };
    if missing.is_some() {
        return None;
    }
    let dir = tempfile::tempdir().expect("a temp dir");
    let server = Slapd::start(dir.path(), options);
    Some((dir, server))
}

/// A config binding as the sync account, the password in a file in `dir`.
fn config(server: &Slapd, dir: &tempfile::TempDir, password: &str) -> DirectoryConfig {
    let path = dir.path().join(format!("bind-password-{}", password.len()));
    std::fs::write(&path, format!("{password}\n")).expect("write the password file");
    let mut config = DirectoryConfig::new(
        server.url(),
        slapd::SYNC_DN,
        PasswordSource::File(path),
        slapd::SUFFIX,
    );
    config.page_size = 100;
    config.timeout = Duration::from_secs(10);
    config
}

fn by_name(computers: &[DirectoryComputer]) -> BTreeMap<&str, &DirectoryComputer> {
    computers.iter().map(|c| (c.name.as_str(), c)).collect()
}

#[tokio::test]
async fn paged_sync_reads_every_computer_past_a_per_search_limit() {
    // The sync account may read 150 entries a search without paging: only paging gets all.
    let options = Options {
        computers: COMPUTERS,
        unpaged_size_limit: Some(150),
        ..Options::default()
    };
    let Some((dir, server)) = start(&options) else {
        return;
    };
    let config = config(&server, &dir, slapd::SYNC_PASSWORD);

    let outcome = directory::sync(&config)
        .await
        .unwrap_or_else(|e| panic!("sync: {e}\n{}", server.log()));
    assert_eq!(outcome.computers.len(), COMPUTERS);
    assert_eq!(outcome.groups, 6);
    // The referral object below the suffix comes back as a continuation reference.
    assert_eq!(outcome.references_skipped, 1);

    // A page bigger than the per-search limit is fine too (OpenLDAP limits pages only with
    // size.pr), and a plain search really stops at 150: paging is what reads them all.
    let mut big_pages = config.clone();
    big_pages.page_size = 1000;
    let again = directory::sync(&big_pages)
        .await
        .expect("sync, pages of 1000");
    assert_eq!(again.computers, outcome.computers);
    let (conn, mut ldap) = ldap3::LdapConnAsync::new(&server.url())
        .await
        .expect("connect");
    tokio::spawn(conn.drive());
    ldap.simple_bind(slapd::SYNC_DN, slapd::SYNC_PASSWORD)
        .await
        .expect("bind")
        .success()
        .expect("bound");
    let plain = ldap
        .search(
            slapd::SUFFIX,
            ldap3::Scope::Subtree,
            "(objectClass=computer)",
            vec!["cn"],
        )
        .await
        .expect("search");
    assert_eq!(plain.1.rc, 4, "a plain search hits the size limit");
    assert_eq!(plain.0.len(), 150);

    let computers = by_name(&outcome.computers);
    let pc0 = computers["PC00000"];
    assert!(
        pc0.dn
            .eq_ignore_ascii_case(&format!("CN=PC00000,{}", slapd::ou_of(0))),
        "{pc0:?}"
    );
    assert!(pc0.ou.eq_ignore_ascii_case(&slapd::ou_of(0)), "{pc0:?}");
    assert_eq!(pc0.dns_host_name.as_deref(), Some("pc00000.corp.example"));
    assert_eq!(pc0.os.as_deref(), Some("Windows Server 2022 Standard"));
    assert_eq!(pc0.os_version.as_deref(), Some("10.0 (20348)"));
    assert!(!pc0.disabled);
    assert_eq!(
        pc0.last_logon.map(|t| t.to_string()).as_deref(),
        Some("2024-01-01T00:00:00Z")
    );
    // Direct groups (Web-Servers, Patch-Pilot) and nested ones (All-Servers, Managed).
    let names: Vec<String> = pc0
        .groups
        .iter()
        .map(|g| g.split(',').next().unwrap_or_default().to_lowercase())
        .collect();
    assert_eq!(
        names,
        [
            "cn=all-servers",
            "cn=managed",
            "cn=patch-pilot",
            "cn=web-servers"
        ],
        "{:?}",
        pc0.groups
    );
    assert!(computers["PC00007"].disabled);
    assert_eq!(
        outcome.computers.iter().filter(|c| c.disabled).count(),
        (0..COMPUTERS).filter(|&i| slapd::disabled(i)).count()
    );
    let pc2 = computers["PC00002"];
    assert_eq!(
        pc2.groups.len(),
        2,
        "Workstations and Managed: {:?}",
        pc2.groups
    );
}

fn machine(id: &str, hostname: &str) -> Machine {
    serde_json::from_value(serde_json::json!({
        "id": id,
        "hostname": hostname,
        "os": {"family": "windows"},
        "inventory": "0".repeat(64),
    }))
    .expect("a machine")
}

fn selector(json: serde_json::Value) -> Selector {
    serde_json::from_value(json).expect("a selector")
}

#[tokio::test]
async fn directory_facts_match_machines_and_drive_selectors() {
    let Some((dir, server)) = start(&Options::default()) else {
        return;
    };
    let outcome = directory::sync(&config(&server, &dir, slapd::SYNC_PASSWORD))
        .await
        .expect("sync");

    let mut machines = vec![
        machine("by-dns", "PC00000.corp.example"), // Site1, Web, Patch-Pilot
        machine("by-name", "pc00001.lab.internal"), // Site2, Db
        machine("short", "pc00006"),               // Site1, Workstations
        machine("unknown", "laptop-17.corp.example"),
    ];
    let facts = facts_by_machine(&outcome.computers, &machines);
    assert_eq!(
        facts.keys().map(String::as_str).collect::<Vec<_>>(),
        ["by-dns", "by-name", "short"]
    );
    for m in &mut machines {
        if let Some(f) = facts.get(&m.id) {
            m.directory = f.clone();
        }
    }
    let picked = |json: serde_json::Value| -> Vec<&str> {
        let s = selector(json);
        machines
            .iter()
            .filter(|m| selector_matches(m, &s))
            .map(|m| m.id.as_str())
            .collect()
    };
    // An OU and everything below it, spelt in another case.
    assert_eq!(
        picked(
            serde_json::json!({"directory": {"ou": "ou=site1,ou=computers,dc=corp,dc=example"}})
        ),
        ["by-dns", "short"]
    );
    assert_eq!(
        picked(
            serde_json::json!({"directory": {"ou": format!("OU=Servers,OU=Site2,OU=Computers,{}", slapd::SUFFIX)}})
        ),
        ["by-name"]
    );
    // A group by name, directly and nested, and by DN.
    assert_eq!(
        picked(serde_json::json!({"directory": {"group": "Patch-Pilot"}})),
        ["by-dns"]
    );
    assert_eq!(
        picked(serde_json::json!({"directory": {"group": "All-Servers"}})),
        ["by-dns", "by-name"]
    );
    assert_eq!(
        picked(serde_json::json!({"directory": {"group": slapd::group_dn("Managed")}})),
        ["by-dns", "by-name", "short"]
    );
    assert_eq!(
        picked(
            serde_json::json!({"directory": {"ou": format!("OU=Site1,OU=Computers,{}", slapd::SUFFIX), "group": "Workstations"}})
        ),
        ["short"]
    );
}

/// Stores a good sync, then checks that `failure` leaves it in place on both databases.
async fn previous_data_survives(test: &str, good: &[DirectoryComputer], failure: &DirectoryError) {
    for (backend, store) in support::databases::both(test).await {
        let at = jiff::Timestamp::from_second(1_700_000_000).expect("a time");
        store
            .replace_directory("corp", "ldap://dc/DC=corp", good, at)
            .await
            .unwrap_or_else(|e| panic!("{backend}: replace: {e}"));
        let later = jiff::Timestamp::from_second(1_700_000_600).expect("a time");
        store
            .record_directory_failure("corp", "ldap://dc/DC=corp", &failure.to_string(), later)
            .await
            .unwrap_or_else(|e| panic!("{backend}: record failure: {e}"));
        let stored = store
            .directory_computers_of("corp")
            .await
            .unwrap_or_else(|e| panic!("{backend}: read: {e}"));
        assert_eq!(stored.len(), good.len(), "{backend}");
        assert_eq!(stored, good, "{backend}");
        let state = store.directory_sources().await.expect("sources");
        assert_eq!(state.len(), 1, "{backend}");
        assert_eq!(state[0].last_attempt_at, Some(later), "{backend}");
        assert_eq!(state[0].last_success_at, Some(at), "{backend}");
        assert_eq!(state[0].computers, good.len() as i64, "{backend}");
        assert_eq!(
            state[0].last_error.as_deref(),
            Some(failure.to_string().as_str()),
            "{backend}"
        );
    }
}

#[tokio::test]
async fn failures_are_reported_clearly_and_keep_the_previous_data() {
    let options = Options {
        computers: 1000,
        ..Options::default()
    };
    let Some((dir, mut server)) = start(&options) else {
        return;
    };
    let good_config = config(&server, &dir, slapd::SYNC_PASSWORD);
    let good = directory::sync(&good_config).await.expect("sync").computers;
    assert_eq!(good.len(), 1000);
    let good = &good[..50];

    // Wrong password: result 49, naming the URL and bind DN, never a password.
    let wrong = config(&server, &dir, "not-the-password");
    let e = directory::sync(&wrong).await.expect_err("a wrong password");
    assert!(matches!(e, DirectoryError::BadCredentials { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains(&server.url()) && text.contains(slapd::SYNC_DN),
        "{text}"
    );
    assert!(text.contains("49"), "{text}");
    assert!(!text.contains("not-the-password") && !format!("{e:?}").contains("not-the-password"));
    assert!(!format!("{wrong:?}").contains("not-the-password"));
    assert!(!format!("{good_config:?}").contains(slapd::SYNC_PASSWORD));
    previous_data_survives("directory-bad-credentials", good, &e).await;

    // A base DN that is a referral object: result 10, with where it points.
    let mut referral = good_config.clone();
    referral.base_dn = slapd::REFERRAL_DN.into();
    let e = directory::sync(&referral).await.expect_err("a referral");
    let DirectoryError::Referral { refs, .. } = &e else {
        panic!("{e:?}");
    };
    assert!(
        refs.iter().any(|r| r.contains("ldap.other.example")),
        "{refs:?}"
    );
    let text = e.to_string();
    assert!(text.contains("referral") && text.contains("10"), "{text}");
    assert!(text.contains("ldap.other.example"), "{text}");
    previous_data_survives("directory-referral", good, &e).await;

    // A size limit that holds across pages: result 4 after the limit, never a partial list.
    server.reconfigure(&Options {
        size_limit: Some(300),
        ..options.clone()
    });
    let limited = config(&server, &dir, slapd::SYNC_PASSWORD);
    let e = directory::sync(&limited).await.expect_err("a size limit");
    let DirectoryError::SizeLimit { returned, .. } = &e else {
        panic!("{e:?}");
    };
    assert_eq!(*returned, 300, "{e}");
    let text = e.to_string();
    assert!(
        text.contains("size limit") && text.contains(slapd::SUFFIX),
        "{text}"
    );
    previous_data_survives("directory-size-limit", good, &e).await;

    // StartTLS asked of a server without TLS: refused before the bind, and said so.
    let mut starttls = limited.clone();
    starttls.starttls = true;
    let e = directory::sync(&starttls)
        .await
        .expect_err("StartTLS without TLS on the server");
    assert!(matches!(e, DirectoryError::Unreachable { .. }), "{e:?}");
    assert!(e.to_string().contains("StartTLS"), "{e}");

    // The server stopped: unreachable, naming the URL.
    server.stop();
    let e = directory::sync(&limited).await.expect_err("unreachable");
    assert!(matches!(e, DirectoryError::Unreachable { .. }), "{e:?}");
    assert!(e.to_string().contains(&limited.url), "{e}");
    previous_data_survives("directory-unreachable", good, &e).await;

    // A missing password file: named, and no connection made.
    let mut no_file = limited.clone();
    no_file.password = PasswordSource::File(dir.path().join("missing"));
    let e = directory::sync(&no_file)
        .await
        .expect_err("no password file");
    assert!(matches!(e, DirectoryError::Password { .. }), "{e:?}");
    assert!(e.to_string().contains("missing"), "{e}");
}

/// `config` over `url`, with StartTLS or not, trusting `ca_file` or the system's roots.
fn over_tls(
    config: &DirectoryConfig,
    url: String,
    starttls: bool,
    ca_file: Option<&Path>,
) -> DirectoryConfig {
    let mut config = config.clone();
    config.url = url;
    config.starttls = starttls;
    config.ca_file = ca_file.map(Path::to_owned);
    config
}

#[tokio::test]
async fn ldaps_and_starttls_trusting_the_domain_ca_read_what_plain_ldap_reads() {
    let computers = 600;
    let Some((dir, server)) = start(&Options {
        computers,
        tls: true,
        ..Options::default()
    }) else {
        return;
    };
    let plain = config(&server, &dir, slapd::SYNC_PASSWORD);
    let expected = directory::sync(&plain)
        .await
        .unwrap_or_else(|e| panic!("plain sync: {e}\n{}", server.log()));
    assert_eq!(expected.computers.len(), computers);

    let ca = Some(server.ca_file());
    for (how, config) in [
        ("ldaps", over_tls(&plain, server.ldaps_url(), false, ca)),
        ("StartTLS", over_tls(&plain, server.url(), true, ca)),
    ] {
        let outcome = directory::sync(&config)
            .await
            .unwrap_or_else(|e| panic!("{how}: {e}\n{}", server.log()));
        // Every computer, group and reference, field for field.
        assert_eq!(outcome, expected, "{how}");
        let named = by_name(&outcome.computers);
        let pc0 = named["PC00000"];
        assert_eq!(
            pc0.dns_host_name.as_deref(),
            Some("pc00000.corp.example"),
            "{how}"
        );
        assert_eq!(pc0.groups.len(), 4, "{how}: nested groups {:?}", pc0.groups);
        assert!(named["PC00007"].disabled, "{how}");
        let last = slapd::name_of(computers - 1);
        assert!(pc0.ou.eq_ignore_ascii_case(&slapd::ou_of(0)), "{how}");
        assert!(
            named[last.as_str()]
                .ou
                .eq_ignore_ascii_case(&slapd::ou_of(computers - 1)),
            "{how}"
        );
    }
}

#[tokio::test]
async fn tls_refuses_a_certificate_it_cannot_trust_and_keeps_the_previous_data() {
    let Some((dir, mut server)) = start(&Options {
        computers: 200,
        tls: true,
        ..Options::default()
    }) else {
        return;
    };
    let plain = config(&server, &dir, slapd::SYNC_PASSWORD);
    let good = directory::sync(&plain).await.expect("plain sync").computers;
    let good = &good[..50];
    let other_ca = TestCa::create(&dir.path().join("other"), "Another CA");

    for (how, url, starttls) in [
        ("ldaps", server.ldaps_url(), false),
        ("starttls", server.url(), true),
    ] {
        // The system's roots do not hold the domain's CA: a certificate problem, said so,
        // with the way out.
        let system_roots = over_tls(&plain, url.clone(), starttls, None);
        let e = directory::sync(&system_roots)
            .await
            .expect_err("a certificate from an unknown CA");
        let DirectoryError::Unreachable { detail, .. } = &e else {
            panic!("{how}: {e:?}");
        };
        assert!(
            detail.contains("TLS")
                && detail.contains("certificate")
                && detail.contains("system trusts")
                && detail.contains("CA file"),
            "{how}: {detail}"
        );
        assert!(e.to_string().contains(&url), "{how}: {e}");
        assert!(!format!("{e:?}").contains(slapd::SYNC_PASSWORD), "{how}");
        previous_data_survives(&format!("directory-tls-untrusted-{how}"), good, &e).await;

        // Another CA's file: the same refusal, naming the file that was trusted.
        let wrong_ca = over_tls(&plain, url, starttls, Some(&other_ca.cert));
        let e = directory::sync(&wrong_ca)
            .await
            .expect_err("a certificate from another CA");
        let DirectoryError::Unreachable { detail, .. } = &e else {
            panic!("{how}: {e:?}");
        };
        assert!(
            detail.contains("certificate") && detail.contains(&other_ca.cert.display().to_string()),
            "{how}: {detail}"
        );
    }

    // A certificate for `localhost` only: the right CA, but reached as 127.0.0.1 it is not
    // the server's name; reached as localhost it is.
    server.reissue_certificate(&["DNS:localhost"]);
    let port = server.ldaps_port.expect("an ldaps port");
    let ca = Some(server.ca_file());
    let by_address = over_tls(&plain, format!("ldaps://127.0.0.1:{port}"), false, ca);
    let e = directory::sync(&by_address)
        .await
        .expect_err("a certificate for another name");
    let DirectoryError::Unreachable { detail, .. } = &e else {
        panic!("{e:?}");
    };
    assert!(
        detail.contains("not valid for the host") && detail.contains("127.0.0.1"),
        "{detail}"
    );
    let by_name = over_tls(&plain, format!("ldaps://localhost:{port}"), false, ca);
    let outcome = directory::sync(&by_name)
        .await
        .unwrap_or_else(|e| panic!("ldaps by name: {e}\n{}", server.log()));
    assert_eq!(outcome.computers.len(), 200);
}

#[tokio::test]
async fn tls_configuration_mistakes_are_config_errors_before_connecting() {
    // No server: each mistake is found before a connection is tried (port 1 would refuse).
    let dir = tempfile::tempdir().expect("a temp dir");
    let password = dir.path().join("bind-password");
    std::fs::write(&password, "pw\n").expect("write the password file");
    let ldaps = DirectoryConfig::new(
        "ldaps://127.0.0.1:1",
        slapd::SYNC_DN,
        PasswordSource::File(password),
        slapd::SUFFIX,
    );
    let with_ca = |name: &str, contents: Option<&str>| -> (PathBuf, DirectoryConfig) {
        let path = dir.path().join(name);
        if let Some(contents) = contents {
            std::fs::write(&path, contents).expect("write the CA file");
        }
        let mut config = ldaps.clone();
        config.ca_file = Some(path.clone());
        (path, config)
    };
    let config_error = |e: DirectoryError| -> String {
        assert!(matches!(e, DirectoryError::Config(_)), "{e:?}");
        assert_eq!(e.kind(), "config");
        e.to_string()
    };

    let bad_files = [
        ("missing-ca.pem", None, "cannot read"),
        ("empty-ca.pem", Some(""), "no PEM certificate"),
        (
            "key-not-cert.pem",
            Some("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
            "no PEM certificate",
        ),
        (
            "bad-base64.pem",
            Some("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n"),
            "not valid PEM",
        ),
        (
            "not-a-certificate.pem",
            Some("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
            "not usable as a certificate authority",
        ),
    ];
    for (name, contents, why) in bad_files {
        let (path, config) = with_ca(name, contents);
        let text = config_error(directory::sync(&config).await.expect_err(name));
        assert!(
            text.contains(&path.display().to_string()) && text.contains(why),
            "{name}: {text}"
        );
    }

    // ldaps:// is TLS already: StartTLS on top is a contradiction.
    let mut both = ldaps.clone();
    both.starttls = true;
    let text = config_error(
        directory::sync(&both)
            .await
            .expect_err("ldaps and StartTLS"),
    );
    assert!(
        text.contains("StartTLS") && text.contains("ldaps://"),
        "{text}"
    );

    // A CA file on a plain connection would be ignored and the password sent in clear.
    let (path, mut plain_with_ca) = with_ca("unused-ca.pem", Some(""));
    plain_with_ca.url = "ldap://127.0.0.1:1".into();
    let text = config_error(
        directory::sync(&plain_with_ca)
            .await
            .expect_err("plain and a CA"),
    );
    assert!(
        text.contains("plain LDAP") && text.contains(&path.display().to_string()),
        "{text}"
    );
}

#[tokio::test]
async fn sync_into_store_replaces_on_success_and_records_failures() {
    let options = Options {
        computers: 400,
        ..Options::default()
    };
    let Some((dir, mut server)) = start(&options) else {
        return;
    };
    let good = config(&server, &dir, slapd::SYNC_PASSWORD);
    for (backend, store) in support::databases::both("directory-sync-into").await {
        let t1 = jiff::Timestamp::from_second(1_700_000_000).expect("a time");
        let outcome = directory::sync_into_store(&store, "corp", &good, t1)
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        assert_eq!(outcome.computers.len(), 400, "{backend}");
        let stored = store.directory_computers_of("corp").await.expect("read");
        assert_eq!(stored, outcome.computers, "{backend}");

        let wrong = config(&server, &dir, "wrong-password");
        let t2 = jiff::Timestamp::from_second(1_700_000_060).expect("a time");
        let e = directory::sync_into_store(&store, "corp", &wrong, t2)
            .await
            .expect_err("bad credentials");
        assert!(
            matches!(
                e,
                directory::SyncIntoError::Directory(DirectoryError::BadCredentials { .. })
            ),
            "{backend}: {e:?}"
        );
        assert_eq!(
            store.directory_computers_of("corp").await.expect("read"),
            stored,
            "{backend}"
        );
        let state = &store.directory_sources().await.expect("sources")[0];
        assert_eq!(state.last_success_at, Some(t1), "{backend}");
        assert_eq!(state.last_attempt_at, Some(t2), "{backend}");
        assert!(
            state
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains("49") && !e.contains("wrong-password")),
            "{backend}: {state:?}"
        );
        assert!(state.location.contains(&good.url), "{backend}: {state:?}");
    }
    server.stop();
}

#[tokio::test]
async fn replacing_a_source_is_one_swap_and_sources_are_separate() {
    let computer = |i: usize, disabled: bool| DirectoryComputer {
        dn: format!("CN=PC{i},OU=Web,DC=corp,DC=example"),
        name: format!("PC{i}"),
        dns_host_name: i.is_multiple_of(2).then(|| format!("pc{i}.corp.example")),
        os: Some("Windows 11".into()),
        os_version: None,
        ou: "OU=Web,DC=corp,DC=example".into(),
        groups: vec![format!("CN=G{},DC=corp,DC=example", i % 3)],
        last_logon: (!i.is_multiple_of(5))
            .then(|| jiff::Timestamp::from_second(1_700_000_000 + i as i64).expect("t")),
        disabled,
    };
    for (backend, store) in support::databases::both("directory-replace").await {
        let store: Store = store;
        let at = jiff::Timestamp::from_second(1_700_000_000).expect("a time");
        // More rows than one statement holds.
        let first: Vec<DirectoryComputer> = (0..1234)
            .map(|i| computer(i, i.is_multiple_of(7)))
            .collect();
        store
            .replace_directory("corp", "ldap://a", &first, at)
            .await
            .expect("replace");
        store
            .replace_directory("lab", "ldap://b", &first[..3], at)
            .await
            .expect("replace");
        let mut sorted = first.clone();
        sorted.sort_by(|a, b| a.dn.cmp(&b.dn));
        assert_eq!(
            store.directory_computers_of("corp").await.expect("read"),
            sorted,
            "{backend}"
        );
        let second: Vec<DirectoryComputer> = (5000..5010).map(|i| computer(i, false)).collect();
        store
            .replace_directory("corp", "ldap://a", &second, at)
            .await
            .expect("replace");
        assert_eq!(
            store.directory_computers_of("corp").await.expect("read"),
            second,
            "{backend}"
        );
        let all = store.directory_computers().await.expect("read all");
        assert_eq!(all.len(), 13, "{backend}");
        assert_eq!(
            all.iter().filter(|(s, _)| s == "lab").count(),
            3,
            "{backend}"
        );
        let sources = store.directory_sources().await.expect("sources");
        assert_eq!(
            sources
                .iter()
                .map(|s| (s.name.as_str(), s.computers))
                .collect::<Vec<_>>(),
            [("corp", 10), ("lab", 3)],
            "{backend}"
        );
        assert!(sources.iter().all(|s| s.last_error.is_none()), "{backend}");
    }
}
