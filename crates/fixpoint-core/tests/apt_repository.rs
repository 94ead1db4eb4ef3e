//! The APT repository feed against a real, signed copy of Debian's
//! bookworm-security suite (tests/fixtures/apt, see its PROVENANCE.md), and
//! against keys and texts made here for the cases a real archive never shows:
//! tampering, unknown, expired and revoked keys, stale and replayed metadata.

use std::io::Write;
use std::sync::OnceLock;

use fixpoint_core::catalog::apt::{
    self, AptError, BinaryPackage, Compression, FreshnessPolicy, IndexEntry, KeyringRef,
    MAX_DECOMPRESSED_SIZE, Release, Repository, SignedBy, SourceType, advisories, index_entry,
    parse_packages, parse_sources, verify_and_decompress, verify_inrelease,
};
use fixpoint_core::catalog::{Advisory, Catalog, Fix, PackageKind, Platform};
use fixpoint_core::rating::{Classification, Severity};
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/apt/");

fn fixture(path: &str) -> Vec<u8> {
    let full = format!("{FIXTURES}{path}");
    std::fs::read(&full).unwrap_or_else(|e| panic!("fixture {full}: {e}"))
}

/// `expect_err` without printing the `Ok` value (a whole index, here) when it fails.
trait Refused {
    fn refused(self, why: &str) -> AptError;
}

impl<T> Refused for Result<T, AptError> {
    fn refused(self, why: &str) -> AptError {
        match self {
            Ok(_) => panic!("expected a refusal ({why}), but it was accepted"),
            Err(e) => e,
        }
    }
}

fn ts(s: &str) -> Timestamp {
    s.parse().expect("a valid timestamp")
}

/// The fixture's `Date` and `Valid-Until`.
const DATE: &str = "2026-11-24T00:34:33Z";
const VALID_UNTIL: &str = "2026-12-01T00:34:33Z";
/// A moment inside the fixture's week of validity.
const DURING_THE_WEEK: &str = "2026-11-25T12:00:00Z";

const PACKAGES_LZ4: &str = "main/binary-amd64/Packages.lz4";
const PACKAGES: &str = "main/binary-amd64/Packages";

/// The signing subkeys of the two Debian security archive keys that sign the fixture.
const BULLSEYE_SECURITY_SUBKEY: &str = "ED541312A33F1128F10B1C6C54404762BBB6E853";
const BOOKWORM_SECURITY_SUBKEY: &str = "B0CAB9266E8C3929798B3EEEBDE6D2B9216EC7A8";

fn inrelease() -> Vec<u8> {
    fixture("bookworm-security/InRelease")
}

fn keyring() -> Vec<u8> {
    fixture("debian-archive-keyring.gpg")
}

fn release() -> &'static Release {
    static RELEASE: OnceLock<Release> = OnceLock::new();
    RELEASE.get_or_init(|| {
        verify_inrelease(
            &inrelease(),
            &keyring(),
            ts(DURING_THE_WEEK),
            FreshnessPolicy::Enforce,
            None,
        )
        .expect("the fixture verifies during its week")
    })
}

/// The fixture's `Packages`, decompressed and verified.
fn packages_text() -> &'static [u8] {
    static TEXT: OnceLock<Vec<u8>> = OnceLock::new();
    TEXT.get_or_init(|| {
        verify_and_decompress(
            release(),
            PACKAGES_LZ4,
            &fixture(&format!("bookworm-security/{PACKAGES_LZ4}")),
        )
        .expect("the stored index verifies")
    })
}

const REPOSITORY: Repository<'static> = Repository {
    name: "debian-security",
    base_uri: "http://mirror.invalid/debian-security/",
};

fn real_advisories() -> &'static [Advisory] {
    static ADVISORIES: OnceLock<Vec<Advisory>> = OnceLock::new();
    ADVISORIES.get_or_init(|| {
        let packages = parse_packages(packages_text()).expect("the real index parses");
        advisories(release(), &REPOSITORY, &packages)
    })
}

fn advisory(id: &str) -> &'static Advisory {
    real_advisories()
        .iter()
        .find(|a| a.patch.as_str() == id)
        .unwrap_or_else(|| panic!("no patch {id}"))
}

// ---------------------------------------------------------------- InRelease

#[test]
fn the_real_inrelease_verifies_against_the_debian_archive_keyring() {
    let r = release();
    assert_eq!(r.origin.as_deref(), Some("Debian"));
    assert_eq!(r.label.as_deref(), Some("Debian-Security"));
    assert_eq!(r.suite.as_deref(), Some("oldstable-security"));
    assert_eq!(r.codename.as_deref(), Some("bookworm-security"));
    assert_eq!(r.version.as_deref(), Some("12"));
    assert_eq!(r.date, ts(DATE));
    assert_eq!(r.valid_until, Some(ts(VALID_UNTIL)));
    assert_eq!(
        r.architectures,
        ["amd64", "arm64", "armhf", "i386", "ppc64el"]
    );
    assert_eq!(
        r.components,
        [
            "updates/main",
            "updates/contrib",
            "updates/non-free-firmware",
            "updates/non-free"
        ]
    );
    assert!(r.acquire_by_hash);
    assert!(r.is_security());
    let signer = r.signed_by.as_deref().expect("verified");
    assert!(
        [BULLSEYE_SECURITY_SUBKEY, BOOKWORM_SECURITY_SUBKEY].contains(&signer),
        "{signer}"
    );
    assert_eq!(
        index_entry(r, PACKAGES).expect("listed"),
        &IndexEntry {
            path: PACKAGES.into(),
            size: 2_531_138,
            sha256: "9a654c21a035edc55b422292960320bcdc3b9351a35d48fccd42359f2cf130a8".into(),
        }
    );
    assert_eq!(
        index_entry(r, "main/binary-amd64/Packages.xz").map(|e| e.size),
        Ok(379_616)
    );
    assert!(r.check_suite("bookworm-security").is_ok());
}

