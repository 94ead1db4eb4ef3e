//! A repository's `Release` (from its signed `InRelease`): what the suite is,
//! how long the metadata may be trusted, and the size and SHA-256 of every
//! index file it vouches for.

use jiff::{SignedDuration, Timestamp};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::deb822::{self, truncate};
use super::{AptError, AptFile, Result, is_sha256_hex, signature};

/// How far in the future a `Date` may be before the `InRelease` is refused:
/// the archive's clock and ours disagree by seconds, not by hours.
pub const MAX_CLOCK_SKEW: SignedDuration = SignedDuration::from_mins(10);

/// How a repository's `Valid-Until` is enforced. Whatever the choice, an
/// `InRelease` dated in the future or older than the last one accepted is refused.
// `JsonSchema`, so that a catalog source in `Settings` can carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum FreshnessPolicy {
    /// Refuse an `InRelease` whose `Valid-Until` has passed; one without
    /// `Valid-Until` is accepted, as apt does (Debian's stable suite has none).
    #[default]
    Enforce,
    /// Like [`FreshnessPolicy::Enforce`], and refuse an `InRelease` without
    /// `Valid-Until`: for suites that always carry one, such as Debian's and
    /// Ubuntu's `-security`. Without it, nothing bounds how long a captured
    /// copy can be replayed.
    RequireValidUntil,
    /// Do not look at `Valid-Until`. **Only for offline copies** (test
    /// fixtures, an air-gapped import of a snapshot whose age is known and
    /// accepted): with it, a replayed week-old `InRelease` that predates a
    /// security fix is accepted as current.
    IgnoreValidUntil,
}

/// One index file the `Release` vouches for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    /// Relative to the suite's directory (`dists/{suite}/`), e.g. `main/binary-amd64/Packages.xz`.
    pub path: String,
    pub size: u64,
    /// Lowercase hex.
    pub sha256: String,
}

/// The fields of a `Release` file that Fixpoint uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// `Debian`, `Ubuntu`: the vendor.
    pub origin: Option<String>,
    pub label: Option<String>,
    /// `oldstable-security`, `noble-security`.
    pub suite: Option<String>,
    /// `bookworm-security`.
    pub codename: Option<String>,
    /// The release number, `12`; Ubuntu's is `24.04`.
    pub version: Option<String>,
    pub date: Timestamp,
    pub valid_until: Option<Timestamp>,
    pub architectures: Vec<String>,
    pub components: Vec<String>,
    pub acquire_by_hash: bool,
    /// The `SHA256` list, in file order.
    pub sha256: Vec<IndexEntry>,
    /// Fingerprint (uppercase hex) of the key whose signature was accepted;
    /// `None` when the text was parsed without verification.
    pub signed_by: Option<String>,
}

/// Verifies a repository's `InRelease` and returns its `Release`.
///
/// 1. The OpenPGP cleartext signature must verify with a key from `keyring`
///    (binary or ASCII-armored; several keys concatenated, as Debian ships
///    them). One good signature suffices; the key (or signing subkey) must not
///    be expired or revoked at `now`.
/// 2. Only the signed text is parsed.
/// 3. Freshness: see [`FreshnessPolicy`]; a `Date` more than [`MAX_CLOCK_SKEW`]
///    after `now` is refused; a `Date` older than `last_accepted` (the `Date`
///    of the `InRelease` last accepted for this source, which the caller keeps)
///    is refused as a replay. The same `Date` again is fine: it is the same file.
pub fn verify_inrelease(
    inrelease: &[u8],
    keyring: &[u8],
    now: Timestamp,
    policy: FreshnessPolicy,
    last_accepted: Option<Timestamp>,
) -> Result<Release> {
    let verified = signature::verify_cleartext(inrelease, keyring, now)?;
    let mut release = Release::parse_unverified(&verified.text)?;
    release.signed_by = Some(verified.signer);
    release.check_freshness(now, policy, last_accepted)?;
    Ok(release)
}

