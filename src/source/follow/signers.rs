//! Signed commits: a fetched commit is followed only when it carries a valid SSH signature
//! by a key of an OpenSSH `allowed_signers` file, checked before any of its files is read.
//!
//! This is what `git verify-commit` does with `gpg.format=ssh` and
//! `gpg.ssh.allowedSignersFile`: the `gpgsig` header holds an SSHSIG (PROTOCOL.sshsig) over the
//! commit without that header, in the `git` namespace. Who may sign is the file's business:
//! as in git, any principal listed with the key is accepted (the commit's author or committer
//! email is not compared with it), and the principal is reported. A key restricted with
//! `namespaces="..."` must include `git`; `valid-after`/`valid-before` are compared with the
//! commit's committer time, as git (2.36 and later) does.
//!
//! Not supported, and refused with a message that says so: OpenPGP and X.509 (`gpgsm`)
//! signatures, `cert-authority` lines (signatures by SSH certificates), and validity times
//! without a trailing `Z` (OpenSSH reads those as the machine's local time, which on a
//! server is a guess; write them in UTC).

use std::path::{Path, PathBuf};

use ssh_key::{HashAlg, PublicKey, SshSig};

/// The namespace git signs commits in (`ssh-keygen -Y sign -n git`).
const GIT_NAMESPACE: &str = "git";

/// One key of an allowed_signers file.
#[derive(Debug)]
struct Signer {
    line: usize,
    principals: String,
    key: PublicKey,
    namespaces: Option<Vec<String>>,
    valid_after: Option<jiff::Timestamp>,
    valid_before: Option<jiff::Timestamp>,
}

/// The keys allowed to sign the commits that are followed.
#[derive(Debug)]
pub(crate) struct AllowedSigners {
    path: PathBuf,
    signers: Vec<Signer>,
}

/// Who signed a commit that verified.
#[derive(Debug)]
pub(crate) struct Verified {
    /// The principals of the allowed_signers line whose key made the signature.
    pub(crate) principals: String,
    /// The key's SHA-256 fingerprint, as `ssh-keygen -l` prints it.
    pub(crate) fingerprint: String,
}