#[test]
fn the_real_inrelease_verifies_offline_when_valid_until_is_ignored() {
    let years_later = ts("2028-06-01T00:00:00Z");
    let r = verify_inrelease(
        &inrelease(),
        &keyring(),
        years_later,
        FreshnessPolicy::IgnoreValidUntil,
        None,
    )
    .expect("offline fixtures verify with the override");
    assert_eq!(r.date, ts(DATE));
}

#[test]
fn after_valid_until_the_real_inrelease_is_rejected_as_stale() {
    let after = ts(VALID_UNTIL) + SignedDuration::from_secs(1);
    let err = verify_inrelease(
        &inrelease(),
        &keyring(),
        after,
        FreshnessPolicy::Enforce,
        None,
    )
    .refused("stale");
    assert_eq!(
        err,
        AptError::Expired {
            valid_until: ts(VALID_UNTIL),
            now: after
        }
    );
    let message = err.to_string();
    assert!(
        message.contains("InRelease expired at 2026-12-01T00:34:33Z"),
        "{message}"
    );
    assert!(message.contains("stale or replayed"), "{message}");
}

#[test]
fn just_before_valid_until_the_real_inrelease_is_accepted() {
    let before = ts(VALID_UNTIL) - SignedDuration::from_secs(1);
    verify_inrelease(
        &inrelease(),
        &keyring(),
        before,
        FreshnessPolicy::RequireValidUntil,
        None,
    )
    .expect("still valid");
}

#[test]
fn an_inrelease_older_than_the_last_accepted_one_is_a_replay() {
    let last = ts("2026-11-25T00:00:00Z");
    let err = verify_inrelease(
        &inrelease(),
        &keyring(),
        ts(DURING_THE_WEEK),
        FreshnessPolicy::Enforce,
        Some(last),
    )
    .refused("replayed");
    assert_eq!(
        err,
        AptError::Replayed {
            date: ts(DATE),
            last_accepted: last
        }
    );
    // The same file fetched again is not a replay.
    verify_inrelease(
        &inrelease(),
        &keyring(),
        ts(DURING_THE_WEEK),
        FreshnessPolicy::Enforce,
        Some(ts(DATE)),
    )
    .expect("same Date again");
}

#[test]
fn an_inrelease_dated_in_the_future_is_rejected_even_offline() {
    let hour_before = ts(DATE) - SignedDuration::from_hours(1);
    let err = verify_inrelease(
        &inrelease(),
        &keyring(),
        hour_before,
        FreshnessPolicy::IgnoreValidUntil,
        None,
    )
    .refused("from the future");
    assert!(matches!(err, AptError::FromTheFuture { .. }), "{err}");
}

#[test]
fn one_changed_byte_of_the_signed_text_is_rejected() {
    let mut tampered = inrelease();
    let at = find(&tampered, b"2531138 main/binary-amd64/Packages\n");
    tampered[at] = b'3'; // the size of the uncompressed index: 2531138 → 3531138
    let err = verify_inrelease(
        &tampered,
        &keyring(),
        ts(DURING_THE_WEEK),
        FreshnessPolicy::Enforce,
        None,
    )
    .refused("tampered");
    assert!(matches!(err, AptError::SignatureMismatch { .. }), "{err}");
    assert!(
        err.to_string().contains("does not match the signed text"),
        "{err}"
    );
}

#[test]
fn text_outside_the_signature_is_rejected() {
    let mut prefixed = b"Origin: Evil\n\n".to_vec();
    prefixed.extend_from_slice(&inrelease());
    let err = verify_inrelease(
        &prefixed,
        &keyring(),
        ts(DURING_THE_WEEK),
        FreshnessPolicy::Enforce,
        None,
    )
    .refused("leading data");
    assert!(matches!(err, AptError::NotSigned(_)), "{err}");

    let mut suffixed = inrelease();
    suffixed.extend_from_slice(b"\nOrigin: Evil\n");
    let err = verify_inrelease(
        &suffixed,
        &keyring(),
        ts(DURING_THE_WEEK),
        FreshnessPolicy::Enforce,
        None,
    )
    .refused("trailing data");
    assert!(matches!(err, AptError::NotSigned(_)), "{err}");
}

#[test]
fn an_unsigned_release_is_rejected() {
    let text = "Origin: Debian\nDate: Tue, 24 Nov 2026 00:34:33 UTC\n";
    let err = verify_inrelease(
        text.as_bytes(),
        &keyring(),
        ts(DURING_THE_WEEK),
        FreshnessPolicy::Enforce,
        None,
    )
    .refused("unsigned");
    assert!(matches!(err, AptError::NotSigned(_)), "{err}");
}

#[test]
fn a_keyring_without_the_signing_keys_rejects_naming_them() {
    let others = debian_keyring_without(&["A48449044AAD5C5D", "254CF3B5AEC0A8F0"]);
    let err = verify_inrelease(
        &inrelease(),
        &others,
        ts(DURING_THE_WEEK),
        FreshnessPolicy::Enforce,
        None,
    )
    .refused("unknown keys");
    assert_eq!(
        err,
        AptError::UnknownKey {
            keys: vec![
                BULLSEYE_SECURITY_SUBKEY.into(),
                BOOKWORM_SECURITY_SUBKEY.into()
            ]
        }
    );
    assert!(err.to_string().contains(BULLSEYE_SECURITY_SUBKEY), "{err}");
}

#[test]
fn one_signing_key_in_the_keyring_suffices() {
    let only_bookworm = debian_keyring_without(&["A48449044AAD5C5D"]);
    let r = verify_inrelease(
        &inrelease(),
        &only_bookworm,
        ts(DURING_THE_WEEK),
        FreshnessPolicy::Enforce,
        None,
    )
    .expect("the bookworm key's signature is enough");
    assert_eq!(r.signed_by.as_deref(), Some(BOOKWORM_SECURITY_SUBKEY));
}

