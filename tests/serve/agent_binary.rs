//! The real `fixpoint-agent` binary against the real server: enrollment, a
//! full check-in of a real dpkg database, hash-only check-ins while nothing
//! changes, the single-instance lock, and a refused enrollment token.
//!
//! Where the agent binary comes from: Cargo gives an integration test the path
//! of its own package's binaries only (`CARGO_BIN_EXE_fixpoint` here), and a
//! binary cannot be a dev-dependency. So the test lives beside the server's
//! tests (reusing [`Serve`]) and builds the agent once with the same cargo
//! (`env!("CARGO")`), same profile and target directory, taking the
//! executable's path from `--message-format=json` rather than guessing the
//! target directory's layout. Cargo releases its build lock before it runs the
//! tests, so the nested build does not wait on the outer one.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::support::{Serve, Server, TOKEN, root};

/// The agent binary, built once per test run.
pub fn agent_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let mut cargo = Command::new(env!("CARGO"));
        // Cargo runs this test with the root package's variables set (OUT_DIR,
        // CARGO_MANIFEST_DIR, CARGO_PKG_*...). ring's build script reruns when
        // some of them change, so passing them on would rebuild ring, rustls and
        // reqwest here and again in the next ordinary build.
        for (key, _) in std::env::vars_os() {
            let Some(key) = key.to_str() else { continue };
            if key == "OUT_DIR"
                || key.starts_with("CARGO_PKG_")
                || key.starts_with("CARGO_BIN_EXE_")
                || [
                    "CARGO_MANIFEST_DIR",
                    "CARGO_MANIFEST_PATH",
                    "CARGO_CRATE_NAME",
                    "CARGO_PRIMARY_PACKAGE",
                    "CARGO_TARGET_TMPDIR",
                ]
                .contains(&key)
            {
                cargo.env_remove(key);
            }
        }
        let output = cargo
            .args([
                "build",
                "-p",
                "fixpoint-agent",
                "--bin",
                "fixpoint-agent",
                "--message-format=json",
            ])
            .current_dir(root())
            .stderr(Stdio::inherit())
            .output()
            .expect("cargo build runs");
        assert!(output.status.success(), "building fixpoint-agent failed");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|m| {
                m["reason"] == "compiler-artifact" && m["target"]["name"] == "fixpoint-agent"
            })
            .find_map(|m| m["executable"].as_str().map(PathBuf::from))
            .expect("cargo reports the fixpoint-agent executable")
    })
}

/// A Debian 12 machine's root file system (the fixture's 765 packages) and an
/// agent data directory, in one temporary directory.
struct Machine {
    dir: tempfile::TempDir,
}

