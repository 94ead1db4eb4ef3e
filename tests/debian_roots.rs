//! The Debian root support module against the real thing: a bookworm root debootstrapped from
//! this machine's mirrors (cached for the day), overlay clones of it, and apt and dpkg run in
//! them as the judges of what is installed and what is upgradable.
//!
//! Needs root (mount, chroot) and this machine's Debian mirrors; the first run of the day
//! builds the root (about a minute), later runs reuse it. Run with `--nocapture` to see the
//! timings and the security upgrades apt reports.

mod support {
    pub mod debian_roots;
}

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::debian_roots::{self, Machine, PreparedRoot};

/// The prepared root, its lists refreshed by this process before any clone is made.
fn fresh_root() -> &'static PreparedRoot {
    debian_roots::require_root();
    let started = Instant::now();
    let root = debian_roots::bookworm();
    root.refresh();
    eprintln!(
        "prepared root {} ready in {:.1?} (built now: {})",
        root.key(),
        started.elapsed(),
        root.built_now()
    );
    root
}

/// `dpkg --compare-versions a op b`, the real dpkg as the oracle.
fn dpkg_compare(a: &str, op: &str, b: &str) -> bool {
    let status = Command::new("dpkg")
        .args(["--compare-versions", a, op, b])
        .status()
        .expect("run dpkg --compare-versions");
    match status.code() {
        Some(0) => true,
        Some(1) => false,
        other => panic!("dpkg --compare-versions {a} {op} {b}: exit {other:?}"),
    }
}

fn assert_no_mounts_under(dir: &Path) {
    let left = debian_roots::mounts_under(dir);
    assert!(
        left.is_empty(),
        "mounts left under {}: {left:?}",
        dir.display()
    );
}

