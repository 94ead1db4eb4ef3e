//! Specifications of loading and validation, one behaviour per test.

use proptest::prelude::*;

use super::*;

const NOW: &str = "2026-11-25T12:00:00Z";

fn now() -> jiff::Timestamp {
    NOW.parse().expect("valid instant")
}

fn check_yaml(yaml: &str) -> Checked {
    check([("p.yaml", yaml.as_bytes())], now())
}

/// Diagnostics as `line:column: level: message`, the file name left out.
fn lines(yaml: &str) -> Vec<String> {
    check_yaml(yaml)
        .diagnostics
        .iter()
        .map(|d| format!("{}:{}: {}: {}", d.line, d.column, d.level, d.message))
        .collect()
}

fn has(yaml: &str, needle: &str) -> bool {
    let all = lines(yaml);
    all.iter().any(|l| l.contains(needle))
}

const GROUP: &str = "apiVersion: fixpoint.dev/v1alpha1\nkind: MachineGroup\nmetadata: {name: canary}\nspec: {match: {labels: {ring: canary}}}\n";
const APPROVAL: &str = "apiVersion: fixpoint.dev/v1alpha1\nkind: ApprovalPolicy\nmetadata: {name: sec}\nspec:\n  rules:\n    - {match: {classification: [security]}, approveAfter: 1d}\n";

fn with_base(rest: &str) -> String {
    format!("{GROUP}---\n{APPROVAL}---\n{rest}")
}

fn rollout(spec: &str) -> String {
    with_base(&format!(
        "apiVersion: fixpoint.dev/v1alpha1\nkind: Rollout\nmetadata: {{name: r}}\nspec:\n{spec}"
    ))
}

#[test]
fn a_valid_repository_has_no_diagnostics_and_every_document_loads() {
    let yaml = rollout("  approval: sec\n  rings:\n    - {name: c, groups: [canary]}\n");
    let checked = check_yaml(&yaml);
    assert!(checked.diagnostics.is_empty(), "{:?}", checked.diagnostics);
    assert_eq!(checked.set.len(), 3);
    assert_eq!(checked.set.rollouts[0].spec.rings[0].delay, Duration::ZERO);
}

#[test]
fn every_unknown_field_of_a_document_is_reported_in_one_pass() {
    let yaml = rollout(
        "  approval: sec\n  colour: red\n  rings:\n    - {name: c, groups: [canary], dealy: 1d, gate: {soak: 1h, minSucess: 9%}}\n",
    );
    let all = lines(&yaml);
    let unknown: Vec<&String> = all.iter().filter(|l| l.contains("unknown field")).collect();
    assert_eq!(unknown.len(), 3, "{all:#?}");
    assert!(unknown[0].contains("`colour`"));
    assert!(unknown[1].contains("`dealy`") && unknown[1].contains("did you mean `delay`?"));
    assert!(
        unknown[2].contains("`minSucess`") && unknown[2].contains("did you mean `minSuccess`?")
    );
}

#[test]
fn a_document_with_errors_is_not_applied_and_references_to_it_are_not_reported_again() {
    let yaml = format!(
        "{APPROVAL}---\napiVersion: fixpoint.dev/v1alpha1\nkind: MachineGroup\nmetadata: {{name: canary}}\nspec: {{match: {{labelz: {{}}}}}}\n---\napiVersion: fixpoint.dev/v1alpha1\nkind: Rollout\nmetadata: {{name: r}}\nspec: {{approval: sec, rings: [{{name: c, groups: [canary]}}]}}\n"
    );
    let checked = check_yaml(&yaml);
    assert!(checked.set.groups.is_empty());
    assert_eq!(
        checked.set.broken,
        vec![(Kind::MachineGroup, "canary".to_owned())]
    );
    let messages: Vec<&str> = checked
        .diagnostics
        .iter()
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(messages[0].starts_with("unknown field `labelz`"));
}

