//! apt's source lists: the deb822 `.sources` files that current Debian and
//! Ubuntu machines carry (`/etc/apt/sources.list.d/debian.sources`) and the
//! older one-line `sources.list` format. The server reads a machine's own
//! file to learn which repositories to fetch, so no mirror address has to be
//! written into Fixpoint's configuration.
//!
//! Option names are kept as deb822 spells them (`Check-Valid-Until`); options
//! of the one-line format are renamed to match (`check-valid-until=no` →
//! `Check-Valid-Until: no`), so both formats read the same.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::deb822::{self, Field, truncate};
use super::{AptError, AptFile, Result};

/// `deb` (binary packages) or `deb-src` (sources).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceType {
    Deb,
    DebSrc,
}

/// Which keys may sign a source's `InRelease`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SignedBy {
    /// Keyring files and/or key fingerprints.
    Keyrings(Vec<KeyringRef>),
    /// An ASCII-armored public key block written into the file itself
    /// (continuation lines, `.` for an empty line); kept as the armored text.
    Inline(String),
}

/// One entry of a `Signed-By` list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum KeyringRef {
    /// A keyring file, `/usr/share/keyrings/debian-archive-keyring.gpg`.
    Path(String),
    /// A key fingerprint (40 or 64 hex digits; a trailing `!` pins the exact
    /// subkey, as apt and gpg read it, and is kept).
    Fingerprint(String),
}

/// One source: a deb822 stanza, or one line of a `sources.list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceEntry {
    /// 1-based line where the stanza or line starts.
    pub line: usize,
    pub types: Vec<SourceType>,
    /// Repository base URIs (`http://mirror.invalid/debian`).
    pub uris: Vec<String>,
    /// Suites (`bookworm-security`); one that ends in `/` is an exact path (a "flat" repository).
    pub suites: Vec<String>,
    pub components: Vec<String>,
    /// Restricts the architectures fetched; empty for the machine's own.
    pub architectures: Vec<String>,
    pub signed_by: Option<SignedBy>,
    /// `Enabled: no` turns a stanza off without deleting it; such entries are
    /// returned (so tools can show them) and are for the caller to skip.
    pub enabled: bool,
    /// Every other option, by its deb822 name (`Check-Valid-Until`, `Languages`, `Trusted`).
    pub options: BTreeMap<String, String>,
}

impl SourceEntry {
    /// The `(uri, suite)` pairs this entry fetches, URIs first, in file order.
    pub fn repositories(&self) -> impl Iterator<Item = (&str, &str)> {
        self.uris
            .iter()
            .flat_map(move |u| self.suites.iter().map(move |s| (u.as_str(), s.as_str())))
    }

    /// The directory holding a suite's `InRelease`: `{uri}/dists/{suite}/`, or
    /// for a flat repository (suite ending in `/`) `{uri}/{suite}`.
    pub fn dist_url(uri: &str, suite: &str) -> String {
        let uri = uri.trim_end_matches('/');
        if suite.ends_with('/') {
            let suite = suite.trim_start_matches("./");
            if suite.is_empty() {
                format!("{uri}/")
            } else {
                format!("{uri}/{suite}")
            }
        } else {
            format!("{uri}/dists/{suite}/")
        }
    }
}

/// Reads a source list: the deb822 `.sources` format, or the one-line
/// `sources.list` format when the first line that is not blank or a comment
/// starts with `deb` or `deb-src`. Errors carry the line.
pub fn parse_sources(text: &str) -> Result<Vec<SourceEntry>> {
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'));
    let one_line = first.is_some_and(|l| {
        let word = l.split_ascii_whitespace().next().unwrap_or_default();
        word == "deb" || word == "deb-src"
    });
    if one_line {
        parse_one_line(text)
    } else {
        parse_deb822(text)
    }
}

/// deb822 option names and their one-line spellings.
const OPTIONS: &[(&str, &str)] = &[
    ("Architectures", "arch"),
    ("Architectures-Add", "arch+"),
    ("Architectures-Remove", "arch-"),
    ("Languages", "lang"),
    ("Languages-Add", "lang+"),
    ("Languages-Remove", "lang-"),
    ("Targets", "target"),
    ("Targets-Add", "target+"),
    ("Targets-Remove", "target-"),
    ("PDiffs", "pdiffs"),
    ("By-Hash", "by-hash"),
    ("Allow-Insecure", "allow-insecure"),
    ("Allow-Weak", "allow-weak"),
    ("Allow-Downgrade-To-Insecure", "allow-downgrade-to-insecure"),
    ("Trusted", "trusted"),
    ("Signed-By", "signed-by"),
    ("Check-Valid-Until", "check-valid-until"),
    ("Valid-Until-Min", "valid-until-min"),
    ("Valid-Until-Max", "valid-until-max"),
    ("Check-Date", "check-date"),
    ("Date-Max-Future", "date-max-future"),
    ("InRelease-Path", "inrelease-path"),
    ("Snapshot", "snapshot"),
    ("Include", "include"),
    ("Exclude", "exclude"),
];