/// The installed version in the prepared root itself, read the same way as in a clone.
fn prepared_version(root: &PreparedRoot, package: &str) -> Option<String> {
    let output = Command::new("dpkg-query")
        .arg(format!(
            "--admindir={}",
            root.path().join("var/lib/dpkg").display()
        ))
        .args(["-W", "-f", "${Version}", package])
        .output()
        .expect("run dpkg-query");
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn mirrors_are_read_from_one_line_and_deb822_sources() {
    let dir = tempfile::tempdir().expect("tempdir");
    let etc_apt = dir.path();
    std::fs::create_dir(etc_apt.join("sources.list.d")).expect("mkdir sources.list.d");
    std::fs::write(
        etc_apt.join("sources.list"),
        "# deb http://old.example/debian bookworm main\n\
         deb-src http://src.example/debian bookworm main\n\
         deb [ arch=amd64 signed-by=/k.gpg ] http://one.example/debian/ bookworm main # trailing\n",
    )
    .expect("write sources.list");
    std::fs::write(
        etc_apt.join("sources.list.d/debian.sources"),
        "Types: deb deb-src\n\
         URIs: http://two.example/debian\n\
         Suites: bookworm bookworm-updates\n\
         Components: main\n\
         \n\
         # a comment between stanzas\n\
         Types: deb\n\
         URIs: http://disabled.example/debian-security\n\
         Suites: bookworm-security\n\
         Enabled: no\n\
         \n\
         types: deb\n\
         uris:\n http://two.example/debian-security\n\
         suites: bookworm-security\n\
         components: main\n",
    )
    .expect("write debian.sources");
    std::fs::write(
        etc_apt.join("sources.list.d/ignored.save"),
        "deb http://ignored.example/debian-security bookworm-security main\n",
    )
    .expect("write ignored.save");

    let mirrors = debian_roots::mirrors_in(etc_apt).expect("both suites are configured");
    assert_eq!(
        mirrors,
        debian_roots::Mirrors {
            debian: "http://one.example/debian".into(),
            security: "http://two.example/debian-security".into(),
        },
        "sources.list comes first; disabled stanzas and other file names are skipped"
    );

    std::fs::remove_file(etc_apt.join("sources.list.d/debian.sources")).expect("rm");
    let error = debian_roots::mirrors_in(etc_apt).expect_err("no security suite left");
    assert!(error.contains("bookworm-security"), "{error}");
    assert!(error.contains("sources.list"), "{error}");

    // This machine's own sources, which the prepared root is built from.
    let own = debian_roots::mirrors();
    assert!(
        own.debian.contains("://") && own.security.contains("://"),
        "{own:?}"
    );
}

#[test]
fn a_command_that_outlives_its_timeout_is_killed_with_what_it_started() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pid_file = dir.path().join("background.pid");
    let started = Instant::now();
    let panic = std::panic::catch_unwind(|| {
        debian_roots::run(
            Command::new("sh").arg("-c").arg(format!(
                "sleep 300 & echo $! > {}; echo waiting >&2; wait",
                pid_file.display()
            )),
            Duration::from_secs(1),
        )
    })
    .expect_err("the command must not be allowed to run on");
    let message = panic
        .downcast_ref::<String>()
        .expect("a formatted panic message");
    assert!(message.contains("did not finish within 1s"), "{message}");
    assert!(
        message.contains("waiting"),
        "its stderr is in the message: {message}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    let background = std::fs::read_to_string(&pid_file).expect("the background pid");
    let proc_dir = Path::new("/proc").join(background.trim());
    // Killed, and reaped by init (or left a zombie for a moment).
    let deadline = Instant::now() + Duration::from_secs(10);
    while proc_dir.exists()
        && !std::fs::read_to_string(proc_dir.join("stat")).is_ok_and(|s| s.contains(") Z "))
    {
        assert!(
            Instant::now() < deadline,
            "the background sleep survived the timeout"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_prepared_root_is_built_once_and_then_reused() {
    let root = fresh_root();
    let marker = std::fs::metadata(root.marker()).expect("the ready marker");

    let started = Instant::now();
    let again = debian_roots::prepare();
    eprintln!("reusing the cached root took {:.1?}", started.elapsed());
    assert!(
        !again.built_now(),
        "the second preparation must reuse the root"
    );
    assert_eq!(again.key(), root.key());
    let marker_again = std::fs::metadata(again.marker()).expect("the ready marker");
    assert_eq!(
        (marker.ino(), marker.mtime(), marker.mtime_nsec()),
        (
            marker_again.ino(),
            marker_again.mtime(),
            marker_again.mtime_nsec()
        ),
        "the marker was rewritten: the root was rebuilt"
    );

    // The key names what it was built from.
    let key = root.key();
    for part in ["bookworm", "minbase", root.arch()] {
        assert!(key.contains(part), "{key} lacks {part}");
    }
    let cache = root
        .marker()
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf);
    let cache = cache.expect("the cache directory");
    assert!(
        !cache.starts_with(env!("CARGO_MANIFEST_DIR")),
        "the cache {} must live outside the repository",
        cache.display()
    );
    let prefix = format!("bookworm-minbase-{}-", root.arch());
    let kept: Vec<String> = std::fs::read_dir(&cache)
        .expect("read the cache")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.starts_with(&prefix) && n != key)
        // Another process's clones of yesterday's root keep it until they are gone.
        .filter(|n| debian_roots::overlays_on(&cache.join(n)).is_empty())
        .collect();
    assert!(kept.is_empty(), "older roots kept beside {key}: {kept:?}");

    // What the preparation promised to put in it.
    let path = root.path();
    let read =
        |p: &str| std::fs::read_to_string(path.join(p)).unwrap_or_else(|e| panic!("read {p}: {e}"));
    assert!(
        path.join("usr/share/keyrings/debian-archive-keyring.gpg")
            .is_file(),
        "the archive keyring"
    );
    assert!(!path.join("etc/apt/sources.list").exists());
    let sources = read("etc/apt/sources.list.d/debian.sources");
    let mirrors = root.mirrors();
    assert!(
        sources.contains(&format!("URIs: {}\n", mirrors.debian)),
        "{sources}"
    );
    assert!(
        sources.contains(&format!("URIs: {}\n", mirrors.security)),
        "{sources}"
    );
    assert!(sources.contains("Suites: bookworm-security\n"), "{sources}");
    let conf = read("etc/apt/apt.conf.d/90fixpoint-test");
    for setting in [
        "Dir::Cache::pkgcache \"\";",
        "Dir::Cache::srcpkgcache \"\";",
        "APT::Keep-Downloaded-Packages \"false\";",
    ] {
        assert!(conf.contains(setting), "{setting} missing from {conf}");
    }
    let policy = Command::new("chroot")
        .arg(path)
        .arg("/usr/sbin/policy-rc.d")
        .status()
        .expect("run policy-rc.d");
    assert_eq!(policy.code(), Some(101), "policy-rc.d must forbid services");
    let lists: Vec<String> = std::fs::read_dir(path.join("var/lib/apt/lists"))
        .expect("apt's lists")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    for suite in ["bookworm", "bookworm-security"] {
        let release = format!("_dists_{suite}_InRelease");
        assert!(
            lists.iter().any(|l| l.ends_with(&release)),
            "no {release} in {lists:?}"
        );
    }
    let cached: Vec<_> = std::fs::read_dir(path.join("var/cache/apt/archives"))
        .expect("apt's archive cache")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "deb"))
        .collect();
    assert!(cached.is_empty(), "downloaded packages kept: {cached:?}");
    assert!(!path.join("var/cache/apt/pkgcache.bin").exists());
    assert_eq!(read("etc/hostname"), "localhost\n");
    assert_no_mounts_under(path);
}