#[test]
fn strings_accept_plain_numbers_but_booleans_are_yaml_1_2() {
    let yaml = "apiVersion: fixpoint.dev/v1alpha1\nkind: MachineGroup\nmetadata: {name: g}\nspec: {match: {os: {family: debian, versions: [12, 13.1]}}}\n";
    let checked = check_yaml(yaml);
    assert!(checked.diagnostics.is_empty(), "{:?}", checked.diagnostics);
    let os = checked.set.groups[0]
        .spec
        .selector
        .os
        .clone()
        .expect("os given");
    assert_eq!(os.versions, Some(vec!["12".to_owned(), "13.1".to_owned()]));

    let yaml = "apiVersion: fixpoint.dev/v1alpha1\nkind: ApprovalPolicy\nmetadata: {name: a}\nspec:\n  rules:\n    - {match: {knownExploited: yes}, approveAfter: 0d}\n";
    assert!(
        has(yaml, "6:32: error: expected a boolean, found `yes`"),
        "{:#?}",
        lines(yaml)
    );
}

#[test]
fn a_missing_required_field_names_the_field() {
    let yaml = "apiVersion: fixpoint.dev/v1alpha1\nkind: Exclusion\nmetadata: {name: e}\nspec:\n  machines: {groups: [all]}\n  patches: {ids: [x]}\n  reason: r\n";
    assert_eq!(lines(yaml), vec!["5:3: error: missing field `owner`"]);
}

#[test]
fn semantic_errors_point_at_the_offending_field() {
    let yaml = rollout(
        "  approval: sec\n  rings:\n    - name: c\n      groups:\n        - canary\n        - nosuch\n",
    );
    // Line 10 of the rollout document, which starts at line 13 of the stream.
    assert_eq!(
        lines(&yaml),
        vec!["22:11: error: unknown MachineGroup `nosuch`"]
    );
}

#[test]
fn duplicate_names_point_at_the_first_definition() {
    let yaml = format!("{GROUP}---\n{GROUP}");
    assert_eq!(
        lines(&yaml),
        vec!["8:18: error: duplicate MachineGroup `canary`; the first is at p.yaml:3:18"]
    );
}

#[test]
fn documents_of_different_kinds_may_share_a_name() {
    let yaml = format!(
        "{GROUP}---\napiVersion: fixpoint.dev/v1alpha1\nkind: SoftwarePolicy\nmetadata: {{name: canary}}\nspec: {{absent: [{{package: telnetd}}]}}\n"
    );
    assert!(lines(&yaml).is_empty());
}

#[test]
fn a_group_in_two_rings_is_an_error_but_all_after_specific_rings_is_fine() {
    let two = rollout(
        "  approval: sec\n  rings:\n    - {name: a, groups: [canary]}\n    - {name: b, groups: [canary]}\n",
    );
    assert!(has(
        &two,
        "group `canary` is in two rings of this rollout, `a` and `b`"
    ));
    let fine = rollout(
        "  approval: sec\n  rings:\n    - {name: a, groups: [canary]}\n    - {name: b, groups: [all], delay: 1d}\n",
    );
    assert!(lines(&fine).is_empty(), "{:#?}", lines(&fine));
}

#[test]
fn a_ring_after_all_can_never_match() {
    let yaml = rollout(
        "  approval: sec\n  rings:\n    - {name: a, groups: [all]}\n    - {name: b, groups: [canary]}\n",
    );
    assert!(has(
        &yaml,
        "warning: ring `b` can never match a machine: ring `a` before it takes every machine"
    ));
}

#[test]
fn an_expired_pause_is_a_warning_and_a_current_one_is_silent() {
    let expired = rollout(
        "  approval: sec\n  rings: [{name: a, groups: [all]}]\n  pause: {reason: incident, until: 2026-11-24}\n",
    );
    assert!(has(&expired, "warning: pause expired on 2026-11-24"));
    let current = rollout(
        "  approval: sec\n  rings: [{name: a, groups: [all]}]\n  pause: {reason: incident, until: 2026-11-25}\n",
    );
    assert!(
        lines(&current).is_empty(),
        "a pause until today lasts through today"
    );
}

