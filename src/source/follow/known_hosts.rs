//! Checking an SSH server's host key against an OpenSSH `known_hosts` file.
//!
//! libgit2 hands the certificate callback the raw key the server presented; this module
//! decides whether the file vouches for it, so a server that is not the one the operator
//! listed (a new machine at the same address, a man in the middle) is refused before any
//! credential is offered to it. libgit2 would also consult `~/.ssh/known_hosts` on its own;
//! the callback's answer overrides that, so only the configured file counts.
//!
//! Understood: plain lines `host[,host...] keytype base64 [comment]`, the `[host]:port` form
//! for servers on another port than 22, `*`/`?` wildcards and `!` negations as OpenSSH has
//! them, hashed names (`|1|salt|hash`, what `HashKnownHosts yes` writes) and `@revoked`.
//! `@cert-authority` lines are skipped: host certificates are not supported (libssh2 does
//! not present them), and saying so is part of the refusal when nothing else matches.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use hmac::{Hmac, KeyInit, Mac};
use ssh_key::known_hosts::{Entry, HostPatterns, Marker};
use ssh_key::{HashAlg, PublicKey};

/// The entries of a known_hosts file, each with its line number.
#[derive(Debug)]
pub(crate) struct KnownHosts {
    path: PathBuf,
    entries: Vec<(usize, Entry)>,
}

impl KnownHosts {
    /// Reads and parses the file; a line that is not a known_hosts entry is an error naming
    /// the file and line (a typo must not silently drop the key the operator meant to pin).
    pub(crate) fn read(path: &Path) -> Result<KnownHosts, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the known_hosts file {}: {e}", path.display()))?;
        KnownHosts::parse(path, &text)
    }

    pub(crate) fn parse(path: &Path, text: &str) -> Result<KnownHosts, String> {
        let mut entries = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            // ssh-key splits fields on single spaces; OpenSSH accepts any run of blanks.
            let normalized = line.split_whitespace().collect::<Vec<_>>().join(" ");
            let entry: Entry = normalized.parse().map_err(|e| {
                format!(
                    "{}:{number}: not a known_hosts entry (`[marker] hosts keytype base64`): {e}",
                    path.display()
                )
            })?;
            entries.push((number, entry));
        }
        Ok(KnownHosts {
            path: path.to_owned(),
            entries,
        })
    }

    /// Accepts `offered` (the SSH wire encoding of the server's public key) for `host` on
    /// `port`, or says why not.
    pub(crate) fn check(&self, host: &str, port: u16, offered: &[u8]) -> Result<(), String> {
        let name = if port == 22 {
            host.to_owned()
        } else {
            format!("[{host}]:{port}")
        };
        let offered_text = describe_raw(offered);
        let mut others = Vec::new();
        let mut certificate_authorities = 0;
        let mut accepted = false;
        for (line, entry) in &self.entries {
            if !matches_host(entry.host_patterns(), &name) {
                continue;
            }
            let same = entry
                .public_key()
                .to_bytes()
                .is_ok_and(|bytes| bytes == offered);
            match entry.marker() {
                Some(Marker::Revoked) if same => {
                    return Err(format!(
                        "the SSH host key of {name} ({offered_text}) is marked @revoked in \
                         {}:{line}",
                        self.path.display()
                    ));
                }
                Some(Marker::Revoked) => {}
                Some(Marker::CertAuthority) => certificate_authorities += 1,
                None if same => accepted = true,
                None => others.push((*line, entry.public_key())),
            }
        }
        if accepted {
            return Ok(());
        }
        if !others.is_empty() {
            let mut listed = String::new();
            for (line, key) in &others {
                let _ = write!(listed, "; line {line} has {}", describe(key));
            }
            return Err(format!(
                "the SSH host key of {name} does not match the known_hosts file {}: the server \
                 offered {offered_text}{listed}. The host key changed, or someone is \
                 intercepting the connection; check with the server's operator before updating \
                 the file",
                self.path.display()
            ));
        }
        let mut message = format!(
            "the SSH host key of {name} ({offered_text}) is not in the known_hosts file {}; \
             after checking that fingerprint with the server's operator, add the key (e.g. \
             `ssh-keyscan{} {host}`)",
            self.path.display(),
            if port == 22 {
                String::new()
            } else {
                format!(" -p {port}")
            },
        );
        if certificate_authorities > 0 {
            message.push_str(
                "; @cert-authority lines were skipped: host certificates are not supported",
            );
        }
        Err(message)
    }
}

/// Whether a line's host field applies to `name` (`host` or `[host]:port`): a hashed name
/// equal to it, or a positive pattern matching it with no negated pattern matching it.
fn matches_host(patterns: &HostPatterns, name: &str) -> bool {
    match patterns {
        HostPatterns::HashedName { salt, hash } => {
            let Ok(mut mac) = Hmac::<sha1::Sha1>::new_from_slice(salt) else {
                return false;
            };
            mac.update(name.as_bytes());
            mac.verify_slice(hash).is_ok()
        }
        HostPatterns::Patterns(patterns) => {
            let mut positive = false;
            for pattern in patterns {
                if let Some(negated) = pattern.strip_prefix('!') {
                    if wildcard_match(&negated.to_ascii_lowercase(), &name.to_ascii_lowercase()) {
                        return false;
                    }
                } else if wildcard_match(&pattern.to_ascii_lowercase(), &name.to_ascii_lowercase())
                {
                    positive = true;
                }
            }
            positive
        }
    }
}

