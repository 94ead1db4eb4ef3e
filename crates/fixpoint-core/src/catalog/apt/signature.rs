//! OpenPGP verification of an `InRelease` against a keyring, as `gpgv` does
//! it for apt: one good signature by a valid key of the keyring suffices.
//!
//! The OpenPGP implementation is rPGP (the `pgp` crate): pure Rust, with its
//! RSA, Ed25519 and ECDSA verification built in, maintained, and used in
//! production by Delta Chat and others. Sequoia is the more complete
//! implementation (including a policy engine for key validity), but it needs a
//! cryptographic backend chosen by feature (Nettle, OpenSSL, or its RustCrypto
//! backend that it marks as not production-ready), which for a core that every
//! agent target also builds means a C library or a warning. rPGP verifies
//! signatures and bindings but leaves key *validity* to its caller, so the few
//! rules that matter here are written out below: a key is usable when it is
//! not revoked, its newest self-signature verifies and has not expired, and
//! (for a subkey) its binding verifies, marks it for signing and carries the
//! subkey's back-signature.

use pgp::composed::{CleartextSignedMessage, Deserializable, SignedPublicKey, SignedPublicSubKey};
use pgp::packet::{Signature, SignatureType};
use pgp::types::{KeyDetails, Tag};

use super::{AptError, Result};

/// The signed text of a verified message, and who signed it.
#[derive(Debug)]
pub(crate) struct Verified {
    /// The signed text, dash-unescaped, with `\r\n` line ends (what was hashed).
    pub text: String,
    /// Uppercase hex fingerprint of the key or subkey whose signature verified.
    pub signer: String,
}

/// Why one signature did not verify, from most to least telling.
#[derive(Debug)]
enum Failure {
    Mismatch { key: String },
    KeyInvalid(AptError),
    Unknown { key: String },
}

pub(crate) fn verify_cleartext(
    inrelease: &[u8],
    keyring: &[u8],
    now: jiff::Timestamp,
) -> Result<Verified> {
    let text = std::str::from_utf8(inrelease).map_err(|e| {
        AptError::NotSigned(format!("not UTF-8 text (at byte {})", e.valid_up_to()))
    })?;
    let (message, _headers) = CleartextSignedMessage::from_string(text)
        .map_err(|e| AptError::NotSigned(e.to_string()))?;
    if message.signatures().is_empty() {
        return Err(AptError::NoSignature);
    }
    let keys = read_keyring(keyring)?;
    let signed_text = message.signed_text();
    let now = now.as_second();

    let mut failures = Vec::new();
    for signature in message.signatures() {
        match verify_one(signature, &keys, signed_text.as_bytes(), now) {
            Ok(signer) => {
                return Ok(Verified {
                    text: signed_text,
                    signer,
                });
            }
            Err(failure) => failures.push(failure),
        }
    }
    // Report the most telling failure: a signature that a known key does not
    // match means the text was changed; then a key that is no longer valid;
    // only then keys that are simply not in the keyring.
    if let Some(key) = failures.iter().find_map(|f| match f {
        Failure::Mismatch { key } => Some(key.clone()),
        _ => None,
    }) {
        return Err(AptError::SignatureMismatch { key });
    }
    let mut unknown = Vec::new();
    for failure in failures {
        match failure {
            Failure::KeyInvalid(e) => return Err(e),
            Failure::Unknown { key } => unknown.push(key),
            Failure::Mismatch { .. } => {}
        }
    }
    Err(AptError::UnknownKey { keys: unknown })
}

/// Parses a keyring: binary (`.gpg`) or ASCII-armored (`.asc`), several keys concatenated.
pub(crate) fn read_keyring(keyring: &[u8]) -> Result<Vec<SignedPublicKey>> {
    if keyring.iter().all(u8::is_ascii_whitespace) {
        return Err(AptError::EmptyKeyring);
    }
    let (keys, _) =
        SignedPublicKey::from_reader_many(keyring).map_err(|e| AptError::Keyring(e.to_string()))?;
    let keys = keys
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| AptError::Keyring(e.to_string()))?;
    if keys.is_empty() {
        return Err(AptError::EmptyKeyring);
    }
    Ok(keys)
}

