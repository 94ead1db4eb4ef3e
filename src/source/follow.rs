//! Following a remote git repository: a bare mirror in the data directory,
//! fetched on every pass, read at the branch's commit.
//!
//! Only what libgit2 speaks without TLS here: local paths and `file://`, and
//! `git://`. HTTPS with a token and SSH with a key are the next step.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::{Revision, read_tree_at};

/// A branch of a remote repository, and where its policy lives in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitSource {
    /// The repository's URL or path.
    pub url: String,
    pub branch: String,
    /// The policy directory inside the repository; `None`: the root.
    pub path: Option<PathBuf>,
    /// The bare mirror, created on the first fetch.
    pub mirror: PathBuf,
}

impl GitSource {
    /// The remote-tracking reference the branch is fetched into.
    fn tracking_ref(&self) -> String {
        format!("refs/remotes/origin/{}", self.branch)
    }

    /// Fetches the branch into the mirror and reads its policy files. Blocking:
    /// call it from a blocking task.
    pub fn fetch(&self) -> anyhow::Result<Revision> {
        let repo = open_mirror(&self.mirror)?;
        let mut remote = match repo.find_remote("origin") {
            Ok(r) if r.url() == Some(self.url.as_str()) => r,
            Ok(_) => {
                repo.remote_set_url("origin", &self.url)?;
                repo.find_remote("origin")?
            }
            Err(_) => repo.remote("origin", &self.url)?,
        };
        let refspec = format!("+refs/heads/{}:{}", self.branch, self.tracking_ref());
        remote
            .fetch(&[refspec.as_str()], None, None)
            .with_context(|| format!("fetching branch `{}` of {}", self.branch, self.url))?;
        read_tree_at(&self.mirror, &self.tracking_ref(), self.path.as_deref())
    }
}

fn open_mirror(dir: &Path) -> anyhow::Result<git2::Repository> {
    if dir.join("HEAD").is_file() {
        return git2::Repository::open_bare(dir)
            .with_context(|| format!("opening the git mirror {}", dir.display()));
    }
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating the git mirror {}", dir.display()))?;
    git2::Repository::init_bare(dir)
        .with_context(|| format!("creating the git mirror {}", dir.display()))
}