#[test]
fn clones_are_isolated_from_each_other_and_from_the_prepared_root() {
    let root = fresh_root();
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let a = root.clone_machine(&dir.path().join("a"), "alpha");
        let b = root.clone_machine(&dir.path().join("b"), "beta");

        assert_eq!(a.chroot(&["cat", "/etc/hostname"]), "alpha\n");
        assert_eq!(b.chroot(&["cat", "/etc/hostname"]), "beta\n");
        assert_eq!(
            std::fs::read_to_string(root.path().join("etc/hostname")).expect("read"),
            "localhost\n"
        );

        // A new file, a changed file and a removed file in one clone only.
        std::fs::write(a.root.join("etc/fixpoint-marker"), "alpha\n").expect("write marker");
        a.chroot(&[
            "sh",
            "-c",
            "echo changed > /etc/issue && rm /etc/debian_version",
        ]);
        assert_eq!(a.chroot(&["cat", "/etc/fixpoint-marker"]), "alpha\n");
        assert!(!b.root.join("etc/fixpoint-marker").exists());
        assert!(!root.path().join("etc/fixpoint-marker").exists());
        assert!(!a.root.join("etc/debian_version").exists());
        for unchanged in [&b.root, &root.path().to_path_buf()] {
            assert!(unchanged.join("etc/debian_version").is_file());
            let issue = std::fs::read_to_string(unchanged.join("etc/issue")).expect("issue");
            assert!(issue.starts_with("Debian"), "{issue}");
        }

        // What maintainer scripts and apt rely on.
        let proc_status = a.chroot(&["cat", "/proc/self/status"]);
        assert!(proc_status.contains("Pid:"), "{proc_status}");
        a.chroot(&[
            "sh",
            "-c",
            "echo x > /dev/null && head -c 16 /dev/urandom > /dev/zero",
        ]);
        std::fs::write(a.root.join("dev/fixpoint-dev-marker"), "").expect("write in /dev");
        assert!(!b.root.join("dev/fixpoint-dev-marker").exists());
        assert!(!root.path().join("dev/fixpoint-dev-marker").exists());
    }
    assert_no_mounts_under(dir.path());
    assert_no_mounts_under(root.path());
}

#[test]
fn twenty_clones_mount_quickly_and_unmount_even_when_a_test_panics() {
    let root = fresh_root();
    let dir = tempfile::tempdir().expect("tempdir");
    let started = Instant::now();
    let machines: Vec<Machine> = (0..20)
        .map(|i| root.clone_machine(&dir.path().join(format!("m{i}")), &format!("host-{i:02}")))
        .collect();
    let cloned = started.elapsed();
    let started = Instant::now();
    drop(machines);
    eprintln!(
        "20 clones mounted in {cloned:.1?}, unmounted in {:.1?}",
        started.elapsed()
    );
    assert_no_mounts_under(dir.path());

    // A test that panics while its machine is mounted: the drop during unwinding unmounts it.
    eprintln!("the next panic, \"a test failing with its machine mounted\", is expected");
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let machine = root.clone_machine(&dir.path().join("panics"), "panics");
        assert!(!debian_roots::mounts_under(&machine.root).is_empty());
        panic!("a test failing with its machine mounted");
    }));
    assert!(panicked.is_err());
    assert_no_mounts_under(dir.path());
}

