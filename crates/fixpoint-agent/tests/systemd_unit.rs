//! The example systemd unit (`examples/agent/fixpoint-agent.service`) is one
//! systemd accepts: `systemd-analyze verify` checks its syntax, its
//! directives and that its command runs, with the unit's `ExecStart` pointed
//! at the agent this build made (the unit names `/usr/local/bin`, where a
//! machine would have it). Without systemd-analyze the test is skipped with a
//! message, except with CI=true: then it fails.

use std::path::Path;
use std::process::Command;

const INSTALLED: &str = "/usr/local/bin/fixpoint-agent";

#[test]
fn the_example_unit_passes_systemd_analyze_verify() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "systemd-analyze is missing (Debian package systemd)"
        );
        eprintln!("skipping: systemd-analyze is not installed");
        return;
    }
    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/agent/fixpoint-agent.service");
    let unit = std::fs::read_to_string(&example).expect("the example unit");
    assert!(
        unit.contains(&format!("ExecStart={INSTALLED} run")),
        "{unit}"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("fixpoint-agent.service");
    std::fs::write(
        &path,
        unit.replace(INSTALLED, env!("CARGO_BIN_EXE_fixpoint-agent")),
    )
    .expect("write the unit");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "systemd-analyze verify: {}\n{stderr}",
        out.status
    );
    // Warnings about the unit itself fail too (systemd prints them and still exits 0).
    let about_unit: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("fixpoint-agent.service"))
        .collect();
    assert!(about_unit.is_empty(), "{about_unit:#?}");
}
