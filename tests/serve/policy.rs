//! Following the policy, from a directory or a git branch: a revision with
//! errors is recorded and not applied, and the last good one stays.

use crate::support::{Serve, condition, root};

#[test]
fn a_broken_revision_is_not_applied_and_the_last_good_one_stays() {
    let s = Serve::new().start();
    let first = s.wait_for("a plan", |v| !v["plan"].is_null());
    let good = first["lastApplied"]["revision"]
        .as_str()
        .expect("revision")
        .to_owned();
    // A typo in a reference: a whole revision with one error.
    let rollouts = s.policies().join("rollouts.yaml");
    let text = std::fs::read_to_string(&rollouts).expect("rollouts.yaml");
    std::fs::write(
        &rollouts,
        text.replacen("approval: security-first", "approval: security-frist", 1),
    )
    .expect("write");
    let v = s.wait_for("the broken revision", |v| {
        v["lastAttempted"]["revision"] != good.as_str()
    });
    assert_eq!(condition(&v, "Ready"), Some(false), "{v:#}");
    assert_eq!(condition(&v, "Stalled"), Some(true), "{v:#}");
    assert_eq!(v["lastApplied"]["revision"], good.as_str(), "{v:#}");
    assert_eq!(
        v["plan"]["revision"],
        good.as_str(),
        "the plan stays on the good revision"
    );
    let diagnostics = v["lastAttempted"]["diagnostics"].to_string();
    assert!(diagnostics.contains("security-frist"), "{diagnostics}");
    let metrics = s.metrics();
    assert!(metrics.contains("fixpoint_policy_stalled 1"), "{metrics}");
    assert!(
        metrics.contains("fixpoint_policy_invalid_revisions_total 1"),
        "{metrics}"
    );
    // Fixed again: applied, Ready.
    std::fs::write(&rollouts, text).expect("write");
    let v = s.wait_for("the fix", |v| condition(v, "Ready") == Some(true));
    assert_eq!(v["lastApplied"]["revision"], good.as_str());
}

/// Commits `files` as the whole tree of branch `main` of the bare repository.
pub(crate) fn commit_main(
    repo: &git2::Repository,
    files: &[(String, Vec<u8>)],
    message: &str,
) -> String {
    let mut builder = repo.treebuilder(None).expect("treebuilder");
    let mut sub = repo.treebuilder(None).expect("treebuilder");
    for (name, bytes) in files {
        let blob = repo.blob(bytes).expect("blob");
        sub.insert(name, blob, 0o100_644).expect("insert");
    }
    let sub = sub.write().expect("subtree");
    builder
        .insert("policies", sub, 0o040_000)
        .expect("insert dir");
    let tree = repo
        .find_tree(builder.write().expect("tree"))
        .expect("find tree");
    let sig = git2::Signature::new(
        "Pat Reviewer",
        "pat@corp.example",
        &git2::Time::new(1_764_000_000, 0),
    )
    .expect("signature");
    let parent = repo
        .find_reference("refs/heads/main")
        .ok()
        .and_then(|r| r.peel_to_commit().ok());
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    repo.commit(
        Some("refs/heads/main"),
        &sig,
        &sig,
        message,
        &tree,
        &parents,
    )
    .expect("commit")
    .to_string()
}

