//! `GitSource::fetch` against real servers on loopback: git's own `git http-backend` behind
//! an HTTP server demanding a token, a real `sshd`, and commits signed by real `git commit -S`
//! with keys made by `ssh-keygen`.
//!
//! Without the servers (`scripts/install-test-deps` installs them) a test is skipped with a
//! message, except under `CI=true`, where it fails.

mod support {
    pub mod git_http;
    pub mod sshd;
}

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use fixpoint::source::Revision;
use fixpoint::source::follow::{DEFAULT_TOKEN_USERNAME, GitAuth, GitSource, Secret, TokenSource};
use fixpoint_git_timeouts::Timeouts;
use support::git_http::{GitHttpServer, HTTP_BACKEND};
use support::sshd::{SSHD, Sshd, keygen};

const TOKEN: &str = "ghs_test0token0that0must0not0leak";

/// Short enough that the hung-remote test is quick, long enough for git-http-backend and
/// sshd on a busy two-core machine.
const TEST_TIMEOUTS: Timeouts = Timeouts {
    connect: Duration::from_secs(5),
    io: Duration::from_secs(8),
};

/// Whether `program` is there; without it the test is skipped, or fails under CI.
fn available(program: &str) -> bool {
    if Path::new(program).exists() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{program} is missing; run scripts/install-test-deps"
    );
    eprintln!("SKIPPED: {program} is missing; run scripts/install-test-deps");
    false
}

