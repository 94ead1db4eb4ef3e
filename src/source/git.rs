//! Policy files from a commit of a git repository, read from the object database with
//! libgit2: no checkout, no working tree, so any revision can be read while another is
//! served, and the files are exactly what was committed.
//!
//! [`read_tree_at`] resolves a revision (`main`, `v1.2`, `HEAD~1`, a short id,
//! `origin/main`) to a commit and lists its `.yaml`/`.yml` blobs with the semantics of
//! [`super::dir::read_tree`]: path order, hidden entries skipped, each blob cut one byte past
//! the size limit. What a directory walk would follow but a tree of objects cannot hold is
//! reported on the entry, never followed: a symbolic link is a blob holding its target's
//! path, and a submodule is the id of a commit in another repository.
//!
//! The repository is read as it is on disk; fetching a remote into a mirror first (HTTPS with a
//! token, SSH with a key, signed commits) is [`super::follow`]'s business.

use std::path::{Component, Path};

use anyhow::Context;
use fixpoint_core::policy;
use git2::{ErrorCode, Repository, Tree, TreeEntry};

use super::PolicyFile;

/// One commit's policy files, with what identifies the commit in status and logs.
#[derive(Debug)]
pub struct Revision {
    /// The commit's full hexadecimal id.
    pub commit: String,
    /// The first line of the commit message.
    pub summary: String,
    /// The commit's author, as `Name <email>`.
    pub author: String,
    /// When the commit was made (the committer's time: when it landed, which for a
    /// rebased or cherry-picked change is later than when it was written).
    pub time: jiff::Timestamp,
    /// Every `.yaml`/`.yml` file of the commit (below `subdir`, when given), in path order.
    pub files: Vec<PolicyFile>,
}

/// File modes of tree entries (git stores no others).
const MODE_TREE: i32 = 0o040_000;
const MODE_BLOB: i32 = 0o100_644;
const MODE_BLOB_GROUP_WRITABLE: i32 = 0o100_664;
const MODE_BLOB_EXECUTABLE: i32 = 0o100_755;
const MODE_LINK: i32 = 0o120_000;
const MODE_COMMIT: i32 = 0o160_000;

/// Reads the policy files of revision `rev` of the repository at `repo`.
///
/// `repo` is the repository itself: a working tree's top directory (holding `.git`) or a
/// bare repository; parent directories are not searched, so a path inside a working tree is
/// "not a git repository", and `subdir` is always relative to the repository root. `rev` is
/// anything `git rev-parse` takes that names a commit, or a tag of one.
///
/// Each [`PolicyFile::display`] is the path from the repository root (`policies/rings.yaml`),
/// also when `subdir` is given.
///
/// Fails when `repo` is not a repository, `rev` names nothing or no commit, or `subdir` is not
/// a directory in that commit; a file that cannot be read carries a `problem` instead.
pub fn read_tree_at(repo: &Path, rev: &str, subdir: Option<&Path>) -> anyhow::Result<Revision> {
    let repository = open(repo)?;
    let commit = resolve_commit(&repository, repo, rev)?;
    let root = commit
        .tree()
        .with_context(|| format!("cannot read the tree of commit {}", commit.id()))?;
    let (start, prefix) = match subdir {
        Some(subdir) => find_subdir(&repository, &root, subdir, rev)?,
        None => (root.clone(), Vec::new()),
    };
    let mut files = Vec::new();
    Walk {
        repository: &repository,
        root: &root,
        files: &mut files,
    }
    .tree(&start, &prefix)?;
    let time = commit.committer().when().seconds();
    Ok(Revision {
        commit: commit.id().to_string(),
        summary: String::from_utf8_lossy(commit.summary_bytes().unwrap_or_default()).into_owned(),
        author: {
            let author = commit.author();
            format!(
                "{} <{}>",
                String::from_utf8_lossy(author.name_bytes()),
                String::from_utf8_lossy(author.email_bytes()),
            )
        },
        time: jiff::Timestamp::from_second(time)
            .with_context(|| format!("commit {} has an impossible time {time}", commit.id()))?,
        files,
    })
}