#[test]
fn unreadable_and_empty_keyrings_are_errors() {
    let err = verify_inrelease(
        &inrelease(),
        b"",
        ts(DURING_THE_WEEK),
        FreshnessPolicy::Enforce,
        None,
    )
    .refused("empty");
    assert_eq!(err, AptError::EmptyKeyring);
    let err = verify_inrelease(
        &inrelease(),
        b"\x99\x01\x0dgarbage",
        ts(DURING_THE_WEEK),
        FreshnessPolicy::Enforce,
        None,
    )
    .refused("garbage");
    assert!(
        matches!(err, AptError::Keyring(_) | AptError::EmptyKeyring),
        "{err}"
    );
}

/// The Debian keyring with the keys whose (primary) key ids are given left out.
fn debian_keyring_without(key_ids: &[&str]) -> Vec<u8> {
    use pgp::composed::{Deserializable, SignedPublicKey};
    use pgp::ser::Serialize;
    use pgp::types::KeyDetails;
    let keyring = keyring();
    let mut out = Vec::new();
    let mut dropped = 0;
    for key in SignedPublicKey::from_bytes_many(&keyring[..]).expect("keyring") {
        let key = key.expect("key");
        let id: String = key
            .primary_key
            .legacy_key_id()
            .as_ref()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        if key_ids.contains(&id.as_str()) {
            dropped += 1;
            continue;
        }
        key.to_writer(&mut out).expect("serialize");
    }
    assert_eq!(dropped, key_ids.len(), "every named key was in the keyring");
    out
}

// ------------------------------------------------- keys made here, for the rest

mod keys {
    use pgp::composed::{
        CleartextSignedMessage, KeyType, SecretKeyParamsBuilder, SignedPublicKey, SignedSecretKey,
        SubkeyParamsBuilder,
    };
    use pgp::crypto::hash::HashAlgorithm;
    use pgp::packet::{RevocationCode, SignatureConfig, SignatureType, Subpacket, SubpacketData};
    use pgp::ser::Serialize;
    use pgp::types::{Duration, KeyDetails, Password, Tag, Timestamp};
    use rand_chacha::ChaCha8Rng;
    use rand_chacha::rand_core::SeedableRng;

    /// 2026-01-01T00:00:00Z: when the test keys were "created".
    pub const CREATED: u32 = 1_767_225_600;

    pub fn rng(seed: u64) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(seed)
    }

    /// An Ed25519 key that signs with its primary key.
    pub fn ed25519(seed: u64) -> SignedSecretKey {
        SecretKeyParamsBuilder::default()
            .key_type(KeyType::Ed25519Legacy)
            .can_certify(true)
            .can_sign(true)
            .created_at(Timestamp::from_secs(CREATED))
            .primary_user_id("Fixpoint Test Archive Key <archive@example.invalid>".into())
            .build()
            .expect("key parameters")
            .generate(rng(seed))
            .expect("key generation")
    }

    /// An Ed25519 primary key with an Ed25519 signing subkey (as Debian's archive keys have).
    pub fn with_signing_subkey(seed: u64) -> SignedSecretKey {
        SecretKeyParamsBuilder::default()
            .key_type(KeyType::Ed25519Legacy)
            .can_certify(true)
            .created_at(Timestamp::from_secs(CREATED))
            .primary_user_id("Fixpoint Test Archive Key <archive@example.invalid>".into())
            .subkey(
                SubkeyParamsBuilder::default()
                    .key_type(KeyType::Ed25519Legacy)
                    .can_sign(true)
                    .created_at(Timestamp::from_secs(CREATED))
                    .build()
                    .expect("subkey parameters"),
            )
            .build()
            .expect("key parameters")
            .generate(rng(seed))
            .expect("key generation")
    }

    pub fn public(key: &SignedSecretKey) -> SignedPublicKey {
        SignedPublicKey::from(key.clone())
    }

    pub fn keyring(keys: &[SignedPublicKey]) -> Vec<u8> {
        let mut out = Vec::new();
        for k in keys {
            k.to_writer(&mut out).expect("serialize");
        }
        out
    }

    pub fn armored(key: &SignedPublicKey) -> String {
        key.to_armored_string(Default::default()).expect("armor")
    }

    /// `text` cleartext-signed by the primary key.
    pub fn sign(text: &str, key: &SignedSecretKey) -> Vec<u8> {
        CleartextSignedMessage::sign(rng(7), text, &key.primary_key, &Password::empty())
            .expect("sign")
            .to_armored_bytes(Default::default())
            .expect("armor")
    }

    /// `text` cleartext-signed by the first subkey.
    pub fn sign_with_subkey(text: &str, key: &SignedSecretKey) -> Vec<u8> {
        CleartextSignedMessage::sign(rng(7), text, &key.secret_subkeys[0].key, &Password::empty())
            .expect("sign")
            .to_armored_bytes(Default::default())
            .expect("armor")
    }

    /// The public key with its self-signature replaced by one that lets it
    /// expire `lifetime` seconds after creation.
    pub fn expiring(key: &SignedSecretKey, lifetime: u32) -> SignedPublicKey {
        let mut public = public(key);
        let user = &mut public.details.users[0];
        let mut config = SignatureConfig::v4(
            SignatureType::CertPositive,
            key.primary_key.algorithm(),
            HashAlgorithm::Sha256,
        );
        config.hashed_subpackets = vec![
            Subpacket::regular(SubpacketData::SignatureCreationTime(Timestamp::from_secs(
                CREATED + 1,
            )))
            .expect("subpacket"),
            Subpacket::regular(SubpacketData::IssuerFingerprint(
                key.primary_key.fingerprint(),
            ))
            .expect("subpacket"),
            Subpacket::regular(SubpacketData::KeyExpirationTime(Duration::from_secs(
                lifetime,
            )))
            .expect("subpacket"),
        ];
        let signature = config
            .sign_certification(
                &key.primary_key,
                key.primary_key.public_key(),
                &Password::empty(),
                Tag::UserId,
                &user.id,
            )
            .expect("certify");
        user.signatures = vec![signature];
        public
    }

    /// The public key with a verified revocation signature attached.
    pub fn revoked(key: &SignedSecretKey) -> SignedPublicKey {
        let mut public = public(key);
        let mut config = SignatureConfig::v4(
            SignatureType::KeyRevocation,
            key.primary_key.algorithm(),
            HashAlgorithm::Sha256,
        );
        config.hashed_subpackets = vec![
            Subpacket::regular(SubpacketData::SignatureCreationTime(Timestamp::from_secs(
                CREATED + 10,
            )))
            .expect("subpacket"),
            Subpacket::regular(SubpacketData::IssuerFingerprint(
                key.primary_key.fingerprint(),
            ))
            .expect("subpacket"),
            Subpacket::regular(SubpacketData::RevocationReason(
                RevocationCode::KeyCompromised,
                "key leaked".into(),
            ))
            .expect("subpacket"),
        ];
        let revocation = config
            .sign_key(
                &key.primary_key,
                &Password::empty(),
                key.primary_key.public_key(),
            )
            .expect("revoke");
        public.details.revocation_signatures.push(revocation);
        public
    }

    pub fn fingerprint(key: &SignedSecretKey) -> String {
        format!("{:X}", key.primary_key.fingerprint())
    }
}