#[test]
fn a_git_branch_is_followed_and_a_broken_push_keeps_the_last_good_commit() {
    let upstream_dir = tempfile::tempdir().expect("tempdir");
    let upstream = git2::Repository::init_bare(upstream_dir.path()).expect("bare");
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(root().join("policies"))
        .expect("policies/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| {
            (
                p.file_name()
                    .and_then(|n| n.to_str())
                    .expect("name")
                    .to_owned(),
                std::fs::read(&p).expect("read"),
            )
        })
        .collect();
    files.sort();
    let first = commit_main(&upstream, &files, "example policies");
    let url = format!("file://{}", upstream_dir.path().display());
    let s = Serve::new()
        .args(&["--git-url", &url, "--git-path", "policies"])
        .start();
    let v = s.wait_for("the first commit planned", |v| {
        v["plan"]["revision"] == first.as_str()
    });
    assert_eq!(v["lastApplied"]["revision"], first.as_str());
    assert_eq!(condition(&v, "Ready"), Some(true));

    // A valid push is applied on the next pass.
    let mut second_files = files.clone();
    for (name, bytes) in &mut second_files {
        if name == "approval.yaml" {
            let text = String::from_utf8(bytes.clone()).expect("utf-8");
            *bytes = text
                .replace("  decline:\n", "  decline:\n    - {patch: \"nginx/1.22.1-9+deb12u4\", reason: \"regresses HTTP/2\", owner: web-team}\n")
                .into_bytes();
        }
    }
    let second = commit_main(&upstream, &second_files, "decline the nginx fix");
    s.wait_for("the second commit planned", |v| {
        v["plan"]["revision"] == second.as_str()
    });

    // A broken push is recorded, not applied.
    let mut broken = second_files.clone();
    for (name, bytes) in &mut broken {
        if name == "rollouts.yaml" {
            let text = String::from_utf8(bytes.clone()).expect("utf-8");
            *bytes = text
                .replacen("approval: security-first", "approval: security-frist", 1)
                .into_bytes();
        }
    }
    let third = commit_main(&upstream, &broken, "typo");
    let v = s.wait_for("the broken commit", |v| {
        v["lastAttempted"]["revision"] == third.as_str()
    });
    assert_eq!(v["lastApplied"]["revision"], second.as_str(), "{v:#}");
    assert_eq!(v["plan"]["revision"], second.as_str(), "{v:#}");
    assert_eq!(condition(&v, "Stalled"), Some(true));
    assert!(
        v["lastAttempted"]["diagnostics"]
            .to_string()
            .contains("policies/rollouts.yaml:"),
        "{v:#}"
    );
}

/// Over real HTTP, as from a git host: `git http-backend` behind basic
/// authentication, the token read from a file (a mounted secret). A push is
/// applied within the polling interval; a revoked token fails the fetch
/// without the token in any message, and the last good commit stays.
#[test]
fn a_branch_on_an_http_git_host_is_followed_with_a_token_from_a_file() {
    use crate::git_http::{GitHttpServer, HTTP_BACKEND};
    if !std::path::Path::new(HTTP_BACKEND).exists() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "{HTTP_BACKEND} is missing; run scripts/install-test-deps"
        );
        eprintln!("SKIPPED: {HTTP_BACKEND} is missing");
        return;
    }
    let served = tempfile::tempdir().expect("tempdir");
    let upstream =
        git2::Repository::init_bare(served.path().join("policy.git")).expect("bare repository");
    let window = |hour: u32| {
        vec![(
            "window.yaml".to_owned(),
            format!(
                "apiVersion: fixpoint.dev/v1alpha1\nkind: MaintenanceWindow\nmetadata: {{name: nights}}\n\
                 spec: {{cron: \"0 {hour} * * *\", duration: 2h, timezone: UTC}}\n"
            )
            .into_bytes(),
        )]
    };
    let first = commit_main(&upstream, &window(1), "nightly window");
    let host = GitHttpServer::start(served.path(), "x-access-token", "ghp-first-token");
    let secrets = tempfile::tempdir().expect("tempdir");
    let token_file = secrets.path().join("git-token");
    std::fs::write(&token_file, "ghp-first-token\n").expect("write the token");
    let s = Serve::new()
        .args(&[
            "--git-url",
            &host.url("policy.git"),
            "--git-path",
            "policies",
            "--git-token-file",
            token_file.to_str().expect("utf-8"),
        ])
        .start();
    s.wait_for("the first commit", |v| {
        v["lastApplied"]["revision"] == first
    });
    let second = commit_main(&upstream, &window(2), "move the window");
    s.wait_for("the pushed commit", |v| {
        v["lastApplied"]["revision"] == second
    });
    assert!(
        host.seen().iter().any(|r| r.authorized && r.status == 200),
        "the host served the fetch to the token"
    );

    // The host revokes the token: fetching fails, the server says why, and keeps the last good commit.
    host.set_token("ghp-rotated-token");
    let v = s.wait_for("a failed fetch", |v| {
        v["error"].as_str().is_some_and(|e| e.contains("fetching"))
    });
    let error = v["error"].as_str().expect("error");
    assert!(!error.contains("ghp-first-token"), "{error}");
    assert_eq!(v["lastApplied"]["revision"], second.as_str());
    // The secret is rotated on the server's side too: the next fetch works again.
    std::fs::write(&token_file, "ghp-rotated-token\n").expect("rotate");
    let third = commit_main(&upstream, &window(3), "again");
    s.wait_for("the commit after rotation", |v| {
        v["lastApplied"]["revision"] == third && v["error"].is_null()
    });
}
