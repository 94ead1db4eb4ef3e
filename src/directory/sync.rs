//! The LDAP side: connect (plain, `ldaps://` or StartTLS), bind, then paged searches for
//! groups and computers (ldap3).
//!
//! TLS is rustls with the ring provider. With a CA file, the server's certificate must chain
//! to one of the certificates in it (a domain's own certificate authority, which the system
//! does not trust); without one, ldap3's default applies: the system's trusted roots. The CA
//! file is read at each sync, like the password, so a renewed CA needs no restart.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use ldap3::adapters::PagedResults;
use ldap3::{LdapConnAsync, LdapConnSettings, LdapError, LdapResult, Scope, SearchEntry};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::map::{computer_from_entry, resolve_groups};
use super::{DirectoryComputer, DirectoryConfig, DirectoryError, SyncOutcome};

const COMPUTER_ATTRS: &[&str] = &[
    "cn",
    "sAMAccountName",
    "dNSHostName",
    "operatingSystem",
    "operatingSystemVersion",
    "memberOf",
    "lastLogonTimestamp",
    "userAccountControl",
];

/// LDAP result codes the sync tells apart.
const RC_SIZE_LIMIT: u32 = 4;
const RC_REFERRAL: u32 = 10;
const RC_INVALID_CREDENTIALS: u32 = 49;

/// Reads every computer under the configured base DN, with nested groups resolved.
///
/// Search continuation references inside the results (AD's other partitions) are skipped
/// and counted; a referral for the base itself (result 10) is an error, as are a size limit
/// (result 4, even part way: a partial list would make computers look deleted), bad
/// credentials (49) and an unreachable server, or one whose TLS certificate is not trusted.
/// The password and the CA file are read now.
pub async fn sync(config: &DirectoryConfig) -> Result<SyncOutcome, DirectoryError> {
    if config.page_size == 0 {
        return Err(DirectoryError::Config(
            "page size must be at least 1".into(),
        ));
    }
    let transport = Transport::of(config)?;
    let settings = connection_settings(config, transport)?;
    let password = config.password.read()?;
    let unreachable = |detail: String| DirectoryError::Unreachable {
        url: config.url.clone(),
        detail,
    };
    let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &config.url)
        .await
        .map_err(|e| connect_error(config, transport, e))?;
    let url = config.url.clone();
    tokio::spawn(async move {
        if let Err(e) = conn.drive().await {
            tracing::debug!(url = %url, error = %e, "directory connection ended");
        }
    });
    ldap.with_timeout(config.timeout);
    let bind = ldap
        .simple_bind(&config.bind_dn, password.expose())
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    drop(password);
    match bind.rc {
        0 => {}
        RC_INVALID_CREDENTIALS => {
            return Err(DirectoryError::BadCredentials {
                url: config.url.clone(),
                bind_dn: config.bind_dn.clone(),
            });
        }
        _ => return Err(result_error(config, bind, 0)),
    }

    let (groups, _) = paged_search(config, &mut ldap, &config.group_filter, &["memberOf"]).await?;
    let parents: BTreeMap<String, Vec<String>> = groups
        .into_iter()
        .map(|e| {
            let member_of = e
                .attrs
                .into_iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("memberOf"))
                .map(|(_, v)| v)
                .unwrap_or_default();
            (e.dn, member_of)
        })
        .collect();
    let (entries, references_skipped) =
        paged_search(config, &mut ldap, &config.filter, COMPUTER_ATTRS).await?;
    let _ = ldap.unbind().await;

    let mut computers: Vec<DirectoryComputer> = entries
        .into_iter()
        .filter_map(|e| computer_from_entry(&e.dn, &e.attrs))
        .collect();
    for c in &mut computers {
        c.groups = resolve_groups(&c.groups, &parents);
    }
    computers.sort_by(|a, b| a.dn.cmp(&b.dn));
    Ok(SyncOutcome {
        computers,
        groups: parents.len(),
        references_skipped,
    })
}

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Plain,
    /// TLS from the first byte (`ldaps://`).
    Ldaps,
    /// `ldap://`, upgraded with the StartTLS extended operation before the bind.
    StartTls,
}

impl Transport {
    fn of(config: &DirectoryConfig) -> Result<Transport, DirectoryError> {
        let ldaps = config
            .url
            .split_once("://")
            .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("ldaps"));
        match (ldaps, config.starttls) {
            (true, true) => Err(DirectoryError::Config(format!(
                "directory URL {} is ldaps://, which is TLS from the start, and StartTLS is set \
                 too; use ldaps:// without StartTLS, or ldap:// with it",
                config.url
            ))),
            (true, false) => Ok(Transport::Ldaps),
            (false, true) => Ok(Transport::StartTls),
            (false, false) => Ok(Transport::Plain),
        }
    }
}

