//! What the agent keeps in its data directory: `agent.json` (its identity and
//! the inventory hash the server last acknowledged), written atomically and
//! readable by its owner only, and `agent.lock`, held while an agent runs so
//! that a second one on the same directory stops at once.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use fixpoint_core::fleet::InventoryHash;
use serde::{Deserialize, Serialize};

const STATE_FILE: &str = "agent.json";
const LOCK_FILE: &str = "agent.lock";

/// `agent.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentState {
    pub agent_id: String,
    /// The bearer credential from enrollment; shown by the server only once.
    pub credential: String,
    /// The hash of the inventory the server last accepted in full (or as
    /// known): while the scan hashes the same, only the hash is sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_inventory: Option<InventoryHash>,
}

/// The data directory, locked for this process while the value lives.
#[derive(Debug)]
pub struct DataDir {
    path: PathBuf,
    /// Holds the exclusive lock; released when the file closes.
    _lock: File,
}

impl DataDir {
    /// Creates the directory (owner-only) if needed and takes its lock, or
    /// fails at once when another agent holds it.
    pub fn lock(path: &Path) -> anyhow::Result<DataDir> {
        create_private_dir(path)?;
        let lock_path = path.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .with_context(|| format!("opening the lock file {}", lock_path.display()))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => bail!(
                "another fixpoint-agent is running with the data directory {} (it holds {})",
                path.display(),
                lock_path.display()
            ),
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", lock_path.display()));
            }
        }
        Ok(DataDir {
            path: path.to_owned(),
            _lock: lock,
        })
    }

    pub fn state_path(&self) -> PathBuf {
        self.path.join(STATE_FILE)
    }

    /// The saved state; `None` before the first enrollment.
    pub fn load(&self) -> anyhow::Result<Option<AgentState>> {
        let path = self.state_path();
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let state = serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "{} is not a valid agent state (delete it to enroll again)",
                path.display()
            )
        })?;
        Ok(Some(state))
    }

    /// Replaces `agent.json` atomically (see [`DataDir::write_atomically`]).
    pub fn save(&self, state: &AgentState) -> anyhow::Result<()> {
        let mut json = serde_json::to_vec_pretty(state).context("serialising the agent state")?;
        json.push(b'\n');
        self.write_atomically(STATE_FILE, &json)
    }

    /// A file of the data directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Replaces the data directory's file `name` with `bytes`: a temporary
    /// file (mode 0600), synced, renamed over the old one, and the directory
    /// synced, so a crash leaves the old content or the new, never half of either.
    pub fn write_atomically(&self, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
        let path = self.path.join(name);
        let temporary = self.path.join(format!("{name}.tmp"));
        let write = || -> std::io::Result<()> {
            let mut options = OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&temporary)?;
            // The mode applies only to a file the open created: fix a stale one.
            #[cfg(unix)]
            file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
            file.write_all(bytes)?;
            file.sync_all()?;
            std::fs::rename(&temporary, &path)?;
            File::open(&self.path)?.sync_all()
        };
        write().with_context(|| format!("writing {}", path.display()))
    }
}

fn create_private_dir(path: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(path)
        .with_context(|| format!("creating the data directory {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> AgentState {
        AgentState {
            agent_id: "agent-1".into(),
            credential: "c".repeat(64),
            acknowledged_inventory: None,
        }
    }

    #[test]
    fn the_state_round_trips_and_is_readable_by_its_owner_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = DataDir::lock(&dir.path().join("data")).expect("lock");
        assert_eq!(data.load().expect("load"), None);
        let mut s = state();
        data.save(&s).expect("save");
        s.acknowledged_inventory = Some("0".repeat(64).parse().expect("hash"));
        data.save(&s).expect("save again");
        assert_eq!(data.load().expect("load"), Some(s));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(data.state_path())
                .expect("stat")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(!dir.path().join("data/agent.json.tmp").exists());
    }

    #[test]
    fn a_second_lock_on_the_same_directory_fails_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = DataDir::lock(dir.path()).expect("first");
        let e = DataDir::lock(dir.path()).expect_err("second");
        assert!(e.to_string().contains("another fixpoint-agent"), "{e}");
        drop(first);
        DataDir::lock(dir.path()).expect("free again");
    }

    #[test]
    fn a_corrupt_state_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = DataDir::lock(dir.path()).expect("lock");
        std::fs::write(data.state_path(), "{not json").expect("write");
        let e = format!("{:#}", data.load().expect_err("corrupt"));
        assert!(e.contains("agent.json"), "{e}");
    }
}
