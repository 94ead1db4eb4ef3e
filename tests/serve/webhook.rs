//! `POST /api/v1/webhook`: a push delivered by GitHub or GitLab is fetched at
//! once; forged deliveries change nothing; every attempted revision is kept
//! in the audit trail with its commit and author.

use std::time::Duration;

use crate::apt_repo;
use crate::policy::commit_main;
use crate::support::{Serve, Server, on_each_database};

fn github_signature(secret: &str, body: &[u8]) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key");
    mac.update(body);
    format!("sha256={}", apt_repo::hex(&mac.finalize().into_bytes()))
}

fn deliver(s: &Server, headers: &[(&str, String)], body: &str) -> (u16, serde_json::Value) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut r = reqwest::Client::new()
            .post(s.url("/api/v1/webhook"))
            .header("content-type", "application/json")
            .body(body.to_owned());
        for (name, value) in headers {
            r = r.header(*name, value);
        }
        let response = r.send().await.expect("request");
        let code = response.status().as_u16();
        let bytes = response.bytes().await.expect("a body");
        (code, serde_json::from_slice(&bytes).expect("a JSON body"))
    })
}

/// With an hour between polls, only the webhook can explain a push applied
/// within seconds; a delivery with a wrong signature or token changes nothing.
#[test]
fn a_webhook_push_is_fetched_at_once_and_forged_deliveries_are_refused() {
    on_each_database(|db| {
        let upstream_dir = tempfile::tempdir().expect("tempdir");
        let upstream = git2::Repository::init_bare(upstream_dir.path()).expect("bare");
        let policy = |window: &str| {
            vec![(
            "policy.yaml".to_owned(),
            format!(
                "apiVersion: fixpoint.dev/v1alpha1\nkind: MaintenanceWindow\nmetadata: {{name: nights}}\n\
                 spec: {{cron: \"0 {window} * * *\", duration: 2h, timezone: UTC}}\n"
            )
            .into_bytes(),
        )]
        };
        let first = commit_main(&upstream, &policy("1"), "nightly window");
        let url = format!("file://{}", upstream_dir.path().display());
        let s = Serve::new()
            .database(&db)
            .args(&[
                "--git-url",
                &url,
                "--git-path",
                "policies",
                "--reconcile-interval",
                "1h",
                "--webhook-secret",
                "hook-secret",
            ])
            .start();
        s.wait_for("the first commit", |v| {
            v["lastApplied"]["revision"] == first
        });
        let second = commit_main(&upstream, &policy("2"), "move the window");
        let push = serde_json::json!({"ref": "refs/heads/main", "after": second}).to_string();

        // Forged: signed with another secret; a GitLab token that is wrong; none at all.
        let (code, body) = deliver(
            &s,
            &[
                ("x-github-event", "push".into()),
                (
                    "x-hub-signature-256",
                    github_signature("guess", push.as_bytes()),
                ),
            ],
            &push,
        );
        assert_eq!((code, body["error"].as_str()), (401, Some("badSignature")));
        let (code, _) = deliver(
            &s,
            &[
                ("x-gitlab-event", "Push Hook".into()),
                ("x-gitlab-token", "guess".into()),
            ],
            &push,
        );
        assert_eq!(code, 401);
        assert_eq!(deliver(&s, &[], &push).0, 401);
        // A ping, and a push to another branch, are acknowledged and change nothing.
        let ping = r#"{"zen": "Keep it logically awesome."}"#;
        let (code, body) = deliver(
            &s,
            &[
                ("x-github-event", "ping".into()),
                (
                    "x-hub-signature-256",
                    github_signature("hook-secret", ping.as_bytes()),
                ),
            ],
            ping,
        );
        assert_eq!((code, &body["triggered"]), (202, &serde_json::json!(false)));
        let other = r#"{"ref": "refs/heads/feature"}"#;
        let (code, body) = deliver(
            &s,
            &[
                ("x-github-event", "push".into()),
                (
                    "x-hub-signature-256",
                    github_signature("hook-secret", other.as_bytes()),
                ),
            ],
            other,
        );
        assert_eq!((code, &body["triggered"]), (202, &serde_json::json!(false)));
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(s.status()["lastApplied"]["revision"], first.as_str());

        let (code, body) = deliver(
            &s,
            &[
                ("x-github-event", "push".into()),
                (
                    "x-hub-signature-256",
                    github_signature("hook-secret", push.as_bytes()),
                ),
            ],
            &push,
        );
        assert_eq!(
            (code, &body["triggered"]),
            (202, &serde_json::json!(true)),
            "{body}"
        );
        s.wait_for("the pushed commit", |v| {
            v["lastApplied"]["revision"] == second
        });

        // GitLab's way: the token in a header.
        let third = commit_main(&upstream, &policy("3"), "again");
        let (code, body) = deliver(
            &s,
            &[
                ("x-gitlab-event", "Push Hook".into()),
                ("x-gitlab-token", "hook-secret".into()),
            ],
            &push,
        );
        assert_eq!(
            (code, &body["triggered"]),
            (202, &serde_json::json!(true)),
            "{body}"
        );
        s.wait_for("the third commit", |v| {
            v["lastApplied"]["revision"] == third
        });
        assert_eq!(s.metric("fixpoint_webhooks_total"), Some(2.0));
        assert_eq!(s.metric("fixpoint_webhooks_refused_total"), Some(3.0));
        let (code, revisions) = s.get("/api/v1/revisions");
        assert_eq!(code, 200);
        let revisions: serde_json::Value = serde_json::from_str(&revisions).expect("json");
        let listed: Vec<&str> = revisions["revisions"]
            .as_array()
            .expect("revisions")
            .iter()
            .map(|r| r["revision"].as_str().expect("revision"))
            .collect();
        assert_eq!(listed, [third.as_str(), second.as_str(), first.as_str()]);
        assert_eq!(
            revisions["revisions"][0]["author"],
            "Pat Reviewer <pat@corp.example>"
        );
    });
}
