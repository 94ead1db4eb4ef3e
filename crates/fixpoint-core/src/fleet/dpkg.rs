//! Reading a Debian or Ubuntu machine: dpkg's status database
//! (`/var/lib/dpkg/status`) and `/etc/os-release`.

use crate::catalog::Platform;
use crate::catalog::apt::deb822::{self, truncate};
use crate::version::{self, Scheme, Syntax};

use super::{FleetError, InstalledPackage};

/// The installed packages of a dpkg status database.
///
/// A package counts when its `Status` says it is `installed` (`install ok
/// installed`, and also `hold ok installed`: a held package is installed, apt
/// only leaves it alone); removed packages with configuration files left
/// (`deinstall ok config-files`) and half-installed ones do not. `Source:` may
/// be `name` or `name (version)` (binNMUs); absent, the package is its own
/// source at its own version.
///
/// Errors name the 1-based line: text that is not UTF-8, deb822 syntax, an
/// installed package without `Package`, `Version` or `Architecture`, a
/// malformed `Source`, or a version dpkg itself would not accept.
pub fn parse_dpkg_status(bytes: &[u8]) -> Result<Vec<InstalledPackage>, FleetError> {
    let text = std::str::from_utf8(bytes).map_err(|e| FleetError::DpkgStatus {
        line: bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1,
        message: "not UTF-8 text".into(),
    })?;
    let mut installed = Vec::with_capacity(text.len() / 900);
    for paragraph in deb822::paragraphs(text) {
        let paragraph = paragraph.map_err(|e| FleetError::DpkgStatus {
            line: e.line,
            message: e.message,
        })?;
        let error = |line: usize, message: String| FleetError::DpkgStatus { line, message };
        let required = |name: &'static str| match paragraph.get(name) {
            Some(f) if !f.value.is_empty() => Ok(f),
            _ => Err(error(paragraph.line, format!("field {name} is required"))),
        };
        let package = required("Package")?;
        let status = required("Status")?;
        let words: Vec<&str> = status.value.split_ascii_whitespace().collect();
        let [_want, flag, state] = words[..] else {
            return Err(error(
                status.line,
                format!(
                    "Status: expected `want flag status` such as `install ok installed`, found {:?}",
                    truncate(status.value)
                ),
            ));
        };
        if state != "installed" || flag != "ok" {
            continue;
        }
        let version = required("Version")?;
        let architecture = required("Architecture")?;
        check_version(version.line, "Version", version.value)?;
        let (source, source_version) = match paragraph.get("Source") {
            None => (package.value, version.value),
            Some(f) => {
                let (name, explicit) = match f.value.split_once('(') {
                    None => (f.value, None),
                    Some((name, rest)) => match rest.trim_end().strip_suffix(')') {
                        Some(v) => (name.trim_end(), Some(v.trim())),
                        None => {
                            return Err(error(
                                f.line,
                                format!(
                                    "Source: expected `name` or `name (version)`, found {:?}",
                                    truncate(f.value)
                                ),
                            ));
                        }
                    },
                };
                if name.is_empty() || name.contains(char::is_whitespace) {
                    return Err(error(
                        f.line,
                        format!(
                            "Source: expected a source package name, found {:?}",
                            truncate(f.value)
                        ),
                    ));
                }
                if let Some(v) = explicit {
                    check_version(f.line, "Source", v)?;
                }
                (name, explicit.unwrap_or(version.value))
            }
        };
        installed.push(InstalledPackage {
            name: package.value.to_owned(),
            architecture: architecture.value.to_owned(),
            version: version.value.to_owned(),
            source: source.to_owned(),
            source_version: source_version.to_owned(),
        });
    }
    Ok(installed)
}

fn check_version(line: usize, field: &str, value: &str) -> Result<(), FleetError> {
    version::validate(Scheme::Dpkg, Syntax::Lenient, value).map_err(|e| FleetError::DpkgStatus {
        line,
        message: format!("{field}: expected a dpkg version: {e}"),
    })
}

