//! `fixpoint plan` end to end: a real git repository holding `policies/` in two
//! revisions, the example fleet snapshot and catalog, and the preview a
//! reviewer would read on the pull request.

use std::path::Path;
use std::process::{Command, Output};

const NOW: &str = "2026-11-25T12:00:00Z";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Commits every file of `files` (path, bytes) as the whole tree; returns the commit id.
fn commit(repo: &git2::Repository, files: &[(String, Vec<u8>)], message: &str) -> String {
    let mut index = repo.index().expect("index");
    index.clear().expect("clear");
    for (path, bytes) in files {
        let entry = git2::IndexEntry {
            ctime: git2::IndexTime::new(0, 0),
            mtime: git2::IndexTime::new(0, 0),
            dev: 0,
            ino: 0,
            mode: 0o100_644,
            uid: 0,
            gid: 0,
            file_size: 0,
            id: repo.blob(bytes).expect("blob"),
            flags: 0,
            flags_extended: 0,
            path: path.as_bytes().to_vec(),
        };
        index.add(&entry).expect("add");
    }
    let tree = repo
        .find_tree(index.write_tree_to(repo).expect("tree"))
        .expect("find tree");
    let sig = git2::Signature::new(
        "Pat Reviewer",
        "pat@corp.example",
        &git2::Time::new(1_764_000_000, 0),
    )
    .expect("signature");
    let parents: Vec<git2::Commit<'_>> = repo
        .head()
        .ok()
        .and_then(|h| h.peel_to_commit().ok())
        .into_iter()
        .collect();
    let parents: Vec<&git2::Commit<'_>> = parents.iter().collect();
    repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
        .expect("commit")
        .to_string()
}

fn example_policies() -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(root().join("policies")).expect("policies/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|x| x == "yaml") {
            let name = path.file_name().and_then(|n| n.to_str()).expect("name");
            files.push((
                format!("policies/{name}"),
                std::fs::read(&path).expect("readable"),
            ));
        }
    }
    files.sort();
    files
}

fn with_file(
    files: &[(String, Vec<u8>)],
    name: &str,
    edit: impl Fn(&str) -> String,
) -> Vec<(String, Vec<u8>)> {
    files
        .iter()
        .map(|(n, b)| {
            if n == name {
                let text = String::from_utf8(b.clone()).expect("utf-8");
                (n.clone(), edit(&text).into_bytes())
            } else {
                (n.clone(), b.clone())
            }
        })
        .collect()
}

fn plan(repo: &Path, from: &str, to: &str, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fixpoint"))
        .args(["plan", "--repo"])
        .arg(repo)
        .args(["--from", from, "--to", to, "--now", NOW, "--fleet"])
        .arg(root().join("examples/fleet/snapshot.json"))
        .arg("--catalog")
        .arg(root().join("examples/fleet/catalog.json"))
        .args(extra)
        .env_remove("FIXPOINT_FORMAT")
        .env_remove("FIXPOINT_NOW")
        .output()
        .expect("fixpoint runs")
}

struct Repo {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    base: String,
    decline: String,
    broken: String,
}

/// Three commits: the example policies; a decline of the nginx fix plus an
/// exclusion of OpenSSL on web-3; a broken revision.
fn repo() -> Repo {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = git2::Repository::init(dir.path()).expect("init");
    let files = example_policies();
    let base = commit(&repo, &files, "example policies");
    let changed = with_file(&files, "policies/approval.yaml", |t| {
        t.replace(
            "  decline:\n",
            "  decline:\n    - patch: \"nginx/1.22.1-9+deb12u4\"\n      reason: \"regresses HTTP/2 push\"\n      owner: web-team\n      ticket: CHG-2077\n",
        )
    });
    let mut changed = changed;
    changed.push((
        "policies/web-3-tls.yaml".into(),
        b"apiVersion: fixpoint.dev/v1alpha1\nkind: Exclusion\nmetadata: {name: web-3-tls}\nspec:\n  machines: {hostnames: [\"web-3.*\"]}\n  patches: {packages: [openssl]}\n  until: 2027-01-31\n  reason: TLS offload card firmware pins OpenSSL\n  owner: web-team\n".to_vec(),
    ));
    let decline = commit(
        &repo,
        &changed,
        "Decline the nginx fix; keep web-3 on its OpenSSL",
    );
    let broken = with_file(&changed, "policies/rollouts.yaml", |t| {
        t.replacen("approval: security-first", "approval: security-frist", 1)
    });
    let broken = commit(&repo, &broken, "typo");
    Repo {
        path: dir.path().to_owned(),
        _dir: dir,
        base,
        decline,
        broken,
    }
}