fn invalid(line: usize, field: &str, value: &str, message: impl Into<String>) -> AptError {
    AptError::InvalidField {
        file: AptFile::Sources,
        line,
        field: field.into(),
        value: truncate(value),
        message: message.into(),
    }
}

fn parse_type(line: usize, field: &str, word: &str) -> Result<SourceType> {
    match word {
        "deb" => Ok(SourceType::Deb),
        "deb-src" => Ok(SourceType::DebSrc),
        _ => Err(invalid(line, field, word, "expected `deb` or `deb-src`")),
    }
}

fn parse_bool(line: usize, field: &str, value: &str) -> Result<bool> {
    match value.to_ascii_lowercase().as_str() {
        "yes" | "true" | "1" | "on" | "enable" => Ok(true),
        "no" | "false" | "0" | "off" | "disable" => Ok(false),
        _ => Err(invalid(line, field, value, "expected `yes` or `no`")),
    }
}

fn is_fingerprint(word: &str) -> bool {
    let hex = word.strip_suffix('!').unwrap_or(word);
    matches!(hex.len(), 40 | 64) && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

fn keyrings<'a>(words: impl Iterator<Item = &'a str>) -> SignedBy {
    SignedBy::Keyrings(
        words
            .flat_map(|w| w.split(','))
            .filter(|w| !w.is_empty())
            .map(|w| {
                if is_fingerprint(w) {
                    KeyringRef::Fingerprint(w.to_owned())
                } else {
                    KeyringRef::Path(w.to_owned())
                }
            })
            .collect(),
    )
}

const KEY_BEGIN: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----";
const KEY_END: &str = "-----END PGP PUBLIC KEY BLOCK-----";

/// `Signed-By:` either names keyrings/fingerprints on one line, or holds an
/// armored key block on continuation lines.
fn signed_by(field: &Field<'_>) -> Result<SignedBy> {
    if !field.is_multiline() && !field.value.starts_with(KEY_BEGIN) {
        let by = keyrings(field.words());
        return match &by {
            SignedBy::Keyrings(refs) if refs.is_empty() => Err(invalid(
                field.line,
                field.name,
                field.value,
                "expected a keyring path, a fingerprint or a key block",
            )),
            _ => Ok(by),
        };
    }
    let mut lines: Vec<&str> = Vec::new();
    if !field.value.is_empty() {
        lines.push(field.value);
    }
    lines.extend(field.lines().map(|(_, l)| l));
    let first = lines.first().copied().unwrap_or_default();
    if first != KEY_BEGIN {
        // Several keyrings written one per line.
        return Ok(keyrings(field.words()));
    }
    if lines.last().copied() != Some(KEY_END) {
        return Err(invalid(
            field.line,
            field.name,
            first,
            format!("key block does not end with `{KEY_END}`"),
        ));
    }
    let mut armored = lines.join("\n");
    armored.push('\n');
    Ok(SignedBy::Inline(armored))
}

fn parse_deb822(text: &str) -> Result<Vec<SourceEntry>> {
    let mut entries = Vec::new();
    for paragraph in deb822::paragraphs(text) {
        let p = paragraph.map_err(|e| AptError::Syntax {
            file: AptFile::Sources,
            line: e.line,
            message: e.message,
        })?;
        for (i, f) in p.fields.iter().enumerate() {
            if let Some(earlier) = p.fields[..i]
                .iter()
                .find(|g| g.name.eq_ignore_ascii_case(f.name))
            {
                return Err(AptError::Syntax {
                    file: AptFile::Sources,
                    line: f.line,
                    message: format!(
                        "field {} given twice (first on line {})",
                        f.name, earlier.line
                    ),
                });
            }
        }
        let mut entry = SourceEntry {
            line: p.line,
            types: Vec::new(),
            uris: Vec::new(),
            suites: Vec::new(),
            components: Vec::new(),
            architectures: Vec::new(),
            signed_by: None,
            enabled: true,
            options: BTreeMap::new(),
        };
        for f in &p.fields {
            let words = || f.words().map(str::to_owned).collect::<Vec<_>>();
            match f.name.to_ascii_lowercase().as_str() {
                "types" => {
                    entry.types = f
                        .words()
                        .map(|w| parse_type(f.line, f.name, w))
                        .collect::<Result<_>>()?;
                }
                "uris" => entry.uris = words(),
                "suites" => entry.suites = words(),
                "components" => entry.components = words(),
                "architectures" => entry.architectures = words(),
                "enabled" => entry.enabled = parse_bool(f.line, f.name, f.value)?,
                "signed-by" => entry.signed_by = Some(signed_by(f)?),
                _ => {
                    let name = OPTIONS
                        .iter()
                        .find(|(deb822, _)| deb822.eq_ignore_ascii_case(f.name))
                        .map_or(f.name, |(deb822, _)| deb822);
                    entry.options.insert(name.to_owned(), words().join(" "));
                }
            }
        }
        let missing = |field| AptError::MissingField {
            file: AptFile::Sources,
            line: p.line,
            field,
        };
        if entry.types.is_empty() {
            return Err(missing("Types"));
        }
        if entry.uris.is_empty() {
            return Err(missing("URIs"));
        }
        if entry.suites.is_empty() {
            return Err(missing("Suites"));
        }
        check_components(&entry, p.get("Components").map_or(p.line, |f| f.line))?;
        entries.push(entry);
    }
    Ok(entries)
}