/// What `/etc/os-release` says about the operating system.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OsRelease {
    /// `ID`: `debian`, `ubuntu`, `rhel`; `linux` when absent, as os-release(5) says.
    pub id: String,
    /// `VERSION_ID`: `12`, `24.04`; absent on rolling releases (Debian testing, sid).
    pub version_id: Option<String>,
    /// `VERSION_CODENAME`: `bookworm`, `noble`.
    pub version_codename: Option<String>,
}

impl OsRelease {
    /// The catalog platform: `ID` and `VERSION_ID` (`debian:12`), or the codename
    /// when there is no `VERSION_ID` (`debian:trixie`), or the `ID` alone.
    pub fn platform(&self) -> Platform {
        Platform::new(
            &self.id,
            self.version_id
                .as_deref()
                .or(self.version_codename.as_deref()),
        )
    }
}

/// Reads os-release(5): `KEY=value` lines, values optionally in single or
/// double quotes (with `\"`, `\\`, `` \` `` and `\$` escapes inside double
/// quotes), `#` comments and blank lines. A line that is none of these, or a
/// quote left open, is an error with its 1-based line.
pub fn parse_os_release(text: &str) -> Result<OsRelease, FleetError> {
    let mut release = OsRelease::default();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let error = |message: String| FleetError::OsRelease { line, message };
        let Some((key, value)) = trimmed.split_once('=') else {
            return Err(error(format!(
                "expected KEY=value, found {:?}",
                truncate(trimmed)
            )));
        };
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(error(format!("invalid variable name {:?}", truncate(key))));
        }
        let value = unquote(value).map_err(error)?;
        let value = (!value.is_empty()).then_some(value);
        match key {
            "ID" => release.id = value.unwrap_or_default(),
            "VERSION_ID" => release.version_id = value,
            "VERSION_CODENAME" => release.version_codename = value,
            _ => {}
        }
    }
    if release.id.is_empty() {
        "linux".clone_into(&mut release.id);
    }
    Ok(release)
}