#[test]
fn a_pause_needs_a_reason_and_an_expiry() {
    let yaml = rollout(
        "  approval: sec\n  rings: [{name: a, groups: [all]}]\n  pause: {reason: incident}\n",
    );
    assert!(has(&yaml, "error: missing field `until`"));
    let yaml = rollout(
        "  approval: sec\n  rings: [{name: a, groups: [all]}]\n  pause: {reason: '', until: 2027-01-01}\n",
    );
    assert!(has(&yaml, "error: a pause needs a reason"));
}

#[test]
fn deadlines_count_approval_ring_delay_soak_and_the_wait_for_a_window() {
    let window = "apiVersion: fixpoint.dev/v1alpha1\nkind: MaintenanceWindow\nmetadata: {name: sundays}\nspec: {cron: '0 1 * * SUN', duration: 2h, timezone: UTC}\n---\n";
    // approval 1d + ring delay 2d + wait up to 7d for Sunday = 10d.
    let spec = |deadline: &str| {
        format!(
            "{window}apiVersion: fixpoint.dev/v1alpha1\nkind: Rollout\nmetadata: {{name: r}}\nspec:\n  approval: sec\n  window: sundays\n  rings: [{{name: a, groups: [canary]}}, {{name: b, groups: [all], delay: 2d}}]\n  deadline: {deadline}\n"
        )
    };
    let late = with_base(&spec("9d"));
    assert!(
        has(
            &late,
            "ring `b` cannot meet the 9d deadline for critical patches: approved after 1d, ring opens 2d after approval, then up to 7d until window `sundays` opens (10d in all)"
        ),
        "{:#?}",
        lines(&late)
    );
    assert!(
        !has(&late, "ring `a` cannot"),
        "ring a needs 8d: {:#?}",
        lines(&late)
    );
    let ok = with_base(&spec("10d"));
    assert!(lines(&ok).is_empty(), "{:#?}", lines(&ok));
}

#[test]
fn a_soak_delays_later_rings_beyond_their_own_delay() {
    let yaml = rollout(
        "  approval: sec\n  deadline: 3d\n  rings:\n    - {name: a, groups: [canary], delay: 1d}\n    - {name: b, groups: [all], delay: 1d, gate: {soak: 2d}}\n",
    );
    assert!(
        has(
            &yaml,
            "ring `b` cannot meet the 3d deadline for critical patches: approved after 1d, ring opens 3d after approval (4d in all)"
        ),
        "{:#?}",
        lines(&yaml)
    );
}

#[test]
fn window_schedules_are_checked() {
    let window = |spec: &str| {
        format!(
            "apiVersion: fixpoint.dev/v1alpha1\nkind: MaintenanceWindow\nmetadata: {{name: w}}\nspec:\n{spec}"
        )
    };
    assert!(has(
        &window("  cron: '0 1 * *'\n  duration: 1h\n"),
        "5:9: error: invalid cron `0 1 * *`"
    ));
    assert!(has(
        &window("  cron: '0 1 31 4 *'\n  duration: 1h\n"),
        "error: window `w` never opens"
    ));
    assert!(has(
        &window("  duration: 1h\n"),
        "error: missing `cron` or `monthly`"
    ));
    assert!(has(
        &window("  cron: '0 1 * * *'\n  duration: 1h\n  timezone: Mars/Olympus\n"),
        "error: unknown time zone `Mars/Olympus`"
    ));
    assert!(
        lines(&window(
            "  cron: '0 1 29 2 *'\n  duration: 1h\n  timezone: Europe/Berlin\n"
        ))
        .is_empty(),
        "Feb 29 occurs in 2028"
    );
    assert!(
        lines(&window(
            "  monthly: {nth: last, weekday: sun, offsetDays: -3, at: '23:30'}\n  duration: 1h\n"
        ))
        .is_empty()
    );
}