/// A small Release text in the archive's style.
fn release_text(date: &str, valid_until: &str) -> String {
    format!(
        "Origin: Debian\nLabel: Debian-Security\nSuite: stable-security\nVersion: 13\nCodename: trixie-security\n\
Date: {date}\nValid-Until: {valid_until}\nArchitectures: amd64\nComponents: updates/main\n\
Description: Debian 13 - Security Updates\nSHA256:\n \
e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855        0 main/binary-amd64/Packages\n"
    )
}

const TEST_DATE: &str = "2026-03-01T12:00:00Z";

fn test_release_text() -> String {
    release_text(
        "Sun, 01 Mar 2026 12:00:00 UTC",
        "Sun, 08 Mar 2026 12:00:00 UTC",
    )
}

#[test]
fn an_ed25519_signature_verifies() {
    let key = keys::ed25519(1);
    let signed = keys::sign(&test_release_text(), &key);
    let keyring = keys::keyring(&[keys::public(&key)]);
    let r = verify_inrelease(
        &signed,
        &keyring,
        ts(TEST_DATE),
        FreshnessPolicy::Enforce,
        None,
    )
    .expect("verifies");
    assert_eq!(r.codename.as_deref(), Some("trixie-security"));
    assert_eq!(r.signed_by, Some(keys::fingerprint(&key)));
    assert_eq!(r.sha256.len(), 1);
}

#[test]
fn a_signature_by_a_signing_subkey_verifies_and_names_the_subkey() {
    use pgp::types::KeyDetails;
    let key = keys::with_signing_subkey(2);
    let signed = keys::sign_with_subkey(&test_release_text(), &key);
    let keyring = keys::keyring(&[keys::public(&key)]);
    let r = verify_inrelease(
        &signed,
        &keyring,
        ts(TEST_DATE),
        FreshnessPolicy::Enforce,
        None,
    )
    .expect("verifies");
    assert_eq!(
        r.signed_by,
        Some(format!("{:X}", key.secret_subkeys[0].key.fingerprint()))
    );
}

#[test]
fn an_armored_keyring_is_accepted() {
    let key = keys::ed25519(3);
    let signed = keys::sign(&test_release_text(), &key);
    let armored = keys::armored(&keys::public(&key));
    verify_inrelease(
        &signed,
        armored.as_bytes(),
        ts(TEST_DATE),
        FreshnessPolicy::Enforce,
        None,
    )
    .expect("verifies");
}

#[test]
fn a_signature_by_an_expired_key_does_not_verify() {
    let key = keys::ed25519(4);
    let signed = keys::sign(&test_release_text(), &key);
    // Valid for the first 59 days of 2026; the Release is dated 1 March.
    let keyring = keys::keyring(&[keys::expiring(&key, 59 * 86_400)]);
    let err = verify_inrelease(
        &signed,
        &keyring,
        ts(TEST_DATE),
        FreshnessPolicy::Enforce,
        None,
    )
    .refused("expired key");
    assert_eq!(
        err,
        AptError::KeyExpired {
            key: keys::fingerprint(&key),
            expired: ts("2026-03-01T00:00:00Z")
        }
    );
    // The same key with a longer lifetime is fine.
    let keyring = keys::keyring(&[keys::expiring(&key, 365 * 86_400)]);
    verify_inrelease(
        &signed,
        &keyring,
        ts(TEST_DATE),
        FreshnessPolicy::Enforce,
        None,
    )
    .expect("still valid");
}

#[test]
fn a_signature_by_a_revoked_key_does_not_verify() {
    let key = keys::ed25519(5);
    let signed = keys::sign(&test_release_text(), &key);
    let keyring = keys::keyring(&[keys::revoked(&key)]);
    let err = verify_inrelease(
        &signed,
        &keyring,
        ts(TEST_DATE),
        FreshnessPolicy::Enforce,
        None,
    )
    .refused("revoked key");
    assert!(
        matches!(&err, AptError::KeyRevoked { key: k, reason: Some(r) } if *k == keys::fingerprint(&key) && r.contains("key leaked")),
        "{err}"
    );
}

#[test]
fn a_signature_by_an_unknown_key_names_that_key() {
    let signer = keys::ed25519(6);
    let other = keys::ed25519(7);
    let signed = keys::sign(&test_release_text(), &signer);
    let err = verify_inrelease(
        &signed,
        &keys::keyring(&[keys::public(&other)]),
        ts(TEST_DATE),
        FreshnessPolicy::Enforce,
        None,
    )
    .refused("unknown");
    assert_eq!(
        err,
        AptError::UnknownKey {
            keys: vec![keys::fingerprint(&signer)]
        }
    );
}

