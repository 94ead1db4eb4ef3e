//! `source::read_tree_at`: the policy files of a commit, read from real git repositories
//! that each test builds in a temporary directory with libgit2 (no `git` binary and no user
//! or system git configuration involved: every author, time and mode is set here).

use std::collections::BTreeMap;
use std::path::Path;

use fixpoint::source::dir::read_tree;
use fixpoint::source::{PolicyFile, Revision, read_tree_at};
use fixpoint_core::policy::{self, load::MAX_FILE_BYTES};
use git2::{Oid, Repository, Signature, Time};

/// What a path of a test tree holds.
#[derive(Clone)]
enum Entry {
    File(Vec<u8>),
    Executable(Vec<u8>),
    Link(&'static str),
    Submodule(&'static str),
}

fn file(bytes: &[u8]) -> Entry {
    Entry::File(bytes.to_vec())
}

/// A repository in a temporary directory whose commits are written object by object.
struct TestRepo {
    dir: tempfile::TempDir,
    repo: Repository,
}

const FIRST_TIME: i64 = 1_700_000_000;
const SECOND_TIME: i64 = FIRST_TIME + 86_400;
/// The committer commits a minute after the author wrote the change.
const COMMITTER_DELAY: i64 = 60;
const SUBMODULE_COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

impl TestRepo {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut options = git2::RepositoryInitOptions::new();
        options.initial_head("main");
        let repo = Repository::init_opts(dir.path(), &options).expect("git init");
        TestRepo { dir, repo }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Commits a tree holding exactly `entries` to `main`, on top of its last commit.
    fn commit(&self, message: &str, seconds: i64, entries: &[(&str, Entry)]) -> Oid {
        let entries: Vec<(&str, &Entry)> = entries.iter().map(|(p, e)| (*p, e)).collect();
        let tree_id = write_tree(&self.repo, &entries);
        let tree = self.repo.find_tree(tree_id).expect("the tree just written");
        let author = Signature::new("Ada Lovelace", "ada@example.org", &Time::new(seconds, 0))
            .expect("a valid signature");
        let committer = Signature::new(
            "Release Bot",
            "bot@example.org",
            &Time::new(seconds + COMMITTER_DELAY, 0),
        )
        .expect("a valid signature");
        let parent = self.repo.head().ok().and_then(|h| h.peel_to_commit().ok());
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        self.repo
            .commit(Some("HEAD"), &author, &committer, message, &tree, &parents)
            .expect("commit")
    }

    fn read(&self, rev: &str, subdir: Option<&str>) -> Revision {
        read_tree_at(self.path(), rev, subdir.map(Path::new))
            .unwrap_or_else(|e| panic!("reading {rev}: {e:#}"))
    }

    fn error(&self, rev: &str, subdir: Option<&str>) -> String {
        let err =
            read_tree_at(self.path(), rev, subdir.map(Path::new)).expect_err("reading should fail");
        format!("{err:#}")
    }
}

fn write_tree(repo: &Repository, entries: &[(&str, &Entry)]) -> Oid {
    let mut builder = repo.treebuilder(None).expect("a tree builder");
    let mut subdirs: BTreeMap<&str, Vec<(&str, &Entry)>> = BTreeMap::new();
    for &(path, entry) in entries {
        if let Some((dir, rest)) = path.split_once('/') {
            subdirs.entry(dir).or_default().push((rest, entry));
            continue;
        }
        let (id, mode) = match entry {
            Entry::File(bytes) => (repo.blob(bytes).expect("blob"), 0o100_644),
            Entry::Executable(bytes) => (repo.blob(bytes).expect("blob"), 0o100_755),
            Entry::Link(target) => (repo.blob(target.as_bytes()).expect("blob"), 0o120_000),
            Entry::Submodule(commit) => (Oid::from_str(commit).expect("a commit id"), 0o160_000),
        };
        builder.insert(path, id, mode).expect("tree entry");
    }
    for (dir, inner) in subdirs {
        let id = write_tree(repo, &inner);
        builder.insert(dir, id, 0o040_000).expect("tree entry");
    }
    builder.write().expect("tree")
}

fn big_file() -> Vec<u8> {
    (0..MAX_FILE_BYTES + 100)
        .map(|i| b"# padding\n"[i % 10])
        .collect()
}

/// The first commit: policy files at two depths, and next to them everything that is not
/// read (hidden, not YAML) or is reported (links, a submodule, a file over the limit).
fn first_tree() -> Vec<(&'static str, Entry)> {
    vec![
        ("README.md", file(b"# Policies\n")),
        ("other/outside.yaml", file(b"outside\n")),
        ("policies/rings.yaml", file(b"rings v1\n")),
        ("policies/a.yaml", file(b"a\n")),
        ("policies/a/b.yaml", file(b"a/b\n")),
        ("policies/approvals/base.yml", file(b"base v1\n")),
        ("policies/approvals/notes.txt", file(b"not policy\n")),
        ("policies/.drafts/wip.yaml", file(b"hidden directory\n")),
        ("policies/.hidden.yaml", file(b"hidden file\n")),
        ("policies/big.yaml", Entry::File(big_file())),
        (
            "policies/tool.yaml",
            Entry::Executable(b"executable\n".to_vec()),
        ),
        ("policies/link.yaml", Entry::Link("rings.yaml")),
        ("policies/shared", Entry::Link("approvals")),
        ("policies/readme", Entry::Link("../README.md")),
        ("policies/vendor", Entry::Submodule(SUBMODULE_COMMIT)),
    ]
}

/// The second commit: `rings.yaml` changed, `base.yml` and `big.yaml` gone, `extra.yaml` new.
fn second_tree() -> Vec<(&'static str, Entry)> {
    let mut entries: Vec<_> = first_tree()
        .into_iter()
        .filter(|(p, _)| !matches!(*p, "policies/approvals/base.yml" | "policies/big.yaml"))
        .collect();
    for (path, entry) in &mut entries {
        if *path == "policies/rings.yaml" {
            *entry = file(b"rings v2\n");
        }
    }
    entries.push(("policies/approvals/extra.yaml", file(b"extra\n")));
    entries
}

/// A repository with the two commits on `main`.
fn two_commits() -> (TestRepo, Oid, Oid) {
    let repo = TestRepo::new();
    let first = repo.commit(
        "Policies for rings and approvals",
        FIRST_TIME,
        &first_tree(),
    );
    let second = repo.commit(
        "Raise the ring 2 gate\n\nThe canary ring ran clean for a week.\n",
        SECOND_TIME,
        &second_tree(),
    );
    (repo, first, second)
}

/// Each file as (display, bytes as text | `N bytes` when long | `problem: ...`).
fn listing(files: &[PolicyFile]) -> Vec<(String, String)> {
    files
        .iter()
        .map(|f| {
            let content = match &f.problem {
                Some(problem) => format!("problem: {problem}"),
                None if f.bytes.len() > 64 => format!("{} bytes", f.bytes.len()),
                None => String::from_utf8_lossy(&f.bytes).into_owned(),
            };
            (f.display.clone(), content)
        })
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

const LINK_PROBLEM: &str = "problem: symbolic link in git tree; not followed";
const DIR_LINK_PROBLEM: &str = "problem: symbolic link to a directory in git tree; not followed";

fn submodule_problem() -> String {
    format!("problem: submodule in git tree (commit {SUBMODULE_COMMIT}); its files are not read")
}

#[test]
fn head_lists_every_yaml_file_in_path_order_with_its_bytes() {
    let (repo, _, second) = two_commits();
    let revision = repo.read("main", None);
    assert_eq!(revision.commit, second.to_string());
    let submodule = submodule_problem();
    assert_eq!(
        listing(&revision.files),
        pairs(&[
            ("other/outside.yaml", "outside\n"),
            ("policies/a/b.yaml", "a/b\n"),
            ("policies/a.yaml", "a\n"),
            ("policies/approvals/extra.yaml", "extra\n"),
            ("policies/link.yaml", LINK_PROBLEM),
            ("policies/rings.yaml", "rings v2\n"),
            ("policies/shared", DIR_LINK_PROBLEM),
            ("policies/tool.yaml", "executable\n"),
            ("policies/vendor", &submodule),
        ])
    );
}

#[test]
fn an_earlier_revision_reads_that_commits_files() {
    let (repo, first, _) = two_commits();
    let revision = repo.read("HEAD~1", None);
    assert_eq!(revision.commit, first.to_string());
    let big = format!("{} bytes", MAX_FILE_BYTES + 1);
    let submodule = submodule_problem();
    assert_eq!(
        listing(&revision.files),
        pairs(&[
            ("other/outside.yaml", "outside\n"),
            ("policies/a/b.yaml", "a/b\n"),
            ("policies/a.yaml", "a\n"),
            ("policies/approvals/base.yml", "base v1\n"),
            ("policies/big.yaml", &big),
            ("policies/link.yaml", LINK_PROBLEM),
            ("policies/rings.yaml", "rings v1\n"),
            ("policies/shared", DIR_LINK_PROBLEM),
            ("policies/tool.yaml", "executable\n"),
            ("policies/vendor", &submodule),
        ])
    );
}

#[test]
fn branches_tags_remote_branches_ancestors_and_ids_name_their_commits() {
    let (repo, first, second) = two_commits();
    let first_commit = repo.repo.find_commit(first).expect("first commit");
    repo.repo
        .tag_lightweight("v1", first_commit.as_object(), false)
        .expect("lightweight tag");
    let tagger = Signature::new("Ada Lovelace", "ada@example.org", &Time::new(FIRST_TIME, 0))
        .expect("a valid signature");
    repo.repo
        .tag(
            "v1-signed-off",
            first_commit.as_object(),
            &tagger,
            "Release 1",
            false,
        )
        .expect("annotated tag");
    repo.repo
        .reference("refs/remotes/origin/main", first, false, "as if fetched")
        .expect("remote-tracking branch");
    let short = &first.to_string()[..7];
    let full = first.to_string();
    for rev in [
        "HEAD~1",
        "main^",
        "v1",
        "v1-signed-off",
        "origin/main",
        short,
        &full,
    ] {
        assert_eq!(repo.read(rev, None).commit, full, "{rev}");
    }
    for rev in ["HEAD", "main", "refs/heads/main"] {
        assert_eq!(repo.read(rev, None).commit, second.to_string(), "{rev}");
    }
}

#[test]
fn revision_carries_the_summary_author_and_commit_time() {
    let (repo, _, _) = two_commits();
    let revision = repo.read("main", None);
    assert_eq!(revision.summary, "Raise the ring 2 gate");
    assert_eq!(revision.author, "Ada Lovelace <ada@example.org>");
    assert_eq!(
        revision.time,
        jiff::Timestamp::from_second(SECOND_TIME + COMMITTER_DELAY).expect("in range")
    );
}

#[test]
fn subdir_limits_the_files_and_keeps_paths_from_the_repository_root() {
    let (repo, _, _) = two_commits();
    for subdir in [
        "policies/approvals",
        "./policies/approvals/",
        "policies//approvals",
    ] {
        let at_first = repo.read("HEAD~1", Some(subdir));
        assert_eq!(
            listing(&at_first.files),
            pairs(&[("policies/approvals/base.yml", "base v1\n")]),
            "{subdir}"
        );
    }
    let at_head = repo.read("HEAD", Some("policies/approvals"));
    assert_eq!(
        listing(&at_head.files),
        pairs(&[("policies/approvals/extra.yaml", "extra\n")])
    );
    let displays: Vec<_> = repo
        .read("HEAD", Some("other"))
        .files
        .into_iter()
        .map(|f| f.display)
        .collect();
    assert_eq!(displays, ["other/outside.yaml"]);
}

#[test]
fn a_hidden_subdir_named_explicitly_is_read() {
    let (repo, _, _) = two_commits();
    let files = repo.read("main", Some("policies/.drafts")).files;
    assert_eq!(
        listing(&files),
        pairs(&[("policies/.drafts/wip.yaml", "hidden directory\n")])
    );
}

#[test]
fn a_blob_over_the_limit_is_cut_one_byte_past_it_so_the_loader_reports_it_too_large() {
    let (repo, _, _) = two_commits();
    let files = repo.read("HEAD~1", Some("policies")).files;
    let big = files
        .iter()
        .find(|f| f.display == "policies/big.yaml")
        .expect("big.yaml is listed");
    assert_eq!(big.problem, None);
    assert_eq!(big.bytes, big_file()[..=MAX_FILE_BYTES]);
    let checked = policy::check(
        [(big.display.as_str(), big.bytes.as_slice())],
        jiff::Timestamp::from_second(SECOND_TIME).expect("in range"),
    );
    let codes: Vec<_> = checked
        .diagnostics
        .iter()
        .map(|d| (d.file.as_str(), d.code))
        .collect();
    assert_eq!(codes, [("policies/big.yaml", "file-too-large")]);
}

#[test]
fn links_are_reported_only_when_named_like_policy_or_pointing_at_a_directory() {
    let repo = TestRepo::new();
    repo.commit(
        "links",
        FIRST_TIME,
        &[
            ("policies/rings.yaml", file(b"rings\n")),
            ("policies/sub/x.yaml", file(b"x\n")),
            ("policies/to-file.yaml", Entry::Link("rings.yaml")),
            ("policies/to-nothing.yaml", Entry::Link("missing.yaml")),
            ("policies/to-dir", Entry::Link("./sub")),
            ("policies/to-parent", Entry::Link("..")),
            ("policies/to-root-file", Entry::Link("../README")),
            ("policies/outside", Entry::Link("../../elsewhere")),
            ("policies/absolute", Entry::Link("/etc")),
            ("README", file(b"readme\n")),
        ],
    );
    assert_eq!(
        listing(&repo.read("HEAD", None).files),
        pairs(&[
            ("policies/rings.yaml", "rings\n"),
            ("policies/sub/x.yaml", "x\n"),
            ("policies/to-dir", DIR_LINK_PROBLEM),
            ("policies/to-file.yaml", LINK_PROBLEM),
            ("policies/to-nothing.yaml", LINK_PROBLEM),
            ("policies/to-parent", DIR_LINK_PROBLEM),
        ])
    );
}

#[test]
fn path_order_and_bytes_match_the_directory_reader_on_a_checkout() {
    let repo = TestRepo::new();
    let names = [
        "a.yaml",
        "a/b.yaml",
        "a-b.yaml",
        "a0.yml",
        "B.yaml",
        "Z/z.yml",
        "dir.yaml/inner.yaml",
        "x.yaml.txt",
        "x.YAML",
        "z/deep/er/x.yaml",
        "a/.hidden/x.yaml",
        ".github/ci.yaml",
        "é.yaml",
    ];
    let entries: Vec<_> = names
        .iter()
        .map(|n| (*n, file(format!("{n}\n").as_bytes())))
        .collect();
    repo.commit("many names", FIRST_TIME, &entries);
    let mut checkout = git2::build::CheckoutBuilder::new();
    checkout.force();
    repo.repo
        .checkout_head(Some(&mut checkout))
        .expect("checkout");

    let from_git = listing(&repo.read("HEAD", None).files);
    let prefix = format!("{}/", repo.path().display());
    let from_dir: Vec<_> = listing(&read_tree(repo.path()).expect("read the checkout"))
        .into_iter()
        .map(|(display, content)| {
            let relative = display.strip_prefix(&prefix).expect("below the checkout");
            (relative.to_owned(), content)
        })
        .collect();
    assert_eq!(from_git, from_dir);
    assert_eq!(
        from_git.iter().map(|(d, _)| d.as_str()).collect::<Vec<_>>(),
        [
            "B.yaml",
            "Z/z.yml",
            "a/b.yaml",
            "a-b.yaml",
            "a.yaml",
            "a0.yml",
            "dir.yaml/inner.yaml",
            "z/deep/er/x.yaml",
            "é.yaml",
        ]
    );
}

#[test]
fn a_bare_clone_reads_the_same_files() {
    let (repo, _, second) = two_commits();
    let target = tempfile::tempdir().expect("a temporary directory");
    let bare = target.path().join("policies.git");
    git2::build::RepoBuilder::new()
        .bare(true)
        .clone(&repo.path().display().to_string(), &bare)
        .expect("local bare clone");
    let from_clone = read_tree_at(&bare, "main", None).expect("read the bare clone");
    assert_eq!(from_clone.commit, second.to_string());
    assert_eq!(
        listing(&from_clone.files),
        listing(&repo.read("main", None).files)
    );
}

#[test]
fn an_unknown_revision_is_an_error_that_names_it() {
    let (repo, _, _) = two_commits();
    let message = repo.error("no-such-branch", None);
    assert!(
        message.starts_with(&format!(
            "unknown revision `no-such-branch` in git repository {}",
            repo.path().display()
        )),
        "{message}"
    );
    let message = repo.error("HEAD~5", None);
    assert!(
        message.starts_with("unknown revision `HEAD~5`"),
        "{message}"
    );
}

#[test]
fn a_repository_without_commits_is_an_error_that_says_so() {
    let repo = TestRepo::new();
    let message = repo.error("HEAD", None);
    assert!(
        message.starts_with(&format!(
            "unknown revision `HEAD`: git repository {} has no commits yet",
            repo.path().display()
        )),
        "{message}"
    );
}

#[test]
fn a_revision_naming_a_tree_or_a_file_is_not_a_commit() {
    let (repo, _, second) = two_commits();
    let tree = repo
        .repo
        .find_commit(second)
        .expect("second commit")
        .tree_id();
    assert_eq!(
        repo.error("HEAD^{tree}", None),
        format!("revision `HEAD^{{tree}}` is a tree ({tree}), not a commit")
    );
    let message = repo.error("HEAD:policies/rings.yaml", None);
    assert!(
        message.starts_with("revision `HEAD:policies/rings.yaml` is a blob ("),
        "{message}"
    );
    assert!(message.ends_with("), not a commit"), "{message}");
}

#[test]
fn a_missing_subdir_is_an_error_naming_the_revision_and_the_path() {
    let (repo, _, _) = two_commits();
    assert_eq!(
        repo.error("HEAD~1", Some("policies/nope")),
        "no directory `policies/nope` at revision `HEAD~1`"
    );
    assert_eq!(
        repo.error("main", Some("nope/deeper")),
        "no directory `nope` at revision `main`"
    );
}

#[test]
fn a_subdir_that_is_a_file_or_leaves_the_repository_is_an_error() {
    let (repo, _, _) = two_commits();
    assert_eq!(
        repo.error("main", Some("policies/rings.yaml")),
        "`policies/rings.yaml` is not a directory at revision `main`"
    );
    assert_eq!(
        repo.error("main", Some("policies/shared")),
        "`policies/shared` is not a directory at revision `main`"
    );
    let message = repo.error("main", Some("../elsewhere"));
    assert!(
        message.starts_with("subdirectory ../elsewhere must be a relative path"),
        "{message}"
    );
}

#[test]
fn a_directory_that_is_not_a_repository_is_an_error() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let err = read_tree_at(dir.path(), "main", None).expect_err("no repository");
    let message = format!("{err:#}");
    assert!(
        message.starts_with(&format!("{} is not a git repository", dir.path().display())),
        "{message}"
    );
}

#[test]
fn a_directory_inside_a_working_tree_is_not_searched_upward() {
    let (repo, _, _) = two_commits();
    let inside = repo.path().join("policies");
    std::fs::create_dir(&inside).expect("mkdir");
    let err = read_tree_at(&inside, "main", None).expect_err("not the repository root");
    assert!(
        format!("{err:#}").starts_with(&format!("{} is not a git repository", inside.display())),
        "{err:#}"
    );
}