#[test]
fn security_upgrades_are_newer_per_dpkg_and_installing_one_clears_it_in_that_clone_only() {
    let root = fresh_root();
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let a = root.clone_machine(&dir.path().join("a"), "alpha");
        let b = root.clone_machine(&dir.path().join("b"), "beta");

        let started = Instant::now();
        let upgradable = a.security_upgradable();
        eprintln!(
            "security_upgradable() took {:.1?}: {} upgrades: {upgradable:?}",
            started.elapsed(),
            upgradable.len()
        );
        assert!(
            !upgradable.is_empty(),
            "no package in the prepared root has a newer version in bookworm-security: \
             INCLUDE in tests/support/debian_roots.rs needs packages that do today"
        );
        for (package, arch, candidate) in &upgradable {
            let installed = a
                .installed_version(package)
                .unwrap_or_else(|| panic!("{package} ({arch}) is upgradable but not installed"));
            assert!(
                dpkg_compare(candidate, "gt", &installed),
                "{package}: candidate {candidate} is not newer than installed {installed}"
            );
        }
        assert_eq!(
            b.security_upgradable(),
            upgradable,
            "both clones start alike"
        );

        // `apt list`, which the judge avoids, agrees on this machine today.
        let listed: BTreeSet<(String, String)> = a
            .chroot(&["apt", "list", "--upgradable"])
            .lines()
            .filter_map(|line| {
                let (name, rest) = line.split_once('/')?;
                let mut words = rest.split_whitespace();
                let (archives, version) = (words.next()?, words.next()?);
                archives
                    .split(',')
                    .any(|a| a.ends_with("-security"))
                    .then(|| (name.to_owned(), version.to_owned()))
            })
            .collect();
        let judged: BTreeSet<(String, String)> = upgradable
            .iter()
            .map(|(name, _, version)| (name.clone(), version.clone()))
            .collect();
        assert_eq!(
            judged, listed,
            "security_upgradable() vs apt list --upgradable"
        );

        // One upgrade that needs no other package upgraded with it, per apt's own simulation.
        let (package, _, candidate) = upgradable
            .iter()
            .find(|(package, _, candidate)| {
                let plan = a.chroot(&[
                    "apt-get",
                    "-s",
                    "-q",
                    "install",
                    "--no-install-recommends",
                    &format!("{package}={candidate}"),
                ]);
                plan.lines().filter(|l| l.starts_with("Inst ")).count() == 1
            })
            .expect("an upgrade that installs alone");
        let before = a.installed_version(package).expect("installed");
        let started = Instant::now();
        let deb = a.download(package, candidate);
        a.install_deb(&deb);
        eprintln!(
            "downloaded and installed {package} {before} -> {candidate} with dpkg --root in {:.1?}",
            started.elapsed()
        );
        assert_eq!(
            a.installed_version(package).as_deref(),
            Some(candidate.as_str())
        );
        let expected: Vec<_> = upgradable
            .iter()
            .filter(|(p, _, _)| p != package)
            .cloned()
            .collect();
        assert_eq!(
            a.security_upgradable(),
            expected,
            "only {package} left the list"
        );
        assert_eq!(
            b.security_upgradable(),
            upgradable,
            "the other clone still lists it"
        );
        assert_eq!(b.installed_version(package), Some(before.clone()));
        assert_eq!(prepared_version(root, package), Some(before));
    }
    assert_no_mounts_under(dir.path());
}

#[test]
fn the_removable_package_is_removed_with_real_dpkg_in_one_clone() {
    let root = fresh_root();
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let machine = root.clone_machine(&dir.path().join("m"), "removes");
        let package = debian_roots::REMOVABLE_PACKAGE;
        let installed = machine.installed_version(package).expect("installed");
        let rdepends = machine.chroot(&[
            "apt-cache",
            "rdepends",
            "--installed",
            "--no-recommends",
            "--no-suggests",
            "--no-conflicts",
            "--no-breaks",
            "--no-replaces",
            "--no-enhances",
            package,
        ]);
        let dependents: Vec<&str> = rdepends
            .lines()
            .skip_while(|l| *l != "Reverse Depends:")
            .skip(1)
            .collect();
        assert!(
            dependents.is_empty(),
            "{package} is needed by {dependents:?}"
        );

        machine.remove_package(package);
        assert_eq!(machine.installed_version(package), None);
        let audit = machine.chroot(&["dpkg", "--audit"]);
        assert!(audit.trim().is_empty(), "dpkg --audit: {audit}");
        assert_eq!(prepared_version(root, package), Some(installed));
    }
    assert_no_mounts_under(dir.path());
}
