//! `fixpoint validate` against the scenario repositories in `examples/` and the
//! example policy in `policies/`: each scenario's `expected.txt` is the exact
//! output, so a changed message or position is a reviewed change.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const NOW: &str = "2026-11-25T12:00:00Z";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn validate(dir: &str, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fixpoint"))
        .current_dir(root())
        .args(["validate", dir, "--now", NOW])
        .args(extra)
        .env_remove("FIXPOINT_FORMAT")
        .env_remove("FIXPOINT_NOW")
        .output()
        .expect("the fixpoint binary runs")
}

fn scenarios() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root().join("examples"))
        .expect("examples/ exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.join("expected.txt").is_file())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn every_scenario_prints_exactly_its_expected_diagnostics() {
    let dirs = scenarios();
    assert!(
        dirs.len() >= 7,
        "expected the scenarios listed in examples/README.md, found {dirs:?}"
    );
    let mut failures = Vec::new();
    for dir in dirs {
        let name = format!(
            "examples/{}",
            dir.file_name()
                .and_then(|n| n.to_str())
                .expect("utf-8 name")
        );
        let expected =
            std::fs::read_to_string(dir.join("expected.txt")).expect("expected.txt readable");
        let out = validate(&name, &[]);
        let stdout = String::from_utf8(out.stdout).expect("utf-8 output");
        if stdout != expected {
            failures.push(format!(
                "{name}: output differs\n--- expected\n{expected}--- actual\n{stdout}"
            ));
        }
        let has_errors = expected.lines().any(|l| l.contains(": error: "));
        let want = if has_errors { 1 } else { 0 };
        if out.status.code() != Some(want) {
            failures.push(format!(
                "{name}: exit code {:?}, expected {want}",
                out.status.code()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_example_policy_repository_validates_clean() {
    let out = validate("policies", &["--deny-warnings"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "policies/ has problems:\n{stdout}");
    assert_eq!(stdout, "");
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(
        summary.contains("17 documents in 7 files: 0 errors, 0 warnings"),
        "{summary}"
    );
}

#[test]
fn every_diagnostic_line_has_the_form_editors_read() {
    for dir in scenarios() {
        let text = std::fs::read_to_string(dir.join("expected.txt")).expect("readable");
        for line in text.lines() {
            let mut parts = line.splitn(5, ':');
            let (file, l, c, level) = (parts.next(), parts.next(), parts.next(), parts.next());
            assert!(file.is_some_and(|f| f.starts_with("examples/")), "{line}");
            assert!(
                l.is_some_and(|n| n.parse::<u32>().is_ok_and(|n| n >= 1)),
                "{line}"
            );
            assert!(
                c.is_some_and(|n| n.parse::<u32>().is_ok_and(|n| n >= 1)),
                "{line}"
            );
            assert!(matches!(level, Some(" error") | Some(" warning")), "{line}");
        }
    }
}

#[test]
fn json_output_carries_the_same_diagnostics() {
    let text = validate("examples/broken-references", &[]);
    let json = validate("examples/broken-references", &["--format", "json"]);
    assert_eq!(json.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("valid JSON");
    let diags = report["diagnostics"].as_array().expect("diagnostics array");
    let lines: Vec<String> = diags
        .iter()
        .map(|d| {
            format!(
                "{}:{}:{}: {}: {}",
                d["file"].as_str().expect("file"),
                d["line"],
                d["column"],
                d["level"].as_str().expect("level"),
                d["message"].as_str().expect("message")
            )
        })
        .collect();
    let text_lines: Vec<&str> = std::str::from_utf8(&text.stdout)
        .expect("utf-8")
        .lines()
        .collect();
    assert_eq!(lines, text_lines);
    assert_eq!(report["errors"], 11);
    assert!(
        diags
            .iter()
            .all(|d| d["code"].as_str().is_some_and(|c| !c.is_empty()))
    );
}

#[test]
fn a_huge_file_is_refused_without_reading_it_all() {
    let dir = tempdir("huge");
    // 50 MiB of valid-looking YAML.
    let line = "# padding padding padding padding padding padding padding padding\n";
    let mut text = String::with_capacity(50 * 1024 * 1024 + line.len());
    while text.len() < 50 * 1024 * 1024 {
        text.push_str(line);
    }
    std::fs::write(dir.join("huge.yaml"), text).expect("write");
    let out = validate(dir.to_str().expect("utf-8 path"), &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout.contains(
            "huge.yaml:1:1: error: file is larger than 4 MiB, the limit for a policy file"
        ),
        "{stdout}"
    );
}

#[cfg(unix)]
#[test]
fn a_symlink_loop_is_reported_not_followed() {
    let dir = tempdir("loop");
    std::fs::create_dir(dir.join("sub")).expect("mkdir");
    std::os::unix::fs::symlink("..", dir.join("sub").join("up")).expect("symlink");
    std::fs::write(dir.join("sub").join("ok.yaml"), "").expect("write");
    let out = validate(dir.to_str().expect("utf-8 path"), &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("sub/up:1:1: error: symbolic link loop; not followed"),
        "{stdout}"
    );
}

#[test]
fn a_missing_directory_is_a_usage_error() {
    let out = validate("no/such/dir", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot read policy directory no/such/dir")
    );
}

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fixpoint-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}
