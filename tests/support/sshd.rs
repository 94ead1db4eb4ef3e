#![allow(dead_code)] // each test binary uses a part

//! A real OpenSSH server on a free loopback port, run as the current user with a generated
//! host key and authorized_keys file, so git can be fetched over SSH the way a git host
//! serves it (`git-upload-pack` run by the user's shell).

use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const SSHD: &str = "/usr/sbin/sshd";

/// A running sshd; killed when dropped.
pub struct Sshd {
    pub port: u16,
    /// The host's public key line (`ssh-ed25519 AAAA...`), for known_hosts files.
    pub host_key: String,
    /// The user to connect as (the one running the tests).
    pub user: String,
    child: Child,
    log: PathBuf,
}

/// `ssh-keygen -t ed25519` into `path` (and `path.pub`), with an optional passphrase;
/// returns the public key line.
pub fn keygen(path: &Path, passphrase: &str) -> String {
    let output = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-C",
            "fixpoint-test",
            "-N",
            passphrase,
            "-f",
        ])
        .arg(path)
        .output()
        .expect("run ssh-keygen");
    assert!(
        output.status.success(),
        "ssh-keygen failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let public = std::fs::read_to_string(path.with_extension("pub")).expect("read the public key");
    public.trim().to_owned()
}

impl Sshd {
    /// Starts sshd with its files in `dir`, accepting the given public keys.
    pub fn start(dir: &Path, authorized: &[&str]) -> Sshd {
        let host_key_path = dir.join("ssh_host_ed25519_key");
        let host_key = keygen(&host_key_path, "");
        let authorized_keys = dir.join("authorized_keys");
        std::fs::write(&authorized_keys, authorized.join("\n") + "\n")
            .expect("write authorized_keys");
        let user = current_user();
        // sshd refuses to start as root without its privilege separation directory, which
        // the service's unit creates on a real system and a fresh container lacks.
        if user == "root" {
            std::fs::create_dir_all("/run/sshd").expect("create /run/sshd");
        }
        let port = free_port();
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "ListenAddress 127.0.0.1\n\
                 HostKey {host}\n\
                 AuthorizedKeysFile {keys}\n\
                 AllowUsers {user}\n\
                 PubkeyAuthentication yes\n\
                 PasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\n\
                 PermitRootLogin prohibit-password\n\
                 UsePAM no\n\
                 StrictModes no\n\
                 PidFile none\n\
                 LogLevel VERBOSE\n",
                host = host_key_path.display(),
                keys = authorized_keys.display(),
            ),
        )
        .expect("write sshd_config");
        let log = dir.join("sshd.log");
        let child = Command::new(SSHD)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&config)
            .arg("-p")
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("create the sshd log"))
            .spawn()
            .expect("start sshd");
        let mut sshd = Sshd {
            port,
            host_key,
            user,
            child,
            log,
        };
        sshd.wait_until_ready();
        sshd
    }

    /// Waits for the SSH banner on the port, or fails with sshd's log.
    fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("sshd exited with {status}:\n{}", self.log());
            }
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut banner = [0u8; 4];
                if stream.read_exact(&mut banner).is_ok() && &banner == b"SSH-" {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "sshd did not answer on port {} within 20 s:\n{}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What sshd logged so far (it logs to stderr with `-e`).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `ssh://USER@127.0.0.1:PORT/PATH`
    pub fn url(&self, path: &Path) -> String {
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            self.user,
            self.port,
            path.display()
        )
    }

    /// A known_hosts line for this server.
    pub fn known_hosts_line(&self) -> String {
        format!("[127.0.0.1]:{} {}", self.port, self.host_key)
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn current_user() -> String {
    let output = Command::new("id").arg("-un").output().expect("run id -un");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A port that was free a moment ago (sshd binds it itself).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}
