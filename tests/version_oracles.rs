//! Differential tests: our orderings against the real implementations.
//!
//! * dpkg: `dpkg --compare-versions` over every distinct version in
//!   `/var/lib/dpkg/status` and in APT's package lists (sorted by our ordering,
//!   every adjacent pair checked, plus random pairs), over dpkg's own test
//!   vectors, and over generated tricky pairs, valid and invalid. Besides the
//!   order, dpkg's verdict on syntax is checked: it must reject exactly what
//!   `Syntax::Lenient` rejects, and warn about exactly what `Syntax::Strict`
//!   rejects on top of that.
//! * rpm: `rpm.vercmp` in rpm's embedded Lua (`rpm --eval`), many pairs per
//!   invocation, over rpm's own test vectors, generated tricky pairs and the
//!   same real-world version strings.
//! * semver: the `semver` crate's `cmp_precedence` and parser, over generated
//!   tricky strings.
//!
//! When `dpkg` or `rpm` is missing, the test fails under `CI=true` and says to
//! run `scripts/install-test-deps`; elsewhere it prints a notice and passes.
//! Run with `--nocapture` to see how much was checked.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::time::Instant;

use fixpoint_core::version::{DpkgVersion, RpmVersion, SemverVersion, Syntax};

const DPKG_VECTORS: &str = include_str!("fixtures/versions/dpkg-version-vectors.txt");
const RPMVERCMP_VECTORS: &str = include_str!("fixtures/versions/rpmvercmp-vectors.txt");
const RPMVERCMP_ODDITIES: &str = include_str!("fixtures/versions/rpmvercmp-oddities.txt");

/// At most this many disagreements are listed in a failure message.
const LISTED: usize = 40;

// ---------------------------------------------------------------------------
// Shared helpers.

/// Whether an oracle tool works here. Under `CI=true` a missing tool fails the
/// test; elsewhere the test is skipped with a notice.
fn oracle_available(tool: &str, probe: &mut Command, expected_stdout: &str) -> bool {
    let problem = match probe.output() {
        Ok(output)
            if output.status.success()
                && String::from_utf8_lossy(&output.stdout).trim() == expected_stdout =>
        {
            return true;
        }
        Ok(output) => format!(
            "`{tool}` does not work as expected ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ),
        Err(error) => format!("`{tool}` cannot be run: {error}"),
    };
    let hint = "run scripts/install-test-deps to install the test oracles";
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{problem}; {hint}"
    );
    eprintln!("SKIPPED: {problem}; {hint}");
    false
}

/// A deterministic pseudo-random generator (SplitMix64): the same pairs on
/// every run, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(bound.max(1)).unwrap_or(1)).unwrap_or(0)
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a>(&mut self, choices: &[&'a str]) -> &'a str {
        choices
            .get(self.below(choices.len()))
            .copied()
            .unwrap_or_default()
    }

    fn string(&mut self, pieces: &[&str], min: usize, max: usize) -> String {
        let count = min + self.below(max - min + 1);
        (0..count).map(|_| self.pick(pieces)).collect()
    }
}

/// Changes `text` a little, so that pairs of nearly equal versions are common.
fn mutate(rng: &mut Rng, text: &str, alphabet: &[&str]) -> String {
    let chars: Vec<char> = text.chars().collect();
    let at = rng.below(chars.len() + 1);
    let (head, tail) = chars.split_at(at.min(chars.len()));
    let head: String = head.iter().collect();
    let tail: String = tail.iter().collect();
    match rng.below(8) {
        0 => format!("{text}~"),
        1 => format!("{text}{}", rng.pick(alphabet)),
        2 => format!("{head}0{tail}"),
        3 => format!(
            "{head}{}{}",
            rng.pick(alphabet),
            tail.chars().skip(1).collect::<String>()
        ),
        4 => format!("{head}{}", tail.chars().skip(1).collect::<String>()),
        5 => format!("{text}.0"),
        6 => format!("{head}{}{tail}", rng.pick(alphabet)),
        _ => text.to_owned(),
    }
}

/// Runs `check` over `items` on several threads (the oracles are processes,
/// so more threads than cores keeps both cores busy) and returns its results
/// in order.
fn in_parallel<T: Sync, R: Send>(items: &[T], check: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(2, |cores| cores.get() * 2);
    let chunk = items.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|chunk| scope.spawn(|| chunk.iter().map(&check).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().expect("oracle thread does not panic"))
            .collect()
    })
}