#[test]
fn a_freeze_that_covers_every_occurrence_is_an_error_and_a_partial_one_is_not() {
    let window = |freezes: &str| {
        format!(
            "apiVersion: fixpoint.dev/v1alpha1\nkind: MaintenanceWindow\nmetadata: {{name: w}}\nspec:\n  cron: '0 1 1 1 *'\n  duration: 1h\n  timezone: UTC\n  freezes: {freezes}\n"
        )
    };
    let all_years: Vec<String> = (2026..2033)
        .map(|y| format!("{{from: {y}-12-31, to: {}-01-02}}", y + 1))
        .collect();
    let always = window(&format!("[{}]", all_years.join(", ")));
    assert!(
        has(&always, "error: window `w` never opens outside a freeze"),
        "{:#?}",
        lines(&always)
    );
    let once = window("[{from: 2026-12-31, to: 2027-01-02}]");
    assert!(lines(&once).is_empty(), "{:#?}", lines(&once));
}

#[test]
fn exclusions_need_a_reason_an_owner_and_a_patch_scope() {
    let yaml = "apiVersion: fixpoint.dev/v1alpha1\nkind: Exclusion\nmetadata: {name: e}\nspec:\n  machines: {groups: [all]}\n  patches: {}\n  reason: ' '\n  owner: ''\n";
    let all = lines(yaml);
    assert_eq!(
        all,
        vec![
            "6:3: error: an exclusion must name `packages`, `ids` or `cves`; to stop all patching use a rollout `pause`",
            "7:11: error: an exclusion needs a reason: the risk being accepted",
            "8:10: error: an exclusion needs an owner: who accepts the risk",
        ]
    );
}

#[test]
fn an_expired_exclusion_is_a_warning() {
    let yaml = "apiVersion: fixpoint.dev/v1alpha1\nkind: Exclusion\nmetadata: {name: e}\nspec:\n  machines: {labels: {app: erp}}\n  patches: {packages: ['postgresql-*']}\n  reason: vendor\n  owner: erp\n  until: 2026-01-01T00:00:00Z\n";
    assert_eq!(
        lines(yaml),
        vec![
            "9:10: warning: exclusion expired on 2026-01-01T00:00:00Z; its patches are due again. Remove it or extend it with a new review"
        ]
    );
}

#[test]
fn approval_rules_after_a_catch_all_are_unreachable() {
    let yaml = "apiVersion: fixpoint.dev/v1alpha1\nkind: ApprovalPolicy\nmetadata: {name: a}\nspec:\n  rules:\n    - {approveAfter: 2d}\n    - {match: {severity: [critical]}, approveAfter: 0d}\n";
    assert_eq!(
        lines(yaml),
        vec!["7:7: warning: rule 2 can never apply: rule 1 before it matches every patch"]
    );
}

#[test]
fn approval_sources_must_be_named_in_settings() {
    let settings = "apiVersion: fixpoint.dev/v1alpha1\nkind: Settings\nmetadata: {name: s}\nspec:\n  catalog:\n    sources:\n      - {name: debian-security, type: apt, url: 'https://deb.example/debian-security', suites: [bookworm-security]}\n---\n";
    let rule = |source: &str| {
        format!(
            "{settings}apiVersion: fixpoint.dev/v1alpha1\nkind: ApprovalPolicy\nmetadata: {{name: a}}\nspec:\n  rules:\n    - {{match: {{sources: [{source}]}}, approveAfter: 0d}}\n"
        )
    };
    assert!(lines(&rule("debian-security")).is_empty());
    assert!(has(
        &rule("debian-securty"),
        "unknown catalog source `debian-securty` (did you mean `debian-security`?)"
    ));
}