/// ldap3's settings: the timeout, StartTLS, and the TLS configuration that trusts the CA
/// file's certificates when there is one.
fn connection_settings(
    config: &DirectoryConfig,
    transport: Transport,
) -> Result<LdapConnSettings, DirectoryError> {
    let settings = LdapConnSettings::new()
        .set_conn_timeout(config.timeout)
        .set_starttls(transport == Transport::StartTls);
    match (transport, &config.ca_file) {
        (Transport::Plain, None) => Ok(settings),
        // Refused rather than ignored: whoever set a CA file expects TLS, and a plain
        // connection would send the bind password in clear text.
        (Transport::Plain, Some(ca_file)) => Err(DirectoryError::Config(format!(
            "directory CA file {} is set, but {} is plain LDAP; use ldaps:// or StartTLS",
            ca_file.display(),
            config.url
        ))),
        (Transport::Ldaps | Transport::StartTls, Some(ca_file)) => {
            Ok(settings.set_config(client_config(ca_file)?))
        }
        (Transport::Ldaps | Transport::StartTls, None) => {
            // ldap3 builds its default configuration (the system's roots) with the
            // process-wide provider; make sure it is ring, as for the rest of the process.
            // Err means one was installed already: fine.
            let _ = rustls::crypto::ring::default_provider().install_default();
            Ok(settings)
        }
    }
}

