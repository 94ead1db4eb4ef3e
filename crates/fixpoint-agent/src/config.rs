//! The agent's configuration: one typed struct, every flag also an
//! environment variable (`FIXPOINT_AGENT_*`). Flags win over the environment,
//! which wins over the defaults.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

/// Fixpoint's agent: scans this machine, enrolls with a Fixpoint server once,
/// then checks in on the interval the server returns.
#[derive(Debug, Parser)]
#[command(name = "fixpoint-agent", version, about)]
pub struct Args {
    /// The Fixpoint server's base URL: `https://fixpoint.corp.example`.
    #[arg(long, env = "FIXPOINT_AGENT_SERVER", global = true)]
    pub server: Option<String>,

    /// The enrollment token, needed only for the first check-in (when the data
    /// directory holds no credential yet). Prefer --enrollment-token-file: a
    /// flag shows in the process list.
    #[arg(
        long,
        env = "FIXPOINT_AGENT_ENROLLMENT_TOKEN",
        hide_env_values = true,
        global = true,
        conflicts_with = "enrollment_token_file"
    )]
    pub enrollment_token: Option<String>,

    /// A file holding the enrollment token (surrounding white space is ignored).
    #[arg(long, env = "FIXPOINT_AGENT_ENROLLMENT_TOKEN_FILE", global = true)]
    pub enrollment_token_file: Option<PathBuf>,

    /// Where the agent keeps its identity (`agent.json`, readable by its owner
    /// only) and its lock.
    #[arg(
        long,
        env = "FIXPOINT_AGENT_DATA_DIR",
        default_value = "/var/lib/fixpoint-agent",
        global = true
    )]
    pub data_dir: PathBuf,

    /// PEM file of certificate authorities to trust for the server, besides
    /// the system's.
    #[arg(long, env = "FIXPOINT_AGENT_CA_FILE", global = true)]
    pub ca_file: Option<PathBuf>,

    /// Reach the server through this HTTP(S) proxy. Without it, the standard
    /// HTTPS_PROXY / HTTP_PROXY / NO_PROXY variables apply.
    #[arg(long, env = "FIXPOINT_AGENT_PROXY", global = true)]
    pub proxy: Option<String>,

    /// The root file system every scanner reads below: `/` for this machine,
    /// another directory for a container, an image or a test.
    #[arg(long, env = "FIXPOINT_AGENT_ROOT", default_value = "/", global = true)]
    pub root: PathBuf,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check in now, then again whenever the server says, until SIGTERM or Ctrl-C.
    Run,
    /// Check in once (enrolling first if needed), print a summary line, and exit.
    CheckIn,
    /// Scan the machine and print its facts and inventory as JSON; no server needed.
    Scan,
}

impl Args {
    /// The server URL, which every command but `scan` needs.
    pub fn server(&self) -> anyhow::Result<&str> {
        match self.server.as_deref() {
            Some(s) if !s.trim().is_empty() => Ok(s.trim_end_matches('/')),
            _ => bail!("no server: pass --server URL or set FIXPOINT_AGENT_SERVER"),
        }
    }

    /// The enrollment token, from the flag or the file.
    pub fn enrollment_token(&self) -> anyhow::Result<Option<String>> {
        if let Some(token) = &self.enrollment_token {
            return Ok(Some(token.trim().to_owned()));
        }
        let Some(path) = &self.enrollment_token_file else {
            return Ok(None);
        };
        read_token(path).map(Some)
    }
}

fn read_token(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the enrollment token from {}", path.display()))?;
    let token = text.trim();
    if token.is_empty() {
        bail!("the enrollment token file {} is empty", path.display());
    }
    Ok(token.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_come_after_or_before_the_subcommand() {
        let a = Args::try_parse_from([
            "fixpoint-agent",
            "check-in",
            "--server",
            "http://127.0.0.1:8080/",
            "--root",
            "/srv/root",
        ])
        .expect("parses");
        assert!(matches!(a.command, Command::CheckIn));
        assert_eq!(a.server().expect("server"), "http://127.0.0.1:8080");
        assert_eq!(a.root, Path::new("/srv/root"));
        assert_eq!(a.data_dir, Path::new("/var/lib/fixpoint-agent"));
    }

    #[test]
    fn a_token_and_a_token_file_conflict() {
        let a = Args::try_parse_from([
            "fixpoint-agent",
            "run",
            "--enrollment-token",
            "t",
            "--enrollment-token-file",
            "/f",
        ]);
        assert!(a.is_err());
    }

    #[test]
    fn the_token_file_is_trimmed_and_an_empty_one_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("token");
        std::fs::write(&file, "  abc\n").expect("write");
        assert_eq!(read_token(&file).expect("token"), "abc");
        std::fs::write(&file, "\n").expect("write");
        let e = read_token(&file).expect_err("empty");
        assert!(e.to_string().contains("is empty"), "{e}");
    }
}
