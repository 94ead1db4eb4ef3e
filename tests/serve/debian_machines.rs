//! End to end on real Debian machines: bookworm root file systems made by
//! debootstrap (fresh installs of the point release, so they lack the security
//! updates published since), the real APT catalog of bookworm-security synced
//! by the real server from this machine's own mirror, one real
//! `fixpoint-agent run` per machine, real dpkg, and apt itself as the judge.
//!
//! The policy: canary and broad rings (broad opens once the canary reported
//! success), one maintenance window that opens a few minutes after the test
//! starts (so the agents must act by their own clocks at its opening), one
//! machine excluded from one patch, one package that must be absent.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::agent_binary::agent_binary;
use crate::debian_roots::{self, Machine};
use crate::support::{Serve, Server, TOKEN};

/// An agent process for one machine, killed when dropped.
struct Agent {
    name: &'static str,
    ring: &'static str,
    machine: Machine,
    data: PathBuf,
    reboot_marker: PathBuf,
    child: Option<Child>,
}

impl Agent {
    fn start(&mut self, server: &Server) {
        let log = std::fs::File::create(self.data.with_extension("log")).expect("agent log");
        let child = Command::new(agent_binary())
            .arg("run")
            .arg("--config")
            .arg("/dev/null")
            .arg("--root")
            .arg(&self.machine.root)
            .arg("--data-dir")
            .arg(&self.data)
            .args(["--server", &server.url(""), "--enrollment-token", TOKEN])
            .args(["--label", &format!("ring={}", self.ring)])
            .arg("--reboot-command")
            .arg(format!(
                "echo \"reboot in $FIXPOINT_REBOOT_GRACE_MINUTES min\" >> {}",
                self.reboot_marker.display()
            ))
            .env("FIXPOINT_AGENT_LOG", "info")
            .env_remove("HTTP_PROXY")
            .env_remove("http_proxy")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("fixpoint-agent starts");
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.data.with_extension("log")).unwrap_or_default()
    }

    /// When the installs ended, per the journal (their logs show dpkg --install).
    fn install_times(&self) -> Vec<jiff::Timestamp> {
        let text = std::fs::read_to_string(self.data.join("journal.jsonl")).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|r| {
                r["event"] == "finished"
                    && r["result"]["logTail"]
                        .as_str()
                        .is_some_and(|l| l.contains("--install"))
            })
            .filter_map(|r| r["result"]["at"].as_str()?.parse().ok())
            .collect()
    }

    /// The journal's results: (instruction id, outcome, at).
    fn results(&self) -> Vec<(String, String, String)> {
        let text = std::fs::read_to_string(self.data.join("journal.jsonl")).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|r| r["event"] == "finished")
            .map(|r| {
                let res = &r["result"];
                (
                    res["instructionId"].as_str().unwrap_or_default().to_owned(),
                    res["outcome"].as_str().unwrap_or_default().to_owned(),
                    res["at"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    fn upgradable_names(&self) -> BTreeSet<String> {
        self.machine
            .security_upgradable()
            .into_iter()
            .map(|(name, _, _)| name)
            .collect()
    }

    /// [`Agent::upgradable_names`] while the agent may be running dpkg: apt
    /// can fail reading a status file dpkg is rewriting, which means "not yet".
    fn upgradable_now(&self) -> Option<BTreeSet<String>> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.upgradable_names())).ok()
    }

    fn source_of(&self, package: &str) -> String {
        self.machine
            .chroot(&["dpkg-query", "-W", "-f=${source:Package}", package])
            .trim()
            .to_owned()
    }

    /// How many times the machine's dpkg log says `package` was upgraded.
    fn upgrades_logged(&self, package: &str) -> usize {
        let log =
            std::fs::read_to_string(self.machine.root.join("var/log/dpkg.log")).unwrap_or_default();
        log.lines()
            .filter(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                // debootstrap's second stage logs base packages as upgraded to their own
                // version: only a change of version is an upgrade.
                w.len() > 5
                    && w[2] == "upgrade"
                    && w[3].split(':').next() == Some(package)
                    && w[4] != w[5]
            })
            .count()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill();
    }
}