#[test]
fn settings_check_sources_and_intervals() {
    let yaml = "apiVersion: fixpoint.dev/v1alpha1\nkind: Settings\nmetadata: {name: s}\nspec:\n  catalog:\n    sources:\n      - {name: a, type: apt}\n      - {name: a, type: osv, url: 'ftp://x', interval: 1m}\n  agents: {checkInInterval: 30s, jitter: 80%}\n";
    let all = lines(yaml);
    for needle in [
        "an apt source needs `url` (with `suites`) or `sourcesFile`",
        "duplicate catalog source `a`",
        "invalid URL `ftp://x`",
        "sync interval 1m is shorter than 5m",
        "check-in interval 30s is shorter than 1m",
        "jitter 80% is more than 50% of the interval",
    ] {
        assert!(all.iter().any(|l| l.contains(needle)), "{needle}: {all:#?}");
    }
    let twice = format!("{yaml}---\n{yaml}");
    assert!(has(
        &twice,
        "a repository has at most one Settings document"
    ));
}

#[test]
fn directory_sources_are_checked_field_by_field_where_they_are_written() {
    let settings = |sources: &str| {
        format!(
            "apiVersion: fixpoint.dev/v1alpha1\nkind: Settings\nmetadata: {{name: s}}\nspec:\n  directory:\n    sources:\n{sources}"
        )
    };
    let good = settings(
        "      - name: corp\n        url: ldaps://dc1.corp.example\n        caFile: /etc/fixpoint/ca.pem\n        bindDn: CN=sync,DC=corp,DC=example\n        passwordFile: /run/secrets/ldap\n        baseDn: DC=corp,DC=example\n",
    );
    let checked = check_yaml(&good);
    assert!(checked.diagnostics.is_empty(), "{:?}", checked.diagnostics);
    let source = &checked.set.settings().directory.sources[0];
    assert_eq!(source.filter, "(objectClass=computer)");
    assert_eq!(source.group_filter, "(objectClass=group)");
    assert_eq!(source.page_size, 500);
    assert_eq!(source.interval, Duration::from_secs(3600));
    assert_eq!(source.timeout, Duration::from_secs(30));

    let bad = settings(concat!(
        "      - {name: a, url: 'http://dc', bindDn: x, baseDn: y}\n",
        "      - {name: a, url: 'ldaps://dc', startTls: true, bindDn: x, baseDn: y, passwordFile: f, passwordEnv: V}\n",
        "      - {name: c, url: 'ldap://dc', bindDn: ' ', baseDn: y, passwordEnv: 'A=B', filter: 'objectClass=computer', pageSize: 0, interval: 30s, timeout: 0s}\n",
        "      - {name: d, url: 'ldap://dc', caFile: /ca.pem, bindDn: x, baseDn: y, passwordFile: f}\n",
    ));
    let all = lines(&bad);
    for (line, needle) in [
        (
            7,
            "invalid URL `http://dc`: expected ldap://host[:port] or ldaps://host[:port]",
        ),
        (
            7,
            "a directory source needs `passwordFile` or `passwordEnv`",
        ),
        (8, "duplicate directory source `a`"),
        (8, "`startTls` upgrades an ldap:// connection"),
        (
            8,
            "give the bind password in `passwordFile` or `passwordEnv`, not both",
        ),
        (9, "`A=B` is not an environment variable name"),
        (9, "`bindDn` is empty"),
        (
            9,
            "LDAP filter `objectClass=computer` must be in parentheses",
        ),
        (9, "page size 0 is outside 1 to 10000"),
        (9, "sync interval 30s is shorter than 1m"),
        (9, "timeout 0s is shorter than 1s"),
        (
            10,
            "`caFile` is for TLS: use an ldaps:// URL or `startTls: true`",
        ),
    ] {
        assert!(
            all.iter()
                .any(|l| l.starts_with(&format!("{line}:")) && l.contains(needle)),
            "line {line}: {needle}: {all:#?}"
        );
    }
    assert!(has(
        &settings(
            "      - {name: a, url: 'ldap://dc', bindDn: x, baseDn: y, passwordFile: f, sizeLimit: 3}\n"
        ),
        "unknown field `sizeLimit`"
    ));
}

#[test]
fn default_settings_check_in_every_ninety_minutes() {
    let set = PolicySet::default();
    assert_eq!(
        set.settings().agents.check_in_interval,
        Duration::from_secs(90 * 60)
    );
}