#[test]
fn the_preview_shows_what_a_decline_and_an_exclusion_change() {
    let r = repo();
    let out = plan(&r.path, &r.base, &r.decline, &[]);
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}\n{stdout}");
    assert!(
        stdout.starts_with(&format!(
            "### Fixpoint plan: `{}` → `{}` (Decline the nginx fix; keep web-3 on its OpenSSL)",
            &r.base[..12],
            &r.decline[..12]
        )),
        "{stdout}"
    );
    // The three web machines lose the nginx fix to the decline, with its reason.
    let lost: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("➖ lost") && l.contains("`nginx/1.22.1-9+deb12u4`"))
        .collect();
    assert!(!lost.is_empty(), "{stdout}");
    assert!(
        lost.iter()
            .all(|l| l.contains("declined: regresses HTTP/2 push (CHG-2077)")),
        "{stdout}"
    );
    let machines: usize = lost
        .iter()
        .map(|l| {
            l.split(" | ")
                .nth(2)
                .and_then(|c| c.split(':').next())
                .and_then(|n| n.trim().parse::<usize>().ok())
                .expect("count")
        })
        .sum();
    assert_eq!(machines, 3, "{stdout}");
    // web-3's OpenSSL fix is newly excluded.
    assert!(
        stdout.lines().any(|l| l.contains("⛔ excluded")
            && l.contains("`openssl/3.0.23-1~deb12u1`")
            && l.contains("1: web-3 |")
            && l.contains("excluded by web-3-tls until 2027-01-31")),
        "{stdout}"
    );
    // Nothing else changes: the release names differ, the schedules do not.
    // Ring table: header, rule, two rings; change table: header, rule, three groups.
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("| ")).count(),
        4 + 2 + 3,
        "{stdout}"
    );
    assert!(stdout.contains("**3** machines change."), "{stdout}");
}

#[test]
fn the_json_preview_lists_every_change_group() {
    let r = repo();
    let out = plan(&r.path, &r.base, &r.decline, &["--format", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["to"]["commit"], r.decline.as_str());
    let changes = v["diff"]["changes"].as_array().expect("changes");
    let nginx: u64 = changes
        .iter()
        .filter(|c| c["patch"] == "nginx/1.22.1-9+deb12u4" && c["kind"] == "lost")
        .map(|c| c["machines"].as_u64().expect("count"))
        .sum();
    assert_eq!(nginx, 3);
    assert!(
        changes
            .iter()
            .any(|c| c["patch"] == "openssl/3.0.23-1~deb12u1" && c["kind"] == "excluded")
    );
    assert_eq!(v["diff"]["machinesChanged"], 3);
}

#[test]
fn the_same_revision_changes_nothing() {
    let r = repo();
    let out = plan(&r.path, &r.base, "HEAD~2", &[]);
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    assert!(out.status.success());
    assert!(stdout.contains("No machine's plan changes."), "{stdout}");
    assert!(stdout.contains("**0** machines change."), "{stdout}");
}

#[test]
fn a_broken_revision_is_not_planned_and_says_why() {
    let r = repo();
    let out = plan(&r.path, &r.decline, &r.broken, &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("it would not be applied"), "{stderr}");
    assert!(stderr.contains("policies/rollouts.yaml:"), "{stderr}");
    assert!(stderr.contains("security-frist"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn an_unknown_revision_is_a_clear_error() {
    let r = repo();
    let out = plan(&r.path, &r.base, "no-such-branch", &[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unknown revision `no-such-branch`"),
        "{stderr}"
    );
}
