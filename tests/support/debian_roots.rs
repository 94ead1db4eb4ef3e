#![allow(dead_code)] // shared by integration tests; each uses a part

//! Real Debian bookworm root filesystems for end-to-end tests: one root prepared with
//! `debootstrap` from this machine's own mirrors and cached for the day, and cheap
//! per-machine clones of it made with overlayfs, in which apt and dpkg run for real.
//!
//! # API
//!
//! ```text
//! pub struct Mirrors { pub debian: String, pub security: String }
//! pub fn mirrors() -> Mirrors                     // this machine's, or a clear panic
//! pub fn mirrors_in(etc_apt: &Path) -> Result<Mirrors, String>
//! pub struct Source { pub uris: Vec<String>, pub suites: Vec<String> }
//! pub fn parse_one_line(text: &str) -> Vec<Source>  // sources.list format
//! pub fn parse_deb822(text: &str) -> Vec<Source>    // *.sources format
//!
//! pub const SUITE, SECURITY_SUITE, VARIANT: &str;
//! pub const INCLUDE: &[&str];           // debootstrap --include
//! pub const REMOVABLE_PACKAGE: &str;    // nothing installed depends on it
//!
//! pub fn bookworm() -> &'static PreparedRoot      // once per process (OnceLock)
//! pub fn prepare() -> PreparedRoot                // reuse the cached root or build it
//! impl PreparedRoot {
//!     pub fn path(&self) -> &Path                 // the root filesystem
//!     pub fn key(&self) -> &str                   // its cache directory's name
//!     pub fn marker(&self) -> PathBuf             // written once, when it was built
//!     pub fn built_now(&self) -> bool             // built by this call, not reused
//!     pub fn arch(&self) -> &str                  // dpkg's name: amd64
//!     pub fn mirrors(&self) -> &Mirrors           // what its sources point at
//!     pub fn refresh(&self)                       // apt-get update in it (once a process)
//!     pub fn clone_machine(&self, dir: &Path, hostname: &str) -> Machine
//! }
//!
//! pub struct Machine { pub root: PathBuf, pub hostname: String, .. } // unmounts on drop
//! impl Machine {
//!     pub fn security_upgradable(&self) -> Vec<(String, String, String)> // name, arch, candidate
//!     pub fn installed_version(&self, package: &str) -> Option<String>  // dpkg-query --admindir
//!     pub fn chroot(&self, args: &[&str]) -> String                     // stdout, or a panic
//!     pub fn download(&self, package: &str, version: &str) -> PathBuf   // apt-get download
//!     pub fn install_deb(&self, deb: &Path)                             // dpkg --root -i
//!     pub fn remove_package(&self, package: &str)                       // dpkg --root --remove
//! }
//! pub fn mounts_under(dir: &Path) -> Vec<PathBuf>  // per /proc/mounts
//! pub fn overlays_on(dir: &Path) -> Vec<PathBuf>   // overlays with a lowerdir in dir
//! pub fn require_root()                            // panics unless euid 0
//! pub fn run(command: &mut Command, timeout: Duration) -> String // stdout, or a clear panic
//! ```
//!
//! # The prepared root
//!
//! `debootstrap --variant=minbase --include=INCLUDE bookworm` from `mirrors().debian`, then:
//! deb822 sources for `bookworm` and `bookworm-security` (main) on this machine's mirrors,
//! signed by the Debian archive keyring that debootstrap installs; apt's binary caches off
//! and downloaded `.deb`s not kept; timeouts on apt's downloads; a `policy-rc.d` that forbids
//! starting services; `/etc/hostname` left for each clone to set; `apt-get update` run.
//!
//! It is cached outside the repository, under `$FIXPOINT_DEBIAN_CACHE` or
//! `/var/tmp/fixpoint-debian-roots/`, in a directory named by its key
//! (`bookworm-minbase-amd64-20261203-i<include hash>-m<mirror hash>`): suite, variant,
//! architecture, the UTC date (a new day builds a new root, so fresh installs keep lagging
//! the security suite realistically), a hash of the include list and of this file's
//! preparation recipe ([`RECIPE`]), and a hash of the mirror URLs. It is built in a
//! `<key>.partial-<pid>` directory beside its place and renamed when complete, so a killed
//! build never leaves a root that looks ready, all under an exclusive `flock` on
//! `<cache>/.lock`, so concurrent test processes build it once. Then the cache directories of
//! other keys for the same suite, variant and architecture are deleted, except one still in
//! use by a mount (another process's clone of yesterday's root).
//!
//! # Clones
//!
//! A [`Machine`] is an overlay mount: lowerdir = the prepared root, upperdir and workdir under
//! the caller's directory, so writes in a clone never reach the prepared root nor another
//! clone. Inside it: `/proc`, and a `/dev` of its own (a small tmpfs with the usual device
//! nodes and a private devpts instance) — never a bind mount of the host's `/dev`, so even a
//! leaked mount cannot lead a later `remove_dir_all` into the host's device nodes. Dropping the
//! machine unmounts everything under its root (lazily when busy), also while a test panics.
//! Drop the machine before removing its directory (declare the `TempDir` first).
//!
//! Everything here needs root (mount, chroot, mknod) and panics with a clear message
//! otherwise; every external command runs with a timeout and fails with its stderr.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{ErrorKind, Read};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// The suite every prepared root is made of.
pub const SUITE: &str = "bookworm";
/// Its security suite, which the clones' upgrade judge keeps to.
pub const SECURITY_SUITE: &str = "bookworm-security";
/// debootstrap's variant: only Essential packages and apt.
pub const VARIANT: &str = "minbase";