#[test]
fn a_signed_release_without_valid_until_is_refused_where_one_is_required() {
    let key = keys::ed25519(8);
    let text = test_release_text().replace("Valid-Until: Sun, 08 Mar 2026 12:00:00 UTC\n", "");
    let signed = keys::sign(&text, &key);
    let keyring = keys::keyring(&[keys::public(&key)]);
    verify_inrelease(
        &signed,
        &keyring,
        ts(TEST_DATE),
        FreshnessPolicy::Enforce,
        None,
    )
    .expect("allowed");
    let err = verify_inrelease(
        &signed,
        &keyring,
        ts(TEST_DATE),
        FreshnessPolicy::RequireValidUntil,
        None,
    )
    .refused("required");
    assert_eq!(err, AptError::NoValidUntil);
}

// -------------------------------------------------------------------- index

#[test]
fn apts_stored_lz4_index_verifies_against_the_uncompressed_entry() {
    let text = packages_text();
    assert_eq!(text.len(), 2_531_138);
    assert!(text.starts_with(b"Package: 7zip\n"));
    // apt recompressed what it fetched: the .lz4 itself is not listed.
    assert_eq!(
        index_entry(release(), PACKAGES_LZ4),
        Err(AptError::NotInRelease {
            path: PACKAGES_LZ4.into()
        })
    );
}

#[test]
fn one_flipped_byte_in_the_index_is_rejected_naming_both_hashes() {
    let mut flipped = packages_text().to_vec();
    flipped[1000] ^= 0x01;
    let err = verify_and_decompress(release(), PACKAGES, &flipped).refused("flipped");
    let AptError::HashMismatch {
        path,
        expected,
        actual,
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!(path, PACKAGES);
    assert_eq!(
        expected,
        "9a654c21a035edc55b422292960320bcdc3b9351a35d48fccd42359f2cf130a8"
    );
    assert_eq!(actual, &hex(&Sha256::digest(&flipped)));
    assert!(err.to_string().contains(expected) && err.to_string().contains(actual.as_str()));
}

#[test]
fn one_flipped_byte_in_the_stored_lz4_is_rejected() {
    let mut lz4 = fixture(&format!("bookworm-security/{PACKAGES_LZ4}"));
    let middle = lz4.len() / 2;
    lz4[middle] ^= 0x40;
    let err = verify_and_decompress(release(), PACKAGES_LZ4, &lz4).refused("corrupt");
    assert!(
        matches!(
            err,
            AptError::Decompress { .. }
                | AptError::HashMismatch { .. }
                | AptError::SizeMismatch { .. }
        ),
        "{err}"
    );
}

#[test]
fn a_truncated_index_is_rejected() {
    let text = packages_text();
    let err =
        verify_and_decompress(release(), PACKAGES, &text[..text.len() - 1]).refused("truncated");
    assert_eq!(
        err,
        AptError::SizeMismatch {
            path: PACKAGES.into(),
            expected: 2_531_138,
            actual: 2_531_137
        }
    );

    // Cut inside the compressed blocks. (A cut inside the frame's end mark
    // loses no content, so what comes out still matches the Release.)
    let lz4 = fixture(&format!("bookworm-security/{PACKAGES_LZ4}"));
    for cut in [lz4.len() - 100, lz4.len() / 2, 10] {
        let err =
            verify_and_decompress(release(), PACKAGES_LZ4, &lz4[..cut]).refused("truncated lz4");
        assert!(
            matches!(
                err,
                AptError::Decompress { .. } | AptError::SizeMismatch { .. }
            ),
            "cut at {cut}: {err}"
        );
    }
}

/// The release with an extra SHA256 entry, as if the archive had published `bytes` at `path`.
fn release_listing(path: &str, bytes: &[u8]) -> Release {
    let mut r = release().clone();
    r.sha256.push(IndexEntry {
        path: path.into(),
        size: bytes.len() as u64,
        sha256: hex(&Sha256::digest(bytes)),
    });
    r
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).expect("gzip");
    encoder.finish().expect("gzip")
}

fn xz(data: &[u8]) -> Vec<u8> {
    let mut writer =
        lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::with_preset(0)).expect("xz");
    writer.write_all(data).expect("xz");
    writer.finish().expect("xz")
}

#[test]
fn xz_and_gzip_indices_decompress_to_the_same_verified_text() {
    let text = packages_text();
    for (path, compressed) in [
        ("main/binary-amd64/Packages.xz", xz(text)),
        ("main/binary-amd64/Packages.gz", gzip(text)),
    ] {
        // Listed only through the uncompressed entry (the real .xz entry is
        // for the archive's own compression, not ours).
        let unlisted = if path.ends_with(".xz") {
            let mut r = release().clone();
            r.sha256.retain(|e| e.path != path);
            r
        } else {
            release().clone()
        };
        assert_eq!(
            verify_and_decompress(&unlisted, path, &compressed).as_deref(),
            Ok(text),
            "{path}"
        );
        // Listed by its own hash: checked before decompressing.
        let mut listed = release_listing(path, &compressed);
        listed
            .sha256
            .retain(|e| e.path != path || e.size == compressed.len() as u64);
        assert_eq!(
            verify_and_decompress(&listed, path, &compressed).as_deref(),
            Ok(text),
            "{path}"
        );
        let mut flipped = compressed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        let err = verify_and_decompress(&listed, path, &flipped).refused("flipped");
        assert!(
            matches!(&err, AptError::HashMismatch { path: p, .. } if p == path),
            "{err}"
        );
        // Truncated and unlisted: caught by the decompressor or the uncompressed entry.
        let err = verify_and_decompress(&unlisted, path, &compressed[..compressed.len() / 2])
            .refused("truncated");
        assert!(
            matches!(
                err,
                AptError::Decompress { .. } | AptError::SizeMismatch { .. }
            ),
            "{path}: {err}"
        );
    }
}