/// Verifies one signature; on success, the signer's fingerprint.
fn verify_one(
    signature: &Signature,
    keys: &[SignedPublicKey],
    text: &[u8],
    now: i64,
) -> Result<String, Failure> {
    let issuer = issuer_name(signature);
    for key in keys {
        if issued_by(signature, &key.primary_key) {
            signature
                .verify(&key.primary_key, text)
                .map_err(|_| Failure::Mismatch {
                    key: issuer.clone(),
                })?;
            primary_validity(key, now)
                .map_err(|reason| Failure::KeyInvalid(reason.into_error(&issuer)))?;
            signature_validity(signature, key.primary_key.created_at().as_secs(), now)
                .map_err(|reason| Failure::KeyInvalid(reason.into_error(&issuer)))?;
            return Ok(format!("{:X}", key.primary_key.fingerprint()));
        }
        for subkey in &key.public_subkeys {
            if issued_by(signature, &subkey.key) {
                signature
                    .verify(&subkey.key, text)
                    .map_err(|_| Failure::Mismatch {
                        key: issuer.clone(),
                    })?;
                primary_validity(key, now)
                    .and_then(|()| subkey_validity(key, subkey, now))
                    .and_then(|()| {
                        signature_validity(signature, subkey.key.created_at().as_secs(), now)
                    })
                    .map_err(|reason| Failure::KeyInvalid(reason.into_error(&issuer)))?;
                return Ok(format!("{:X}", subkey.key.fingerprint()));
            }
        }
    }
    Err(Failure::Unknown { key: issuer })
}

/// Whether the signature names this key as its issuer (by fingerprint or key id).
fn issued_by(signature: &Signature, key: &impl KeyDetails) -> bool {
    signature
        .issuer_fingerprint()
        .iter()
        .any(|fp| **fp == key.fingerprint())
        || signature
            .issuer_key_id()
            .iter()
            .any(|id| **id == key.legacy_key_id())
}

/// How a signature names its key in messages: the fingerprint when it gives
/// one, else the 16-digit key id, as gpg prints them.
fn issuer_name(signature: &Signature) -> String {
    if let Some(fp) = signature.issuer_fingerprint().first() {
        return format!("{fp:X}");
    }
    match signature.issuer_key_id().first() {
        Some(id) => id.as_ref().iter().map(|b| format!("{b:02X}")).collect(),
        None => "(no issuer given)".to_owned(),
    }
}

/// Why a key cannot vouch for a signature.
enum KeyProblem {
    Expired(i64),
    Revoked(Option<String>),
    Unusable(String),
}

impl KeyProblem {
    fn into_error(self, key: &str) -> AptError {
        let key = key.to_owned();
        match self {
            KeyProblem::Expired(at) => AptError::KeyExpired {
                key,
                expired: timestamp(at),
            },
            KeyProblem::Revoked(reason) => AptError::KeyRevoked { key, reason },
            KeyProblem::Unusable(reason) => AptError::KeyUnusable { key, reason },
        }
    }
}

fn timestamp(seconds: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_second(seconds).unwrap_or(jiff::Timestamp::MAX)
}

fn created(signature: &Signature) -> i64 {
    signature.created().map_or(0, |t| i64::from(t.as_secs()))
}

/// When a key expires, from the self-signature that governs it: `None` for never.
fn expiry(key_created: u32, governing: &Signature) -> Option<i64> {
    governing
        .key_expiration_time()
        .map(|d| d.as_secs())
        .filter(|&secs| secs > 0)
        .map(|secs| i64::from(key_created) + i64::from(secs))
}

fn revocation_reason(signature: &Signature) -> Option<String> {
    let code = signature.revocation_reason_code().map(|c| format!("{c:?}"));
    let text = signature
        .revocation_reason_string()
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .filter(|s| !s.is_empty());
    match (code, text) {
        (Some(c), Some(t)) => Some(format!("{c}, {t:?}")),
        (c, t) => c.or(t),
    }
}