/// Packages added to minbase (`--include`). debootstrap installs the point release from
/// `bookworm` alone, so every one of these whose security suite has a newer version is an
/// upgrade waiting in the prepared root. Chosen small, common, and with maintainer scripts that
/// need no running service; the test never assumes which of them are upgradable: it asks apt.
///
/// Seen on 2026-12-03 with this list: 19 security upgrades pending — the minbase ones (apt,
/// libapt-pkg6.0, liblzma5, libpam-modules, libpam-modules-bin, libpam-runtime, libpam0g,
/// libpcre2-8-0, libzstd1, perl-base, tzdata, zlib1g) and from this list ca-certificates,
/// libexpat1, libpng16-16, libssl3, openssl, unzip, xz-utils. `less` (REMOVABLE_PACKAGE) had
/// none.
pub const INCLUDE: &[&str] = &[
    "ca-certificates",
    "less",
    "libexpat1",
    "libpng16-16",
    "openssl",
    "unzip",
    "xz-utils",
];

/// A package in [`INCLUDE`] that nothing installed depends on (`apt-cache rdepends
/// --installed` lists no reverse dependency), so a test may `dpkg --remove` it.
pub const REMOVABLE_PACKAGE: &str = "less";

/// The version of the preparation recipe below, part of the cache key: bump it when a change
/// here should not reuse roots prepared by the old code.
pub const RECIPE: u32 = 1;

/// The cache directory when `$FIXPOINT_DEBIAN_CACHE` is unset.
pub const DEFAULT_CACHE: &str = "/var/tmp/fixpoint-debian-roots";

/// The Debian archive keyring on this machine, which debootstrap verifies the suite with (the
/// prepared root gets its own copy from the `debian-archive-keyring` package).
const HOST_KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// Network steps: a whole debootstrap, one `apt-get update`, one download.
const DEBOOTSTRAP_TIMEOUT: Duration = Duration::from_secs(15 * 60);
const APT_NETWORK_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// Local steps: mount, dpkg, apt-cache.
const LOCAL_TIMEOUT: Duration = Duration::from_secs(2 * 60);

/// The environment commands run with (the test's own is cleared: no cargo variables, no
/// locale that would translate apt's output).
const ENV: &[(&str, &str)] = &[
    (
        "PATH",
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    ),
    ("LC_ALL", "C"),
    ("HOME", "/root"),
    ("DEBIAN_FRONTEND", "noninteractive"),
];

/// apt's settings in the prepared root (and so in every clone).
const APT_CONF: &str = "\
// Written by fixpoint's tests/support/debian_roots.rs.
// No binary caches: each clone would otherwise write its own copy into its upper layer.
Dir::Cache::pkgcache \"\";
Dir::Cache::srcpkgcache \"\";
// Downloaded packages are deleted once installed.
APT::Keep-Downloaded-Packages \"false\";
Binary::apt::APT::Keep-Downloaded-Packages \"false\";
Acquire::Languages \"none\";
// A mirror that stops answering fails the step instead of hanging it.
Acquire::http::Timeout \"30\";
Acquire::https::Timeout \"30\";
Acquire::Retries \"2\";
";

/// Forbids maintainer scripts to start services (invoke-rc.d asks it; 101 = action forbidden).
const POLICY_RC_D: &str =
    "#!/bin/sh\n# Written by fixpoint's tests: no services in test roots.\nexit 101\n";

// ---------------------------------------------------------------------------
// Mirrors.

/// This machine's Debian mirrors: the URI serving [`SUITE`] and the one serving
/// [`SECURITY_SUITE`], as its apt sources name them (trailing `/` removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirrors {
    pub debian: String,
    pub security: String,
}

/// One enabled `deb` source, reduced to what [`mirrors`] needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub uris: Vec<String>,
    pub suites: Vec<String>,
}

/// This machine's mirrors, read from `/etc/apt/sources.list`, `/etc/apt/sources.list.d/*.list`
/// and `/etc/apt/sources.list.d/*.sources`; panics saying what was looked for when either is
/// missing.
pub fn mirrors() -> Mirrors {
    mirrors_in(Path::new("/etc/apt")).unwrap_or_else(|e| panic!("this machine's mirrors: {e}"))
}