fn wait(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    // A check that fails outright (apt reading a status file dpkg is rewriting)
    // means "not yet"; the assertions after the wait say what is wrong.
    while !std::panic::catch_unwind(std::panic::AssertUnwindSafe(&mut done)).unwrap_or(false) {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The policy, with the window opening at `opens` (UTC `minute hour`).
fn policy(security_mirror: &str, opens: (i8, i8), excluded: &str, absent: &str) -> String {
    let (minute, hour) = opens;
    format!(
        r#"apiVersion: fixpoint.dev/v1alpha1
kind: Settings
metadata: {{name: settings}}
spec:
  catalog:
    sources:
      - name: debian-security
        type: apt
        url: {security_mirror}
        suites: [bookworm-security]
        components: [main]
        architectures: [amd64]
        keyring: /usr/share/keyrings/debian-archive-keyring.gpg
        interval: 1h
  agents:
    checkInInterval: 1m
    jitter: 0%
---
apiVersion: fixpoint.dev/v1alpha1
kind: MachineGroup
metadata: {{name: canary}}
spec:
  match:
    labels: {{ring: canary}}
---
apiVersion: fixpoint.dev/v1alpha1
kind: MachineGroup
metadata: {{name: broad}}
spec:
  match:
    labels: {{ring: broad}}
---
apiVersion: fixpoint.dev/v1alpha1
kind: ApprovalPolicy
metadata: {{name: security}}
spec:
  rules:
    - {{match: {{classification: [security]}}, approveAfter: 0d}}
---
apiVersion: fixpoint.dev/v1alpha1
kind: MaintenanceWindow
metadata: {{name: today}}
spec:
  cron: "{minute} {hour} * * *"
  duration: 3h
  timezone: UTC
---
apiVersion: fixpoint.dev/v1alpha1
kind: Rollout
metadata: {{name: debian}}
spec:
  approval: security
  window: today
  rings:
    - {{name: canary, groups: [canary]}}
    - {{name: broad, groups: [broad], gate: {{minMachines: 1, minSuccess: 100%}}}}
  reboot: {{mode: ifRequired, grace: 5m}}
---
apiVersion: fixpoint.dev/v1alpha1
kind: Exclusion
metadata: {{name: held-back}}
spec:
  machines: {{hostnames: [held-1.corp.example]}}
  patches: {{packages: [{excluded}]}}
  reason: the application on held-1 is certified against this version only
  owner: app-team
  ticket: RISK-42
---
apiVersion: fixpoint.dev/v1alpha1
kind: SoftwarePolicy
metadata: {{name: banned}}
spec:
  absent:
    - {{package: {absent}, reason: not allowed on servers}}
"#
    )
}

#[test]
fn real_debian_machines_install_what_apt_says_is_missing_canary_first() {
    debian_roots::require_root();
    let prepared = debian_roots::bookworm();
    prepared.refresh();
    let work = tempfile::tempdir().expect("tempdir");
    let machines = [
        ("canary-1", "canary"),
        ("broad-1", "broad"),
        ("broad-2", "broad"),
        ("held-1", "broad"),
    ];
    let mut agents: Vec<Agent> = machines
        .iter()
        .map(|(name, ring)| {
            let dir = work.path().join(name);
            std::fs::create_dir_all(&dir).expect("mkdir");
            Agent {
                name,
                ring,
                machine: prepared
                    .clone_machine(&dir.join("machine"), &format!("{name}.corp.example")),
                data: dir.join("agent"),
                reboot_marker: dir.join("rebooted"),
                child: None,
            }
        })
        .collect();

    // Before: what apt says each fresh install lacks from the security suite.
    let before: Vec<BTreeSet<String>> = agents.iter().map(Agent::upgradable_names).collect();
    assert!(
        !before[0].is_empty(),
        "the fresh bookworm root has no pending security update: nothing to prove"
    );
    assert!(before.iter().all(|b| b == &before[0]), "clones of one root");
    let excluded = before[0].iter().next().expect("one").clone();
    let excluded_source = agents[3].source_of(&excluded);
    let absent = debian_roots::REMOVABLE_PACKAGE;
    assert!(
        agents[0].machine.installed_version(absent).is_some(),
        "{absent} is installed"
    );

    // The window opens at the start of a minute at least a minute away: time to
    // sync the catalog and stage the files first (about 3 s here).
    let opens_at = jiff::Timestamp::now() + jiff::SignedDuration::from_mins(2);
    let opens_at = opens_at
        .round(
            jiff::TimestampRound::new()
                .smallest(jiff::Unit::Minute)
                .mode(jiff::RoundMode::Floor),
        )
        .expect("round");
    let seconds = opens_at.as_second();
    let (minute, hour) = ((seconds / 60 % 60) as i8, (seconds / 3600 % 24) as i8);
    let yaml = policy(
        &prepared.mirrors().security,
        (minute, hour),
        &excluded,
        absent,
    );
    let s = Serve::new()
        .snapshot(false)
        .enrollment()
        .policy(&yaml)
        .args(&["--catalog-sync", "true"])
        .start();
    for a in &mut agents {
        a.start(&s);
    }

    // The server synced bookworm-security, planned the four machines and staged their files.
    let status = s.wait_for_within(
        "the catalog synced and every file staged",
        Duration::from_secs(600),
        |v| {
            v["plan"]["catalogPatches"].as_u64().is_some_and(|n| n > 0)
                && v["plan"]["machines"] == 4
                && v["staging"]["wanted"].as_u64().is_some_and(|n| n > 0)
                && v["staging"]["wanted"] == v["staging"]["staged"]
        },
    );
    assert!(
        jiff::Timestamp::now() < opens_at,
        "staging took past the window's opening ({opens_at}): {status}"
    );

    // Fixpoint's view of what is missing equals apt's, per machine: the
    // packages of the canary's install instructions, once it has them.
    let canary = &agents[0];
    wait(
        "the canary's instructions",
        Duration::from_secs(180),
        || {
            std::fs::read_to_string(canary.data.join("instructions.json"))
                .is_ok_and(|t| t.contains("\"install\""))
        },
    );
    let held: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(canary.data.join("instructions.json")).expect("instructions"),
    )
    .expect("json");
    let mut fixpoint_missing = BTreeSet::new();
    for item in held["instructions"]["items"].as_array().expect("items") {
        if item["action"]["kind"] == "install" {
            assert!(
                item["notBefore"].is_string(),
                "waits for the window: {item}"
            );
            for p in item["action"]["packages"].as_array().expect("packages") {
                fixpoint_missing.insert(p["name"].as_str().expect("name").to_owned());
            }
        }
    }
    assert_eq!(
        fixpoint_missing, before[0],
        "Fixpoint and apt agree on what the canary lacks"
    );
    assert!(
        agents[0].install_times().is_empty(),
        "no install before the window (a removal has none and may have run)"
    );

    // The window opens; canary first, then broad once the gate sees the canary's results.
    for a in &agents {
        wait(
            &format!("{} to finish its instructions", a.name),
            Duration::from_secs(900),
            || {
                a.upgradable_now()
                    .is_some_and(|u| u.len() <= usize::from(a.name == "held-1") * before[0].len())
                    && a.machine.installed_version(absent).is_none()
                    && !a.results().is_empty()
            },
        );
    }
    let held_1 = &agents[3];
    wait(
        "held-1 to keep only the excluded patch",
        Duration::from_secs(600),
        || {
            held_1
                .upgradable_names()
                .iter()
                .all(|p| held_1.source_of(p) == excluded_source)
        },
    );

    // After: apt finds no security upgrade left, except the excluded patch on held-1.
    for a in &agents {
        let left = a.upgradable_names();
        if a.name == "held-1" {
            assert!(
                left.contains(&excluded),
                "held-1 kept {excluded}: {left:?}\n{}",
                a.log()
            );
            assert!(
                left.iter().all(|p| a.source_of(p) == excluded_source),
                "{left:?}"
            );
        } else {
            assert!(
                left.is_empty(),
                "{}: apt still lists {left:?}\n{}",
                a.name,
                a.log()
            );
        }
        assert_eq!(
            a.machine.installed_version(absent),
            None,
            "{}: {absent} removed",
            a.name
        );
        let results = a.results();
        assert!(
            results.iter().all(|(_, outcome, _)| outcome != "failed"),
            "{}: {results:?}\n{}",
            a.name,
            std::fs::read_to_string(a.data.join("journal.jsonl")).unwrap_or_default()
        );
    }
    // The canary went first: every broad install is later than every canary install,
    // and the canary's waited for the window.
    let canary_installs = agents[0].install_times();
    let canary_last = *canary_installs.iter().max().expect("canary installs");
    for a in &agents[1..] {
        let first = a.install_times().into_iter().min().expect("installs");
        assert!(
            first >= canary_last,
            "{} installed at {first}, before the canary's {canary_last}",
            a.name
        );
    }
    let first_canary = canary_installs.iter().min().expect("canary installs");
    assert!(
        *first_canary >= opens_at,
        "the canary waited for the window: {first_canary} vs {opens_at}"
    );
    // Never twice: each upgraded package upgraded once.
    for p in &before[0] {
        let log = std::fs::read_to_string(agents[0].machine.root.join("var/log/dpkg.log"))
            .unwrap_or_default();
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| l.contains(&format!(" {p}:")))
            .collect();
        assert!(
            agents[0].upgrades_logged(p) <= 1,
            "{p} upgraded twice on the canary:\n{}\n{}",
            lines.join("\n"),
            std::fs::read_to_string(agents[0].data.join("journal.jsonl")).unwrap_or_default()
        );
    }

    // The server agrees: every result acknowledged, the plan shows the state on disk.
    for a in &agents {
        wait(
            &format!("{}'s results acknowledged", a.name),
            Duration::from_secs(120),
            || {
                let text =
                    std::fs::read_to_string(a.data.join("journal.jsonl")).unwrap_or_default();
                let finished = text.matches("\"event\":\"finished\"").count();
                let acked: usize = text
                    .lines()
                    .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                    .filter(|r| r["event"] == "acknowledged")
                    .map(|r| r["ids"].as_array().map_or(0, Vec::len))
                    .sum();
                finished > 0 && acked >= finished
            },
        );
    }
    wait(
        "the plan to show every machine compliant",
        Duration::from_secs(180),
        || s.status()["plan"]["compliance"]["machines"]["compliant"] == 4,
    );
    // Kill an agent mid-install and start it again: it converges without a second
    // install. A fresh machine in the broad ring, whose window is open and gate passed.
    let dir = work.path().join("late-1");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let mut late = Agent {
        name: "late-1",
        ring: "broad",
        machine: prepared.clone_machine(&dir.join("machine"), "late-1.corp.example"),
        data: dir.join("agent"),
        reboot_marker: dir.join("rebooted"),
        child: None,
    };
    late.start(&s);
    let journal = late.data.join("journal.jsonl");
    wait(
        "late-1 to start an install",
        Duration::from_secs(300),
        || {
            std::fs::read_to_string(&journal).is_ok_and(|t| {
                t.lines()
                    .filter(|l| l.contains("\"event\":\"started\""))
                    .count()
                    >= 2
            })
        },
    );
    late.kill(); // SIGKILL, mid-way through its installs
    let at_kill = late.results().len();
    late.start(&s);
    wait(
        "late-1 to converge after the kill",
        Duration::from_secs(600),
        || late.upgradable_names().is_empty() && late.machine.installed_version(absent).is_none(),
    );
    assert!(late.log().contains("recover"), "{}", late.log());
    for p in &before[0] {
        assert_eq!(
            late.upgrades_logged(p),
            1,
            "{p}: one upgrade on late-1, kill or not\n{}",
            late.log()
        );
    }
    assert!(late.results().len() > at_kill);
    assert!(
        late.results()
            .iter()
            .all(|(_, outcome, _)| outcome != "failed"),
        "{:?}",
        late.results()
    );
}