/// A TLS client configuration that trusts exactly the certificates in `ca_file`.
fn client_config(ca_file: &Path) -> Result<Arc<rustls::ClientConfig>, DirectoryError> {
    let roots = trusted_roots(ca_file)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| DirectoryError::Config(format!("TLS protocol versions: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The PEM certificates of `ca_file` as trust anchors; an unreadable file, one with no
/// certificate or one that does not parse is a configuration error naming the file.
fn trusted_roots(ca_file: &Path) -> Result<rustls::RootCertStore, DirectoryError> {
    let unusable = |detail: String| {
        DirectoryError::Config(format!("directory CA file {}: {detail}", ca_file.display()))
    };
    let pem_error = |e: rustls::pki_types::pem::Error| match e {
        rustls::pki_types::pem::Error::Io(e) => unusable(format!("cannot read it: {e}")),
        e => unusable(format!("it is not valid PEM: {e}")),
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(ca_file)
        .map_err(pem_error)?
        .collect::<Result<_, _>>()
        .map_err(pem_error)?;
    if certs.is_empty() {
        return Err(unusable(
            "it holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into(),
        ));
    }
    let mut roots = rustls::RootCertStore::empty();
    for (i, cert) in certs.into_iter().enumerate() {
        roots.add(cert).map_err(|e| {
            // rustls words this for a peer's certificate; say only what was wrong.
            let reason = match e {
                rustls::Error::InvalidCertificate(reason) => reason.to_string(),
                e => e.to_string(),
            };
            unusable(format!(
                "its certificate {} is not usable as a certificate authority ({reason})",
                i + 1
            ))
        })?;
    }
    Ok(roots)
}

/// Why connecting failed, TLS failures told apart and put in words.
fn connect_error(config: &DirectoryConfig, transport: Transport, e: LdapError) -> DirectoryError {
    let unreachable = |detail: String| DirectoryError::Unreachable {
        url: config.url.clone(),
        detail,
    };
    match e {
        LdapError::UrlParsing { .. } | LdapError::UnknownScheme(_) => {
            DirectoryError::Config(format!("directory URL {}: {e}", config.url))
        }
        // ldap3 checks the certificate against the URL's host as written; a bracketed
        // IPv6 address is neither a DNS name nor an address to rustls.
        LdapError::DNSName { source } => DirectoryError::Config(format!(
            "directory URL {}: its host cannot be checked against a TLS certificate ({source})",
            config.url
        )),
        // The only LDAP operation before the bind is StartTLS.
        LdapError::LdapResult { result } if transport == Transport::StartTls => {
            unreachable(format!(
                "the server refused StartTLS: LDAP result {} {}",
                result.rc, result.text
            ))
        }
        e => match rustls_error(&e) {
            Some(tls) => unreachable(tls_failure(tls, config.ca_file.as_deref())),
            None => unreachable(e.to_string()),
        },
    }
}

/// The rustls error inside ldap3's: tokio-rustls hands handshake failures over as I/O
/// errors that wrap it.
fn rustls_error(e: &LdapError) -> Option<&rustls::Error> {
    match e {
        LdapError::Rustls { source } => Some(source),
        LdapError::Io { source } => source.get_ref()?.downcast_ref(),
        _ => None,
    }
}

/// A TLS failure in words: what was wrong with the certificate and what was trusted.
fn tls_failure(e: &rustls::Error, ca_file: Option<&Path>) -> String {
    use rustls::CertificateError as Cert;
    let rustls::Error::InvalidCertificate(cert) = e else {
        return format!("TLS handshake failed: {e}");
    };
    let why = match cert {
        Cert::UnknownIssuer | Cert::BadSignature => match ca_file {
            Some(ca_file) => format!(
                "the server's certificate is not issued by a certificate authority in the \
                 CA file {}",
                ca_file.display()
            ),
            None => "the server's certificate is not issued by a certificate authority the \
                     system trusts; for a domain's own certificate authority, set the CA file"
                .to_owned(),
        },
        Cert::NotValidForName | Cert::NotValidForNameContext { .. } => {
            "the server's certificate is not valid for the host in the URL".to_owned()
        }
        Cert::Expired
        | Cert::ExpiredContext { .. }
        | Cert::NotValidYet
        | Cert::NotValidYetContext { .. } => {
            "the server's certificate is outside its validity period".to_owned()
        }
        _ => "the server's certificate was refused".to_owned(),
    };
    format!("TLS handshake failed: {why} ({e})")
}

/// One paged search of the whole subtree: the entries and how many references it skipped.
async fn paged_search(
    config: &DirectoryConfig,
    ldap: &mut ldap3::Ldap,
    filter: &str,
    attrs: &[&str],
) -> Result<(Vec<SearchEntry>, usize), DirectoryError> {
    let page_size = i32::try_from(config.page_size).unwrap_or(i32::MAX);
    let mut stream = ldap
        .streaming_search_with(
            PagedResults::new(page_size),
            &config.base_dn,
            Scope::Subtree,
            filter,
            attrs.to_vec(),
        )
        .await
        .map_err(|e| stream_error(config, e, 0))?;
    let mut entries = Vec::new();
    let mut references = 0;
    loop {
        match stream.next().await {
            Ok(Some(entry)) if entry.is_ref() => references += 1,
            Ok(Some(entry)) if entry.is_intermediate() => {}
            Ok(Some(entry)) => entries.push(SearchEntry::construct(entry)),
            Ok(None) => break,
            Err(e) => return Err(stream_error(config, e, entries.len())),
        }
    }
    let result = stream.finish().await;
    if result.rc != 0 {
        return Err(result_error(config, result, entries.len()));
    }
    Ok((entries, references))
}

fn stream_error(config: &DirectoryConfig, e: LdapError, returned: usize) -> DirectoryError {
    match e {
        LdapError::LdapResult { result } => result_error(config, result, returned),
        LdapError::FilterParsing => DirectoryError::Config(format!(
            "the search filter `{}` or `{}` does not parse",
            config.filter, config.group_filter
        )),
        e => DirectoryError::Unreachable {
            url: config.url.clone(),
            detail: e.to_string(),
        },
    }
}

fn result_error(config: &DirectoryConfig, result: LdapResult, returned: usize) -> DirectoryError {
    match result.rc {
        RC_SIZE_LIMIT => DirectoryError::SizeLimit {
            url: config.url.clone(),
            base_dn: config.base_dn.clone(),
            returned,
        },
        RC_REFERRAL => DirectoryError::Referral {
            url: config.url.clone(),
            base_dn: config.base_dn.clone(),
            refs: result.refs,
        },
        RC_INVALID_CREDENTIALS => DirectoryError::BadCredentials {
            url: config.url.clone(),
            bind_dn: config.bind_dn.clone(),
        },
        rc => DirectoryError::Ldap {
            url: config.url.clone(),
            base_dn: config.base_dn.clone(),
            rc,
            text: result.text,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::PasswordSource;

    fn config(url: &str, starttls: bool) -> DirectoryConfig {
        let mut config = DirectoryConfig::new(
            url,
            "CN=sync,DC=example",
            PasswordSource::Env("UNUSED".into()),
            "DC=example",
        );
        config.starttls = starttls;
        config
    }

    #[test]
    fn the_scheme_and_starttls_choose_the_transport() {
        let of = |url, starttls| Transport::of(&config(url, starttls));
        assert_eq!(of("ldap://dc", false).ok(), Some(Transport::Plain));
        assert_eq!(of("ldap://dc", true).ok(), Some(Transport::StartTls));
        assert_eq!(of("LDAPS://dc", false).ok(), Some(Transport::Ldaps));
        assert!(matches!(
            of("ldaps://dc", true),
            Err(DirectoryError::Config(_))
        ));
    }

    #[test]
    fn tls_failures_say_what_was_wrong_and_what_was_trusted() {
        let unknown = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let system = tls_failure(&unknown, None);
        assert!(
            system.contains("system trusts") && system.contains("CA file"),
            "{system}"
        );
        let ca_file = tls_failure(&unknown, Some(Path::new("/etc/fixpoint/corp-ca.pem")));
        assert!(ca_file.contains("/etc/fixpoint/corp-ca.pem"), "{ca_file}");
        let expired = rustls::Error::InvalidCertificate(rustls::CertificateError::Expired);
        assert!(tls_failure(&expired, None).contains("validity period"));

        // tokio-rustls hands the handshake's error over inside an I/O error.
        let wrapped = LdapError::Io {
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, unknown.clone()),
        };
        assert_eq!(rustls_error(&wrapped), Some(&unknown));
        let refused = LdapError::Io {
            source: std::io::ErrorKind::ConnectionRefused.into(),
        };
        assert_eq!(rustls_error(&refused), None);
    }
}
