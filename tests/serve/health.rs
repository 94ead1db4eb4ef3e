//! Liveness, readiness, metrics, the status API, configuration and shutdown.

use std::process::Command;
use std::time::Duration;

use crate::support::{Serve, condition, on_each_database};

#[test]
fn a_fresh_server_is_live_becomes_ready_and_reports_the_plan() {
    on_each_database(|db| {
        let s = Serve::new().database(&db).start();
        assert_eq!(s.get("/healthz"), (200, "ok\n".into()));
        let v = s.wait_for("a plan", |v| !v["plan"].is_null());
        assert_eq!(condition(&v, "Ready"), Some(true), "{v:#}");
        assert_eq!(condition(&v, "Stalled"), Some(false));
        assert_eq!(v["plan"]["machines"], 4, "{v:#}");
        let applied = v["lastApplied"]["revision"].as_str().expect("revision");
        assert!(applied.starts_with("dir:"), "{applied}");
        assert_eq!(s.get("/readyz").0, 200);
        let metrics = s.metrics();
        assert!(
            metrics.contains("\nfixpoint_fleet_machines 4\n"),
            "{metrics}"
        );
        assert!(metrics.contains("fixpoint_policy_stalled 0"), "{metrics}");
        assert!(
            metrics.contains("fixpoint_machines{ring=\"servers/canary\"} 1"),
            "{metrics}"
        );
    });
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    on_each_database(|db| {
        let s = Serve::new().database(&db).start();
        s.wait_for("a plan", |v| !v["plan"].is_null());
        let killed = Command::new("kill")
            .args(["-TERM", &s.pid().to_string()])
            .status()
            .expect("kill");
        assert!(killed.success());
        let code = s
            .exit_within(Duration::from_secs(10))
            .expect("stopped within 10 s of SIGTERM");
        assert!(code.success(), "exit status {code}");
    });
}

#[test]
fn the_config_file_is_read_and_flags_override_it() {
    let serve = Serve::new();
    let config = serve.dir().join("fixpoint.yaml");
    // The file names a snapshot that does not exist: the flag's snapshot wins.
    std::fs::write(
        &config,
        "reconcileInterval: 1s\nfleet: /nonexistent/snapshot.json\n",
    )
    .expect("write");
    let bad = serve.dir().join("bad.yaml");
    std::fs::write(&bad, "listen: 127.0.0.1:0\nreconcileIntervall: 5m\n").expect("write");
    let s = serve
        .args(&["--config", config.to_str().expect("utf-8")])
        .start();
    let v = s.wait_for("a plan", |v| !v["plan"].is_null());
    assert_eq!(v["plan"]["machines"], 4);

    let out = Command::new(env!("CARGO_BIN_EXE_fixpoint"))
        .args(["serve", "--config", bad.to_str().expect("utf-8")])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.yaml:2:1"), "{stderr}");
    assert!(stderr.contains("reconcileIntervall"), "{stderr}");
}