/// A suite that is an exact path (ends in `/`) takes no components; any other needs some.
fn check_components(entry: &SourceEntry, line: usize) -> Result<()> {
    for suite in &entry.suites {
        let flat = suite.ends_with('/');
        if flat && !entry.components.is_empty() {
            return Err(invalid(
                line,
                "Components",
                &entry.components.join(" "),
                format!("suite {suite} is an exact path and takes no components"),
            ));
        }
        if !flat && entry.components.is_empty() {
            return Err(AptError::MissingField {
                file: AptFile::Sources,
                line,
                field: "Components",
            });
        }
    }
    Ok(())
}

/// `deb [ option=value … ] uri suite [component …]`, one source a line; `#` starts a comment.
fn parse_one_line(text: &str) -> Result<Vec<SourceEntry>> {
    let mut entries = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let content = raw.split_once('#').map_or(raw, |(before, _)| before).trim();
        if content.is_empty() {
            continue;
        }
        let syntax = |message: String| AptError::Syntax {
            file: AptFile::Sources,
            line,
            message,
        };
        let (kind, mut rest) = content.split_once([' ', '\t']).unwrap_or((content, ""));
        let kind = parse_type(line, "type", kind)?;
        let mut entry = SourceEntry {
            line,
            types: vec![kind],
            uris: Vec::new(),
            suites: Vec::new(),
            components: Vec::new(),
            architectures: Vec::new(),
            signed_by: None,
            enabled: true,
            options: BTreeMap::new(),
        };
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix('[') {
            let Some((options, after)) = after.split_once(']') else {
                return Err(syntax("option list `[` is not closed with `]`".into()));
            };
            for option in options.split_ascii_whitespace() {
                let Some((key, value)) = option.split_once('=') else {
                    return Err(syntax(format!(
                        "option {:?}: expected `name=value`",
                        truncate(option)
                    )));
                };
                if key.is_empty() || value.is_empty() {
                    return Err(syntax(format!(
                        "option {:?}: expected `name=value`",
                        truncate(option)
                    )));
                }
                let key_lower = key.to_ascii_lowercase();
                match key_lower.as_str() {
                    "arch" => entry.architectures = value.split(',').map(str::to_owned).collect(),
                    "signed-by" => entry.signed_by = Some(keyrings(std::iter::once(value))),
                    _ => {
                        let name = OPTIONS
                            .iter()
                            .find(|(_, one_line)| *one_line == key_lower)
                            .map_or(key, |(deb822, _)| deb822);
                        entry
                            .options
                            .insert(name.to_owned(), value.replace(',', " "));
                    }
                }
            }
            rest = after;
        }
        let mut words = rest.split_ascii_whitespace();
        let (Some(uri), Some(suite)) = (words.next(), words.next()) else {
            return Err(syntax(
                "expected `deb [options] uri suite [component …]`".into(),
            ));
        };
        entry.uris.push(uri.to_owned());
        entry.suites.push(suite.to_owned());
        entry.components = words.map(str::to_owned).collect();
        check_components(&entry, line)?;
        entries.push(entry);
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dist_urls_follow_apt() {
        assert_eq!(
            SourceEntry::dist_url("http://m.invalid/debian/", "bookworm"),
            "http://m.invalid/debian/dists/bookworm/"
        );
        assert_eq!(
            SourceEntry::dist_url("http://m.invalid/repo", "./"),
            "http://m.invalid/repo/"
        );
        assert_eq!(
            SourceEntry::dist_url("http://m.invalid/repo", "amd64/"),
            "http://m.invalid/repo/amd64/"
        );
    }

    #[test]
    fn fingerprints_and_paths_are_told_apart() {
        let SignedBy::Keyrings(refs) =
            keyrings(["/k.gpg,ED541312A33F1128F10B1C6C54404762BBB6E853!"].into_iter())
        else {
            panic!("keyrings expected");
        };
        assert_eq!(
            refs,
            [
                KeyringRef::Path("/k.gpg".into()),
                KeyringRef::Fingerprint("ED541312A33F1128F10B1C6C54404762BBB6E853!".into())
            ]
        );
    }
}