/// The primary key is valid at `now`: not revoked, and its newest verifying
/// self-signature (user id certification or direct-key signature) has not let it expire.
fn primary_validity(key: &SignedPublicKey, now: i64) -> Result<(), KeyProblem> {
    let primary = &key.primary_key;
    for revocation in &key.details.revocation_signatures {
        if revocation.typ() == Some(SignatureType::KeyRevocation)
            && revocation.verify_key(primary).is_ok()
        {
            return Err(KeyProblem::Revoked(revocation_reason(revocation)));
        }
    }
    let users = key.details.users.iter().flat_map(|user| {
        user.signatures.iter().filter(move |signature| {
            let certification = matches!(
                signature.typ(),
                Some(
                    SignatureType::CertGeneric
                        | SignatureType::CertPersona
                        | SignatureType::CertCasual
                        | SignatureType::CertPositive
                )
            );
            certification
                && issued_by(signature, primary)
                && signature
                    .verify_certification(primary, Tag::UserId, &user.id)
                    .is_ok()
        })
    });
    let direct = key.details.direct_signatures.iter().filter(|signature| {
        signature.typ() == Some(SignatureType::Key) && signature.verify_key(primary).is_ok()
    });
    let newest = users
        .chain(direct)
        .max_by_key(|signature| created(signature));
    let governing = newest.ok_or_else(|| KeyProblem::Unusable("no valid self-signature".into()))?;
    match expiry(primary.created_at().as_secs(), governing) {
        Some(at) if now >= at => Err(KeyProblem::Expired(at)),
        _ => Ok(()),
    }
}

/// A signing subkey is valid at `now`: bound by its primary (newest binding
/// signature verifies, allows signing, and carries a verifying back-signature),
/// not revoked, not expired.
fn subkey_validity(
    key: &SignedPublicKey,
    subkey: &SignedPublicSubKey,
    now: i64,
) -> Result<(), KeyProblem> {
    let primary = &key.primary_key;
    let mut newest: Option<&Signature> = None;
    for signature in &subkey.signatures {
        if signature
            .verify_subkey_binding(primary, &subkey.key)
            .is_err()
        {
            continue;
        }
        match signature.typ() {
            Some(SignatureType::SubkeyRevocation) => {
                return Err(KeyProblem::Revoked(revocation_reason(signature)));
            }
            Some(SignatureType::SubkeyBinding)
                if newest.is_none_or(|n| created(signature) > created(n)) =>
            {
                newest = Some(signature);
            }
            _ => {}
        }
    }
    let binding = newest
        .ok_or_else(|| KeyProblem::Unusable("subkey has no valid binding signature".into()))?;
    if !binding.key_flags().sign() {
        return Err(KeyProblem::Unusable(
            "subkey is not marked for signing".into(),
        ));
    }
    let backsig_ok = binding.embedded_signature().is_some_and(|back| {
        back.verify_primary_key_binding(&subkey.key, primary)
            .is_ok()
    });
    if !backsig_ok {
        return Err(KeyProblem::Unusable(
            "signing subkey lacks a valid back-signature".into(),
        ));
    }
    match expiry(subkey.key.created_at().as_secs(), binding) {
        Some(at) if now >= at => Err(KeyProblem::Expired(at)),
        _ => Ok(()),
    }
}

/// The data signature itself: not made before its key existed, not expired at `now`.
fn signature_validity(signature: &Signature, key_created: u32, now: i64) -> Result<(), KeyProblem> {
    let made = created(signature);
    if made < i64::from(key_created) {
        return Err(KeyProblem::Unusable(
            "the signature predates its key".into(),
        ));
    }
    if let Some(lifetime) = signature
        .signature_expiration_time()
        .map(|d| d.as_secs())
        .filter(|&s| s > 0)
    {
        let at = made + i64::from(lifetime);
        if now >= at {
            return Err(KeyProblem::Unusable(format!(
                "the signature itself expired at {}",
                timestamp(at)
            )));
        }
    }
    Ok(())
}