#[test]
fn names_must_be_kubernetes_names() {
    for (name, ok) in [
        ("web-01", true),
        ("Web", false),
        ("a_b", false),
        ("-a", false),
        ("", false),
    ] {
        let yaml = format!(
            "apiVersion: fixpoint.dev/v1alpha1\nkind: MachineGroup\nmetadata: {{name: '{name}'}}\nspec: {{match: {{}}}}\n"
        );
        assert_eq!(
            !has(&yaml, "invalid name"),
            ok,
            "{name}: {:#?}",
            lines(&yaml)
        );
    }
    let long = "a".repeat(64);
    let yaml = format!(
        "apiVersion: fixpoint.dev/v1alpha1\nkind: MachineGroup\nmetadata: {{name: {long}}}\nspec: {{match: {{}}}}\n"
    );
    assert!(has(&yaml, "longer than 63 characters"));
}

#[test]
fn empty_documents_and_comment_only_files_are_fine() {
    let checked = check(
        [
            ("a.yaml", &b"# nothing yet\n"[..]),
            ("b.yaml", &b"---\n---\n"[..]),
            ("c.yaml", &b""[..]),
        ],
        now(),
    );
    assert!(checked.diagnostics.is_empty());
    assert!(checked.set.is_empty());
}

#[test]
fn diagnostics_are_sorted_by_file_and_position() {
    let bad = "apiVersion: fixpoint.dev/v1alpha1\nkind: Nope\nmetadata: {name: x}\nspec: {}\n";
    let checked = check(
        [("b.yaml", bad.as_bytes()), ("a.yaml", bad.as_bytes())],
        now(),
    );
    let files: Vec<&str> = checked
        .diagnostics
        .iter()
        .map(|d| d.file.as_str())
        .collect();
    assert_eq!(files, vec!["a.yaml", "b.yaml"]);
}

#[test]
fn software_present_rules_need_exact_names_that_no_absent_rule_bans() {
    let yaml = "apiVersion: fixpoint.dev/v1alpha1\nkind: SoftwarePolicy\nmetadata: {name: s}\nspec:\n  absent: [{package: 'telnet*'}]\n  present: [{package: auditd}, {package: telnetd}, {package: 'x*'}]\n";
    assert_eq!(
        lines(yaml),
        vec![
            "6:42: error: package `telnetd` must be present, but absent[0] (`telnet*`) requires it absent",
            "6:62: error: `x*` is a pattern; a required package needs an exact name",
        ]
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Whatever the bytes, loading returns diagnostics; it never panics.
    #[test]
    fn loading_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = check([("f.yaml", bytes.as_slice())], now());
    }

    /// YAML-shaped noise built from the policy vocabulary reaches deep into the
    /// deserialiser and validator; it must still only produce diagnostics.
    #[test]
    fn loading_policy_shaped_noise_never_panics(
        parts in proptest::collection::vec(
            prop::sample::select(vec![
                "apiVersion: fixpoint.dev/v1alpha1\n", "kind: Rollout\n", "kind: MaintenanceWindow\n",
                "kind: Exclusion\n", "metadata: {name: a}\n", "spec:\n", "  rings:\n", "    - name: x\n",
                "      groups: [all, a]\n", "  cron: '* * * * *'\n", "  duration: 0\n", "  approval: a\n",
                "---\n", "  - &a [*a]\n", "  x: *b\n", "  freezes: [{from: 2026-01-01, to: 2025-01-01}]\n",
                "  monthly: {nth: 5, weekday: fri, at: '24:60'}\n", "  timezone: machine\n", "{", "]", ": ", "\t",
                "  until: 9999-12-31\n", "  maxConcurrent: 0%\n", "  gate: {minSuccess: 100%}\n",
            ]),
            0..24,
        )
    ) {
        let text: String = parts.concat();
        let _ = check([("f.yaml", text.as_bytes())], now());
    }
}