#[test]
fn the_archives_own_xz_entry_is_checked_before_decompressing() {
    let ours = xz(packages_text());
    let err = verify_and_decompress(release(), "main/binary-amd64/Packages.xz", &ours)
        .refused("not the archive's file");
    assert!(
        matches!(
            err,
            AptError::SizeMismatch {
                expected: 379_616,
                ..
            } | AptError::HashMismatch { .. }
        ),
        "{err}"
    );
}

#[test]
fn an_index_the_release_does_not_list_is_refused() {
    let err =
        verify_and_decompress(release(), "main/binary-riscv64/Packages", b"").refused("not listed");
    assert_eq!(
        err,
        AptError::NotInRelease {
            path: "main/binary-riscv64/Packages".into()
        }
    );
    let err =
        verify_and_decompress(release(), "main/binary-amd64/Packages.bz2", b"BZh").refused("bzip2");
    assert!(
        matches!(err, AptError::UnsupportedCompression { .. }),
        "{err}"
    );
}

#[test]
fn decompression_stops_at_the_size_the_release_promises() {
    let bomb = gzip(&vec![b'A'; 4 << 20]);
    let mut r = release().clone();
    r.sha256.push(IndexEntry {
        path: "bomb/Packages".into(),
        size: 1000,
        sha256: "00".repeat(32),
    });
    let err = verify_and_decompress(&r, "bomb/Packages.gz", &bomb).refused("bomb");
    assert_eq!(
        err,
        AptError::TooLarge {
            path: "bomb/Packages.gz".into(),
            limit: 1000
        }
    );

    r.sha256.push(IndexEntry {
        path: "huge/Packages".into(),
        size: MAX_DECOMPRESSED_SIZE + 1,
        sha256: "00".repeat(32),
    });
    let err = verify_and_decompress(&r, "huge/Packages.xz", b"").refused("over the cap");
    assert!(matches!(err, AptError::TooLarge { .. }), "{err}");
}

#[test]
fn compression_is_named_by_the_extension() {
    assert_eq!(
        Compression::of_path("a/Packages.lz4").ok(),
        Some((Compression::Lz4, "a/Packages"))
    );
    assert_eq!(Compression::Gzip.extension(), ".gz");
}

// ----------------------------------------------------------------- Packages

#[test]
fn the_real_index_has_3028_binaries() {
    let packages = parse_packages(packages_text()).expect("parses");
    assert_eq!(packages.len(), 3028);
    let first: &BinaryPackage<'_> = &packages[0];
    assert_eq!(
        (first.package, first.source, first.architecture),
        ("7zip", "7zip", "amd64")
    );
}

#[test]
fn the_real_index_yields_one_patch_per_source_and_version() {
    let advisories = real_advisories();
    let binaries: usize = advisories.iter().map(|a| a.files.len()).sum();
    assert_eq!(binaries, 3028);
    let mut ids: Vec<_> = advisories.iter().map(|a| a.patch.as_str()).collect();
    ids.dedup();
    assert_eq!(ids.len(), advisories.len(), "one advisory per patch id");
    assert!(
        advisories
            .iter()
            .all(|a| a.classification == Classification::Security
                && a.severity == Severity::Unrated
                && a.vendor == "Debian"
                && a.released == Some(ts(DATE))
                && a.reference.source == "debian-security")
    );
    let catalog = Catalog::from_advisories(advisories.iter().cloned());
    assert_eq!(catalog.len(), advisories.len());
}

#[test]
fn openssl_is_one_patch_with_its_four_binaries() {
    let a = advisory("openssl/3.0.22-1~deb12u2");
    assert_eq!(a.product, "openssl");
    assert_eq!(a.reference.id, "openssl/3.0.22-1~deb12u2");
    let debian12 = Platform("debian:12".into());
    assert_eq!(
        a.fixes.iter().find(|f| f.kind == PackageKind::Source),
        Some(&Fix {
            platform: debian12.clone(),
            package: "openssl".into(),
            kind: PackageKind::Source,
            fixed: Some("3.0.22-1~deb12u2".into()),
            introduced: None,
            last_affected: None,
            arch: None,
        })
    );
    let binaries: Vec<_> = a
        .fixes
        .iter()
        .filter(|f| f.kind == PackageKind::Binary)
        .map(|f| (f.package.as_str(), f.arch.as_deref()))
        .collect();
    assert_eq!(
        binaries,
        [
            ("libssl-dev", Some("amd64")),
            ("libssl-doc", Some("all")),
            ("libssl3", Some("amd64")),
            ("openssl", Some("amd64"))
        ]
    );
    let libssl3 = a
        .files
        .iter()
        .find(|f| f.package.as_deref() == Some("libssl3"))
        .expect("libssl3 .deb");
    assert_eq!(
        libssl3.url,
        "http://mirror.invalid/debian-security/pool/updates/main/o/openssl/libssl3_3.0.22-1~deb12u2_amd64.deb"
    );
    assert_eq!(
        libssl3.sha256.as_deref(),
        Some("cb4784740daa9b3b0eaea2b444bbefa686794afbbf3d678d238c1fd9875f2efd")
    );
    assert_eq!(libssl3.size, Some(2_039_888));
    assert_eq!(libssl3.arch.as_deref(), Some("amd64"));
}

#[test]
fn binaries_versioned_apart_from_their_source_belong_to_the_source_version() {
    // linux-signed-6.12-amd64 6.12.117+1~deb12u1 builds linux-image-* 6.12.117-1~deb12u1.
    let a = advisory("linux-signed-6.12-amd64/6.12.117+1~deb12u1");
    let image = a
        .fixes
        .iter()
        .find(|f| f.package == "linux-image-6.12-amd64")
        .expect("the meta package is built from this source version");
    assert_eq!(image.kind, PackageKind::Binary);
    assert_eq!(image.fixed.as_deref(), Some("6.12.117-1~deb12u1"));
    // Each older upload in the index is its own patch.
    assert!(
        real_advisories()
            .iter()
            .any(|a| a.patch.as_str() == "linux-signed-6.12-amd64/6.12.100+1~deb12u1")
    );
}