impl Machine {
    fn bookworm() -> Machine {
        let dir = tempfile::tempdir().expect("tempdir");
        let m = Machine { dir };
        let root = m.root();
        std::fs::create_dir_all(root.join("var/lib/dpkg")).expect("mkdir");
        std::fs::create_dir_all(root.join("etc")).expect("mkdir");
        std::fs::copy(
            crate::support::root().join("tests/fixtures/dpkg/status-bookworm"),
            m.status(),
        )
        .expect("copy the dpkg status");
        std::fs::write(
            root.join("etc/os-release"),
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n\
             VERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n",
        )
        .expect("write os-release");
        std::fs::write(root.join("etc/hostname"), "web1.corp.example\n").expect("hostname");
        m
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    fn status(&self) -> PathBuf {
        self.root().join("var/lib/dpkg/status")
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("agent")
    }

    fn state_file(&self) -> PathBuf {
        self.data_dir().join("agent.json")
    }

    /// `fixpoint-agent <subcommand> --root … --data-dir … --server …`.
    fn agent(&self, server: &Server, subcommand: &str, token: &str) -> Command {
        let mut c = Command::new(agent_binary());
        c.arg(subcommand)
            .arg("--root")
            .arg(self.root())
            .arg("--data-dir")
            .arg(self.data_dir())
            .args(["--server", &server.url(""), "--enrollment-token", token]);
        for var in [
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "http_proxy",
            "https_proxy",
            "all_proxy",
        ] {
            c.env_remove(var);
        }
        c.env_remove("FIXPOINT_AGENT_ENROLLMENT_TOKEN_FILE");
        c
    }

    fn check_in(&self, server: &Server) -> Output {
        self.agent(server, "check-in", TOKEN)
            .output()
            .expect("fixpoint-agent runs")
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn check_ins(s: &Server) -> f64 {
    s.metric("fixpoint_check_ins_total").unwrap_or(0.0)
}

/// Waits until the server counted `n` check-ins (the counter is bumped as the
/// check-in is stored; the wait only absorbs scheduling).
fn wait_for_check_ins(s: &Server, n: f64) {
    let start = Instant::now();
    while check_ins(s) < n && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(check_ins(s), n, "fixpoint_check_ins_total");
}

#[test]
fn the_agent_enrolls_sends_its_inventory_then_only_its_hash_until_a_package_changes() {
    let s = Serve::new().snapshot(false).enrollment().start();
    let m = Machine::bookworm();

    let first = m.check_in(&s);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(
        stdout(&first).contains("(enrolled now): sent the full inventory (765 packages)"),
        "{}",
        stdout(&first)
    );
    let v = s.wait_for("the agent planned", |v| v["plan"]["machines"] == 1);
    assert_eq!(v["plan"]["machines"], 1, "{v:#}");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(m.state_file())
            .expect("agent.json exists")
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "agent.json is readable by its owner only"
        );
    }
    let counted = check_ins(&s);
    assert!(counted >= 1.0, "{counted}");

    let second = m.check_in(&s);
    assert!(second.status.success(), "{}", stderr(&second));
    assert!(
        stdout(&second).contains("sent the inventory hash only"),
        "{}",
        stdout(&second)
    );
    assert!(
        !stdout(&second).contains("enrolled now"),
        "{}",
        stdout(&second)
    );
    wait_for_check_ins(&s, counted + 1.0);

    // One package upgraded (its version gains a suffix dpkg accepts).
    let status = std::fs::read_to_string(m.status()).expect("status");
    let version = status
        .lines()
        .find_map(|l| l.strip_prefix("Version: "))
        .expect("a version");
    let changed = status.replacen(
        &format!("Version: {version}\n"),
        &format!("Version: {version}+fp1\n"),
        1,
    );
    assert_ne!(changed, status);
    std::fs::write(m.status(), changed).expect("write status");
    let third = m.check_in(&s);
    assert!(third.status.success(), "{}", stderr(&third));
    assert!(
        stdout(&third).contains("sent the full inventory (765 packages)"),
        "{}",
        stdout(&third)
    );
    wait_for_check_ins(&s, counted + 2.0);

    let fourth = m.check_in(&s);
    assert!(
        stdout(&fourth).contains("sent the inventory hash only"),
        "the new inventory was acknowledged: {}",
        stdout(&fourth)
    );
}

#[test]
fn a_second_agent_on_the_same_data_directory_stops_with_the_lock_error() {
    let s = Serve::new().snapshot(false).enrollment().start();
    let m = Machine::bookworm();
    let mut running = m
        .agent(&s, "run", TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("fixpoint-agent run starts");
    // The lock is taken before enrolling: once agent.json exists, it is held.
    let start = Instant::now();
    while !m.state_file().exists() && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(m.state_file().exists(), "the running agent enrolled");

    let second = m.check_in(&s);
    assert_eq!(second.status.code(), Some(1), "{}", stderr(&second));
    assert!(
        stderr(&second).contains("another fixpoint-agent is running with the data directory"),
        "{}",
        stderr(&second)
    );

    // SIGTERM stops `run` cleanly, and frees the lock.
    let term = Command::new("kill")
        .args(["-TERM", &running.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(term.success());
    let start = Instant::now();
    let status = loop {
        if let Some(status) = running.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > Duration::from_secs(10) {
            let _ = running.kill();
            panic!("fixpoint-agent run ignored SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    let after = m.check_in(&s);
    assert!(after.status.success(), "{}", stderr(&after));
}

#[test]
fn a_wrong_enrollment_token_is_a_clear_error_and_writes_no_state() {
    let s = Serve::new().snapshot(false).enrollment().start();
    let m = Machine::bookworm();
    let out = m
        .agent(&s, "check-in", "not-the-token")
        .output()
        .expect("fixpoint-agent runs");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("the server refused the enrollment token"),
        "{err}"
    );
    assert!(err.contains("/api/v1/enroll: HTTP 401"), "{err}");
    assert!(!m.state_file().exists(), "no agent.json after a refusal");
}