/// Fails listing the disagreements, if there are any.
fn assert_no_disagreements(oracle: &str, checked: usize, disagreements: &[String]) {
    assert!(
        disagreements.is_empty(),
        "{} of {checked} comparisons disagree with {oracle}; the first {}:\n{}",
        disagreements.len(),
        disagreements.len().min(LISTED),
        disagreements
            .iter()
            .take(LISTED)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

fn vector_pairs(file: &str) -> Vec<(String, String, i32)> {
    file.lines()
        .filter_map(|line| {
            let mut fields = line.split(' ');
            let a = fields.next()?;
            let b = fields.next()?;
            let expected = fields.next()?.parse().ok()?;
            Some((a.to_owned(), b.to_owned(), expected))
        })
        .collect()
}

fn sign(ordering: Ordering) -> i32 {
    match ordering {
        Ordering::Less => -1,
        Ordering::Equal => 0,
        Ordering::Greater => 1,
    }
}

/// Every distinct `Version:` in dpkg's status file and APT's package lists,
/// with a description of where they came from.
fn versions_on_this_machine() -> (BTreeSet<String>, String) {
    let mut versions = BTreeSet::new();
    let mut sources = Vec::new();
    let mut collect = |text: &str| {
        let before = versions.len();
        for line in text.lines() {
            if let Some(version) = line.strip_prefix("Version:") {
                versions.insert(version.trim().to_owned());
            }
        }
        versions.len() - before
    };

    if let Ok(status) = std::fs::read_to_string("/var/lib/dpkg/status") {
        let added = collect(&status);
        sources.push(format!("/var/lib/dpkg/status ({added} new)"));
    }
    let mut lists: Vec<PathBuf> = std::fs::read_dir("/var/lib/apt/lists")
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                .collect()
        })
        .unwrap_or_default();
    lists.retain(|path| {
        path.file_name()
            .is_some_and(|name| name.to_string_lossy().contains("_Packages"))
    });
    lists.sort();
    for list in lists {
        match read_apt_list(&list) {
            Some(text) => {
                let added = collect(&text);
                sources.push(format!("{} ({added} new)", list.display()));
            }
            None => sources.push(format!("{} (unreadable, skipped)", list.display())),
        }
    }
    (versions, sources.join(", "))
}