impl AllowedSigners {
    /// Reads the file; every line must parse (a typo must not silently drop a signer, nor
    /// a `namespaces` restriction).
    pub(crate) fn read(path: &Path) -> Result<AllowedSigners, String> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            format!(
                "cannot read the allowed signers file {}: {e}",
                path.display()
            )
        })?;
        AllowedSigners::parse(path, &text)
    }

    pub(crate) fn parse(path: &Path, text: &str) -> Result<AllowedSigners, String> {
        let mut signers = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let signer = parse_line(line, number)
                .map_err(|e| format!("{}:{number}: {e}", path.display()))?;
            signers.push(signer);
        }
        Ok(AllowedSigners {
            path: path.to_owned(),
            signers,
        })
    }

    /// Verifies the commit `id` of `repository` (its committer time is `time`), or says
    /// which commit was refused and why.
    pub(crate) fn verify_commit(
        &self,
        repository: &git2::Repository,
        id: git2::Oid,
        time: jiff::Timestamp,
    ) -> Result<Verified, String> {
        let refused = |why: String| format!("commit {id} is refused: {why}");
        let (signature, signed) = match repository.extract_signature(&id, None) {
            Ok(pair) => pair,
            Err(e) if e.code() == git2::ErrorCode::NotFound => {
                return Err(refused(format!(
                    "it is not signed, and the allowed signers file {} requires a signature",
                    self.path.display()
                )));
            }
            Err(e) => {
                return Err(refused(format!(
                    "cannot read its signature: {}",
                    e.message()
                )));
            }
        };
        let text = String::from_utf8_lossy(&signature);
        let text = text.trim();
        if text.starts_with("-----BEGIN PGP SIGNATURE-----") {
            return Err(refused(
                "it has an OpenPGP signature; only SSH signatures (gpg.format=ssh) can be \
                 verified against an allowed signers file"
                    .to_owned(),
            ));
        }
        if !text.starts_with("-----BEGIN SSH SIGNATURE-----") {
            return Err(refused(
                "its signature is neither SSH nor OpenPGP (X.509 signatures are not \
                 supported); only SSH signatures (gpg.format=ssh) can be verified"
                    .to_owned(),
            ));
        }
        let sshsig = SshSig::from_pem(text)
            .map_err(|e| refused(format!("its SSH signature cannot be decoded: {e}")))?;
        if sshsig.namespace() != GIT_NAMESPACE {
            return Err(refused(format!(
                "its SSH signature is for namespace `{}`, not `{GIT_NAMESPACE}`",
                sshsig.namespace()
            )));
        }
        let offered = PublicKey::new(sshsig.public_key().clone(), "");
        let fingerprint = offered.fingerprint(HashAlg::Sha256).to_string();
        let candidates: Vec<&Signer> = self
            .signers
            .iter()
            .filter(|s| s.key.key_data() == sshsig.public_key())
            .collect();
        if candidates.is_empty() {
            return Err(refused(format!(
                "it is signed by {} {fingerprint}, which is not in the allowed signers file {}",
                offered.algorithm(),
                self.path.display()
            )));
        }
        let mut reasons = Vec::new();
        for signer in candidates {
            let at = format!("{}:{}", self.path.display(), signer.line);
            if let Some(namespaces) = &signer.namespaces
                && !namespaces.iter().any(|n| n == GIT_NAMESPACE)
            {
                reasons.push(format!(
                    "the key of `{}` ({at}) is not allowed to sign in namespace `git`",
                    signer.principals
                ));
                continue;
            }
            if let Some(after) = signer.valid_after
                && time < after
            {
                reasons.push(format!(
                    "the key of `{}` ({at}) is valid only after {after}, and the commit was \
                     made at {time}",
                    signer.principals
                ));
                continue;
            }
            if let Some(before) = signer.valid_before
                && time >= before
            {
                reasons.push(format!(
                    "the key of `{}` ({at}) is valid only before {before}, and the commit was \
                     made at {time}",
                    signer.principals
                ));
                continue;
            }
            match signer.key.verify(GIT_NAMESPACE, &signed, &sshsig) {
                Ok(()) => {
                    return Ok(Verified {
                        principals: signer.principals.clone(),
                        fingerprint,
                    });
                }
                Err(e) => reasons.push(format!(
                    "its signature by {} {fingerprint} (`{}`, {at}) does not verify ({e}): the \
                     commit or its signature was altered after signing",
                    offered.algorithm(),
                    signer.principals
                )),
            }
        }
        Err(refused(reasons.join("; ")))
    }
}

/// `principals [options] keytype base64 [comment]`.
fn parse_line(line: &str, number: usize) -> Result<Signer, String> {
    let (principals, rest) = split_field(line);
    let principals = principals.trim_matches('"').to_owned();
    if principals.is_empty() {
        return Err("no principals".to_owned());
    }
    let (options, key_text) = if looks_like_key_type(rest) {
        ("", rest)
    } else {
        split_field(rest)
    };
    let key_text = key_text.split_whitespace().collect::<Vec<_>>().join(" ");
    if key_text.is_empty() {
        return Err(
            "no public key after the principals (`principals [options] keytype base64`)".to_owned(),
        );
    }
    let key = PublicKey::from_openssh(&key_text)
        .map_err(|e| format!("not a public key (`keytype base64`): {e}"))?;
    let mut signer = Signer {
        line: number,
        principals,
        key,
        namespaces: None,
        valid_after: None,
        valid_before: None,
    };
    for option in split_options(options) {
        let (name, value) = match option.split_once('=') {
            Some((name, value)) => (name, Some(value.trim_matches('"'))),
            None => (option.as_str(), None),
        };
        match (name.to_ascii_lowercase().as_str(), value) {
            ("namespaces", Some(value)) => {
                signer.namespaces = Some(value.split(',').map(str::to_owned).collect());
            }
            ("valid-after", Some(value)) => signer.valid_after = Some(parse_time(value)?),
            ("valid-before", Some(value)) => signer.valid_before = Some(parse_time(value)?),
            ("cert-authority", None) => {
                return Err(
                    "cert-authority lines are not supported (signatures by SSH certificates)"
                        .to_owned(),
                );
            }
            _ => {
                return Err(format!(
                    "unknown option `{option}` (known: namespaces=, valid-after=, valid-before=)"
                ));
            }
        }
    }
    Ok(signer)
}

