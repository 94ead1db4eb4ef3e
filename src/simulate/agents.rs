//! The agents file: one JSON object a line, `{"id":…,"credential":…,"machine":n}`,
//! written by enrollment through the API or by `fixpoint simulate seed`, read by
//! later runs. It holds credentials, so it is created readable by its owner only.

use std::io::{BufRead, BufWriter, Write};
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// One virtual agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentRecord {
    /// The agent id the server gave (or the seed chose).
    pub id: String,
    /// Sent as `Authorization: Bearer`; the server stores only its SHA-256.
    pub credential: String,
    /// The machine number its facts and inventory derive from.
    pub machine: u64,
}

/// The hex SHA-256 of a credential: what the server stores and looks up.
pub use crate::server::credential_hash;

/// The agents of `path`, in file order; none when the file does not exist.
pub fn read(path: &Path) -> anyhow::Result<Vec<AgentRecord>> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("opening {}", path.display())),
    };
    let mut agents = Vec::new();
    for (n, line) in std::io::BufReader::with_capacity(1 << 20, file)
        .lines()
        .enumerate()
    {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let agent: AgentRecord = serde_json::from_str(&line)
            .with_context(|| format!("{}:{}: not an agent record", path.display(), n + 1))?;
        agents.push(agent);
    }
    Ok(agents)
}

/// Writes `agents` to `path`: appended, or replacing what is there.
pub fn write(path: &Path, agents: &[AgentRecord], append: bool) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true);
    if append {
        options.append(true);
    } else {
        options.write(true).truncate(true);
    }
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options
        .open(path)
        .with_context(|| format!("opening {} for writing", path.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    for agent in agents {
        serde_json::to_writer(&mut out, agent).context("an agent record serializes")?;
        out.write_all(b"\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    out.flush()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_written_are_read_back_in_order_and_appends_add_to_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("agents.jsonl");
        assert!(read(&path).expect("no file is no agents").is_empty());
        let agent = |n: u64| AgentRecord {
            id: format!("agent-{n}"),
            credential: format!("c{n}"),
            machine: n,
        };
        write(&path, &[agent(0), agent(1)], false).expect("write");
        write(&path, &[agent(2)], true).expect("append");
        assert_eq!(
            read(&path).expect("read"),
            vec![agent(0), agent(1), agent(2)]
        );
        write(&path, &[agent(9)], false).expect("replace");
        assert_eq!(read(&path).expect("read"), vec![agent(9)]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
            assert_eq!(mode & 0o077, 0, "{mode:o}");
        }
    }
}
