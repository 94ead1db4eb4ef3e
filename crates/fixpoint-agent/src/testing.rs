//! Test support: a small HTTP server on loopback that answers with a
//! closure, and Debian root file systems with a real dpkg database, holding
//! packages built by `dpkg-deb` and installed by real `dpkg --root`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

/// An answer: status, extra header lines, body; `cut_after` closes the
/// connection after that many body bytes (a broken download).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub cut_after: Option<usize>,
}

impl Answer {
    pub fn json(status: u16, value: &serde_json::Value) -> Answer {
        Answer {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: value.to_string().into_bytes(),
            cut_after: None,
        }
    }

    /// `bytes`, honouring a `Range: bytes=N-` header as the Fixpoint server does.
    pub fn file(request: &Request, bytes: &[u8]) -> Answer {
        let start = request
            .headers
            .get("range")
            .and_then(|r| r.strip_prefix("bytes="))
            .and_then(|r| r.strip_suffix('-'))
            .and_then(|n| n.parse::<usize>().ok());
        match start {
            Some(s) if s >= bytes.len() => Answer {
                status: 416,
                headers: vec![("Content-Range".into(), format!("bytes */{}", bytes.len()))],
                body: Vec::new(),
                cut_after: None,
            },
            Some(s) => Answer {
                status: 206,
                headers: vec![(
                    "Content-Range".into(),
                    format!("bytes {s}-{}/{}", bytes.len() - 1, bytes.len()),
                )],
                body: bytes[s..].to_vec(),
                cut_after: None,
            },
            None => Answer {
                status: 200,
                headers: Vec::new(),
                body: bytes.to_vec(),
                cut_after: None,
            },
        }
    }
}

/// A one-thread HTTP/1.1 server on loopback; one request per connection.
pub struct HttpServer {
    pub base: String,
    pub received: Arc<Mutex<Vec<Request>>>,
}

impl HttpServer {
    pub fn start(answer: impl Fn(&Request) -> Answer + Send + 'static) -> HttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&received);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    continue;
                }
                let mut words = request_line.split_whitespace();
                let method = words.next().unwrap_or_default().to_owned();
                let path = words.next().unwrap_or_default().to_owned();
                let mut headers = BTreeMap::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).is_err() || line.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = line.split_once(':') {
                        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
                    }
                }
                let length = headers
                    .get("content-length")
                    .and_then(|l| l.parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_err() {
                    continue;
                }
                let request = Request {
                    method,
                    path,
                    headers,
                    body,
                };
                let a = answer(&request);
                log.lock().expect("log").push(request);
                let mut head = format!("HTTP/1.1 {} X\r\n", a.status);
                for (k, v) in &a.headers {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str(&format!(
                    "Content-Length: {}\r\nConnection: close\r\n\r\n",
                    a.body.len()
                ));
                let _ = stream.write_all(head.as_bytes());
                let sent = a.cut_after.unwrap_or(a.body.len()).min(a.body.len());
                let _ = stream.write_all(&a.body[..sent]);
            }
        });
        HttpServer { base, received }
    }

    pub fn paths(&self) -> Vec<String> {
        self.received
            .lock()
            .expect("log")
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A `.deb` built by `dpkg-deb`: a file under `/usr/share/<name>/`, and
/// optional maintainer scripts.
pub fn build_deb(
    dir: &Path,
    name: &str,
    version: &str,
    control_lines: Option<&str>,
    postinst: Option<&str>,
) -> Vec<u8> {
    let tree = dir.join(format!("build-{name}-{version}"));
    let debian = tree.join("DEBIAN");
    std::fs::create_dir_all(&debian).expect("mkdir DEBIAN");
    let share = tree.join("usr/share").join(name);
    std::fs::create_dir_all(&share).expect("mkdir share");
    std::fs::write(share.join("VERSION"), format!("{version}\n")).expect("payload");
    let mut control = format!(
        "Package: {name}\nVersion: {version}\nArchitecture: all\nMaintainer: Fixpoint tests <tests@example.invalid>\nDescription: a package built by the agent's tests\n"
    );
    if let Some(lines) = control_lines {
        control.push_str(lines.trim_end());
        control.push('\n');
    }
    std::fs::write(debian.join("control"), control).expect("control");
    if let Some(script) = postinst {
        let path = debian.join("postinst");
        std::fs::write(&path, script).expect("postinst");
        let mut perms = std::fs::metadata(&path).expect("stat").permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&path, perms).expect("chmod");
    }
    let out = dir.join(format!("{name}_{version}_all.deb"));
    let status = Command::new("dpkg-deb")
        .args(["--root-owner-group", "-Zgzip", "-b"])
        .arg(&tree)
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("dpkg-deb runs (scripts/install-test-deps installs dpkg)");
    assert!(status.success(), "dpkg-deb -b {}", tree.display());
    std::fs::read(&out).expect("read the .deb")
}

