//! The agent stays small: it never depends on the server package or on the
//! server's heavy crates (database, web framework, git, Kubernetes).

use std::process::Command;

/// Crates the agent must never link, by package name.
const FORBIDDEN: [&str; 7] = [
    "sqlx",
    "axum",
    "git2",
    "kube",
    "kube-core",
    "k8s-openapi",
    // The root package: the server and admin CLI.
    "fixpoint",
];

#[test]
fn the_agent_depends_on_no_server_crate() {
    let output = Command::new(env!("CARGO"))
        .args([
            "tree",
            "-p",
            "fixpoint-agent",
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(names.contains(&"fixpoint-core"), "{text}");
    assert!(names.contains(&"reqwest"), "{text}");
    let found: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| FORBIDDEN.contains(n) || n.starts_with("kube-"))
        .collect();
    assert!(found.is_empty(), "the agent depends on {found:?}:\n{text}");
}