fn unquote(value: &str) -> Result<String, String> {
    let mut chars = value.chars();
    match chars.next() {
        Some('\'') => value
            .strip_prefix('\'')
            .and_then(|v| v.strip_suffix('\''))
            .filter(|v| !v.contains('\''))
            .map(str::to_owned)
            .ok_or_else(|| {
                format!(
                    "unterminated or stray single quote in {:?}",
                    truncate(value)
                )
            }),
        Some('"') => {
            let mut out = String::new();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some(e @ ('"' | '\\' | '`' | '$')) => out.push(e),
                        Some(other) => {
                            out.push('\\');
                            out.push(other);
                        }
                        None => break,
                    },
                    '"' => {
                        closed = true;
                        break;
                    }
                    c => out.push(c),
                }
            }
            if !closed || chars.next().is_some() {
                return Err(format!(
                    "unterminated or stray double quote in {:?}",
                    truncate(value)
                ));
            }
            Ok(out)
        }
        _ if value.contains(char::is_whitespace) => Err(format!(
            "a value with spaces must be quoted, found {:?}",
            truncate(value)
        )),
        _ => Ok(value.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "\
Package: bash
Essential: yes
Status: install ok installed
Priority: required
Architecture: amd64
Source: bash (5.2.15-2)
Version: 5.2.15-2+b8
Description: GNU Bourne Again SHell
 Bash is an sh-compatible command language interpreter.
 .
 More text.

Package: oldpkg
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0-1

Package: libssl3
Status: hold ok installed
Architecture: amd64
Multi-Arch: same
Source: openssl
Version: 3.0.17-1~deb12u2

Package: jq
Status: install ok installed
Architecture: amd64
Version: 1.6-2.1
";

    #[test]
    fn only_installed_packages_count_with_their_sources() {
        let packages = parse_dpkg_status(STATUS.as_bytes()).expect("valid");
        assert_eq!(
            packages,
            vec![
                InstalledPackage::new("bash", "amd64", "5.2.15-2+b8")
                    .built_from("bash", "5.2.15-2"),
                InstalledPackage::new("libssl3", "amd64", "3.0.17-1~deb12u2")
                    .built_from("openssl", "3.0.17-1~deb12u2"),
                InstalledPackage::new("jq", "amd64", "1.6-2.1"),
            ]
        );
    }

    #[test]
    fn errors_name_the_line() {
        let text = STATUS.replace("Source: openssl\n", "Source: openssl (3.0\n");
        let err = parse_dpkg_status(text.as_bytes()).expect_err("malformed Source");
        assert!(
            matches!(err, FleetError::DpkgStatus { line: 22, .. }),
            "{err}"
        );
        let text = STATUS.replace("Version: 1.6-2.1\n", "");
        let err = parse_dpkg_status(text.as_bytes()).expect_err("no version");
        assert_eq!(
            err.to_string(),
            "dpkg status line 25: field Version is required"
        );
        let text = STATUS.replace(
            "Status: install ok installed\nArchitecture: amd64\nVersion: 1.6-2.1",
            "Status: installed\nArchitecture: amd64\nVersion: 1.6-2.1",
        );
        let err = parse_dpkg_status(text.as_bytes()).expect_err("short status");
        assert!(
            matches!(err, FleetError::DpkgStatus { line: 26, .. }),
            "{err}"
        );
        let err = parse_dpkg_status(b"Package: a\n continuation\n\xff\n").expect_err("bad");
        assert!(matches!(err, FleetError::DpkgStatus { .. }), "{err}");
        let err = parse_dpkg_status(b"Package: ab\nStatus: install ok installed\nVersion: 1\xff\n")
            .expect_err("not UTF-8");
        assert!(
            matches!(err, FleetError::DpkgStatus { line: 3, .. }),
            "{err}"
        );
    }

    #[test]
    fn versions_dpkg_would_refuse_are_errors() {
        let text = STATUS.replace("Version: 1.6-2.1\n", "Version: 1:\n");
        let err = parse_dpkg_status(text.as_bytes()).expect_err("empty upstream");
        assert!(err.to_string().contains("expected a dpkg version"), "{err}");
    }

    #[test]
    fn os_release_gives_the_platform() {
        let text = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n\
VERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n\
# comment\n\nHOME_URL='https://www.debian.org/'\n";
        let r = parse_os_release(text).expect("valid");
        assert_eq!(r.id, "debian");
        assert_eq!(r.version_id.as_deref(), Some("12"));
        assert_eq!(r.version_codename.as_deref(), Some("bookworm"));
        assert_eq!(r.platform().to_string(), "debian:12");

        let sid = parse_os_release("ID=debian\nVERSION_CODENAME=trixie\n").expect("valid");
        assert_eq!(sid.platform().to_string(), "debian:trixie");
        let bare = parse_os_release("").expect("empty is valid");
        assert_eq!(bare.platform().to_string(), "linux");
        let ubuntu =
            parse_os_release("ID=ubuntu\nVERSION_ID=\"24.04\"\nNAME=\"A \\\"quoted\\\" name\"\n")
                .expect("valid");
        assert_eq!(ubuntu.platform().to_string(), "ubuntu:24.04");
    }

    #[test]
    fn os_release_errors_name_the_line() {
        let err = parse_os_release("ID=debian\nVERSION_ID=\"12\n").expect_err("open quote");
        assert!(
            matches!(err, FleetError::OsRelease { line: 2, .. }),
            "{err}"
        );
        let err = parse_os_release("ID=debian\n\njust words\n").expect_err("no =");
        assert!(
            matches!(err, FleetError::OsRelease { line: 3, .. }),
            "{err}"
        );
        let err = parse_os_release("NAME=two words\n").expect_err("unquoted space");
        assert!(
            matches!(err, FleetError::OsRelease { line: 1, .. }),
            "{err}"
        );
    }
}