/// A Debian 12 root with an empty dpkg database.
pub struct DebianRoot {
    pub dir: tempfile::TempDir,
}

impl DebianRoot {
    pub fn new() -> DebianRoot {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        for d in [
            "var/lib/dpkg/info",
            "var/lib/dpkg/updates",
            "var/lib/dpkg/triggers",
            "etc",
            "run",
            "var/log",
        ] {
            std::fs::create_dir_all(root.join(d)).expect("mkdir");
        }
        std::fs::write(root.join("var/lib/dpkg/status"), "").expect("status");
        std::fs::write(root.join("var/lib/dpkg/available"), "").expect("available");
        std::fs::write(
            root.join("etc/os-release"),
            "ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n",
        )
        .expect("os-release");
        std::fs::write(root.join("etc/hostname"), "test1.corp.example\n").expect("hostname");
        DebianRoot { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Gives the root a `/bin/sh` (the host's dash and the libraries `ldd`
    /// names), so dpkg can run maintainer scripts chrooted into it.
    pub fn with_shell(self) -> DebianRoot {
        let dash = std::fs::canonicalize("/bin/sh").expect("the host has /bin/sh");
        let ldd = Command::new("ldd").arg(&dash).output().expect("ldd runs");
        let mut files = vec![dash.clone()];
        for line in String::from_utf8_lossy(&ldd.stdout).lines() {
            if let Some(path) = line.split_whitespace().find(|w| w.starts_with('/')) {
                files.push(PathBuf::from(path));
            }
        }
        for f in files {
            let inside = self.path().join(f.strip_prefix("/").expect("absolute"));
            std::fs::create_dir_all(inside.parent().expect("parent")).expect("mkdir");
            std::fs::copy(&f, &inside).expect("copy into the root");
        }
        let sh = self.path().join("bin/sh");
        std::fs::create_dir_all(sh.parent().expect("parent")).expect("mkdir");
        if !sh.exists() {
            std::os::unix::fs::symlink(&dash, &sh).expect("symlink /bin/sh");
        }
        self
    }

    /// Installs `deb` with real dpkg, as the machine's image would have it.
    pub fn dpkg_install(&self, deb: &[u8]) {
        let file = self.path().join("preinstalled.deb");
        std::fs::write(&file, deb).expect("write");
        let out = Command::new("dpkg")
            .arg(format!("--root={}", self.path().display()))
            .arg(format!(
                "--log={}",
                self.path().join("var/log/dpkg.log").display()
            ))
            .arg("--install")
            .arg(&file)
            .output()
            .expect("dpkg runs");
        assert!(
            out.status.success(),
            "dpkg --install: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::remove_file(&file).expect("rm");
    }

    /// The installed version per dpkg-query, the oracle.
    pub fn version_of(&self, package: &str) -> Option<String> {
        let out = Command::new("dpkg-query")
            .arg(format!(
                "--admindir={}",
                self.path().join("var/lib/dpkg").display()
            ))
            .args(["-W", "-f=${db:Status-Status} ${Version}", package])
            .output()
            .expect("dpkg-query runs");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.strip_prefix("installed ").map(str::to_owned)
    }

    /// How many times dpkg's log says it installed or upgraded `package`.
    pub fn installs_logged(&self, package: &str) -> usize {
        let log = std::fs::read_to_string(self.path().join("var/log/dpkg.log")).unwrap_or_default();
        log.lines()
            .filter(|l| {
                let words: Vec<&str> = l.split_whitespace().collect();
                words.len() > 3
                    && (words[2] == "install" || words[2] == "upgrade")
                    && words[3].split(':').next() == Some(package)
            })
            .count()
    }
}

pub fn data_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("data");
    (dir, path)
}
