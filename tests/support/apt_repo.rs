#![allow(dead_code)] // shared by integration tests; each uses a part

//! A real, signed APT repository made by the test: `.deb` files built with
//! `dpkg-deb`, a `Packages` index, a `Release` clearsigned by `gpg` into
//! `InRelease` with a key generated for the test, and the keyring to verify
//! it with. Served by a loopback HTTP server, it is what a vendor mirror is
//! to `fixpoint catalog sync` and to staging.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// A binary package in the repository.
#[derive(Debug, Clone)]
pub struct Deb {
    pub name: String,
    pub version: String,
    pub arch: String,
    /// The `.deb` file's bytes.
    pub bytes: Vec<u8>,
}

impl Deb {
    /// The pool path the index names, as Debian lays it out.
    pub fn filename(&self) -> String {
        let initial = &self.name[..1];
        format!(
            "pool/main/{initial}/{}/{}_{}_{}.deb",
            self.name, self.name, self.version, self.arch
        )
    }

    pub fn sha256(&self) -> String {
        hex(&Sha256::digest(&self.bytes))
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn run(command: &mut Command) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Builds a real `.deb` with `dpkg-deb` in `work`: a package that installs
/// one file, `/usr/share/doc/<name>/VERSION`, holding its version.
pub fn build_deb(work: &Path, name: &str, version: &str, arch: &str) -> Deb {
    let root = work.join(format!("{name}_{version}_{arch}"));
    let doc = root.join("usr/share/doc").join(name);
    std::fs::create_dir_all(&doc).expect("mkdir");
    std::fs::create_dir_all(root.join("DEBIAN")).expect("mkdir");
    std::fs::write(doc.join("VERSION"), format!("{version}\n")).expect("write");
    std::fs::write(
        root.join("DEBIAN/control"),
        format!(
            "Package: {name}\nVersion: {version}\nArchitecture: {arch}\n\
             Maintainer: Fixpoint Tests <tests@fixpoint.invalid>\n\
             Description: a package built by Fixpoint's tests\n"
        ),
    )
    .expect("write control");
    let deb = work.join(format!("{name}_{version}_{arch}.deb"));
    run(Command::new("dpkg-deb")
        .args(["--root-owner-group", "--build"])
        .arg(&root)
        .arg(&deb));
    Deb {
        name: name.into(),
        version: version.into(),
        arch: arch.into(),
        bytes: std::fs::read(&deb).expect("the built .deb"),
    }
}

/// A signed repository: every file by its path from the repository root,
/// and the keyring that verifies `InRelease`.
#[derive(Debug)]
pub struct Repo {
    pub files: Vec<(String, Vec<u8>)>,
    pub keyring: PathBuf,
}

/// An RFC 2822 date in UTC, as `Release` files carry them.
fn rfc2822(t: jiff::Timestamp) -> String {
    t.strftime("%a, %d %b %Y %H:%M:%S UTC").to_string()
}

/// Makes the repository for `suite` (Debian 12, component `main`, amd64) with
/// `debs`, dated `date` and valid for a week, signed by a key generated in
/// `work` (so every test has its own).
pub fn signed_repo(work: &Path, suite: &str, debs: &[Deb], date: jiff::Timestamp) -> Repo {
    let mut packages = String::new();
    for d in debs {
        let _ = write!(
            packages,
            "Package: {}\nVersion: {}\nArchitecture: {}\n\
             Maintainer: Fixpoint Tests <tests@fixpoint.invalid>\nInstalled-Size: 1\n\
             Filename: {}\nSize: {}\nSHA256: {}\nDescription: a package built by Fixpoint's tests\n\n",
            d.name,
            d.version,
            d.arch,
            d.filename(),
            d.bytes.len(),
            d.sha256()
        );
    }
    let index = packages.into_bytes();
    let valid_until = date
        .checked_add(jiff::SignedDuration::from_hours(7 * 24))
        .expect("a week later");
    let release = format!(
        "Origin: Debian\nLabel: Fixpoint-Test\nSuite: {suite}\nCodename: {suite}\nVersion: 12\n\
         Date: {}\nValid-Until: {}\nArchitectures: amd64\nComponents: main\n\
         Description: a repository made by Fixpoint's tests\nSHA256:\n {} {} main/binary-amd64/Packages\n",
        rfc2822(date),
        rfc2822(valid_until),
        hex(&Sha256::digest(&index)),
        index.len()
    );
    let home = work.join("gnupg");
    std::fs::create_dir_all(&home).expect("mkdir");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    }
    let gpg = || {
        let mut c = Command::new("gpg");
        c.arg("--homedir").arg(&home).args(["--batch", "--quiet"]);
        c
    };
    run(gpg().args([
        "--pinentry-mode",
        "loopback",
        "--passphrase",
        "",
        "--quick-gen-key",
        "Fixpoint Test Archive <archive@fixpoint.invalid>",
        "rsa3072",
        "sign",
        "1y",
    ]));
    let release_path = work.join("Release");
    std::fs::write(&release_path, &release).expect("write Release");
    let inrelease = work.join("InRelease");
    run(gpg()
        .args([
            "--yes",
            "--digest-algo",
            "SHA256",
            "--clearsign",
            "--output",
        ])
        .arg(&inrelease)
        .arg(&release_path));
    let keyring = work.join("archive-keyring.gpg");
    run(gpg().arg("--output").arg(&keyring).arg("--export"));
    let mut files = vec![
        (
            format!("dists/{suite}/InRelease"),
            std::fs::read(&inrelease).expect("InRelease"),
        ),
        (format!("dists/{suite}/main/binary-amd64/Packages"), index),
    ];
    for d in debs {
        files.push((d.filename(), d.bytes.clone()));
    }
    Repo { files, keyring }
}