/// Reads an APT list, decompressing it with APT's own helper when needed.
fn read_apt_list(path: &Path) -> Option<String> {
    if path.extension().is_none() {
        return std::fs::read_to_string(path).ok();
    }
    let output = Command::new("/usr/lib/apt/apt-helper")
        .arg("cat-file")
        .arg(path)
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

// ---------------------------------------------------------------------------
// dpkg.

fn dpkg_available() -> bool {
    oracle_available("dpkg --compare-versions", dpkg().args(["1", "lt", "2"]), "")
}

/// `dpkg --compare-versions` in the C locale, with `--` so that versions
/// beginning with `-` are not read as options.
fn dpkg() -> Command {
    let mut command = Command::new("dpkg");
    command
        .env("LC_ALL", "C")
        .args(["--compare-versions", "--"]);
    command
}

/// What dpkg said about `a op b`.
struct DpkgVerdict {
    /// 0: true, 1: false, anything else: an error.
    code: Option<i32>,
    stderr: String,
}

fn dpkg_relation(a: &str, op: &str, b: &str) -> DpkgVerdict {
    match dpkg().args([a, op, b]).output() {
        Ok(output) => DpkgVerdict {
            code: output.status.code(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        },
        Err(error) => DpkgVerdict {
            code: None,
            stderr: format!("cannot run dpkg: {error}"),
        },
    }
}

/// dpkg's own sign for `a` vs `b`, for a disagreement's report.
fn dpkg_sign(a: &str, b: &str) -> String {
    for (op, sign) in [("lt", "<"), ("eq", "="), ("gt", ">")] {
        if dpkg_relation(a, op, b).code == Some(0) {
            return sign.to_owned();
        }
    }
    "no answer".to_owned()
}

/// Whether dpkg warns about a version it accepts: exactly when Debian Policy
/// (our `Strict`) rejects its parts, written canonically.
fn dpkg_warns_about(version: &DpkgVersion) -> bool {
    let revision = version
        .revision()
        .map(|revision| format!("-{revision}"))
        .unwrap_or_default();
    let canonical = format!("{}:{}{revision}", version.epoch(), version.upstream());
    DpkgVersion::parse(&canonical, Syntax::Strict).is_err()
}

/// Checks one pair against dpkg; `None` when dpkg agrees on order and syntax.
fn dpkg_disagreement(a: &str, b: &str) -> Option<String> {
    let ours_a = DpkgVersion::parse(a, Syntax::Lenient);
    let ours_b = DpkgVersion::parse(b, Syntax::Lenient);
    match (&ours_a, &ours_b) {
        (Ok(x), Ok(y)) => {
            let (op, sign) = match x.cmp(y) {
                Ordering::Less => ("lt", "<"),
                Ordering::Equal => ("eq", "="),
                Ordering::Greater => ("gt", ">"),
            };
            let verdict = dpkg_relation(a, op, b);
            if verdict.code != Some(0) {
                return Some(format!(
                    "{a:?} {sign} {b:?} here, dpkg says {} (exit {:?}): {}",
                    dpkg_sign(a, b),
                    verdict.code,
                    verdict.stderr.trim()
                ));
            }
            for (text, version) in [(a, x), (b, y)] {
                let warned = verdict
                    .stderr
                    .contains(&format!("warning: version '{text}' has bad syntax"));
                if warned != dpkg_warns_about(version) {
                    return Some(format!(
                        "{text:?}: dpkg {} but Strict {} it; dpkg said: {}",
                        if warned { "warns" } else { "does not warn" },
                        if dpkg_warns_about(version) {
                            "rejects"
                        } else {
                            "accepts"
                        },
                        verdict.stderr.trim()
                    ));
                }
            }
            None
        }
        (Err(error), _) | (Ok(_), Err(error)) => {
            let rejected = &error.version;
            let verdict = dpkg_relation(a, "eq", b);
            let named = verdict
                .stderr
                .contains(&format!("error: version '{rejected}' has bad syntax"));
            (verdict.code != Some(2) || !named).then(|| {
                format!(
                    "{rejected:?} is rejected here ({}), dpkg exits {:?}: {}",
                    error.reason,
                    verdict.code,
                    verdict.stderr.trim()
                )
            })
        }
    }
}

/// Checks pairs against dpkg in parallel; returns the disagreements.
fn dpkg_disagreements(pairs: &[(String, String)]) -> Vec<String> {
    in_parallel(pairs, |(a, b)| dpkg_disagreement(a, b))
        .into_iter()
        .flatten()
        .collect()
}

#[test]
fn dpkg_agrees_on_every_version_installed_or_available_here() {
    if !dpkg_available() {
        return;
    }
    let started = Instant::now();
    let (versions, sources) = versions_on_this_machine();
    assert!(!versions.is_empty(), "no versions found in {sources}");

    let mut parsed = Vec::new();
    let mut rejected = Vec::new();
    for text in &versions {
        match DpkgVersion::parse(text, Syntax::Lenient) {
            Ok(version) => parsed.push(version),
            Err(error) => rejected.push(error.to_string()),
        }
    }
    assert!(
        rejected.is_empty(),
        "versions dpkg installed or offers are rejected:\n{}",
        rejected.join("\n")
    );
    let not_strict = parsed
        .iter()
        .filter(|version| version.as_str().parse::<DpkgVersion>().is_err())
        .count();
    parsed.sort();

    let mut pairs: Vec<(String, String)> = parsed
        .windows(2)
        .map(|pair| (pair[0].to_string(), pair[1].to_string()))
        .collect();
    let adjacent = pairs.len();
    let mut rng = Rng(0x5eed_d9c6);
    let random = 2_000;
    for _ in 0..random {
        let a = &parsed[rng.below(parsed.len())];
        let b = &parsed[rng.below(parsed.len())];
        pairs.push((a.to_string(), b.to_string()));
    }
    if parsed.len() == 1 {
        pairs.push((parsed[0].to_string(), parsed[0].to_string()));
    }

    let disagreements = dpkg_disagreements(&pairs);
    eprintln!(
        "dpkg: {} distinct versions ({not_strict} not Debian Policy syntax) from {sources}; \
         {adjacent} adjacent + {random} random pairs checked in {:.1?}",
        versions.len(),
        started.elapsed()
    );
    assert_no_disagreements("dpkg --compare-versions", pairs.len(), &disagreements);
}

#[test]
fn dpkg_agrees_on_dpkgs_own_test_vectors() {
    if !dpkg_available() {
        return;
    }
    let vectors = vector_pairs(DPKG_VECTORS);
    let mut disagreements = Vec::new();
    for (a, b, expected) in &vectors {
        let actual = dpkg_sign(a, b);
        let expected = ["<", "=", ">"]
            .get(usize::try_from(expected + 1).unwrap_or(3))
            .copied();
        if Some(actual.as_str()) != expected {
            disagreements.push(format!(
                "vector {a} {b}: expects {expected:?}, dpkg says {actual}"
            ));
        }
    }
    let pairs: Vec<(String, String)> = vectors.into_iter().map(|(a, b, _)| (a, b)).collect();
    disagreements.extend(dpkg_disagreements(&pairs));
    assert_no_disagreements("dpkg --compare-versions", pairs.len(), &disagreements);
}

/// Pieces of generated dpkg versions: digits with leading zeros, letters of
/// both cases, `~`, separators, and characters dpkg rejects or warns about.
const DPKG_PIECES: &[&str] = &[
    "0", "1", "2", "9", "00", "01", "10", "a", "b", "z", "A", "Z", "~", "~", "+", ".", ".", ":",
    "-", "_", "!", "é", " ",
];
const DPKG_EPOCHS: &[&str] = &[
    "",
    "",
    "",
    "",
    "",
    "0:",
    "1:",
    "00:",
    "2:",
    "10:",
    "+1:",
    "-0:",
    "-1:",
    "a:",
    ":",
    "2147483647:",
    "2147483648:",
    " 1:",
    "\t2:",
    "\n1:",
];

fn tricky_dpkg_version(rng: &mut Rng) -> String {
    let epoch = rng.pick(DPKG_EPOCHS);
    let digits = ["0", "1", "2", "9", "10", "007"];
    let mut upstream = String::new();
    if rng.chance(85) {
        upstream.push_str(rng.pick(&digits));
    }
    upstream.push_str(&rng.string(DPKG_PIECES, 0, 6));
    if rng.chance(5) {
        upstream.push_str(&"9".repeat(25));
    }
    let revision = if rng.chance(50) {
        format!(
            "-{}",
            rng.string(&["0", "1", "9", "a", "b", "~", "+", ".", "_", ":"], 0, 4)
        )
    } else {
        String::new()
    };
    format!("{epoch}{upstream}{revision}")
}

#[test]
fn dpkg_agrees_on_generated_tricky_pairs() {
    if !dpkg_available() {
        return;
    }
    let started = Instant::now();
    let mut rng = Rng(0xd9c6_7a1e);
    let mut pairs = Vec::new();
    while pairs.len() < 6_000 {
        let a = tricky_dpkg_version(&mut rng);
        let b = if rng.chance(60) {
            mutate(&mut rng, &a, DPKG_PIECES)
        } else {
            tricky_dpkg_version(&mut rng)
        };
        // dpkg reads an empty argument as "no version" rather than as a version.
        if !a.is_empty() && !b.is_empty() {
            pairs.push((a, b));
        }
    }
    let accepted = pairs
        .iter()
        .filter(|(a, b)| {
            DpkgVersion::parse(a, Syntax::Lenient).is_ok()
                && DpkgVersion::parse(b, Syntax::Lenient).is_ok()
        })
        .count();
    let disagreements = dpkg_disagreements(&pairs);
    eprintln!(
        "dpkg: {} generated pairs ({accepted} with both sides accepted) checked in {:.1?}",
        pairs.len(),
        started.elapsed()
    );
    assert_no_disagreements("dpkg --compare-versions", pairs.len(), &disagreements);
}

// ---------------------------------------------------------------------------
// rpm.

fn rpm_available() -> bool {
    oracle_available(
        "rpm --eval with rpm.vercmp",
        Command::new("rpm").args(["--eval", "%{lua: print(rpm.vercmp(\"1\", \"2\"))}"]),
        "-1",
    )
}

/// Pairs per `rpm` invocation.
const RPM_BATCH: usize = 5_000;

/// `rpm.vercmp(a, b)` for every pair, many pairs per `rpm` process: the pairs
/// go into a Lua script (every byte escaped) that prints one result per line,
/// `E` where rpm raises an error.
fn rpm_vercmp(pairs: &[(String, String)]) -> Vec<Option<i32>> {
    static BATCHES: AtomicUsize = AtomicUsize::new(0);
    let lua_string =
        |text: &str| -> String { text.bytes().map(|byte| format!("\\{byte:03}")).collect() };
    let batches: Vec<&[(String, String)]> = pairs.chunks(RPM_BATCH).collect();
    in_parallel(&batches, |batch| {
        let mut script = String::from("local pairs = {\n");
        for (a, b) in *batch {
            script.push_str(&format!(
                "{{\"{}\", \"{}\"}},\n",
                lua_string(a),
                lua_string(b)
            ));
        }
        script.push_str(
            "}\nlocal out = {}\nfor i, p in ipairs(pairs) do\n  \
             local ok, r = pcall(rpm.vercmp, p[1], p[2])\n  \
             out[i] = ok and tostring(r) or 'E'\nend\nprint(table.concat(out, '\\n'))\n",
        );
        let number = BATCHES.fetch_add(1, AtomicOrdering::Relaxed);
        let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("rpm-vercmp-{}-{number}.lua", std::process::id()));
        std::fs::write(&path, script).expect("the test's temporary directory is writable");
        let output = Command::new("rpm")
            .arg("--eval")
            .arg(format!("%{{lua: dofile('{}')}}", path.display()))
            .output()
            .expect("rpm runs");
        let _ = std::fs::remove_file(&path);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let results: Vec<Option<i32>> = stdout
            .lines()
            .map(|line| line.trim().parse().ok())
            .collect();
        assert_eq!(
            results.len(),
            batch.len(),
            "rpm printed {} results for {} pairs; stderr: {}",
            results.len(),
            batch.len(),
            String::from_utf8_lossy(&output.stderr)
        );
        results
    })
    .into_iter()
    .flatten()
    .collect()
}

/// Checks pairs against `rpm.vercmp` with `Syntax::Lenient`; returns the disagreements.
fn rpm_disagreements(pairs: &[(String, String)]) -> Vec<String> {
    let theirs = rpm_vercmp(pairs);
    pairs
        .iter()
        .zip(theirs)
        .filter_map(|((a, b), theirs)| {
            let ours = match (
                RpmVersion::parse(a, Syntax::Lenient),
                RpmVersion::parse(b, Syntax::Lenient),
            ) {
                (Ok(x), Ok(y)) => Some(sign(x.cmp(&y))),
                _ => None,
            };
            (ours != theirs)
                .then(|| format!("{a:?} vs {b:?}: ours {ours:?}, rpm.vercmp {theirs:?}"))
        })
        .collect()
}

#[test]
fn rpm_agrees_on_rpms_own_test_vectors_and_oddities() {
    if !rpm_available() {
        return;
    }
    let vectors: Vec<(String, String, i32)> = vector_pairs(RPMVERCMP_VECTORS)
        .into_iter()
        .chain(vector_pairs(RPMVERCMP_ODDITIES))
        .collect();
    let pairs: Vec<(String, String)> = vectors
        .iter()
        .map(|(a, b, _)| (a.clone(), b.clone()))
        .collect();
    let theirs = rpm_vercmp(&pairs);
    let mut disagreements: Vec<String> = vectors
        .iter()
        .zip(&theirs)
        .filter(|((_, _, expected), theirs)| Some(*expected) != **theirs)
        .map(|((a, b, expected), theirs)| {
            format!("vector {a} {b}: expects {expected}, rpm.vercmp {theirs:?}")
        })
        .collect();
    disagreements.extend(rpm_disagreements(&pairs));
    assert_no_disagreements("rpm.vercmp", pairs.len(), &disagreements);
}

const RPM_PIECES: &[&str] = &[
    "0", "1", "2", "9", "00", "01", "10", "a", "b", "z", "A", "Z", "~", "~", "^", "^", ".", ".",
    "_", "+", "-", ":", "é", "%",
];

fn tricky_rpm_version(rng: &mut Rng) -> String {
    let epoch = rng.pick(&["", "", "", "0:", "1:", "00:", "12:", ":", "a:"]);
    let mut version = rng.string(RPM_PIECES, 1, 7);
    if rng.chance(5) {
        version.push_str(&"9".repeat(25));
    }
    let release = if rng.chance(50) {
        format!("-{}", rng.string(RPM_PIECES, 0, 4))
    } else {
        String::new()
    };
    format!("{epoch}{version}{release}")
}

#[test]
fn rpm_agrees_on_generated_tricky_pairs() {
    if !rpm_available() {
        return;
    }
    let started = Instant::now();
    let mut rng = Rng(0x0072_706d);
    let pairs: Vec<(String, String)> = (0..30_000)
        .map(|_| {
            let a = tricky_rpm_version(&mut rng);
            let b = if rng.chance(60) {
                mutate(&mut rng, &a, RPM_PIECES)
            } else {
                tricky_rpm_version(&mut rng)
            };
            (a, b)
        })
        .filter(|(a, b)| !a.is_empty() && !b.is_empty())
        .collect();
    let strict = pairs
        .iter()
        .filter(|(a, b)| a.parse::<RpmVersion>().is_ok() && b.parse::<RpmVersion>().is_ok())
        .count();
    let disagreements = rpm_disagreements(&pairs);
    eprintln!(
        "rpm: {} generated pairs ({strict} with both sides strictly valid) checked in {:.1?}",
        pairs.len(),
        started.elapsed()
    );
    assert_no_disagreements("rpm.vercmp", pairs.len(), &disagreements);
}

#[test]
fn rpm_agrees_on_every_version_string_installed_or_available_here() {
    if !rpm_available() {
        return;
    }
    let started = Instant::now();
    let (versions, sources) = versions_on_this_machine();
    let mut parsed: Vec<RpmVersion> = versions
        .iter()
        .filter_map(|text| RpmVersion::parse(text, Syntax::Lenient).ok())
        .collect();
    assert_eq!(
        parsed.len(),
        versions.len(),
        "rpm.vercmp accepts every non-empty string"
    );
    parsed.sort();
    let mut pairs: Vec<(String, String)> = parsed
        .windows(2)
        .map(|pair| (pair[0].to_string(), pair[1].to_string()))
        .collect();
    let mut rng = Rng(0x0072_706e);
    for _ in 0..2_000 {
        if let (Some(a), Some(b)) = (
            parsed.get(rng.below(parsed.len())),
            parsed.get(rng.below(parsed.len())),
        ) {
            pairs.push((a.to_string(), b.to_string()));
        }
    }
    let disagreements = rpm_disagreements(&pairs);
    eprintln!(
        "rpm: {} distinct version strings from {sources}; {} pairs checked in {:.1?}",
        versions.len(),
        pairs.len(),
        started.elapsed()
    );
    assert_no_disagreements("rpm.vercmp", pairs.len(), &disagreements);
}

// ---------------------------------------------------------------------------
// semver (the crate, in process).

const SEMVER_PIECES: &[&str] = &[
    "0", "1", "9", "00", "01", "10", "999", ".", ".", ".", "-", "-", "+", "a", "Z", "rc", "v", "_",
    " ",
];

fn tricky_semver(rng: &mut Rng) -> String {
    let number = |rng: &mut Rng| rng.pick(&["0", "1", "2", "10", "01", "999", ""]).to_owned();
    let mut text = if rng.chance(85) {
        format!("{}.{}.{}", number(rng), number(rng), number(rng))
    } else {
        rng.string(SEMVER_PIECES, 1, 6)
    };
    if rng.chance(50) {
        text.push('-');
        text.push_str(&rng.string(SEMVER_PIECES, 0, 5));
    }
    if rng.chance(30) {
        text.push('+');
        text.push_str(&rng.string(SEMVER_PIECES, 0, 4));
    }
    text
}

#[test]
fn semver_agrees_with_the_semver_crate() {
    let mut rng = Rng(0x5e_4e72);
    let mut disagreements = Vec::new();
    let mut valid: Vec<(SemverVersion, semver::Version)> = Vec::new();
    let generated = 50_000;
    for _ in 0..generated {
        let text = tricky_semver(&mut rng);
        match (text.parse::<SemverVersion>(), semver::Version::parse(&text)) {
            (Ok(ours), Ok(theirs)) => valid.push((ours, theirs)),
            (Err(_), Err(_)) => {}
            (ours, theirs) => {
                disagreements.push(format!("{text:?}: ours {ours:?}, semver crate {theirs:?}"))
            }
        }
    }
    for _ in 0..50_000 {
        let a = valid.get(rng.below(valid.len()));
        let b = valid.get(rng.below(valid.len()));
        if let (Some((a, x)), Some((b, y))) = (a, b)
            && a.cmp(b) != x.cmp_precedence(y)
        {
            let (ours, theirs) = (a.cmp(b), x.cmp_precedence(y));
            disagreements.push(format!(
                "{a} vs {b}: ours {ours:?}, semver crate {theirs:?}"
            ));
        }
    }
    eprintln!(
        "semver: {generated} generated strings ({} valid), 50000 pairs",
        valid.len()
    );
    assert!(
        valid.len() > 1_000,
        "the generator produces too few valid versions: {}",
        valid.len()
    );
    assert_no_disagreements("the semver crate", generated + 50_000, &disagreements);
}