fn looks_like_key_type(text: &str) -> bool {
    ["ssh-", "ecdsa-", "sk-"]
        .iter()
        .any(|prefix| text.starts_with(prefix))
}

/// The first blank-separated field (blanks inside double quotes do not separate), and the
/// rest with leading blanks removed.
fn split_field(text: &str) -> (&str, &str) {
    let mut quoted = false;
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => return (&text[..i], text[i..].trim_start()),
            _ => {}
        }
    }
    (text, "")
}

/// Options separated by commas outside double quotes.
fn split_options(options: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in options.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            ',' if !quoted => out.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out.retain(|o| !o.is_empty());
    out
}

/// `YYYYMMDD[HHMM[SS]]Z`, UTC.
fn parse_time(value: &str) -> Result<jiff::Timestamp, String> {
    let bad = |why: &str| format!("invalid time `{value}`: {why}");
    let Some(digits) = value.strip_suffix('Z').or_else(|| value.strip_suffix('z')) else {
        return Err(bad(
            "write it in UTC with a trailing Z (`20260101Z`, `202601011200Z`); local times \
             are not supported",
        ));
    };
    if !digits.bytes().all(|b| b.is_ascii_digit()) || ![8, 12, 14].contains(&digits.len()) {
        return Err(bad(
            "expected YYYYMMDD, YYYYMMDDHHMM or YYYYMMDDHHMMSS before the Z",
        ));
    }
    let number = |range: std::ops::Range<usize>| -> i16 {
        digits.get(range).and_then(|d| d.parse().ok()).unwrap_or(0)
    };
    let date = jiff::civil::DateTime::new(
        number(0..4),
        i8::try_from(number(4..6)).unwrap_or(0),
        i8::try_from(number(6..8)).unwrap_or(0),
        i8::try_from(number(8..10)).unwrap_or(0),
        i8::try_from(number(10..12)).unwrap_or(0),
        i8::try_from(number(12..14)).unwrap_or(0),
        0,
    )
    .map_err(|e| bad(&e.to_string()))?;
    jiff::tz::TimeZone::UTC
        .to_timestamp(date)
        .map_err(|e| bad(&e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGXq3dgSKYgZoXZ0rDj7bgnFuPiM3adDu3dIv2r/gS/j";

    fn parse(text: &str) -> Result<AllowedSigners, String> {
        AllowedSigners::parse(Path::new("allowed_signers"), text)
    }

    #[test]
    fn a_line_with_quoted_options_keeps_its_namespaces_and_times() {
        let signers = parse(&format!(
            "# release managers\n\
             alice@example.org,bob@example.org \
             namespaces=\"git,file\",valid-after=\"20260101Z\",valid-before=20270101120000Z \
             {KEY} alice\n"
        ))
        .expect("a valid line");
        let signer = &signers.signers[0];
        assert_eq!(signer.line, 2);
        assert_eq!(signer.principals, "alice@example.org,bob@example.org");
        assert_eq!(
            signer.namespaces.as_deref(),
            Some(&["git".to_owned(), "file".to_owned()][..])
        );
        assert_eq!(
            signer.valid_after.map(|t| t.to_string()).as_deref(),
            Some("2026-01-01T00:00:00Z")
        );
        assert_eq!(
            signer.valid_before.map(|t| t.to_string()).as_deref(),
            Some("2027-01-01T12:00:00Z")
        );
    }

    #[test]
    fn a_local_validity_time_is_refused_with_the_line() {
        let error =
            parse(&format!("alice valid-after=20260101 {KEY}\n")).expect_err("no trailing Z");
        assert!(
            error.starts_with("allowed_signers:1: invalid time `20260101`"),
            "{error}"
        );
        assert!(error.contains("UTC"), "{error}");
    }

    #[test]
    fn a_cert_authority_line_is_reported_as_unsupported() {
        let error =
            parse(&format!("*@example.org cert-authority {KEY}\n")).expect_err("unsupported");
        assert!(
            error.contains("cert-authority lines are not supported"),
            "{error}"
        );
    }

    #[test]
    fn a_line_without_a_key_is_an_error() {
        let error = parse("alice@example.org\n").expect_err("no key");
        assert!(error.contains("no public key"), "{error}");
        let error = parse("alice@example.org ssh-ed25519 AAAA!!\n").expect_err("bad key");
        assert!(error.contains("not a public key"), "{error}");
    }
}