/// Fetches with the test timeouts (libgit2's are process-wide: every test sets them before
/// its first fetch, and the first to do so wins).
fn fetch(source: &GitSource) -> anyhow::Result<Revision> {
    fixpoint_git_timeouts::set_once(TEST_TIMEOUTS);
    source.fetch()
}

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Policy Author")
        .env("GIT_AUTHOR_EMAIL", "author@example.org")
        .env("GIT_COMMITTER_NAME", "Policy Author")
        .env("GIT_COMMITTER_EMAIL", "author@example.org")
        .args(args)
        .output()
        .expect("run git");
    assert!(
        output.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A work repository with a `main` branch, and the bare repository it pushes to, which the
/// servers serve.
struct Repos {
    work: PathBuf,
    bare: PathBuf,
}

impl Repos {
    /// `root/work` with one commit of `policies/rings.yaml`, pushed to `root/srv/policy.git`.
    fn new(root: &Path) -> Repos {
        let work = root.join("work");
        let bare = root.join("srv").join("policy.git");
        std::fs::create_dir_all(work.join("policies")).expect("create the work tree");
        std::fs::create_dir_all(&bare).expect("create the served directory");
        git(&work, &["init", "-q", "-b", "main"]);
        git(&bare, &["init", "-q", "--bare"]);
        let repos = Repos { work, bare };
        repos.commit("rings.yaml", "kind: Rollout # first\n", "first policy");
        git(
            &repos.work,
            &[
                "push",
                "-q",
                repos.bare.to_str().expect("UTF-8 path"),
                "main",
            ],
        );
        repos
    }

    fn commit(&self, file: &str, text: &str, message: &str) -> String {
        std::fs::write(self.work.join("policies").join(file), text).expect("write a policy");
        git(&self.work, &["add", "-A"]);
        git(&self.work, &["commit", "-q", "-m", message]);
        git(&self.work, &["rev-parse", "HEAD"])
    }

    fn push(&self, force: bool) {
        let bare = self.bare.to_str().expect("UTF-8 path");
        let mut args = vec!["push", "-q"];
        if force {
            args.push("--force");
        }
        args.extend([bare, "main"]);
        git(&self.work, &args);
    }

    fn head(&self) -> String {
        git(&self.work, &["rev-parse", "HEAD"])
    }
}

fn source(url: String, mirror: &Path, auth: GitAuth) -> GitSource {
    GitSource {
        url,
        branch: "main".to_owned(),
        path: Some(PathBuf::from("policies")),
        mirror: mirror.to_owned(),
        auth,
        allowed_signers: None,
    }
}

fn token(token: &str) -> GitAuth {
    GitAuth::Token {
        username: DEFAULT_TOKEN_USERNAME.to_owned(),
        token: TokenSource::Value(Secret::new(token)),
    }
}

fn file_text(revision: &Revision, display: &str) -> String {
    let file = revision
        .files
        .iter()
        .find(|f| f.display == display)
        .unwrap_or_else(|| panic!("no {display} in {:?}", names(revision)));
    String::from_utf8_lossy(&file.bytes).into_owned()
}

fn names(revision: &Revision) -> Vec<&str> {
    revision.files.iter().map(|f| f.display.as_str()).collect()
}

/// A served repository over HTTP with its token, and a mirror to fetch into.
struct HttpSetup {
    _dir: tempfile::TempDir,
    repos: Repos,
    server: GitHttpServer,
    mirror: PathBuf,
}

fn http_setup() -> Option<HttpSetup> {
    if !available(HTTP_BACKEND) {
        return None;
    }
    let dir = tempfile::tempdir().expect("temporary directory");
    let repos = Repos::new(dir.path());
    let server = GitHttpServer::start(&dir.path().join("srv"), DEFAULT_TOKEN_USERNAME, TOKEN);
    let mirror = dir.path().join("mirror.git");
    Some(HttpSetup {
        _dir: dir,
        repos,
        server,
        mirror,
    })
}

// ---- HTTP with a token ----

#[test]
fn fetching_over_http_with_the_right_token_reads_the_branchs_commit() {
    let Some(s) = http_setup() else { return };
    let revision = fetch(&source(s.server.url("policy.git"), &s.mirror, token(TOKEN)))
        .expect("the token is accepted");
    assert_eq!(revision.commit, s.repos.head());
    assert_eq!(revision.summary, "first policy");
    assert_eq!(names(&revision), ["policies/rings.yaml"]);
    assert_eq!(
        file_text(&revision, "policies/rings.yaml"),
        "kind: Rollout # first\n"
    );
    let seen = s.server.seen();
    assert!(
        seen.iter().any(|r| !r.authorized && r.status == 401),
        "libgit2 sends the token only once challenged: {seen:?}"
    );
    assert!(
        seen.iter()
            .any(|r| r.authorized && r.method == "POST" && r.target.ends_with("git-upload-pack")),
        "the pack came through git-http-backend: {seen:?}"
    );
}

#[test]
fn a_wrong_token_is_refused_with_an_error_that_does_not_contain_it() {
    let Some(s) = http_setup() else { return };
    let wrong = "ghs_wrong0token0value0also0secret";
    let error = fetch(&source(s.server.url("policy.git"), &s.mirror, token(wrong)))
        .expect_err("the server refuses the token");
    let message = format!("{error:#}");
    assert!(
        message.contains("the server refused the token"),
        "{message}"
    );
    assert!(message.contains("x-access-token"), "{message}");
    assert!(message.contains("fetching branch `main`"), "{message}");
    assert!(!message.contains(wrong), "the token leaked: {message}");
    assert!(!message.contains(TOKEN), "{message}");
}

#[test]
fn a_missing_token_is_refused_naming_the_settings_that_provide_one() {
    let Some(s) = http_setup() else { return };
    let error = fetch(&source(
        s.server.url("policy.git"),
        &s.mirror,
        GitAuth::None,
    ))
    .expect_err("the server wants credentials");
    let message = format!("{error:#}");
    assert!(message.contains("none are configured"), "{message}");
    assert!(message.contains("--git-token-file"), "{message}");
}

#[test]
fn a_token_file_is_read_again_before_every_fetch() {
    let Some(s) = http_setup() else { return };
    let token_file = s.mirror.with_file_name("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).expect("write the token file");
    let from_file = source(
        s.server.url("policy.git"),
        &s.mirror,
        GitAuth::Token {
            username: DEFAULT_TOKEN_USERNAME.to_owned(),
            token: TokenSource::File(token_file.clone()),
        },
    );
    fetch(&from_file).expect("the token from the file, newline removed");

    let rotated = "ghs_rotated0token0value0secret000";
    s.server.set_token(rotated);
    let error = fetch(&from_file).expect_err("the old token is no longer accepted");
    assert!(!format!("{error:#}").contains(TOKEN), "{error:#}");

    std::fs::write(&token_file, rotated).expect("rotate the token file");
    let revision = fetch(&from_file).expect("the rotated token, without a restart");
    assert_eq!(revision.commit, s.repos.head());
}

#[test]
fn a_pushed_commit_is_picked_up_by_the_next_fetch() {
    let Some(s) = http_setup() else { return };
    let follow = source(s.server.url("policy.git"), &s.mirror, token(TOKEN));
    let first = fetch(&follow).expect("the first commit");
    let second = s
        .repos
        .commit("windows.yaml", "kind: MaintenanceWindow\n", "add a window");
    s.repos.push(false);
    let next = fetch(&follow).expect("the pushed commit");
    assert_ne!(next.commit, first.commit);
    assert_eq!(next.commit, second);
    assert_eq!(
        names(&next),
        ["policies/rings.yaml", "policies/windows.yaml"]
    );
}

#[test]
fn a_force_pushed_branch_is_followed_to_the_rewritten_commit() {
    let Some(s) = http_setup() else { return };
    let follow = source(s.server.url("policy.git"), &s.mirror, token(TOKEN));
    let before = fetch(&follow).expect("the first commit");
    std::fs::write(
        s.repos.work.join("policies").join("rings.yaml"),
        "kind: Rollout # rewritten\n",
    )
    .expect("rewrite the policy");
    git(
        &s.repos.work,
        &["commit", "-q", "-a", "--amend", "-m", "rewritten"],
    );
    s.repos.push(true);
    let after = fetch(&follow).expect("the rewritten branch");
    assert_ne!(after.commit, before.commit);
    assert_eq!(after.commit, s.repos.head());
    assert_eq!(after.summary, "rewritten");
    assert_eq!(
        file_text(&after, "policies/rings.yaml"),
        "kind: Rollout # rewritten\n"
    );
}

#[test]
fn a_branch_missing_on_the_remote_is_reported_by_name() {
    let Some(s) = http_setup() else { return };
    let mut follow = source(s.server.url("policy.git"), &s.mirror, token(TOKEN));
    follow.branch = "production".to_owned();
    let error = fetch(&follow).expect_err("there is no such branch");
    assert!(
        format!("{error:#}").contains("has no branch `production`"),
        "{error:#}"
    );
}

#[test]
fn a_branch_deleted_on_the_remote_is_not_served_from_the_mirror() {
    let Some(s) = http_setup() else { return };
    let follow = source(s.server.url("policy.git"), &s.mirror, token(TOKEN));
    fetch(&follow).expect("the branch exists");
    git(&s.repos.bare, &["update-ref", "-d", "refs/heads/main"]);
    let error = fetch(&follow).expect_err("the branch is gone");
    assert!(
        format!("{error:#}").contains("has no branch `main`"),
        "{error:#}"
    );
}

#[test]
fn a_remote_that_never_answers_fails_the_fetch_within_the_timeout() {
    // Accepts connections and reads requests, and never says a word.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let address = listener.local_addr().expect("address");
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let dir = tempfile::tempdir().expect("temporary directory");
    let started = Instant::now();
    let error = fetch(&source(
        format!("http://{address}/policy.git"),
        &dir.path().join("mirror.git"),
        GitAuth::None,
    ))
    .expect_err("nothing ever answers");
    let elapsed = started.elapsed();
    let message = format!("{error:#}");
    assert!(message.contains("timed out"), "{message}");
    assert!(
        message.contains(&format!("{:?} for any read or write", TEST_TIMEOUTS.io)),
        "the timeout in force is named: {message}"
    );
    assert!(
        elapsed < TEST_TIMEOUTS.io * 3,
        "gave up after {elapsed:?}, not within the {:?} timeout",
        TEST_TIMEOUTS.io
    );
}

// ---- SSH with a key ----

struct SshSetup {
    dir: tempfile::TempDir,
    repos: Repos,
    sshd: Sshd,
    key: PathBuf,
    known_hosts: PathBuf,
}

impl SshSetup {
    fn url(&self) -> String {
        self.sshd.url(&self.repos.bare)
    }

    fn mirror(&self) -> PathBuf {
        self.dir.path().join("mirror.git")
    }

    fn auth(&self, key: &Path, known_hosts: &Path) -> GitAuth {
        GitAuth::SshKey {
            key: key.to_owned(),
            passphrase: None,
            known_hosts: known_hosts.to_owned(),
        }
    }
}

/// sshd accepting `client` (an authorized key, passphrase ""), and a known_hosts file with
/// its host key.
fn ssh_setup() -> Option<SshSetup> {
    if !available(SSHD) {
        return None;
    }
    let dir = tempfile::tempdir().expect("temporary directory");
    let repos = Repos::new(dir.path());
    let key = dir.path().join("id_ed25519");
    let public = keygen(&key, "");
    let encrypted = dir.path().join("id_encrypted");
    let encrypted_public = keygen(&encrypted, "correct horse");
    let sshd = Sshd::start(dir.path(), &[&public, &encrypted_public]);
    let known_hosts = dir.path().join("known_hosts");
    std::fs::write(
        &known_hosts,
        format!("# the test server\n{}\n", sshd.known_hosts_line()),
    )
    .expect("write known_hosts");
    Some(SshSetup {
        dir,
        repos,
        sshd,
        key,
        known_hosts,
    })
}

#[test]
fn fetching_over_ssh_with_an_authorized_key_and_its_known_host_reads_the_commit() {
    let Some(s) = ssh_setup() else { return };
    let revision = fetch(&source(
        s.url(),
        &s.mirror(),
        s.auth(&s.key, &s.known_hosts),
    ))
    .unwrap_or_else(|e| panic!("fetch over SSH: {e:#}\nsshd:\n{}", s.sshd.log()));
    assert_eq!(revision.commit, s.repos.head());
    assert_eq!(
        file_text(&revision, "policies/rings.yaml"),
        "kind: Rollout # first\n"
    );
}

#[test]
fn an_encrypted_ssh_key_is_used_with_its_passphrase() {
    let Some(s) = ssh_setup() else { return };
    let key = s.dir.path().join("id_encrypted");
    let mut auth = GitAuth::SshKey {
        key: key.clone(),
        passphrase: Some(Secret::new("correct horse")),
        known_hosts: s.known_hosts.clone(),
    };
    let revision = fetch(&source(s.url(), &s.mirror(), auth.clone()))
        .unwrap_or_else(|e| panic!("fetch with the passphrase: {e:#}\nsshd:\n{}", s.sshd.log()));
    assert_eq!(revision.commit, s.repos.head());

    if let GitAuth::SshKey { passphrase, .. } = &mut auth {
        *passphrase = Some(Secret::new("wrong horse"));
    }
    let error = fetch(&source(s.url(), &s.mirror(), auth)).expect_err("a wrong passphrase");
    let message = format!("{error:#}");
    assert!(message.contains("its passphrase"), "{message}");
    assert!(!message.contains("wrong horse"), "{message}");
}

#[test]
fn an_ssh_host_key_missing_from_known_hosts_is_refused_before_authenticating() {
    let Some(s) = ssh_setup() else { return };
    let other_host = s.dir.path().join("other_host");
    let other_host_key = keygen(&other_host, "");
    let known_hosts = s.dir.path().join("known_hosts_other");
    // The right key, but for port 22: a different server as far as SSH is concerned.
    std::fs::write(
        &known_hosts,
        format!(
            "127.0.0.1 {}\ngit.example.org {other_host_key}\n",
            s.sshd.host_key
        ),
    )
    .expect("write known_hosts");
    let error = fetch(&source(s.url(), &s.mirror(), s.auth(&s.key, &known_hosts)))
        .expect_err("the host is unknown");
    let message = format!("{error:#}");
    assert!(
        message.contains(&format!(
            "the SSH host key of [127.0.0.1]:{} (ssh-ed25519 SHA256:",
            s.sshd.port
        )),
        "{message}"
    );
    assert!(
        message.contains("is not in the known_hosts file"),
        "{message}"
    );
    assert!(
        !s.sshd.log().contains("Accepted publickey"),
        "no credential was offered to an unknown host:\n{}",
        s.sshd.log()
    );
}

#[test]
fn a_known_hosts_file_hashed_by_ssh_keygen_is_understood() {
    let Some(s) = ssh_setup() else { return };
    let hashed = s.dir.path().join("known_hosts_hashed");
    std::fs::copy(&s.known_hosts, &hashed).expect("copy known_hosts");
    let output = Command::new("ssh-keygen")
        .arg("-H")
        .arg("-f")
        .arg(&hashed)
        .output()
        .expect("run ssh-keygen -H");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = std::fs::read_to_string(&hashed).expect("read the hashed file");
    assert!(
        text.contains("|1|") && !text.contains("127.0.0.1"),
        "ssh-keygen hashed the host name: {text}"
    );
    let revision = fetch(&source(s.url(), &s.mirror(), s.auth(&s.key, &hashed)))
        .unwrap_or_else(|e| panic!("fetch with a hashed known_hosts: {e:#}"));
    assert_eq!(revision.commit, s.repos.head());
}

#[test]
fn a_changed_ssh_host_key_is_refused_naming_both_fingerprints() {
    let Some(s) = ssh_setup() else { return };
    let impostor = s.dir.path().join("impostor");
    let impostor_key = keygen(&impostor, "");
    let known_hosts = s.dir.path().join("known_hosts_changed");
    std::fs::write(
        &known_hosts,
        format!("[127.0.0.1]:{} {impostor_key}\n", s.sshd.port),
    )
    .expect("write known_hosts");
    let error = fetch(&source(s.url(), &s.mirror(), s.auth(&s.key, &known_hosts)))
        .expect_err("the host key differs");
    let message = format!("{error:#}");
    assert!(
        message.contains("does not match the known_hosts file"),
        "{message}"
    );
    assert!(
        message.contains("line 1 has ssh-ed25519 SHA256:"),
        "{message}"
    );
    assert!(message.contains("intercepting"), "{message}");
}

#[test]
fn an_ssh_key_the_server_does_not_authorize_is_refused_clearly() {
    let Some(s) = ssh_setup() else { return };
    let stranger = s.dir.path().join("id_stranger");
    keygen(&stranger, "");
    let error = fetch(&source(
        s.url(),
        &s.mirror(),
        s.auth(&stranger, &s.known_hosts),
    ))
    .expect_err("the key is not authorized");
    let message = format!("{error:#}");
    assert!(
        message.contains(&format!(
            "the SSH server refused the key {} for user `{}`",
            stranger.display(),
            s.sshd.user
        )),
        "{message}"
    );
}

#[test]
fn a_missing_ssh_key_file_is_named_in_the_error() {
    let Some(s) = ssh_setup() else { return };
    let missing = s.dir.path().join("no_such_key");
    let error = fetch(&source(
        s.url(),
        &s.mirror(),
        s.auth(&missing, &s.known_hosts),
    ))
    .expect_err("there is no key file");
    assert!(
        format!("{error:#}").contains(&format!(
            "cannot read the SSH key file {}",
            missing.display()
        )),
        "{error:#}"
    );
}

// ---- Signed commits ----

/// A local repository whose commits are signed with `signer` (`git commit -S`, SSH format),
/// followed with an allowed_signers file listing `allowed`.
struct Signed {
    dir: tempfile::TempDir,
    work: PathBuf,
    signer: PathBuf,
    allowed_signers: PathBuf,
}

impl Signed {
    fn new() -> Signed {
        let dir = tempfile::tempdir().expect("temporary directory");
        let work = dir.path().join("work");
        std::fs::create_dir_all(work.join("policies")).expect("create the work tree");
        git(&work, &["init", "-q", "-b", "main"]);
        let signer = dir.path().join("release_key");
        let public = keygen(&signer, "");
        let allowed_signers = dir.path().join("allowed_signers");
        std::fs::write(
            &allowed_signers,
            format!("# who may change policy\nrelease@example.org namespaces=\"git\" {public}\n"),
        )
        .expect("write allowed_signers");
        Signed {
            dir,
            work,
            signer,
            allowed_signers,
        }
    }

    /// Commits a policy, signed with `key` when given.
    fn commit(&self, key: Option<&Path>, message: &str) -> String {
        std::fs::write(
            self.work.join("policies").join("rings.yaml"),
            format!("kind: Rollout # {message}\n"),
        )
        .expect("write a policy");
        git(&self.work, &["add", "-A"]);
        match key {
            Some(key) => {
                let signing_key = format!("user.signingkey={}", key.display());
                git(
                    &self.work,
                    &[
                        "-c",
                        "gpg.format=ssh",
                        "-c",
                        &signing_key,
                        "commit",
                        "-q",
                        "-S",
                        "-m",
                        message,
                    ],
                );
            }
            None => {
                git(&self.work, &["commit", "-q", "-m", message]);
            }
        }
        git(&self.work, &["rev-parse", "HEAD"])
    }

    /// Replaces HEAD with a commit object edited by `edit` (its signature kept as it was).
    fn rewrite_head(&self, edit: impl Fn(&str) -> String) -> String {
        let object = git(&self.work, &["cat-file", "commit", "HEAD"]);
        let edited = edit(&(object + "\n"));
        let path = self.dir.path().join("edited-commit");
        std::fs::write(&path, edited).expect("write the edited commit");
        let id = git(
            &self.work,
            &[
                "hash-object",
                "-t",
                "commit",
                "-w",
                path.to_str().expect("UTF-8 path"),
            ],
        );
        git(&self.work, &["update-ref", "refs/heads/main", &id]);
        id
    }

    fn fetch(&self) -> anyhow::Result<Revision> {
        let mut follow = source(
            format!("file://{}", self.work.display()),
            &self.dir.path().join("mirror.git"),
            GitAuth::None,
        );
        follow.allowed_signers = Some(self.allowed_signers.clone());
        fetch(&follow)
    }
}

#[test]
fn a_commit_signed_by_an_allowed_key_is_read() {
    let s = Signed::new();
    let id = s.commit(Some(&s.signer), "signed release");
    let revision = s.fetch().expect("the signature verifies");
    assert_eq!(revision.commit, id);
    assert_eq!(
        file_text(&revision, "policies/rings.yaml"),
        "kind: Rollout # signed release\n"
    );
}

#[test]
fn an_unsigned_commit_is_refused_naming_the_commit() {
    let s = Signed::new();
    s.commit(Some(&s.signer), "signed release");
    let id = s.commit(None, "unsigned change");
    let message = format!("{:#}", s.fetch().expect_err("unsigned"));
    assert!(
        message.contains(&format!("commit {id} is refused")),
        "{message}"
    );
    assert!(message.contains("it is not signed"), "{message}");
}

#[test]
fn a_commit_signed_by_a_key_not_in_allowed_signers_is_refused() {
    let s = Signed::new();
    let stranger = s.dir.path().join("stranger_key");
    keygen(&stranger, "");
    let id = s.commit(Some(&stranger), "signed by a stranger");
    let message = format!("{:#}", s.fetch().expect_err("an unknown signer"));
    assert!(
        message.contains(&format!("commit {id} is refused")),
        "{message}"
    );
    assert!(
        message.contains("which is not in the allowed signers file"),
        "{message}"
    );
    assert!(message.contains("ssh-ed25519 SHA256:"), "{message}");
}

#[test]
fn a_commit_altered_after_signing_is_refused() {
    let s = Signed::new();
    s.commit(Some(&s.signer), "approve ring canary");
    let id = s.rewrite_head(|commit| commit.replace("approve ring canary", "approve ring broad"));
    let message = format!("{:#}", s.fetch().expect_err("the message was changed"));
    assert!(
        message.contains(&format!("commit {id} is refused")),
        "{message}"
    );
    assert!(message.contains("does not verify"), "{message}");
    assert!(message.contains("release@example.org"), "{message}");
}

#[test]
fn a_tampered_signature_is_refused() {
    let s = Signed::new();
    s.commit(Some(&s.signer), "signed release");
    // Flip the last character of the next-to-last base64 line: it lies within the final 64
    // bytes of the SSHSIG blob, which are the raw ed25519 signature.
    let id = s.rewrite_head(|commit| {
        let mut lines: Vec<String> = commit.split('\n').map(str::to_owned).collect();
        let footer = lines
            .iter()
            .position(|l| l == " -----END SSH SIGNATURE-----")
            .expect("an SSH signature");
        let line = &mut lines[footer - 2];
        let last = line.pop().expect("a base64 line");
        line.push(if last == 'A' { 'B' } else { 'A' });
        lines.join("\n")
    });
    let message = format!("{:#}", s.fetch().expect_err("the signature was altered"));
    assert!(
        message.contains(&format!("commit {id} is refused")),
        "{message}"
    );
    assert!(message.contains("does not verify"), "{message}");
}

#[test]
fn an_openpgp_signature_is_reported_as_unsupported() {
    let s = Signed::new();
    s.commit(None, "pgp signed");
    let id = s.rewrite_head(|commit| {
        commit.replacen(
            "\n\n",
            "\ngpgsig -----BEGIN PGP SIGNATURE-----\n \n iQEzBAABCAAdFiEE\n \
             -----END PGP SIGNATURE-----\n\n",
            1,
        )
    });
    let message = format!("{:#}", s.fetch().expect_err("OpenPGP is not verified"));
    assert!(
        message.contains(&format!("commit {id} is refused")),
        "{message}"
    );
    assert!(message.contains("OpenPGP signature"), "{message}");
    assert!(message.contains("gpg.format=ssh"), "{message}");
}

#[test]
fn a_broken_allowed_signers_file_fails_before_fetching() {
    let s = Signed::new();
    s.commit(Some(&s.signer), "signed release");
    std::fs::write(
        &s.allowed_signers,
        "release@example.org ssh-ed25519 AAAA-not-base64\n",
    )
    .expect("break the file");
    let message = format!("{:#}", s.fetch().expect_err("the file does not parse"));
    assert!(
        message.contains(&format!("{}:1:", s.allowed_signers.display())),
        "{message}"
    );
    assert!(
        !s.dir.path().join("mirror.git").exists(),
        "nothing was fetched"
    );
}