impl Release {
    /// Parses the text of a `Release` file **without any signature check**:
    /// for a text whose authenticity is already established (the signed part
    /// of an `InRelease`, which [`verify_inrelease`] parses with this), and for
    /// tests. Never call it on bytes straight from a mirror.
    pub fn parse_unverified(text: &str) -> Result<Release> {
        let syntax = |e: deb822::SyntaxError| AptError::Syntax {
            file: AptFile::Release,
            line: e.line,
            message: e.message,
        };
        let mut paragraphs = deb822::paragraphs(text);
        let paragraph = match paragraphs.next() {
            Some(p) => p.map_err(syntax)?,
            None => {
                return Err(AptError::MissingField {
                    file: AptFile::Release,
                    line: 1,
                    field: "Date",
                });
            }
        };
        if let Some(next) = paragraphs.next() {
            let line = next.map_err(syntax)?.line;
            return Err(AptError::Syntax {
                file: AptFile::Release,
                line,
                message: "a Release has one paragraph; found a second".into(),
            });
        }
        let owned = |name: &str| {
            paragraph
                .value(name)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let words = |name: &str| {
            paragraph
                .get(name)
                .map(|f| f.words().map(str::to_owned).collect())
                .unwrap_or_default()
        };
        let date_field = |name: &'static str| -> Result<Option<Timestamp>> {
            let Some(field) = paragraph.get(name) else {
                return Ok(None);
            };
            parse_date(field.value)
                .map(Some)
                .map_err(|message| AptError::InvalidField {
                    file: AptFile::Release,
                    line: field.line,
                    field: name.into(),
                    value: truncate(field.value),
                    message,
                })
        };
        let date = date_field("Date")?.ok_or(AptError::MissingField {
            file: AptFile::Release,
            line: paragraph.line,
            field: "Date",
        })?;
        let valid_until = date_field("Valid-Until")?;
        let acquire_by_hash = paragraph
            .value("Acquire-By-Hash")
            .is_some_and(|v| v.eq_ignore_ascii_case("yes"));

        let mut sha256 = Vec::new();
        if let Some(field) = paragraph.get("SHA256") {
            for (line, entry) in field.lines() {
                sha256.push(parse_entry(line, entry)?);
            }
        }
        Ok(Release {
            origin: owned("Origin"),
            label: owned("Label"),
            suite: owned("Suite"),
            codename: owned("Codename"),
            version: owned("Version"),
            date,
            valid_until,
            architectures: words("Architectures"),
            components: words("Components"),
            acquire_by_hash,
            sha256,
            signed_by: None,
        })
    }

    /// Applies the freshness rules of [`verify_inrelease`].
    pub fn check_freshness(
        &self,
        now: Timestamp,
        policy: FreshnessPolicy,
        last_accepted: Option<Timestamp>,
    ) -> Result<()> {
        if let Ok(latest) = now.checked_add(MAX_CLOCK_SKEW)
            && self.date > latest
        {
            return Err(AptError::FromTheFuture {
                date: self.date,
                now,
            });
        }
        if let Some(last) = last_accepted
            && self.date < last
        {
            return Err(AptError::Replayed {
                date: self.date,
                last_accepted: last,
            });
        }
        match (policy, self.valid_until) {
            (FreshnessPolicy::IgnoreValidUntil, _) => Ok(()),
            (_, Some(valid_until)) if now >= valid_until => {
                Err(AptError::Expired { valid_until, now })
            }
            (FreshnessPolicy::RequireValidUntil, None) => Err(AptError::NoValidUntil),
            _ => Ok(()),
        }
    }

    /// Checks that this is the suite that was asked for, by `Suite` or
    /// `Codename` (as apt does): a validly signed `InRelease` of another suite
    /// of the same archive (`bookworm-updates` served as `bookworm-security`)
    /// is as dangerous as a stale one.
    pub fn check_suite(&self, requested: &str) -> Result<()> {
        let requested = requested.trim_end_matches('/');
        let matches = |v: &Option<String>| v.as_deref() == Some(requested);
        if matches(&self.suite) || matches(&self.codename) {
            return Ok(());
        }
        let found = [self.codename.as_deref(), self.suite.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" / ");
        Err(AptError::WrongSuite {
            requested: requested.into(),
            found,
        })
    }

    /// The `SHA256` entry for exactly this path.
    pub fn entry(&self, path: &str) -> Option<&IndexEntry> {
        self.sha256.iter().find(|e| e.path == path)
    }

    /// Whether this suite carries security updates: its `Suite` or `Codename`
    /// ends in `-security` (Debian's `bookworm-security`, Ubuntu's `noble-security`).
    pub fn is_security(&self) -> bool {
        [&self.suite, &self.codename]
            .into_iter()
            .flatten()
            .any(|s| s.ends_with("-security"))
    }
}

/// One `SHA256` line: `{hex} {size} {path}`.
fn parse_entry(line: usize, entry: &str) -> Result<IndexEntry> {
    let invalid = |message: &str| AptError::InvalidField {
        file: AptFile::Release,
        line,
        field: "SHA256".into(),
        value: truncate(entry),
        message: message.into(),
    };
    let mut words = entry.split_ascii_whitespace();
    let (Some(hash), Some(size), Some(path), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return Err(invalid("expected `{sha256} {size} {path}`"));
    };
    if !is_sha256_hex(hash) {
        return Err(invalid("expected 64 hex digits"));
    }
    let size = size
        .parse::<u64>()
        .map_err(|_| invalid("expected a size in bytes"))?;
    Ok(IndexEntry {
        path: path.to_owned(),
        size,
        sha256: hash.to_ascii_lowercase(),
    })
}