/// OpenSSH's `match_pattern`: `*` matches any run of characters, `?` one character.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    // Iterative matching with one backtrack point, linear in practice.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == '?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// `ssh-ed25519 SHA256:...`, as `ssh-keygen -l` prints it.
fn describe(key: &PublicKey) -> String {
    format!("{} {}", key.algorithm(), key.fingerprint(HashAlg::Sha256))
}

fn describe_raw(raw: &[u8]) -> String {
    match PublicKey::from_bytes(raw) {
        Ok(key) => describe(&key),
        Err(_) => format!("a key of an unknown type ({} bytes)", raw.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A real ed25519 key (from `ssh-keygen -t ed25519`), and another one.
    const KEY_A: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGXq3dgSKYgZoXZ0rDj7bgnFuPiM3adDu3dIv2r/gS/j";
    const KEY_B: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDGNEsB8rfSlAV9L5KkikT5yRfTYDj0ZH0SbOHxgAOsM";

    fn raw(key: &str) -> Vec<u8> {
        PublicKey::from_openssh(key)
            .expect("a valid test key")
            .to_bytes()
            .expect("encodable")
    }

    fn file(text: &str) -> KnownHosts {
        KnownHosts::parse(Path::new("known_hosts"), text).expect("a valid known_hosts text")
    }

    #[test]
    fn a_plain_entry_for_the_host_accepts_its_key() {
        let hosts = file(&format!("git.example.org {KEY_A}\n"));
        assert_eq!(hosts.check("git.example.org", 22, &raw(KEY_A)), Ok(()));
    }

    #[test]
    fn a_port_other_than_22_is_looked_up_in_brackets_only() {
        let plain = file(&format!("127.0.0.1 {KEY_A}\n"));
        let refused = plain
            .check("127.0.0.1", 2222, &raw(KEY_A))
            .expect_err("a plain entry is for port 22");
        assert!(refused.contains("[127.0.0.1]:2222"), "{refused}");
        assert!(
            refused.contains("ssh-keyscan -p 2222 127.0.0.1"),
            "{refused}"
        );
        let bracketed = file(&format!("[127.0.0.1]:2222 {KEY_A}\n"));
        assert_eq!(bracketed.check("127.0.0.1", 2222, &raw(KEY_A)), Ok(()));
    }

    #[test]
    fn another_key_for_the_host_is_a_mismatch_naming_both_fingerprints_and_the_line() {
        let hosts = file(&format!("# pinned\ngit.example.org {KEY_B}\n"));
        let refused = hosts
            .check("git.example.org", 22, &raw(KEY_A))
            .expect_err("the key differs");
        let a = PublicKey::from_openssh(KEY_A).expect("key");
        let b = PublicKey::from_openssh(KEY_B).expect("key");
        assert!(refused.contains("does not match"), "{refused}");
        assert!(refused.contains("line 2"), "{refused}");
        assert!(
            refused.contains(&a.fingerprint(HashAlg::Sha256).to_string()),
            "{refused}"
        );
        assert!(
            refused.contains(&b.fingerprint(HashAlg::Sha256).to_string()),
            "{refused}"
        );
    }

    #[test]
    fn wildcards_and_negations_select_lines_as_openssh_does() {
        let hosts = file(&format!("*.example.org,!evil.example.org {KEY_A}\n"));
        assert_eq!(hosts.check("git.example.org", 22, &raw(KEY_A)), Ok(()));
        assert!(hosts.check("evil.example.org", 22, &raw(KEY_A)).is_err());
        assert!(hosts.check("example.org", 22, &raw(KEY_A)).is_err());
        let question = file(&format!("git?.example.org {KEY_A}\n"));
        assert_eq!(question.check("git1.example.org", 22, &raw(KEY_A)), Ok(()));
        assert!(
            question
                .check("git12.example.org", 22, &raw(KEY_A))
                .is_err()
        );
    }

    #[test]
    fn a_hashed_entry_matches_the_name_it_hashes() {
        // `|1|salt|HMAC-SHA1(salt, "git.example.org")`, computed here as ssh-keygen -H does.
        let salt = [7u8; 20];
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(&salt).expect("any key length");
        mac.update(b"git.example.org");
        let hash = mac.finalize().into_bytes();
        let b64 = |bytes: &[u8]| {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(bytes)
        };
        let hosts = file(&format!("|1|{}|{} {KEY_A}\n", b64(&salt), b64(&hash)));
        assert_eq!(hosts.check("git.example.org", 22, &raw(KEY_A)), Ok(()));
        assert!(hosts.check("other.example.org", 22, &raw(KEY_A)).is_err());
    }

    #[test]
    fn a_revoked_key_is_refused_even_when_another_line_lists_it() {
        let hosts = file(&format!("git.example.org {KEY_A}\n@revoked * {KEY_A}\n"));
        let refused = hosts
            .check("git.example.org", 22, &raw(KEY_A))
            .expect_err("revoked wins");
        assert!(refused.contains("@revoked"), "{refused}");
    }

    #[test]
    fn a_line_that_is_not_an_entry_is_an_error_with_its_line_number() {
        let error = KnownHosts::parse(
            Path::new("/etc/fixpoint/known_hosts"),
            &format!("git.example.org {KEY_A}\ngit.example.org ssh-ed25519 not-base64!\n"),
        )
        .expect_err("the second line is broken");
        assert!(error.starts_with("/etc/fixpoint/known_hosts:2:"), "{error}");
    }
}