fn open(repo: &Path) -> anyhow::Result<Repository> {
    // `Repository::open` takes the path as the repository (`.git` appended when present) and
    // does not search parent directories, nor read `GIT_DIR` and friends from the environment.
    Repository::open(repo).map_err(|e| {
        let what = if e.code() == ErrorCode::NotFound {
            format!("{} is not a git repository", repo.display())
        } else {
            format!("cannot open git repository {}", repo.display())
        };
        anyhow::Error::new(e).context(what)
    })
}

fn resolve_commit<'r>(
    repository: &'r Repository,
    repo: &Path,
    rev: &str,
) -> anyhow::Result<git2::Commit<'r>> {
    let object = repository.revparse_single(rev).map_err(|e| {
        let what = match e.code() {
            ErrorCode::NotFound | ErrorCode::UnbornBranch if has_no_references(repository) => {
                format!(
                    "unknown revision `{rev}`: git repository {} has no commits yet",
                    repo.display()
                )
            }
            ErrorCode::NotFound | ErrorCode::UnbornBranch => {
                format!(
                    "unknown revision `{rev}` in git repository {}",
                    repo.display()
                )
            }
            ErrorCode::Ambiguous => format!(
                "revision `{rev}` is ambiguous in git repository {}: give more of the id",
                repo.display()
            ),
            _ => format!(
                "cannot resolve revision `{rev}` in git repository {}",
                repo.display()
            ),
        };
        anyhow::Error::new(e).context(what)
    })?;
    // A tag is followed to what it tags; anything but a commit at the end is an error that
    // says what the revision does name.
    let mut target = object.clone();
    while let Some(tag) = target.as_tag() {
        match tag.target() {
            Ok(next) => target = next,
            Err(_) => break,
        }
    }
    match target.into_commit() {
        Ok(commit) => Ok(commit),
        Err(other) => {
            let kind = other.kind().map_or("object", |k| k.str());
            anyhow::bail!(
                "revision `{rev}` is a {kind} ({}), not a commit",
                other.id()
            )
        }
    }
}

/// Whether the repository has no branches or tags at all: then nothing can resolve, and
/// saying so beats "unknown revision `HEAD`". (libgit2's `is_empty` answers only for an
/// unborn `master`, whatever `init.defaultBranch` was.)
fn has_no_references(repository: &Repository) -> bool {
    repository
        .references()
        .is_ok_and(|mut references| references.next().is_none())
}

/// The tree at `subdir` of `root`, and its path from the root as components.
fn find_subdir<'r>(
    repository: &'r Repository,
    root: &Tree<'r>,
    subdir: &Path,
    rev: &str,
) -> anyhow::Result<(Tree<'r>, Vec<Vec<u8>>)> {
    let mut prefix = Vec::new();
    for component in subdir.components() {
        match component {
            Component::CurDir => {}
            Component::Normal(name) => prefix.push(name.as_encoded_bytes().to_vec()),
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => anyhow::bail!(
                "subdirectory {} must be a relative path inside the repository, without `..`",
                subdir.display()
            ),
        }
    }
    let mut tree = root.clone();
    for (depth, name) in prefix.iter().enumerate() {
        let so_far = join(&prefix[..=depth]);
        let Some((mode, id)) = tree.get_name_bytes(name).map(|e| (e.filemode(), e.id())) else {
            anyhow::bail!("no directory `{so_far}` at revision `{rev}`");
        };
        if mode != MODE_TREE {
            anyhow::bail!("`{so_far}` is not a directory at revision `{rev}`");
        }
        tree = repository
            .find_tree(id)
            .with_context(|| format!("cannot read directory `{so_far}` at revision `{rev}`"))?;
    }
    Ok((tree, prefix))
}

/// A depth-first walk collecting policy files; `root` is the commit's top tree, against
/// which symbolic link targets are resolved.
struct Walk<'a, 'r> {
    repository: &'r Repository,
    root: &'a Tree<'r>,
    files: &'a mut Vec<PolicyFile>,
}

impl Walk<'_, '_> {
    fn tree(&mut self, tree: &Tree<'_>, prefix: &[Vec<u8>]) -> anyhow::Result<()> {
        // Git orders a tree's entries as if directory names ended in `/` (`a.yaml` before
        // `a/`); the directory reader sorts plain names (`a/` before `a.yaml`). Sorting by
        // name here gives both readers the same path order.
        let mut entries: Vec<TreeEntry<'_>> = tree.iter().collect();
        entries.sort_by(|a, b| a.name_bytes().cmp(b.name_bytes()));
        for entry in entries {
            let name = entry.name_bytes();
            if name.starts_with(b".") {
                continue;
            }
            let mut path = prefix.to_vec();
            path.push(name.to_vec());
            self.entry(&entry, &path)?;
        }
        Ok(())
    }

