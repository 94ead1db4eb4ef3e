//! The agent's configuration: flags, each also an environment variable
//! (`FIXPOINT_AGENT_*`), over a YAML config file (`--config`, by default
//! `/etc/fixpoint/agent.yaml` when it exists), over the defaults. Resolved once
//! into [`Settings`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use serde::Deserialize;

/// Where the config file is looked for when `--config` is not given.
pub const DEFAULT_CONFIG: &str = "/etc/fixpoint/agent.yaml";
const DEFAULT_DATA_DIR: &str = "/var/lib/fixpoint-agent";
/// The reboot command when none is configured: the system's own, with the
/// rollout's grace in minutes, which warns logged-in users.
pub const DEFAULT_REBOOT_COMMAND: &str = "shutdown -r +\"$FIXPOINT_REBOOT_GRACE_MINUTES\" 'Fixpoint: restarting to finish installing updates'";

/// Fixpoint's agent: scans this machine, enrolls with a Fixpoint server once,
/// checks in on the interval the server returns, and carries out its
/// instructions in their windows.
#[derive(Debug, Parser)]
#[command(name = "fixpoint-agent", version, about)]
pub struct Args {
    /// A YAML config file (camelCase keys: server, enrollmentTokenFile,
    /// dataDir, caFile, proxy, root, labels, rebootCommand); flags and
    /// environment variables override it. Default: /etc/fixpoint/agent.yaml
    /// when it exists.
    #[arg(long, env = "FIXPOINT_AGENT_CONFIG", global = true)]
    pub config: Option<PathBuf>,

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
    /// only), its instructions, its journal, downloaded files and its lock.
    /// Default: /var/lib/fixpoint-agent.
    #[arg(long, env = "FIXPOINT_AGENT_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,

    /// PEM file of certificate authorities to trust for the server, besides
    /// the system's.
    #[arg(long, env = "FIXPOINT_AGENT_CA_FILE", global = true)]
    pub ca_file: Option<PathBuf>,

    /// Reach the server through this HTTP(S) proxy. Without it, the standard
    /// HTTPS_PROXY / HTTP_PROXY / NO_PROXY variables apply.
    #[arg(long, env = "FIXPOINT_AGENT_PROXY", global = true)]
    pub proxy: Option<String>,

    /// The root file system every scanner and installer works below: `/` for
    /// this machine, another directory for a container, an image or a test.
    #[arg(long, env = "FIXPOINT_AGENT_ROOT", global = true)]
    pub root: Option<PathBuf>,

    /// A label for policy selectors, `key=value`; repeat for more. Added to
    /// (and overriding) the config file's `labels`.
    #[arg(long = "label", value_name = "KEY=VALUE", global = true, value_parser = parse_label)]
    pub labels: Vec<(String, String)>,

    /// The command run (with `/bin/sh -c`) when an instruction's reboot mode
    /// asks for a restart; `$FIXPOINT_REBOOT_GRACE_SECONDS` and
    /// `$FIXPOINT_REBOOT_GRACE_MINUTES` hold the rollout's grace. Default:
    /// `shutdown -r +$FIXPOINT_REBOOT_GRACE_MINUTES ...`.
    #[arg(long, env = "FIXPOINT_AGENT_REBOOT_COMMAND", global = true)]
    pub reboot_command: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check in now and then whenever the server says; carry out instructions
    /// in their windows; until SIGTERM or Ctrl-C.
    Run,
    /// Check in once (enrolling first if needed), report journaled results,
    /// print a summary line, and exit. Carries out nothing.
    CheckIn,
    /// Scan the machine and print its facts and inventory as JSON; no server needed.
    Scan,
}

/// The config file's keys (all optional).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FileConfig {
    server: Option<String>,
    enrollment_token_file: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    ca_file: Option<PathBuf>,
    proxy: Option<String>,
    root: Option<PathBuf>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    reboot_command: Option<String>,
}

/// Where the enrollment token comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    None,
    Value(String),
    File(PathBuf),
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub server: Option<String>,
    pub enrollment_token: TokenSource,
    pub data_dir: PathBuf,
    pub ca_file: Option<PathBuf>,
    pub proxy: Option<String>,
    pub root: PathBuf,
    pub labels: BTreeMap<String, String>,
    pub reboot_command: String,
}

impl Settings {
    /// Flags and environment over the config file over the defaults. The
    /// default config file is read only when it exists; a named one must.
    pub fn resolve(args: &Args) -> anyhow::Result<Settings> {
        let file = match &args.config {
            Some(path) => read_config(path)?,
            None if Path::new(DEFAULT_CONFIG).is_file() => read_config(Path::new(DEFAULT_CONFIG))?,
            None => FileConfig::default(),
        };
        Settings::merge(args, file)
    }

    fn merge(args: &Args, file: FileConfig) -> anyhow::Result<Settings> {
        let enrollment_token = match (&args.enrollment_token, &args.enrollment_token_file) {
            (Some(token), _) => TokenSource::Value(token.trim().to_owned()),
            (None, Some(path)) => TokenSource::File(path.clone()),
            (None, None) => file
                .enrollment_token_file
                .map_or(TokenSource::None, TokenSource::File),
        };
        let mut labels = file.labels;
        labels.extend(args.labels.iter().cloned());
        for key in labels.keys() {
            if key.trim().is_empty() {
                bail!("a label needs a key: {key:?}");
            }
        }
        Ok(Settings {
            server: args.server.clone().or(file.server),
            enrollment_token,
            data_dir: args
                .data_dir
                .clone()
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            ca_file: args.ca_file.clone().or(file.ca_file),
            proxy: args.proxy.clone().or(file.proxy),
            root: args
                .root
                .clone()
                .or(file.root)
                .unwrap_or_else(|| PathBuf::from("/")),
            labels,
            reboot_command: args
                .reboot_command
                .clone()
                .or(file.reboot_command)
                .unwrap_or_else(|| DEFAULT_REBOOT_COMMAND.to_owned()),
        })
    }