#[test]
fn a_suite_that_is_not_security_yields_bugfixes() {
    let mut updates = release().clone();
    updates.suite = Some("oldstable-updates".into());
    updates.codename = Some("bookworm-updates".into());
    updates.version = None;
    let packages = parse_packages(packages_text()).expect("parses");
    let advisories = advisories(&updates, &REPOSITORY, &packages[..5]);
    assert!(
        advisories
            .iter()
            .all(|a| a.classification == Classification::Bugfix)
    );
    // Without a Version field, the codename names the release.
    assert!(
        advisories[0]
            .fixes
            .iter()
            .all(|f| f.platform == Platform("debian:12".into()))
    );
}

// ------------------------------------------------------------------ sources

#[test]
fn the_machines_debian_sources_is_read() {
    let text = String::from_utf8(fixture("debian.sources")).expect("UTF-8");
    let entries = parse_sources(&text).expect("valid");
    assert_eq!(entries.len(), 2);
    let security = &entries[1];
    assert_eq!(security.line, 8);
    assert_eq!(security.types, [SourceType::Deb]);
    assert_eq!(security.uris, ["http://mirror.invalid/debian-security"]);
    assert_eq!(security.suites, ["bookworm-security"]);
    assert_eq!(security.components, ["main"]);
    assert!(security.enabled);
    assert_eq!(
        security.signed_by,
        Some(SignedBy::Keyrings(vec![KeyringRef::Path(
            "/usr/share/keyrings/debian-archive-keyring.gpg".into()
        )]))
    );
    assert_eq!(
        entries[0].repositories().collect::<Vec<_>>(),
        [
            ("http://mirror.invalid/debian", "bookworm"),
            ("http://mirror.invalid/debian", "bookworm-updates")
        ]
    );
    assert_eq!(
        apt::SourceEntry::dist_url(&security.uris[0], &security.suites[0]),
        "http://mirror.invalid/debian-security/dists/bookworm-security/"
    );
}

#[test]
fn an_inline_signed_by_key_block_is_kept_and_verifies() {
    let key = keys::ed25519(9);
    let armored = keys::armored(&keys::public(&key));
    // As a .sources file holds it: indented, with `.` for blank lines.
    let indented: String = armored
        .lines()
        .map(|l| {
            if l.trim().is_empty() {
                " .\n".to_owned()
            } else {
                format!(" {l}\n")
            }
        })
        .collect();
    let text = format!(
        "# Third-party repository\nTypes: deb deb-src\nURIs: https://repo.invalid/apt\nSuites: stable\nComponents: main\nSigned-By:\n{indented}Architectures: amd64 arm64\n"
    );
    let entries = parse_sources(&text).expect("valid");
    let Some(SignedBy::Inline(block)) = &entries[0].signed_by else {
        panic!("inline key expected: {:?}", entries[0].signed_by)
    };
    assert!(block.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----\n"));
    assert_eq!(entries[0].types, [SourceType::Deb, SourceType::DebSrc]);
    assert_eq!(entries[0].architectures, ["amd64", "arm64"]);
    let signed = keys::sign(&test_release_text(), &key);
    verify_inrelease(
        &signed,
        block.as_bytes(),
        ts(TEST_DATE),
        FreshnessPolicy::Enforce,
        None,
    )
    .expect("the inline key is a keyring");
}

#[test]
fn stanzas_can_be_disabled_and_list_several_uris_and_suites() {
    let text = "\
Types: deb
URIs: http://a.invalid/debian
 http://b.invalid/debian
Suites: bookworm
  bookworm-updates
Components: main contrib
Enabled: no
Check-Valid-Until: no
";
    let entries = parse_sources(text).expect("valid");
    let e = &entries[0];
    assert!(!e.enabled);
    assert_eq!(
        e.uris,
        ["http://a.invalid/debian", "http://b.invalid/debian"]
    );
    assert_eq!(e.suites, ["bookworm", "bookworm-updates"]);
    assert_eq!(e.repositories().count(), 4);
    assert_eq!(
        e.options.get("Check-Valid-Until").map(String::as_str),
        Some("no")
    );
}

#[test]
fn comments_and_blank_lines_are_skipped_anywhere() {
    let text = "\n# leading comment\n\nTypes: deb\n# between fields\nURIs: http://a.invalid/debian\nSuites: bookworm\nComponents: main\n\n\n# trailing\n";
    let entries = parse_sources(text).expect("valid");
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].line, 4);
}

#[test]
fn malformed_sources_are_errors_with_their_line() {
    let err = parse_sources("Types: deb\nURIs: http://a.invalid/debian\nthis is not a field\n")
        .refused("bad line");
    assert!(matches!(err, AptError::Syntax { line: 3, .. }), "{err}");
    assert!(err.to_string().starts_with("sources line 3:"), "{err}");
    let err = parse_sources("Types: deb\nURIs: http://a.invalid/debian\nSuites: bookworm\n")
        .refused("no components");
    assert!(
        matches!(
            err,
            AptError::MissingField {
                field: "Components",
                line: 1,
                ..
            }
        ),
        "{err}"
    );
    let err =
        parse_sources("Types: deb rpm\nURIs: x\nSuites: s\nComponents: main\n").refused("bad type");
    assert!(
        matches!(err, AptError::InvalidField { line: 1, .. }),
        "{err}"
    );
    let err = parse_sources("Types: deb\nURIs: x\nSuites: s\nComponents: main\nEnabled: maybe\n")
        .refused("bad bool");
    assert!(
        matches!(err, AptError::InvalidField { line: 5, .. }),
        "{err}"
    );
    let err = parse_sources("Types: deb\nURIs: x\nURIs: y\nSuites: s\nComponents: main\n")
        .refused("twice");
    assert!(matches!(err, AptError::Syntax { line: 3, .. }), "{err}");
    let err = parse_sources("Types: deb\nURIs: x\nSuites: ./\nComponents: main\n")
        .refused("flat with components");
    assert!(
        matches!(err, AptError::InvalidField { line: 4, .. }),
        "{err}"
    );
}