/// Reads a Release date: RFC 2822 as the archives write it (`Tue, 24 Nov 2026
/// 00:34:33 UTC`, where `UTC`, like `GMT` or `+0000`, is the zone).
fn parse_date(value: &str) -> Result<Timestamp, String> {
    static PARSER: jiff::fmt::rfc2822::DateTimeParser = jiff::fmt::rfc2822::DateTimeParser::new();
    let value = value.trim();
    let normalized;
    let value = match value
        .strip_suffix(" UTC")
        .or_else(|| value.strip_suffix(" utc"))
    {
        Some(head) => {
            normalized = format!("{head} +0000");
            normalized.as_str()
        }
        None => value,
    };
    PARSER.parse_timestamp(value).map_err(|e| {
        format!("expected an RFC 2822 date such as `Tue, 24 Nov 2026 00:34:33 UTC`: {e}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RELEASE: &str = "Origin: Debian\nLabel: Debian-Security\nSuite: oldstable-security\nVersion: 12\n\
Codename: bookworm-security\nDate: Tue, 24 Nov 2026 00:34:33 UTC\nValid-Until: Tue, 01 Dec 2026 00:34:33 UTC\n\
Acquire-By-Hash: yes\nArchitectures: amd64 arm64\nComponents: updates/main updates/contrib\n\
SHA256:\n e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855        0 contrib/Contents-amd64\n \
9a654c21a035edc55b422292960320bcdc3b9351a35d48fccd42359f2cf130a8  2531138 main/binary-amd64/Packages\n";

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    #[test]
    fn release_fields_are_read() {
        let r = Release::parse_unverified(RELEASE).expect("valid");
        assert_eq!(r.origin.as_deref(), Some("Debian"));
        assert_eq!(r.codename.as_deref(), Some("bookworm-security"));
        assert_eq!(r.date, ts("2026-11-24T00:34:33Z"));
        assert_eq!(r.valid_until, Some(ts("2026-12-01T00:34:33Z")));
        assert_eq!(r.architectures, ["amd64", "arm64"]);
        assert!(r.acquire_by_hash && r.is_security());
        assert_eq!(
            r.entry("main/binary-amd64/Packages").map(|e| e.size),
            Some(2_531_138)
        );
        assert!(r.entry("main/binary-amd64").is_none());
    }

    #[test]
    fn dates_in_other_zones_are_read() {
        assert_eq!(
            parse_date("Sat, 1 Jun 2024 10:00:00 +0200"),
            Ok(ts("2024-06-01T08:00:00Z"))
        );
        assert_eq!(
            parse_date("Sat, 01 Jun 2024 08:00:00 GMT"),
            Ok(ts("2024-06-01T08:00:00Z"))
        );
        assert!(parse_date("yesterday").is_err());
    }

    #[test]
    fn a_bad_sha256_line_names_its_line() {
        let text = RELEASE.replace(" 2531138 ", " big ");
        let err = Release::parse_unverified(&text).expect_err("invalid size");
        assert!(
            matches!(err, AptError::InvalidField { line: 13, .. }),
            "{err}"
        );
    }

    #[test]
    fn freshness_rules() {
        let r = Release::parse_unverified(RELEASE).expect("valid");
        let ok = |now: &str, p, last: Option<&str>| r.check_freshness(ts(now), p, last.map(ts));
        use FreshnessPolicy::*;
        assert!(ok("2026-11-30T00:00:00Z", Enforce, None).is_ok());
        assert!(matches!(
            ok("2026-12-01T00:34:33Z", Enforce, None),
            Err(AptError::Expired { .. })
        ));
        assert!(ok("2027-06-01T00:00:00Z", IgnoreValidUntil, None).is_ok());
        assert!(matches!(
            ok("2026-11-24T00:00:00Z", Enforce, None),
            Err(AptError::FromTheFuture { .. })
        ));
        assert!(
            ok("2026-11-24T00:30:00Z", Enforce, None).is_ok(),
            "within the clock skew"
        );
        assert!(matches!(
            ok(
                "2026-11-30T00:00:00Z",
                Enforce,
                Some("2026-11-25T00:00:00Z")
            ),
            Err(AptError::Replayed { .. })
        ));
        assert!(
            ok(
                "2026-11-30T00:00:00Z",
                Enforce,
                Some("2026-11-24T00:34:33Z")
            )
            .is_ok()
        );
        let mut stable = r.clone();
        stable.valid_until = None;
        assert!(
            stable
                .check_freshness(ts("2030-01-01T00:00:00Z"), Enforce, None)
                .is_ok()
        );
        assert_eq!(
            stable.check_freshness(ts("2030-01-01T00:00:00Z"), RequireValidUntil, None),
            Err(AptError::NoValidUntil)
        );
    }

    #[test]
    fn the_suite_is_matched_by_suite_or_codename() {
        let r = Release::parse_unverified(RELEASE).expect("valid");
        assert!(r.check_suite("bookworm-security").is_ok());
        assert!(r.check_suite("oldstable-security").is_ok());
        assert!(matches!(
            r.check_suite("bookworm-updates"),
            Err(AptError::WrongSuite { .. })
        ));
    }
}