/// The mirrors configured under `etc_apt` (a directory laid out like `/etc/apt`).
pub fn mirrors_in(etc_apt: &Path) -> Result<Mirrors, String> {
    let mut sources = Vec::new();
    let mut read = Vec::new();
    let list = etc_apt.join("sources.list");
    if let Ok(text) = fs::read_to_string(&list) {
        sources.extend(parse_one_line(&text));
        read.push(list);
    }
    let dir = etc_apt.join("sources.list.d");
    let mut files: Vec<PathBuf> = match fs::read_dir(&dir) {
        Ok(entries) => entries.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    for file in files {
        let parse = match file.extension().and_then(|e| e.to_str()) {
            Some("list") => parse_one_line,
            Some("sources") => parse_deb822,
            _ => continue,
        };
        let text = fs::read_to_string(&file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        sources.extend(parse(&text));
        read.push(file);
    }
    let serving = |suite: &str| {
        sources
            .iter()
            .find(|s| s.suites.iter().any(|s| s == suite))
            .and_then(|s| s.uris.first())
            .map(|uri| uri.trim_end_matches('/').to_owned())
            .ok_or_else(|| {
                format!(
                    "no enabled `deb` source serves `{suite}` in {}",
                    if read.is_empty() {
                        format!("{} (no sources files found)", etc_apt.display())
                    } else {
                        read.iter()
                            .map(|p| p.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                )
            })
    };
    Ok(Mirrors {
        debian: serving(SUITE)?,
        security: serving(SECURITY_SUITE)?,
    })
}

/// The `deb` lines of a `sources.list` (one-line format): `deb [options] URI SUITE
/// COMPONENT...`; comments (`#` to the end of the line) and `deb-src` lines are skipped.
pub fn parse_one_line(text: &str) -> Vec<Source> {
    let mut sources = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default();
        let mut words = line.split_whitespace();
        if words.next() != Some("deb") {
            continue;
        }
        let mut rest: Vec<&str> = words.collect();
        if rest.first().is_some_and(|w| w.starts_with('[')) {
            // Options: `[arch=amd64 signed-by=/k.gpg]` or `[ arch=amd64 ]`, up to the `]`.
            let end = rest.iter().position(|w| w.ends_with(']'));
            match end {
                Some(end) => {
                    rest.drain(..=end);
                }
                None => continue,
            }
        }
        if let [uri, suite, ..] = rest[..] {
            sources.push(Source {
                uris: vec![uri.to_owned()],
                suites: vec![suite.to_owned()],
            });
        }
    }
    sources
}

/// The stanzas of a deb822 `.sources` file whose `Types` include `deb` and that are not
/// `Enabled: no`. Field names are case-insensitive; `#` lines are comments; a line starting
/// with a space or tab continues the field before it.
pub fn parse_deb822(text: &str) -> Vec<Source> {
    let mut sources = Vec::new();
    let mut stanza: BTreeMap<String, String> = BTreeMap::new();
    let mut last: Option<String> = None;
    let mut finish = |stanza: &mut BTreeMap<String, String>| {
        let field = |name: &str| -> Vec<String> {
            stanza
                .get(name)
                .map(|v| v.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default()
        };
        let enabled = stanza
            .get("enabled")
            .is_none_or(|v| !v.trim().eq_ignore_ascii_case("no"));
        if enabled && field("types").iter().any(|t| t == "deb") {
            sources.push(Source {
                uris: field("uris"),
                suites: field("suites"),
            });
        }
        stanza.clear();
    };
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        if line.trim().is_empty() {
            finish(&mut stanza);
            last = None;
        } else if line.starts_with([' ', '\t']) {
            if let Some(value) = last.as_ref().and_then(|name| stanza.get_mut(name)) {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            let name = name.trim().to_ascii_lowercase();
            stanza.insert(name.clone(), value.trim().to_owned());
            last = Some(name);
        }
    }
    finish(&mut stanza);
    sources
}

// ---------------------------------------------------------------------------
// The prepared root.

/// A bookworm root filesystem prepared once (see the module documentation) and shared, read
/// only, by the [`Machine`]s cloned from it.
#[derive(Debug)]
pub struct PreparedRoot {
    key: String,
    /// `<cache>/<key>`: holds `root/`, the `ready` marker and `key.txt`.
    dir: PathBuf,
    root: PathBuf,
    cache: PathBuf,
    arch: String,
    mirrors: Mirrors,
    built_now: bool,
    refreshed: OnceLock<()>,
}

/// The prepared bookworm root, made ready (reused or built) once per process.
pub fn bookworm() -> &'static PreparedRoot {
    static ROOT: OnceLock<PreparedRoot> = OnceLock::new();
    ROOT.get_or_init(prepare)
}

/// Reuses today's cached bookworm root or builds it, under the cache's lock; then deletes the
/// cache directories of other keys. Most callers want [`bookworm`].
pub fn prepare() -> PreparedRoot {
    require_root();
    let mirrors = mirrors();
    let arch = run(
        Command::new("dpkg").arg("--print-architecture"),
        LOCAL_TIMEOUT,
    )
    .trim()
    .to_owned();
    let cache = std::env::var_os("FIXPOINT_DEBIAN_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CACHE));
    fs::create_dir_all(&cache)
        .unwrap_or_else(|e| panic!("create the root cache {}: {e}", cache.display()));
    let cache = cache
        .canonicalize()
        .unwrap_or_else(|e| panic!("resolve the root cache {}: {e}", cache.display()));
    let key = cache_key(&arch, &mirrors, &utc_date());
    let dir = cache.join(&key);
    let mut prepared = PreparedRoot {
        root: dir.join("root"),
        key,
        dir,
        cache,
        arch,
        mirrors,
        built_now: false,
        refreshed: OnceLock::new(),
    };
    let lock = prepared.lock(DEBOOTSTRAP_TIMEOUT + Duration::from_secs(60));
    if !prepared.marker().is_file() {
        prepared.build();
        prepared.built_now = true;
    }
    prepared.delete_other_keys();
    drop(lock);
    prepared
}

/// `bookworm-minbase-amd64-20261203-i<8 hex>-m<8 hex>`: the include list and recipe hashed
/// together, the two mirror URLs hashed together.
fn cache_key(arch: &str, mirrors: &Mirrors, date: &str) -> String {
    let include = short_hash(&format!("recipe {RECIPE}\n{}", INCLUDE.join(",")));
    let mirror = short_hash(&format!("{}\n{}", mirrors.debian, mirrors.security));
    format!("{SUITE}-{VARIANT}-{arch}-{date}-i{include}-m{mirror}")
}

fn short_hash(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .take(4)
        .fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Today in UTC, `YYYYMMDD`.
fn utc_date() -> String {
    // A timestamp has no time zone: it formats in UTC.
    jiff::Timestamp::now().strftime("%Y%m%d").to_string()
}

impl PreparedRoot {
    /// The root filesystem (read only by convention: only [`PreparedRoot::refresh`] writes it).
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The name of its cache directory (see the module documentation).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// A file written once, as the last step of the build: a reused root keeps its inode and
    /// modification time.
    pub fn marker(&self) -> PathBuf {
        self.dir.join("ready")
    }

    /// Whether this call built the root (rather than finding it in the cache).
    pub fn built_now(&self) -> bool {
        self.built_now
    }

    /// The architecture it was built for (dpkg's name, e.g. `amd64`).
    pub fn arch(&self) -> &str {
        &self.arch
    }

    /// The mirrors its sources point at.
    pub fn mirrors(&self) -> &Mirrors {
        &self.mirrors
    }

    /// Refreshes apt's lists in the prepared root (`apt-get update` chrooted into it), so that
    /// clones made afterwards judge upgrades against the mirrors as they are now. Call it before
    /// cloning. It runs at most once per process (a root this process just built is already
    /// fresh), under the cache's lock; when another process has clones of the root mounted, the
    /// lists are left as they are (overlayfs forbids changing a mounted lowerdir) and a notice
    /// is printed.
    pub fn refresh(&self) {
        self.refreshed.get_or_init(|| {
            if self.built_now {
                return;
            }
            let _lock = self.lock(APT_NETWORK_TIMEOUT + Duration::from_secs(60));
            let users = overlays_on(&self.root);
            if !users.is_empty() {
                eprintln!(
                    "debian_roots: not refreshing {}: clones are mounted on it at {users:?}",
                    self.root.display()
                );
                return;
            }
            let started = Instant::now();
            copy_resolv_conf(&self.root);
            apt_get_update(&self.root);
            eprintln!(
                "debian_roots: refreshed apt's lists in {} in {:.1?}",
                self.key,
                started.elapsed()
            );
        });
    }

    /// A clone of the root for one machine, mounted at `dir/root` (overlay: lowerdir = the
    /// prepared root, upperdir `dir/upper`, workdir `dir/work`), with `/etc/hostname` (and
    /// `/etc/hosts`) naming `hostname`, the host's `/etc/resolv.conf`, `/proc`, and a `/dev`
    /// of its own. Dropping the [`Machine`] unmounts it all.
    pub fn clone_machine(&self, dir: &Path, hostname: &str) -> Machine {
        require_root();
        assert!(
            !hostname.is_empty()
                && hostname
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'),
            "clone_machine: {hostname:?} is not a host name"
        );
        fs::create_dir_all(dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        let dir = dir
            .canonicalize()
            .unwrap_or_else(|e| panic!("resolve {}: {e}", dir.display()));
        for path in [&dir, &self.root] {
            let text = path.to_string_lossy();
            assert!(
                !text.contains([',', ':', ' ', '\\']),
                "overlay mount options cannot name {text:?} (',', ':', ' ' or '\\')"
            );
        }
        let root = dir.join("root");
        let upper = dir.join("upper");
        let work = dir.join("work");
        for d in [&root, &upper, &work] {
            fs::create_dir(d).unwrap_or_else(|e| {
                panic!(
                    "create {} (a fresh directory per machine): {e}",
                    d.display()
                )
            });
        }
        // From here on, dropping `machine` (also while panicking) unmounts whatever was mounted.
        let machine = Machine {
            root,
            hostname: hostname.to_owned(),
            arch: self.arch.clone(),
        };
        {
            // Not while another process refreshes the lowerdir.
            let _shared = self.lock_shared(APT_NETWORK_TIMEOUT + Duration::from_secs(60));
            mount(&[
                "-t",
                "overlay",
                "overlay",
                "-o",
                &format!(
                    "lowerdir={},upperdir={},workdir={}",
                    self.root.display(),
                    upper.display(),
                    work.display()
                ),
                &machine.root.to_string_lossy(),
            ]);
        }
        let at = |p: &str| machine.root.join(p).to_string_lossy().into_owned();
        mount(&[
            "-t",
            "proc",
            "-o",
            "nosuid,nodev,noexec",
            "proc",
            &at("proc"),
        ]);
        mount(&[
            "-t",
            "tmpfs",
            "-o",
            "nosuid,mode=0755,size=4m",
            "tmpfs",
            &at("dev"),
        ]);
        for (name, major, minor) in [
            ("null", 1, 3),
            ("zero", 1, 5),
            ("full", 1, 7),
            ("random", 1, 8),
            ("urandom", 1, 9),
            ("tty", 5, 0),
        ] {
            run(
                Command::new("mknod").args([
                    "-m",
                    "0666",
                    &at(&format!("dev/{name}")),
                    "c",
                    &major.to_string(),
                    &minor.to_string(),
                ]),
                LOCAL_TIMEOUT,
            );
        }
        for (link, target) in [
            ("dev/fd", "/proc/self/fd"),
            ("dev/stdin", "/proc/self/fd/0"),
            ("dev/stdout", "/proc/self/fd/1"),
            ("dev/stderr", "/proc/self/fd/2"),
            ("dev/ptmx", "pts/ptmx"),
        ] {
            std::os::unix::fs::symlink(target, machine.root.join(link))
                .unwrap_or_else(|e| panic!("symlink {link} -> {target}: {e}"));
        }
        for d in ["dev/pts", "dev/shm"] {
            fs::create_dir(machine.root.join(d)).unwrap_or_else(|e| panic!("mkdir {d}: {e}"));
        }
        fs::set_permissions(
            machine.root.join("dev/shm"),
            fs::Permissions::from_mode(0o1777),
        )
        .expect("chmod dev/shm 1777");
        mount(&[
            "-t",
            "devpts",
            "-o",
            "newinstance,ptmxmode=0666,mode=0620",
            "devpts",
            &at("dev/pts"),
        ]);
        write(&machine.root.join("etc/hostname"), &format!("{hostname}\n"));
        write(
            &machine.root.join("etc/hosts"),
            &format!(
                "127.0.0.1\tlocalhost\n127.0.1.1\t{hostname}\n\
                 ::1\tlocalhost ip6-localhost ip6-loopback\n"
            ),
        );
        copy_resolv_conf(&machine.root);
        machine
    }

    /// Builds the root into `<key>.partial-<pid>` and renames it into place; the caller holds
    /// the exclusive lock.
    fn build(&self) {
        let partial = self
            .cache
            .join(format!("{}.partial-{}", self.key, std::process::id()));
        // Left by an earlier process with this pid, if any.
        delete_stale(&partial);
        fs::create_dir(&partial).unwrap_or_else(|e| panic!("create {}: {e}", partial.display()));
        let root = partial.join("root");
        let started = Instant::now();
        eprintln!(
            "debian_roots: building {} (debootstrap --variant={VARIANT}, about a minute)",
            self.key
        );
        run(
            Command::new("debootstrap")
                .arg(format!("--variant={VARIANT}"))
                .arg(format!("--include={}", INCLUDE.join(",")))
                .arg(format!("--arch={}", self.arch))
                .arg(format!("--keyring={HOST_KEYRING}"))
                .arg(SUITE)
                .arg(&root)
                .arg(&self.mirrors.debian),
            DEBOOTSTRAP_TIMEOUT,
        );
        let debootstrapped = started.elapsed();
        let keyring = root.join("usr/share/keyrings/debian-archive-keyring.gpg");
        assert!(
            keyring.is_file(),
            "debootstrap left no archive keyring at {}",
            keyring.display()
        );
        // debootstrap's one-line sources name the bookworm mirror only.
        let _ = fs::remove_file(root.join("etc/apt/sources.list"));
        write(
            &root.join("etc/apt/sources.list.d/debian.sources"),
            &format!(
                "# Written by fixpoint's tests/support/debian_roots.rs: this machine's mirrors.\n\
                 Types: deb\nURIs: {}\nSuites: {SUITE}\nComponents: main\n\
                 Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n\
                 Types: deb\nURIs: {}\nSuites: {SECURITY_SUITE}\nComponents: main\n\
                 Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n",
                self.mirrors.debian, self.mirrors.security
            ),
        );
        write(&root.join("etc/apt/apt.conf.d/90fixpoint-test"), APT_CONF);
        let policy = root.join("usr/sbin/policy-rc.d");
        write(&policy, POLICY_RC_D);
        fs::set_permissions(&policy, fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", policy.display()));
        // Each clone names itself; the host's name (debootstrap copies it) is not kept.
        write(&root.join("etc/hostname"), "localhost\n");
        copy_resolv_conf(&root);
        apt_get_update(&root);
        // debootstrap leaves the .debs it installed in apt's archive cache.
        chroot_run(&root, &["apt-get", "clean"], LOCAL_TIMEOUT);
        write(
            &partial.join("key.txt"),
            &format!(
                "suite: {SUITE}\nvariant: {VARIANT}\narch: {}\ninclude: {}\nrecipe: {RECIPE}\n\
                 mirror: {}\nsecurity mirror: {}\ndate (UTC): {}\n",
                self.arch,
                INCLUDE.join(","),
                self.mirrors.debian,
                self.mirrors.security,
                utc_date()
            ),
        );
        let mounts = mounts_under(&partial);
        assert!(
            mounts.is_empty(),
            "the prepared root must hold no mounts, found {mounts:?}"
        );
        write(
            &partial.join("ready"),
            &format!("built at {}\n", jiff::Timestamp::now()),
        );
        fs::rename(&partial, &self.dir).unwrap_or_else(|e| {
            panic!(
                "rename {} to {}: {e}",
                partial.display(),
                self.dir.display()
            )
        });
        eprintln!(
            "debian_roots: built {} in {:.1?} (debootstrap {:.1?})",
            self.key,
            started.elapsed(),
            debootstrapped
        );
    }

    /// Deletes the cache's directories of other keys for this suite, variant and architecture,
    /// and partial builds (of any key, this one's included), so at most the current root stays.
    /// A complete root still in use by a mount (another process's clone of yesterday's root) is
    /// kept for a later run. The caller holds the exclusive lock, so no partial build is in
    /// progress: a partial directory is what a killed build left, and so are mounts in it
    /// (debootstrap's `/proc`, or its bind mounts of the host's `/dev` inside a container),
    /// which are unmounted before it is deleted.
    fn delete_other_keys(&self) {
        let prefix = format!("{SUITE}-{VARIANT}-{}-", self.arch);
        let Ok(entries) = fs::read_dir(&self.cache) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.starts_with(&prefix) || name == self.key {
                continue;
            }
            let path = entry.path();
            if name.contains(".partial-") {
                delete_stale(&path);
                continue;
            }
            let users: Vec<PathBuf> = overlays_on(&path)
                .into_iter()
                .chain(mounts_under(&path))
                .collect();
            if users.is_empty() {
                delete_stale(&path);
            } else {
                eprintln!(
                    "debian_roots: keeping {} for now: in use by mounts at {users:?}",
                    path.display()
                );
            }
        }
    }

    /// An exclusive flock on `<cache>/.lock`, waited for at most `patience`.
    fn lock(&self, patience: Duration) -> File {
        self.take_lock(patience, false)
    }

    /// A shared flock on `<cache>/.lock` (clones may mount together; not while refreshing).
    fn lock_shared(&self, patience: Duration) -> File {
        self.take_lock(patience, true)
    }

    fn take_lock(&self, patience: Duration, shared: bool) -> File {
        let path = self.cache.join(".lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("open the lock file {}: {e}", path.display()));
        let deadline = Instant::now() + patience;
        loop {
            let attempt = if shared {
                file.try_lock_shared()
            } else {
                file.try_lock()
            };
            match attempt {
                Ok(()) => return file,
                Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!(
                    "lock {} (another test process building or refreshing the root?): {e:?}",
                    path.display()
                ),
            }
        }
    }
}

/// `apt-get update` chrooted into `root`, failing on any list it could not fetch or verify.
fn apt_get_update(root: &Path) {
    chroot_run(
        root,
        &["apt-get", "update", "-q", "--error-on=any"],
        APT_NETWORK_TIMEOUT,
    );
}

/// The host's name servers for apt in `root` (a chroot shares the host's network).
fn copy_resolv_conf(root: &Path) {
    if let Ok(text) = fs::read_to_string("/etc/resolv.conf") {
        let target = root.join("etc/resolv.conf");
        // debootstrap may leave a symlink (into /run) that would resolve on the host.
        let _ = fs::remove_file(&target);
        write(&target, &text);
    }
}

// ---------------------------------------------------------------------------
// Machines.

/// One machine's root filesystem: an overlay clone of a [`PreparedRoot`], with `/proc` and
/// `/dev` mounted. Dropping it unmounts everything under [`Machine::root`].
#[derive(Debug)]
pub struct Machine {
    /// The mounted root filesystem (`<dir>/root`).
    pub root: PathBuf,
    /// What `/etc/hostname` says.
    pub hostname: String,
    arch: String,
}

impl Machine {
    /// What apt says is upgradable from [`SECURITY_SUITE`] in this root: every installed
    /// package whose candidate version differs from the installed one and is offered by a
    /// `bookworm-security` source, as `(package, architecture, candidate version)`, sorted.
    /// The architecture is dpkg's for the installed package (`all` for tzdata).
    ///
    /// It asks `apt-cache policy` (chrooted) about every package dpkg lists as installed.
    /// apt-cache is one of apt's script interfaces, while `apt list` warns that its CLI is not
    /// stable; and apt-cache policy names each candidate's sources by the suite written in the
    /// sources (`bookworm-security/main`), where `apt list --upgradable` and `apt-get -s`
    /// print the Release file's archive (`oldstable-security` now, another name after the next
    /// Debian release), and `apt-get -s upgrade` leaves out upgrades that need new packages.
    pub fn security_upgradable(&self) -> Vec<(String, String, String)> {
        let installed = self.installed_packages();
        let mut args = vec!["apt-cache".to_owned(), "policy".to_owned()];
        // apt-cache names the native architecture's packages (and `all` ones) without a suffix.
        let query = |name: &str, arch: &str| {
            if arch == self.arch || arch == "all" {
                name.to_owned()
            } else {
                format!("{name}:{arch}")
            }
        };
        args.extend(installed.iter().map(|(name, arch)| query(name, arch)));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let policy = parse_policy(&self.chroot(&args));
        let security = format!("{SECURITY_SUITE}/");
        let mut upgradable = Vec::new();
        for (name, arch) in &installed {
            let key = query(name, arch);
            let Some(entry) = policy.get(&key) else {
                panic!("apt-cache policy said nothing about {key}");
            };
            let (Some(installed), Some(candidate)) = (&entry.installed, &entry.candidate) else {
                continue;
            };
            if installed == candidate {
                continue;
            }
            let from_security = entry
                .sources
                .get(candidate)
                .is_some_and(|suites| suites.iter().any(|s| s.starts_with(&security)));
            if from_security {
                upgradable.push((name.clone(), arch.clone(), candidate.clone()));
            }
        }
        upgradable.sort();
        upgradable
    }

    /// `(package, architecture)` of every package dpkg has installed (unpacked or more) here.
    fn installed_packages(&self) -> Vec<(String, String)> {
        let out = run(
            Command::new("dpkg-query").arg(self.admindir_arg()).args([
                "-W",
                "-f",
                "${Package}\t${Architecture}\t${db:Status-Status}\n",
            ]),
            LOCAL_TIMEOUT,
        );
        out.lines()
            .filter_map(|line| {
                let mut fields = line.split('\t');
                let (name, arch, status) = (fields.next()?, fields.next()?, fields.next()?);
                (status != "not-installed" && status != "config-files")
                    .then(|| (name.to_owned(), arch.to_owned()))
            })
            .collect()
    }

    fn admindir_arg(&self) -> String {
        format!("--admindir={}", self.root.join("var/lib/dpkg").display())
    }

    /// The installed version of `package` per `dpkg-query --admindir=<root>/var/lib/dpkg`;
    /// `None` when it is not installed (unknown, removed, or only its configuration left).
    pub fn installed_version(&self, package: &str) -> Option<String> {
        let mut command = Command::new("dpkg-query");
        command.arg(self.admindir_arg()).args([
            "-W",
            "-f",
            "${db:Status-Status}\t${Version}",
            package,
        ]);
        let output = output_within(&mut command, LOCAL_TIMEOUT);
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            assert!(
                stderr.contains("no packages found matching"),
                "{command:?} failed with {}: {stderr}",
                output.status
            );
            return None;
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        let (status, version) = stdout
            .split_once('\t')
            .unwrap_or_else(|| panic!("{command:?} printed {stdout:?}"));
        (status != "not-installed" && status != "config-files" && !version.is_empty())
            .then(|| version.to_owned())
    }

    /// Runs `args` chrooted into the machine (environment: [`ENV`]) and returns its stdout;
    /// panics with its stderr when it fails or runs longer than five minutes.
    pub fn chroot(&self, args: &[&str]) -> String {
        chroot_run(&self.root, args, APT_NETWORK_TIMEOUT)
    }

    /// Downloads `package` at `version` from the machine's mirrors with `apt-get download`
    /// chrooted into it; returns the host path of the `.deb` (under the machine's `/tmp`).
    pub fn download(&self, package: &str, version: &str) -> PathBuf {
        static DOWNLOADS: AtomicUsize = AtomicUsize::new(0);
        let inside = format!(
            "/tmp/fixpoint-download-{}",
            DOWNLOADS.fetch_add(1, Ordering::Relaxed)
        );
        // World-writable so apt's unprivileged `_apt` user can write there.
        self.chroot(&[
            "sh",
            "-c",
            "mkdir -m 0777 \"$1\" && cd \"$1\" && exec apt-get download -q \"$2\"",
            "sh",
            &inside,
            &format!("{package}={version}"),
        ]);
        let dir = self.root.join(inside.trim_start_matches('/'));
        let debs: Vec<PathBuf> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "deb"))
            .collect();
        match &debs[..] {
            [deb] => deb.clone(),
            other => panic!("apt-get download {package}={version} left {other:?}"),
        }
    }

    /// Installs a `.deb` from the host with the real dpkg: `dpkg --root=<root> -i <deb>`, which
    /// chroots into the root to run the maintainer scripts (never `--force-script-chrootless`).
    pub fn install_deb(&self, deb: &Path) {
        run(
            Command::new("dpkg")
                .arg(format!("--root={}", self.root.display()))
                .arg("-i")
                .arg(deb),
            LOCAL_TIMEOUT,
        );
    }

    /// Removes `package` with the real dpkg: `dpkg --root=<root> --remove <package>`.
    pub fn remove_package(&self, package: &str) {
        run(
            Command::new("dpkg")
                .arg(format!("--root={}", self.root.display()))
                .args(["--remove", package]),
            LOCAL_TIMEOUT,
        );
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        // Innermost first: /proc/mounts lists mounts in the order they were made. Lazily when
        // busy (a process still running inside). Never a panic: this runs while unwinding too.
        for _ in 0..64 {
            let Some(last) = mounts_under(&self.root).pop() else {
                return;
            };
            if !unmount(&last) {
                eprintln!("debian_roots: could not unmount {}", last.display());
                return;
            }
        }
        let left = mounts_under(&self.root);
        if !left.is_empty() {
            eprintln!(
                "debian_roots: mounts left under {}: {left:?}",
                self.root.display()
            );
        }
    }
}

/// What `apt-cache policy` says about one package.
#[derive(Debug, Default)]
struct Policy {
    installed: Option<String>,
    candidate: Option<String>,
    /// Version -> the `SUITE/COMPONENT` of each source offering it (`/var/lib/dpkg/status`
    /// for the installed one).
    sources: BTreeMap<String, Vec<String>>,
}

/// Parses `apt-cache policy PKG...` (C locale) into its entries by name, as apt prints them:
/// `name:` for the native architecture, `name:arch:` for others.
///
/// ```text
/// tzdata:
///   Installed: 2026b-0+deb12u1
///   Candidate: 2026f-0+deb12u1
///   Version table:
///      2026f-0+deb12u1 500
///         500 http://mirror/debian-security bookworm-security/main amd64 Packages
///  *** 2026b-0+deb12u1 500
///         500 http://mirror/debian bookworm/main amd64 Packages
///         100 /var/lib/dpkg/status
/// ```
fn parse_policy(text: &str) -> BTreeMap<String, Policy> {
    let mut all = BTreeMap::new();
    let mut name: Option<String> = None;
    let mut version: Option<String> = None;
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim();
        if indent == 0 && trimmed.ends_with(':') {
            name = Some(trimmed.trim_end_matches(':').to_owned());
            version = None;
            all.insert(trimmed.trim_end_matches(':').to_owned(), Policy::default());
            continue;
        }
        let Some(entry) = name.as_ref().and_then(|n| all.get_mut(n)) else {
            continue;
        };
        let none = |v: &str| (v != "(none)").then(|| v.to_owned());
        if let Some(v) = trimmed.strip_prefix("Installed:") {
            entry.installed = none(v.trim());
        } else if let Some(v) = trimmed.strip_prefix("Candidate:") {
            entry.candidate = none(v.trim());
        } else if trimmed == "Version table:" {
            continue;
        } else if indent >= 8 {
            // `PRIORITY URI SUITE/COMPONENT ARCH Packages`, or `PRIORITY /var/lib/dpkg/status`.
            let words: Vec<&str> = trimmed.split_whitespace().collect();
            if let (Some(v), Some(origin)) = (&version, words.get(2).or(words.get(1))) {
                entry
                    .sources
                    .entry(v.clone())
                    .or_default()
                    .push((*origin).to_owned());
            }
        } else {
            // ` *** VERSION PRIORITY` (the installed one) or `     VERSION PRIORITY`.
            let words: Vec<&str> = trimmed
                .trim_start_matches("***")
                .split_whitespace()
                .collect();
            version = words.first().map(|v| (*v).to_owned());
        }
    }
    all
}

// ---------------------------------------------------------------------------
// Mounts and commands.

/// Mount points at or below `dir`, in the order `/proc/mounts` lists them (mount order).
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    proc_mounts()
        .into_iter()
        .map(|m| m.point)
        .filter(|p| p.starts_with(dir))
        .collect()
}

/// Mount points of overlays whose lowerdir is `dir` or below it: the clones using a root.
pub fn overlays_on(dir: &Path) -> Vec<PathBuf> {
    proc_mounts()
        .into_iter()
        .filter(|m| {
            m.fstype == "overlay"
                && m.options.split(',').any(|o| {
                    o.strip_prefix("lowerdir=").is_some_and(|lower| {
                        lower.split(':').any(|l| Path::new(l).starts_with(dir))
                    })
                })
        })
        .map(|m| m.point)
        .collect()
}

struct MountEntry {
    point: PathBuf,
    fstype: String,
    options: String,
}

fn proc_mounts() -> Vec<MountEntry> {
    let text = fs::read_to_string("/proc/mounts").expect("read /proc/mounts");
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split(' ');
            let (_, point, fstype, options) = (
                fields.next()?,
                fields.next()?,
                fields.next()?,
                fields.next()?,
            );
            Some(MountEntry {
                point: PathBuf::from(unescape_mount_field(point)),
                fstype: fstype.to_owned(),
                options: unescape_mount_field(options),
            })
        })
        .collect()
}

/// /proc/mounts writes space, tab, newline and backslash as `\040`, `\011`, `\012`, `\134`.
fn unescape_mount_field(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| {
            std::str::from_utf8(d)
                .ok()
                .and_then(|d| u8::from_str_radix(d, 8).ok())
        });
        match (bytes[i], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `mount ARGS...`, or a panic with mount's stderr.
fn mount(args: &[&str]) {
    run(Command::new("mount").args(args), LOCAL_TIMEOUT);
}

/// Deletes `path`, a directory tree that a killed build or an older key left, after unmounting
/// anything still mounted in it (lazily); on failure says so and leaves it for a later run.
/// Nothing is deleted while a mount remains below it: `remove_dir_all` would follow it.
fn delete_stale(path: &Path) {
    if !path.exists() {
        return;
    }
    for _ in 0..32 {
        let Some(last) = mounts_under(path).pop() else {
            break;
        };
        unmount(&last);
    }
    let mounts = mounts_under(path);
    if !mounts.is_empty() {
        eprintln!(
            "debian_roots: not deleting {}: still mounted in it: {mounts:?}",
            path.display()
        );
        return;
    }
    if let Err(e) = fs::remove_dir_all(path) {
        eprintln!("debian_roots: could not delete {}: {e}", path.display());
    }
}

/// `umount POINT`, or `umount -l POINT` when it is busy; whether either worked.
fn unmount(point: &Path) -> bool {
    let quiet = |args: &[&str]| {
        Command::new("umount")
            .args(args)
            .arg(point)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    quiet(&[]) || quiet(&["-l"])
}

fn write(path: &Path, text: &str) {
    fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Panics unless this process runs as root (effective uid 0), which mount and chroot need.
pub fn require_root() {
    let status = fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .unwrap_or("?");
    assert!(
        euid == "0",
        "the Debian root tests need root (mount, chroot, mknod, dpkg --root); euid is {euid}"
    );
}

/// `args` chrooted into `root` with [`ENV`]; stdout, or a panic with stderr.
fn chroot_run(root: &Path, args: &[&str], timeout: Duration) -> String {
    run(Command::new("chroot").arg(root).args(args), timeout)
}

/// Runs `command` (stdin closed, environment [`ENV`]) and returns its stdout; panics naming
/// the command with its exit status and output when it cannot start, fails, or outlives
/// `timeout` (then it and every process it started are killed).
pub fn run(command: &mut Command, timeout: Duration) -> String {
    let output = output_within(command, timeout);
    if !output.status.success() {
        panic!(
            "{command:?} failed with {}\n--- stderr:\n{}\n--- stdout (end):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr),
            tail(&String::from_utf8_lossy(&output.stdout), 40)
        );
    }
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs `command` like [`run`] but returns its output whatever its exit status.
fn output_within(command: &mut Command, timeout: Duration) -> std::process::Output {
    command
        .env_clear()
        .envs(ENV.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap_or_else(|e| {
        let hint = if e.kind() == ErrorKind::NotFound {
            " (is it installed? scripts/install-test-deps installs what the tests use)"
        } else {
            ""
        };
        panic!("cannot start {command:?}: {e}{hint}")
    });
    let pid = child.id();
    // Each pipe is read to its end on a thread of its own, which sends what it read.
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        let (send, receive) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            let _ = send.send(bytes);
        });
        receive
    };
    let stdout = reader(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = reader(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    // Not a process group of its own: Ctrl-C on the test must still reach (and stop) a
    // debootstrap, whose exit traps unmount what it mounted in the target.
    let kill_tree = || {
        // Twice: a process may fork between the listing and the kill.
        for _ in 0..2 {
            let _ = Command::new("kill")
                .arg("-KILL")
                .args(process_tree(pid).iter().map(u32::to_string))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    };
    let deadline = Instant::now() + timeout;
    // Polled from 1 ms up to 50 ms: most commands here take a few milliseconds.
    let mut pause = Duration::from_millis(1);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Ok(None) => {
                kill_tree();
                let _ = child.wait();
                let err = stderr
                    .recv_timeout(Duration::from_secs(5))
                    .unwrap_or_default();
                panic!(
                    "{command:?} did not finish within {timeout:?} and was killed\n--- stderr:\n{}",
                    String::from_utf8_lossy(&err)
                );
            }
            Err(e) => panic!("wait for {command:?}: {e}"),
        }
    };
    // A process it left running (a daemon that policy-rc.d did not stop) would hold the pipes
    // open: what it wrote so far is not waited for longer than this.
    let collect = |pipe: &std::sync::mpsc::Receiver<Vec<u8>>| {
        pipe.recv_timeout(Duration::from_secs(5))
            .unwrap_or_else(|_| {
                eprintln!("debian_roots: {command:?} left a process holding its output open");
                Vec::new()
            })
    };
    std::process::Output {
        status,
        stdout: collect(&stdout),
        stderr: collect(&stderr),
    }
}

/// `pid` and every process descended from it, from the parent ids in `/proc/*/stat`.
fn process_tree(pid: u32) -> Vec<u32> {
    let mut parents = Vec::new();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(process) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        // `PID (COMM) STATE PPID ...`, where COMM may hold spaces and parentheses.
        let parent = fs::read_to_string(entry.path().join("stat"))
            .ok()
            .and_then(|stat| {
                let (_, rest) = stat.rsplit_once(')')?;
                rest.split_whitespace().nth(1)?.parse::<u32>().ok()
            });
        if let Some(parent) = parent {
            parents.push((process, parent));
        }
    }
    let mut tree = vec![pid];
    let mut next = 0;
    while let Some(&parent) = tree.get(next) {
        tree.extend(
            parents
                .iter()
                .filter(|(_, p)| *p == parent)
                .map(|(c, _)| *c),
        );
        next += 1;
    }
    tree
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