    fn entry(&mut self, entry: &TreeEntry<'_>, path: &[Vec<u8>]) -> anyhow::Result<()> {
        let name = entry.name_bytes();
        let is_yaml = name.ends_with(b".yaml") || name.ends_with(b".yml");
        let display = join(path);
        match entry.filemode() {
            MODE_TREE => {
                let tree = self
                    .repository
                    .find_tree(entry.id())
                    .with_context(|| format!("cannot read directory `{display}`"))?;
                self.tree(&tree, path)?;
            }
            MODE_BLOB | MODE_BLOB_GROUP_WRITABLE | MODE_BLOB_EXECUTABLE => {
                if is_yaml {
                    let file = match read_blob(self.repository, entry.id()) {
                        Ok(bytes) => PolicyFile {
                            display,
                            bytes,
                            problem: None,
                        },
                        Err(e) => problem(display, format!("cannot read: {}", e.message())),
                    };
                    self.files.push(file);
                }
            }
            MODE_LINK => {
                // The directory reader follows links, so a link named like a policy file, or
                // one to a directory that may hold some, is reported: the commit's policy
                // would otherwise differ from the checkout's without a word.
                if is_yaml {
                    self.files.push(problem(
                        display,
                        "symbolic link in git tree; not followed".into(),
                    ));
                } else if self.links_to_directory(entry, path) {
                    self.files.push(problem(
                        display,
                        "symbolic link to a directory in git tree; not followed".into(),
                    ));
                }
            }
            MODE_COMMIT => self.files.push(problem(
                display,
                format!(
                    "submodule in git tree (commit {}); its files are not read",
                    entry.id()
                ),
            )),
            mode => {
                if is_yaml {
                    self.files.push(problem(
                        display,
                        format!("not a regular file (git mode {mode:o})"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Whether the link at `path` points, inside this commit, at a directory.
    fn links_to_directory(&self, entry: &TreeEntry<'_>, path: &[Vec<u8>]) -> bool {
        let Ok(blob) = self.repository.find_blob(entry.id()) else {
            return false;
        };
        let target = blob.content();
        if target.starts_with(b"/") {
            return false;
        }
        let mut resolved: Vec<&[u8]> = path[..path.len() - 1].iter().map(Vec::as_slice).collect();
        for part in target.split(|&b| b == b'/') {
            match part {
                b"" | b"." => {}
                b".." => {
                    if resolved.pop().is_none() {
                        return false;
                    }
                }
                name => resolved.push(name),
            }
        }
        let mut tree = self.root.clone();
        for name in resolved {
            let Some((mode, id)) = tree.get_name_bytes(name).map(|e| (e.filemode(), e.id())) else {
                return false;
            };
            if mode != MODE_TREE {
                return false;
            }
            match self.repository.find_tree(id) {
                Ok(t) => tree = t,
                Err(_) => return false,
            }
        }
        true
    }
}

/// A blob's bytes, cut one byte past the size limit so the loader reports it as too large.
/// libgit2 inflates an object whole (packed objects have no streaming reader), so a huge blob
/// is held once, briefly; what is kept is no more than the limit.
fn read_blob(repository: &Repository, id: git2::Oid) -> Result<Vec<u8>, git2::Error> {
    let blob = repository.find_blob(id)?;
    let content = blob.content();
    let keep = content
        .len()
        .min(policy::load::MAX_FILE_BYTES.saturating_add(1));
    Ok(content[..keep].to_vec())
}

fn problem(display: String, problem: String) -> PolicyFile {
    PolicyFile {
        display,
        bytes: Vec::new(),
        problem: Some(problem),
    }
}

/// A path from components, `/`-separated, with bytes that are not UTF-8 replaced.
fn join(path: &[Vec<u8>]) -> String {
    let parts: Vec<_> = path.iter().map(|p| String::from_utf8_lossy(p)).collect();
    parts.join("/")
}