#[test]
fn the_one_line_format_is_read_too() {
    let text = "\
# /etc/apt/sources.list
deb [arch=amd64,arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg check-valid-until=no] http://mirror.invalid/debian bookworm main contrib
deb-src http://mirror.invalid/debian bookworm main   # sources too

deb http://mirror.invalid/flat ./
";
    let entries = parse_sources(text).expect("valid");
    assert_eq!(entries.len(), 3);
    let e = &entries[0];
    assert_eq!((e.line, e.types.as_slice()), (2, &[SourceType::Deb][..]));
    assert_eq!(e.architectures, ["amd64", "arm64"]);
    assert_eq!(e.components, ["main", "contrib"]);
    assert_eq!(
        e.options.get("Check-Valid-Until").map(String::as_str),
        Some("no")
    );
    assert_eq!(
        e.signed_by,
        Some(SignedBy::Keyrings(vec![KeyringRef::Path(
            "/usr/share/keyrings/debian-archive-keyring.gpg".into()
        )]))
    );
    assert_eq!(entries[1].types, [SourceType::DebSrc]);
    assert_eq!(entries[1].components, ["main"]);
    assert_eq!(
        (entries[2].suites.as_slice(), entries[2].components.len()),
        (&["./".to_owned()][..], 0)
    );

    let err = parse_sources(
        "deb http://mirror.invalid/debian bookworm main\ndeb [arch=amd64 http://x bookworm main\n",
    )
    .refused("unclosed options");
    assert!(matches!(err, AptError::Syntax { line: 2, .. }), "{err}");
    let err = parse_sources("deb http://mirror.invalid/debian\n").refused("no suite");
    assert!(matches!(err, AptError::Syntax { line: 1, .. }), "{err}");
}

// --------------------------------------------------------------- properties

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("needle present")
}

/// deb822-ish text: field names, colons, continuation lines, comments, blank lines.
fn deb822ish() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("Package: a1\n".to_owned()),
            Just("Version: 1.0-1\n".to_owned()),
            Just("Source: src (2:1.0)\n".to_owned()),
            Just("Types: deb\n".to_owned()),
            Just("URIs: http://x.invalid/\n".to_owned()),
            Just("Suites: s ./\n".to_owned()),
            Just("Signed-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n".to_owned()),
            Just("\n".to_owned()),
            Just(" \t\n".to_owned()),
            Just("# c\n".to_owned()),
            "[ -~]{0,30}\n",
            "[A-Za-z-]{1,12}: [ -~]{0,20}\n",
            " [ -~]{0,20}\n",
        ],
        0..30,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn no_bytes_make_verify_inrelease_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = verify_inrelease(&bytes, &keyring(), ts(DURING_THE_WEEK), FreshnessPolicy::Enforce, None);
    }

    #[test]
    fn no_keyring_bytes_make_verify_inrelease_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = verify_inrelease(&inrelease(), &bytes, ts(DURING_THE_WEEK), FreshnessPolicy::Enforce, None);
    }

    #[test]
    fn no_text_makes_the_release_parser_panic(text in "\\PC{0,400}", structured in deb822ish()) {
        let _ = Release::parse_unverified(&text);
        let _ = Release::parse_unverified(&structured);
    }

    #[test]
    fn no_bytes_make_the_packages_parser_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1024), structured in deb822ish()) {
        let _ = parse_packages(&bytes);
        let _ = parse_packages(structured.as_bytes());
    }

    #[test]
    fn no_text_makes_the_sources_parser_panic(text in "\\PC{0,400}", structured in deb822ish(), line in "deb(-src)? (\\[[ -~]{0,20}\\] ?)?[ -~]{0,40}\n") {
        let _ = parse_sources(&text);
        let _ = parse_sources(&structured);
        let _ = parse_sources(&line);
    }

    #[test]
    fn no_bytes_make_decompression_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        for path in ["main/binary-amd64/Packages.xz", "main/binary-amd64/Packages.gz", PACKAGES_LZ4, PACKAGES] {
            let _ = verify_and_decompress(release(), path, &bytes);
        }
        let r = release_listing("x/Packages.xz", &bytes);
        let _ = verify_and_decompress(&r, "x/Packages.xz", &bytes);
        let r = release_listing("x/Packages.gz", &bytes);
        let _ = verify_and_decompress(&r, "x/Packages.gz", &bytes);
        let r = release_listing("x/Packages.lz4", &bytes);
        let _ = verify_and_decompress(&r, "x/Packages.lz4", &bytes);
    }
}

// Each case verifies RSA signatures, which is slow in a debug build: fewer cases.
proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn no_changed_byte_of_the_inrelease_goes_unnoticed(at in 0usize..34_770, bit in 0u8..8) {
        let mut changed = inrelease();
        let index = at % changed.len();
        changed[index] ^= 1 << bit;
        // Either it is refused, or the change was outside what is signed and hashed
        // (armor headers, line-ending whitespace) and the same Release comes out.
        if let Ok(r) = verify_inrelease(&changed, &keyring(), ts(DURING_THE_WEEK), FreshnessPolicy::Enforce, None) {
            prop_assert_eq!(&r.sha256, &release().sha256);
            prop_assert_eq!(r.date, release().date);
        }
    }
}

// A changed keyring byte usually lands in a key that still verifies, so each
// case runs the whole chain (four RSA-4096 checks, ~0.25 s unoptimised).
proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn no_changed_byte_of_the_keyring_makes_verification_panic(at in 0usize..55_918, bit in 0u8..8) {
        let mut changed = keyring();
        let index = at % changed.len();
        changed[index] ^= 1 << bit;
        if let Ok(r) = verify_inrelease(&inrelease(), &changed, ts(DURING_THE_WEEK), FreshnessPolicy::Enforce, None) {
            prop_assert_eq!(&r.sha256, &release().sha256);
        }
    }
}