    /// The server URL, which every command but `scan` needs.
    pub fn server(&self) -> anyhow::Result<&str> {
        match self.server.as_deref() {
            Some(s) if !s.trim().is_empty() => Ok(s.trim().trim_end_matches('/')),
            _ => bail!(
                "no server: pass --server URL, set FIXPOINT_AGENT_SERVER, or put `server:` in the config file"
            ),
        }
    }

    /// The enrollment token, from the flag or the file (read now, so a
    /// rotated file is picked up).
    pub fn enrollment_token(&self) -> anyhow::Result<Option<String>> {
        match &self.enrollment_token {
            TokenSource::None => Ok(None),
            TokenSource::Value(token) => Ok(Some(token.clone())),
            TokenSource::File(path) => read_token(path).map(Some),
        }
    }
}

fn parse_label(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!("expected KEY=VALUE, not {text:?}")),
    }
}

fn read_config(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file {}", path.display()))?;
    fixpoint_core::policy::de::from_config_text(&text).map_err(|e| match e.pos {
        Some(pos) => anyhow::anyhow!("{}:{}:{}: {e}", path.display(), pos.line, pos.column),
        None => anyhow::anyhow!("{}: {e}", path.display()),
    })
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

    fn settings(argv: &[&str], file: &str) -> anyhow::Result<Settings> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("agent.yaml");
        std::fs::write(&path, file).expect("write");
        let mut full = vec!["fixpoint-agent", "--config", path.to_str().expect("utf-8")];
        full.extend_from_slice(argv);
        Settings::resolve(&Args::try_parse_from(full).expect("parses"))
    }

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
        let s = Settings::merge(&a, FileConfig::default()).expect("settings");
        assert_eq!(s.server().expect("server"), "http://127.0.0.1:8080");
        assert_eq!(s.root, Path::new("/srv/root"));
        assert_eq!(s.data_dir, Path::new("/var/lib/fixpoint-agent"));
        assert_eq!(s.reboot_command, DEFAULT_REBOOT_COMMAND);
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

    #[test]
    fn the_config_file_sets_everything_and_flags_override_it() {
        let file = "server: https://fixpoint.corp.example\nenrollmentTokenFile: /etc/fixpoint/token\n\
                    dataDir: /srv/agent\nroot: /srv/root\nlabels: {role: web, site: fra1}\n\
                    rebootCommand: 'touch /tmp/rebooted'\nproxy: http://proxy:3128\n";
        let s = settings(&["run"], file).expect("settings");
        assert_eq!(s.server().expect("server"), "https://fixpoint.corp.example");
        assert_eq!(
            s.enrollment_token,
            TokenSource::File("/etc/fixpoint/token".into())
        );
        assert_eq!(s.data_dir, Path::new("/srv/agent"));
        assert_eq!(s.root, Path::new("/srv/root"));
        assert_eq!(s.proxy.as_deref(), Some("http://proxy:3128"));
        assert_eq!(s.reboot_command, "touch /tmp/rebooted");
        assert_eq!(s.labels.get("role").map(String::as_str), Some("web"));

        let s = settings(
            &[
                "run",
                "--server",
                "http://127.0.0.1:1",
                "--label",
                "role=db",
                "--label",
                "tier=1",
                "--enrollment-token",
                " secret ",
            ],
            file,
        )
        .expect("settings");
        assert_eq!(s.server().expect("server"), "http://127.0.0.1:1");
        assert_eq!(
            s.labels,
            BTreeMap::from([
                ("role".into(), "db".into()),
                ("site".into(), "fra1".into()),
                ("tier".into(), "1".into()),
            ])
        );
        assert_eq!(s.enrollment_token, TokenSource::Value("secret".into()));
    }

    #[test]
    fn a_misspelt_key_in_the_config_file_is_named_with_its_line() {
        let e = settings(&["run"], "server: http://x\nrebootComand: reboot\n")
            .expect_err("unknown key")
            .to_string();
        assert!(e.contains("agent.yaml:2:"), "{e}");
        assert!(e.contains("rebootComand"), "{e}");
        let e = settings(&["run"], "labels: [a, b]\n")
            .expect_err("wrong type")
            .to_string();
        assert!(e.contains("agent.yaml:1:"), "{e}");
    }

    #[test]
    fn a_named_config_file_must_exist() {
        let a = Args::try_parse_from([
            "fixpoint-agent",
            "--config",
            "/nonexistent/agent.yaml",
            "run",
        ])
        .expect("parses");
        let e = format!("{:#}", Settings::resolve(&a).expect_err("missing"));
        assert!(e.contains("/nonexistent/agent.yaml"), "{e}");
    }

    #[test]
    fn a_label_needs_a_key_and_an_equals_sign() {
        assert!(Args::try_parse_from(["fixpoint-agent", "--label", "role", "run"]).is_err());
        assert!(Args::try_parse_from(["fixpoint-agent", "--label", "=x", "run"]).is_err());
        let a = Args::try_parse_from(["fixpoint-agent", "--label", "note=a=b", "run"]).expect("ok");
        assert_eq!(a.labels, [("note".to_owned(), "a=b".to_owned())]);
    }
}
